//! The admin API of commerce: the catalogue of plans and courses (`/admin/products`),
//! promotion codes (`/admin/promotions`) and orders with their history
//! (`/admin/orders`). Finance staff and tokens with `payments.read` read them; admins
//! and tokens with `payments.write` change the catalogue and the codes and refund
//! orders (`POST /admin/orders/{documentId}/refunds`, through the order's provider).
//! Revenue per day (`/admin/revenue`) and the order list as CSV
//! (`/admin/exports/orders`) are for the console's charts and for accounting.
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller). Every write records an audit entry in its transaction.

use std::{ops::Deref, sync::Arc};

use chrono::{DateTime, NaiveDate, Utc};
use commerce::{
    catalogue::{self, Product, ProductInput},
    checkout::IdempotencyKey,
    orders::{self, AdminOrder, Channel, Filter, OrderEvent, Status},
    promotions::{self, Promotion, PromotionInput},
    provider::{ProviderSettings, Providers},
    refunds::{self, Refund, RefundInput},
    reports::{self, RevenueDay},
};
use http::StatusCode;
use identity::{
    access::Permission,
    route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator, schema_of},
};
use lambda_http::Request;
use lambda_http::{Body, Response};
use platform::{
    Error, Platform, Result,
    http::{data as data_of, page_param, parse_json, path_param, query_param, text_param},
};
use schemars::json_schema;
use serde::Deserialize;
use serde_json::json;

const MAX_BODY: usize = 64 * 1024;

const READ: Guard = Guard::needs(&[Permission::ReadPayments]);
const MANAGE: Guard = Guard::needs(&[Permission::ManagePayments]);

/// A write's body, in the admin API's `{"data": {...}}` envelope.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    data: T,
}

/// The function's state: the platform, and the providers refunds go through.
pub struct Finance {
    platform: Arc<Platform>,
    providers: Providers,
}

impl Deref for Finance {
    type Target = Platform;

    fn deref(&self) -> &Platform {
        &self.platform
    }
}

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Finance>] = &[
    identity::route!(GET "/admin/products", READ, list,
        Doc::new("Every product with its prices, oldest first", schema_of::<Vec<Product>>)),
    identity::route!(POST "/admin/products", MANAGE, create,
        Doc::new("Add a plan or course", schema_of::<Product>)
            .body(schema_of::<Envelope<ProductInput>>).status(201)),
    identity::route!(GET "/admin/products/{documentId}", READ, show,
        Doc::new("One product with its prices", schema_of::<Product>)),
    identity::route!(PUT "/admin/products/{documentId}", MANAGE, update,
        Doc::new("Change a product's name, terms, prices or active state (never its kind or code)", schema_of::<Product>)
            .body(schema_of::<Envelope<ProductInput>>)),
    identity::route!(GET "/admin/orders", READ, list_orders,
        Doc::new("Orders, newest first, filtered by status, channel, product, member and time", orders_page)
            .query(orders_query)),
    identity::route!(POST "/admin/orders/{documentId}/refunds", MANAGE, refund_order,
        Doc::new("Refund all (no amount) or part of a paid order through its provider; an Idempotency-Key makes retries answer the same refund. A full refund revokes the access the order granted", schema_of::<Refund>)
            .body(schema_of::<Envelope<RefundInput>>).status(201)),
    identity::route!(GET "/admin/revenue", READ, revenue,
        Doc::new("Revenue per day (China Standard Time) by channel and currency, refunds netted; from/to default to the last 30 days", schema_of::<Vec<RevenueDay>>)
            .query(revenue_query)),
    identity::route!(GET "/admin/exports/orders", READ, export_orders,
        Doc::new("The orders the filters select, newest first, as CSV (at most 50,000)", schema_of::<String>)
            .query(orders_query)
            .text(200, "text/csv", csv_text)),
    identity::route!(GET "/admin/orders/{documentId}", READ, show_order,
        Doc::new("One order with its member, provider reference and history", order_with_history)),
    identity::route!(GET "/admin/promotions", READ, list_promotions,
        Doc::new("Every promotion code with its redemptions", schema_of::<Vec<Promotion>>)),
    identity::route!(POST "/admin/promotions", MANAGE, create_promotion,
        Doc::new("Add a promotion code: a percentage or an amount off", schema_of::<Promotion>)
            .body(schema_of::<Envelope<PromotionInput>>).status(201)),
    identity::route!(GET "/admin/promotions/{documentId}", READ, show_promotion,
        Doc::new("One promotion code", schema_of::<Promotion>)),
    identity::route!(PUT "/admin/promotions/{documentId}", MANAGE, update_promotion,
        Doc::new("Change a promotion's window, limits or active state", schema_of::<Promotion>)
            .body(schema_of::<Envelope<PromotionInput>>)),
];

