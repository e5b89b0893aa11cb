//! `GET /health`: whether this function can reach PostgreSQL and Redis.
//!
//! Each dependency is checked concurrently under its own deadline and reported
//! separately, so a 503 tells ops which one is down.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use http::StatusCode;
use identity::route::{Call, Doc, Guard, Route, Router, schema_of};
use lambda_http::{Body, Response};
use platform::{Platform, Result, cmd};
use schemars::JsonSchema;
use serde::Serialize;

const DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub status: &'static str,
    pub latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Report {
    pub status: &'static str,
    pub release: String,
    pub postgres: Check,
    pub redis: Check,
}

async fn check<F, E>(probe: F) -> Check
where
    F: Future<Output = std::result::Result<(), E>>,
    E: std::fmt::Display,
{
    let started = Instant::now();
    let outcome = tokio::time::timeout(DEADLINE, probe).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(Ok(())) => Check {
            status: "up",
            latency_ms,
            error: None,
        },
        // The reason is logged, not returned: /health is public and error text can
        // name hosts and users.
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check failed");
            Check {
                status: "down",
                latency_ms,
                error: Some("unreachable".into()),
            }
        }
        Err(_) => Check {
            status: "down",
            latency_ms,
            error: Some("timed out".into()),
        },
    }
}

pub async fn report(platform: &Platform) -> Report {
    let (postgres, redis) = tokio::join!(
        check(platform.db.ping()),
        check(async {
            match platform.redis.cmd(cmd!["PING"]).await? {
                serde_json::Value::String(s) if s == "PONG" => Ok(()),
                other => Err(platform::Error::internal(format!("PING answered {other}"))),
            }
        })
    );
    let healthy = postgres.status == "up" && redis.status == "up";
    Report {
        status: if healthy { "ok" } else { "degraded" },
        release: platform.config.release.clone(),
        postgres,
        redis,
    }
}

/// The function's one route: anyone may ask (load balancers, uptime checks).
pub static ROUTES: &[Route<Platform>] = &[identity::route!(
    GET "/health",
    Guard::Public,
    handle,
    Doc::new("Whether PostgreSQL and Redis answer: 200, or 503 naming which is down", schema_of::<Report>)
        .raw()
        .also(503)
)];

pub async fn handle(platform: Arc<Platform>, _: Call) -> Result<Response<Body>> {
    let report = report(&platform).await;
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut response = platform::http::json(status, &report);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), platform, ROUTES)
}
