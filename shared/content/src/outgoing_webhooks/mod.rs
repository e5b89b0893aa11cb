//! Outgoing content webhooks: Strapi's events (`entry.create`, `entry.update`,
//! `entry.delete`, `entry.publish`, `entry.unpublish`) POSTed to the URLs admins
//! register, signed, from the platform outbox with retries, so a frontend can
//! revalidate its pages. ("Outgoing", because payments receive webhooks of their own.)
//!
//! ```text
//! write ─ BEGIN; …; outgoing_webhooks::enqueue(&tx, event, model, entry); COMMIT ─► queue.dispatch(ids)
//!                               │                                              │ SQS {"deliveryId": n}
//!                               ▼                                              ▼
//!                    webhook_deliveries rows ◄── claim ── webhook-send (Sender) ── POST, signed
//!                               ▲
//!                               └── sweep (every minute): retries whose backoff ended, lost rows
//! ```
//!
//! The shape and its reasons are the platform outbox's. What is particular here:
//! - A failed attempt is not retried by SQS but by the sweep, after a backoff
//!   ([`BACKOFF`]: 1 min to 6 h), which SQS's visibility timeout cannot express.
//! - Receivers dedupe on `X-Bianxian-Delivery` (the row id), the same across attempts,
//!   which closes the outbox's one duplicate window on their side.
//! - The payload holds only public, non-gated fields (see [`ARTICLE_FIELDS`]), never
//!   a body or a private field: a webhook URL is not a place for paid content.

pub mod network;
mod outbox;
pub mod registry;
mod sender;
pub mod signature;

use std::time::Duration;

pub use sender::{Sender, Signing, WebhookConsumer};
pub use signature::{DEFAULT_TOLERANCE, VerifyError, verify};

use platform::{
    Platform,
    config::{Section, Vars},
    error::{Error, Result},
    outbox::{Queue, RowId, Spec},
    secret::Secret,
};
use serde_json::Value;
use tokio_postgres::types::Type;
use url::Url;

/// How long to wait after each failed attempt; after the last, the delivery fails.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(6 * 3600),
];

/// The `webhook_deliveries` table as the platform outbox drives it.
pub static OUTBOX: Spec = Spec {
    table: "webhook_deliveries",
    field: "deliveryId",
    done: "delivered",
    done_at: "delivered_at",
    receipt: "last_status_code",
    receipt_type: Type::INT4,
    forget_when_done: None,
    // Far longer than webhook-send may run (template.yaml: 60 s).
    lease: Duration::from_secs(5 * 60),
    retry_after: &BACKOFF,
    resend_lost_claims: true,
};

pub const MAX_ATTEMPTS: i32 = BACKOFF.len() as i32 + 1;

/// Shorter keys would make the derived webhook secrets guessable offline.
const MIN_SIGNING_KEY_CHARS: usize = 32;

/// The webhook section of the configuration.
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// `WEBHOOK_QUEUE_URL`: the SQS queue the webhook-send function consumes; optional
    /// like `MAIL_QUEUE_URL` (without it deliveries wait in the outbox).
    pub queue_url: Option<Url>,
    /// `WEBHOOK_SIGNING_KEY`: the key every webhook's signing secret is derived from
    /// (with the webhook's salt), at least 32 characters. Only the admin function
    /// (which shows a new secret once) and webhook-send need it; without it they
    /// refuse to create webhooks or sign deliveries.
    pub signing_key: Option<Secret>,
}

impl Section for WebhookConfig {
    fn read(vars: &mut Vars<'_>) -> Self {
        Self {
            queue_url: vars.http_url("WEBHOOK_QUEUE_URL", "must be an http(s) SQS queue URL"),
            signing_key: vars.secret("WEBHOOK_SIGNING_KEY", MIN_SIGNING_KEY_CHARS),
        }
    }
}

/// The queue delivery ids go to (`WEBHOOK_QUEUE_URL`).
pub fn queue(platform: &Platform, config: &WebhookConfig) -> Queue {
    Queue::new(&OUTBOX, platform, config.queue_url.clone())
}

/// A content event, named as Strapi names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Create,
    Update,
    Delete,
    Publish,
    Unpublish,
}

