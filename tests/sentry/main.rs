//! Errors and panics reach Sentry before the response leaves the function.
//!
//! A separate test binary because the Sentry client is process-global. A tiny HTTP
//! server stands in for Sentry's ingest endpoint and records every envelope; the
//! assertions run right after the response arrives, with no waiting, which is the
//! point: a Lambda sandbox is frozen as soon as the handler returns.

use std::sync::{Arc, Mutex};

use bianxian_e2e::{StackOptions, random_suffix, spawn_stack_with};
use bianxian_local::template::{Pattern, Route};
use lambda_http::{Body, Request, Response};
use platform::{Error, Result, runtime::Handler};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

type Envelopes = Arc<Mutex<Vec<String>>>;

/// Accepts HTTP/1.1 POSTs with a Content-Length and keeps their bodies.
///
/// It runs on its own thread and runtime: Sentry's transport thread must be able to
/// deliver even while the test's runtime is unwinding a failed assertion, or the
/// client's shutdown would wait on it forever.
fn fake_sentry() -> (String, Envelopes) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let dsn = format!("http://public@{}/1", listener.local_addr().unwrap());
    let envelopes: Envelopes = Arc::default();
    let store = envelopes.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(record_envelopes(stream, store.clone()));
            }
        });
    });
    (dsn, envelopes)
}

async fn record_envelopes(stream: tokio::net::TcpStream, store: Envelopes) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        store
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        let reply =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
        if reader.get_mut().write_all(reply).await.is_err() {
            return;
        }
    }
}

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
