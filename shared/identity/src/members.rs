//! Members: the readers who register, sign in and pay. Account rows, the single-use
//! links mailed to them, and what "delete my account" means.

use platform::db::GenericClient;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

use platform::{
    error::{Error, Result},
    secret::Secret,
};

use crate::{
    email::Email,
    session::{new_token, token_hash},
};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(skip)]
    pub id: i64,
    pub document_id: String,
    /// None for a member who signed in with WeChat alone.
    pub email: Option<String>,
    pub display_name: String,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

pub const COLUMNS: &str =
    "id, document_id, email, display_name, email_verified_at IS NOT NULL, created_at";

impl Member {
    pub fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            id: row.get(0),
            document_id: row.get(1),
            email: row.get(2),
            display_name: row.get(3),
            email_verified: row.get(4),
            created_at: row.get(5),
        }
    }

    /// The subject of this member's sessions.
    pub fn subject(&self) -> String {
        format!("member:{}", self.document_id)
    }
}

/// A live (not deleted) member by public id.
pub async fn by_document_id(
    client: &impl GenericClient,
    document_id: &str,
) -> Result<Option<Member>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM members WHERE document_id = $1 AND deleted_at IS NULL"),
            &[(&document_id, Type::TEXT)],
        )
        .await?;
    Ok(rows.first().map(Member::from_row))
}

/// The most members one staff list page or CSV export holds.
pub const MAX_PAGE_SIZE: i64 = 100;
pub const MAX_EXPORT_ROWS: i64 = 50_000;

/// `members_search_trgm_idx`'s expression (0028): what a staff search matches, so the
/// index applies.
const SEARCHED: &str = "(coalesce(m.email, '') || ' ' || m.display_name)";

/// `%text%` for `ILIKE`, with `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A page of live members for staff, newest first, whose email or display name
/// contains `query` (any case; Chinese as written), and how many match.
pub async fn page(
    client: &impl GenericClient,
    query: Option<&str>,
    page: i64,
    page_size: i64,
) -> Result<(Vec<Member>, i64)> {
    let pattern = query.map(contains_pattern);
    let offset = (page - 1) * page_size;
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS}, count(*) OVER () FROM members m
                 WHERE m.deleted_at IS NULL AND ($1::text IS NULL OR {SEARCHED} ILIKE $1)
                 ORDER BY m.created_at DESC, m.id DESC LIMIT $2 OFFSET $3"
            ),
            &[
                (&pattern, Type::TEXT),
                (&page_size, Type::INT8),
                (&offset, Type::INT8),
            ],
        )
        .await?;
    let total = match rows.first() {
        Some(row) => row.try_get(6)?,
        None => client
            .query_typed(
                &format!(
                    "SELECT count(*) FROM members m
                     WHERE m.deleted_at IS NULL AND ($1::text IS NULL OR {SEARCHED} ILIKE $1)"
                ),
                &[(&pattern, Type::TEXT)],
            )
            .await?
            .first()
            .map_or(Ok(0), |row| row.try_get(0))?,
    };
    Ok((rows.iter().map(Member::from_row).collect(), total))
}

const CSV_HEADER: &str = "documentId,email,displayName,emailVerified,createdAt\r\n";

/// The members [`page`] would list for `query`, all of them, as RFC 4180 CSV (at
/// most [`MAX_EXPORT_ROWS`]; 400 beyond, so an export is never silently cut short),
/// and how many rows it holds.
pub async fn export(client: &impl GenericClient, query: Option<&str>) -> Result<(String, usize)> {
    let pattern = query.map(contains_pattern);
    let rows = client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM members m
                 WHERE m.deleted_at IS NULL AND ($1::text IS NULL OR {SEARCHED} ILIKE $1)
                 ORDER BY m.created_at DESC, m.id DESC LIMIT $2"
            ),
            &[(&pattern, Type::TEXT), (&(MAX_EXPORT_ROWS + 1), Type::INT8)],
        )
        .await?;
    if rows.len() as i64 > MAX_EXPORT_ROWS {
        return Err(Error::invalid(
            "q",
            format!("more than {MAX_EXPORT_ROWS} members: narrow the search"),
        ));
    }
    let mut csv = String::with_capacity(CSV_HEADER.len() + rows.len() * 100);
    csv.push_str(CSV_HEADER);
    for member in rows.iter().map(Member::from_row) {
        platform::csv::push_row(
            &mut csv,
            &[
                member.document_id.as_str(),
                member.email.as_deref().unwrap_or(""),
                member.display_name.as_str(),
                if member.email_verified {
                    "true"
                } else {
                    "false"
                },
                &member.created_at.to_rfc3339(),
            ],
        );
    }
    Ok((csv, rows.len()))
}

