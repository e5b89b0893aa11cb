//! How a function runs: in Lambda (`run_http`, `run_event`) or mounted by the local
//! gateway (`invoke`). Both paths go through `invoke`, so CORS, request ids, error
//! envelopes, panic capture, Sentry scopes and flushing behave the same everywhere.

use std::{future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc, time::Instant};

use futures_util::FutureExt;
use http::{HeaderValue, Method};
use lambda_http::{Body, Request, Response, service_fn};
use sentry::SentryFutureExt;

use crate::{
    Platform,
    config::{Config, Env, Section},
    error::{Error, Result},
    http::{cors, request_id},
    telemetry,
};

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Response<Body>>> + Send>>;

/// What a function invoked with a JSON event (a queue, a schedule) answers.
pub type EventFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value>> + Send>>;

/// A function's request handler. Implemented for any `Fn(Request) -> Future`.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, req: Request) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>>> + Send + 'static,
{
    fn call(&self, req: Request) -> HandlerFuture {
        Box::pin(self(req))
    }
}

/// Runs one request through a handler with everything every function needs around it.
/// Never fails: errors and panics become JSON error responses.
pub async fn invoke(
    function: &str,
    config: &Config,
    handler: &dyn Handler,
    req: Request,
) -> Response<Body> {
    let started = Instant::now();
    let id = request_id(&req);
    if let Some(response) = cors::preflight(&req, &config.cors_allowed_origins) {
        return response;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut cors_headers = http::HeaderMap::new();
    cors::decorate(&req, &config.cors_allowed_origins, &mut cors_headers);

    let hub = Arc::new(sentry::Hub::new_from_top(sentry::Hub::main()));
    hub.configure_scope(|scope| {
        scope.set_tag("function", function);
        scope.set_tag("request_id", &id);
    });
    let transaction = sentry::start_transaction(sentry::TransactionContext::new(
        &format!("{method} {path}"),
        "http.server",
    ));
    hub.configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));

    let span = tracing::info_span!("request", function, request_id = %id, %method, path = %path);
    let outcome = AssertUnwindSafe(handler.call(req))
        .catch_unwind()
        .bind_hub(hub.clone());
    let outcome = tracing::Instrument::instrument(outcome, span.clone()).await;

    let mut response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => {
            if err.is_server_error() {
                let _entered = span.enter();
                tracing::error!(error = %err, source = ?std::error::Error::source(&err), "request failed");
                hub.capture_error(&err);
            }
            err.to_response()
        }
        // The panic hook has already reported the panic (with its message) to Sentry.
        Err(_) => {
            let _entered = span.enter();
            tracing::error!("handler panicked");
            Error::internal("handler panicked").to_response()
        }
    };
    transaction.set_status(if response.status().is_server_error() {
        sentry::protocol::SpanStatus::InternalError
    } else {
        sentry::protocol::SpanStatus::Ok
    });
    transaction.finish();

    let headers = response.headers_mut();
    for (name, value) in &cors_headers {
        headers.append(name, value.clone());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", value);
    }
    if method == Method::HEAD {
        *response.body_mut() = Body::Empty;
    }
    {
        let _entered = span.enter();
        tracing::info!(
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request completed"
        );
    }
    telemetry::flush().await;
    response
}

/// Loads the core configuration and a function's sections, or exits with a message
/// that names every bad variable.
pub fn load_config<S: Section>() -> (Config, S) {
    match Config::load::<S>(Env::process()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("{err}");
            std::process::exit(78);
        }
    }
}

/// The whole `main` of an HTTP function: configuration (the core and the function's
/// sections `S`) and state once, then serve invocations.
pub async fn run_http<S: Section, H: Handler>(
    function: &'static str,
    make_handler: impl FnOnce(Arc<Platform>, S) -> Result<H>,
) -> Result<(), lambda_http::Error> {
    let (config, settings) = load_config::<S>();
    let _telemetry = telemetry::init(&config);
    let platform = Arc::new(Platform::new(config)?);
    let handler: Arc<dyn Handler> = Arc::new(make_handler(platform.clone(), settings)?);
    lambda_http::run(service_fn(move |req: Request| {
        let handler = handler.clone();
        let platform = platform.clone();
        async move {
            Ok::<_, lambda_http::Error>(invoke(function, &platform.config, &*handler, req).await)
        }
    }))
    .await
}

/// The whole `main` of a function invoked with a JSON event (not over HTTP).
pub async fn run_event<S: Section, F, Fut>(
    function: &'static str,
    make_handler: impl FnOnce(Arc<Platform>, S) -> Result<F>,
) -> Result<(), lambda_http::Error>
where
    F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<serde_json::Value>> + Send,
{
    let (config, settings) = load_config::<S>();
    let _telemetry = telemetry::init(&config);
    let platform = Arc::new(Platform::new(config)?);
    let handler = Arc::new(make_handler(platform, settings)?);
    lambda_http::lambda_runtime::run(service_fn(
        move |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let handler = handler.clone();
            async move {
                let result = handler(event.payload).await;
                if let Err(err) = &result {
                    tracing::error!(function, error = %err, "invocation failed");
                    sentry::capture_error(err);
                }
                telemetry::flush().await;
                result.map_err(|err| lambda_http::Error::from(err.to_string()))
            }
        },
    ))
    .await
}
