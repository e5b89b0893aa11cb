//! The admin API of commerce: the catalogue of plans and courses (`/admin/products`).
//! Finance staff and tokens with `payments.read` read it; admins and tokens with
//! `payments.write` change it. Orders, refunds and revenue join it as issue 11 lands.
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller). Every write records an audit entry in its transaction.

use std::sync::Arc;

use commerce::catalogue::{self, Product, ProductInput};
use http::StatusCode;
use identity::{
    access::Permission,
    route::{Call, Doc, Guard, Route, Router, schema_of},
};
use lambda_http::{Body, Response};
use platform::{
    Platform, Result,
    http::{data, parse_json, path_param},
};
use serde::Deserialize;

const MAX_BODY: usize = 64 * 1024;

const READ: Guard = Guard::needs(&[Permission::ReadPayments]);
const MANAGE: Guard = Guard::needs(&[Permission::ManagePayments]);

/// A write's body, in the admin API's `{"data": {...}}` envelope.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Envelope {
    data: ProductInput,
}

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Platform>] = &[
    identity::route!(GET "/admin/products", READ, list,
        Doc::new("Every product with its prices, oldest first", schema_of::<Vec<Product>>)),
    identity::route!(POST "/admin/products", MANAGE, create,
        Doc::new("Add a plan or course", schema_of::<Product>)
            .body(schema_of::<Envelope>).status(201)),
    identity::route!(GET "/admin/products/{documentId}", READ, show,
        Doc::new("One product with its prices", schema_of::<Product>)),
    identity::route!(PUT "/admin/products/{documentId}", MANAGE, update,
        Doc::new("Change a product's name, terms, prices or active state (never its kind or code)", schema_of::<Product>)
            .body(schema_of::<Envelope>)),
];

async fn list(platform: Arc<Platform>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data(StatusCode::OK, catalogue::list(&**client).await?))
}

async fn show(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let product = catalogue::by_document_id(&**client, document_id).await?;
    Ok(data(StatusCode::OK, product))
}

async fn create(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
    let actor = call.principal()?.actor();
    let mut client = platform.db.client().await?;
    let tx = client.transaction().await?;
    let product = catalogue::create(&*tx, &actor, input).await?;
    tx.commit().await?;
    Ok(data(StatusCode::CREATED, product))
}

async fn update(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let document_id = path_param(&call.req, "documentId")?;
    let Envelope { data: input } = parse_json(&call.req, MAX_BODY)?;
    let actor = call.principal()?.actor();
    let mut client = platform.db.client().await?;
    let tx = client.transaction().await?;
    let product = catalogue::update(&*tx, &actor, document_id, input).await?;
    tx.commit().await?;
    Ok(data(StatusCode::OK, product))
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), platform, ROUTES)
}
