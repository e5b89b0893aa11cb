#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("content-api", content_api::handler).await
}
