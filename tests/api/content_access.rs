//! Every content-admin route against every kind of caller (those of routes.rs, with
//! an author on their own and on another's documents), with the exact status each one
//! gets, allowed calls made on real targets. The routes are read from template.yaml,
//! so a route added there without a row here fails the test instead of going
//! unchecked.

use std::collections::BTreeSet;

use bianxian_e2e::TestStack;
use bianxian_local::template;
use chrono::{Duration, Utc};
use identity::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    admin::create_token,
    content_admin::{call, draft},
    uploads,
};

/// What a route acts on; each call gets a fresh one, so every allowed call can succeed.
#[derive(Clone, Copy)]
enum Target {
    Nothing,
    /// A members-only draft by the calling author (`author-own`), else by another
    /// author.
    Draft,
    /// A published members-only article by another author.
    Published,
    /// An entry of `/admin/{kind}` (authors, categories, tags).
    Entry(&'static str),
    /// An upload whose bytes are in S3, by the calling author (`author-own`), else by
    /// another author.
    Upload,
}

/// One route: what it needs, the status of a successful call, and who may call it.
struct Row {
    key: String,
    target: Target,
    body: Option<Value>,
    success: StatusCode,
    allowed: &'static [&'static str],
}

const PRINCIPALS: [&str; 10] = [
    "anonymous",
    "member",
    "author",
    "author-own",
    "editor",
    "finance",
    "admin",
    "read-only",
    "full-access",
    "custom",
];
const WRITERS: &[&str] = &["editor", "admin", "full-access", "custom"];
const PUBLISHERS: &[&str] = &["editor", "admin", "full-access"];
/// `content.read`: every role but finance, and the read-only token.
const READERS: &[&str] = &[
    "author",
    "author-own",
    "editor",
    "admin",
    "read-only",
    "full-access",
];

fn rows() -> Vec<Row> {
    let row = |key: &str, target, body, success, allowed| Row {
        key: key.to_owned(),
        target,
        body,
        success,
        allowed,
    };
    let publish_at = (Utc::now() + Duration::days(1)).to_rfc3339();
    let mut rows = vec![
        row(
            "POST /admin/articles",
            Target::Nothing,
            Some(json!({ "data": { "title": "矩阵文章" } })),
            StatusCode::CREATED,
            &[
                "author",
                "author-own",
                "editor",
                "admin",
                "full-access",
                "custom",
            ],
        ),
        row(
            "PUT /admin/articles/{documentId}",
            Target::Draft,
            Some(json!({ "data": { "title": "改过" } })),
            StatusCode::OK,
            &["author-own", "editor", "admin", "full-access", "custom"],
        ),
        row(
            "POST /admin/articles/{documentId}/publish",
            Target::Draft,
            None,
            StatusCode::OK,
            PUBLISHERS,
        ),
        row(
            "POST /admin/articles/{documentId}/unpublish",
            Target::Draft,
            None,
            StatusCode::OK,
            PUBLISHERS,
        ),
        row(
            "DELETE /admin/articles/{documentId}",
            Target::Draft,
            None,
            StatusCode::NO_CONTENT,
            WRITERS,
        ),
        row(
            "POST /admin/articles/{documentId}/schedule",
            Target::Draft,
            Some(json!({ "data": { "publishAt": publish_at } })),
            StatusCode::OK,
            PUBLISHERS,
        ),
        row(
            "DELETE /admin/articles/{documentId}/schedule",
            Target::Draft,
            None,
            StatusCode::OK,
            PUBLISHERS,
        ),
        // Reading needs `content.read`, which every role and the read-only token have
        // and a custom token with only `content.write` lacks.
        row(
            "GET /admin/articles",
            Target::Nothing,
            None,
            StatusCode::OK,
            READERS,
        ),
        row(
            "GET /admin/articles/{documentId}",
            Target::Published,
            None,
            StatusCode::OK,
            READERS,
        ),
        // Previewing is part of writing: whoever may write may preview.
        row(
            "POST /admin/articles/preview",
            Target::Nothing,
            Some(json!({ "body": "# 预览" })),
            StatusCode::OK,
            &[
                "author",
                "author-own",
                "editor",
                "admin",
                "full-access",
                "custom",
            ],
        ),
        row(
            "GET /admin/articles/{documentId}/revisions",
            Target::Published,
            None,
            StatusCode::OK,
            &[
                "author",
                "author-own",
                "editor",
                "admin",
                "read-only",
                "full-access",
            ],
        ),
        row(
            "POST /admin/articles/{documentId}/revisions/{revision}/restore",
            Target::Draft,
            None,
            StatusCode::OK,
            &["author-own", "editor", "admin", "full-access", "custom"],
        ),
    ];
    rows.extend([
        row(
            "POST /admin/uploads",
            Target::Nothing,
            Some(uploads::request(
                "cover.png",
                "image/png",
                uploads::PNG.len(),
            )),
            StatusCode::CREATED,
            &[
                "author",
                "author-own",
                "editor",
                "admin",
                "full-access",
                "custom",
            ],
        ),
        // The media library is a read.
        row(
            "GET /admin/uploads",
            Target::Nothing,
            None,
            StatusCode::OK,
            &[
                "author",
                "author-own",
                "editor",
                "admin",
                "read-only",
                "full-access",
            ],
        ),
        row(
            "POST /admin/uploads/{documentId}/complete",
            Target::Upload,
            None,
            StatusCode::OK,
            &["author-own", "editor", "admin", "full-access", "custom"],
        ),
    ]);
    for kind in ["authors", "categories", "tags"] {
        rows.extend([
            row(
                &format!("POST /admin/{kind}"),
                Target::Nothing,
                Some(json!({ "data": { "name": "矩阵" } })),
                StatusCode::CREATED,
                WRITERS,
            ),
            row(
                &format!("PUT /admin/{kind}/{{documentId}}"),
                Target::Entry(kind),
                Some(json!({ "data": { "name": "改名" } })),
                StatusCode::OK,
                WRITERS,
            ),
            row(
                &format!("DELETE /admin/{kind}/{{documentId}}"),
                Target::Entry(kind),
                None,
                StatusCode::NO_CONTENT,
                WRITERS,
            ),
        ]);
    }
    rows
}

