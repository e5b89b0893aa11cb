//! The identities a member signs in with besides email and password: today a WeChat
//! openid per app (see [`crate::wechat`]). A member may have an email, a WeChat
//! identity, or both; linking is explicit (a signed-in member links their WeChat),
//! and signing in with an unknown WeChat identity makes a new member, never a guess
//! at an existing one.

use chrono::{DateTime, Utc};
use platform::db::GenericClient;
use serde::Serialize;
use tokio_postgres::types::Type;

use platform::error::{Error, Result};

use crate::members::{COLUMNS, Member};

const WECHAT: &str = "wechat";
/// What a member who signed in with WeChat alone is called until they say.
const WECHAT_DISPLAY_NAME: &str = "微信用户";

/// A linked identity, as its member sees it (in `GET /auth/me/identities` and the
/// data export).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `wechat`.
    pub provider: String,
    /// The WeChat app the openid belongs to.
    pub app_id: String,
    /// The openid.
    pub subject: String,
    pub linked_at: DateTime<Utc>,
}

/// The member's identities, oldest first.
pub async fn of_member(client: &impl GenericClient, member_id: i64) -> Result<Vec<Identity>> {
    let rows = client
        .query_typed(
            "SELECT provider, app_id, subject, created_at FROM member_identities
             WHERE member_id = $1 ORDER BY id",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Identity {
            provider: row.get(0),
            app_id: row.get(1),
            subject: row.get(2),
            linked_at: row.get(3),
        })
        .collect())
}

/// The member's openid for WeChat app `app_id`, if they linked one.
pub async fn wechat_openid(
    client: &impl GenericClient,
    member_id: i64,
    app_id: &str,
) -> Result<Option<String>> {
    Ok(client
        .query_typed(
            "SELECT subject FROM member_identities
             WHERE member_id = $1 AND provider = 'wechat' AND app_id = $2",
            &[(&member_id, Type::INT8), (&app_id, Type::TEXT)],
        )
        .await?
        .first()
        .map(|row| row.get(0)))
}

async fn member_with_wechat(
    client: &impl GenericClient,
    app_id: &str,
    openid: &str,
) -> Result<Option<Member>> {
    Ok(client
        .query_typed(
            &format!(
                "SELECT {COLUMNS} FROM members
                 WHERE deleted_at IS NULL AND id = (
                     SELECT member_id FROM member_identities
                     WHERE provider = 'wechat' AND app_id = $1 AND subject = $2)"
            ),
            &[(&app_id, Type::TEXT), (&openid, Type::TEXT)],
        )
        .await?
        .first()
        .map(Member::from_row))
}

/// Who signs in with this WeChat identity: its member, or a new member (without
/// email or password) who has only it. Two first sign-ins at once make one member:
/// the loser's insert finds the winner's identity and its member is rolled back.
pub async fn sign_in_with_wechat(
    client: &mut platform::db::Client,
    app_id: &str,
    openid: &str,
) -> Result<(Member, bool)> {
    if let Some(member) = member_with_wechat(&*client, app_id, openid).await? {
        return Ok((member, false));
    }
    let tx = client.transaction().await?;
    let member = tx
        .query_typed(
            &format!("INSERT INTO members (display_name) VALUES ($1) RETURNING {COLUMNS}"),
            &[(&WECHAT_DISPLAY_NAME, Type::TEXT)],
        )
        .await?
        .first()
        .map(Member::from_row)
        .ok_or_else(|| Error::internal("an insert returned no row"))?;
    let linked = insert(&tx, member.id, app_id, openid).await?;
    if linked {
        tx.commit().await?;
        return Ok((member, true));
    }
    drop(tx);
    member_with_wechat(&*client, app_id, openid)
        .await?
        .map(|member| (member, false))
        .ok_or_else(|| Error::ServiceUnavailable("please try again".into()))
}

async fn insert(
    client: &impl GenericClient,
    member_id: i64,
    app_id: &str,
    openid: &str,
) -> Result<bool> {
    Ok(!client
        .query_typed(
            "INSERT INTO member_identities (member_id, provider, app_id, subject)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
            &[
                (&member_id, Type::INT8),
                (&WECHAT, Type::TEXT),
                (&app_id, Type::TEXT),
                (&openid, Type::TEXT),
            ],
        )
        .await?
        .is_empty())
}

/// Links a WeChat identity to `member_id`. Linking it again is a no-op; an identity
/// another member has, or a second WeChat identity for the same app, is a 409.
pub async fn link_wechat(
    client: &impl GenericClient,
    member_id: i64,
    app_id: &str,
    openid: &str,
) -> Result<()> {
    if insert(client, member_id, app_id, openid).await? {
        return Ok(());
    }
    let holders = client
        .query_typed(
            "SELECT member_id, subject FROM member_identities
             WHERE provider = 'wechat' AND app_id = $1 AND (subject = $2 OR member_id = $3)",
            &[
                (&app_id, Type::TEXT),
                (&openid, Type::TEXT),
                (&member_id, Type::INT8),
            ],
        )
        .await?;
    let holders: Vec<(i64, String)> = holders.iter().map(|r| (r.get(0), r.get(1))).collect();
    if holders.iter().any(|(m, s)| *m == member_id && s == openid) {
        return Ok(());
    }
    if holders.iter().any(|(m, _)| *m == member_id) {
        return Err(Error::Conflict(
            "another WeChat account is linked to this member; unlink it first".into(),
        ));
    }
    Err(Error::Conflict(
        "this WeChat account belongs to another member; sign in with WeChat to use it".into(),
    ))
}

/// Unlinks the member's WeChat identities, unless WeChat is their only way in (no
/// email and password): 404 when none is linked, 409 when it is the only way in.
pub async fn unlink_wechat(client: &impl GenericClient, member_id: i64) -> Result<()> {
    let removed = client
        .query_typed(
            "DELETE FROM member_identities i USING members m
             WHERE i.member_id = m.id AND m.id = $1 AND i.provider = 'wechat'
               AND m.email IS NOT NULL AND m.password_hash IS NOT NULL
             RETURNING i.id",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    if !removed.is_empty() {
        return Ok(());
    }
    if wechat_linked(client, member_id).await? {
        return Err(Error::Conflict(
            "WeChat is this account's only way to sign in; it cannot be unlinked".into(),
        ));
    }
    Err(Error::NotFound("no WeChat account is linked".into()))
}

async fn wechat_linked(client: &impl GenericClient, member_id: i64) -> Result<bool> {
    Ok(!client
        .query_typed(
            "SELECT 1 FROM member_identities WHERE member_id = $1 AND provider = 'wechat'",
            &[(&member_id, Type::INT8)],
        )
        .await?
        .is_empty())
}

/// Forgets every identity of a member (their account is being deleted).
pub async fn forget(client: &impl GenericClient, member_id: i64) -> Result<()> {
    client
        .query_typed(
            "DELETE FROM member_identities WHERE member_id = $1",
            &[(&member_id, Type::INT8)],
        )
        .await?;
    Ok(())
}
