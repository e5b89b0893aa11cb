//! Staff accounts: the people who run the site (admins, editors, authors).

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, types::Type};

use crate::{
    access::Role,
    email::Email,
    error::{Error, Result},
    password::{self, Password},
};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Staff {
    #[serde(skip)]
    pub id: i64,
    pub document_id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

pub const COLUMNS: &str =
    "id, document_id, email, display_name, role, disabled_at IS NOT NULL, created_at";

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
        })
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
    let stored: Option<String> = row.as_ref().map(|r| r.get(7));
    if !password::verify(password, stored.as_deref()).await {
        return Err(unauthorized());
    }
    Staff::from_row(&row.ok_or_else(unauthorized)?)
}