/// A new member; `None` when the email is taken.
pub async fn create(
    client: &impl GenericClient,
    email: &Email,
    password_hash: &str,
    display_name: &str,
) -> Result<Option<Member>> {
    Ok(client
        .query_typed(
            &format!(
                "INSERT INTO members (email, password_hash, display_name) VALUES ($1, $2, $3)
                 ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}"
            ),
            &[
                (&email.as_str(), Type::TEXT),
                (&password_hash, Type::TEXT),
                (&display_name, Type::TEXT),
            ],
        )
        .await?
        .first()
        .map(Member::from_row))
}

/// What a registration found at its address.
#[derive(Debug)]
pub enum Registration {
    /// A new account, pending until its verification link is used.
    New(Member),
    /// An account registered before whose link was never used: still pending.
    Pending(Member),
    /// An account in use: nothing about it changes; its owner is told.
    Existing(Member),
}

/// Registers `email` without revealing anything: a free address becomes a pending
/// account (no password: nobody can sign in to it until its mailbox is proven, see
/// [`issue_signup_token`]); a pending one takes the newest display name; an account
/// in use is left alone.
pub async fn register(
    client: &impl GenericClient,
    email: &Email,
    display_name: &str,
) -> Result<Registration> {
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&email.as_str(), Type::TEXT), (&display_name, Type::TEXT)];
    let created = client
        .query_typed(
            &format!(
                "INSERT INTO members (email, display_name) VALUES ($1, $2)
                 ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}"
            ),
            &params,
        )
        .await?;
    if let Some(row) = created.first() {
        return Ok(Registration::New(Member::from_row(row)));
    }
    let pending = client
        .query_typed(
            &format!(
                "UPDATE members SET display_name = $2
                 WHERE email = $1 AND password_hash IS NULL AND deleted_at IS NULL
                 RETURNING {COLUMNS}"
            ),
            &params,
        )
        .await?;
    if let Some(row) = pending.first() {
        return Ok(Registration::Pending(Member::from_row(row)));
    }
    let existing = client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM members WHERE email = $1 AND deleted_at IS NULL"),
            &params[..1],
        )
        .await?;
    existing
        .first()
        .map(|row| Registration::Existing(Member::from_row(row)))
        // Only a concurrent change to the same address between these statements.
        .ok_or_else(|| Error::ServiceUnavailable("please try again".into()))
}

/// The id of the member with `document_id`, deleted or not (their records stay).
pub async fn id_of(client: &impl GenericClient, document_id: &str) -> Result<Option<i64>> {
    Ok(client
        .query_typed(
            "SELECT id FROM members WHERE document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|r| r.get(0)))
}

/// A live member and their password hash (none while their registration is
/// pending), by (already normalised) email.
pub async fn with_password_by_email(
    client: &impl GenericClient,
    email: &str,
) -> Result<Option<(Member, Option<String>)>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS}, password_hash FROM members WHERE email = $1 AND deleted_at IS NULL"),
            &[(&email, Type::TEXT)],
        )
        .await?;
    Ok(rows.first().map(|row| (Member::from_row(row), row.get(6))))
}

