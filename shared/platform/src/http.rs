//! Request and response helpers over `lambda_http`, shared by every HTTP function.
//!
//! Bodies arrive already decoded: `lambda_http` turns API Gateway's base64 bodies into
//! bytes, and the local gateway hands over the raw bytes it received, so webhook
//! signatures can be checked over exactly what the sender signed.

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response, request::RequestContext};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    cache::Entry,
    error::{Error, Result},
};

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own types to a Vec cannot fail; fall back to an empty object
    // rather than panicking if a type ever grows a non-string map key.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::Binary(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// `{"data": value}`, never stored by caches: what account and admin routes answer.
pub fn data<T: Serialize>(status: StatusCode, value: T) -> Response<Body> {
    let mut response = json(status, &serde_json::json!({ "data": value }));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub fn no_content() -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// How a cached representation is answered: its media type and caching headers.
pub struct Representation {
    pub media_type: &'static str,
    pub cache_control: &'static str,
    /// The request headers the body depends on, for shared caches to key on.
    pub vary: Option<&'static str>,
    /// When what the body shows last changed (second precision, as HTTP dates are).
    pub last_modified: Option<DateTime<Utc>>,
}

/// `entry` as a 200, or as a bodiless 304 when the client already holds it: by
/// `If-None-Match` when the request has one, else by `If-Modified-Since` (RFC 9110
/// 13.2.2: the entity tag wins). Both answers carry the validators and caching headers.
pub fn conditional(req: &Request, entry: &Entry, how: &Representation) -> Response<Body> {
    let etag = entry.etag();
    let fresh = if req.headers().contains_key(header::IF_NONE_MATCH) {
        if_none_match(req, &etag)
    } else {
        how.last_modified
            .is_some_and(|modified| not_modified_since(req, modified))
    };
    let mut response = if fresh {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::Text(entry.body().to_owned()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(how.media_type),
        );
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    if let Some(modified) = how.last_modified
        && let Ok(value) = HeaderValue::from_str(&http_date(modified))
    {
        headers.insert(header::LAST_MODIFIED, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(how.cache_control),
    );
    if let Some(vary) = how.vary {
        headers.insert(header::VARY, HeaderValue::from_static(vary));
    }
    response
}

/// Whether any entity tag in `If-None-Match` matches `etag` by RFC 9110's weak
/// comparison (a `W/` prefix is ignored), or the header is `*`.
pub fn if_none_match(req: &Request, etag: &str) -> bool {
    fn opaque(tag: &str) -> &str {
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    let ours = opaque(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || opaque(tag) == ours)
}

/// Whether `If-Modified-Since` names a time at or after `modified`. An unparseable
/// date is ignored, as RFC 9110 requires.
fn not_modified_since(req: &Request, modified: DateTime<Utc>) -> bool {
    req.headers()
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| DateTime::parse_from_rfc2822(value.trim()).ok())
        .is_some_and(|since| modified.timestamp() <= since.timestamp())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP dates are sent in.
pub fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The raw body bytes, exactly as the client sent them.
pub fn raw_body(req: &Request) -> &[u8] {
    req.body().as_ref()
}

/// Parses a JSON body: 415 for another content type, 413 above `limit` bytes, 400 for
/// malformed JSON or a body that does not fit `T` (the message says where).
pub fn parse_json<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(Error::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    }
    let body = raw_body(req);
    if body.len() > limit {
        return Err(Error::PayloadTooLarge { limit });
    }
    if body.is_empty() {
        return Err(Error::validation("request body is empty"));
    }
    let parsed = serde_json::from_slice(body)
        .map_err(|e| Error::invalid("body", format!("invalid JSON body: {e}")))?;
    // PostgreSQL `text` and `jsonb` cannot hold U+0000, which JSON can only carry as the
    // escape `\u0000`: refuse it here, naming the field, rather than as a failed statement.
    if body.windows(6).any(|w| w == br"\u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(path) = nul_path(&value)
    {
        return Err(Error::invalid(
            &path,
            format!("{path} must not contain NUL (U+0000) characters"),
        ));
    }
    Ok(parsed)
}

/// Where in `value` a string or key holds U+0000, as `data.tags.0` (`body` for the root).
fn nul_path(value: &serde_json::Value) -> Option<String> {
    fn segments(value: &serde_json::Value, path: &mut Vec<String>) -> bool {
        use serde_json::Value;
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                path.push(i.to_string());
                segments(item, path) || {
                    path.pop();
                    false
                }
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                path.push(key.clone());
                key.contains('\0') || segments(item, path) || {
                    path.pop();
                    false
                }
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    segments(value, &mut path).then(|| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.join(".")
        }
    })
}

/// A query string parameter (already percent-decoded); the first one if repeated.
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|params| params.first(name))
}

/// A text query parameter (a filter, a search), trimmed, of at most `max`
/// characters and without control characters (a NUL would fail in PostgreSQL as a
/// 500); absent or empty is `None`, anything else wrong a 400 naming it.
pub fn text_param(req: &Request, name: &str, max: usize) -> Result<Option<String>> {
    let Some(raw) = query_param(req, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if raw.chars().any(char::is_control) || raw.chars().count() > max {
        return Err(Error::invalid(
            name,
            format!("{name} must be at most {max} characters, without control characters"),
        ));
    }
    Ok(Some(raw.to_owned()))
}

/// A positive integer query parameter (a page, a page size) of at most `max`,
/// `default` when absent; a 400 naming it otherwise.
pub fn page_param(req: &Request, name: &str, default: i64, max: i64) -> Result<i64> {
    match query_param(req, name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| Error::invalid(name, format!("{name} must be 1 to {max}"))),
    }
}

/// A path parameter from the route template, e.g. `{documentId}`.
pub fn path_param<'a>(req: &'a Request, name: &str) -> Result<&'a str> {
    let value = req
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .ok_or_else(|| Error::invalid(name, format!("missing path parameter `{name}`")))?;
    // No id or number has control characters, and a NUL (`%00`) would fail the lookup
    // in PostgreSQL as a 500 instead of finding nothing.
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            name,
            format!("{name} must not contain control characters"),
        ));
    }
    Ok(value)
}

