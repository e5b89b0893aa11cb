//! The route tables against template.yaml and against every kind of caller.
//!
//! Each function declares its routes once (`ROUTES`: method, path, guard, handler);
//! the first test fails when a function's table and template.yaml disagree, in
//! either direction, so no route is reachable without a guard and no guarded route is
//! unreachable; the OpenAPI tests hold docs/openapi.json to the tables. The second calls every route of admin, auth, content-api, feeds, health and
//! the fallback as each kind of caller and asserts the exact status; content-admin's
//! routes, whose allowed calls need real targets, have their own matrix in
//! content_access.rs (with the same kinds of caller).

use std::collections::{BTreeMap, BTreeSet};

use bianxian_e2e::{TestStack, random_suffix};
use bianxian_local::template;
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{admin::create_token, content_admin::call};

fn keys<S>(routes: &[identity::route::Route<S>]) -> BTreeSet<String> {
    routes.iter().map(|route| route.key()).collect()
}

#[test]
fn every_function_serves_exactly_its_template_routes() {
    let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for route in template::routes(include_str!("../../template.yaml")).expect("template routes") {
        declared
            .entry(route.function.clone())
            .or_default()
            .insert(route.key());
    }
    let tables = BTreeMap::from([
        ("admin".to_owned(), keys(admin::ROUTES)),
        ("auth".to_owned(), keys(auth::ROUTES)),
        ("content-admin".to_owned(), keys(content_admin::ROUTES)),
        ("commerce-admin".to_owned(), keys(commerce_admin::ROUTES)),
        ("commerce-api".to_owned(), keys(commerce_api::ROUTES)),
        ("newsletter".to_owned(), keys(newsletter::ROUTES)),
        ("campaigns".to_owned(), keys(campaigns::ROUTES)),
        ("dashboard".to_owned(), keys(dashboard::ROUTES)),
        ("payment-webhook".to_owned(), keys(payment_webhook::ROUTES)),
        ("content-api".to_owned(), keys(content_api::ROUTES)),
        ("feeds".to_owned(), keys(feeds::ROUTES)),
        ("health".to_owned(), keys(health::ROUTES)),
        ("openapi".to_owned(), keys(openapi::ROUTES)),
    ]);
    // The fallback has no table: it is the `$default` route, the 404 for the rest.
    let fallback = declared.remove("fallback").expect("a fallback function");
    assert_eq!(fallback, BTreeSet::from(["$default".to_owned()]));
    // Nor has the console: it serves the web app's files (tests/api/console.rs).
    let console = declared.remove("console").expect("a console function");
    assert_eq!(
        console,
        BTreeSet::from([
            "GET /console".to_owned(),
            "GET /console/{proxy+}".to_owned()
        ])
    );
    assert_eq!(
        declared.keys().collect::<Vec<_>>(),
        tables.keys().collect::<Vec<_>>(),
        "every HTTP function in template.yaml has a route table"
    );
    for (function, table) in &tables {
        assert_eq!(
            &declared[function], table,
            "{function}: template.yaml and the route table differ"
        );
    }
}

/// docs/openapi.json is what the route tables generate (regenerate it with
/// `cargo run -q -p bianxian-local -- openapi > openapi.tmp && mv openapi.tmp docs/openapi.json`).
#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let committed: Value =
        serde_json::from_str(openapi::DOCUMENT).expect("docs/openapi.json is JSON");
    assert!(
        committed == bianxian_local::openapi::document(),
        "docs/openapi.json is stale: run `cargo run -q -p bianxian-local -- openapi > openapi.tmp && mv openapi.tmp docs/openapi.json`"
    );
}

/// Every route of template.yaml is an operation of the document, described.
#[test]
fn every_route_is_described() {
    let document = bianxian_local::openapi::document();
    for route in template::routes(include_str!("../../template.yaml")).expect("template routes") {
        // Not API operations: the 404 for the rest, and the console's files.
        if route.function == "fallback" || route.function == "console" {
            continue;
        }
        let key = route.key();
        let (method, path) = key.split_once(' ').expect("METHOD /path");
        let operation = &document["paths"][path][method.to_ascii_lowercase()];
        assert!(
            operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{key} has no description in the OpenAPI document"
        );
        assert!(
            operation["responses"]["default"].is_object(),
            "{key}: no error answer"
        );
        assert!(operation["security"].is_array(), "{key}: no security");
        let params = operation["parameters"].as_array().expect("parameters");
        for name in path
            .split('/')
            .filter_map(|p| p.strip_prefix('{')?.strip_suffix('}'))
        {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{key}: path parameter {name} undescribed"
            );
        }
    }
}

