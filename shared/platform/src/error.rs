//! The one error type of the bundle, and the one place it becomes HTTP.
//!
//! Handlers return `Result<_, Error>`; `Error::to_response` decides the status code
//! and writes Strapi v5's error envelope
//! `{"data":null,"error":{"status","name","message","details"}}`. Internal errors are
//! logged with their detail but answered with a generic message, so nothing about the
//! database, Redis or the code leaks to a client.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use crate::ratelimit::Decision;

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is well-formed HTTP but its content is wrong.
    #[error("{message}")]
    Validation { message: String, details: Value },
    /// 401: who you are is unknown or not proven.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: known, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String, allow: Vec<String> },
    /// 409: the request conflicts with the current state (a duplicate, a stale write).
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: understood, but it contradicts an earlier request (an idempotency key
    /// reused with another body).
    #[error("{0}")]
    Unprocessable(String),
    #[error("too many requests")]
    RateLimited(Decision),
    /// 503: a dependency is down; the client may retry.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// 500: a bug or an unexpected failure; the detail is logged, never sent.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl Error {
    pub fn validation(message: impl Into<String>) -> Self {
        Error::Validation {
            message: message.into(),
            details: json!({}),
        }
    }

    /// A 400 that names the offending input, e.g. a query parameter or a body field.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Validation {
            details: json!({ "errors": [{ "path": [path], "message": message, "name": "ValidationError" }] }),
            message,
        }
    }

    pub fn internal(err: impl Into<BoxError>) -> Self {
        Error::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Validation { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `name` field of the envelope, following Strapi's naming.
    pub fn name(&self) -> &'static str {
        match self {
            Error::Validation { .. } => "ValidationError",
            Error::Unauthorized(_) => "UnauthorizedError",
            Error::Forbidden(_) => "ForbiddenError",
            Error::NotFound(_) => "NotFoundError",
            Error::MethodNotAllowed { .. } => "MethodNotAllowedError",
            Error::Conflict(_) => "ConflictError",
            Error::PayloadTooLarge { .. } => "PayloadTooLargeError",
            Error::UnsupportedMediaType(_) => "UnsupportedMediaTypeError",
            Error::Unprocessable(_) => "UnprocessableEntityError",
            Error::RateLimited(_) => "RateLimitError",
            Error::ServiceUnavailable(_) => "ServiceUnavailableError",
            Error::Internal(_) => "InternalServerError",
        }
    }

    /// Server-side failures are reported to Sentry; client mistakes are not.
    pub fn is_server_error(&self) -> bool {
        self.status().is_server_error()
    }

    pub fn to_response(&self) -> Response<Body> {
        let message = match self {
            Error::Internal(_) => "Internal Server Error".to_string(),
            other => other.to_string(),
        };
        let details = match self {
            Error::Validation { details, .. } => details.clone(),
            Error::PayloadTooLarge { limit } => json!({ "limit": limit }),
            Error::MethodNotAllowed { allow, .. } => json!({ "allow": allow }),
            Error::RateLimited(decision) => json!({
                "limit": decision.limit,
                "remaining": decision.remaining,
                "retryAfter": decision.reset_secs,
            }),
            _ => json!({}),
        };
        let status = self.status();
        let body = json!({
            "data": null,
            "error": {
                "status": status.as_u16(),
                "name": self.name(),
                "message": message,
                "details": details,
            }
        });
        let mut response = crate::http::json(status, &body);
        let headers = response.headers_mut();
        match self {
            Error::RateLimited(decision) => {
                decision.write_headers(headers);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(decision.reset_secs));
            }
            Error::MethodNotAllowed { allow, .. } => {
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            Error::ServiceUnavailable(_) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(RETRY_UNAVAILABLE_SECS),
                );
            }
            _ => {}
        }
        response
    }
}

/// What a 503 asks a client to wait: long enough for a pool to reconnect or a
/// database to fail over, short enough that a reader barely notices.
pub const RETRY_UNAVAILABLE_SECS: u32 = 5;