/// The content-admin route keys template.yaml declares.
fn template_keys() -> BTreeSet<String> {
    template::routes(include_str!("../../template.yaml"))
        .expect("template routes")
        .into_iter()
        .filter(|route| route.function == "content-admin")
        .map(|route| route.key())
        .collect()
}

/// The credentials of every principal but `anonymous`, by name.
struct Principals {
    tokens: Vec<(&'static str, String)>,
    admin: String,
    other_author: String,
}

impl Principals {
    async fn new(stack: &TestStack) -> Self {
        let (_, author) = stack.staff_session(Role::Author).await;
        let (_, other_author) = stack.staff_session(Role::Author).await;
        let (_, editor) = stack.staff_session(Role::Editor).await;
        let (_, finance) = stack.staff_session(Role::Finance).await;
        let (_, admin) = stack.staff_session(Role::Admin).await;
        let (_, read_only) = create_token(stack, &admin, "read-only", &[]).await;
        let (_, full) = create_token(stack, &admin, "full-access", &[]).await;
        let (_, custom) = create_token(stack, &admin, "custom", &["content.write"]).await;
        Principals {
            tokens: vec![
                ("member", stack.member_session().await),
                ("author", author.clone()),
                ("author-own", author),
                ("editor", editor),
                ("finance", finance),
                ("admin", admin.clone()),
                ("read-only", read_only),
                ("full-access", full),
                ("custom", custom),
            ],
            admin,
            other_author,
        }
    }