/// The id that ties a request's logs, Sentry events and response together: the caller's
/// `X-Request-Id` if it is sane, else API Gateway's request id, else a fresh one.
pub fn request_id(req: &Request) -> String {
    let from_header = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
    if let Some(id) = from_header {
        return id.to_string();
    }
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref()
        && let Some(id) = ctx.request_id.as_deref().filter(|id| !id.is_empty())
    {
        return id.to_string();
    }
    hex::encode(rand::random::<[u8; 16]>())
}

/// The route template API Gateway matched, e.g. `GET /admin/users/{documentId}`:
/// handlers dispatch on it so their routes are exactly those of template.yaml.
pub fn route_key(req: &Request) -> &str {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.as_deref().unwrap_or(""),
        _ => "",
    }
}

/// The client's address as API Gateway saw it (never a client-supplied header).
pub fn source_ip(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        _ => None,
    }
}

/// The key rate limits per address use: the source IP, or `unknown` when API Gateway
/// gave none (then all such callers share one budget, the safe side).
pub fn client_ip(req: &Request) -> String {
    source_ip(req).unwrap_or("unknown").to_owned()
}

/// A required text field, trimmed, of 1 to `max` characters; a 400 naming `field`
/// otherwise.
pub fn bounded(raw: &str, field: &str, max: usize) -> Result<String> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("{field} must be 1 to {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// An optional text field of at most `max` characters; a 400 naming `field` otherwise.
pub fn at_most(value: Option<&str>, field: &str, max: usize) -> Result<()> {
    match value {
        Some(text) if text.chars().count() > max => Err(Error::invalid(
            field,
            format!("{field} must be at most {max} characters"),
        )),
        _ => Ok(()),
    }
}

/// CORS for an allow-list of exact origins.
///
/// Only listed origins are echoed back (never `*`), so cookies can be allowed, and
/// `Vary: Origin` keeps CDNs from serving one origin's answer to another.
pub mod cors {
    use super::*;

    const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
    const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id, idempotency-key";
    const EXPOSE_HEADERS: &str = "x-request-id, etag, ratelimit, ratelimit-policy, retry-after";

    fn allowed_origin<'a>(req: &'a Request, allowed: &[String]) -> Option<&'a str> {
        let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
        allowed.iter().any(|a| a == origin).then_some(origin)
    }

    /// Answers a preflight request, or `None` when the request is not one.
    pub fn preflight(req: &Request, allowed: &[String]) -> Option<Response<Body>> {
        if req.method() != Method::OPTIONS
            || !req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) =
            allowed_origin(req, allowed).and_then(|o| HeaderValue::from_str(o).ok())
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        Some(response)
    }

    /// Adds the CORS headers of an actual (non-preflight) response.
    pub fn decorate(req: &Request, allowed: &[String], headers: &mut HeaderMap) {
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) =
            allowed_origin(req, allowed).and_then(|o| HeaderValue::from_str(o).ok())
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn get_with(headers: &[(header::HeaderName, &str)]) -> Request {
        let mut builder = http::Request::builder().uri("/x");
        for (name, value) in headers {
            builder = builder.header(name, *value);
        }
        builder.body(Body::Empty).unwrap()
    }

    #[test]
    fn if_none_match_compares_weakly_over_lists() {
        let etag = "\"abc\"";
        for matching in ["\"abc\"", "W/\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(
                if_none_match(&get_with(&[(header::IF_NONE_MATCH, matching)]), etag),
                "{matching}"
            );
        }
        for other in ["\"abd\"", "abc", ""] {
            assert!(
                !if_none_match(&get_with(&[(header::IF_NONE_MATCH, other)]), etag),
                "{other}"
            );
        }
        assert!(!if_none_match(&get_with(&[]), etag));
    }

    #[test]
    fn conditional_answers_304_by_tag_first_then_by_date() {
        let entry = Entry::new("<rss/>".into());
        let modified = DateTime::parse_from_rfc3339("2026-03-01T08:30:00.750Z")
            .unwrap()
            .with_timezone(&Utc);
        let how = Representation {
            media_type: "application/rss+xml; charset=utf-8",
            cache_control: "public, no-cache",
            vary: None,
            last_modified: Some(modified),
        };
        let status = |headers: &[(header::HeaderName, &str)]| {
            conditional(&get_with(headers), &entry, &how).status()
        };
        let ok = conditional(&get_with(&[]), &entry, &how);
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(
            ok.headers()[header::LAST_MODIFIED],
            "Sun, 01 Mar 2026 08:30:00 GMT"
        );
        assert_eq!(ok.headers()[header::ETAG], entry.etag().as_str());
        let same = "Sun, 01 Mar 2026 08:30:00 GMT";
        let before = "Sun, 01 Mar 2026 08:29:59 GMT";
        assert_eq!(
            status(&[(header::IF_MODIFIED_SINCE, same)]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            status(&[(header::IF_MODIFIED_SINCE, before)]),
            StatusCode::OK
        );
        assert_eq!(
            status(&[(header::IF_MODIFIED_SINCE, "yesterday")]),
            StatusCode::OK
        );
        // A tag that does not match wins over a date that would.
        assert_eq!(
            status(&[
                (header::IF_NONE_MATCH, "\"other\""),
                (header::IF_MODIFIED_SINCE, same)
            ]),
            StatusCode::OK
        );
        assert_eq!(
            status(&[(header::IF_NONE_MATCH, &entry.etag())]),
            StatusCode::NOT_MODIFIED
        );
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        builder.body(Body::from(body)).unwrap()
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Payload {
        name: String,
    }

    #[test]
    fn parses_json_with_charset() {
        let req = request(
            Some("application/json; charset=utf-8"),
            r#"{"name":"变现"}"#,
        );
        let payload: Payload = parse_json(&req, 1024).unwrap();
        assert_eq!(payload.name, "变现");
    }

    #[test]
    fn rejects_wrong_content_type_size_and_shape() {
        let cases: [(Option<&str>, &str, usize, u16); 5] = [
            (Some("text/plain"), r#"{"name":"a"}"#, 1024, 415),
            (None, r#"{"name":"a"}"#, 1024, 415),
            (Some("application/json"), r#"{"name":"aaaaaaaa"}"#, 8, 413),
            (Some("application/json"), r#"{"name":"#, 1024, 400),
            (Some("application/json"), r#"{"nom":"a"}"#, 1024, 400),
        ];
        for (ct, body, limit, status) in cases {
            let err = parse_json::<Payload>(&request(ct, body), limit).unwrap_err();
            assert_eq!(err.status().as_u16(), status, "{ct:?} {body}");
        }
    }

    fn invalid_path(err: &Error) -> String {
        match err {
            Error::Validation { details, .. } => details["errors"][0]["path"][0]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn refuses_nul_in_any_string_or_key_naming_where() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Write {
            data: serde_json::Value,
        }
        let cases = [
            (r#"{"data":{"title":"a\u0000b"}}"#, "data.title"),
            (r#"{"data":{"tags":["ok","\u0000"]}}"#, "data.tags.1"),
            (r#"{"data":{"k\u0000":1}}"#, "data.k\u{0}"),
        ];
        for (body, path) in cases {
            let err =
                parse_json::<Write>(&request(Some("application/json"), body), 1024).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert_eq!(invalid_path(&err), path, "{body}");
        }
        // An escaped backslash followed by `u0000` is ordinary text, not a NUL.
        let ok: Write = parse_json(
            &request(Some("application/json"), r#"{"data":{"body":"\\u0000"}}"#),
            1024,
        )
        .unwrap();
        assert_eq!(ok.data["body"], "\\u0000");
    }

    #[test]
    fn path_parameters_with_control_characters_are_refused() {
        let req = http::Request::builder()
            .uri("/api/articles/a%00b")
            .body(Body::Empty)
            .unwrap()
            .with_path_parameters(std::collections::HashMap::from([(
                "documentId".to_owned(),
                "a\0b".to_owned(),
            )]));
        let err = path_param(&req, "documentId").unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(invalid_path(&err), "documentId");
    }

    #[test]
    fn query_and_path_parameters_come_from_the_gateway_event() {
        let req = lambda_http::request::from_str(
            r#"{"version":"2.0","routeKey":"GET /api/articles/{documentId}","rawPath":"/api/articles/abc",
                "rawQueryString":"locale=zh-CN&tag=a&tag=b","headers":{},
                "pathParameters":{"documentId":"abc"},
                "requestContext":{"http":{"method":"GET","path":"/api/articles/abc","sourceIp":"203.0.113.9"},
                                  "routeKey":"GET /api/articles/{documentId}","timeEpoch":0},
                "isBase64Encoded":false}"#,
        )
        .unwrap();
        assert_eq!(query_param(&req, "locale"), Some("zh-CN"));
        assert_eq!(query_param(&req, "tag"), Some("a"));
        assert_eq!(query_param(&req, "missing"), None);
        assert_eq!(path_param(&req, "documentId").unwrap(), "abc");
        assert_eq!(path_param(&req, "slug").unwrap_err().status(), 400);
        assert_eq!(route_key(&req), "GET /api/articles/{documentId}");
        assert_eq!(source_ip(&req), Some("203.0.113.9"));
    }

    #[test]
    fn request_id_accepts_only_sane_headers() {
        let req = http::Request::builder()
            .header("x-request-id", "abc-123")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(request_id(&req), "abc-123");
        let req = http::Request::builder()
            .header("x-request-id", "<script>")
            .body(Body::Empty)
            .unwrap();
        let id = request_id(&req);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn cors_echoes_only_listed_origins() {
        let allowed = vec!["https://www.example.com".to_string()];
        let preflight = |origin: &str| {
            let req = http::Request::builder()
                .method("OPTIONS")
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(Body::Empty)
                .unwrap();
            cors::preflight(&req, &allowed).unwrap()
        };
        let ok = preflight("https://www.example.com");
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://www.example.com"
        );
        let evil = preflight("https://evil.example");
        assert!(
            !evil
                .headers()
                .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        );
    }
}
