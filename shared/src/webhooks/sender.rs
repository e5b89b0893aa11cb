//! `Webhooks`: the sending side. It dispatches delivery ids to SQS after COMMIT,
//! delivers one row (claim, sign, POST, record), and sweeps up retries that came due
//! and rows that fell between the cracks.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{
    check_url,
    outbox::{self, Claimed},
    signature::{derive_secret, sign},
};
use crate::{
    config::{AwsConfig, Config, WebhookConfig},
    db::Db,
    error::{Error, Result},
    queue::{Consumer, Sweep, SweepReport, send_ids},
    secret::Secret,
};

/// The field of a queue message that names the delivery: `{"deliveryId": n}`.
pub const DELIVERY_FIELD: &str = "deliveryId";

/// How long to wait after each failed attempt; after the last, the delivery fails.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
];
pub const MAX_ATTEMPTS: i32 = BACKOFF.len() as i32 + 1;

/// A receiver gets this long to answer; a slow one is retried like a failing one.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a claim lasts: far longer than webhook-send may run (template.yaml:
/// 60 s), so only a dead sender's claim ever expires.
const LEASE: Duration = Duration::from_secs(5 * 60);

/// The wait before the attempt after `attempt` (1-based), or `None`: give up.
pub fn backoff_after(attempt: i32) -> Option<Duration> {
    usize::try_from(attempt - 1)
        .ok()
        .and_then(|i| BACKOFF.get(i).copied())
}

/// What delivering one row came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The receiver answered 2xx, with this status.
    Delivered(u16),
    /// Nothing to do: finished already, being sent by another claim, not due yet, or
    /// the row does not exist (its transaction rolled back, its webhook was deleted).
    Skipped,
    /// Failed; the row is pending again and the sweep sends it when the backoff ends.
    Retry(String),
    /// Given up: no attempts left, or the webhook is disabled or its URL not allowed.
    Failed(String),
}

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

struct Failure {
    status_code: Option<i32>,
    message: String,
    retryable: bool,
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            status_code: None,
            message: message.into(),
            retryable: false,
        }
    }
}

#[derive(Debug)]
pub struct Webhooks {
    db: Db,
    config: WebhookConfig,
    aws: AwsConfig,
    production: bool,
    http: reqwest::Client,
    sqs: OnceCell<aws_sdk_sqs::Client>,
}

