#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_event("scheduler", scheduler::handler).await
}
