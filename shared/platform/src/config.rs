//! Typed configuration, read once from environment variables at start-up.
//!
//! The platform reads its own settings ([`Config`]); each domain reads its section
//! (mail, media, content webhooks, ...) through the same [`Vars`] by implementing
//! [`Section`], so the platform knows no domain's settings. [`Config::load`] reads the
//! core and a function's sections in one pass and collects every problem before
//! failing, so a broken deployment shows all missing or invalid variables in one log
//! line instead of one per cold start.

use std::{collections::HashMap, fmt, str::FromStr, sync::Arc, time::Duration};

use url::Url;

use crate::secret::Secret;

/// What the rate limiter does when Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Let the request through (availability first).
    Open,
    /// Answer 503 (protection first).
    Closed,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `BIANXIAN_ENV`: production, staging, development, test.
    pub environment: String,
    /// `BIANXIAN_RELEASE`: reported to Sentry and in logs.
    pub release: String,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    /// `SENTRY_DSN`; absent or empty turns Sentry off.
    pub sentry_dsn: Option<Secret>,
    /// `SENTRY_TRACES_SAMPLE_RATE`, 0.0 to 1.0.
    pub sentry_traces_sample_rate: f32,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated exact origins (`https://example.com`).
    pub cors_allowed_origins: Vec<String>,
    /// `RATE_LIMIT_FAILURE_MODE`: `open` (default) or `closed`.
    pub rate_limit_failure_mode: FailureMode,
    /// `MAX_BODY_BYTES`: request bodies above this size get 413.
    pub max_body_bytes: usize,
    /// `SITE_URL`: the public frontend, the base of every link we hand out (mail,
    /// return pages). Always ends with `/`, so `site_url.join("auth/verify?token=…")`
    /// (no leading slash) keeps a base path such as `https://example.com/app/`.
    pub site_url: Url,
    /// `API_URL`: this API's own public base URL (the custom domain in production),
    /// where payment providers are told to notify us. Ends with `/` like `site_url`.
    pub api_url: Url,
    pub aws: AwsConfig,
    /// Where the settings came from, for the sections functions read later
    /// ([`Config::section`]).
    pub env: Env,
}

