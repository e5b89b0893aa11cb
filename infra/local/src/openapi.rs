//! The OpenAPI document of every HTTP function, from their route tables
//! (`identity::openapi`). `bianxian-local openapi` prints it; docs/openapi.json is
//! that output, served by the `openapi` function and checked against this by a test.

use identity::openapi::{self, Operation};
use serde_json::Value;

/// Every described operation, function by function.
pub fn operations() -> Vec<Operation> {
    [
        openapi::operations("health", health::ROUTES),
        openapi::operations("auth", auth::ROUTES),
        openapi::operations("admin", admin::ROUTES),
        openapi::operations("content-api", content_api::ROUTES),
        openapi::operations("feeds", feeds::ROUTES),
        openapi::operations("content-admin", content_admin::ROUTES),
        openapi::operations("commerce-admin", commerce_admin::ROUTES),
        openapi::operations("commerce-api", commerce_api::ROUTES),
        openapi::operations("newsletter", newsletter::ROUTES),
        openapi::operations("campaigns", campaigns::ROUTES),
        openapi::operations("dashboard", dashboard::ROUTES),
        openapi::operations("payment-webhook", payment_webhook::ROUTES),
        openapi::operations("openapi", ::openapi::ROUTES),
    ]
    .concat()
}

pub fn document() -> Value {
    openapi::document(env!("CARGO_PKG_VERSION"), &operations())
}

/// The document as committed: pretty JSON with a final newline.
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).expect("a JSON value serializes");
    text.push('\n');
    text
}
