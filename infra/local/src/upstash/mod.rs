//! A local stand-in for the Upstash Redis REST API, in front of a real Redis.
//!
//! Production reaches Redis only through Upstash's HTTP API. Serving the same API locally lets
//! development and tests run the production client code, HTTP layer included, against a Redis
//! they fully control, instead of faking the client. The shape of requests and replies follows
//! Upstash's REST documentation and what the official `@upstash/redis` client sends and
//! expects (checked by `tests/upstash-compat`):
//!
//! - `POST /` takes one command as a JSON array; `/pipeline` and `/multi-exec` take an array of
//!   them; any other path is a command spelled as path segments, with a request body and then
//!   query parameters appended as further arguments, so binary values and trailing options
//!   (`?EX=100`) need no escaping.
//! - A single command's Redis error is a 400, because that is how the client tells a failed
//!   command from a result. Inside a pipeline or transaction, errors are per item so one bad
//!   command does not hide the others' results.
//! - With `Upstash-Encoding: base64` every string in a result is base64, except a reply that is
//!   exactly the status `OK`: the official client decodes everything but that one string, and
//!   decodes strings nested in arrays unconditionally, so a nested `OK` must be encoded too.
//!
//! Where Upstash's documentation is silent, the choices are these. JSON booleans are accepted
//! as arguments (`"true"`/`"false"`), because the official client passes them through
//! unserialised. A transaction Redis discards answers with the first error raised while
//! queueing, which names the culprit, rather than the generic `EXECABORT`. Commands that would
//! change or hold a pooled connection's state (`SELECT`, `AUTH`, `HELLO`, `QUIT`, `MULTI`,
//! subscriptions, blocking reads, ...) are refused with a 400 before reaching Redis, for the
//! whole request if they appear in a pipeline or transaction: a later request sharing the
//! connection would otherwise run against the wrong database, protocol or transaction.

pub mod resp;
mod scripts;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value as Json, json};
use tokio::net::{TcpListener, TcpStream};

use resp::{Command, Pool, Value};
use scripts::Scripts;

/// Upstash refuses requests above its own size limits; 1 MiB keeps a runaway local client
/// from buffering without bound while fitting any realistic cache entry.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Commands that would leave a pooled connection in a state the next request does not expect
/// (another database, protocol or user, inside a transaction, subscribed, closed) or pin it
/// for an unbounded time.
const REFUSED: &[&str] = &[
    "AUTH",
    "HELLO",
    "SELECT",
    "QUIT",
    "RESET",
    "CLIENT",
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "MONITOR",
    "SYNC",
    "PSYNC",
    "BLPOP",
    "BRPOP",
    "BRPOPLPUSH",
    "BLMOVE",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
    "WAIT",
    "WAITAOF",
];

pub struct UpstashServerConfig {
    pub redis_addr: SocketAddr,
    pub token: String,
}

/// Serves the REST API on `listener` until this future is dropped (with its connections,
/// see [`crate::listen::accept`]).
pub async fn serve(listener: TcpListener, config: UpstashServerConfig) -> io::Result<()> {
    let state = Arc::new(State {
        pool: Pool::new(config.redis_addr),
        token: config.token,
        scripts: Scripts::default(),
    });
    crate::listen::accept(listener, |stream| {
        serve_connection(stream, Arc::clone(&state))
    })
    .await
}

struct State {
    pool: Pool,
    token: String,
    scripts: Scripts,
}

async fn serve_connection(stream: TcpStream, state: Arc<State>) {
    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(&state, request).await) }
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "upstash endpoint: connection ended with an error");
    }
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match respond(state, request).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(rejection) => rejection.into_response(),
    }
}

