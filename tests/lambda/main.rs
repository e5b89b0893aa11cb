//! The function binaries run as Lambda runs them, against the Lambda Runtime API
//! (`runtime_api`), with Sentry's ingest endpoint stood in for (`fake_sentry`) and
//! PostgreSQL and Redis behind relays the tests take down and bring back (`tcp_proxy`).
//!
//! What they prove, on the real `main`s and not through the local gateway:
//! - an error in an HTTP function and in an SQS-driven one reaches Sentry before the
//!   invocation's answer, tagged with function, route, request id, release and
//!   environment, and performance transactions arrive with their spans;
//! - PostgreSQL stopping answers 503 with `Retry-After` and the JSON envelope, never
//!   a panic; when it is back, or when the server has cut every connection (a sandbox
//!   frozen past the idle timeout), the same process serves again;
//! - every log line is JSON and carries the request id; no secret planted in the
//!   configuration or in requests appears in any log line or Sentry envelope.
//!
//! - Redis stopping leaves public content served from PostgreSQL, sessions answering
//!   503 with `Retry-After`, the login limiter open or closed as configured, and the
//!   same processes caching again once it is back;
//! - settings stored in Secrets Manager (`BIANXIAN_SECRETS_ARN`) are read at cold
//!   start, and a secret that cannot be read stops the start-up with a clear message;
//! - mail-send, campaign-send and webhook-send, fed from a real queue, send once
//!   through SES throttling or a failing receiver, SQS redelivery and a worker killed
//!   mid-batch; a campaign mail the dead worker had in flight is counted failed,
//!   never sent twice (`outbox_drill`).
//!
//! The binaries must be built (`cargo build -p content-api -p mail-send -p
//! campaign-send -p webhook-send -p auth -p payment-webhook`); scripts/test does so.

mod outbox_drill;
mod runtime_api;
mod tcp_proxy;

use bianxian_e2e::{
    Envelopes, StackOptions, TestStack, fake_sentry, random_suffix, spawn_stack, spawn_stack_with,
};
use runtime_api::{Function, Outcome, http_event, sqs_event};
use serde_json::{Value, json};
use tcp_proxy::TcpProxy;

const RELEASE: &str = "bianxian@runtime-api-test";
/// The `application_name` of the functions' database connections.
const FUNCTION_CONNECTIONS: &str = "bianxian-function";
const ENVIRONMENT: &str = "emulated";

/// A test stack, its PostgreSQL behind a relay the test controls, Sentry stood in
/// for, and the settings a function process runs with: the stack's, with the
/// database reached through the relay (and a password in the URL, which trust
/// authentication ignores: a secret to look for) and every transaction sampled.
struct Setup {
    stack: TestStack,
    postgres: TcpProxy,
    envelopes: Envelopes,
    env: Vec<(String, String)>,
    database_password: String,
}

