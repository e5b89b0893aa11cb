#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_event("ses-events", ses_events::handler).await
}
