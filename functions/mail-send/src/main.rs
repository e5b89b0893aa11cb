#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    platform::runtime::run_event("mail-send", mail_send::handler).await
}
