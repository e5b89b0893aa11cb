//! How a function runs: in Lambda (`run_http`, `run_event`) or mounted by the local
//! gateway (`invoke`). Both paths go through `invoke`, so CORS, request ids, error
//! envelopes, panic capture, Sentry scopes and flushing behave the same everywhere.

use std::{
    future::Future,
    panic::AssertUnwindSafe,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Instant,
};

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

/// The route a request matched, once the function's router knows it; `invoke` names
/// the request's Sentry transaction after it (a path with ids in it would make one
/// transaction per article).
#[derive(Clone, Default)]
struct MatchedRoute(Arc<Mutex<Option<String>>>);

/// Records the route a request matched (`GET /api/articles/{documentId}`): a tag on
/// its Sentry events, the name of its transaction, a field of its log lines.
pub fn note_route(req: &Request, route: &str) {
    sentry::configure_scope(|scope| scope.set_tag("route", route));
    tracing::Span::current().record("route", route);
    if let Some(matched) = req.extensions().get::<MatchedRoute>()
        && let Ok(mut slot) = matched.0.lock()
    {
        *slot = Some(route.to_owned());
    }
}

/// Records who is acting, by id only (`member:<documentId>`, `staff:<documentId>`,
/// `token:<documentId>`): Sentry's user and a field of the request's log lines. No
/// email, name or address ever goes to either.
pub fn note_actor(actor: &str) {
    sentry::configure_scope(|scope| {
        scope.set_user(Some(sentry::User {
            id: Some(actor.to_owned()),
            ..Default::default()
        }))
    });
    tracing::Span::current().record("actor", actor);
}

