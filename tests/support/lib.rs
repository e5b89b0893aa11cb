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
    upstash::{self, UpstashServerConfig},
};
use shared::{Platform, config::Config, runtime::Handler};
use tokio::{net::TcpListener, task::JoinHandle};

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
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl Drop for TestStack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(StackOptions::default()).await
}

pub async fn spawn_stack_with(options: StackOptions) -> TestStack {
    shared::install_crypto_provider();
    let db = TestDb::empty().await;
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

    let mut env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("UPSTASH_REDIS_REST_URL", upstash_url.clone()),
        ("UPSTASH_REDIS_REST_TOKEN", upstash_token.clone()),
        ("REDIS_KEY_PREFIX", format!("test:{}:", db.name)),
        ("BIANXIAN_ENV", "test".into()),
        ("DB_POOL_SIZE", "4".into()),
        ("CORS_ALLOWED_ORIGINS", "https://www.example.com".into()),
    ]);
    env.extend(options.env);
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration");
    let platform = Arc::new(Platform::new(config).expect("platform"));
    migrate::migrate(&platform).await.expect("migrations");

    let template_text = include_str!("../../template.yaml");
    let mut routes = template::routes(template_text).expect("template routes");
    let mut mounted = functions::mount(&platform);
    for (route, handler) in options.extra {
        mounted.insert(route.function.clone(), handler);
        routes.push(route);
    }
    let gateway = Gateway::new(routes, mounted, platform.clone()).expect("gateway");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let gateway_task = tokio::spawn(gateway::serve(listener, Arc::new(gateway)));

    TestStack {
        base_url,
        upstash_url,
        upstash_token,
        http: reqwest::Client::new(),
        platform,
        db,
        tasks: vec![upstash_task, gateway_task],
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

    /// Registers a member and returns their session token.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let response = self
            .post_json(
                "/auth/register",
                &serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(response.status(), 201, "register {email}");
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
