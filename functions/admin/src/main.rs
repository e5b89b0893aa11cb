#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::runtime::run_http("admin", admin::handler).await
}
