//! Outgoing content webhooks: Strapi's events (`entry.create`, `entry.update`,
//! `entry.delete`, `entry.publish`, `entry.unpublish`) POSTed to the URLs admins
//! register, signed, from a transactional outbox with retries, so a frontend can
//! revalidate its pages.
//!
//! ```text
//! write ─ BEGIN; …; webhooks::enqueue(&tx, event, model, entry); COMMIT ─► platform.webhooks.dispatch(ids)
//!                               │                                              │ SQS {"deliveryId": n}
//!                               ▼                                              ▼
//!                    webhook_deliveries rows ◄── claim ── webhook-send function ── POST, signed
//!                               ▲
//!                               └── sweep (every minute): retries whose backoff ended, lost rows
//! ```
//!
//! The shape and its reasons are the mail outbox's (`shared::mail`): a delivery
//! exists exactly when its write committed; `dispatch` is only a nudge; a
//! conditional UPDATE with a lease makes one claimer send, so a redelivered or
//! duplicated SQS message sends nothing more. What differs:
//! - A failed attempt is not retried by SQS but by the sweep, after a backoff
//!   ([`BACKOFF`]: 1 min to 6 h), which SQS's visibility timeout cannot express.
//! - As with mail, a sender that dies after the receiver answered but before the
//!   outcome was recorded leaves a window for a second POST; receivers dedupe on
//!   `X-Bianxian-Delivery`, which stays the same across attempts.
//! - The payload holds only public, non-gated fields (see [`ARTICLE_FIELDS`]), never
//!   a body or a private field: a webhook URL is not a place for paid content.

mod outbox;
mod sender;
pub mod signature;

pub use sender::{BACKOFF, DELIVERY_FIELD, Delivery, MAX_ATTEMPTS, Webhooks, backoff_after};
pub use signature::{DEFAULT_TOLERANCE, VerifyError, verify};

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};

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

    /// The event an audited write (`article.publish`, `tag.update`, …) stands for:
    /// every change short of creating, deleting, publishing or unpublishing is an
    /// update (restoring a revision, scheduling, unscheduling).
    pub fn for_action(action: &str) -> Option<Self> {
        let (_, verb) = action.split_once('.')?;
        Some(match verb {
            "create" => Event::Create,
            "update" | "restore" | "schedule" | "unschedule" => Event::Update,
            "delete" => Event::Delete,
            "publish" => Event::Publish,
            "unpublish" => Event::Unpublish,
            _ => return None,
        })
    }
}

/// Writes one delivery per enabled webhook subscribed to `event`, inside the
/// caller's transaction, and returns their ids for [`Webhooks::dispatch`] once it
/// has committed. `model` is the Strapi uid's singular name (`article`, `tag`, …);
/// `entry` must hold only public fields.
pub async fn enqueue(
    tx: &tokio_postgres::Transaction<'_>,
    event: Event,
    model: &str,
    entry: &Value,
) -> Result<Vec<i64>> {
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
    // A webhook is a request our network makes for whoever configured it: in
    // production it must not reach our own host or private addresses (the database,
    // the instance metadata service). Names are not resolved here; this stops the
    // literal addresses, and the VPC's egress rules are the rest of the fence.
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
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                // Carrier-grade NAT, 100.64.0.0/10.
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback()
                || ip.is_unspecified()
                // Unique local fc00::/7 and link-local fe80::/10.
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| {
                    v4.is_loopback() || v4.is_private() || v4.is_link_local()
                })
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_follow_audit_actions() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
        }
        assert_eq!(Event::parse("media.create"), None);
        for (action, event) in [
            ("article.create", Event::Create),
            ("article.update", Event::Update),
            ("article.restore", Event::Update),
            ("article.schedule", Event::Update),
            ("article.unschedule", Event::Update),
            ("article.delete", Event::Delete),
            ("article.publish", Event::Publish),
            ("article.unpublish", Event::Unpublish),
            ("tag.create", Event::Create),
        ] {
            assert_eq!(Event::for_action(action), Some(event), "{action}");
        }
        assert_eq!(Event::for_action("article.revisions"), None);
        assert_eq!(Event::for_action("publish"), None);
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
    fn production_requires_https() {
        let err = check_url("http://example.com/hook", true).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
        assert!(check_url("http://example.com/hook", false).is_ok());
    }
}
