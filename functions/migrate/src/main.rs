#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_event("migrate", migrate::handler).await
}
