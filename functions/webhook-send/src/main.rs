#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_event("webhook-send", webhook_send::handler).await
}