async fn setup() -> Setup {
    let stack = spawn_stack().await;
    let postgres = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let (dsn, envelopes) = fake_sentry();
    let database_password = format!("pg-password-{}", random_suffix());
    let mut env = stack.env();
    // Named, so a test can tell the function's connections from its own.
    let database = format!(
        "{}&application_name={FUNCTION_CONNECTIONS}",
        stack.db.url.replacen(
            "postgres@127.0.0.1:5432",
            &format!("postgres:{database_password}@{}", postgres.address()),
            1,
        )
    );
    assert!(
        database.contains(&database_password),
        "the test database is on 127.0.0.1:5432"
    );
    env.retain(|(name, _)| name != "DATABASE_URL" && name != "BIANXIAN_ENV");
    env.extend([
        ("DATABASE_URL".to_owned(), database),
        ("SENTRY_DSN".to_owned(), dsn),
        ("SENTRY_TRACES_SAMPLE_RATE".to_owned(), "1".to_owned()),
        ("BIANXIAN_RELEASE".to_owned(), RELEASE.to_owned()),
        ("BIANXIAN_ENV".to_owned(), ENVIRONMENT.to_owned()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ]);
    Setup {
        stack,
        postgres,
        envelopes,
        env,
        database_password,
    }
}

/// The operations of a transaction's spans (`db.sql.query`, `db.redis`, ...).
fn span_ops(transaction: &Value) -> Vec<&str> {
    transaction["spans"]
        .as_array()
        .map(|spans| spans.iter().filter_map(|s| s["op"].as_str()).collect())
        .unwrap_or_default()
}

fn envelopes_of(envelopes: &Envelopes) -> Vec<String> {
    envelopes.lock().expect("lock").clone()
}

/// The JSON items (events and transactions) of the envelopes received so far.
/// The items of the envelopes received so far, as (item type, payload): an envelope
/// is a header line, then per item a header line naming its type and its payload.
fn items(envelopes: &Envelopes) -> Vec<(String, Value)> {
    let mut items = Vec::new();
    for envelope in envelopes_of(envelopes) {
        let lines: Vec<Value> = envelope
            .lines()
            .skip(1)
            .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
            .collect();
        for pair in lines.chunks(2) {
            if let [header, payload] = pair
                && let Some(kind) = header["type"].as_str()
            {
                items.push((kind.to_owned(), payload.clone()));
            }
        }
    }
    items
}

fn of_kind(envelopes: &Envelopes, kind: &str) -> Vec<Value> {
    items(envelopes)
        .into_iter()
        .filter(|(k, _)| k == kind)
        .map(|(_, payload)| payload)
        .collect()
}

/// Error events.
fn events(envelopes: &Envelopes) -> Vec<Value> {
    of_kind(envelopes, "event")
}

fn transactions(envelopes: &Envelopes) -> Vec<Value> {
    of_kind(envelopes, "transaction")
}

/// The event or transaction tagged with `request_id`.
fn tagged(items: &[Value], request_id: &str, what: &str) -> Value {
    items
        .iter()
        .find(|item| item["tags"]["request_id"] == request_id)
        .cloned()
        .unwrap_or_else(|| panic!("no {what} for {request_id}: {items:?}"))
}

/// Fails with the function's whole output when `response` is not `status`.
fn assert_answered(function: &Function, response: &Value, status: u64) {
    assert_eq!(
        status_of(response),
        status,
        "{response}\n{}",
        function.logs().join("\n")
    );
}

fn status_of(response: &Value) -> u64 {
    response["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("no statusCode: {response}"))
}

fn header<'a>(response: &'a Value, name: &str) -> Option<&'a str> {
    response["headers"][name].as_str()
}

/// The log lines of a process, each parsed (every one must be JSON).
fn log_lines(function: &Function) -> Vec<Value> {
    function
        .logs()
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|_| panic!("{}: a log line is not JSON: {line}", function.name))
        })
        .collect()
}

/// The lines logged while handling the invocation `request_id`.
fn lines_of(function: &Function, request_id: &str) -> Vec<Value> {
    log_lines(function)
        .into_iter()
        .filter(|line| line["span"]["request_id"] == request_id)
        .collect()
}

/// Every line written from the first invocation on carries the invocation's id as
/// `requestId` (the process's start-up lines come before it), and lines written in
/// a request's span carry API Gateway's request id too.
fn assert_every_line_has_a_request_id(function: &Function) {
    let lines = log_lines(function);
    let first = lines
        .iter()
        .position(|line| line["requestId"].is_string())
        .unwrap_or_else(|| panic!("{}: no line with a requestId", function.name));
    for line in &lines[first..] {
        assert!(
            line["requestId"].is_string(),
            "{}: a line without a request id: {line}",
            function.name
        );
    }
}

/// Terminates the function's connections to `database` (by their application name)
/// and waits until the server has let them go.
async fn cut_function_connections(admin: &tokio_postgres::Client, database: &str) {
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
            &[&database, &FUNCTION_CONNECTIONS],
        )
        .await
        .expect("terminate");
    assert!(!cut.is_empty(), "the function held no connection to cut");
    for _ in 0..100 {
        let left: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                &[&database, &FUNCTION_CONNECTIONS],
            )
            .await
            .expect("count")
            .get(0);
        if left == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the function's connections outlived pg_terminate_backend");
}

/// Invokes `route` at `target` under a known invocation id; answers API Gateway's
/// request id, the response and the request's log lines, having checked there are
/// some and that each carries that invocation's `requestId` (not a stale one).
async fn invoke_traced(
    function: &Function,
    route: &str,
    target: &str,
) -> (String, Value, Vec<Value>) {
    let (request, event) = http_event(route, target, &[], None);
    let invocation = format!("req-{}", random_suffix());
    let response = function.invoke_as(&invocation, event).await.response();
    let lines = lines_of(function, &request);
    assert!(
        !lines.is_empty()
            && lines
                .iter()
                .all(|line| line["requestId"] == invocation.as_str()),
        "lines of {request} not all under {invocation}: {lines:?}"
    );
    (request, response, lines)
}