/// The kinds of caller, as the issue of the route tables lists them.
const CALLERS: [&str; 9] = [
    "anonymous",
    "member",
    "author",
    "editor",
    "finance",
    "admin",
    "read-only",
    "full-access",
    "custom",
];

/// A custom token's scopes: a read and a write that no role below admin has.
const CUSTOM_SCOPES: [&str; 2] = ["members.read", "entitlements.write"];

const STAFF: [&str; 4] = ["author", "editor", "finance", "admin"];
const TOKENS: [&str; 3] = ["read-only", "full-access", "custom"];

/// The status `caller` must get from `key`, called with [`request`]'s path and body.
fn expected(key: &str, caller: &str) -> StatusCode {
    use StatusCode as S;
    let staff = STAFF.contains(&caller);
    let token = TOKENS.contains(&caller);
    // Guards that let one set of callers through; everyone else without a staff
    // credential is unknown (401), everyone else with one is not allowed (403).
    let only = |allowed: &[&str], status: StatusCode| {
        if allowed.contains(&caller) {
            status
        } else if staff || token {
            S::FORBIDDEN
        } else {
            S::UNAUTHORIZED
        }
    };
    let member_only = |status| {
        if caller == "member" {
            status
        } else {
            S::UNAUTHORIZED
        }
    };
    match key {
        // Public; the bodies are wrong, so everyone gets the same answer.
        "POST /admin/login" | "POST /auth/login" => S::UNAUTHORIZED,
        "POST /auth/register" | "POST /auth/verify-email/confirm" | "POST /auth/reset-password" => {
            S::BAD_REQUEST
        }
        "POST /auth/forgot-password" => S::ACCEPTED,
        // To WeChat, whoever asks; back without the flow's cookie, refused.
        "GET /auth/wechat/login" => S::FOUND,
        "GET /auth/wechat/callback" => S::BAD_REQUEST,
        // Public, and unsigned: refused whoever calls.
        "POST /webhooks/stripe" | "POST /webhooks/alipay" | "POST /webhooks/wechat" => {
            S::BAD_REQUEST
        }
        // The newsletter: public; without a token or with a wrong body, refused.
        "POST /newsletter/subscribe"
        | "POST /newsletter/confirm"
        | "GET /newsletter/unsubscribe"
        | "POST /newsletter/unsubscribe"
        | "GET /newsletter/preferences"
        | "PUT /newsletter/preferences"
        | "GET /t/o/{token}"
        | "GET /t/c/{token}" => S::BAD_REQUEST,
        "GET /health"
        | "GET /newsletter/lists"
        | "GET /openapi.json"
        | "GET /products"
        | "GET /api/articles"
        | "GET /api/authors"
        | "GET /api/categories"
        | "GET /api/tags"
        | "GET /rss.xml"
        | "GET /atom.xml"
        | "GET /sitemap.xml" => S::OK,
        "GET /api/articles/{documentId}"
        | "GET /api/authors/{documentId}"
        | "GET /api/categories/{documentId}"
        | "GET /api/tags/{documentId}"
        | "GET /categories/{slug}/rss.xml"
        | "GET /categories/{slug}/atom.xml"
        | "GET /tags/{slug}/rss.xml"
        | "GET /tags/{slug}/atom.xml"
        | "GET /authors/{slug}/rss.xml"
        | "GET /authors/{slug}/atom.xml"
        | "GET /sitemaps/{file}"
        | "GET /nowhere" => S::NOT_FOUND,
        // Any staff credential.
        "GET /admin/me" => only(
            &[
                "author",
                "editor",
                "finance",
                "admin",
                "read-only",
                "full-access",
                "custom",
            ],
            S::OK,
        ),
        // Any staff credential; what it shows depends on the permissions.
        "GET /admin/dashboard" => only(
            &[
                "author",
                "editor",
                "finance",
                "admin",
                "read-only",
                "full-access",
                "custom",
            ],
            S::OK,
        ),
        "POST /admin/logout" if token => S::BAD_REQUEST,
        "POST /admin/logout" => only(&STAFF, S::NO_CONTENT),
        // Admins only: tokens never manage staff, tokens or webhooks.
        "GET /admin/users" | "GET /admin/tokens" | "GET /admin/webhooks" => only(&["admin"], S::OK),
        "POST /admin/users" | "POST /admin/tokens" | "POST /admin/webhooks" => {
            only(&["admin"], S::CREATED)
        }
        "PATCH /admin/users/{documentId}"
        | "DELETE /admin/tokens/{documentId}"
        | "PUT /admin/webhooks/{documentId}"
        | "DELETE /admin/webhooks/{documentId}"
        | "POST /admin/webhooks/{documentId}/rotate-secret"
        | "GET /admin/webhooks/{documentId}/deliveries" => only(&["admin"], S::NOT_FOUND),
        // `members.read`: admins and the tokens granted it (never read-only ones).
        "GET /admin/members/{documentId}/entitlements"
        | "GET /admin/members/{documentId}"
        | "GET /admin/members/{documentId}/sessions" => {
            only(&["admin", "full-access", "custom"], S::NOT_FOUND)
        }
        "GET /admin/members" | "GET /admin/exports/members" => {
            only(&["admin", "full-access", "custom"], S::OK)
        }
        // `members.write`: the custom token lacks it.
        "DELETE /admin/members/{documentId}/sessions" => {
            only(&["admin", "full-access"], S::NOT_FOUND)
        }
        "POST /admin/members/{documentId}/entitlements"
        | "DELETE /admin/entitlements/{documentId}" => {
            only(&["admin", "full-access", "custom"], S::NOT_FOUND)
        }
        // `audit.read`: the custom token lacks it.
        "GET /admin/audit" => only(&["admin", "read-only", "full-access"], S::OK),
        // The catalogue: `payments.read` (finance) reads, `payments.write` writes;
        // read-only tokens have neither.
        "GET /admin/products"
        | "GET /admin/promotions"
        | "GET /admin/orders"
        | "GET /admin/revenue"
        | "GET /admin/exports/orders" => only(&["finance", "admin", "full-access"], S::OK),
        "GET /admin/products/{documentId}"
        | "GET /admin/promotions/{documentId}"
        | "GET /admin/orders/{documentId}" => {
            only(&["finance", "admin", "full-access"], S::NOT_FOUND)
        }
        "POST /admin/products" | "POST /admin/promotions" => {
            only(&["admin", "full-access"], S::BAD_REQUEST)
        }
        "PUT /admin/products/{documentId}"
        | "PUT /admin/promotions/{documentId}"
        | "POST /admin/orders/{documentId}/refunds" => {
            only(&["admin", "full-access"], S::NOT_FOUND)
        }
        // Marketing: admins and full-access tokens (read-only tokens never see
        // subscribers; the custom token lacks the scopes).
        "GET /admin/lists"
        | "GET /admin/subscribers"
        | "GET /admin/suppressions"
        | "GET /admin/templates"
        | "GET /admin/campaigns"
        | "GET /admin/automations"
        | "GET /admin/segments"
        | "GET /admin/exports/subscribers" => only(&["admin", "full-access"], S::OK),
        // No CSV sent.
        "POST /admin/subscribers/import" => {
            only(&["admin", "full-access"], S::UNSUPPORTED_MEDIA_TYPE)
        }
        "GET /admin/lists/{documentId}"
        | "GET /admin/subscribers/{documentId}"
        | "DELETE /admin/lists/{documentId}"
        | "DELETE /admin/subscribers/{documentId}"
        | "DELETE /admin/suppressions/{email}"
        | "GET /admin/templates/{documentId}"
        | "DELETE /admin/templates/{documentId}"
        | "GET /admin/campaigns/{documentId}"
        | "GET /admin/campaigns/{documentId}/stats"
        | "DELETE /admin/campaigns/{documentId}"
        | "POST /admin/campaigns/{documentId}/send"
        | "POST /admin/campaigns/{documentId}/pause"
        | "POST /admin/campaigns/{documentId}/resume"
        | "POST /admin/campaigns/{documentId}/cancel"
        | "GET /admin/automations/{documentId}"
        | "GET /admin/subscribers/{documentId}/activity"
        | "GET /admin/segments/{documentId}"
        | "DELETE /admin/segments/{documentId}"
        | "DELETE /admin/automations/{documentId}"
        | "POST /admin/automations/{documentId}/activate"
        | "POST /admin/automations/{documentId}/pause" => {
            only(&["admin", "full-access"], S::NOT_FOUND)
        }
        "POST /admin/lists"
        | "POST /admin/subscribers"
        | "POST /admin/suppressions"
        | "PUT /admin/lists/{documentId}"
        | "PUT /admin/subscribers/{documentId}"
        | "POST /admin/templates"
        | "POST /admin/templates/preview"
        | "PUT /admin/templates/{documentId}"
        | "POST /admin/campaigns"
        | "PUT /admin/campaigns/{documentId}"
        | "POST /admin/campaigns/{documentId}/schedule"
        | "POST /admin/campaigns/{documentId}/test"
        | "POST /admin/automations"
        | "PUT /admin/automations/{documentId}"
        | "POST /admin/segments"
        | "POST /admin/segments/preview"
        | "PUT /admin/segments/{documentId}"
        // `mail.send`: the custom token lacks it.
        | "POST /admin/tx" => only(&["admin", "full-access"], S::BAD_REQUEST),
        // Members only.
        "POST /auth/logout" | "POST /auth/logout-all" => member_only(S::NO_CONTENT),
        "GET /auth/me" | "GET /auth/me/export" | "GET /me/orders" | "GET /me/subscriptions" => {
            member_only(S::OK)
        }
        "GET /orders/{documentId}" | "POST /me/subscriptions/{documentId}/cancel" => {
            member_only(S::NOT_FOUND)
        }
        "POST /auth/verify-email/send" => member_only(S::ACCEPTED),
        "GET /auth/wechat/link" => member_only(S::FOUND),
        "GET /auth/me/identities" => member_only(S::OK),
        "DELETE /auth/me/wechat" => member_only(S::NOT_FOUND),
        "DELETE /auth/me" | "POST /auth/change-password" | "POST /checkout" => {
            member_only(S::BAD_REQUEST)
        }
        other => panic!("no expectation for `{other}`"),
    }
}

