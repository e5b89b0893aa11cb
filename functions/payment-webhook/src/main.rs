#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("payment-webhook", payment_webhook::handler).await
}