#[tokio::test]
async fn an_http_function_reports_to_sentry_and_survives_its_database_going_away() {
    let Setup {
        stack,
        postgres: proxy,
        envelopes,
        env,
        ..
    } = setup().await;
    let mut function = Function::start("content-api", &env).await;
    let route = "GET /api/articles";

    let (first, response, completed) = invoke_traced(&function, route, "/api/articles").await;
    assert_eq!(status_of(&response), 200, "{response}");
    let done = completed
        .iter()
        .find(|line| line["message"] == "request completed")
        .unwrap_or_else(|| panic!("no request line: {completed:?}"));
    assert_eq!(done["span"]["route"], route);
    assert_eq!(done["status"], 200);
    // Flushed before the answer: the transaction is already here, named after the
    // route, with the Redis calls of the cache lookup as spans.
    let traced = transactions(&envelopes);
    // One per invocation: the runtime's own spans start none of their own.
    assert_eq!(traced.len(), 1, "{traced:?}");
    let transaction = traced
        .iter()
        .find(|t| t["tags"]["request_id"] == first)
        .unwrap_or_else(|| panic!("no transaction for {first}: {traced:?}"));
    assert_eq!(transaction["transaction"], route);
    assert_eq!(transaction["contexts"]["trace"]["op"], "http.server");
    assert_eq!(transaction["release"], RELEASE);
    let ops = span_ops(transaction);
    assert!(ops.contains(&"db.redis"), "spans: {ops:?}");
    assert!(ops.contains(&"db.sql.query"), "spans: {ops:?}");

    // PostgreSQL stops. An uncached read cannot be answered: 503, Retry-After, the
    // envelope, and the error in Sentry before the answer.
    proxy.stop().await;
    let (down, response, _) =
        invoke_traced(&function, route, "/api/articles?pagination[page]=2").await;
    assert_eq!(status_of(&response), 503, "{response}");
    assert_eq!(header(&response, "retry-after"), Some("5"), "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["status"], 503, "{body}");
    let error = tagged(&events(&envelopes), &down, "Sentry event");
    assert_eq!(error["tags"]["function"], "content-api");
    assert_eq!(error["tags"]["route"], route);
    assert_eq!(error["release"], RELEASE);
    assert_eq!(error["environment"], ENVIRONMENT);

    // It is back: the same process reconnects.
    proxy.resume().await;
    let (_, event) = http_event(route, "/api/articles?pagination[page]=3", &[], None);
    assert_eq!(status_of(&function.invoke(event).await.response()), 200);

    // The server cuts every connection under a warm sandbox. Invocations right
    // after may still find connections whose end the pool has not read yet: each is
    // then a 503 asking to retry (never a 500) and drops that connection, and the
    // same process is soon answering from new ones.
    let admin = stack.db.client().await;
    cut_function_connections(&admin, &stack.db.name).await;
    let mut answers = Vec::new();
    for page in 4..10 {
        let (_, event) = http_event(
            route,
            &format!("/api/articles?pagination[page]={page}"),
            &[],
            None,
        );
        let response = function.invoke(event).await.response();
        let status = status_of(&response);
        answers.push(status);
        match status {
            200 => break,
            503 => assert_eq!(header(&response, "retry-after"), Some("5"), "{response}"),
            other => panic!("{other}: {response}\n{}", function.logs().join("\n")),
        }
    }
    assert_eq!(answers.last(), Some(&200), "no recovery: {answers:?}");

    // A sandbox frozen longer than the server kept its idle connections: the server
    // cut them, and the first invocation after the thaw checks its connection (idle
    // past `VERIFY_AFTER_IDLE`) and answers from a new one.
    cut_function_connections(&admin, &stack.db.name).await;
    tokio::time::sleep(platform::db::VERIFY_AFTER_IDLE + std::time::Duration::from_secs(1)).await;
    let (_, event) = http_event(route, "/api/articles?pagination[page]=20", &[], None);
    let response = function.invoke(event).await.response();
    assert_answered(&function, &response, 200);

    assert!(function.running(), "the process ended");
    // Exactly one transaction per invocation, each delivered before its answer: the
    // runtime's own spans (`request`, lambda_runtime's) start none of their own.
    let invocations = 4 + answers.len();
    assert_eq!(transactions(&envelopes).len(), invocations);
    assert_every_line_has_a_request_id(&function);
}

#[tokio::test]
async fn a_queue_function_reports_to_sentry() {
    let Setup {
        // Kept to the end: dropping it drops the database.
        stack: _stack,
        postgres: proxy,
        envelopes,
        env,
        ..
    } = setup().await;
    let mut function = Function::start("mail-send", &env).await;

    proxy.stop().await;
    let message = format!("msg-{}", random_suffix());
    let invocation = format!("sqs-{}", random_suffix());
    let answer = function
        .invoke_as(
            &invocation,
            sqs_event("mail", &message, &json!({ "jobId": 1 })),
        )
        .await;
    // The record comes back (the database was down); the batch itself succeeded.
    let Outcome::Response(answer) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        answer["batchItemFailures"][0]["itemIdentifier"], message,
        "{answer}"
    );
    let error = tagged(&events(&envelopes), &invocation, "Sentry event");
    assert_eq!(error["tags"]["function"], "mail-send");
    assert_eq!(error["release"], RELEASE);
    let traced = transactions(&envelopes);
    let transaction = tagged(&traced, &invocation, "transaction");
    assert_eq!(transaction["contexts"]["trace"]["op"], "queue.process");

    // Back: the job (which does not exist) is settled, nothing comes back, and the
    // transaction shows the statements that settled it.
    proxy.resume().await;
    let again = format!("sqs-{}", random_suffix());
    let answer = function
        .invoke_as(&again, sqs_event("mail", &message, &json!({ "jobId": 1 })))
        .await
        .response();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let traced = transactions(&envelopes);
    let settled = tagged(&traced, &again, "transaction");
    let ops = span_ops(&settled);
    assert!(ops.contains(&"db.sql.query"), "spans: {ops:?}");

    assert!(function.running(), "the process ended");
    assert_every_line_has_a_request_id(&function);
}

