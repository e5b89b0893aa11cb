use bianxian_e2e::{StackOptions, closed_port, json, spawn_stack, spawn_stack_with};

#[tokio::test]
async fn health_reports_postgres_and_redis_up() {
    let stack = spawn_stack().await;
    let response = stack.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.headers().contains_key("x-request-id"));
    let body = json(response).await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["postgres"]["status"], "up");
    assert_eq!(body["redis"]["status"], "up");
}

#[tokio::test]
async fn redis_down_behind_the_endpoint_is_a_503_naming_redis() {
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(closed_port().await),
        ..Default::default()
    })
    .await;
    let response = stack.get("/health").await;
    assert_eq!(response.status(), 503);
    let body = json(response).await;
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["postgres"]["status"], "up");
    assert_eq!(body["redis"]["status"], "down");
}

#[tokio::test]
async fn upstash_endpoint_unreachable_is_a_503_not_a_crash() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![(
            "UPSTASH_REDIS_REST_URL",
            format!("http://{}", closed_port().await),
        )],
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        let response = stack.get("/health").await;
        assert_eq!(response.status(), 503);
        let text = response.text().await.unwrap();
        // /health is public: the failure is named, its details (hosts, tokens) are not.
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains(&stack.upstash_token), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["redis"]["status"], "down");
    }
}

/// Health reports the database, not the pool's queue (issue 10, item 5): with every
/// pooled connection busy, `/health` still answers at once that PostgreSQL is up.
#[tokio::test]
async fn health_answers_while_every_pooled_connection_is_busy() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("DB_POOL_SIZE", "2".into())],
        ..Default::default()
    })
    .await;
    let held = [
        stack.platform.db.client().await.unwrap(),
        stack.platform.db.client().await.unwrap(),
    ];
    let started = std::time::Instant::now();
    let response = stack.get("/health").await;
    let waited = started.elapsed();
    let status = response.status();
    let body = json(response).await;
    assert_eq!(status, 200, "{body} after {waited:?}");
    assert_eq!(body["postgres"]["status"], "up");
    drop(held);
}

/// Every connection carries a statement timeout (`DB_STATEMENT_TIMEOUT_MS`), and a
/// statement it cancels is a 503 to retry, never a 500 (issue 10, item 5).
#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_as_a_503() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![("DB_STATEMENT_TIMEOUT_MS", "200".into())],
        ..Default::default()
    })
    .await;
    let client = stack.platform.db.client().await.unwrap();
    let shown: String = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "200ms");
    let err = client
        .query_typed("SELECT pg_sleep(2)", &[])
        .await
        .map_err(platform::Error::from)
        .unwrap_err();
    assert_eq!(err.to_response().status(), 503, "{err}");
    let default = spawn_stack().await;
    let client = default.platform.db.client().await.unwrap();
    let shown: String = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "5s");
}
