//! Email marketing (replaces BillionMail; learns from listmonk), landing in steps:
//! subscribers ([`subscribers`]), mailing lists ([`lists`]) with per-list status,
//! the public newsletter flows ([`newsletter`]: double opt-in, RFC 8058 one-click
//! unsubscribe, preferences) on signed links ([`links`]), and the suppression list
//! ([`suppressions`]), and the templates campaigns are written in ([`templates`]:
//! checked when saved, rendered in a layout that carries the unsubscribe link and
//! postal address). Mail goes through the `mail` crate's outbox, written in the
//! transaction that causes it.
//!
//! Subscribers come in and go out as CSV ([`imports`]). Campaigns send a template to
//! lists, narrowed by a segment's rules when they name one ([`segments`]) ([`campaigns`]: one outbox row per recipient, at most once each; with the
//! `ses` feature, `sending` is what campaign-send runs), their opens and clicks
//! tracked through signed links ([`tracking`]).
//!
//! Automations mail a sequence of templates to each person a trigger enrols
//! ([`automations`]: welcome series, post-purchase mail), run by the scheduler.
//!
//! Other services send stored templates to one person through [`transactional`]
//! (listmonk's tx API).
//!
//! SES's events about what was sent ([`events`]) are recorded, and a permanent
//! bounce or a complaint suppresses the address. Staff read one subscriber's
//! story in [`activity`].
//!
//! It owns the tables `subscribers`, `mailing_lists`, `list_subscriptions`,
//! `suppressions`, `mail_templates`, `mail_events`, `campaigns`, `campaign_lists`,
//! `campaign_messages`, `tracking_events`, `automations`, `automation_steps`,
//! `automation_enrolments` and `segments`.

pub mod activity;
pub mod automations;
pub mod campaigns;
pub mod config;
pub mod events;
pub mod imports;
pub mod links;
pub mod lists;
pub mod newsletter;
pub mod segments;
#[cfg(feature = "ses")]
pub mod sending;
pub mod subscribers;
pub mod suppressions;
pub mod templates;
pub mod tracking;
pub mod transactional;

pub use config::MarketingConfig;

use platform::db::GenericClient;
use platform::error::{Error, Result};
use tokio_postgres::{Row, types::Type};

/// The row `sql` finds by its one text parameter (a documentId), read by
/// `from_row`, or a 404 saying there is no such `what`.
pub(crate) async fn one_by_key<T>(
    client: &impl GenericClient,
    sql: &str,
    key: &str,
    what: &str,
    from_row: fn(&Row) -> Result<T>,
) -> Result<T> {
    match client
        .query_typed(sql, &[(&key, Type::TEXT)])
        .await?
        .first()
    {
        Some(row) => from_row(row),
        None => Err(Error::NotFound(format!("no such {what}"))),
    }
}