/// The path (with a documentId nobody has) and body `key` is called with.
fn request(key: &str) -> (Method, String, Option<Value>) {
    let (method, pattern) = key.split_once(' ').expect("METHOD /path");
    let path = pattern
        .replace("{documentId}", "nobody0000000000000000")
        .replace("{email}", "nobody@example.com")
        .replace("{token}", "not.a-token")
        .replace("{slug}", "nobody-0000")
        .replace("{file}", "nowhere-1.xml");
    let unique = random_suffix();
    let body = match key {
        // Unique, so the per-account limits never answer instead.
        "POST /admin/login" | "POST /auth/login" => Some(
            json!({ "email": format!("{unique}@example.com"), "password": "wrong password 1" }),
        ),
        "POST /auth/register" => Some(json!({ "email": "not-an-email", "password": "x" })),
        "POST /auth/verify-email/confirm" => Some(json!({ "token": "bogus" })),
        "POST /auth/reset-password" => {
            Some(json!({ "token": "bogus", "password": "a new password 1" }))
        }
        "POST /auth/forgot-password" => Some(json!({ "email": format!("{unique}@example.com") })),
        "DELETE /auth/me" => Some(json!({ "password": "wrong password 1" })),
        "POST /admin/orders/{documentId}/refunds" => Some(json!({ "data": {} })),
        "POST /newsletter/subscribe" => Some(json!({ "email": "not-an-email" })),
        "POST /newsletter/confirm" => Some(json!({ "token": "bogus" })),
        // A price nobody sells.
        "POST /checkout" => Some(json!({
            "price": "nobody0000000000000000", "channel": "stripe", "method": "payment_intent",
        })),
        "POST /auth/change-password" => Some(
            json!({ "currentPassword": "wrong password 1", "newPassword": "a new password 1" }),
        ),
        "POST /admin/users" => Some(json!({
            "email": format!("{unique}@staff.example.com"),
            "password": "staff password 1",
            "role": "author",
        })),
        "PATCH /admin/users/{documentId}" => Some(json!({})),
        "POST /admin/tokens" => {
            Some(json!({ "name": unique, "type": "read-only", "lifespan": null }))
        }
        "POST /admin/members/{documentId}/entitlements" => {
            Some(json!({ "product": { "kind": "plan", "code": "pro" } }))
        }
        "POST /admin/webhooks" => Some(json!({
            "name": unique,
            "url": "https://example.com/hook",
            "events": ["entry.publish"],
        })),
        "PUT /admin/webhooks/{documentId}" => Some(json!({ "enabled": false })),
        // Incomplete: a 400 once the guard lets it through.
        "POST /admin/products"
        | "PUT /admin/products/{documentId}"
        | "POST /admin/promotions"
        | "PUT /admin/promotions/{documentId}"
        | "POST /admin/lists"
        | "PUT /admin/lists/{documentId}"
        | "POST /admin/subscribers"
        | "PUT /admin/subscribers/{documentId}"
        | "POST /admin/suppressions"
        | "POST /admin/templates"
        | "POST /admin/templates/preview"
        | "PUT /admin/templates/{documentId}"
        | "POST /admin/campaigns"
        | "PUT /admin/campaigns/{documentId}"
        | "POST /admin/campaigns/{documentId}/schedule"
        | "POST /admin/campaigns/{documentId}/test"
        | "POST /admin/automations"
        | "PUT /admin/automations/{documentId}"
        | "POST /admin/segments"
        | "POST /admin/segments/preview"
        | "PUT /admin/segments/{documentId}"
        | "POST /admin/tx" => Some(json!({ "data": {} })),
        _ => None,
    };
    (method.parse().expect("method"), path, body)
}

