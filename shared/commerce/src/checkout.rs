//! Checkout: a member asks to pay a price by a method; we create the order
//! `pending` with its expiry, ask the method's provider to start the payment, and
//! answer what the frontend needs (a client secret, a URL, a QR code). Nothing is
//! granted here: only a provider's verified "paid" reaches [`crate::fulfilment`].
//!
//! An `Idempotency-Key` binds one order to the member's key and the request's
//! body: the same key and body answer the same order and payment (the provider
//! call is itself idempotent per order, so a retry after a failure resumes it);
//! the same key with another body is a 422.

use platform::db::GenericClient;
use platform::{
    db::Db,
    error::{Error, Result},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;
use url::Url;

use crate::{
    orders::{self, Channel, Order, Status},
    provider::{Method, Payment, PaymentRequest, Providers, Started},
    subscriptions,
};

/// What a member asks to buy, and how they pay.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The price's documentId (from `GET /products`).
    pub price: String,
    pub channel: Channel,
    /// How to pay within the channel: Stripe `payment_intent` or
    /// `checkout_session` (or `subscription`, for a renewing price); Alipay `page`,
    /// `wap` or `qr`; WeChat Pay `native`, `jsapi` or `h5`.
    pub method: Method,
    pub promotion_code: Option<String>,
    /// For `subscription`: the card the payer gave Stripe.js (`pm_…`), billed each period.
    pub payment_method: Option<String>,
}

/// What checkout answers: the pending order, and how to pay it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Checkout {
    pub order: Order,
    pub payment: Payment,
}

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const HEADER: &'static str = "idempotency-key";

    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What checkout needs to know about the request besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// `SITE_URL`: the payer's browser comes back to our frontend, never to a URL
    /// the request chose.
    pub site_url: &'a Url,
    /// `API_URL`: where providers notify us.
    pub api_url: &'a Url,
    pub client_ip: Option<&'a str>,
}

/// Starts (or, for a repeated idempotency key, resumes) a checkout for `member_id`.
pub async fn checkout(
    db: &Db,
    providers: &Providers,
    member_id: i64,
    key: Option<&IdempotencyKey>,
    request: &CheckoutRequest,
    context: Context<'_>,
) -> Result<Checkout> {
    if request.method.channel() != request.channel {
        return Err(Error::invalid(
            "method",
            format!(
                "`{}` is not a way to pay with {}",
                request.method.as_str(),
                request.channel.as_str()
            ),
        ));
    }
    let card = subscription_card(request)?;
    if !providers.is_on(request.channel) {
        return Err(Error::invalid(
            "channel",
            format!("{} is not available", request.channel.as_str()),
        ));
    }
    let openid = payer_openid(db, providers, member_id, request.method).await?;
    let order = open_order(db, member_id, key, request).await?;
    let client = db.client().await?;
    if let Some(payment) = stored_payment(&**client, &order.document_id).await? {
        return Ok(Checkout { order, payment });
    }
    if order.status != Status::Pending {
        return Err(Error::Conflict(format!(
            "this checkout has ended: the order is {}",
            order.status.as_str()
        )));
    }
    drop(client);
    let return_url = context
        .site_url
        .join(&format!("checkout/return?order={}", order.document_id))
        .map_err(Error::internal)?;
    let notify_url = context
        .api_url
        .join(&format!("webhooks/{}", request.channel.as_str()))
        .map_err(Error::internal)?;
    let payment_request = PaymentRequest {
        order: &order.document_id,
        description: &order.product_name,
        currency: order.currency,
        amount: order.amount,
        expires_at: order.expires_at,
        return_url: &return_url,
        notify_url: &notify_url,
        client_ip: context.client_ip,
        openid: openid.as_deref(),
    };
    let started = match (request.method, &providers.stripe, card) {
        (Method::Subscription, Some(stripe), Some(card)) => {
            subscriptions::start(db, stripe, member_id, &order, card).await?
        }
        _ => providers.start(&payment_request, request.method).await?,
    };
    let payment = keep(db, &order.document_id, &started).await?;
    Ok(Checkout { order, payment })
}

/// The member's openid for WeChat Pay's app, which JSAPI pays with (`None` for
/// other methods), checked before any order is made.
async fn payer_openid(
    db: &Db,
    providers: &Providers,
    member_id: i64,
    method: Method,
) -> Result<Option<String>> {
    let (Method::Jsapi, Some(wechat)) = (method, &providers.wechat) else {
        return Ok(None);
    };
    let client = db.client().await?;
    let app_id = &wechat.account().app_id;
    match identity::identities::wechat_openid(&**client, member_id, app_id).await? {
        Some(openid) => Ok(Some(openid)),
        None => Err(Error::invalid(
            "openid",
            "paying inside WeChat needs your WeChat account: link it first (GET /auth/wechat/link)",
        )),
    }
}

