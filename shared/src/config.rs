//! Typed configuration, read once from environment variables at start-up.
//!
//! Every problem is collected before failing so a broken deployment shows all
//! missing or invalid variables in one log line instead of one per cold start.

use std::{fmt, str::FromStr, time::Duration};

use url::Url;

use crate::{mail::Mailbox, secret::Secret};

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
    /// `CONTENT_CACHE_TTL_SECS`: how long the public content API keeps a response in
    /// Redis (default 60); `0` turns the response cache off, which is how
    /// `scripts/bench content` measures the database path.
    pub content_cache_ttl: Duration,

    // --- mail and AWS ---------------------------------------------------------
    /// `SITE_URL`: the public frontend, the base of every link in a mail. Always ends
    /// with `/`, so `site_url.join("auth/verify?token=…")` (no leading slash) keeps
    /// a base path such as `https://example.com/app/`.
    pub site_url: Url,
    pub mail: MailConfig,
    pub aws: AwsConfig,
    pub media: MediaConfig,
    pub webhooks: WebhookConfig,
}

/// Outgoing content webhooks (`shared::webhooks`).
#[derive(Debug, Clone, Default)]
pub struct WebhookConfig {
    /// `WEBHOOK_QUEUE_URL`: the SQS queue the webhook-send function consumes; optional
    /// like `MAIL_QUEUE_URL` (without it deliveries wait in the outbox).
    pub queue_url: Option<Url>,
    /// `WEBHOOK_SIGNING_KEY`: the key every webhook's signing secret is derived from
    /// (with the webhook's salt), at least 32 characters. Only the admin function
    /// (which shows a new secret once) and webhook-send need it; without it they
    /// refuse to create webhooks or sign deliveries.
    pub signing_key: Option<Secret>,
}

/// Media uploads (content-admin's `/admin/uploads`): files go straight from the
/// browser to S3 through presigned PUT URLs.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// `MEDIA_BUCKET`: the private bucket uploads land in. Optional so a stack without
    /// AWS or moto still starts; without it the upload routes answer 503.
    pub bucket: Option<String>,
    /// `MEDIA_BASE_URL`: where the public reads an object, `base_url` + key (e.g. a
    /// CloudFront domain). Always ends with `/`. Default: the bucket's own URL (the
    /// moto endpoint locally), which only serves objects if the bucket allows it.
    pub base_url: Option<Url>,
    /// `MAX_UPLOAD_BYTES`: the largest file a presigned URL accepts (default 20 MiB).
    pub max_upload_bytes: u64,
}

/// S3 takes at most 5 GiB in one PUT.
const MAX_SINGLE_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// Transactional mail (`shared::mail`).
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `MAIL_FROM`: `Name <address>` or a bare address; the address (or its domain)
    /// must be a verified SES identity.
    pub from: Mailbox,
    /// `MAIL_QUEUE_URL`: the SQS queue the mail-send function consumes. Optional so a
    /// stack without AWS or moto (unit tests, a test run without moto) still starts:
    /// without it jobs wait in the outbox and `Mailer::dispatch` only logs.
    /// template.yaml always sets it.
    pub queue_url: Option<Url>,
    /// `SES_REGION`: where SES sends from, when that is not the functions' region
    /// (SES sandbox status and verified identities are per region).
    pub ses_region: Option<String>,
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
        let content_cache_ttl = Duration::from_secs(vars.parsed("CONTENT_CACHE_TTL_SECS", 60_u64));
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

        let (site_url, mail, aws) = mail_settings(&mut vars);
        let media = media_settings(&mut vars, &aws);
        let webhooks = webhook_settings(&mut vars);

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
                content_cache_ttl,
                site_url,
                mail,
                aws,
                media,
                webhooks,
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

/// The `From` of mail when `MAIL_FROM` is not set: fine for moto, refused by SES.
const DEFAULT_MAIL_FROM: &str = "AI变现之路 <no-reply@example.com>";
const DEFAULT_SITE_URL: &str = "http://localhost:5173/";

