//! The error contract every route shares: JSON envelopes, never a 500 for a client's
//! mistake, CORS only for listed origins.

use std::sync::Arc;

use bianxian_e2e::{StackOptions, json, spawn_stack, spawn_stack_with};
use bianxian_local::template::{Pattern, Route};
use lambda_http::{Body, Request, Response};
use platform::{Result, runtime::Handler};
use serde::Deserialize;

fn assert_envelope(body: &serde_json::Value, status: u16, name: &str) {
    assert_eq!(body["data"], serde_json::Value::Null, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert_eq!(body["error"]["name"], name, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["details"].is_object(), "{body}");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_a_404_envelope() {
    let stack = spawn_stack().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/health"),
        ("DELETE", "/health"),
        ("GET", "/health/extra"),
        ("GET", "/%ff%fe"),
    ] {
        let response = stack
            .http
            .request(method.parse().unwrap(), stack.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_envelope(&json(response).await, 404, "NotFoundError");
    }
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Echo {
    name: String,
}

/// A route that parses a JSON body through the shared helper, as every write route will.
fn echo_route() -> (Route, Arc<dyn Handler>) {
    async fn echo(req: Request) -> Result<Response<Body>> {
        let echo: Echo = platform::http::parse_json(&req, 1024)?;
        Ok(platform::http::json(
            http::StatusCode::OK,
            &serde_json::json!({ "name": echo.name }),
        ))
    }
    let route = Route {
        method: Some(http::Method::POST),
        pattern: Pattern::parse("/test/echo").unwrap(),
        function: "echo".into(),
    };
    (route, Arc::new(echo))
}

#[tokio::test]
async fn malformed_wrong_type_and_oversized_bodies_get_4xx_envelopes() {
    let stack = spawn_stack_with(StackOptions {
        extra: vec![echo_route()],
        ..Default::default()
    })
    .await;
    let post = |content_type: &'static str, body: Vec<u8>| {
        stack
            .http
            .post(stack.url("/test/echo"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let ok = post("application/json", r#"{"name":"变现"}"#.as_bytes().to_vec())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(json(ok).await["name"], "变现");

    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "application/json",
            b"{\"name\":".to_vec(),
            400,
            "ValidationError",
        ),
        (
            "application/json",
            b"[1,2,3]".to_vec(),
            400,
            "ValidationError",
        ),
        ("application/json", b"".to_vec(), 400, "ValidationError"),
        (
            "application/json",
            vec![0xff, 0xfe, 0x00],
            400,
            "ValidationError",
        ),
        (
            "text/plain",
            br#"{"name":"a"}"#.to_vec(),
            415,
            "UnsupportedMediaTypeError",
        ),
        (
            "application/json",
            format!(r#"{{"name":"{}"}}"#, "a".repeat(4096)).into_bytes(),
            413,
            "PayloadTooLargeError",
        ),
    ];
    for (content_type, body, status, name) in cases {
        let response = post(content_type, body.clone()).await.unwrap();
        assert_eq!(
            response.status(),
            status,
            "{content_type} {:?}",
            String::from_utf8_lossy(&body)
        );
        assert_envelope(&json(response).await, status, name);
    }
}

#[tokio::test]
async fn a_payload_above_api_gateway_limit_is_refused_with_413() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .post(stack.url("/health"))
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 10 * 1024 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_envelope(&json(response).await, 413, "PayloadTooLargeError");
}

#[tokio::test]
async fn a_panicking_handler_answers_a_generic_500_and_the_stack_lives_on() {
    async fn boom(_req: Request) -> Result<Response<Body>> {
        panic!("secret detail: do not leak")
    }
    let route = Route {
        method: Some(http::Method::GET),
        pattern: Pattern::parse("/test/boom").unwrap(),
        function: "boom".into(),
    };
    let stack = spawn_stack_with(StackOptions {
        extra: vec![(route, Arc::new(boom) as Arc<dyn Handler>)],
        ..Default::default()
    })
    .await;
    let response = stack.get("/test/boom").await;
    assert_eq!(response.status(), 500);
    let text = response.text().await.unwrap();
    assert!(!text.contains("secret detail"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_envelope(&body, 500, "InternalServerError");
    assert_eq!(stack.get("/health").await.status(), 200);
}

#[tokio::test]
async fn cors_preflight_and_responses_honour_the_allow_list() {
    let stack = spawn_stack().await;
    let preflight = |origin: &'static str| {
        stack
            .http
            .request(http::Method::OPTIONS, stack.url("/health"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let allowed = preflight("https://www.example.com").await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://www.example.com"
    );
    let denied = preflight("https://evil.example").await.unwrap();
    assert!(!denied.headers().contains_key("access-control-allow-origin"));

    let response = stack
        .http
        .get(stack.url("/health"))
        .header("origin", "https://www.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://www.example.com"
    );
    assert!(
        response.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_a_hostile_one_replaced() {
    let stack = spawn_stack().await;
    let response = stack
        .http
        .get(stack.url("/health"))
        .header("x-request-id", "frontend-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "frontend-42");
    let response = stack
        .http
        .get(stack.url("/health"))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "a b\"c");
}
