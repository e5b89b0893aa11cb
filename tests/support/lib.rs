//! Test support: each test gets its own database and its own local stack.
//!
//! `spawn_stack()` creates a fresh PostgreSQL database with a random name, migrates
//! it, starts an Upstash endpoint in front of the machine's Redis and the gateway
//! with the routes of template.yaml, all in-process on free ports. Tests therefore
//! run in parallel without sharing state, and speak HTTP like the frontend does.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use bianxian_local::{
    functions,
    gateway::{self, Gateway},
    template::{self, Route},
    upstash::{
        self, UpstashServerConfig,
        resp::{Command, Connection, Value},
    },
};
use content::{
    outgoing_webhooks::{self, WebhookConfig, WebhookConsumer},
    write::Writer,
};
use mail::{MailConsumer, Sender};
use platform::{Platform, config::Config, runtime::Handler};
use tokio::{net::TcpListener, task::JoinHandle};

pub mod campaigns;
mod faults;
pub mod receiver;
mod sentry_ingest;
pub use faults::{Fault, FaultyUpstream};
pub use sentry_ingest::{Envelopes, fake_sentry};

/// The server that hosts test databases; override with `TEST_DATABASE_URL`.
pub fn admin_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".into())
}

/// The machine's Redis; override with `TEST_REDIS_ADDR`.
pub fn redis_addr() -> SocketAddr {
    std::env::var("TEST_REDIS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:6379".into())
        .parse()
        .expect("TEST_REDIS_ADDR is HOST:PORT")
}

