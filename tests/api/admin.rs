//! The admin API: every route against every kind of caller, plus the life of API
//! tokens, staff accounts and entitlements.

use bianxian_e2e::{TestStack, json, random_suffix, spawn_stack};
use identity::{
    access::Role,
    entitlements::{Product, ProductKind, Requirement, may_access},
};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

pub(crate) async fn create_token(
    stack: &TestStack,
    admin: &str,
    kind: &str,
    scopes: &[&str],
) -> (String, String) {
    let response = stack
        .authed(Method::POST, "/admin/tokens", admin)
        .json(&json!({ "name": format!("{kind} token"), "type": kind, "scopes": scopes, "lifespan": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body = json(response).await;
    (
        body["data"]["documentId"].as_str().unwrap().to_owned(),
        body["data"]["accessKey"].as_str().unwrap().to_owned(),
    )
}

async fn member(stack: &TestStack) -> String {
    let token = stack
        .register(&format!("m-{}@example.com", random_suffix()), PASSWORD)
        .await;
    let me = json(
        stack
            .authed(Method::GET, "/auth/me", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    me["data"]["documentId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_admin_route_checks_the_callers_permission() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (_, editor) = stack.staff_session(Role::Editor).await;
    let (_, author) = stack.staff_session(Role::Author).await;
    let (target_staff, _) = stack.staff_session(Role::Author).await;
    let (_, read_only) = create_token(&stack, &admin, "read-only", &[]).await;
    let (_, full) = create_token(&stack, &admin, "full-access", &[]).await;
    let (_, custom) = create_token(&stack, &admin, "custom", &["entitlements.write"]).await;
    let member = member(&stack).await;

    let principals: [(&str, Option<&str>); 7] = [
        ("anonymous", None),
        ("author", Some(&author)),
        ("editor", Some(&editor)),
        ("admin", Some(&admin)),
        ("read-only", Some(&read_only)),
        ("full-access", Some(&full)),
        ("custom", Some(&custom)),
    ];
    // (method, path, body, who may call it)
    let routes: Vec<(Method, String, Option<Value>, &[&str])> = vec![
        (
            Method::GET,
            "/admin/me".into(),
            None,
            &[
                "author",
                "editor",
                "admin",
                "read-only",
                "full-access",
                "custom",
            ],
        ),
        (Method::GET, "/admin/users".into(), None, &["admin"]),
        (
            Method::POST,
            "/admin/users".into(),
            Some(json!({ "email": "new@example.com", "password": PASSWORD, "role": "author" })),
            &["admin"],
        ),
        (
            Method::PATCH,
            format!("/admin/users/{target_staff}"),
            Some(json!({ "displayName": "改名" })),
            &["admin"],
        ),
        (Method::GET, "/admin/tokens".into(), None, &["admin"]),
        (
            Method::POST,
            "/admin/tokens".into(),
            Some(json!({ "name": "t", "type": "read-only" })),
            &["admin"],
        ),
        (
            Method::DELETE,
            "/admin/tokens/nonexistent".into(),
            None,
            &["admin"],
        ),
        (
            Method::GET,
            format!("/admin/members/{member}/entitlements"),
            None,
            &["admin", "full-access"],
        ),
        (
            Method::POST,
            format!("/admin/members/{member}/entitlements"),
            Some(json!({ "product": { "kind": "plan", "code": "pro" } })),
            &["admin", "full-access", "custom"],
        ),
        (
            Method::DELETE,
            "/admin/entitlements/nonexistent".into(),
            None,
            &["admin", "full-access", "custom"],
        ),
        (
            Method::GET,
            "/admin/audit".into(),
            None,
            &["admin", "read-only", "full-access"],
        ),
        (Method::GET, "/admin/webhooks".into(), None, &["admin"]),
        (
            Method::POST,
            "/admin/webhooks".into(),
            Some(
                json!({ "name": "w", "url": "https://example.com/hook", "events": ["entry.publish"] }),
            ),
            &["admin"],
        ),
        (
            Method::PUT,
            "/admin/webhooks/nonexistent".into(),
            Some(json!({ "enabled": false })),
            &["admin"],
        ),
        (
            Method::DELETE,
            "/admin/webhooks/nonexistent".into(),
            None,
            &["admin"],
        ),
        (
            Method::POST,
            "/admin/webhooks/nonexistent/rotate-secret".into(),
            None,
            &["admin"],
        ),
        (
            Method::GET,
            "/admin/webhooks/nonexistent/deliveries".into(),
            None,
            &["admin"],
        ),
    ];

    for (method, path, body, allowed) in &routes {
        for (name, token) in &principals {
            let mut request = stack.http.request(method.clone(), stack.url(path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let status = request.send().await.unwrap().status().as_u16();
            let expected_ok = allowed.contains(name);
            match (token, expected_ok) {
                (None, _) => assert_eq!(status, 401, "{name} {method} {path}"),
                (Some(_), true) => assert!(
                    ![401, 403].contains(&status) && status < 500,
                    "{name} {method} {path}: {status}"
                ),
                (Some(_), false) => assert_eq!(status, 403, "{name} {method} {path}"),
            }
        }
    }
}

#[tokio::test]
async fn api_tokens_are_shown_once_stored_hashed_and_revocable() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (document_id, token) = create_token(&stack, &admin, "read-only", &[]).await;
    assert!(token.starts_with("bxt_") && token.len() >= 40, "{token}");

    let listed = stack
        .authed(Method::GET, "/admin/tokens", &admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&token), "listing leaks the token");
    assert!(
        !listed.contains("accessKey") && !listed.contains("hash"),
        "{listed}"
    );

    let client = stack.db.client().await;
    let stored: String = client
        .query_one(
            "SELECT token_hash FROM api_tokens WHERE document_id = $1",
            &[&document_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, identity::session::token_hash(&token));
    let leaked: i64 = client
        .query_one("SELECT count(*) FROM api_tokens WHERE row_to_json(api_tokens)::text LIKE '%' || $1 || '%'", &[&token])
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaked, 0);

    let me = stack
        .authed(Method::GET, "/admin/me", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(json(me).await["data"]["type"], "read-only");
    let used: Option<chrono::DateTime<chrono::Utc>> = client
        .query_one(
            "SELECT last_used_at FROM api_tokens WHERE document_id = $1",
            &[&document_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(used.is_some(), "last use is recorded");

    let revoke = stack
        .authed(
            Method::DELETE,
            &format!("/admin/tokens/{document_id}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    let after = stack
        .authed(Method::GET, "/admin/me", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
}

#[tokio::test]
async fn expired_tokens_and_bad_token_requests_are_refused() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let response = stack
        .authed(Method::POST, "/admin/tokens", &admin)
        .json(&json!({ "name": "short-lived", "type": "full-access", "lifespan": 1 }))
        .send()
        .await
        .unwrap();
    let token = json(response).await["data"]["accessKey"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        stack
            .authed(Method::GET, "/admin/me", &token)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    for body in [
        json!({ "name": "x", "type": "root" }),
        json!({ "name": "x", "type": "custom", "scopes": [] }),
        json!({ "name": "x", "type": "custom", "scopes": ["tokens.write"] }),
        json!({ "name": "x", "type": "read-only", "scopes": ["content.read"] }),
        json!({ "name": "", "type": "read-only" }),
        json!({ "name": "x", "type": "read-only", "lifespan": -5 }),
        json!({ "name": "x", "type": "read-only", "extra": true }),
    ] {
        let response = stack
            .authed(Method::POST, "/admin/tokens", &admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
    }
    let forged = format!("bxt_{}", "x".repeat(43));
    assert_eq!(
        stack
            .authed(Method::GET, "/admin/me", &forged)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn staff_sign_in_fails_alike_and_disabling_revokes_sessions() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (author_id, author) = stack.staff_session(Role::Author).await;

    let wrong = json(
        stack
            .post_json(
                "/admin/login",
                &json!({ "email": "nobody@example.com", "password": "whatever!" }),
            )
            .await,
    )
    .await;
    assert_eq!(wrong["error"]["status"], 401);

    let disable = stack
        .authed(Method::PATCH, &format!("/admin/users/{author_id}"), &admin)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), 200);
    assert_eq!(
        stack
            .authed(Method::GET, "/admin/me", &author)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let logout = stack
        .authed(Method::POST, "/admin/logout", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    // The browser drops the cookie instead of sending a revoked token on.
    let cleared = logout.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap();
    assert!(
        cleared.starts_with("bx_admin_session=; Path=/admin; Max-Age=0;"),
        "{cleared}"
    );
    assert_eq!(
        stack
            .authed(Method::GET, "/admin/me", &admin)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn admins_cannot_lock_themselves_out() {
    let stack = spawn_stack().await;
    let (me, admin) = stack.staff_session(Role::Admin).await;
    for body in [json!({ "disabled": true }), json!({ "role": "editor" })] {
        let response = stack
            .authed(Method::PATCH, &format!("/admin/users/{me}"), &admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 409, "{body}");
    }
}

#[tokio::test]
async fn comp_entitlements_unlock_paid_content_until_revoked_or_expired() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let member = member(&stack).await;
    let client = stack.db.client().await;
    let member_id: i64 = client
        .query_one("SELECT id FROM members WHERE document_id = $1", &[&member])
        .await
        .unwrap()
        .get(0);
    let pro = Requirement::Paid(vec![Product {
        kind: ProductKind::Plan,
        code: "pro".into(),
    }]);
    assert!(!may_access(&client, Some(member_id), &pro).await.unwrap());
    assert!(
        may_access(&client, Some(member_id), &Requirement::Members)
            .await
            .unwrap()
    );
    assert!(
        !may_access(&client, None, &Requirement::Members)
            .await
            .unwrap()
    );
    assert!(
        may_access(&client, None, &Requirement::Public)
            .await
            .unwrap()
    );

    let granted = stack
        .authed(
            Method::POST,
            &format!("/admin/members/{member}/entitlements"),
            &admin,
        )
        .json(&json!({ "product": { "kind": "plan", "code": "pro" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), 201);
    let entitlement = json(granted).await["data"]["documentId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(may_access(&client, Some(member_id), &pro).await.unwrap());
    let course = Requirement::Paid(vec![Product {
        kind: ProductKind::Course,
        code: "pro".into(),
    }]);
    assert!(!may_access(&client, Some(member_id), &course).await.unwrap());

    let revoke = stack
        .authed(
            Method::DELETE,
            &format!("/admin/entitlements/{entitlement}"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert!(!may_access(&client, Some(member_id), &pro).await.unwrap());

    let past = stack
        .authed(Method::POST, &format!("/admin/members/{member}/entitlements"), &admin)
        .json(&json!({ "product": { "kind": "plan", "code": "pro" }, "startsAt": "2020-01-01T00:00:00Z", "expiresAt": "2021-01-01T00:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 201);
    assert!(!may_access(&client, Some(member_id), &pro).await.unwrap());

    let backwards = stack
        .authed(Method::POST, &format!("/admin/members/{member}/entitlements"), &admin)
        .json(&json!({ "product": { "kind": "plan", "code": "pro" }, "startsAt": "2021-01-01T00:00:00Z", "expiresAt": "2020-01-01T00:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(backwards.status(), 400);
    // No start means now: an end already past is the caller's mistake, not a 500.
    let ended = stack
        .authed(Method::POST, &format!("/admin/members/{member}/entitlements"), &admin)
        .json(&json!({ "product": { "kind": "plan", "code": "pro" }, "expiresAt": "2021-01-01T00:00:00Z" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 400);
    assert_eq!(
        json(ended).await["error"]["details"]["errors"][0]["path"][0],
        "expiresAt"
    );

    let listed = json(
        stack
            .authed(
                Method::GET,
                &format!("/admin/members/{member}/entitlements"),
                &admin,
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);

    let audit = json(
        stack
            .authed(Method::GET, "/admin/audit", &admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"entitlement.grant") && actions.contains(&"entitlement.revoke"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn an_editor_granted_marketing_manages_the_newsletter_and_nothing_more() {
    let stack = spawn_stack().await;
    let (_, admin) = stack.staff_session(Role::Admin).await;
    let (editor_id, editor) = stack.staff_session(Role::Editor).await;
    let status = |method: Method, path: &'static str, token: String, body: Option<Value>| {
        let stack = &stack;
        async move {
            let mut request = stack.authed(method, path, &token);
            if let Some(body) = body {
                request = request.json(&body);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    let list =
        json!({ "data": { "name": "编辑的名单", "visibility": "private", "optin": "single" } });
    assert_eq!(
        status(Method::GET, "/admin/lists", editor.clone(), None).await,
        403
    );

    let grant = |grants: Value| {
        let (stack, admin, editor_id) = (&stack, admin.clone(), editor_id.clone());
        async move {
            let response = stack
                .authed(Method::PATCH, &format!("/admin/users/{editor_id}"), &admin)
                .json(&json!({ "grants": grants }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), json(response).await)
        }
    };
    let (code, body) = grant(json!(["marketing.read"])).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["grants"], json!(["marketing.read"]));
    assert_eq!(body["data"]["role"], "editor");
    // At once, on the session they already hold.
    assert_eq!(
        status(Method::GET, "/admin/lists", editor.clone(), None).await,
        200
    );
    assert_eq!(
        status(
            Method::POST,
            "/admin/lists",
            editor.clone(),
            Some(list.clone())
        )
        .await,
        403
    );
    let (code, _) = grant(json!([
        "marketing.write",
        "marketing.read",
        "marketing.read"
    ]))
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        status(Method::POST, "/admin/lists", editor.clone(), Some(list)).await,
        201
    );
    let me = json(
        stack
            .authed(Method::GET, "/admin/me", &editor)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        me["data"]["grants"],
        json!(["marketing.read", "marketing.write"])
    );
    // Not a way to make an admin: people, tokens and webhooks are never granted.
    for refused in [
        json!(["staff.write"]),
        json!(["tokens.write"]),
        json!(["webhooks.write"]),
        json!(["no.such"]),
    ] {
        let (code, body) = grant(refused.clone()).await;
        assert_eq!(code, 400, "{refused}: {body}");
    }
    assert_eq!(
        status(Method::GET, "/admin/users", editor.clone(), None).await,
        403
    );
    let (code, _) = grant(json!([])).await;
    assert_eq!(code, 200);
    assert_eq!(status(Method::GET, "/admin/lists", editor, None).await, 403);
}