pub async fn password_hash(client: &impl GenericClient, member_id: i64) -> Result<Option<String>> {
    let row = client
        .query_typed(
            "SELECT password_hash FROM members WHERE id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    row.first()
        .map(|r| r.get(0))
        .ok_or_else(|| Error::NotFound("no such member".into()))
}

pub async fn set_password_hash(
    client: &impl GenericClient,
    member_id: i64,
    hash: &str,
) -> Result<()> {
    client
        .query_typed(
            "UPDATE members SET password_hash = $2 WHERE id = $1",
            &[(&member_id, Type::INT8), (&hash, Type::TEXT)],
        )
        .await?;
    // A reset link mailed before the change must not undo it.
    revoke_tokens(client, member_id, Purpose::ResetPassword).await
}

/// Ends every unused token of `member_id` for `purpose`.
async fn revoke_tokens(
    client: &impl GenericClient,
    member_id: i64,
    purpose: Purpose,
) -> Result<()> {
    client
        .query_typed(
            "UPDATE member_tokens SET used_at = now(), password_hash = NULL
             WHERE member_id = $1 AND purpose = $2 AND used_at IS NULL",
            &[(&member_id, Type::INT8), (&purpose.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// What a mailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
        }
    }

    /// Reset links are short-lived: they are as good as the password.
    pub fn lifetime(self) -> Duration {
        match self {
            Purpose::VerifyEmail => Duration::from_secs(48 * 3600),
            Purpose::ResetPassword => Duration::from_secs(3600),
        }
    }
}

/// Issues a single-use token (stored hashed) and returns it for the link. Only the
/// newest link of a purpose works: the member's earlier ones end here.
pub async fn issue_token(
    client: &impl GenericClient,
    member_id: i64,
    purpose: Purpose,
) -> Result<Secret> {
    insert_token(client, member_id, purpose, None).await
}

/// The verification link of a registration: it carries the password chosen with it,
/// which becomes the account's when the link is used ([`consume_token`]). So only
/// the mailbox's owner completes a registration, with the password they chose.
pub async fn issue_signup_token(
    client: &impl GenericClient,
    member_id: i64,
    password_hash: &str,
) -> Result<Secret> {
    insert_token(client, member_id, Purpose::VerifyEmail, Some(password_hash)).await
}

async fn insert_token(
    client: &impl GenericClient,
    member_id: i64,
    purpose: Purpose,
    password_hash: Option<&str>,
) -> Result<Secret> {
    revoke_tokens(client, member_id, purpose).await?;
    let token = new_token("");
    let expires_at = Utc::now() + purpose.lifetime();
    client
        .query_typed(
            "INSERT INTO member_tokens (member_id, purpose, token_hash, expires_at, password_hash)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                (&member_id, Type::INT8),
                (&purpose.as_str(), Type::TEXT),
                (&token_hash(token.expose()), Type::TEXT),
                (&expires_at, Type::TIMESTAMPTZ),
                (&password_hash, Type::TEXT),
            ],
        )
        .await?;
    Ok(token)
}

/// Uses up a token: the member it belongs to, if it is unused, unexpired, for this
/// purpose and its member still exists, with the password chosen at registration
/// when the link completes one. Marking it used (with every other unused token of
/// the member for the purpose, each forgetting its password) and reading it is one
/// statement, so two concurrent uses cannot both succeed.
pub async fn consume_token(
    client: &impl GenericClient,
    token: &str,
    purpose: Purpose,
) -> Result<(Member, Option<String>)> {
    let invalid = || Error::invalid("token", "this link is invalid or has expired");
    if token.is_empty() || token.len() > 128 {
        return Err(invalid());
    }
    // `old` is the row before the update: RETURNING shows the new one.
    let rows = client
        .query_typed(
            &format!(
                "WITH used AS (
                     UPDATE member_tokens t SET used_at = now(), password_hash = NULL
                     FROM member_tokens old
                     WHERE old.id = t.id AND t.token_hash = $1 AND t.purpose = $2
                       AND t.used_at IS NULL AND t.expires_at > now()
                     RETURNING t.member_id, old.password_hash),
                 others AS (
                     UPDATE member_tokens SET used_at = now(), password_hash = NULL
                     WHERE member_id = (SELECT member_id FROM used) AND purpose = $2
                       AND used_at IS NULL AND token_hash <> $1)
                 SELECT {COLUMNS}, (SELECT password_hash FROM used)
                 FROM members WHERE id = (SELECT member_id FROM used) AND deleted_at IS NULL"
            ),
            &[
                (&token_hash(token), Type::TEXT),
                (&purpose.as_str(), Type::TEXT),
            ],
        )
        .await?;
    rows.first()
        .map(|row| (Member::from_row(row), row.get(6)))
        .ok_or_else(invalid)
}

/// Members whose address was proven in `(after, until]` (an account made by
/// registration counts from then: before, nobody could sign in to it), with the
/// time: what a welcome sequence enrols. Address, display name, time.
pub async fn verified_between(
    client: &impl GenericClient,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    Ok(client
        .query_typed(
            "SELECT email, display_name, email_verified_at FROM members
             WHERE email_verified_at > $1 AND email_verified_at <= $2
               AND email IS NOT NULL AND deleted_at IS NULL",
            &[(&after, Type::TIMESTAMPTZ), (&until, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Members who joined from `from` (inclusive) to `to` (exclusive), counted per UTC day
/// (days without any are absent). A registration still waiting for its mailed link is
/// nobody yet; deleted accounts are not counted.
pub async fn joined_per_day(
    client: &impl GenericClient,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(NaiveDate, i64)>> {
    client
        .query_typed(
            "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) FROM members
             WHERE created_at >= $1 AND created_at < $2 AND deleted_at IS NULL
               AND NOT (email IS NOT NULL AND password_hash IS NULL AND email_verified_at IS NULL)
             GROUP BY day ORDER BY day",
            &[(&from, Type::TIMESTAMPTZ), (&to, Type::TIMESTAMPTZ)],
        )
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn mark_verified(client: &impl GenericClient, member_id: i64) -> Result<()> {
    client
        .query_typed(
            "UPDATE members SET email_verified_at = COALESCE(email_verified_at, now()) WHERE id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    Ok(())
}

/// Deletes an account by anonymising it: personal data is gone, the row (and the
/// orders and entitlements that finance must keep) stays, and the email is free again.
pub async fn anonymise(client: &impl GenericClient, member_id: i64) -> Result<()> {
    client
        .query_typed(
            "UPDATE members SET
                 email = 'deleted-' || document_id || '@deleted.invalid',
                 password_hash = '!',
                 display_name = '',
                 email_verified_at = NULL,
                 deleted_at = now()
             WHERE id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    client
        .query_typed(
            "DELETE FROM member_tokens WHERE member_id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    crate::identities::forget(client, member_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_take_like_wildcards_literally() {
        assert_eq!(contains_pattern("张三"), "%张三%");
        assert_eq!(contains_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
