//! Logs and error reporting.
//!
//! Logs are JSON lines on stdout, which CloudWatch ingests as structured events
//! (`LOG_FORMAT=pretty` for humans at a terminal). With a `SENTRY_DSN`, errors, panics
//! and sampled traces go to Sentry; spans from `tracing` (SQL, Redis, outgoing HTTP)
//! become Sentry spans. Without one, Sentry is never initialised and costs nothing.

use std::{borrow::Cow, sync::Arc, time::Duration};

use sentry::integrations::tracing::{BreadcrumbLayer, SpanLayer};
use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::config::Config;

/// Keeps the Sentry client alive; dropping it flushes pending events.
pub struct TelemetryGuard {
    _sentry: Option<sentry::ClientInitGuard>,
}

/// Installs the global log subscriber and, when configured, the Sentry client.
/// Safe to call more than once (later calls keep the first subscriber).
pub fn init(config: &Config) -> TelemetryGuard {
    crate::install_crypto_provider();
    let sentry = config.sentry_dsn.as_ref().map(|dsn| {
        sentry::init((
            dsn.expose(),
            sentry::ClientOptions::new()
                .release(Cow::Owned(config.release.clone()))
                .environment(Cow::Owned(config.environment.clone()))
                .traces_sample_rate(config.sentry_traces_sample_rate)
                .attach_stacktrace(true)
                // The flush at the end of each invocation is what delivers events;
                // this only bounds the final flush when the sandbox shuts down.
                .shutdown_timeout(Duration::from_secs(2)),
        ))
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = if std::env::var("LOG_FORMAT").as_deref() == Ok("pretty") {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_ansi(false)
            .boxed()
    };
    // Errors are captured explicitly by the runtime (once, with the request's scope);
    // tracing events only become breadcrumbs and spans become Sentry spans.
    let sentry_layers = sentry.is_some().then(|| {
        SpanLayer::new()
            .with_filter(LevelFilter::INFO)
            .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(sentry_layers)
        .try_init();
    TelemetryGuard { _sentry: sentry }
}

/// Delivers everything captured so far, without blocking the async runtime.
///
/// A Lambda sandbox is frozen as soon as the handler returns, so anything still in
/// the transport's queue then would be lost or delivered minutes later.
pub async fn flush() {
    let Some(client) = sentry::Hub::main().client() else {
        return;
    };
    let client: Arc<sentry::Client> = client;
    let flushed = tokio::task::spawn_blocking(move || client.flush(Some(Duration::from_secs(2))));
    if !matches!(flushed.await, Ok(true)) {
        tracing::warn!("sentry flush did not complete");
    }
}