/// Runs one request through a handler with everything every function needs around it.
/// Never fails: errors and panics become JSON error responses.
pub async fn invoke(
    function: &str,
    config: &Config,
    handler: &dyn Handler,
    mut req: Request,
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

    let traced = Traced::begin(function, &id, &format!("{method} {path}"), "http.server");
    let matched = MatchedRoute::default();
    req.extensions_mut().insert(matched.clone());
    let span = tracing::info_span!(
        "request",
        function,
        request_id = %id,
        %method,
        path = %path,
        route = tracing::field::Empty,
        actor = tracing::field::Empty,
    );
    let mut response = match traced.run(&span, handler.call(req)).await {
        Some(Ok(response)) => response,
        Some(Err(err)) => {
            if err.is_server_error() {
                let _entered = span.enter();
                tracing::error!(error = %err, source = ?std::error::Error::source(&err), "request failed");
                traced.hub.capture_error(&err);
            }
            err.to_response()
        }
        None => Error::internal("handler panicked").to_response(),
    };
    if let Some(route) = matched.0.lock().ok().and_then(|slot| slot.clone()) {
        traced.transaction.set_name(&route);
    }
    traced.finish(response.status().is_server_error());

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

/// Loads the core configuration and a function's sections, stored settings
/// (`stored`, Secrets Manager) over the environment, or exits with a message that
/// names every bad variable.
pub async fn load_config<S: Section>() -> (Config, S) {
    let env = match crate::stored::environment(Env::process()).await {
        Ok(env) => env,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(78);
        }
    };
    match Config::load::<S>(env) {
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
    let (config, settings) = load_config::<S>().await;
    let _telemetry = telemetry::init(&config);
    let platform = Arc::new(Platform::new(config)?);
    let handler: Arc<dyn Handler> = Arc::new(make_handler(platform.clone(), settings)?);
    lambda_http::run(service_fn(move |req: Request| {
        let handler = handler.clone();
        let platform = platform.clone();
        if let Some(context) = lambda_http::RequestExt::lambda_context_ref(&req) {
            telemetry::begin_invocation(&context.request_id);
        }
        async move {
            Ok::<_, lambda_http::Error>(invoke(function, &platform.config, &*handler, req).await)
        }
    }))
    .await
}

/// Runs one JSON event (a queue batch, a schedule, an EventBridge event) through a
/// handler the way `invoke` runs a request: a Sentry hub, tags and transaction of its
/// own, a log span carrying the request id, panics caught and reported, and Sentry
/// flushed before the answer goes back.
pub async fn invoke_event<F, Fut>(
    function: &str,
    handler: &F,
    payload: serde_json::Value,
    request_id: &str,
) -> Result<serde_json::Value>
where
    F: Fn(serde_json::Value) -> Fut,
    Fut: Future<Output = Result<serde_json::Value>>,
{
    let source = event_source(&payload);
    let op = if source == "aws:sqs" {
        "queue.process"
    } else {
        "function.aws"
    };
    let traced = Traced::begin(function, request_id, &format!("{function} {source}"), op);
    let span = tracing::info_span!("invocation", function, request_id, source);
    let result = match traced.run(&span, handler(payload)).await {
        Some(result) => {
            if let Err(err) = &result {
                let _entered = span.enter();
                tracing::error!(error = %err, "invocation failed");
                traced.hub.capture_error(err);
            }
            result
        }
        None => Err(Error::internal("handler panicked")),
    };
    traced.finish(result.is_err());
    telemetry::flush().await;
    result
}

/// One invocation as Sentry sees it, HTTP or event alike: a hub of its own tagged
/// with the function and the request id, and a transaction as its span.
struct Traced {
    hub: Arc<sentry::Hub>,
    transaction: sentry::Transaction,
}

impl Traced {
    fn begin(function: &str, request_id: &str, name: &str, op: &str) -> Self {
        let hub = Arc::new(sentry::Hub::new_from_top(sentry::Hub::main()));
        hub.configure_scope(|scope| {
            scope.set_tag("function", function);
            scope.set_tag("request_id", request_id);
        });
        let transaction = sentry::start_transaction(sentry::TransactionContext::new(name, op));
        hub.configure_scope(|scope| scope.set_span(Some(transaction.clone().into())));
        Self { hub, transaction }
    }

    /// Runs the handler's work in this hub and `span`; `None` when it panicked. The
    /// panic hook has already reported the panic, with its message, to Sentry.
    async fn run<T>(&self, span: &tracing::Span, work: impl Future<Output = T>) -> Option<T> {
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .bind_hub(self.hub.clone());
        let outcome = tracing::Instrument::instrument(outcome, span.clone()).await;
        if outcome.is_err() {
            let _entered = span.enter();
            tracing::error!("handler panicked");
        }
        outcome.ok()
    }

    /// Finishes the transaction inside the invocation's hub, which applies its scope
    /// (tags, user) to it.
    fn finish(self, failed: bool) {
        self.transaction.set_status(if failed {
            sentry::protocol::SpanStatus::InternalError
        } else {
            sentry::protocol::SpanStatus::Ok
        });
        let Self { hub, transaction } = self;
        sentry::Hub::run(hub, || transaction.finish());
    }
}

/// `aws:sqs` for a queue batch, an EventBridge event's `source` (`aws.events` for a
/// schedule, `aws.s3`, `aws.ses`), else `event`.
fn event_source(payload: &serde_json::Value) -> &str {
    payload["Records"][0]["eventSource"]
        .as_str()
        .or_else(|| payload["source"].as_str())
        .unwrap_or("event")
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
    let (config, settings) = load_config::<S>().await;
    let _telemetry = telemetry::init(&config);
    let platform = Arc::new(Platform::new(config)?);
    let handler = Arc::new(make_handler(platform, settings)?);
    lambda_http::lambda_runtime::run(service_fn(
        move |event: lambda_http::LambdaEvent<serde_json::Value>| {
            let handler = handler.clone();
            telemetry::begin_invocation(&event.context.request_id);
            async move {
                invoke_event(
                    function,
                    &*handler,
                    event.payload,
                    &event.context.request_id,
                )
                .await
                .map_err(|err| lambda_http::Error::from(err.to_string()))
            }
        },
    ))
    .await
}