fn mail_settings(vars: &mut Vars<'_>) -> (Url, MailConfig, AwsConfig) {
    let fallback_site = || Url::parse(DEFAULT_SITE_URL).expect("valid default");
    let site_url = match vars.optional("SITE_URL") {
        None => fallback_site(),
        Some(raw) => match Url::parse(raw.trim()) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                with_trailing_slash(url)
            }
            _ => {
                vars.problem(
                    "SITE_URL",
                    "must be an http(s) URL without query or fragment",
                );
                fallback_site()
            }
        },
    };
    let from_raw = vars
        .optional("MAIL_FROM")
        .unwrap_or_else(|| DEFAULT_MAIL_FROM.into());
    let from = Mailbox::parse(&from_raw).unwrap_or_else(|e| {
        vars.problem("MAIL_FROM", &format!("is not a mailbox ({e})"));
        Mailbox::parse(DEFAULT_MAIL_FROM).expect("valid default")
    });
    let queue_url = vars.http_url("MAIL_QUEUE_URL", "must be an http(s) SQS queue URL");
    let ses_region = vars.optional("SES_REGION").map(|r| r.trim().to_owned());
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
    let aws = AwsConfig {
        region: vars.optional("AWS_REGION").map(|r| r.trim().to_owned()),
        endpoint_url,
        credentials,
    };
    let mail = MailConfig {
        from,
        queue_url,
        ses_region,
    };
    (site_url, mail, aws)
}

fn media_settings(vars: &mut Vars<'_>, aws: &AwsConfig) -> MediaConfig {
    let bucket = vars
        .optional("MEDIA_BUCKET")
        .map(|b| b.trim().to_owned())
        .filter(|bucket| {
            let ok = valid_bucket_name(bucket);
            if !ok {
                vars.problem(
                    "MEDIA_BUCKET",
                    "must be an S3 bucket name (3-63 lowercase letters, digits, `-` and `.`)",
                );
            }
            ok
        });
    let explicit = vars
        .optional("MEDIA_BASE_URL")
        .and_then(|raw| match Url::parse(raw.trim()) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.query().is_none()
                    && url.fragment().is_none() =>
            {
                Some(with_trailing_slash(url))
            }
            _ => {
                vars.problem(
                    "MEDIA_BASE_URL",
                    "must be an http(s) URL without query or fragment",
                );
                None
            }
        });
    let base_url = explicit.or_else(|| bucket.as_deref().and_then(|b| bucket_url(b, aws)));
    let max_upload_bytes = vars.parsed("MAX_UPLOAD_BYTES", 20 * 1024 * 1024_u64);
    if !(1..=MAX_SINGLE_PUT).contains(&max_upload_bytes) {
        vars.problem("MAX_UPLOAD_BYTES", "must be between 1 and 5 GiB");
    }
    MediaConfig {
        bucket,
        base_url,
        max_upload_bytes,
    }
}

/// S3's naming rules for new buckets, minus the rarely used IP-address check.
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !name.contains("..")
}