impl Event {
    pub const ALL: [Event; 5] = [
        Event::Create,
        Event::Update,
        Event::Delete,
        Event::Publish,
        Event::Unpublish,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::Create => "entry.create",
            Event::Update => "entry.update",
            Event::Delete => "entry.delete",
            Event::Publish => "entry.publish",
            Event::Unpublish => "entry.unpublish",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Writes one delivery per enabled webhook subscribed to `event`, inside the
/// caller's transaction, and returns their ids for [`Queue::dispatch`] once it
/// has committed. `model` is the Strapi uid's singular name (`article`, `tag`, …);
/// `entry` must hold only public fields.
pub async fn enqueue(
    tx: &impl platform::db::Transactional,
    event: Event,
    model: &str,
    entry: &Value,
) -> Result<Vec<RowId>> {
    if model.is_empty() || !model.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
        return Err(Error::internal(format!(
            "webhook model `{model}` is not a Strapi singular name"
        )));
    }
    outbox::insert(tx, event.as_str(), model, entry).await
}

/// The Strapi model of articles.
pub const ARTICLE: &str = "article";

/// What a webhook says about an article: what a frontend needs to find the pages to
/// revalidate, all of it public whatever the article's visibility. Never the body,
/// the excerpt of a paid article, or private fields such as internal notes.
pub const ARTICLE_FIELDS: &[&str] = &[
    "id",
    "documentId",
    "slug",
    "locale",
    "title",
    "visibility",
    "publishedAt",
    "updatedAt",
];

/// The same, for authors, categories and tags (never an author's email).
pub const TERM_FIELDS: &[&str] = &["id", "documentId", "name", "slug"];

/// [`ARTICLE_FIELDS`] of the article row aliased `a`, as SQL, for writers that have
/// no assembled entry to pick from (the scheduler's `UPDATE … RETURNING`).
pub const ARTICLE_ENTRY_SQL: &str = "json_build_object('id', a.id, 'documentId', a.document_id, \
     'slug', a.slug, 'locale', a.locale, 'title', a.title, 'visibility', a.visibility, \
     'publishedAt', a.published_at, 'updatedAt', a.updated_at)";

/// Only `fields` of an entry, in their order: the webhook payload of an entry the
/// admin API assembled (which may hold private fields).
pub fn public_entry(entry: &Value, fields: &[&str]) -> Value {
    Value::Object(
        fields
            .iter()
            .filter_map(|&field| Some((field.to_owned(), entry.get(field)?.clone())))
            .collect(),
    )
}

/// Longer URLs are a mistake or an attack, never a receiver.
const MAX_URL: usize = 2048;

/// A webhook URL an admin may register: absolute http(s) with a host, no
/// credentials (they would sit in the database in the clear; the signature is the
/// credential), https only in production.
pub fn check_url(raw: &str, production: bool) -> Result<Url> {
    let invalid = |message: &str| Error::invalid("url", message);
    if raw.len() > MAX_URL {
        return Err(invalid("url must be at most 2048 characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|_| invalid("url must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("url must be an http(s) URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("url must not contain credentials"));
    }
    if production && url.scheme() != "https" {
        return Err(invalid("url must be https in production"));
    }
    // In production a webhook must not reach our own host or a private address
    // (`network`): literal addresses and local names stop here, and what a name
    // resolves to is checked (and pinned) by the sender's resolver at delivery.
    if production && internal_host(&url) {
        return Err(invalid(
            "url must not point at a local or private address in production",
        ));
    }
    Ok(url)
}

fn internal_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || name.ends_with(".internal")
        }
        Some(url::Host::Ipv4(ip)) => network::internal_ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => network::internal_ip(ip.into()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        assert_eq!(Event::parse("media.create"), None);
    }

    #[test]
    fn the_article_sql_builds_exactly_the_article_fields() {
        let named: Vec<&str> = ARTICLE_ENTRY_SQL.split('\'').skip(1).step_by(2).collect();
        assert_eq!(named, ARTICLE_FIELDS);
        let entry = serde_json::json!({ "id": 1, "name": "n", "slug": "s", "email": "x@y.z" });
        assert_eq!(
            public_entry(&entry, TERM_FIELDS),
            serde_json::json!({ "id": 1, "name": "n", "slug": "s" })
        );
    }

    #[test]
    fn production_urls_must_not_point_inside() {
        for inside in [
            "https://localhost/hook",
            "https://api.localhost/hook",
            "https://127.0.0.1/hook",
            "https://10.0.3.7/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/hook",
            "https://[::1]/hook",
            "https://[fd00::1]/hook",
            "https://[::ffff:10.0.0.1]/hook",
            "https://[::ffff:100.64.0.1]/hook",
            "https://[64:ff9b::a9fe:a9fe]/latest/meta-data",
            "https://[2002:a9fe:a9fe::1]/hook",
            "https://0.0.0.0/hook",
            "https://metadata.google.internal/",
        ] {
            assert!(check_url(inside, true).is_err(), "{inside}");
            assert!(check_url(inside, false).is_ok(), "{inside} (development)");
        }
        for outside in [
            "https://example.com/hook",
            "https://8.8.8.8/hook",
            "https://[2001:db8::1]/x",
        ] {
            assert!(check_url(outside, true).is_ok(), "{outside}");
        }
    }

    #[test]
    fn urls_are_absolute_http_without_credentials() {
        assert!(check_url("https://example.com/api/revalidate?x=1", true).is_ok());
        assert!(check_url("http://127.0.0.1:8080/hook", false).is_ok());
        for bad in [
            "",
            "/relative",
            "example.com/hook",
            "ftp://example.com/hook",
            "javascript:alert(1)",
            "https://user:pw@example.com/hook",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://example.com/{}", "a".repeat(2048)), false).is_err());
    }

    #[test]
    fn settings_are_optional_secret_and_checked() {
        use platform::config::{ConfigError, Env};

        fn load(pairs: &[(&str, &str)]) -> Result<WebhookConfig, ConfigError> {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Env::from_map(pairs.into_iter().collect()).section()
        }
        let config = load(&[]).unwrap();
        assert!(config.queue_url.is_none());
        assert!(config.signing_key.is_none());

        let key = "k".repeat(MIN_SIGNING_KEY_CHARS);
        let config = load(&[
            ("WEBHOOK_SIGNING_KEY", &key),
            (
                "WEBHOOK_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.signing_key.as_ref().map(Secret::expose),
            Some(key.as_str())
        );
        assert!(!format!("{config:?}").contains(&key));

        let err = load(&[
            ("WEBHOOK_SIGNING_KEY", "short"),
            ("WEBHOOK_QUEUE_URL", "queue"),
        ])
        .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn production_requires_https() {
        let err = check_url("http://example.com/hook", true).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        assert!(check_url("http://example.com/hook", false).is_ok());
    }
}
