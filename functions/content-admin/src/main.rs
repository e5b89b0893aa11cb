#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("content-admin", content_admin::handler).await
}
