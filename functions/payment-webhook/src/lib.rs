//! Payment providers' notifications, one route per provider. Each is verified over
//! the raw bytes of the request (API Gateway's base64 already undone by the runtime,
//! never re-serialised), recorded once per provider event, and handed to the one
//! fulfilment path (`commerce::fulfilment`): Stripe, Alipay and WeChat Pay, each
//! answered the way its provider expects.

use std::sync::Arc;

use commerce::{
    alipay::{self, AlipayConfig},
    fulfilment::Fulfilment,
    stripe::{self, SIGNATURE_HEADER, StripeConfig},
    wechat::{self, WechatPayConfig},
};
use http::StatusCode;
use http::header::CONTENT_TYPE;
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
    alipay: AlipayConfig,
    wechat: WechatPayConfig,
}

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Webhooks>] = &[
    identity::route!(POST "/webhooks/stripe", Guard::Public, stripe_event,
        Doc::new("A Stripe event, verified by its Stripe-Signature; acknowledged once recorded", received)
            .body(event)),
    identity::route!(POST "/webhooks/alipay", Guard::Public, alipay_notification,
        Doc::new("An Alipay asynchronous notification, verified by its RSA2 signature; answered `success` once recorded", received)
            .form(alipay_form)
            .text(200, "text/plain", acknowledged)),
    identity::route!(POST "/webhooks/wechat", Guard::Public, wechat_notification,
        Doc::empty("A WeChat Pay notification, verified by its Wechatpay-Signature and decrypted; 204 once recorded, else {\"code\":\"FAIL\"}")
            .body(wechat_event)
            .failure(wechat_failure)),
];

fn wechat_failure(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["code", "message"],
        "properties": { "code": { "const": "FAIL" }, "message": { "type": "string" } },
        "additionalProperties": false,
    })
}

fn wechat_event(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["id", "event_type", "resource"],
        "properties": {
            "id": { "type": "string" }, "create_time": { "type": "string" },
            "event_type": { "type": "string" }, "resource_type": { "type": "string" },
            "resource": { "type": "object" },
        },
    })
}

fn alipay_form(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "required": ["notify_id", "app_id", "out_trade_no", "sign", "sign_type"],
        "properties": {
            "notify_id": { "type": "string" }, "app_id": { "type": "string" },
            "out_trade_no": { "type": "string" }, "trade_status": { "type": "string" },
            "total_amount": { "type": "string" }, "sign": { "type": "string" },
            "sign_type": { "type": "string" },
        },
    })
}

fn acknowledged(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": "success" })
}

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
    .await
    .inspect_err(|err| rejected("stripe", err))?;
    Ok(data(
        StatusCode::OK,
        json!({ "received": true, "outcome": outcome }),
    ))
}

/// Alipay retries until it reads exactly `success`; anything else, errors included,
/// makes it try again later.
async fn alipay_notification(app: Arc<Webhooks>, call: Call) -> Result<Response<Body>> {
    alipay::handle(
        &app.fulfilment,
        &app.platform.db,
        &app.alipay,
        raw_body(&call.req),
    )
    .await
    .inspect_err(|err| rejected("alipay", err))?;
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(alipay::ACKNOWLEDGEMENT.to_owned()))
        .map_err(platform::Error::internal)
}

/// WeChat Pay reads 2xx as received, and anything else, with `{"code":"FAIL",
/// "message":…}`, as a reason to notify again.
async fn wechat_notification(app: Arc<Webhooks>, call: Call) -> Result<Response<Body>> {
    let handled = wechat::handle(
        &app.fulfilment,
        &app.platform.db,
        &app.wechat,
        call.req.headers(),
        raw_body(&call.req),
        chrono::Utc::now().timestamp(),
    )
    .await;
    match handled {
        Ok(_) => Ok(platform::http::no_content()),
        Err(err) => {
            if err.is_server_error() {
                tracing::error!(error = %err, "a WeChat Pay notification failed");
            }
            rejected("wechat", &err);
            let body = if err.is_server_error() {
                wechat::failure_body("temporarily unavailable")
            } else {
                wechat::failure_body(&err.to_string())
            };
            Ok(platform::http::json(err.status(), &body))
        }
    }
}

/// Logs a notification answered 4xx: a bad or missing signature, a timestamp out of
/// its window, a body that is not the provider's, an unknown merchant. template.yaml
/// counts these lines (PaymentNotificationsRejectedFilter) and alarms on a burst,
/// which is what a rotated secret missing from the configuration looks like.
fn rejected(provider: &'static str, err: &platform::Error) {
    if !err.is_server_error() {
        tracing::warn!(provider, status = err.status().as_u16(), reason = %err, "payment notification rejected");
    }
}

/// The settings this function reads besides the core.
pub type Settings = (MailConfig, StripeConfig, (AlipayConfig, WechatPayConfig));

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    (mail, stripe, (alipay, wechat)): Settings,
) -> Result<impl platform::runtime::Handler> {
    let webhooks = Webhooks {
        fulfilment: Fulfilment::new(platform.db.clone(), mail::queue(&platform, &mail)),
        platform: platform.clone(),
        stripe,
        alipay,
        wechat,
    };
    Router::new(&platform, webhooks, ROUTES)
}