/// The bucket's own URL: path-style on a custom endpoint (moto), the virtual-hosted
/// AWS name otherwise.
fn bucket_url(bucket: &str, aws: &AwsConfig) -> Option<Url> {
    let raw = match (&aws.endpoint_url, &aws.region) {
        (Some(endpoint), _) => format!("{}/{bucket}/", endpoint.as_str().trim_end_matches('/')),
        (None, Some(region)) => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        (None, None) => format!("https://{bucket}.s3.amazonaws.com/"),
    };
    Url::parse(&raw).ok()
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

/// Shorter keys would make the derived webhook secrets guessable offline.
const MIN_SIGNING_KEY_CHARS: usize = 32;

fn webhook_settings(vars: &mut Vars<'_>) -> WebhookConfig {
    let queue_url = vars.http_url("WEBHOOK_QUEUE_URL", "must be an http(s) SQS queue URL");
    let signing_key = vars.optional("WEBHOOK_SIGNING_KEY").and_then(|key| {
        if key.trim().chars().count() < MIN_SIGNING_KEY_CHARS {
            vars.problem(
                "WEBHOOK_SIGNING_KEY",
                &format!("must be at least {MIN_SIGNING_KEY_CHARS} characters"),
            );
            return None;
        }
        Some(Secret::new(key.trim()))
    });
    WebhookConfig {
        queue_url,
        signing_key,
    }
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

    /// An optional absolute http(s) URL, e.g. a queue or an endpoint.
    fn http_url(&mut self, name: &str, what: &str) -> Option<Url> {
        let raw = self.optional(name)?;
        match Url::parse(raw.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            _ => {
                self.problem(name, what);
                None
            }
        }
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
        assert_eq!(config.content_cache_ttl, Duration::from_secs(60));
    }

    #[test]
    fn content_cache_can_be_turned_off() {
        let config = load(&[MINIMAL, &[("CONTENT_CACHE_TTL_SECS", "0")]].concat()).unwrap();
        assert!(config.content_cache_ttl.is_zero());
        let err = load(&[MINIMAL, &[("CONTENT_CACHE_TTL_SECS", "-1")]].concat()).unwrap_err();
        assert!(
            err.problems
                .iter()
                .any(|p| p.contains("CONTENT_CACHE_TTL_SECS"))
        );
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
    fn mail_defaults_work_locally() {
        let config = load(MINIMAL).unwrap();
        assert_eq!(config.site_url.as_str(), "http://localhost:5173/");
        assert_eq!(config.mail.from.address.as_str(), "no-reply@example.com");
        assert_eq!(config.mail.from.name.as_deref(), Some("AI变现之路"));
        assert!(config.mail.queue_url.is_none());
        assert!(config.aws.credentials.is_none());
    }

    #[test]
    fn mail_settings_are_parsed_and_site_url_keeps_its_path() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("SITE_URL", "https://example.com/app"));
        pairs.push(("MAIL_FROM", "\"AI 变现\" <Hello@Example.com>"));
        pairs.push((
            "MAIL_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/mail",
        ));
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
        assert_eq!(config.mail.from.name.as_deref(), Some("AI 变现"));
        assert_eq!(config.mail.from.address.as_str(), "hello@example.com");
        assert!(config.mail.queue_url.is_some());
        assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn media_defaults_to_the_bucket_url() {
        let config = load(MINIMAL).unwrap();
        assert!(config.media.bucket.is_none());
        assert!(config.media.base_url.is_none());
        assert_eq!(config.media.max_upload_bytes, 20 * 1024 * 1024);

        let on_aws = load(
            &[
                MINIMAL,
                &[("MEDIA_BUCKET", "bx-media"), ("AWS_REGION", "ap-east-1")],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            on_aws.media.base_url.unwrap().as_str(),
            "https://bx-media.s3.ap-east-1.amazonaws.com/"
        );
        let on_moto = load(
            &[
                MINIMAL,
                &[
                    ("MEDIA_BUCKET", "bx-media"),
                    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            on_moto.media.base_url.unwrap().as_str(),
            "http://127.0.0.1:5000/bx-media/"
        );
        let cdn = load(
            &[
                MINIMAL,
                &[
                    ("MEDIA_BUCKET", "bx-media"),
                    ("MEDIA_BASE_URL", "https://media.example.com/files"),
                    ("MAX_UPLOAD_BYTES", "1048576"),
                ],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(
            cdn.media.base_url.unwrap().as_str(),
            "https://media.example.com/files/"
        );
        assert_eq!(cdn.media.max_upload_bytes, 1024 * 1024);
    }

    #[test]
    fn media_problems_are_reported_together() {
        let err = load(
            &[
                MINIMAL,
                &[
                    ("MEDIA_BUCKET", "Not_A_Bucket"),
                    ("MEDIA_BASE_URL", "ftp://media.example.com"),
                    ("MAX_UPLOAD_BYTES", "0"),
                ],
            ]
            .concat(),
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        for name in ["MEDIA_BUCKET", "MEDIA_BASE_URL", "MAX_UPLOAD_BYTES"] {
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn webhook_settings_are_optional_secret_and_checked() {
        let config = load(MINIMAL).unwrap();
        assert!(config.webhooks.queue_url.is_none());
        assert!(config.webhooks.signing_key.is_none());

        let key = "k".repeat(MIN_SIGNING_KEY_CHARS);
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("WEBHOOK_SIGNING_KEY", &key));
        pairs.push((
            "WEBHOOK_QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/webhooks",
        ));
        let config = load(&pairs).unwrap();
        assert_eq!(
            config.webhooks.signing_key.as_ref().map(Secret::expose),
            Some(key.as_str())
        );
        assert!(!format!("{config:?}").contains(&key));

        let mut pairs = MINIMAL.to_vec();
        pairs.push(("WEBHOOK_SIGNING_KEY", "short"));
        pairs.push(("WEBHOOK_QUEUE_URL", "queue"));
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn mail_problems_are_reported_with_the_rest() {
        let mut pairs = MINIMAL.to_vec();
        pairs.push(("SITE_URL", "ftp://example.com"));
        pairs.push(("MAIL_FROM", "Someone <not an address>"));
        pairs.push(("MAIL_QUEUE_URL", "queue"));
        pairs.push(("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"));
        let err = load(&pairs).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
    }
}
