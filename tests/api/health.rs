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
