#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("dashboard", dashboard::handler).await
}
