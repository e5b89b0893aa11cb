//! Members: the readers who register, sign in and pay. Account rows, the single-use
//! links mailed to them, and what "delete my account" means.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, types::Type};

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
    pub email: String,
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

/// A live member and their password hash, by (already normalised) email.
pub async fn with_password_by_email(
    client: &impl GenericClient,
    email: &str,
) -> Result<Option<(Member, String)>> {
    let rows = client
        .query_typed(
            &format!("SELECT {COLUMNS}, password_hash FROM members WHERE email = $1 AND deleted_at IS NULL"),
            &[(&email, Type::TEXT)],
        )
        .await?;
    Ok(rows.first().map(|row| (Member::from_row(row), row.get(6))))
}

pub async fn password_hash(client: &impl GenericClient, member_id: i64) -> Result<String> {
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
            "UPDATE member_tokens SET used_at = now()
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
    revoke_tokens(client, member_id, purpose).await?;
    let token = new_token("");
    let expires_at = Utc::now() + purpose.lifetime();
    client
        .query_typed(
            "INSERT INTO member_tokens (member_id, purpose, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            &[
                (&member_id, Type::INT8),
                (&purpose.as_str(), Type::TEXT),
                (&token_hash(token.expose()), Type::TEXT),
                (&expires_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    Ok(token)
}

/// Uses up a token: the member it belongs to, if it is unused, unexpired, for this
/// purpose and its member still exists. Marking it used (with every other unused
/// token of the member for the purpose) and reading it is one statement, so two
/// concurrent uses cannot both succeed.
pub async fn consume_token(
    client: &impl GenericClient,
    token: &str,
    purpose: Purpose,
) -> Result<Member> {
    let invalid = || Error::invalid("token", "this link is invalid or has expired");
    if token.is_empty() || token.len() > 128 {
        return Err(invalid());
    }
    let rows = client
        .query_typed(
            &format!(
                "WITH used AS (
                     UPDATE member_tokens SET used_at = now()
                     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
                     RETURNING member_id),
                 others AS (
                     UPDATE member_tokens SET used_at = now()
                     WHERE member_id = (SELECT member_id FROM used) AND purpose = $2
                       AND used_at IS NULL AND token_hash <> $1)
                 SELECT {COLUMNS} FROM members WHERE id = (SELECT member_id FROM used) AND deleted_at IS NULL"
            ),
            &[(&token_hash(token), Type::TEXT), (&purpose.as_str(), Type::TEXT)],
        )
        .await?;
    rows.first().map(Member::from_row).ok_or_else(invalid)
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
    Ok(())
}