/// How the AWS SDK clients reach AWS. Read through the same lookup as everything
/// else, so tests can point a stack at their own emulator without touching the
/// process environment.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    /// `AWS_REGION`, set by Lambda; absent: the SDK's own default chain.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`: one endpoint for every AWS service (moto locally).
    pub endpoint_url: Option<Url>,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`
    /// (Lambda sets all three for the execution role); absent: the SDK's default
    /// credential chain.
    pub credentials: Option<AwsCredentials>,
}

#[derive(Debug, Clone)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: a postgres:// URL; `sslmode=require` for managed databases.
    pub url: Secret,
    /// `DATABASE_CA_PEM`: extra trusted CA certificates (PEM text), e.g. the RDS bundle.
    pub ca_pem: Option<String>,
    /// `DB_POOL_SIZE`: a Lambda serves one request at a time, so a small pool is enough.
    pub pool_size: usize,
    /// `DB_STATEMENT_TIMEOUT_MS` (5000; 0 leaves the server's): PostgreSQL cancels a
    /// statement that runs longer, well before the Lambda's own 15 s timeout, so a
    /// hostile query cannot hold a connection and the database's CPU.
    pub statement_timeout: Duration,
    /// `DB_PREPARED_STATEMENTS` (true): how the content read path sends its statements
    /// ([`crate::db::Statements`]); `false` behind a transaction-mode pooler that
    /// cannot keep a session's prepared statements.
    pub statements: crate::db::Statements,
}

#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `UPSTASH_REDIS_REST_URL`.
    pub url: Url,
    /// `UPSTASH_REDIS_REST_TOKEN`.
    pub token: Secret,
    /// `UPSTASH_TIMEOUT_MS`: a slow Redis must not hold a request hostage.
    pub timeout: Duration,
    /// `REDIS_KEY_PREFIX`: namespaces every key this bundle writes, so several
    /// environments (or parallel test runs) can share one database.
    pub key_prefix: String,
}

/// One or more variables are missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.problems.join("; "))
    }
}

impl std::error::Error for ConfigError {}

/// Where variables are looked up: the process environment in Lambda, a map in tests.
/// Its `Debug` shows no value (they include secrets).
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

impl Env {
    pub fn process() -> Self {
        Self(Arc::new(|name| std::env::var(name).ok()))
    }

    pub fn from_map(map: HashMap<String, String>) -> Self {
        Self(Arc::new(move |name| map.get(name).cloned()))
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    pub(crate) fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The AWS settings alone, to read stored settings before the rest; their
    /// problems are reported by the full load that follows.
    pub(crate) fn aws(&self) -> AwsConfig {
        aws_settings(&mut Vars {
            env: self,
            problems: Vec::new(),
        })
    }

    /// A domain's section alone, without the core settings: what the local gateway
    /// and a section's own tests read.
    pub fn section<S: Section>(&self) -> Result<S, ConfigError> {
        let mut vars = Vars {
            env: self,
            problems: Vec::new(),
        };
        let section = S::read(&mut vars);
        if vars.problems.is_empty() {
            Ok(section)
        } else {
            Err(ConfigError {
                problems: vars.problems,
            })
        }
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}

/// A domain's settings, read from the same variables as the core: every problem goes
/// to `vars`, and the value returned is then only used if there were none.
pub trait Section: Sized {
    fn read(vars: &mut Vars<'_>) -> Self;
}

/// A function that needs no settings beyond the core.
impl Section for () {
    fn read(_: &mut Vars<'_>) -> Self {}
}

impl<A: Section, B: Section> Section for (A, B) {
    fn read(vars: &mut Vars<'_>) -> Self {
        (A::read(vars), B::read(vars))
    }
}

impl<A: Section, B: Section, C: Section> Section for (A, B, C) {
    fn read(vars: &mut Vars<'_>) -> Self {
        (A::read(vars), B::read(vars), C::read(vars))
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(Env::process())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Result<Self, ConfigError> {
        Self::from(Env::from_lookup(lookup))
    }

    pub fn from(env: Env) -> Result<Self, ConfigError> {
        Self::load::<()>(env).map(|(config, ())| config)
    }

    /// The core and a function's sections in one pass: all problems at once.
    pub fn load<S: Section>(env: Env) -> Result<(Self, S), ConfigError> {
        let mut vars = Vars {
            env: &env,
            problems: Vec::new(),
        };
        let core = read_core(&mut vars);
        let section = S::read(&mut vars);
        match core {
            Some(core) if vars.problems.is_empty() => Ok((core.with(env), section)),
            _ => Err(ConfigError {
                problems: vars.problems,
            }),
        }
    }

    /// A section read from the variables this configuration came from, e.g. by the
    /// local gateway mounting a function.
    pub fn section<S: Section>(&self) -> Result<S, ConfigError> {
        self.env.section()
    }
}

/// Everything of [`Config`] but where it came from.
struct Core {
    environment: String,
    release: String,
    database: DatabaseConfig,
    redis: RedisConfig,
    sentry_dsn: Option<Secret>,
    sentry_traces_sample_rate: f32,
    cors_allowed_origins: Vec<String>,
    rate_limit_failure_mode: FailureMode,
    max_body_bytes: usize,
    site_url: Url,
    api_url: Url,
    aws: AwsConfig,
}

impl Core {
    fn with(self, env: Env) -> Config {
        Config {
            environment: self.environment,
            release: self.release,
            database: self.database,
            redis: self.redis,
            sentry_dsn: self.sentry_dsn,
            sentry_traces_sample_rate: self.sentry_traces_sample_rate,
            cors_allowed_origins: self.cors_allowed_origins,
            rate_limit_failure_mode: self.rate_limit_failure_mode,
            max_body_bytes: self.max_body_bytes,
            site_url: self.site_url,
            api_url: self.api_url,
            aws: self.aws,
            env,
        }
    }
}

fn read_core(vars: &mut Vars<'_>) -> Option<Core> {
    let database_url = vars.required("DATABASE_URL").and_then(|url| {
        let parsed = crate::db::SslPolicy::split(&url).and_then(|(rest, _)| {
            tokio_postgres::Config::from_str(&rest)
                .map(drop)
                .map_err(|e| e.to_string())
        });
        match parsed {
            Ok(()) => Some(Secret::new(url)),
            Err(e) => {
                vars.problem(
                    "DATABASE_URL",
                    &format!("is not a valid postgres URL ({e})"),
                );
                None
            }
        }
    });
    let redis_url =
        vars.required("UPSTASH_REDIS_REST_URL")
            .and_then(|raw| match Url::parse(&raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                _ => {
                    vars.problem("UPSTASH_REDIS_REST_URL", "must be an http(s) URL");
                    None
                }
            });
    let redis_token = vars.required("UPSTASH_REDIS_REST_TOKEN").map(Secret::new);
    let sentry_dsn =
        vars.optional("SENTRY_DSN")
            .and_then(|dsn| match dsn.parse::<sentry::types::Dsn>() {
                Ok(_) => Some(Secret::new(dsn)),
                Err(_) => {
                    vars.problem("SENTRY_DSN", "is not a valid Sentry DSN");
                    None
                }
            });
    let sentry_traces_sample_rate = vars.parsed("SENTRY_TRACES_SAMPLE_RATE", 0.0_f32);
    if !(0.0..=1.0).contains(&sentry_traces_sample_rate) {
        vars.problem("SENTRY_TRACES_SAMPLE_RATE", "must be between 0.0 and 1.0");
    }
    let cors_allowed_origins = vars
        .optional("CORS_ALLOWED_ORIGINS")
        .map(|raw| parse_origins(&raw, vars))
        .unwrap_or_default();
    let rate_limit_failure_mode = match vars.optional("RATE_LIMIT_FAILURE_MODE").as_deref() {
        None | Some("open") => FailureMode::Open,
        Some("closed") => FailureMode::Closed,
        Some(_) => {
            vars.problem("RATE_LIMIT_FAILURE_MODE", "must be `open` or `closed`");
            FailureMode::Open
        }
    };
    let statement_timeout = Duration::from_millis(vars.parsed("DB_STATEMENT_TIMEOUT_MS", 5000_u64));
    let statements = if vars.parsed("DB_PREPARED_STATEMENTS", true) {
        crate::db::Statements::Prepared
    } else {
        crate::db::Statements::Unnamed
    };
    let pool_size = vars.parsed("DB_POOL_SIZE", 4_usize);
    if pool_size == 0 {
        vars.problem("DB_POOL_SIZE", "must be at least 1");
    }
    let timeout_ms = vars.parsed("UPSTASH_TIMEOUT_MS", 1000_u64);
    let max_body_bytes = vars.parsed("MAX_BODY_BYTES", 1024 * 1024_usize);
    let environment = vars
        .optional("BIANXIAN_ENV")
        .unwrap_or_else(|| "development".into());
    let release = vars
        .optional("BIANXIAN_RELEASE")
        .unwrap_or_else(|| concat!("bianxian@", env!("CARGO_PKG_VERSION")).into());
    let key_prefix = vars
        .optional("REDIS_KEY_PREFIX")
        .unwrap_or_else(|| "bx:".into());
    let ca_pem = vars.optional("DATABASE_CA_PEM");
    let site_url = base_url_or(vars, "SITE_URL", DEFAULT_SITE_URL);
    let api_url = base_url_or(vars, "API_URL", DEFAULT_API_URL);
    let aws = aws_settings(vars);
    Some(Core {
        environment,
        release,
        database: DatabaseConfig {
            url: database_url?,
            ca_pem,
            pool_size,
            statement_timeout,
            statements,
        },
        redis: RedisConfig {
            url: redis_url?,
            token: redis_token?,
            timeout: Duration::from_millis(timeout_ms),
            key_prefix,
        },
        sentry_dsn,
        sentry_traces_sample_rate,
        cors_allowed_origins,
        rate_limit_failure_mode,
        max_body_bytes,
        site_url,
        api_url,
        aws,
    })
}

fn parse_origins(raw: &str, vars: &mut Vars<'_>) -> Vec<String> {
    let mut origins = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match Url::parse(item) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.path() == "/"
                    && url.query().is_none()
                    && !item.ends_with('/') =>
            {
                origins.push(url.origin().ascii_serialization())
            }
            _ => vars.problem(
                "CORS_ALLOWED_ORIGINS",
                &format!("`{item}` is not an origin like https://example.com"),
            ),
        }
    }
    origins
}

const DEFAULT_SITE_URL: &str = "http://localhost:5173/";
/// The local gateway (`scripts/dev`).
const DEFAULT_API_URL: &str = "http://127.0.0.1:3000/";

/// The base URL in `name`, or `default` when it is unset.
fn base_url_or(vars: &mut Vars<'_>, name: &str, default: &str) -> Url {
    let fallback = || Url::parse(default).expect("valid default");
    if vars.optional(name).is_none() {
        return fallback();
    }
    vars.base_url(name).unwrap_or_else(fallback)
}

fn aws_settings(vars: &mut Vars<'_>) -> AwsConfig {
    let endpoint_url = vars.http_url("AWS_ENDPOINT_URL", "must be an http(s) URL");
    let credentials = match (
        vars.optional("AWS_ACCESS_KEY_ID"),
        vars.optional("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(access_key_id), Some(secret)) => Some(AwsCredentials {
            access_key_id: access_key_id.trim().to_owned(),
            secret_access_key: Secret::new(secret.trim()),
            session_token: vars.optional("AWS_SESSION_TOKEN").map(Secret::new),
        }),
        (None, None) => None,
        _ => {
            vars.problem(
                "AWS_ACCESS_KEY_ID",
                "and AWS_SECRET_ACCESS_KEY must be set together",
            );
            None
        }
    };
    AwsConfig {
        region: vars.optional("AWS_REGION").map(|r| r.trim().to_owned()),
        endpoint_url,
        credentials,
    }
}

/// A URL with a trailing `/`, so relative joins keep its path.
pub fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// The variables as a section reads them: each read that fails records a problem
/// naming the variable, and returns a default so reading goes on.
pub struct Vars<'a> {
    env: &'a Env,
    problems: Vec<String>,
}

impl Vars<'_> {
    pub fn problem(&mut self, name: &str, what: &str) {
        self.problems.push(format!("{name} {what}"));
    }

    /// A set, non-blank variable.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.env.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&mut self, name: &str) -> Option<String> {
        let value = self.optional(name);
        if value.is_none() {
            self.problem(name, "is missing");
        }
        value
    }

    /// An optional absolute http(s) URL, e.g. a queue or an endpoint.
    pub fn http_url(&mut self, name: &str, what: &str) -> Option<Url> {
        let raw = self.optional(name)?;
        match Url::parse(raw.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            _ => {
                self.problem(name, what);
                None
            }
        }
    }

    /// An optional http(s) URL without query or fragment, ending with `/`: the base
    /// of links or object URLs.
    pub fn base_url(&mut self, name: &str) -> Option<Url> {
        let raw = self.optional(name)?;
        match Url::parse(raw.trim()) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                Some(with_trailing_slash(url))
            }
            _ => {
                self.problem(name, "must be an http(s) URL without query or fragment");
                None
            }
        }
    }

    /// An optional secret of at least `min_chars` characters.
    pub fn secret(&mut self, name: &str, min_chars: usize) -> Option<Secret> {
        let value = self.optional(name)?;
        if value.trim().chars().count() < min_chars {
            self.problem(name, &format!("must be at least {min_chars} characters"));
            return None;
        }
        Some(Secret::new(value.trim()))
    }

    pub fn parsed<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.optional(name) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                self.problem(name, &format!("has an invalid value `{raw}`"));
                default
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(move |k| map.get(k).cloned())
    }

    const MINIMAL: &[(&str, &str)] = &[
        ("DATABASE_URL", "postgres://app:pw@127.0.0.1:5432/bianxian"),
        ("UPSTASH_REDIS_REST_URL", "http://127.0.0.1:8079"),
        ("UPSTASH_REDIS_REST_TOKEN", "tok"),
    ];

    #[test]
    fn minimal_configuration_gets_defaults() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.environment, "development");
        assert_eq!(config.rate_limit_failure_mode, FailureMode::Open);
        assert_eq!(config.max_body_bytes, 1024 * 1024);
        assert!(config.sentry_dsn.is_none());
        assert_eq!(config.redis.key_prefix, "bx:");
    }

    #[test]
    fn names_every_missing_variable() {
        let err = load(&[]).unwrap_err();
        let text = err.to_string();
        for name in [
            "DATABASE_URL",
            "UPSTASH_REDIS_REST_URL",
            "UPSTASH_REDIS_REST_TOKEN",
        ] {
            assert!(text.contains(&format!("{name} is missing")), "{text}");
        }
    }

    #[test]
    fn rejects_invalid_values_by_name() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("RATE_LIMIT_FAILURE_MODE", "sometimes"));
        pairs.push(("DB_POOL_SIZE", "many"));
        pairs.push((
            "CORS_ALLOWED_ORIGINS",
            "https://ok.example, javascript:alert(1)",
        ));
        pairs.push(("SENTRY_DSN", "not a dsn"));
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let text = err.to_string();
        for name in [
            "RATE_LIMIT_FAILURE_MODE",
            "DB_POOL_SIZE",
            "CORS_ALLOWED_ORIGINS",
            "SENTRY_DSN",
        ] {
            assert!(text.contains(name), "{text}");
        }
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("SENTRY_DSN", "https://publickey@o1.ingest.sentry.io/1"));
        let config = load(&pairs).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("pw@"), "{debug}");
        assert!(!debug.contains("publickey"), "{debug}");
        assert!(!debug.contains("\"tok\""), "{debug}");
    }

    #[test]
    fn origins_are_normalised() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push((
            "CORS_ALLOWED_ORIGINS",
            "https://www.example.com, http://localhost:5173",
        ));
        let config = load(&pairs).unwrap();
        assert_eq!(
            config.cors_allowed_origins,
            vec!["https://www.example.com", "http://localhost:5173"]
        );
    }

    #[test]
    fn site_url_defaults_locally_and_keeps_its_path() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.site_url.as_str(), "http://localhost:5173/");
        assert_eq!(config.api_url.as_str(), "http://127.0.0.1:3000/");
        assert!(config.aws.credentials.is_none());
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("SITE_URL", "https://example.com/app"));
        pairs.push(("API_URL", "https://api.example.com"));
        pairs.push(("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"));
        pairs.push(("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"));
        let config = load(&pairs).unwrap();
        assert_eq!(
            config
                .site_url
                .join("auth/verify?token=t")
                .unwrap()
                .as_str(),
            "https://example.com/app/auth/verify?token=t"
        );
        assert_eq!(config.api_url.as_str(), "https://api.example.com/");
        assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"));
    }

    /// A section of a domain, as a domain crate would write one.
    #[derive(Debug)]
    struct Webhooks {
        key: Option<Secret>,
    }

    impl Section for Webhooks {
        fn read(vars: &mut Vars<'_>) -> Self {
            Self {
                key: vars.secret("SIGNING_KEY", 32),
            }
        }
    }

    #[test]
    fn section_problems_are_reported_with_the_core_ones() {
        let err = Config::load::<Webhooks>(Env::from_lookup(|k| {
            (k == "SIGNING_KEY").then(|| "short".to_owned())
        }))
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("DATABASE_URL is missing"), "{text}");
        assert!(text.contains("SIGNING_KEY must be at least 32"), "{text}");

        let key = "k".repeat(32);
        let mut map: HashMap<String, String> = MINIMAL
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.insert("SIGNING_KEY".into(), key.clone());
        let (config, section) = Config::load::<Webhooks>(Env::from_map(map)).unwrap();
        assert_eq!(section.key.as_ref().map(Secret::expose), Some(key.as_str()));
        assert!(!format!("{config:?}").contains(&key));
        assert!(config.section::<Webhooks>().unwrap().key.is_some());
    }

    #[test]
    fn core_problems_are_reported_together() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("SITE_URL", "ftp://example.com"));
        pairs.push(("AWS_ENDPOINT_URL", "endpoint"));
        pairs.push(("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"));
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
    }
}
