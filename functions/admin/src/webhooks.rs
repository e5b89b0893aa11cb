//! Admin routes for outgoing webhooks: list, register, change, delete, rotate the
//! signing secret, and see recent deliveries. Admins only (`webhooks.write`, which
//! no API token can hold, in the route table). What each does to the `webhooks`
//! table is `content::outgoing_webhooks::registry`; the secret is shown once: on
//! creation and on rotation.

use std::sync::Arc;

use content::outgoing_webhooks::registry::{self, WebhookBody};
use http::StatusCode;
use identity::route::Call;
use platform::http::{data, no_content, parse_json, path_param};

use crate::{Admin, Answer, MAX_BODY};

pub async fn list(app: Arc<Admin>, _: Call) -> Answer {
    Ok(data(
        StatusCode::OK,
        registry::list(&app.platform.db).await?,
    ))
}

pub async fn create(app: Arc<Admin>, call: Call) -> Answer {
    let body: WebhookBody = parse_json(&call.req, MAX_BODY)?;
    let created = registry::create(&app.platform.db, &app.signing, call.principal()?, body).await?;
    Ok(data(StatusCode::CREATED, created))
}

pub async fn update(app: Arc<Admin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let body: WebhookBody = parse_json(&call.req, MAX_BODY)?;
    let updated = registry::update(
        &app.platform.db,
        &app.signing,
        call.principal()?,
        document_id,
        body,
    )
    .await?;
    Ok(data(StatusCode::OK, updated))
}

pub async fn delete(app: Arc<Admin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    registry::delete(&app.platform.db, call.principal()?, document_id).await?;
    Ok(no_content())
}

pub async fn rotate_secret(app: Arc<Admin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    let rotated = registry::rotate_secret(
        &app.platform.db,
        &app.signing,
        call.principal()?,
        document_id,
    )
    .await?;
    Ok(data(StatusCode::OK, rotated))
}

pub async fn deliveries(app: Arc<Admin>, call: Call) -> Answer {
    let document_id = path_param(&call.req, "documentId")?;
    Ok(data(
        StatusCode::OK,
        registry::deliveries(&app.platform.db, document_id).await?,
    ))
}