/// The secrets a deployment holds, as planted in the functions' settings: each is
/// looked for in every log line and every Sentry envelope.
fn configured_secrets(env: &[(String, String)], database_password: &str) -> Vec<String> {
    let mut secrets = vec![database_password.to_owned()];
    for (name, value) in env {
        let secret = ["TOKEN", "SECRET", "KEY", "PASSWORD"]
            .iter()
            .any(|word| name.contains(word))
            && !name.ends_with("_ID")
            && !name.contains("PUBLIC");
        if !secret || value.is_empty() {
            continue;
        }
        for part in value.split(',') {
            if part.contains("-----BEGIN") {
                // A key's body, a line of which is what a careless log would show.
                secrets.extend(
                    part.lines()
                        .filter(|line| !line.starts_with("-----") && line.len() >= 40)
                        .map(str::to_owned),
                );
            } else if part.len() >= 12 {
                secrets.push(part.to_owned());
            }
        }
    }
    secrets
}

#[tokio::test]
async fn no_planted_secret_reaches_a_log_line_or_sentry() {
    let Setup {
        stack,
        postgres: proxy,
        envelopes,
        env,
        database_password,
    } = setup().await;
    let mut secrets = configured_secrets(&env, &database_password);
    assert!(secrets.len() >= 8, "too few secrets planted: {secrets:?}");

    let auth = Function::start("auth", &env).await;
    let webhooks = Function::start("payment-webhook", &env).await;
    let content = Function::start("content-api", &env).await;

    // A member with a password, signing in and reading their account.
    let email = format!("planted-{}@example.com", random_suffix());
    let password = format!("Planted-password-{}", random_suffix());
    secrets.push(password.clone());
    stack.create_member(&email, &password).await;
    let login = |password: &str| {
        http_event(
            "POST /auth/login",
            "/auth/login",
            &[("content-type", "application/json")],
            Some(&json!({ "email": email, "password": password }).to_string()),
        )
    };
    let (_, event) = login(&password);
    let response = auth.invoke(event).await.response();
    assert_eq!(status_of(&response), 200, "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let session = body["data"]["token"]
        .as_str()
        .expect("a session token")
        .to_owned();
    secrets.push(session.clone());
    let bearer = format!("Bearer {session}");
    let (_, event) = http_event(
        "GET /auth/me",
        "/auth/me",
        &[("authorization", &bearer)],
        None,
    );
    assert_eq!(status_of(&auth.invoke(event).await.response()), 200);
    let wrong = format!("Wrong-password-{}", random_suffix());
    secrets.push(wrong.clone());
    let (_, event) = login(&wrong);
    assert_eq!(status_of(&auth.invoke(event).await.response()), 401);

    // A forged Stripe event carrying a card number and a live-looking key, signed
    // with a secret we do not hold; rejected, and counted by template.yaml's filter.
    let card = "4242424242424242";
    let stripe_key = format!("sk_live_{}", random_suffix().repeat(2));
    secrets.extend([card.to_owned(), stripe_key.clone()]);
    let forged = json!({
        "id": "evt_forged", "type": "payment_intent.succeeded",
        "data": { "object": { "card": { "number": card }, "note": stripe_key } },
    })
    .to_string();
    let signature = format!(
        "t={},v1={}",
        chrono::Utc::now().timestamp(),
        "ab".repeat(32)
    );
    let (forged_id, event) = http_event(
        "POST /webhooks/stripe",
        "/webhooks/stripe",
        &[
            ("content-type", "application/json"),
            ("stripe-signature", &signature),
        ],
        Some(&forged),
    );
    assert_eq!(status_of(&webhooks.invoke(event).await.response()), 400);
    let filter = include_str!("../../template.yaml")
        .lines()
        .find_map(|line| line.trim().strip_prefix("FilterPattern: '{ $.message = \""))
        .and_then(|rest| rest.strip_suffix("\" }'"))
        .expect("the rejected-notification metric filter in template.yaml");
    assert!(
        lines_of(&webhooks, &forged_id)
            .iter()
            .any(|line| line["message"] == filter),
        "no `{filter}` line for the forged notification"
    );

    // A made-up API token on the content API (a public route: read as anonymous).
    let token = format!("bx_planted_{}", random_suffix().repeat(2));
    secrets.push(token.clone());
    let (_, event) = http_event(
        "GET /api/articles",
        "/api/articles",
        &[("authorization", &format!("Bearer {token}"))],
        None,
    );
    let status = status_of(&content.invoke(event).await.response());
    assert!(status == 200 || status == 401, "{status}");

    // And errors while the database is down, so Sentry events (with breadcrumbs of
    // what was logged) are part of the scan.
    proxy.stop().await;
    let (_, event) = http_event(
        "GET /auth/me",
        "/auth/me",
        &[("authorization", &bearer)],
        None,
    );
    let status = status_of(&auth.invoke(event).await.response());
    assert!(status == 503 || status == 401, "{status}");
    let (_, event) = login(&password);
    assert_eq!(status_of(&auth.invoke(event).await.response()), 503);
    let (_, event) = http_event(
        "GET /api/articles",
        "/api/articles?pagination[page]=9",
        &[],
        None,
    );
    assert_eq!(status_of(&content.invoke(event).await.response()), 503);
    proxy.resume().await;
    assert!(!events(&envelopes).is_empty(), "no Sentry event to scan");

    let mut scanned = 0;
    for function in [&auth, &webhooks, &content] {
        assert_every_line_has_a_request_id(function);
        for line in function.logs() {
            scanned += 1;
            for secret in &secrets {
                assert!(
                    !line.contains(secret.as_str()),
                    "{}: a secret in a log line: {line}",
                    function.name
                );
            }
        }
    }
    for envelope in envelopes_of(&envelopes) {
        scanned += 1;
        for secret in &secrets {
            assert!(
                !envelope.contains(secret.as_str()),
                "a secret in a Sentry envelope: {envelope}"
            );
        }
    }
    assert!(scanned > 20, "only {scanned} lines and envelopes scanned");
    for mut function in [auth, webhooks, content] {
        assert!(function.running(), "{} ended", function.name);
    }
}

#[tokio::test]
async fn settings_stored_in_secrets_manager_are_read_at_cold_start() {
    let stack = spawn_stack().await;
    if stack.aws_endpoint.is_none() {
        eprintln!("skipped: needs moto (TEST_AWS_ENDPOINT_URL)");
        return;
    }
    let sdk = platform::aws::sdk_config(&stack.platform.config.aws).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let stored = json!({
        "DATABASE_URL": stack.db.url,
        "UPSTASH_REDIS_REST_TOKEN": stack.upstash_token,
    });
    let created = secrets
        .create_secret()
        .name(format!("bianxian/{}", stack.db.name))
        .secret_string(stored.to_string())
        .send()
        .await
        .expect("create the secret");
    let arn = created.arn().expect("an ARN").to_owned();
    // The environment has no Upstash token and a database URL that leads nowhere: the
    // secret's entries fill in and take precedence.
    let mut env = stack.env();
    env.retain(|(name, _)| name != "DATABASE_URL" && name != "UPSTASH_REDIS_REST_TOKEN");
    env.push((
        "DATABASE_URL".to_owned(),
        "postgres://nobody@127.0.0.1:9/nowhere?sslmode=disable".to_owned(),
    ));
    env.push(("BIANXIAN_SECRETS_ARN".to_owned(), arn));
    let function = Function::start("content-api", &env).await;
    let (_, event) = http_event("GET /api/articles", "/api/articles", &[], None);
    let response = function.invoke(event).await.response();
    assert_answered(&function, &response, 200);

    // A secret that does not exist: the start-up fails, naming the setting.
    env.retain(|(name, _)| name != "BIANXIAN_SECRETS_ARN");
    env.push((
        "BIANXIAN_SECRETS_ARN".to_owned(),
        format!("bianxian/missing-{}", random_suffix()),
    ));
    let mut function = Function::start("content-api", &env).await;
    assert_eq!(function.exit_code().await, Some(78));
    let output = function.logs().join("\n");
    assert!(
        output.contains("BIANXIAN_SECRETS_ARN: cannot read bianxian/missing-"),
        "{output}"
    );
}

#[tokio::test]
async fn redis_stopping_leaves_reads_up_sessions_503_and_the_limiter_as_configured() {
    let redis = TcpProxy::start(bianxian_e2e::redis_addr()).await;
    let stack = spawn_stack_with(StackOptions {
        redis_addr: Some(redis.address()),
        ..Default::default()
    })
    .await;
    let env = stack.env();
    let with_mode = |mode: &str| {
        let mut env = env.clone();
        env.retain(|(name, _)| name != "RATE_LIMIT_FAILURE_MODE");
        env.push(("RATE_LIMIT_FAILURE_MODE".to_owned(), mode.to_owned()));
        env
    };
    let content = Function::start("content-api", &env).await;
    let open = Function::start("auth", &with_mode("open")).await;
    let closed = Function::start("auth", &with_mode("closed")).await;
    let session = stack.member_session().await;
    let bearer = format!("Bearer {session}");
    let me = || {
        http_event(
            "GET /auth/me",
            "/auth/me",
            &[("authorization", &bearer)],
            None,
        )
        .1
    };
    let login = || {
        let body = json!({ "email": "nobody@example.com", "password": "not-the-password" });
        http_event(
            "POST /auth/login",
            "/auth/login",
            &[("content-type", "application/json")],
            Some(&body.to_string()),
        )
        .1
    };
    let read = |page: u32| {
        http_event(
            "GET /api/articles",
            &format!("/api/articles?pagination[page]={page}"),
            &[],
            None,
        )
        .1
    };
    assert_eq!(status_of(&open.invoke(me()).await.response()), 200);
    assert_eq!(status_of(&content.invoke(read(1)).await.response()), 200);

    redis.stop().await;
    // Public content comes from PostgreSQL, cached or not.
    for page in [1, 2] {
        let response = content.invoke(read(page)).await.response();
        assert_eq!(status_of(&response), 200, "{response}");
    }
    // Sessions live in Redis: 503 asking to retry, not a 500 and not a 401.
    let response = open.invoke(me()).await.response();
    assert_eq!(status_of(&response), 503, "{response}");
    assert_eq!(header(&response, "retry-after"), Some("5"), "{response}");
    // The login limiter: closed refuses at once; open lets the attempt through, to
    // be answered on its merits (a wrong password: 401).
    let message = |response: &Value| {
        let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let refused = closed.invoke(login()).await.response();
    assert_eq!(status_of(&refused), 503, "{refused}");
    assert!(
        message(&refused).starts_with("rate limiting is unavailable"),
        "{refused}"
    );
    let through = open.invoke(login()).await.response();
    assert_eq!(status_of(&through), 401, "{through}");
    assert_eq!(message(&through), "invalid email or password", "{through}");

    // Redis is back: the same processes cache and find sessions again.
    redis.resume().await;
    let cached = format!("test:{}:cache:content:", stack.db.name);
    let before = bianxian_e2e::redis_keys(&cached).await.len();
    assert_eq!(status_of(&content.invoke(read(7)).await.response()), 200);
    let after = bianxian_e2e::redis_keys(&cached).await.len();
    assert!(
        after > before,
        "nothing cached after Redis came back ({before} → {after})"
    );
    assert_eq!(status_of(&open.invoke(me()).await.response()), 200);
    for mut function in [content, open, closed] {
        assert!(function.running(), "{} ended", function.name);
    }
}
