//! Members for staff: the searched list (Chinese too), a member's account, their live
//! sessions and signing them out everywhere, the CSV export; only admins and tokens
//! given `members.read` read them, and nothing private leaves.

use bianxian_e2e::{TestStack, spawn_stack};
use identity::{
    access::{MemberAccess, Role},
    email::Email,
    identities,
    members::{self, Member},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin::create_token, content_admin::call};

/// A member made directly in the database (password hash `HASH`).
async fn member(stack: &TestStack, email: &str, name: &str) -> Member {
    let client = stack.platform.db.client().await.expect("db");
    let email = Email::parse(email).expect("email");
    members::create(&**client, &email, HASH, name)
        .await
        .expect("create")
        .expect("a new address")
}

const HASH: &str = "$argon2id$v=19$not-a-real-hash";

async fn read(stack: &TestStack, path: &str, token: &str) -> Value {
    let (status, body) = call(stack, Method::GET, path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn names(body: &Value) -> Vec<&str> {
    body["data"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|m| m["displayName"].as_str().expect("displayName"))
        .collect()
}

async fn audit_actions(stack: &TestStack, admin: &str) -> Vec<Value> {
    read(stack, "/admin/audit", admin).await["data"]
        .as_array()
        .expect("entries")
        .clone()
}

#[tokio::test]
async fn staff_find_members_by_email_or_name_newest_first() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    member(&stack, "alice@example.com", "张三").await;
    member(&stack, "bob@example.com", "李四_100%").await;
    let mut client = stack.platform.db.client().await.expect("db");
    let (wechat, _) = identities::sign_in_with_wechat(&mut client, "wx-app", "openid-1")
        .await
        .expect("a WeChat member");
    drop(client);

    let all = read(&stack, "/admin/members", &admin).await;
    assert_eq!(names(&all), ["微信用户", "李四_100%", "张三"], "{all}");
    assert_eq!(
        all["meta"]["pagination"],
        json!({ "page": 1, "pageSize": 25, "pageCount": 1, "total": 3 })
    );
    let first = all["data"][0].as_object().expect("a member");
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "createdAt",
            "displayName",
            "documentId",
            "email",
            "emailVerified"
        ]
    );
    assert_eq!(first["email"], Value::Null);
    assert_eq!(first["documentId"], wechat.document_id.as_str());
    assert!(!all.to_string().contains("argon2"), "{all}");

    for (q, expected) in [
        ("张", vec!["张三"]),
        ("ALICE", vec!["张三"]),
        ("example.com", vec!["李四_100%", "张三"]),
        ("100%", vec!["李四_100%"]),
        ("_", vec!["李四_100%"]),
        ("%", vec!["李四_100%"]),
        ("微信", vec!["微信用户"]),
        ("nobody", vec![]),
    ] {
        let path = format!("/admin/members?q={}", urlencode(q));
        assert_eq!(names(&read(&stack, &path, &admin).await), expected, "q={q}");
    }
    let page = read(&stack, "/admin/members?page=2&pageSize=2", &admin).await;
    assert_eq!(names(&page), ["张三"]);
    assert_eq!(page["meta"]["pagination"]["pageCount"], 2);

    for query in ["pageSize=101", "page=0", "pageSize=x", "q=a%00b"] {
        let (status, body) = call(
            &stack,
            Method::GET,
            &format!("/admin/members?{query}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["status"], 400);
    }
    // Authors, editors and finance never see members.
    for role in [Role::Author, Role::Editor, Role::Finance] {
        let token = stack.staff_token(role).await;
        for path in [
            "/admin/members".to_owned(),
            format!("/admin/members/{}", wechat.document_id),
            format!("/admin/members/{}/sessions", wechat.document_id),
            "/admin/exports/members".to_owned(),
        ] {
            let (status, _) = call(&stack, Method::GET, &path, Some(&token), None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {path}");
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn an_account_its_sessions_and_signing_out_everywhere() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let reader = member(&stack, "reader@example.com", "读者").await;
    let access = MemberAccess::new(&stack.platform);
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (token, _) = access
            .sessions()
            .create(&reader.subject())
            .await
            .expect("session");
        tokens.push(token.expose().to_owned());
    }
    let id = &reader.document_id;
    let (status, body) = call(
        &stack,
        Method::POST,
        &format!("/admin/members/{id}/entitlements"),
        Some(&admin),
        Some(json!({ "product": { "kind": "plan", "code": "pro" } })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let account = read(&stack, &format!("/admin/members/{id}"), &admin).await;
    let data = &account["data"];
    assert_eq!(data["documentId"], id.as_str());
    assert_eq!(data["email"], "reader@example.com");
    assert_eq!(data["displayName"], "读者");
    assert_eq!(data["emailVerified"], false);
    assert_eq!(data["identities"], json!([]));
    assert_eq!(
        data["entitlements"][0]["product"]["code"], "pro",
        "{account}"
    );
    assert_eq!(data["orders"], 0);
    assert!(!account.to_string().contains("argon2"), "{account}");

    // A read-only token sits in a frontend server: it lists no members. A token
    // granted `members.read` does; the sessions carry neither tokens nor hashes.
    let (_, read_only) = create_token(&stack, &admin, "read-only", &[]).await;
    for path in [
        format!("/admin/members/{id}/sessions"),
        "/admin/members".into(),
        "/admin/exports/members".into(),
    ] {
        let (status, _) = call(&stack, Method::GET, &path, Some(&read_only), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, members_reader) = create_token(&stack, &admin, "custom", &["members.read"]).await;
    let (status, listed) = call(
        &stack,
        Method::GET,
        &format!("/admin/members/{id}/sessions"),
        Some(&members_reader),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let sessions = listed["data"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{listed}");
    for session in sessions {
        let mut keys: Vec<&str> = session
            .as_object()
            .expect("a session")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["createdAt", "expiresAt", "lastUsedAt"]);
        let at = |field: &str| {
            chrono::DateTime::parse_from_rfc3339(session[field].as_str().expect(field))
                .expect("a time")
        };
        assert!(at("createdAt") <= at("lastUsedAt"), "{session}");
        assert!(at("lastUsedAt") < at("expiresAt"), "{session}");
    }
    let text = listed.to_string();
    for token in &tokens {
        assert!(!text.contains(token.as_str()));
        assert!(!text.contains(&identity::session::token_hash(token)));
    }

    // Signing out everywhere takes `members.write`: reading members is not enough.
    let path = format!("/admin/members/{id}/sessions");
    let (status, _) = call(&stack, Method::DELETE, &path, Some(&members_reader), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, me) = call(&stack, Method::GET, "/auth/me", Some(&tokens[0]), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, revoked) = call(&stack, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["data"]["revoked"], 2);
    for token in &tokens {
        let (status, _) = call(&stack, Method::GET, "/auth/me", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(read(&stack, &path, &admin).await["data"], json!([]));
    let entry = audit_actions(&stack, &admin).await.into_iter().find(|e| {
        e["action"] == "member.sessions.revoke" && e["subject"] == reader.subject().as_str()
    });
    assert_eq!(entry.expect("audited")["details"], json!({ "revoked": 2 }));

    for (method, path) in [
        (Method::GET, "/admin/members/nobody0000000000000000"),
        (
            Method::GET,
            "/admin/members/nobody0000000000000000/sessions",
        ),
        (
            Method::DELETE,
            "/admin/members/nobody0000000000000000/sessions",
        ),
    ] {
        let (status, body) = call(&stack, method, path, Some(&admin), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"]["status"], 404);
    }
}

#[tokio::test]
async fn the_member_export_is_csv_with_formulas_defused_and_audited() {
    let stack = spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    member(&stack, "first@example.com", "王五, 作者").await;
    member(&stack, "second@example.com", "=HYPERLINK(\"x\")").await;
    member(&stack, "other@elsewhere.org", "别处").await;

    let response = stack
        .authed(Method::GET, "/admin/exports/members?q=example.com", &admin)
        .send()
        .await
        .expect("export");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/csv")
    );
    let csv = response.text().await.expect("csv");
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "documentId,email,displayName,emailVerified,createdAt"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].contains("second@example.com"), "{csv}");
    assert!(
        !lines[1].contains(",=HYPERLINK"),
        "a formula must not start a cell: {csv}"
    );
    assert!(lines[2].contains("\"王五, 作者\""), "{csv}");
    assert!(!csv.contains("argon2"));
    let entry = audit_actions(&stack, &admin)
        .await
        .into_iter()
        .find(|e| e["action"] == "member.export")
        .expect("audited");
    assert_eq!(entry["details"], json!({ "q": "example.com", "rows": 2 }));

    let author = stack.staff_token(Role::Author).await;
    let (status, _) = call(
        &stack,
        Method::GET,
        "/admin/exports/members",
        Some(&author),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
