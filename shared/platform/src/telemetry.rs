//! Logs and error reporting.
//!
//! Logs are JSON lines on stdout, which CloudWatch ingests as structured events
//! (`LOG_FORMAT=pretty` for humans at a terminal). With a `SENTRY_DSN`, errors, panics
//! and sampled traces go to Sentry; spans from `tracing` (SQL, Redis, outgoing HTTP)
//! become Sentry spans. Without one, Sentry is never initialised and costs nothing.

use std::{
    borrow::Cow,
    sync::{Arc, RwLock},
    time::Duration,
};

use sentry::integrations::tracing::{BreadcrumbLayer, SpanLayer};
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::LevelFilter,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
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
        let json = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false);
        tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(WithInvocation(json))
            .with_ansi(false)
            .boxed()
    };
    // Errors are captured explicitly by the runtime (once, with the request's scope);
    // tracing events only become breadcrumbs and spans become Sentry spans.
    let sentry_layers = sentry.is_some().then(|| {
        SpanLayer::new()
            .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                // The runtime opens each invocation's transaction itself (`runtime`);
                // these spans would each start a second, empty one.
                *meta.level() <= tracing::Level::INFO
                    && !matches!(
                        meta.name(),
                        "request" | "invocation" | "Lambda runtime invoke"
                    )
            }))
            .and_then(BreadcrumbLayer::new().with_filter(LevelFilter::INFO))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(sentry_layers)
        .try_init();
    TelemetryGuard { _sentry: sentry }
}

/// The Lambda invocation this process is serving, or served last. A sandbox serves
/// one invocation at a time, so every line it writes belongs to it, including those
/// of tasks outside the request's span (a pool's connection noticing a restart).
static INVOCATION: RwLock<Option<String>> = RwLock::new(None);

/// Marks the start of a Lambda invocation: from now on every log line carries its id
/// as `requestId`, the field Lambda's own START/END/REPORT lines use. The local
/// gateway serves many requests at once and never calls this.
pub fn begin_invocation(request_id: &str) {
    if let Ok(mut current) = INVOCATION.write() {
        *current = Some(request_id.to_owned());
    }
}

/// The JSON formatter, with `requestId` first on every line once an invocation began.
struct WithInvocation<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithInvocation<F>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let current = INVOCATION.read().ok().and_then(|id| id.clone());
        match (current, line.strip_prefix('{')) {
            (Some(id), Some(rest)) => {
                let id = serde_json::to_string(&id).map_err(|_| std::fmt::Error)?;
                write!(writer, "{{\"requestId\":{id},{rest}")
            }
            _ => writer.write_str(&line),
        }
    }
}

/// A call to an AWS service (SQS, SES, S3), as a Sentry `http.client` span.
pub fn aws_span(service: &'static str, operation: &'static str) -> tracing::Span {
    tracing::info_span!(
        "aws",
        sentry.op = "http.client",
        sentry.name = format!("{service} {operation}"),
        aws.service = service,
        aws.operation = operation,
    )
}

/// How much of a URL a span may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlDetail {
    /// Scheme, host and path: the fixed APIs of the providers, whose paths name
    /// operations. Never the query string (signatures, app secrets) or user info.
    Path,
    /// Scheme and host only: URLs staff configure (webhook receivers), whose paths
    /// may carry the receiver's own secret (`/services/T…/B…/<token>`).
    Host,
}

/// An outgoing HTTP request (payment providers, WeChat, webhooks), as a Sentry
/// `http.client` span showing only what `detail` allows of the URL.
pub fn http_span(method: &str, url: &str, detail: UrlDetail) -> tracing::Span {
    let url = shown_url(url, detail);
    tracing::info_span!(
        "http",
        sentry.op = "http.client",
        sentry.name = format!("{method} {url}"),
        http.method = method,
        url = %url,
    )
}

fn shown_url(url: &str, detail: UrlDetail) -> String {
    match url::Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            let port = url
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            match detail {
                UrlDetail::Path => format!("{}://{host}{port}{}", url.scheme(), url.path()),
                UrlDetail::Host => format!("{}://{host}{port}", url.scheme()),
            }
        }
        Err(_) => "(not a URL)".to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_never_show_query_strings_user_info_or_receivers_paths() {
        let url = "https://user:pw@hooks.example.com:8443/services/T1/B2/secret-token?sig=abc#x";
        assert_eq!(
            shown_url(url, UrlDetail::Path),
            "https://hooks.example.com:8443/services/T1/B2/secret-token"
        );
        assert_eq!(
            shown_url(url, UrlDetail::Host),
            "https://hooks.example.com:8443"
        );
        assert_eq!(shown_url("not a url", UrlDetail::Path), "(not a URL)");
    }
}
