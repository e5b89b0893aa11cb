//! Typed configuration, read once from environment variables at start-up.
//!
//! Every problem is collected before failing so a broken deployment shows all
//! missing or invalid variables in one log line instead of one per cold start.

use std::{fmt, str::FromStr, time::Duration};

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
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: a postgres:// URL; `sslmode=require` for managed databases.
    pub url: Secret,
    /// `DATABASE_CA_PEM`: extra trusted CA certificates (PEM text), e.g. the RDS bundle.
    pub ca_pem: Option<String>,
    /// `DB_POOL_SIZE`: a Lambda serves one request at a time, so a small pool is enough.
    pub pool_size: usize,
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut vars = Vars {
            lookup: &lookup,
            problems: Vec::new(),
        };
        let database_url = vars.required("DATABASE_URL").and_then(|url| {
            match tokio_postgres::Config::from_str(&url) {
                Ok(_) => Some(Secret::new(url)),
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
            .map(|raw| parse_origins(&raw, &mut vars))
            .unwrap_or_default();
        let rate_limit_failure_mode = match vars.optional("RATE_LIMIT_FAILURE_MODE").as_deref() {
            None | Some("open") => FailureMode::Open,
            Some("closed") => FailureMode::Closed,
            Some(_) => {
                vars.problem("RATE_LIMIT_FAILURE_MODE", "must be `open` or `closed`");
                FailureMode::Open
            }
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

        let problems = vars.problems;
        match (database_url, redis_url, redis_token) {
            (Some(url), Some(redis_url), Some(token)) if problems.is_empty() => Ok(Config {
                environment,
                release,
                database: DatabaseConfig {
                    url,
                    ca_pem,
                    pool_size,
                },
                redis: RedisConfig {
                    url: redis_url,
                    token,
                    timeout: Duration::from_millis(timeout_ms),
                    key_prefix,
                },
                sentry_dsn,
                sentry_traces_sample_rate,
                cors_allowed_origins,
                rate_limit_failure_mode,
                max_body_bytes,
            }),
            _ => Err(ConfigError { problems }),
        }
    }
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

struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Vars<'_> {
    fn problem(&mut self, name: &str, what: &str) {
        self.problems.push(format!("{name} {what}"));
    }

    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&mut self, name: &str) -> Option<String> {
        let value = self.optional(name);
        if value.is_none() {
            self.problem(name, "is missing");
        }
        value
    }

    fn parsed<T: FromStr>(&mut self, name: &str, default: T) -> T {
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
        Config::from_lookup(|k| map.get(k).cloned())
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
}