    fn token(&self, name: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, token)| token.as_str())
    }

    /// A fresh target for `principal`, as the path's documentId.
    async fn target(&self, stack: &TestStack, target: Target, principal: &str) -> String {
        match target {
            Target::Nothing => String::new(),
            Target::Draft => {
                let owner = match principal {
                    "author-own" => self.token("author-own").expect("author"),
                    _ => &self.other_author,
                };
                draft(stack, owner, gated_article()).await
            }
            Target::Published => {
                let document_id = draft(stack, &self.other_author, gated_article()).await;
                let path = format!("/admin/articles/{document_id}/publish");
                let (status, body) =
                    call(stack, Method::POST, &path, Some(&self.admin), None).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                document_id
            }
            Target::Upload => {
                let owner = match principal {
                    "author-own" => self.token("author-own").expect("author"),
                    _ => &self.other_author,
                };
                let request = uploads::request("cover.png", "image/png", uploads::PNG.len());
                let (status, upload) = uploads::create(stack, owner, request).await;
                assert_eq!(status, StatusCode::CREATED, "{upload}");
                let upload = &upload["data"];
                let put = uploads::put(stack, upload, "image/png", uploads::PNG).await;
                assert!(put.is_success(), "PUT to S3: {put}");
                upload["documentId"]
                    .as_str()
                    .expect("documentId")
                    .to_owned()
            }
            Target::Entry(kind) => {
                let (status, body) = call(
                    stack,
                    Method::POST,
                    &format!("/admin/{kind}"),
                    Some(&self.admin),
                    Some(json!({ "data": { "name": "目标" } })),
                )
                .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                body["data"]["documentId"]
                    .as_str()
                    .expect("documentId")
                    .to_owned()
            }
        }
    }
}

/// The paid part of every article the matrix makes; the free part is `免费开头`.
const SECRET: &str = "付费秘密正文";

fn gated_article() -> Value {
    json!({
        "title": "矩阵草稿",
        "visibility": "members",
        "body": format!("免费开头\n\n<!--members-only-->\n\n{SECRET}"),
    })
}

/// The token rule (`content::gate::Reader::staff`) on one answer: API tokens read a
/// published gated body as visitors do, staff sessions read it whole, and drafts are
/// whole for everyone allowed to read them.
fn check_token_rule(principal: &str, row: &Row, answer: &Value) {
    if !matches!(row.target, Target::Draft | Target::Published) {
        return;
    }
    let data = &answer["data"];
    let bodies: Vec<&str> = match data {
        Value::Array(revisions) => revisions.iter().collect(),
        entry => vec![entry],
    }
    .into_iter()
    .flat_map(|entry| ["body", "bodyHtml"].map(|field| entry[field].as_str()))
    .flatten()
    .collect();
    if bodies.is_empty() {
        return;
    }
    let published = matches!(row.target, Target::Published) || !data["publishedAt"].is_null();
    let token = ["read-only", "full-access", "custom"].contains(&principal);
    let whole = !(published && token);
    for body in bodies {
        assert!(body.contains("免费开头"), "{principal} {}: {body}", row.key);
        assert_eq!(
            body.contains(SECRET),
            whole,
            "{principal} {}: the paid part {} be in {body}",
            row.key,
            if whole { "must" } else { "must not" }
        );
    }
}

#[tokio::test]
async fn every_content_admin_route_answers_every_principal_exactly() {
    let rows = rows();
    let declared = template_keys();
    let covered: BTreeSet<String> = rows.iter().map(|row| row.key.clone()).collect();
    assert_eq!(
        declared, covered,
        "template.yaml's content-admin routes and this matrix must list the same routes"
    );

    let stack = bianxian_e2e::spawn_stack().await;
    // The upload routes answer 503 without a bucket.
    uploads::require_moto(&stack);
    let principals = Principals::new(&stack).await;
    for row in &rows {
        for allowed in row.allowed {
            assert!(PRINCIPALS.contains(allowed), "{}: {allowed}", row.key);
        }
        let (method, pattern) = row.key.split_once(' ').expect("METHOD /path");
        let method: Method = method.parse().expect("method");
        for principal in PRINCIPALS {
            let document_id = principals.target(&stack, row.target, principal).await;
            let path = pattern
                .replace("{documentId}", &document_id)
                .replace("{revision}", "1");
            let token = principals.token(principal);
            let (status, body) = call(&stack, method.clone(), &path, token, row.body.clone()).await;
            // A member session is no staff credential.
            let expected = if token.is_none() || principal == "member" {
                StatusCode::UNAUTHORIZED
            } else if row.allowed.contains(&principal) {
                row.success
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{principal} {}: {body}", row.key);
            if status.is_success() {
                check_token_rule(principal, row, &body);
            }
        }
    }
}