async fn respond(state: &State, request: Request<Incoming>) -> Result<Json, Rejection> {
    let (parts, body) = request.into_parts();
    let query = parse_query(parts.uri.query().unwrap_or_default());
    authorize(&state.token, &parts.headers, &query)?;
    let route = Route::of(&parts.method, parts.uri.path())?;
    let encoding = Encoding::of(&parts.headers);
    let body = read_body(body).await?;
    match route {
        Route::Command => single(state, command_from_json(&parse_json(&body)?)?, encoding).await,
        Route::Path(segments) => single(state, path_command(segments, body, query), encoding).await,
        Route::Pipeline => pipeline(state, commands_from_json(&body)?, encoding).await,
        Route::MultiExec => multi_exec(state, commands_from_json(&body)?, encoding).await,
    }
}

/// Everything that ends a request without a `200`, and the one place that decides its status.
#[derive(Debug)]
enum Rejection {
    Unauthorized,
    /// A client mistake, or a single command's Redis error (`ERR ...`, `WRONGTYPE ...`).
    BadRequest(String),
    NotFound,
    MethodNotAllowed(&'static str),
    PayloadTooLarge,
    Redis(resp::Error),
}

impl Rejection {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Redis(resp::Error::Io(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Redis(resp::Error::Protocol(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Self::Unauthorized => "Unauthorized".to_owned(),
            Self::BadRequest(message) => message.clone(),
            Self::NotFound => "ERR unknown endpoint".to_owned(),
            Self::MethodNotAllowed(allowed) => format!("ERR method not allowed, use {allowed}"),
            Self::PayloadTooLarge => format!("ERR request body exceeds {MAX_BODY_BYTES} bytes"),
            Self::Redis(error) => format!("ERR {error}"),
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        if let Self::Redis(error) = &self {
            tracing::warn!(%error, "upstash endpoint: redis failed");
        }
        let mut response = json_response(self.status(), &json!({ "error": self.message() }));
        if let Self::MethodNotAllowed(allowed) = self {
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
        }
        response
    }
}

fn bad_request(message: &str) -> Rejection {
    Rejection::BadRequest(message.to_owned())
}

fn json_response(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Query parameters, decoded the way HTML forms encode them (`+` is a space).
type Query = Vec<(Vec<u8>, Vec<u8>)>;

const TOKEN_PARAMETER: &[u8] = b"_token";

fn parse_query(query: &str) -> Query {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

fn form_decode(input: &str) -> Vec<u8> {
    percent_decode(&input.replace('+', " "))
}

/// `%XX` escapes become bytes; a malformed escape stays as written rather than failing the
/// request, as browsers and most servers do.
fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match escaped_byte(&bytes[i..]) {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    decoded
}

fn escaped_byte(input: &[u8]) -> Option<u8> {
    match input {
        [b'%', high, low, ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
            let hex = [*high, *low];
            u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()
        }
        _ => None,
    }
}

fn authorize(token: &str, headers: &HeaderMap, query: &Query) -> Result<(), Rejection> {
    let presented = bearer_token(headers).or_else(|| {
        query
            .iter()
            .find(|(name, _)| name == TOKEN_PARAMETER)
            .map(|(_, value)| value.as_slice())
    });
    match presented {
        Some(presented) if same_token(presented, token.as_bytes()) => Ok(()),
        _ => Err(Rejection::Unauthorized),
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"Bearer ")
        .then(|| token.trim_ascii())
}

/// Compares without an early exit, so response timing says nothing about how much of a guessed
/// token was right.
fn same_token(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0, |difference, (a, b)| difference | (a ^ b))
            == 0
}

enum Route {
    /// `POST /` with the command as a JSON array.
    Command,
    Pipeline,
    MultiExec,
    /// `/set/foo/bar`: the percent-decoded segments.
    Path(Vec<Vec<u8>>),
}

impl Route {
    fn of(method: &Method, path: &str) -> Result<Self, Rejection> {
        let posted = matches!(*method, Method::POST | Method::PUT);
        if !posted && !matches!(*method, Method::GET | Method::HEAD) {
            return Err(Rejection::MethodNotAllowed("HEAD, GET, POST, PUT"));
        }
        let path = path.strip_prefix('/').unwrap_or(path);
        // A trailing slash is how URLs get joined, not an empty last argument.
        let path = path.strip_suffix('/').unwrap_or(path);
        let first = path.split('/').next().unwrap_or_default();
        let route = match first {
            "" if path.is_empty() => Self::Command,
            "pipeline" | "multi-exec" if path != first => return Err(Rejection::NotFound),
            "pipeline" => Self::Pipeline,
            "multi-exec" => Self::MultiExec,
            _ => return Ok(Self::Path(path.split('/').map(percent_decode).collect())),
        };
        if posted {
            Ok(route)
        } else {
            Err(Rejection::MethodNotAllowed("POST, PUT"))
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, Rejection> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(Rejection::PayloadTooLarge),
        Err(error) => Err(Rejection::BadRequest(format!(
            "ERR could not read the request body: {error}"
        ))),
    }
}

fn parse_json(body: &[u8]) -> Result<Json, Rejection> {
    serde_json::from_slice(body)
        .map_err(|error| Rejection::BadRequest(format!("ERR request body is not JSON: {error}")))
}

fn command_from_json(json: &Json) -> Result<Command, Rejection> {
    let Json::Array(items) = json else {
        return Err(bad_request("ERR a command must be a JSON array"));
    };
    if items.is_empty() {
        return Err(bad_request("ERR a command must not be empty"));
    }
    items.iter().map(argument).collect()
}

fn argument(json: &Json) -> Result<Vec<u8>, Rejection> {
    match json {
        Json::String(text) => Ok(text.as_bytes().to_vec()),
        Json::Number(number) => Ok(number.to_string().into_bytes()),
        Json::Bool(flag) => Ok(flag.to_string().into_bytes()),
        Json::Null | Json::Array(_) | Json::Object(_) => Err(bad_request(
            "ERR command arguments must be strings or numbers",
        )),
    }
}

fn commands_from_json(body: &[u8]) -> Result<Vec<Command>, Rejection> {
    let Json::Array(commands) = parse_json(body)? else {
        return Err(bad_request("ERR expected a JSON array of commands"));
    };
    if commands.is_empty() {
        return Err(bad_request("ERR no commands given"));
    }
    commands.iter().map(command_from_json).collect()
}

/// Path segments, then the body (if any), then each query parameter as a name and, when it
/// has one, a value: `POST /set/k?EX=100` with body `v` is `SET k v EX 100`.
fn path_command(mut command: Command, body: Bytes, query: Query) -> Command {
    if !body.is_empty() {
        command.push(body.to_vec());
    }
    for (name, value) in query {
        if name != TOKEN_PARAMETER {
            command.push(name);
            if !value.is_empty() {
                command.push(value);
            }
        }
    }
    command
}

fn refuse_unsupported(commands: &[Command]) -> Result<(), Rejection> {
    match commands.iter().find_map(refused_name) {
        Some(name) => Err(Rejection::BadRequest(format!(
            "ERR command '{name}' is not supported by the local Upstash endpoint"
        ))),
        None => Ok(()),
    }
}

fn refused_name(command: &Command) -> Option<String> {
    let (name, arguments) = command.split_first()?;
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let blocking_read = matches!(name.as_str(), "XREAD" | "XREADGROUP")
        && arguments
            .iter()
            .any(|argument| argument.eq_ignore_ascii_case(b"BLOCK"));
    (blocking_read || REFUSED.contains(&name.as_str())).then_some(name)
}

async fn single(
    state: &State,
    mut command: Command,
    encoding: Encoding,
) -> Result<Json, Rejection> {
    refuse_unsupported(std::slice::from_ref(&command))?;
    state.scripts.translate(&mut command);
    let replies = state
        .pool
        .execute(&[command])
        .await
        .map_err(Rejection::Redis)?;
    match replies.into_iter().next() {
        Some(Value::Error(message)) => Err(Rejection::BadRequest(message)),
        Some(reply) => Ok(json!({ "result": encoding.reply(reply) })),
        None => Err(Rejection::Redis(resp::Error::Protocol(
            "no reply to the command".to_owned(),
        ))),
    }
}

async fn pipeline(
    state: &State,
    mut commands: Vec<Command>,
    encoding: Encoding,
) -> Result<Json, Rejection> {
    refuse_unsupported(&commands)?;
    commands.iter_mut().for_each(|c| state.scripts.translate(c));
    let replies = state
        .pool
        .execute(&commands)
        .await
        .map_err(Rejection::Redis)?;
    Ok(items(replies, encoding))
}

/// Sends `MULTI`, the commands and `EXEC` in one write on one connection, so nothing else can
/// be queued in between.
async fn multi_exec(
    state: &State,
    mut commands: Vec<Command>,
    encoding: Encoding,
) -> Result<Json, Rejection> {
    refuse_unsupported(&commands)?;
    commands.iter_mut().for_each(|c| state.scripts.translate(c));
    let mut transaction = Vec::with_capacity(commands.len() + 2);
    transaction.push(vec![b"MULTI".to_vec()]);
    transaction.extend(commands);
    transaction.push(vec![b"EXEC".to_vec()]);
    let mut replies = state
        .pool
        .execute(&transaction)
        .await
        .map_err(Rejection::Redis)?;
    match replies.pop() {
        Some(Value::Array(results)) => Ok(items(results, encoding)),
        Some(Value::Error(exec_error)) => Err(Rejection::BadRequest(
            first_error(replies).unwrap_or(exec_error),
        )),
        other => Err(Rejection::Redis(resp::Error::Protocol(format!(
            "unexpected reply to EXEC: {other:?}"
        )))),
    }
}

/// The first error among `MULTI`'s and the queued commands' replies: why Redis discarded the
/// transaction.
fn first_error(replies: Vec<Value>) -> Option<String> {
    replies.into_iter().find_map(|reply| match reply {
        Value::Error(message) => Some(message),
        _ => None,
    })
}

fn items(replies: Vec<Value>, encoding: Encoding) -> Json {
    replies
        .into_iter()
        .map(|reply| match reply {
            Value::Error(message) => json!({ "error": message }),
            reply => json!({ "result": encoding.reply(reply) }),
        })
        .collect()
}

/// How strings in results are written: as text, or as base64 when the request asks with
/// `Upstash-Encoding: base64` because the data may not be UTF-8.
#[derive(Clone, Copy)]
enum Encoding {
    /// Invalid UTF-8 becomes U+FFFD, as Upstash documents.
    Text,
    Base64,
}

impl Encoding {
    fn of(headers: &HeaderMap) -> Self {
        let asks_base64 = headers
            .get("upstash-encoding")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"base64"));
        if asks_base64 {
            Self::Base64
        } else {
            Self::Text
        }
    }

    /// One command's whole reply.
    fn reply(self, reply: Value) -> Json {
        match reply {
            Value::Simple(status) if status == "OK" => Json::String(status),
            reply => self.value(reply),
        }
    }

    /// Errors nested in arrays (a script returning `{err=...}` inside a table) are strings like
    /// any other: the item as a whole still succeeded.
    fn value(self, value: Value) -> Json {
        match value {
            Value::Simple(text) | Value::Error(text) => self.string(text.into_bytes()),
            Value::Bulk(bytes) => self.string(bytes),
            Value::Integer(number) => Json::from(number),
            Value::Array(values) => values.into_iter().map(|value| self.value(value)).collect(),
            Value::Nil => Json::Null,
        }
    }

    fn string(self, bytes: Vec<u8>) -> Json {
        match self {
            Self::Text => Json::String(String::from_utf8_lossy(&bytes).into_owned()),
            Self::Base64 => Json::String(BASE64.encode(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc"), b"a b/c");
        assert_eq!(percent_decode("%ff%00"), b"\xff\x00");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%+1"), b"%+1");
        assert_eq!(percent_decode("a+b"), b"a+b");
    }

    #[test]
    fn query_parameters_are_form_decoded() {
        assert_eq!(
            parse_query("_token=a%2Bb&EX=100&NX&&x=a+b"),
            vec![
                (b"_token".to_vec(), b"a+b".to_vec()),
                (b"EX".to_vec(), b"100".to_vec()),
                (b"NX".to_vec(), Vec::new()),
                (b"x".to_vec(), b"a b".to_vec()),
            ]
        );
    }

    #[test]
    fn path_commands_take_body_then_query() {
        let command = path_command(
            vec![b"set".to_vec(), b"k".to_vec()],
            Bytes::from_static(b"v"),
            parse_query("_token=t&EX=100&NX"),
        );
        assert_eq!(command, vec![&b"set"[..], b"k", b"v", b"EX", b"100", b"NX"]);
    }

    #[test]
    fn routes_by_path_and_method() {
        let segments = |path| match Route::of(&Method::GET, path) {
            Ok(Route::Path(segments)) => segments,
            _ => panic!("{path} is not a path command"),
        };
        assert_eq!(segments("/get/a%2Fb/"), vec![&b"get"[..], b"a/b"]);
        assert_eq!(segments("/set//x"), vec![&b"set"[..], b"", b"x"]);
        assert!(matches!(Route::of(&Method::POST, "/"), Ok(Route::Command)));
        assert!(matches!(
            Route::of(&Method::PUT, "/pipeline"),
            Ok(Route::Pipeline)
        ));
        assert!(matches!(
            Route::of(&Method::POST, "/multi-exec/"),
            Ok(Route::MultiExec)
        ));
        assert!(matches!(
            Route::of(&Method::GET, "/pipeline"),
            Err(Rejection::MethodNotAllowed(_))
        ));
        assert!(matches!(
            Route::of(&Method::POST, "/pipeline/x"),
            Err(Rejection::NotFound)
        ));
        assert!(matches!(
            Route::of(&Method::DELETE, "/get/k"),
            Err(Rejection::MethodNotAllowed(_))
        ));
    }

    #[test]
    fn refuses_commands_that_would_spoil_a_pooled_connection() {
        let command = |args: &[&str]| args.iter().map(|a| a.as_bytes().to_vec()).collect();
        assert_eq!(
            refused_name(&command(&["select", "1"])),
            Some("SELECT".into())
        );
        assert_eq!(
            refused_name(&command(&["xread", "block", "0", "STREAMS", "s", "$"])),
            Some("XREAD".into())
        );
        assert_eq!(
            refused_name(&command(&["XREAD", "STREAMS", "s", "0"])),
            None
        );
        assert_eq!(refused_name(&command(&["GET", "select"])), None);
    }

    #[test]
    fn base64_encodes_every_string_but_a_top_level_ok() {
        let reply = Value::Array(vec![
            Value::Simple("OK".into()),
            Value::Bulk(b"\xff".to_vec()),
            Value::Integer(3),
            Value::Nil,
        ]);
        assert_eq!(
            Encoding::Base64.reply(reply),
            json!(["T0s=", "/w==", 3, null])
        );
        assert_eq!(
            Encoding::Base64.reply(Value::Simple("OK".into())),
            json!("OK")
        );
        assert_eq!(
            Encoding::Base64.reply(Value::Simple("PONG".into())),
            json!("UE9ORw==")
        );
        assert_eq!(
            Encoding::Text.reply(Value::Bulk(b"a\xffb".to_vec())),
            json!("a\u{fffd}b")
        );
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(same_token(b"secret", b"secret"));
        assert!(!same_token(b"secreT", b"secret"));
        assert!(!same_token(b"secret2", b"secret"));
        assert!(!same_token(b"", b"secret"));
    }
}
