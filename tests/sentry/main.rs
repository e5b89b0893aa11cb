//! Errors and panics reach Sentry before the response leaves the function.
//!
//! A separate test binary because the Sentry client is process-global. A tiny HTTP
//! server stands in for Sentry's ingest endpoint and records every envelope; the
//! assertions run right after the response arrives, with no waiting, which is the
//! point: a Lambda sandbox is frozen as soon as the handler returns.

use std::sync::Arc;

use bianxian_e2e::{StackOptions, fake_sentry, random_suffix, spawn_stack_with};
use bianxian_local::template::{Pattern, Route};
use lambda_http::{Body, Request, Response};
use platform::{Error, Result, runtime::Handler};

fn route(path: &str, function: &str) -> Route {
    Route {
        method: Some(http::Method::GET),
        pattern: Pattern::parse(path).unwrap(),
        function: function.into(),
    }
}

#[tokio::test]
async fn panics_and_internal_errors_are_delivered_before_the_response() {
    let (dsn, envelopes) = fake_sentry();
    let panic_marker = format!("panic-{}", random_suffix());
    let error_marker = format!("failure-{}", random_suffix());
    async fn panicking(marker: String) -> Result<Response<Body>> {
        panic!("{marker}")
    }
    let boom = {
        let marker = panic_marker.clone();
        move |_req: Request| panicking(marker.clone())
    };
    let fail = {
        let marker = error_marker.clone();
        move |_req: Request| {
            let marker = marker.clone();
            async move { Err::<Response<Body>, Error>(Error::internal(marker)) }
        }
    };
    let not_found =
        |_req: Request| async { Result::<Response<Body>>::Err(Error::NotFound("nothing".into())) };
    let stack = spawn_stack_with(StackOptions {
        env: vec![("SENTRY_DSN", dsn)],
        extra: vec![
            (
                route("/test/boom", "boom"),
                Arc::new(boom) as Arc<dyn Handler>,
            ),
            (
                route("/test/fail", "fail"),
                Arc::new(fail) as Arc<dyn Handler>,
            ),
            (
                route("/test/missing", "missing"),
                Arc::new(not_found) as Arc<dyn Handler>,
            ),
        ],
        ..Default::default()
    })
    .await;
    let _telemetry = platform::telemetry::init(&stack.platform.config);

    let response = stack.get("/test/boom").await;
    assert_eq!(response.status(), 500);
    let captured = envelopes.lock().unwrap().join("\n");
    assert!(
        captured.contains(&panic_marker),
        "panic not delivered: {captured}"
    );
    assert!(captured.contains("\"function\":\"boom\""), "{captured}");

    let response = stack.get("/test/fail").await;
    assert_eq!(response.status(), 500);
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let captured = envelopes.lock().unwrap().join("\n");
    assert!(
        captured.contains(&error_marker),
        "error not delivered: {captured}"
    );
    assert!(
        captured.contains(&request_id),
        "request id not tagged: {captured}"
    );
    assert!(captured.contains("\"environment\":\"test\""), "{captured}");

    // Client mistakes are not Sentry's business.
    let before = envelopes.lock().unwrap().len();
    assert_eq!(stack.get("/test/missing").await.status(), 404);
    let after = envelopes.lock().unwrap().clone();
    assert!(
        after[before..]
            .iter()
            .all(|e| !e.contains("\"type\":\"event\"")),
        "a 404 was reported: {:?}",
        &after[before..]
    );
}