/// The card a subscription is billed to (`None` for other methods), checked before
/// any order is made.
fn subscription_card(request: &CheckoutRequest) -> Result<Option<&str>> {
    if request.method != Method::Subscription {
        return Ok(None);
    }
    if request.promotion_code.is_some() {
        return Err(Error::invalid(
            "promotionCode",
            "promotion codes do not apply to subscriptions",
        ));
    }
    match request.payment_method.as_deref() {
        Some(card) if card.starts_with("pm_") && card.len() <= 255 => Ok(Some(card)),
        Some(_) => Err(Error::invalid(
            "paymentMethod",
            "must be a Stripe PaymentMethod id (pm_…)",
        )),
        None => Err(Error::invalid(
            "paymentMethod",
            "a subscription needs the payer's card",
        )),
    }
}

/// The order this request pays: a new one, or the one its idempotency key names.
async fn open_order(
    db: &Db,
    member_id: i64,
    key: Option<&IdempotencyKey>,
    request: &CheckoutRequest,
) -> Result<Order> {
    let mut client = db.client().await?;
    let Some(key) = key else {
        let tx = client.transaction().await?;
        let order = create(&tx, member_id, request).await?;
        tx.commit().await?;
        return Ok(order);
    };
    let hash = hex::encode(Sha256::digest(
        serde_json::to_vec(request).map_err(Error::internal)?,
    ));
    if let Some(order) = keyed(&**client, member_id, key, &hash).await? {
        return Ok(order);
    }
    let tx = client.transaction().await?;
    let order = create(&tx, member_id, request).await?;
    let bound = tx
        .query_typed(
            "INSERT INTO checkout_requests (member_id, idempotency_key, request_hash, order_id)
             SELECT $1, $2, $3, id FROM orders WHERE document_id = $4
             ON CONFLICT (member_id, idempotency_key) DO NOTHING RETURNING id",
            &[
                (&member_id, Type::INT8),
                (&key.0, Type::TEXT),
                (&hash, Type::TEXT),
                (&order.document_id, Type::TEXT),
            ],
        )
        .await?;
    if bound.is_empty() {
        // A concurrent request with the same key won: its order is the one.
        drop(tx);
        return keyed(&**client, member_id, key, &hash)
            .await?
            .ok_or_else(|| Error::internal("an idempotency key vanished"));
    }
    tx.commit().await?;
    Ok(order)
}

async fn create(
    tx: &impl platform::db::Transactional,
    member_id: i64,
    request: &CheckoutRequest,
) -> Result<Order> {
    orders::create(
        tx,
        member_id,
        &request.price,
        request.method,
        request.promotion_code.as_deref(),
    )
    .await
}

/// The order `key` already names, if any; 422 if it was sent with another body.
async fn keyed(
    client: &impl GenericClient,
    member_id: i64,
    key: &IdempotencyKey,
    hash: &str,
) -> Result<Option<Order>> {
    let rows = client
        .query_typed(
            "SELECT c.request_hash, o.document_id FROM checkout_requests c
             JOIN orders o ON o.id = c.order_id
             WHERE c.member_id = $1 AND c.idempotency_key = $2",
            &[(&member_id, Type::INT8), (&key.0, Type::TEXT)],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    if row.get::<_, &str>(0) != hash {
        return Err(Error::Unprocessable(
            "this Idempotency-Key was used with another request".into(),
        ));
    }
    Ok(Some(orders::by_document_id(client, row.get(1)).await?))
}

async fn stored_payment(client: &impl GenericClient, order: &str) -> Result<Option<Payment>> {
    let rows = client
        .query_typed(
            "SELECT payment FROM orders WHERE document_id = $1 AND payment IS NOT NULL",
            &[(&order, Type::TEXT)],
        )
        .await?;
    rows.first()
        .map(|row| serde_json::from_value(row.get(0)).map_err(Error::internal))
        .transpose()
}

/// Keeps what the provider answered on the order, once: the first answer stays, so
/// concurrent retries all hand out the same payment.
async fn keep(db: &Db, order: &str, started: &Started) -> Result<Payment> {
    let client = db.client().await?;
    let payment = serde_json::to_value(&started.payment).map_err(Error::internal)?;
    let kept = client
        .query_typed(
            "UPDATE orders SET payment = $2, provider_ref = coalesce(provider_ref, $3),
                 updated_at = now()
             WHERE document_id = $1 AND payment IS NULL RETURNING id",
            &[
                (&order, Type::TEXT),
                (&payment, Type::JSONB),
                (&started.provider_ref, Type::TEXT),
            ],
        )
        .await?;
    if let Some(row) = kept.first() {
        orders::record_event(
            &**client,
            row.get(0),
            "payment_started",
            "checkout",
            json!({ "providerRef": started.provider_ref }),
        )
        .await?;
        return Ok(started.payment.clone());
    }
    stored_payment(&**client, order)
        .await?
        .ok_or_else(|| Error::internal("an order lost its payment"))
}
