//! Commerce for readers: what is on sale (`GET /products`, public, for the pricing
//! page) and a member's own orders (`GET /me/orders`, and `GET /orders/{documentId}`
//! to poll one after paying: the return page only reads, it never grants). Checkout
//! joins them as issue 11 lands.
//!
//! [`ROUTES`] is the function (deny by default; tests/api/routes.rs walks every route
//! with every kind of caller).

use std::sync::Arc;

use commerce::{
    catalogue::{self, Product},
    orders::{self, Order},
};
use http::StatusCode;
use identity::route::{Call, Doc, Guard, Route, Router, schema_of};
use lambda_http::{Body, Response};
use platform::{
    Platform, Result,
    http::{data, path_param},
};

/// Every route of the function, as template.yaml lists them.
pub static ROUTES: &[Route<Platform>] = &[
    identity::route!(GET "/products", Guard::Public, products,
        Doc::new("What is on sale: active plans and courses with their active prices", schema_of::<Vec<Product>>)),
    identity::route!(GET "/me/orders", Guard::Member, my_orders,
        Doc::new("The signed-in member's 100 latest orders, newest first", schema_of::<Vec<Order>>)),
    identity::route!(GET "/orders/{documentId}", Guard::Member, my_order,
        Doc::new("One of the signed-in member's orders (404 for anyone else's)", schema_of::<Order>)),
];

async fn products(platform: Arc<Platform>, _: Call) -> Result<Response<Body>> {
    let client = platform.db.client().await?;
    Ok(data(StatusCode::OK, catalogue::on_sale(&**client).await?))
}

async fn my_orders(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let client = platform.db.client().await?;
    Ok(data(
        StatusCode::OK,
        orders::of_member_latest(&**client, member.id).await?,
    ))
}

async fn my_order(platform: Arc<Platform>, call: Call) -> Result<Response<Body>> {
    let (_, member) = call.member()?;
    let document_id = path_param(&call.req, "documentId")?;
    let client = platform.db.client().await?;
    let order = orders::of_member(&**client, member.id, document_id).await?;
    Ok(data(StatusCode::OK, order))
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform.clone(), platform, ROUTES)
}
