#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_http("commerce-admin", commerce_admin::handler).await
}
