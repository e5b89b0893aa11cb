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
        assert_eq!(json(response).await["redis"]["status"], "down");
    }
}

#[tokio::test]
async fn health_does_not_leak_connection_details() {
    let stack = spawn_stack_with(StackOptions {
        env: vec![(
            "UPSTASH_REDIS_REST_URL",
            format!("http://{}", closed_port().await),
        )],
        ..Default::default()
    })
    .await;
    let text = stack.get("/health").await.text().await.unwrap();
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains(&stack.upstash_token), "{text}");
}
