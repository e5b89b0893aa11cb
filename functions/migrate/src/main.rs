#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_event("migrate", migrate::handler).await
}
