//! The Upstash-compatible endpoint, driven over plain HTTP against the machine's Redis
//! (127.0.0.1:6379). Every test starts its own endpoint and uses its own keys, so tests run in
//! parallel without seeing each other.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bianxian_local::upstash::{UpstashServerConfig, serve};
use reqwest::StatusCode;
use serde_json::{Value as Json, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const REDIS: &str = "127.0.0.1:6379";
const TOKEN: &str = "local-test-token";

struct Endpoint {
    url: String,
    http: reqwest::Client,
    server: JoinHandle<std::io::Result<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn spawn_endpoint() -> Endpoint {
    spawn_endpoint_for(REDIS.parse().expect("redis address")).await
}

async fn spawn_endpoint_for(redis_addr: SocketAddr) -> Endpoint {
    // Another test may have installed it already; either way one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    let config = UpstashServerConfig {
        redis_addr,
        token: TOKEN.to_owned(),
    };
    Endpoint {
        url,
        http: reqwest::Client::new(),
        server: tokio::spawn(serve(listener, config)),
    }
}

struct Reply {
    status: StatusCode,
    body: Json,
}

impl Endpoint {
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
    }

    async fn command(&self, command: Json) -> Reply {
        send(self.post("/").json(&command)).await
    }

    async fn result(&self, command: Json) -> Json {
        let reply = self.command(command).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["result"].clone()
    }

    async fn pipeline(&self, commands: Json) -> Reply {
        send(self.post("/pipeline").json(&commands)).await
    }

    async fn multi_exec(&self, commands: Json) -> Reply {
        send(self.post("/multi-exec").json(&commands)).await
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let content_type = response.headers().get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body = response.json().await.expect("JSON body");
    Reply { status, body }
}

fn key(label: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("upstash-test:{}:{nanos}:{n}:{label}", std::process::id())
}

fn assert_error(reply: &Reply, status: StatusCode, starts_with: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let message = reply.body["error"].as_str().expect("error message");
    assert!(message.starts_with(starts_with), "{message}");
}

#[tokio::test]
async fn commands_in_the_body_behave_like_redis() {
    let endpoint = spawn_endpoint().await;
    let (text, counter) = (key("text"), key("counter"));

    assert_eq!(
        endpoint.result(json!(["SET", text, "v", "EX", 100])).await,
        "OK"
    );
    assert_eq!(endpoint.result(json!(["GET", text])).await, "v");
    let ttl = endpoint.result(json!(["TTL", text])).await;
    assert!(
        (1..=100).contains(&ttl.as_i64().expect("integer TTL")),
        "{ttl}"
    );
    assert_eq!(endpoint.result(json!(["INCRBY", counter, 41])).await, 41);
    assert_eq!(endpoint.result(json!(["INCR", counter])).await, 42);
    assert_eq!(
        endpoint.result(json!(["GET", key("missing")])).await,
        Json::Null
    );
    assert_eq!(
        endpoint.result(json!(["MGET", text, key("missing")])).await,
        json!(["v", null])
    );
    assert_eq!(endpoint.result(json!(["DEL", text, counter])).await, 2);
}

#[tokio::test]
async fn redis_errors_are_bad_requests_with_the_full_error_text() {
    let endpoint = spawn_endpoint().await;
    let text = key("text");
    endpoint.result(json!(["SET", text, "not a number"])).await;

    let reply = endpoint.command(json!(["INCR", text])).await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "ERR value is not an integer",
    );
    let reply = endpoint.command(json!(["LPUSH", text, "x"])).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "WRONGTYPE ");
    let reply = endpoint.command(json!(["NOSUCHCOMMAND"])).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR unknown command");
}

#[tokio::test]
async fn scripts_return_nested_values() {
    let endpoint = spawn_endpoint().await;
    let name = key("script");
    let script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]), {false}}";
    assert_eq!(
        endpoint
            .result(json!(["EVAL", script, 1, name, "x", 7]))
            .await,
        json!([name, "x", 7, [null]])
    );
}

#[tokio::test]
async fn commands_can_be_spelled_as_paths() {
    let endpoint = spawn_endpoint().await;
    let name = key("path/with space");
    let escaped = name.replace('/', "%2F").replace(' ', "%20");

    let reply = send(endpoint.get(&format!("/set/{escaped}/bar"))).await;
    assert_eq!(reply.body, json!({ "result": "OK" }));
    let reply = send(endpoint.get(&format!("/GET/{escaped}"))).await;
    assert_eq!(reply.body, json!({ "result": "bar" }));

    let body = "{\"a\": [1, 2]} / not a path";
    let reply = send(endpoint.post(&format!("/set/{escaped}?EX=100")).body(body)).await;
    assert_eq!(reply.body, json!({ "result": "OK" }));
    assert_eq!(endpoint.result(json!(["GET", name])).await, body);
    let ttl = endpoint.result(json!(["TTL", name])).await;
    assert!(ttl.as_i64().expect("integer TTL") > 0, "{ttl}");
}

