//! The `$default` route: every request no other route matched.
//!
//! API Gateway would answer those itself with `{"message":"Not Found"}`; routing them
//! here gives clients the same JSON error envelope as everywhere else. CORS preflight
//! requests also land here (routes declare concrete methods) and are answered by the
//! platform runtime before this handler runs.

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use platform::{Error, Platform, Result};

pub async fn handle(req: Request) -> Result<Response<Body>> {
    Err(Error::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.uri().path()
    )))
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(_platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Ok(handle)
}
