//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole API.
//!
//! The document is generated from every function's route table (`bianxian-local
//! openapi`, see `identity::openapi`) and committed as docs/openapi.json; this
//! function serves that file from its binary, so it links none of the other
//! functions. A test fails when the file and the generated document differ.

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use identity::route::{Call, Doc, Guard, Route, Router, Schema, SchemaGenerator};
use lambda_http::{Body, Response};
use platform::{Platform, Result};
use schemars::json_schema;

/// The committed document.
pub const DOCUMENT: &str = include_str!("../../../docs/openapi.json");

/// The function's one route.
pub static ROUTES: &[Route<()>] = &[identity::route!(
    GET "/openapi.json",
    Guard::Public,
    serve,
    Doc::new("This document: OpenAPI 3.1, generated from the route tables", document).raw()
)];

fn document(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "required": ["openapi", "paths"] })
}

async fn serve(_: Arc<()>, _: Call) -> Result<Response<Body>> {
    let mut response = Response::new(Body::from(DOCUMENT));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}

/// The handler the Lambda runtime and the local gateway mount.
pub fn handler(platform: Arc<Platform>, _: ()) -> Result<impl platform::runtime::Handler> {
    Router::new(&platform, (), ROUTES)
}