#[tokio::test]
async fn requests_need_the_token() {
    let endpoint = spawn_endpoint().await;
    let url = format!("{}/ping", endpoint.url);

    for request in [
        endpoint.http.get(&url),
        endpoint.http.get(&url).bearer_auth("wrong"),
        endpoint.http.get(format!("{url}?_token=wrong")),
        endpoint.http.get(&url).header("authorization", TOKEN),
        endpoint.http.delete(&url),
    ] {
        let reply = send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body, json!({ "error": "Unauthorized" }));
    }

    let reply = send(endpoint.http.get(format!("{url}?_token={TOKEN}"))).await;
    assert_eq!(reply.body, json!({ "result": "PONG" }));
    let reply = send(
        endpoint
            .http
            .get(&url)
            .header("authorization", format!("bearer {TOKEN}")),
    )
    .await;
    assert_eq!(reply.body, json!({ "result": "PONG" }));
}

#[tokio::test]
async fn pipelines_answer_every_command_even_after_an_error() {
    let endpoint = spawn_endpoint().await;
    let (counter, text) = (key("counter"), key("text"));

    let reply = endpoint
        .pipeline(json!([
            ["SET", counter, 1],
            ["SET", text, "x"],
            ["INCR", text],
            ["INCR", counter],
            ["GET", counter],
        ]))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let items = reply.body.as_array().expect("array of items");
    assert_eq!(items.len(), 5);
    assert_eq!(items[0], json!({ "result": "OK" }));
    assert!(
        items[2]["error"]
            .as_str()
            .expect("error")
            .starts_with("ERR ")
    );
    assert_eq!(items[3], json!({ "result": 2 }));
    assert_eq!(items[4], json!({ "result": "2" }));
}

#[tokio::test]
async fn transactions_run_atomically_and_report_errors_per_command() {
    let endpoint = spawn_endpoint().await;
    let (counter, text) = (key("counter"), key("text"));

    let reply = endpoint
        .multi_exec(json!([
            ["SET", text, "x"],
            ["INCR", text],
            ["INCR", counter],
            ["GET", counter],
        ]))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let items = reply.body.as_array().expect("array of items");
    assert_eq!(items[0], json!({ "result": "OK" }));
    assert!(
        items[1]["error"]
            .as_str()
            .expect("error")
            .starts_with("ERR ")
    );
    assert_eq!(items[2], json!({ "result": 1 }));
    assert_eq!(items[3], json!({ "result": "1" }));
}

#[tokio::test]
async fn a_transaction_redis_refuses_to_queue_is_discarded_whole() {
    let endpoint = spawn_endpoint().await;
    let name = key("untouched");

    let reply = endpoint
        .multi_exec(json!([["SET", name, "x"], ["NOSUCHCOMMAND", "a"]]))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR unknown command");
    assert_eq!(endpoint.result(json!(["EXISTS", name])).await, 0);
    // The connection that saw the aborted transaction is usable again.
    assert_eq!(endpoint.result(json!(["SET", name, "y"])).await, "OK");
}

#[tokio::test]
async fn base64_encoding_covers_every_string_but_a_plain_ok() {
    let endpoint = spawn_endpoint().await;
    let name = key("binary");
    let base64 =
        |request: reqwest::RequestBuilder| send(request.header("Upstash-Encoding", "base64"));

    let reply = base64(
        endpoint
            .post(&format!("/set/{name}"))
            .body(vec![0xff, b'a']),
    )
    .await;
    assert_eq!(reply.body, json!({ "result": "OK" }));
    let reply = base64(endpoint.post("/").json(&json!(["GET", name]))).await;
    assert_eq!(reply.body, json!({ "result": "/2E=" }));
    let reply = base64(endpoint.post("/").json(&json!(["PING"]))).await;
    assert_eq!(reply.body, json!({ "result": "UE9ORw==" }));
    let reply = base64(
        endpoint
            .post("/")
            .json(&json!(["MGET", name, key("missing")])),
    )
    .await;
    assert_eq!(reply.body, json!({ "result": ["/2E=", null] }));
    let reply = base64(endpoint.post("/pipeline").json(&json!([
        ["SET", name, "é"],
        ["GET", name],
        ["STRLEN", name]
    ])))
    .await;
    assert_eq!(
        reply.body,
        json!([{ "result": "OK" }, { "result": "w6k=" }, { "result": 2 }])
    );

    endpoint.result(json!(["SET", name, "ok\u{0}"])).await;
    let reply = send(endpoint.post(&format!("/append/{name}")).body(vec![0xff])).await;
    assert_eq!(reply.body, json!({ "result": 4 }));
    assert_eq!(
        endpoint.result(json!(["GET", name])).await,
        "ok\u{0}\u{fffd}"
    );
}

