#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("commerce-api", commerce_api::handler).await
}