/// A new credential for `caller`.
async fn credential(stack: &TestStack, caller: &str, admin: &str) -> Option<String> {
    Some(match caller {
        "anonymous" => return None,
        "member" => stack.member_session().await,
        "author" => stack.staff_token(Role::Author).await,
        "editor" => stack.staff_token(Role::Editor).await,
        "finance" => stack.staff_token(Role::Finance).await,
        "admin" => stack.staff_token(Role::Admin).await,
        "custom" => create_token(stack, admin, "custom", &CUSTOM_SCOPES).await.1,
        kind => create_token(stack, admin, kind, &[]).await.1,
    })
}

#[tokio::test]
async fn every_route_answers_every_kind_of_caller_exactly() {
    let stack = bianxian_e2e::spawn_stack().await;
    let admin = stack.staff_token(Role::Admin).await;
    let mut credentials = Vec::new();
    for caller in CALLERS {
        credentials.push((caller, credential(&stack, caller, &admin).await));
    }
    let mut routes: Vec<String> = [
        keys(admin::ROUTES),
        keys(auth::ROUTES),
        keys(commerce_admin::ROUTES),
        keys(commerce_api::ROUTES),
        keys(newsletter::ROUTES),
        keys(campaigns::ROUTES),
        keys(dashboard::ROUTES),
        keys(payment_webhook::ROUTES),
        keys(content_api::ROUTES),
        keys(feeds::ROUTES),
        keys(health::ROUTES),
        keys(openapi::ROUTES),
    ]
    .into_iter()
    .flatten()
    .collect();
    routes.push("GET /nowhere".to_owned());
    for key in &routes {
        for (caller, token) in &credentials {
            let (method, path, body) = request(key);
            // A sign-out ends the session it is called with: it gets one of its own.
            let token = match key.contains("logout") {
                true => credential(&stack, caller, &admin).await,
                false => token.clone(),
            };
            let (status, answer) = call(
                &stack,
                method.clone(),
                &path,
                token.as_deref(),
                body.clone(),
            )
            .await;
            assert_eq!(status, expected(key, caller), "{caller} {key}: {answer}");
            // WeChat Pay reads its own failure body, `{"code":"FAIL","message":…}`.
            if !status.is_success() && key == "POST /webhooks/wechat" {
                assert_eq!(answer["code"], "FAIL", "{caller} {key}: {answer}");
            } else if !status.is_success() && !status.is_redirection() {
                assert!(
                    answer["error"]["status"] == status.as_u16(),
                    "{caller} {key}: no error envelope: {answer}"
                );
            }
        }
    }
}