impl Webhooks {
    /// Connects nowhere; the SQS client is built on first use.
    pub fn new(config: &Config, db: Db) -> Result<Self> {
        crate::install_crypto_provider();
        // Redirects are not followed: a receiver must not bounce a signed delivery
        // to a host nobody configured.
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("bianxian-webhooks/1")
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            db,
            config: config.webhooks.clone(),
            aws: config.aws.clone(),
            production: config.environment == "production",
            http,
            sqs: OnceCell::new(),
        })
    }

    /// Whether webhook URLs must be https.
    pub fn production(&self) -> bool {
        self.production
    }

    pub fn queue_url(&self) -> Option<&str> {
        self.config.queue_url.as_ref().map(url::Url::as_str)
    }

    pub async fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| async {
                aws_sdk_sqs::Client::new(&crate::aws::sdk_config(&self.aws).await)
            })
            .await
    }

    /// The signing secret of the webhook with `salt`; 503 when this function has no
    /// `WEBHOOK_SIGNING_KEY`.
    pub fn secret(&self, salt: &str) -> Result<Secret> {
        let key =
            self.config.signing_key.as_ref().ok_or_else(|| {
                Error::ServiceUnavailable("webhook signing is not configured".into())
            })?;
        Ok(derive_secret(key, salt))
    }

    /// Queues deliveries after the transaction that wrote them committed. Best
    /// effort, like `Mailer::dispatch`: a failure is logged and the sweep sends them.
    pub async fn dispatch(&self, delivery_ids: &[i64]) {
        if let Err(err) = self.send_to_queue(delivery_ids).await {
            tracing::warn!(error = %err, ?delivery_ids, "webhook dispatch failed; the sweep will retry");
        }
    }

    async fn send_to_queue(&self, ids: &[i64]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let Some(queue_url) = self.queue_url() else {
            tracing::warn!(
                ?ids,
                "WEBHOOK_QUEUE_URL is not set; deliveries stay in the outbox"
            );
            return Ok(0);
        };
        let queued = send_ids(self.sqs().await, queue_url, DELIVERY_FIELD, ids).await?;
        outbox::mark_enqueued(&*self.db.client().await?, &queued).await?;
        Ok(queued.len())
    }

    /// Sends one delivery, at most once per claim (see `shared::webhooks`).
    pub async fn deliver(&self, id: i64) -> Result<Delivery> {
        let Some(claimed) = outbox::claim(&*self.db.client().await?, id, LEASE).await? else {
            return Ok(Delivery::Skipped);
        };
        let outcome = self.send(id, &claimed).await;
        // A fresh connection: none was held while the receiver was being called.
        let client = self.db.client().await?;
        match outcome {
            Ok(status) => {
                outbox::mark_delivered(&client, id, i32::from(status)).await?;
                tracing::info!(delivery = id, event = %claimed.event, status, "webhook delivered");
                Ok(Delivery::Delivered(status))
            }
            Err(failure) => {
                let retry_in = failure
                    .retryable
                    .then(|| backoff_after(claimed.attempts))
                    .flatten();
                let retried = outbox::mark_failed(
                    &client,
                    id,
                    failure.status_code,
                    &failure.message,
                    retry_in,
                )
                .await?;
                tracing::warn!(
                    delivery = id,
                    event = %claimed.event,
                    attempt = claimed.attempts,
                    error = %failure.message,
                    given_up = !retried,
                    "webhook not delivered"
                );
                Ok(if retried {
                    Delivery::Retry(failure.message)
                } else {
                    Delivery::Failed(failure.message)
                })
            }
        }
    }

    async fn send(&self, id: i64, claimed: &Claimed) -> Result<u16, Failure> {
        if !claimed.enabled {
            return Err(Failure::permanent("the webhook is disabled"));
        }
        // Checked again: the URL may predate a switch to production.
        let url = check_url(&claimed.url, self.production)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let secret = self.secret(&claimed.secret_salt).map_err(|e| Failure {
            status_code: None,
            message: e.to_string(),
            retryable: true,
        })?;
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
        let response = self
            .http
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-bianxian-event", &claimed.event)
            .header("x-bianxian-delivery", id.to_string())
            .header(super::signature::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure {
                status_code: None,
                // Without the URL: its query may hold the receiver's own token.
                message: e.without_url().to_string(),
                retryable: true,
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(Failure {
                status_code: Some(i32::from(status.as_u16())),
                message: format!("the receiver answered {status}"),
                retryable: true,
            })
        }
    }

    /// Returns expired claims to pending and dispatches every due delivery no queue
    /// message will bring: retries whose backoff ended, and rows whose dispatch
    /// failed or whose message was lost. Runs on a schedule.
    pub async fn sweep(&self, policy: &Sweep) -> Result<SweepReport> {
        let ((requeued, failed), mut due) = {
            let client = self.db.client().await?;
            let expired = outbox::expire_leases(&client, MAX_ATTEMPTS).await?;
            (expired, outbox::due(&client, policy).await?)
        };
        due.extend(&requeued);
        let dispatched = self.send_to_queue(&due).await?;
        let report = SweepReport {
            requeued: requeued.len() as u64,
            failed,
            dispatched,
        };
        if report != SweepReport::default() {
            tracing::info!(?report, "webhook sweep");
        }
        Ok(report)
    }
}

impl Consumer for Webhooks {
    const FIELD: &'static str = DELIVERY_FIELD;

    /// Never comes back through SQS: a failed attempt waits out its backoff in the
    /// outbox, and the sweep dispatches it again.
    async fn handle(&self, id: i64) -> Result<bool> {
        self.deliver(id).await.map(|_| false)
    }

    async fn sweep_due(&self, policy: &Sweep) -> Result<SweepReport> {
        self.sweep(policy).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_gives_up() {
        assert_eq!(backoff_after(1), Some(Duration::from_secs(60)));
        assert_eq!(backoff_after(5), Some(Duration::from_secs(6 * 3600)));
        assert_eq!(backoff_after(MAX_ATTEMPTS), None);
        assert_eq!(backoff_after(0), None);
        assert!(BACKOFF.windows(2).all(|w| w[0] < w[1]));
    }
}
