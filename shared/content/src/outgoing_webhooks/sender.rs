//! `Sender`: the sending side of outgoing webhooks, the platform outbox's [`Job`] for
//! `webhook_deliveries`. It signs a claimed delivery and POSTs it; claiming, backoff
//! and sweeping are the outbox's.

use std::{sync::Arc, time::Duration};
use tracing::Instrument;

use chrono::{SecondsFormat, Utc};
use platform::db::Client;
use platform::{
    Platform,
    error::{self, Error, Result},
    outbox::{Consumer, Failure, Job, RowId},
    secret::Secret,
};
use serde::Serialize;
use serde_json::Value;

use super::{
    WebhookConfig, check_url,
    network::GuardedResolver,
    outbox::{self, Delivery},
    signature::{SIGNATURE_HEADER, derive_secret, sign},
};

/// A receiver gets this long to answer; a slow one is retried like a failing one.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The consumer the webhook-send function runs: the webhook queue and the sender.
pub type WebhookConsumer = Consumer<Sender>;

/// The Strapi v5 webhook body; field order as Strapi sends it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    event: &'a str,
    created_at: String,
    model: &'a str,
    uid: String,
    entry: &'a Value,
}

#[derive(Debug)]
pub struct Sender {
    signing: Signing,
    http: reqwest::Client,
}

impl Sender {
    pub fn new(platform: &Platform, config: &WebhookConfig) -> Result<Self> {
        platform::install_crypto_provider();
        // Redirects are not followed: a receiver must not bounce a signed delivery
        // to a host nobody configured. Names resolve through the guard, which keeps
        // production deliveries to public addresses and pins the connection to them;
        // no proxy may resolve them instead.
        let signing = Signing::new(platform, config);
        let resolver = GuardedResolver {
            production: signing.production,
        };
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .user_agent("bianxian-webhooks/1")
            .build()
            .map_err(Error::internal)?;
        Ok(Self { signing, http })
    }

    /// The consumer of the webhook queue: what webhook-send runs and the local stack mounts.
    pub fn consumer(platform: &Platform, config: &WebhookConfig) -> Result<WebhookConsumer> {
        Ok(Consumer::new(
            super::queue(platform, config),
            Self::new(platform, config)?,
        ))
    }
}

/// Webhook secrets and URL rules: what the admin API (showing a new secret) and the
/// sender share.
#[derive(Debug, Clone)]
pub struct Signing {
    key: Option<Secret>,
    production: bool,
}

impl Signing {
    pub fn new(platform: &Platform, config: &WebhookConfig) -> Self {
        Self {
            key: config.signing_key.clone(),
            production: platform.config.environment == "production",
        }
    }

    /// Whether webhook URLs must be https and public.
    pub fn production(&self) -> bool {
        self.production
    }

    /// The signing secret of the webhook with `salt`; 503 when this function has no
    /// `WEBHOOK_SIGNING_KEY`.
    pub fn secret(&self, salt: &str) -> Result<Secret> {
        let key = self
            .key
            .as_ref()
            .ok_or_else(|| Error::ServiceUnavailable("webhook signing is not configured".into()))?;
        Ok(derive_secret(key, salt))
    }
}

impl Job for Sender {
    type Row = Delivery;
    /// The receiver's HTTP status.
    type Receipt = i32;

    async fn load(&self, client: &Client, id: RowId) -> Result<Delivery> {
        outbox::load(client, id).await
    }

    async fn send(&self, id: RowId, claimed: &Delivery) -> Result<i32, Failure<i32>> {
        if !claimed.enabled {
            return Err(Failure::permanent("the webhook is disabled"));
        }
        // Checked again: the URL may predate a switch to production.
        let url = check_url(&claimed.url, self.signing.production)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let secret = self
            .signing
            .secret(&claimed.secret_salt)
            .map_err(|e| Failure::retryable(e.to_string()))?;
        let body = serde_json::to_vec(&Payload {
            event: &claimed.event,
            created_at: claimed
                .created_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            model: &claimed.model,
            uid: format!("api::{0}.{0}", claimed.model),
            entry: &claimed.entry,
        })
        .map_err(|e| Failure::permanent(e.to_string()))?;
        let signature = sign(&secret, Utc::now().timestamp(), &body);
        let span = platform::telemetry::http_span(
            "POST",
            url.as_str(),
            platform::telemetry::UrlDetail::Host,
        );
        let response = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-bianxian-event", &claimed.event)
            .header("x-bianxian-delivery", id.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .instrument(span)
            .await
            // Without the URL: its query may hold the receiver's own token. With the
            // causes: "error sending request" alone would hide a refused address.
            .map_err(|e| Failure::retryable(error::with_causes(&e.without_url())))?;
        let status = i32::from(response.status().as_u16());
        if response.status().is_success() {
            Ok(status)
        } else {
            Err(Failure {
                message: format!("the receiver answered {}", response.status()),
                retryable: true,
                receipt: Some(status),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_gives_up() {
        use crate::outgoing_webhooks::{BACKOFF, MAX_ATTEMPTS, OUTBOX};
        assert_eq!(OUTBOX.retry_after(1), Some(Duration::from_secs(60)));
        assert_eq!(OUTBOX.retry_after(5), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(OUTBOX.retry_after(MAX_ATTEMPTS), None);
        assert!(BACKOFF.windows(2).all(|w| w[0] < w[1]));
    }
}
