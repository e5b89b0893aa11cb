#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http("health", health::handler).await
}
