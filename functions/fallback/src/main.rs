#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http("fallback", fallback::handler).await
}
