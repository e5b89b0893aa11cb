//! Payment providers' notifications, one route per provider. Each is verified over
//! the raw bytes of the request (API Gateway's base64 already undone by the runtime,
//! never re-serialised), recorded once per provider event, and handed to the one
//! fulfilment path (`commerce::fulfilment`). Stripe is here; Alipay and WeChat Pay
//! join as issue 11 lands.

use std::sync::Arc;

use commerce::{
    fulfilment::Fulfilment,
    stripe::{self, SIGNATURE_HEADER, StripeConfig},
};
use http::StatusCode;
use identity::route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator};
use lambda_http::{Body, Response};
use mail::MailConfig;
use platform::{
    Platform, Result,
    http::{data, raw_body},
};
use schemars::json_schema;
use serde_json::json;

/// The function's state: what its handlers share.
pub struct Webhooks {
    platform: Arc<Platform>,
    fulfilment: Fulfilment,
    stripe: StripeConfig,
}

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Webhooks>] = &[identity::route!(
    POST "/webhooks/stripe", Guard::Public, stripe_event,
    Doc::new("A Stripe event, verified by its Stripe-Signature; acknowledged once recorded", received)
        .body(event)
)];

fn event(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["id", "type", "data"],
        "properties": { "id": { "type": "string" }, "type": { "type": "string" }, "data": { "type": "object" } },
    })
}

fn received(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["received", "outcome"],
        "properties": { "received": { "const": true }, "outcome": { "type": "string" } },
    })
}

async fn stripe_event(app: Arc<Webhooks>, call: Call) -> Result<Response<Body>> {
    let header = call
        .req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let outcome = stripe::handle(
        &app.fulfilment,
        &app.platform.db,
        &app.stripe,
        header,
        raw_body(&call.req),
        chrono::Utc::now().timestamp(),
    )
    .await?;
    Ok(data(
        StatusCode::OK,
        json!({ "received": true, "outcome": outcome }),
    ))
}

/// The settings this function reads besides the core.
pub type Settings = (MailConfig, StripeConfig);

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (mail, stripe): Settings,
) -> Result<impl platform::runtime::Handler> {
    let webhooks = Webhooks {
        fulfilment: Fulfilment::new(platform.db.clone(), mail::queue(&platform, &mail)),
        platform: platform.clone(),
        stripe,
    };
    Router::new(&platform, webhooks, ROUTES)
}