async fn list(platform: Arc<Finance>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data_of(StatusCode::OK, catalogue::list(&**client).await?))
}

async fn show(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let product = catalogue::by_document_id(&**client, document_id).await?;
    Ok(data_of(StatusCode::OK, product))
}

const MAX_PAGE_SIZE: i64 = 100;

fn orders_page(generator: &mut SchemaGenerator) -> Schema {
    let orders = generator.subschema_for::<Vec<AdminOrder>>();
    json_schema!({
        "type": "object",
        "required": ["orders", "total"],
        "properties": { "orders": orders, "total": { "type": "integer" } },
    })
}

fn order_with_history(generator: &mut SchemaGenerator) -> Schema {
    let order = generator.subschema_for::<AdminOrder>();
    let events = generator.subschema_for::<Vec<OrderEvent>>();
    json_schema!({
        "type": "object",
        "required": ["order", "events"],
        "properties": { "order": order, "events": events },
    })
}

/// The order list's query, for the OpenAPI document: what [`filter_of`] reads.
fn orders_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "status": { "enum": ["pending", "paid", "partially_refunded", "refunded", "expired", "failed", "canceled"] },
            "channel": { "enum": ["stripe", "alipay", "wechat"] },
            "product": { "type": "string", "description": "a product's documentId" },
            "member": { "type": "string", "description": "a member's documentId" },
            "from": { "type": "string", "description": "created at or after: RFC 3339, or a date (UTC midnight)" },
            "to": { "type": "string", "description": "created before: RFC 3339, or a date (UTC midnight)" },
            "page": { "type": "integer", "minimum": 1 },
            "pageSize": { "type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE },
        },
    })
}

/// A time bound: an RFC 3339 time, or a date meaning its UTC midnight.
fn time_param(req: &Request, name: &str) -> Result<Option<DateTime<Utc>>> {
    let Some(raw) = query_param(req, name) else {
        return Ok(None);
    };
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(time.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| Error::invalid(name, format!("{name} must be an RFC 3339 time or a date")))
}

fn filter_of(req: &Request) -> Result<Filter> {
    Ok(Filter {
        status: match query_param(req, "status") {
            Some(raw) => Some(Status::parse(raw).ok_or_else(|| {
                Error::invalid("status", "status must be an order status, e.g. paid")
            })?),
            None => None,
        },
        channel: match query_param(req, "channel") {
            Some(raw) => Some(Channel::parse(raw).ok_or_else(|| {
                Error::invalid("channel", "channel must be stripe, alipay or wechat")
            })?),
            None => None,
        },
        product: text_param(req, "product", 64)?,
        member: text_param(req, "member", 64)?,
        from: time_param(req, "from")?,
        to: time_param(req, "to")?,
    })
}

