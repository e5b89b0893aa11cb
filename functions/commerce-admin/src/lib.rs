//! The admin API of commerce: the catalogue of plans and courses (`/admin/products`)
//! and promotion codes (`/admin/promotions`). Finance staff and tokens with
//! `payments.read` read them; admins and tokens with `payments.write` change them.
//! Orders, refunds and revenue join them as issue 11 lands.
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller). Every write records an audit entry in its transaction.

use std::sync::Arc;

use commerce::{
    catalogue::{self, Product, ProductInput},
    promotions::{self, Promotion, PromotionInput},
};
use http::StatusCode;
use identity::{
    access::Permission,
    route::{Call, Doc, Guard, Route, Router, schema_of},
};
use lambda_http::{Body, Response};
use platform::{
    Platform, Result,
    http::{data as data_of, parse_json, path_param},
};
use serde::Deserialize;

const MAX_BODY: usize = 64 * 1024;

const READ: Guard = Guard::needs(&[Permission::ReadPayments]);
const MANAGE: Guard = Guard::needs(&[Permission::ManagePayments]);

/// A write's body, in the admin API's `{"data": {...}}` envelope.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    data: T,
}

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Platform>] = &[
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

async fn list(platform: Arc<Platform>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data_of(StatusCode::OK, catalogue::list(&**client).await?))
}

async fn show(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let product = catalogue::by_document_id(&**client, document_id).await?;
    Ok(data_of(StatusCode::OK, product))
}

/// Runs one audited write as the caller, in a transaction.
async fn write<T, F>(platform: &Platform, call: &Call, work: F) -> Result<T>
where
    F: AsyncFnOnce(&tokio_postgres::Transaction<'_>, &str) -> Result<T>,
{
    let actor = call.principal()?.actor();
    let mut client = platform.db.client().await?;
    let tx = client.transaction().await?;
    let written = work(&tx, &actor).await?;
    tx.commit().await?;
    Ok(written)
}

async fn create(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let product = write(&platform, &call, async |tx, actor| {
        catalogue::create(tx, actor, data).await
    })
    .await?;
    Ok(data_of(StatusCode::CREATED, product))
}

async fn update(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let product = write(&platform, &call, async |tx, actor| {
        catalogue::update(tx, actor, document_id, data).await
    })
    .await?;
    Ok(data_of(StatusCode::OK, product))
}

async fn list_promotions(platform: Arc<Platform>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data_of(StatusCode::OK, promotions::list(&**client).await?))
}

async fn show_promotion(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let promotion = promotions::by_document_id(&**client, document_id).await?;
    Ok(data_of(StatusCode::OK, promotion))
}

async fn create_promotion(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let promotion = write(&platform, &call, async |tx, actor| {
        promotions::create(tx, actor, data).await
    })
    .await?;
    Ok(data_of(StatusCode::CREATED, promotion))
}

async fn update_promotion(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data } = parse_json(&call.req, MAX_BODY)?;
    let promotion = write(&platform, &call, async |tx, actor| {
        promotions::update(tx, actor, document_id, data).await
    })
    .await?;
    Ok(data_of(StatusCode::OK, promotion))
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), platform, ROUTES)
}
