//! Member account flows that go through mail: verification, password reset and
//! change, export and deletion. Mail is read back from moto, as a reader would open it.

use bianxian_e2e::{TestStack, json, random_suffix, spawn_stack};
use reqwest::Method;
use serde_json::json;

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new passphrase";

fn email() -> String {
    format!("member-{}@example.com", random_suffix())
}

async fn confirm(stack: &TestStack, token: &str) -> reqwest::Response {
    stack
        .post_json("/auth/verify-email/confirm", &json!({ "token": token }))
        .await
}

async fn me_status(stack: &TestStack, token: &str) -> u16 {
    stack
        .authed(Method::GET, "/auth/me", token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A signed-in member whose email is not verified, as accounts made before
/// registration needed the mailed link are: made in the database, then signed in.
async fn unverified_member(stack: &TestStack, address: &str) -> String {
    let password = identity::password::Password::parse_new(PASSWORD, "password").unwrap();
    let hash = identity::password::hash(&password).await.unwrap();
    let email = identity::email::Email::parse(address).unwrap();
    let client = stack.platform.db.client().await.unwrap();
    identity::members::create(&**client, &email, &hash, "")
        .await
        .unwrap()
        .expect("a new email");
    stack.session(address, PASSWORD).await
}

#[tokio::test]
async fn a_requested_verification_link_works_once_and_signs_in() {
    let stack = spawn_stack().await;
    let address = email();
    let session = unverified_member(&stack, &address).await;
    let sent = stack
        .authed(Method::POST, "/auth/verify-email/send", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let mail = stack.wait_for_mail(&address, 1).await;
    assert_eq!(mail.len(), 1, "one verification mail");
    let token = mail[0].link_token("/verify-email");
    assert!(
        mail[0].html.contains("verify-email?token="),
        "{}",
        mail[0].html
    );

    let confirmed = json(confirm(&stack, &token).await).await;
    assert_eq!(confirmed["data"]["member"]["emailVerified"], true);
    assert!(
        confirmed["data"]["token"]
            .as_str()
            .unwrap()
            .starts_with("bxs_")
    );
    let me = json(
        stack
            .authed(Method::GET, "/auth/me", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["emailVerified"], true);
    // The password is the one the account had: a link without one changes nothing.
    assert_eq!(stack.login(&address, PASSWORD).await.status(), 200);

    for bad in [token, "forged".to_owned(), String::new(), "x".repeat(500)] {
        let response = confirm(&stack, &bad).await;
        assert_eq!(response.status(), 400, "{bad:?}");
        assert_eq!(json(response).await["error"]["name"], "ValidationError");
    }
    let again = stack
        .authed(Method::POST, "/auth/verify-email/send", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409, "already verified");
}

#[tokio::test]
async fn a_verification_link_resent_on_request_is_rate_limited() {
    let stack = spawn_stack().await;
    let address = email();
    let session = unverified_member(&stack, &address).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = stack
            .authed(Method::POST, "/auth/verify-email/send", &session)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [202, 202, 202, 429]);
    assert_eq!(stack.wait_for_mail(&address, 3).await.len(), 3);
}

#[tokio::test]
async fn password_reset_reveals_nothing_and_revokes_every_session() {
    let stack = spawn_stack().await;
    let address = email();
    let first = stack.register(&address, PASSWORD).await;
    let second = stack.session(&address, PASSWORD).await;

    let unknown = email();
    let for_unknown = stack
        .post_json("/auth/forgot-password", &json!({ "email": unknown }))
        .await;
    let for_known = stack
        .post_json(
            "/auth/forgot-password",
            &json!({ "email": address.to_uppercase() }),
        )
        .await;
    assert_eq!(for_unknown.status(), 202);
    assert_eq!(for_known.status(), 202);
    assert_eq!(json(for_unknown).await, json(for_known).await);

    let mail = stack.wait_for_mail(&address, 2).await;
    let reset = mail
        .iter()
        .find(|m| m.text.contains("/reset-password?token="))
        .expect("a reset mail");
    let token = reset.link_token("/reset-password");
    // An unknown address is told it has no account, with nothing to use.
    let note = stack.wait_for_mail(&unknown, 1).await;
    assert_eq!(note.len(), 1);
    assert!(!note[0].text.contains("token="), "{}", note[0].text);
    assert!(note[0].text.contains("/register"), "{}", note[0].text);

    let weak = stack
        .post_json(
            "/auth/reset-password",
            &json!({ "token": token, "password": "short" }),
        )
        .await;
    assert_eq!(weak.status(), 400);
    let done = stack
        .post_json(
            "/auth/reset-password",
            &json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(done.status(), 204);
    let reused = stack
        .post_json(
            "/auth/reset-password",
            &json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reused.status(), 400);

    assert_eq!(me_status(&stack, &first).await, 401);
    assert_eq!(me_status(&stack, &second).await, 401);
    assert_eq!(stack.login(&address, PASSWORD).await.status(), 401);
    assert_eq!(stack.login(&address, NEW_PASSWORD).await.status(), 200);
    let changed = stack.wait_for_mail(&address, 3).await;
    assert!(
        changed.iter().any(|m| !m.text.contains("token=")),
        "a password-changed notice"
    );
}

#[tokio::test]
async fn changing_the_password_rotates_this_session_and_ends_the_others() {
    let stack = spawn_stack().await;
    let address = email();
    let current = stack.register(&address, PASSWORD).await;
    let other = stack.session(&address, PASSWORD).await;

    let wrong = stack
        .authed(Method::POST, "/auth/change-password", &current)
        .json(&json!({ "currentPassword": "not it at all", "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert_eq!(
        me_status(&stack, &other).await,
        200,
        "a failed change revokes nothing"
    );

    let changed = stack
        .authed(Method::POST, "/auth/change-password", &current)
        .json(&json!({ "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    let rotated = json(changed).await["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, current);
    assert_eq!(me_status(&stack, &rotated).await, 200);
    assert_eq!(me_status(&stack, &current).await, 401);
    assert_eq!(me_status(&stack, &other).await, 401);
    assert_eq!(stack.login(&address, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn logout_all_ends_every_session() {
    let stack = spawn_stack().await;
    let address = email();
    let one = stack.register(&address, PASSWORD).await;
    let two = stack.session(&address, PASSWORD).await;
    let response = stack
        .authed(Method::POST, "/auth/logout-all", &one)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(me_status(&stack, &one).await, 401);
    assert_eq!(me_status(&stack, &two).await, 401);
}

#[tokio::test]
async fn export_has_my_data_and_deletion_anonymises_but_keeps_records() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(identity::access::Role::Admin).await;
    let address = email();
    let session = stack.register(&address, PASSWORD).await;
    let me = json(
        stack
            .authed(Method::GET, "/auth/me", &session)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let document_id = me["data"]["documentId"].as_str().unwrap().to_owned();
    let grant = stack
        .authed(
            Method::POST,
            &format!("/admin/members/{document_id}/entitlements"),
            &admin,
        )
        .json(&json!({ "product": { "kind": "course", "code": "prompt-101" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), 201);

    let export = stack
        .authed(Method::GET, "/auth/me/export", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = export.text().await.unwrap();
    assert!(!text.contains("argon2"), "{text}");
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"]["member"]["email"], address);
    assert_eq!(
        body["data"]["entitlements"][0]["product"]["code"],
        "prompt-101"
    );

    let refused = stack
        .authed(Method::DELETE, "/auth/me", &session)
        .json(&json!({ "password": "not my password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let deleted = stack
        .authed(Method::DELETE, "/auth/me", &session)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(me_status(&stack, &session).await, 401);
    assert_eq!(stack.login(&address, PASSWORD).await.status(), 401);

    let client = stack.db.client().await;
    let row = client
        .query_one(
            "SELECT email, display_name, deleted_at IS NOT NULL,
                    (SELECT count(*) FROM entitlements e WHERE e.member_id = m.id)
             FROM members m WHERE document_id = $1",
            &[&document_id],
        )
        .await
        .unwrap();
    let (stored_email, name, gone, kept): (String, String, bool, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert!(!stored_email.contains(&address) && stored_email.ends_with("@deleted.invalid"));
    assert!(name.is_empty() && gone);
    assert_eq!(kept, 1, "financial records stay");

    // The address is free again.
    stack.register(&address, PASSWORD).await;
}
