//! Commerce for readers: what is on sale (`GET /products`, public, for the pricing
//! page), checkout (`POST /checkout`, honouring `Idempotency-Key`), a member's
//! subscriptions (`GET /me/subscriptions`, `POST /me/subscriptions/{id}/cancel`, at
//! the end of the period), and their own orders (`GET /me/orders`, and `GET /orders/{documentId}` to poll one after
//! paying: the return page only reads, it never grants).
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller).

use std::sync::Arc;

use commerce::{
    catalogue::{self, Product},
    checkout::{self, Checkout, CheckoutRequest, Context, IdempotencyKey},
    orders::{self, Order},
    provider::{ProviderSettings, Providers},
    subscriptions::{self, Subscription},
};
use http::StatusCode;
use identity::route::{Call, Doc, Guard, Route, Router, schema_of};
use lambda_http::{Body, Response};
use platform::{
    Error, Platform, Result,
    http::{data, parse_json, path_param, source_ip},
};

/// The function's state: what its handlers share.
pub struct Shop {
    platform: Arc<Platform>,
    providers: Providers,
}

/// A checkout request is a few ids and a code.
const MAX_CHECKOUT_BYTES: usize = 4 * 1024;

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Shop>] = &[
    identity::route!(GET "/products", Guard::Public, products,
        Doc::new("What is on sale: active plans and courses with their active prices", schema_of::<Vec<Product>>)),
    identity::route!(POST "/checkout", Guard::Member, start_checkout,
        Doc::new("Creates a pending order for a price and starts its payment with the chosen channel and method; an Idempotency-Key header makes retries answer the same order (the same key with another body: 422)", schema_of::<Checkout>)
            .status(201)
            .body(schema_of::<CheckoutRequest>)),
    identity::route!(GET "/me/subscriptions", Guard::Member, my_subscriptions,
        Doc::new("The signed-in member's subscriptions, newest first", schema_of::<Vec<Subscription>>)),
    identity::route!(POST "/me/subscriptions/{documentId}/cancel", Guard::Member, cancel_subscription,
        Doc::new("Cancels one of the signed-in member's subscriptions at the end of the period paid (404 for anyone else's)", schema_of::<Subscription>)),
    identity::route!(GET "/me/orders", Guard::Member, my_orders,
        Doc::new("The signed-in member's 100 latest orders, newest first", schema_of::<Vec<Order>>)),
    identity::route!(GET "/orders/{documentId}", Guard::Member, my_order,
        Doc::new("One of the signed-in member's orders (404 for anyone else's)", schema_of::<Order>)),
];

async fn products(shop: Arc<Shop>, _: Call) -> Result<Response<Body>> {
    let client = shop.platform.db.client().await?;
    Ok(data(StatusCode::OK, catalogue::on_sale(&**client).await?))
}

async fn start_checkout(shop: Arc<Shop>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let request: CheckoutRequest = parse_json(&call.req, MAX_CHECKOUT_BYTES)?;
    let key = call
        .req
        .headers()
        .get(IdempotencyKey::HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))
                .and_then(IdempotencyKey::parse)
        })
        .transpose()?;
    let config = &shop.platform.config;
    let context = Context {
        site_url: &config.site_url,
        api_url: &config.api_url,
        client_ip: source_ip(&call.req),
    };
    let checkout = checkout::checkout(
        &shop.platform.db,
        &shop.providers,
        member.id,
        key.as_ref(),
        &request,
        context,
    )
    .await?;
    Ok(data(StatusCode::CREATED, checkout))
}

async fn my_subscriptions(shop: Arc<Shop>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let client = shop.platform.db.client().await?;
    Ok(data(
        StatusCode::OK,
        subscriptions::of_member(&**client, member.id).await?,
    ))
}

async fn cancel_subscription(shop: Arc<Shop>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let document_id = path_param(&call.req, "documentId")?;
    let stripe = shop
        .providers
        .stripe
        .as_ref()
        .ok_or_else(|| Error::NotFound("no such subscription".into()))?;
    let canceled = subscriptions::cancel(&shop.platform.db, stripe, member.id, document_id).await?;
    Ok(data(StatusCode::OK, canceled))
}

async fn my_orders(shop: Arc<Shop>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let client = shop.platform.db.client().await?;
    Ok(data(
        StatusCode::OK,
        orders::of_member_latest(&**client, member.id).await?,
    ))
}

async fn my_order(shop: Arc<Shop>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let document_id = path_param(&call.req, "documentId")?;
    let client = shop.platform.db.client().await?;
    let order = orders::of_member(&**client, member.id, document_id).await?;
    Ok(data(StatusCode::OK, order))
}

/// The settings this function reads besides the core.
pub type Settings = ProviderSettings;

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    settings: Settings,
) -> Result<impl platform::runtime::Handler> {
    let shop = Shop {
        providers: Providers::from_settings(&settings)?,
        platform: platform.clone(),
    };
    Router::new(&platform, shop, ROUTES)
}
