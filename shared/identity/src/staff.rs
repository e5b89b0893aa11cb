//! Staff accounts: the people who run the site (admins, editors, authors).

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use serde::Serialize;
use tokio_postgres::types::Type;

use platform::error::{Error, Result};

use crate::{
    access::{Permission, Role},
    email::Email,
    password::{self, Password},
};

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Staff {
    #[serde(skip)]
    pub id: i64,
    pub document_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Permission scopes granted beyond the role, e.g. `marketing.read`.
    pub grants: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

pub const COLUMNS: &str =
    "id, document_id, email, display_name, role, disabled_at IS NOT NULL, created_at, grants";

impl Staff {
    pub fn from_row(row: &tokio_postgres::Row) -> Result<Self> {
        Ok(Self {
            id: row.get(0),
            document_id: row.get(1),
            email: row.get(2),
            display_name: row.get(3),
            role: Role::parse(row.get(4))?,
            disabled: row.get(5),
            created_at: row.get(6),
            grants: row.get(7),
        })
    }

    /// Every permission scope the account holds, by role or grant: what the console
    /// shows and hides (the API checks each request on its own).
    pub fn permissions(&self) -> Vec<&'static str> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.role.allows(*p) || self.grants.iter().any(|g| g == p.scope()))
            .map(Permission::scope)
            .collect()
    }
}

/// Creates a staff account; 409 when the email is taken.
pub async fn create(
    client: &impl GenericClient,
    email: &Email,
    password: &Password,
    role: Role,
    display_name: &str,
) -> Result<Staff> {
    let hash = password::hash(password).await?;
    let row = client
        .query_typed(
            &format!(
                "INSERT INTO staff_users (email, password_hash, role, display_name) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (email) DO NOTHING RETURNING {COLUMNS}"
            ),
            &[
                (&email.as_str(), Type::TEXT),
                (&hash, Type::TEXT),
                (&role.as_str(), Type::TEXT),
                (&display_name, Type::TEXT),
            ],
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Conflict("a staff account with this email exists".into()))?;
    Staff::from_row(&row)
}

/// The enabled staff account with these credentials. Unknown emails cost the same
/// argon2 work as wrong passwords.
pub async fn authenticate(
    client: &impl GenericClient,
    email: &str,
    password: &Password,
) -> Result<Staff> {
    let unauthorized = || Error::Unauthorized("invalid email or password".into());
    let row = match Email::parse(email) {
        Ok(email) => client
            .query_typed(
                &format!("SELECT {COLUMNS}, password_hash FROM staff_users WHERE email = $1 AND disabled_at IS NULL"),
                &[(&email.as_str(), Type::TEXT)],
            )
            .await?
            .into_iter()
            .next(),
        Err(_) => None,
    };
    let stored: Option<String> = row.as_ref().map(|r| r.get(8));
    if !password::verify(password, stored.as_deref()).await {
        return Err(unauthorized());
    }
    Staff::from_row(&row.ok_or_else(unauthorized)?)
}

/// The id of the staff account with `document_id`.
pub async fn id_of(client: &impl GenericClient, document_id: &str) -> Result<Option<i64>> {
    Ok(client
        .query_typed(
            "SELECT id FROM staff_users WHERE document_id = $1",
            &[(&document_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|row| row.get(0)))
}

/// The name (display name, else the email's local part) and email an author profile
/// made for this staff account starts with.
pub async fn byline(client: &impl GenericClient, id: i64) -> Result<Option<(String, String)>> {
    Ok(client
        .query_typed(
            "SELECT COALESCE(NULLIF(display_name, ''), split_part(email, '@', 1)), email
             FROM staff_users WHERE id = $1",
            &[(&id, Type::INT8)],
        )
        .await?
        .first()
        .map(|row| (row.get(0), row.get(1))))
}

/// Every staff account, oldest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<Staff>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM staff_users ORDER BY id"),
            &[],
        )
        .await?
        .iter()
        .map(Staff::from_row)
        .collect()
}

pub async fn by_id(client: &impl GenericClient, id: i64) -> Result<Option<Staff>> {
    client
        .query_typed(
            &format!("SELECT {COLUMNS} FROM staff_users WHERE id = $1"),
            &[(&id, Type::INT8)],
        )
        .await?
        .first()
        .map(Staff::from_row)
        .transpose()
}

/// What an admin may change about an account; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub role: Option<Role>,
    /// Replaces the grants.
    pub grants: Option<Vec<Permission>>,
    pub display_name: Option<&'a str>,
    pub disabled: Option<bool>,
}

/// Applies `changes` to the account with `document_id`; `None` when there is none.
pub async fn update(
    client: &impl GenericClient,
    document_id: &str,
    changes: &Changes<'_>,
) -> Result<Option<Staff>> {
    client
        .query_typed(
            &format!(
                "UPDATE staff_users SET
                     role = COALESCE($2, role),
                     display_name = COALESCE($3, display_name),
                     grants = COALESCE($5, grants),
                     disabled_at = CASE WHEN $4::bool IS NULL THEN disabled_at
                                        WHEN $4 THEN COALESCE(disabled_at, now()) ELSE NULL END
                 WHERE document_id = $1 RETURNING {COLUMNS}"
            ),
            &[
                (&document_id, Type::TEXT),
                (&changes.role.map(Role::as_str), Type::TEXT),
                (&changes.display_name, Type::TEXT),
                (&changes.disabled, Type::BOOL),
                (
                    &changes
                        .grants
                        .as_ref()
                        .map(|g| g.iter().map(|p| p.scope()).collect::<Vec<_>>()),
                    Type::TEXT_ARRAY,
                ),
            ],
        )
        .await?
        .first()
        .map(Staff::from_row)
        .transpose()
}