/// An error and its sources as one line, each cause once (libraries often repeat
/// their source's text in their own).
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// A unique violation on one of `constraints` is the client's conflict, answered
/// with that constraint's message; anything else stays a database error.
pub fn map_conflict(err: tokio_postgres::Error, constraints: &[(&str, &str)]) -> Error {
    if err.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
        && let Some(message) = err
            .as_db_error()
            .and_then(|db| db.constraint())
            .and_then(|c| constraints.iter().find(|(name, _)| *name == c))
            .map(|(_, message)| *message)
    {
        return Error::Conflict(message.into());
    }
    err.into()
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        // `DB_STATEMENT_TIMEOUT_MS` ran out: the database is busy or the query is too
        // broad, which a client can retry or narrow; not a bug.
        if err.code() == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED) {
            tracing::warn!(error = %describe(&err), "statement timed out");
            return Error::ServiceUnavailable(
                "the database took too long to answer; try again or narrow the request".into(),
            );
        }
        // The server went away under an open connection (a restart, a failover, an
        // idle connection the server or proxy closed while the sandbox was frozen):
        // the pool replaces the connection, and the client may retry.
        // So is a server that is shutting down or restarting (57P01-57P03), a
        // connection exception (class 08) and a server out of connection slots (53300).
        let unavailable = err.code().is_some_and(|code| {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        });
        if err.is_closed() || unavailable {
            tracing::error!(error = %describe(&err), "database connection lost");
            // No "try again": the connection may have dropped around a COMMIT that
            // went through, and not every write is safe to repeat.
            return Error::ServiceUnavailable("the database connection was lost".into());
        }
        match err.as_db_error() {
            Some(db) => Error::Internal(Box::new(DatabaseError::of(db))),
            None => Error::Internal(Box::new(err)),
        }
    }
}

/// What a tokio-postgres error may say in a log line: [`DatabaseError`]'s text for a
/// server error (its Display would append PostgreSQL's DETAIL), its own otherwise.
fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => DatabaseError::of(db).to_string(),
        None => err.to_string(),
    }
}

/// A database error as it may be logged and sent to Sentry: its SQLSTATE, message
/// and the constraint, table and column it names. PostgreSQL's DETAIL, HINT and
/// WHERE are left out: they quote row values (a unique violation's DETAIL names the
/// email that was taken).
#[derive(Debug)]
pub struct DatabaseError {
    code: String,
    message: String,
    constraint: Option<String>,
    table: Option<String>,
    column: Option<String>,
}

impl DatabaseError {
    fn of(db: &tokio_postgres::error::DbError) -> Self {
        Self {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            constraint: db.constraint().map(str::to_owned),
            table: db.table().map(str::to_owned),
            column: db.column().map(str::to_owned),
        }
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "database error {}: {}", self.code, self.message)?;
        for (name, value) in [
            ("constraint", &self.constraint),
            ("table", &self.table),
            ("column", &self.column),
        ] {
            if let Some(value) = value {
                write!(f, " ({name} {value})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for DatabaseError {}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        tracing::error!(error = %err, "database pool");
        Error::ServiceUnavailable("the database is unavailable".into())
    }
}

impl From<crate::upstash::UpstashError> for Error {
    fn from(err: crate::upstash::UpstashError) -> Self {
        // Redis unreachable is an outage the client may retry (sessions live there), not
        // a bug; a refused command or a malformed reply still is one.
        if err.is_unavailable() {
            tracing::error!(error = %err, "redis");
            Error::ServiceUnavailable(
                "the session and cache store is unavailable, try again shortly".into(),
            )
        } else {
            Error::Internal(Box::new(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn unavailable_asks_to_retry_later() {
        let response =
            Error::ServiceUnavailable("the database is unavailable".into()).to_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        assert_eq!(
            body_json(&response)["error"]["name"],
            "ServiceUnavailableError"
        );
        let response = Error::NotFound("nothing".into()).to_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn envelope_follows_strapi() {
        let response = Error::invalid("pagination[pageSize]", "must be at most 100").to_response();
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        let body = body_json(&response);
        assert_eq!(body["data"], Value::Null);
        assert_eq!(body["error"]["status"], 400);
        assert_eq!(body["error"]["name"], "ValidationError");
        assert_eq!(body["error"]["message"], "must be at most 100");
        assert_eq!(
            body["error"]["details"]["errors"][0]["path"][0],
            "pagination[pageSize]"
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let response =
            Error::internal("password authentication failed for user bianxian").to_response();
        assert_eq!(response.status(), 500);
        let text = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(!text.contains("password"), "{text}");
        assert_eq!(
            body_json(&response)["error"]["message"],
            "Internal Server Error"
        );
    }

    #[test]
    fn redis_out_of_reach_is_a_503_and_a_refused_command_a_500() {
        use crate::upstash::UpstashError;
        let down: Error = UpstashError::Http {
            status: 502,
            message: "bad gateway".into(),
        }
        .into();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        let refused: Error = UpstashError::Command("WRONGTYPE".into()).into();
        assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn method_not_allowed_lists_allowed_methods() {
        let response = Error::MethodNotAllowed {
            method: "DELETE".into(),
            allow: vec!["GET".into(), "HEAD".into()],
        }
        .to_response();
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()[header::ALLOW], "GET, HEAD");
    }
}