pub fn random_suffix() -> String {
    hex(&rand::random::<[u8; 6]>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// A database that exists for one test and is dropped with it.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// An empty database (no migrations).
    pub async fn empty() -> Self {
        let name = format!("bx_test_{}", random_suffix());
        connect(&admin_database_url())
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let admin = admin_database_url();
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let base = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = if query.is_empty() {
            format!("{base}/{name}")
        } else {
            format!("{base}/{name}?{query}")
        };
        Self { name, url }
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context guarantees: use a private runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let _ = connect(&admin_database_url())
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// moto, when the run has one (scripts/test starts it); without it stacks have no
/// mail queue (mail jobs stay in the outbox) and no media bucket (uploads answer 503).
pub fn aws_endpoint_url() -> Option<String> {
    std::env::var("TEST_AWS_ENDPOINT_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map(|url| url.trim_end_matches('/').to_owned())
}

/// What a test may change about its stack.
#[derive(Default)]
pub struct StackOptions {
    /// Extra environment-style settings (e.g. `SENTRY_DSN`).
    pub env: Vec<(&'static str, String)>,
    /// Where the Upstash endpoint finds Redis (a closed port simulates Redis down).
    pub redis_addr: Option<SocketAddr>,
    /// Routes and handlers mounted next to the real ones.
    pub extra: Vec<(Route, Arc<dyn Handler>)>,
}

pub struct TestStack {
    pub base_url: String,
    pub upstash_url: String,
    pub upstash_token: String,
    pub http: reqwest::Client,
    pub platform: Arc<Platform>,
    pub db: TestDb,
    /// moto's base URL when this stack sends mail (see [`aws_endpoint_url`]).
    pub aws_endpoint: Option<String>,
    /// localstripe's base URL when this stack takes Stripe payments (see [`stripe_api_base`]).
    pub stripe_api: Option<String>,
    /// The stack's own Alipay and WeChat Pay simulators.
    pub alipay_sim: String,
    pub wechat_sim: String,
    /// The settings `platform` was built from.
    env: HashMap<&'static str, String>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
    /// The local mail and webhook consumers (see `bianxian_local::queue`).
    consumers: Vec<JoinHandle<()>>,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in &self.consumers {
            task.abort();
        }
        // The stack's Redis keys go with it, like its database: sessions and cached
        // bodies live for days and would pile up on the developer's Redis.
        let prefix = self.platform.config.redis.key_prefix.clone();
        let _ = std::thread::spawn(move || delete_redis_keys(&prefix)).join();
    }
}

/// A Redis glob for the keys under `prefix`: the prefix literally, then anything.
fn glob_prefix(prefix: &str) -> String {
    let mut pattern: String = prefix
        .chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            _ => vec![c],
        })
        .collect();
    pattern.push('*');
    pattern
}

/// The keys under `prefix` in the machine's Redis.
pub async fn redis_keys(prefix: &str) -> Vec<Vec<u8>> {
    let mut redis = Connection::connect(redis_addr()).await.expect("redis");
    let keys: Command = vec![b"KEYS".to_vec(), glob_prefix(prefix).into_bytes()];
    match redis.execute(&[keys]).await.expect("KEYS").pop() {
        Some(Value::Array(keys)) => keys
            .into_iter()
            .filter_map(|key| match key {
                Value::Bulk(key) => Some(key),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Deletes every key under `prefix` from the machine's Redis (SCAN, then UNLINK).
pub fn delete_redis_keys(prefix: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let Ok(mut redis) = Connection::connect(redis_addr()).await else {
            return;
        };
        let pattern = glob_prefix(prefix);
        let mut cursor = b"0".to_vec();
        loop {
            let scan: Command = vec![
                b"SCAN".to_vec(),
                cursor.clone(),
                b"MATCH".to_vec(),
                pattern.clone().into_bytes(),
                b"COUNT".to_vec(),
                b"1000".to_vec(),
            ];
            let Ok(mut replies) = redis.execute(&[scan]).await else {
                return;
            };
            let Some(Value::Array(mut reply)) = replies.pop() else {
                return;
            };
            let (Some(Value::Array(keys)), Some(Value::Bulk(next))) = (reply.pop(), reply.pop())
            else {
                return;
            };
            let mut unlink: Command = vec![b"UNLINK".to_vec()];
            unlink.extend(keys.into_iter().filter_map(|key| match key {
                Value::Bulk(key) => Some(key),
                _ => None,
            }));
            if unlink.len() > 1 && redis.execute(&[unlink]).await.is_err() {
                return;
            }
            if next == b"0" {
                return;
            }
            cursor = next;
        }
    });
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(StackOptions::default()).await
}

/// localstripe's base URL when scripts/test started one (`TEST_STRIPE_API_BASE`).
pub fn stripe_api_base() -> Option<String> {
    std::env::var("TEST_STRIPE_API_BASE")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .map(|url| url.trim_end_matches('/').to_owned())
}

pub async fn spawn_stack_with(options: StackOptions) -> TestStack {
    platform::install_crypto_provider();
    let db = TestDb::empty().await;
    // Bound first: the stack's own URL is its API_URL, where providers notify it.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let upstash_token = format!("test-{}", random_suffix());
    let upstash_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let upstash_url = format!("http://{}", upstash_listener.local_addr().expect("addr"));
    let upstash_task = tokio::spawn(upstash::serve(
        upstash_listener,
        UpstashServerConfig {
            redis_addr: options.redis_addr.unwrap_or_else(redis_addr),
            token: upstash_token.clone(),
        },
    ));

    let mut env: HashMap<&'static str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("UPSTASH_REDIS_REST_URL", upstash_url.clone()),
        ("UPSTASH_REDIS_REST_TOKEN", upstash_token.clone()),
        ("REDIS_KEY_PREFIX", format!("test:{}:", db.name)),
        ("BIANXIAN_ENV", "test".into()),
        ("DB_POOL_SIZE", "4".into()),
        ("CORS_ALLOWED_ORIGINS", "https://www.example.com".into()),
        ("STRIPE_WEBHOOK_SECRETS", STRIPE_WEBHOOK_SECRETS.into()),
        ("API_URL", base_url.clone()),
        ("MARKETING_POSTAL_ADDRESS", "杭州市西湖区文三路 1 号".into()),
        ("CAMPAIGN_RATE_PER_SECOND", "200".into()),
        (
            "LINK_SIGNING_KEY",
            format!("test-link-key-{}", random_suffix().repeat(3)),
        ),
        (
            "WEBHOOK_SIGNING_KEY",
            format!("test-signing-key-{}", random_suffix().repeat(3)),
        ),
    ]);
    let aws_endpoint = aws_endpoint_url();
    if let Some(endpoint) = &aws_endpoint {
        // Each stack has its own queue, so parallel tests never consume each other's jobs.
        env.extend([
            ("AWS_ENDPOINT_URL", endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            (
                "MAIL_QUEUE_URL",
                format!("{endpoint}/123456789012/{}-mail", db.name),
            ),
            // And its own bucket (bucket names allow no `_`).
            ("MEDIA_BUCKET", db.name.replace('_', "-")),
            (
                "WEBHOOK_QUEUE_URL",
                format!("{endpoint}/123456789012/{}-webhooks", db.name),
            ),
            (
                "CAMPAIGN_QUEUE_URL",
                format!("{endpoint}/123456789012/{}-campaigns", db.name),
            ),
        ]);
    }
    // Alipay and WeChat Pay cannot run here: every stack gets their simulators.
    let sims = bianxian_local::payment_sims::start(
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    )
    .await
    .expect("payment simulators");
    env.extend(sims.env.iter().cloned());
    let stripe_api = stripe_api_base();
    if let Some(stripe) = &stripe_api {
        env.extend([
            ("STRIPE_SECRET_KEY", STRIPE_SECRET_KEY.into()),
            ("STRIPE_API_BASE", stripe.clone()),
        ]);
    }
    env.extend(options.env);
    let config = config_of(&env);
    let platform = Arc::new(Platform::new(config).expect("platform"));
    migrate::migrate(&platform).await.expect("migrations");
    let mail_task = bianxian_local::mail::start(platform.clone())
        .await
        .unwrap_or_else(|e| panic!("local mail pipeline: {e}"));
    bianxian_local::media::ensure_bucket(&platform)
        .await
        .unwrap_or_else(|e| panic!("local media bucket: {e}"));
    let webhook_task = bianxian_local::webhooks::start(platform.clone())
        .await
        .unwrap_or_else(|e| panic!("local webhook pipeline: {e}"));
    let campaign_task = bianxian_local::campaigns::start(platform.clone())
        .await
        .unwrap_or_else(|e| panic!("local campaign pipeline: {e}"));

    let template_text = include_str!("../../template.yaml");
    let mut routes = template::routes(template_text).expect("template routes");
    let mut mounted = functions::mount(&platform).expect("every function's settings");
    for (route, handler) in options.extra {
        mounted.insert(route.function.clone(), handler);
        routes.push(route);
    }
    let processor = bianxian_local::media::Processor::new(&platform).expect("image-process");
    let gateway = Gateway::new(routes, mounted, platform.clone())
        .expect("gateway")
        .with_processor(processor);
    let gateway_task = tokio::spawn(gateway::serve(listener, Arc::new(gateway)));
    // A redirect is an answer to check, not to follow.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");

    TestStack {
        base_url,
        upstash_url,
        upstash_token,
        http,
        stripe_api,
        platform,
        db,
        aws_endpoint,
        env,
        alipay_sim: sims.alipay_url,
        wechat_sim: sims.wechat_url,
        tasks: [upstash_task, gateway_task]
            .into_iter()
            .chain(sims.tasks)
            .collect(),
        consumers: mail_task
            .into_iter()
            .chain(webhook_task)
            .chain(campaign_task)
            .collect(),
    }
}

impl TestStack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// A request carrying a session or API token.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(token)
    }

    /// Registers a member as a reader does (register, open the mailed link, confirm)
    /// and returns the session the confirmation signs in. Needs moto.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let before = self.sent_mail(email).await.len();
        let response = self
            .post_json(
                "/auth/register",
                &serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(response.status(), 202, "register {email}");
        let mail = self.wait_for_mail(email, before + 1).await;
        let token = mail
            .last()
            .unwrap_or_else(|| panic!("no verification mail for {email}"))
            .link_token("/verify-email");
        let confirmed = self
            .post_json(
                "/auth/verify-email/confirm",
                &serde_json::json!({ "token": token }),
            )
            .await;
        assert_eq!(confirmed.status(), 200, "confirm {email}");
        json(confirmed).await["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Creates a staff account directly in the database and signs it in; returns
    /// (documentId, session token).
    pub async fn staff_session(&self, role: identity::access::Role) -> (String, String) {
        let email = format!("{}-{}@staff.example.com", role.as_str(), random_suffix());
        let password =
            identity::password::Password::parse_new(STAFF_PASSWORD, "password").expect("password");
        let client = self.platform.db.client().await.expect("db");
        let email = identity::email::Email::parse(&email).expect("email");
        let staff = identity::staff::create(&**client, &email, &password, role, "")
            .await
            .expect("create staff");
        let response = self
            .post_json(
                "/admin/login",
                &serde_json::json!({ "email": email.as_str(), "password": STAFF_PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 200, "staff login");
        let token = json(response).await["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        (staff.document_id, token)
    }

    /// A staff account made directly in the database, signed in without
    /// `/admin/login` (and so without its rate limits); returns the session token.
    pub async fn staff_token(&self, role: identity::access::Role) -> String {
        let email = identity::email::Email::parse(&format!(
            "{}-{}@staff.example.com",
            role.as_str(),
            random_suffix()
        ))
        .expect("email");
        let password =
            identity::password::Password::parse_new(STAFF_PASSWORD, "password").expect("password");
        let client = self.platform.db.client().await.expect("db");
        let staff = identity::staff::create(&**client, &email, &password, role, "")
            .await
            .expect("create staff");
        let access = identity::access::Access::for_staff(&self.platform);
        let (token, _) = access
            .sessions()
            .create(&format!("staff:{}", staff.document_id))
            .await
            .expect("staff session");
        token.expose().to_owned()
    }

    /// The settings the stack's functions run with, for starting one as a process.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect()
    }

    /// A member who signs in with `password` (no mail involved).
    pub async fn create_member(&self, email: &str, password: &str) {
        let email = identity::email::Email::parse(email).expect("email");
        let password =
            identity::password::Password::parse_new(password, "password").expect("password");
        let hash = identity::password::hash(&password).await.expect("hash");
        let client = self.platform.db.client().await.expect("db");
        identity::members::create(&**client, &email, &hash, "")
            .await
            .expect("create member")
            .expect("a new email");
    }

    /// A member made directly in the database, signed in without the auth routes
    /// (and so without their rate limits); returns the session token.
    pub async fn member_session(&self) -> String {
        let email =
            identity::email::Email::parse(&format!("member-{}@example.com", random_suffix()))
                .expect("email");
        let client = self.platform.db.client().await.expect("db");
        let member = identity::members::create(&**client, &email, "not a usable hash", "")
            .await
            .expect("create member")
            .expect("a new email");
        let members = identity::access::MemberAccess::new(&self.platform);
        let (token, _) = members
            .sessions()
            .create(&member.subject())
            .await
            .expect("member session");
        token.expose().to_owned()
    }

    /// Signs a member in and returns the session token.
    pub async fn session(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200, "sign in {email}");
        json(response).await["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/auth/login",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }
}

/// One mail moto accepted, decoded.
#[derive(Debug, Clone)]
pub struct SentMail {
    pub source: String,
    pub destinations: Vec<String>,
    pub raw: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl SentMail {
    /// The token of the link to `path` in the mail, as the frontend would read it.
    pub fn link_token(&self, path: &str) -> String {
        let start = self
            .text
            .find(&format!("{path}?token="))
            .unwrap_or_else(|| panic!("no {path} link in: {}", self.text));
        self.text[start + path.len() + "?token=".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect()
    }
}

impl TestStack {
    /// A second platform on the same database with some settings changed, e.g. an
    /// AWS endpoint that does not answer.
    pub fn platform_with(&self, overrides: &[(&'static str, &str)]) -> Arc<Platform> {
        let mut env = self.env.clone();
        env.extend(overrides.iter().map(|(k, v)| (*k, (*v).to_owned())));
        Arc::new(Platform::new(config_of(&env)).expect("platform"))
    }

    /// The mail queue's consumer, as mail-send runs it, on `platform`.
    pub fn mail_on(platform: &Platform) -> MailConsumer {
        Sender::consumer(platform, platform.config.section().expect("mail settings"))
    }

    /// The mail queue's consumer of this stack.
    pub fn mail(&self) -> MailConsumer {
        Self::mail_on(&self.platform)
    }

    /// The webhook queue's consumer, as webhook-send runs it.
    pub fn webhooks(&self) -> WebhookConsumer {
        let config: WebhookConfig = self.platform.config.section().expect("webhook settings");
        outgoing_webhooks::Sender::consumer(&self.platform, &config).expect("webhook sender")
    }

    /// The content writer, as content-admin and the scheduler use it.
    pub fn writer(&self) -> Writer {
        let config: WebhookConfig = self.platform.config.section().expect("webhook settings");
        Writer::new(&self.platform, &config)
    }

    /// Every mail moto has accepted for `recipient` (moto keeps one list per server,
    /// so tests tell theirs apart by unique recipients).
    pub async fn sent_mail(&self, recipient: &str) -> Vec<SentMail> {
        let endpoint = self
            .aws_endpoint
            .as_deref()
            .expect("mail tests need moto: run scripts/test or set TEST_AWS_ENDPOINT_URL");
        // moto builds data.json by walking its live models, which fails (a 500) when
        // an SQS queue changes under it: ask again.
        let mut attempts = 0;
        let data: serde_json::Value = loop {
            let response = self
                .http
                .get(format!("{endpoint}/moto-api/data.json"))
                .send()
                .await
                .expect("moto data");
            attempts += 1;
            if response.status().is_success() || attempts == 20 {
                break json(response).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        data["ses"]["RawMessage"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["destinations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d.as_str().is_some_and(|d| d.contains(recipient)))
            })
            .map(|m| {
                let raw = m["raw_data"].as_str().unwrap_or_default().to_owned();
                let parsed = mail_parser::MessageParser::default()
                    .parse(raw.as_bytes())
                    .expect("moto holds a parsable message");
                SentMail {
                    source: m["source"].as_str().unwrap_or_default().to_owned(),
                    destinations: serde_json::from_value(m["destinations"].clone())
                        .unwrap_or_default(),
                    subject: parsed.subject().unwrap_or_default().to_owned(),
                    text: parsed.body_text(0).unwrap_or_default().into_owned(),
                    html: parsed.body_html(0).unwrap_or_default().into_owned(),
                    raw,
                }
            })
            .collect()
    }

    /// Takes a place among the `name` slots (`platform::ratelimit::Slots`) as a
    /// holder in another process would, now.
    pub async fn hold_slot(&self, name: &str, holder: &str) {
        let key = format!("{}rl:slots:{name}", self.platform.config.redis.key_prefix);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        self.platform
            .redis
            .cmd(platform::cmd!["ZADD", key, now, holder])
            .await
            .expect("ZADD");
    }

    /// Waits until moto holds at least `count` mails for `recipient` (10 s at most).
    pub async fn wait_for_mail(&self, recipient: &str, count: usize) -> Vec<SentMail> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mail = self.sent_mail(recipient).await;
            if mail.len() >= count || tokio::time::Instant::now() > deadline {
                return mail;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn config_of(env: &HashMap<&'static str, String>) -> Config {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Config::from(platform::config::Env::from_map(env)).expect("test configuration")
}

pub const STAFF_PASSWORD: &str = "staff password 1";

/// The Stripe secret key of every test stack that has localstripe.
pub const STRIPE_SECRET_KEY: &str = "sk_test_bianxian";

/// The Stripe endpoint secrets of every test stack: the current one and one being
/// rotated out.
pub const STRIPE_WEBHOOK_SECRETS: &str = "whsec_test_current,whsec_test_previous";

/// A request body read to its end (empty when the client went away).
pub async fn body_bytes(body: hyper::body::Incoming) -> hyper::body::Bytes {
    use http_body_util::BodyExt;
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    addr
}

/// Reads a response as JSON, failing the test with the body if it is not JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Sends a request with an optional credential and body: (status, JSON body or null).
pub async fn call(
    stack: &TestStack,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (reqwest::StatusCode, serde_json::Value) {
    let mut request = match token {
        Some(token) => stack.authed(method, path, token),
        None => stack.http.request(method, stack.url(path)),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Creates a resource through the admin API (`POST path` with `body`) and answers
/// its documentId; any answer but 201 fails the test.
pub async fn create(stack: &TestStack, token: &str, path: &str, body: serde_json::Value) -> String {
    let (status, created) = call(stack, reqwest::Method::POST, path, Some(token), Some(body)).await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    created["data"]["documentId"]
        .as_str()
        .expect("a documentId")
        .to_owned()
}