async fn list_orders(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let filter = filter_of(&call.req)?;
    let page = page_param(&call.req, "page", 1, i64::from(i32::MAX))?;
    let page_size = page_param(&call.req, "pageSize", 25, MAX_PAGE_SIZE)?;
    let client = platform.db.client().await?;
    let (orders, total) = orders::search(&**client, &filter, page, page_size).await?;
    Ok(data_of(
        StatusCode::OK,
        json!({ "orders": orders, "total": total }),
    ))
}

async fn show_order(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let (order, events) = orders::with_history(&**client, document_id).await?;
    let refunds = refunds::of_order(&**client, document_id).await?;
    Ok(data_of(
        StatusCode::OK,
        json!({ "order": order, "events": events, "refunds": refunds }),
    ))
}

async fn refund_order(finance: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data } = parse_json::<Envelope<RefundInput>>(&call.req, MAX_BODY)?;
    let key = match call.req.headers().get(IdempotencyKey::HEADER) {
        Some(value) => value
            .to_str()
            .map_err(|_| Error::invalid("Idempotency-Key", "must be visible ASCII"))
            .and_then(IdempotencyKey::parse)?
            .as_str()
            .to_owned(),
        None => platform::http::request_id(&call.req),
    };
    let actor = call.principal()?.actor();
    let refund = refunds::refund(
        &finance.platform.db,
        &finance.providers,
        &finance.platform.config.api_url,
        document_id,
        &data,
        &refunds::request_id(document_id, &key),
        &actor,
    )
    .await?;
    Ok(data_of(StatusCode::CREATED, refund))
}

async fn revenue(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let to = time_param(&call.req, "to")?.unwrap_or_else(Utc::now);
    let from = time_param(&call.req, "from")?.unwrap_or(to - chrono::Duration::days(30));
    let client = platform.db.client().await?;
    Ok(data_of(
        StatusCode::OK,
        reports::revenue(&**client, from, to).await?,
    ))
}

async fn export_orders(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let filter = filter_of(&call.req)?;
    let client = platform.db.client().await?;
    let csv = reports::orders_csv(&**client, &filter).await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"orders.csv\"",
        )
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Body::Text(csv))
        .map_err(Error::internal)
}

fn csv_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "description": "RFC 4180 CSV with a header row" })
}

fn revenue_query(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "from": { "type": "string", "description": "RFC 3339 time or YYYY-MM-DD (inclusive)" },
            "to": { "type": "string", "description": "RFC 3339 time or YYYY-MM-DD (exclusive)" },
        },
    })
}

async fn create(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let product = call
        .audited(&platform.db, async |tx, actor| {
            catalogue::create(tx, actor, data).await
        })
        .await?;
    Ok(data_of(StatusCode::CREATED, product))
}

async fn update(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let product = call
        .audited(&platform.db, async |tx, actor| {
            catalogue::update(tx, actor, document_id, data).await
        })
        .await?;
    Ok(data_of(StatusCode::OK, product))
}

async fn list_promotions(platform: Arc<Finance>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data_of(StatusCode::OK, promotions::list(&**client).await?))
}

async fn show_promotion(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let promotion = promotions::by_document_id(&**client, document_id).await?;
    Ok(data_of(StatusCode::OK, promotion))
}

async fn create_promotion(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let promotion = call
        .audited(&platform.db, async |tx, actor| {
            promotions::create(tx, actor, data).await
        })
        .await?;
    Ok(data_of(StatusCode::CREATED, promotion))
}

async fn update_promotion(platform: Arc<Finance>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let promotion = call
        .audited(&platform.db, async |tx, actor| {
            promotions::update(tx, actor, document_id, data).await
        })
        .await?;
    Ok(data_of(StatusCode::OK, promotion))
}

/// The settings this function reads besides the core.
pub type Settings = ProviderSettings;

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(
    platform: Arc<Platform>,
    settings: Settings,
) -> Result<impl platform::runtime::Handler> {
    let finance = Finance {
        providers: Providers::from_settings(&settings)?,
        platform: platform.clone(),
    };
    Router::new(&platform, finance, ROUTES)
}