#[tokio::test]
async fn malformed_requests_are_client_errors() {
    let endpoint = spawn_endpoint().await;

    for body in [
        &b"not json"[..],
        b"{\"command\": \"GET\"}",
        b"[]",
        b"[\"GET\", null]",
        b"[\"SET\", \"k\", {\"a\": 1}]",
        b"",
    ] {
        let reply = send(endpoint.post("/").body(body)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "ERR ");
    }
    for body in [
        &b"[]"[..],
        b"[\"GET\", \"k\"]",
        b"[[\"GET\", \"k\"], []]",
        b"{}",
    ] {
        let reply = send(endpoint.post("/pipeline").body(body)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "ERR ");
        let reply = send(endpoint.post("/multi-exec").body(body)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "ERR ");
    }

    let reply = send(endpoint.get("/pipeline")).await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "ERR ");
    let reply = send(
        endpoint
            .http
            .delete(format!("{}/get/k", endpoint.url))
            .bearer_auth(TOKEN),
    )
    .await;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "ERR ");
    let reply = send(endpoint.post("/multi-exec/extra").body("[]")).await;
    assert_error(&reply, StatusCode::NOT_FOUND, "ERR ");

    let huge = json!(["SET", key("huge"), "x".repeat(2 * 1024 * 1024)]);
    let reply = send(endpoint.post("/").json(&huge)).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "ERR ");
}

#[tokio::test]
async fn commands_that_would_spoil_a_pooled_connection_are_refused() {
    let endpoint = spawn_endpoint().await;
    let name = key("db0");
    endpoint.result(json!(["SET", name, "here"])).await;

    let reply = endpoint.command(json!(["select", 1])).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR command 'SELECT'");
    let reply = endpoint
        .pipeline(json!([["GET", name], ["SUBSCRIBE", "chan"]]))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR command 'SUBSCRIBE'");
    let reply = endpoint.multi_exec(json!([["MULTI"]])).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR command 'MULTI'");
    let reply = send(endpoint.get("/blpop/list/0")).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "ERR command 'BLPOP'");

    assert_eq!(endpoint.result(json!(["GET", name])).await, "here");
}

#[tokio::test]
async fn concurrent_requests_share_the_pool() {
    let endpoint = std::sync::Arc::new(spawn_endpoint().await);
    let counter = key("counter");

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (endpoint, counter) = (endpoint.clone(), counter.clone());
        requests.spawn(async move { endpoint.result(json!(["INCR", counter])).await });
    }
    while let Some(done) = requests.join_next().await {
        done.expect("request task");
    }
    assert_eq!(endpoint.result(json!(["GET", counter])).await, "40");
}

#[tokio::test]
async fn an_unreachable_redis_is_a_server_side_failure() {
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = closed.local_addr().expect("local address");
    drop(closed);
    let endpoint = spawn_endpoint_for(address).await;

    let reply = endpoint.command(json!(["PING"])).await;
    assert_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "ERR ");
}

/// A script whose shebang carries a flag Upstash accepts but the local Redis does not
/// runs as on Upstash, through EVAL, EVALSHA (with the client's own SHA-1), SCRIPT LOAD
/// and pipelines alike (issue 10, item 16).
#[tokio::test]
async fn scripts_with_upstash_shebang_flags_run() {
    let endpoint = spawn_endpoint().await;
    let script = format!("#!lua flags=allow-key-locking\nreturn '{}'", key("flagged"));
    let sha = sha1_smol::Sha1::from(script.as_bytes())
        .digest()
        .to_string();
    let expected = json!(script.rsplit('\'').nth(1).unwrap());
    assert_eq!(endpoint.result(json!(["EVAL", script, 0])).await, expected);
    assert_eq!(endpoint.result(json!(["EVALSHA", sha, 0])).await, expected);
    let loaded = endpoint.result(json!(["SCRIPT", "LOAD", script])).await;
    assert_eq!(
        endpoint.result(json!(["EVALSHA", loaded, 0])).await,
        expected
    );
    let piped = endpoint
        .pipeline(json!([["EVAL", script, 0], ["EVALSHA", sha, 0]]))
        .await;
    assert_eq!(piped.status, StatusCode::OK, "{}", piped.body);
    assert_eq!(
        piped.body,
        json!([{ "result": expected }, { "result": expected }])
    );
}
