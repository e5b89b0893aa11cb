//! Brute-force protection for password sign-in that a stranger cannot turn into a
//! lockout (OWASP's "device cookies" scheme, with Auth0's per-account-and-IP blocking).
//!
//! Only failures count, never attempts, and they count per client: a client is an
//! IP, or a known device (a browser the account signed in from before, proven by
//! an HttpOnly cookie whose hash Redis binds to the account). A client that fails
//! [`LockoutPolicy::per_client`] times in a window is refused for that account only;
//! the owner elsewhere is not. Distributed guessing from many IPs meets a second,
//! higher ceiling per account ([`LockoutPolicy::per_account`]) that refuses every
//! unknown client, while the owner's known devices keep their own budget and get in
//! with the right password. Refusals are 429s with `Retry-After`, checked before the
//! password so a refused client learns nothing; the account key is the typed email,
//! whether or not it exists, so the counters reveal nothing either.

use std::time::Duration;

use http::HeaderValue;
use lambda_http::Request;
use platform::{
    Platform, cmd,
    error::Result,
    http::client_ip,
    ratelimit::{Policy, RateLimiter},
    secret::Secret,
    upstash::Upstash,
};
use serde_json::Value;

use crate::{
    access::cookie,
    session::{new_token, token_hash},
};

const DEVICE_PREFIX: &str = "bxd_";
/// How long a device stays known without signing in again.
const DEVICE_LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);

/// The limits of one kind of account, and where its device cookie lives.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// `member` or `staff`: names the devices.
    pub kind: &'static str,
    /// Failures one client (an IP, or a known device) may make per account.
    pub per_client: Policy,
    /// Failures per account from unknown clients together, before they are all
    /// refused; known devices are not.
    pub per_account: Policy,
    /// The device cookie: its name and the path of the sign-in route it is sent to.
    pub cookie: &'static str,
    pub cookie_path: &'static str,
}

/// One sign-in attempt that [`Lockout::admit`] let through.
#[derive(Debug)]
pub struct Attempt {
    account: String,
    client: String,
    /// The known device's token, when the attempt came from one.
    device: Option<Secret>,
}

#[derive(Debug, Clone)]
pub struct Lockout {
    limiter: RateLimiter,
    redis: Upstash,
    prefix: String,
    policy: LockoutPolicy,
}

impl Lockout {
    pub fn new(platform: &Platform, policy: LockoutPolicy) -> Self {
        Self {
            limiter: platform.limiter.clone(),
            redis: platform.redis.clone(),
            prefix: platform.config.redis.key_prefix.clone(),
            policy,
        }
    }

    fn device_key(&self, device_hash: &str) -> String {
        format!("{}device:{}:{device_hash}", self.prefix, self.policy.kind)
    }

    /// Refuses (429) a client that has failed too often for the account `email`
    /// names; otherwise the attempt, to report as [`Self::failed`] or
    /// [`Self::succeeded`].
    pub async fn admit(&self, req: &Request, email: &str) -> Result<Attempt> {
        // Hashed: the counters' keys hold no email address.
        let account = token_hash(&email.trim().to_lowercase());
        let device = match cookie(req, self.policy.cookie) {
            Some(token) if token.starts_with(DEVICE_PREFIX) && token.len() <= 128 => {
                let key = self.device_key(&token_hash(&token));
                let bound = self.redis.cmd(cmd!["GET", key]).await?;
                (bound == Value::String(account.clone())).then(|| Secret::new(token))
            }
            _ => None,
        };
        let attempt = Attempt {
            client: match &device {
                Some(token) => format!("{account}:device:{}", token_hash(token.expose())),
                None => format!("{account}:ip:{}", client_ip(req)),
            },
            device,
            account,
        };
        self.limiter
            .peek(self.policy.per_client, &attempt.client)
            .await?
            .check()?;
        if attempt.device.is_none() {
            self.limiter
                .peek(self.policy.per_account, &attempt.account)
                .await?
                .check()?;
        }
        Ok(attempt)
    }

    /// Counts a wrong password against the client and, from an unknown client,
    /// against the account.
    pub async fn failed(&self, attempt: &Attempt) -> Result<()> {
        self.limiter
            .count(self.policy.per_client, &attempt.client)
            .await?;
        if attempt.device.is_none() {
            self.limiter
                .count(self.policy.per_account, &attempt.account)
                .await?;
        }
        Ok(())
    }

    /// After the right password: the `Set-Cookie` that makes (or keeps) this browser
    /// a known device of the account.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<HeaderValue> {
        let token = attempt
            .device
            .clone()
            .unwrap_or_else(|| new_token(DEVICE_PREFIX));
        self.remember(&attempt.account, token).await
    }

    /// Makes the browser that proved the account `email` names (through a mailed
    /// link) a known device; the cookie to set.
    pub async fn trust(&self, email: &str) -> Result<HeaderValue> {
        let account = token_hash(&email.trim().to_lowercase());
        self.remember(&account, new_token(DEVICE_PREFIX)).await
    }

    async fn remember(&self, account: &str, token: Secret) -> Result<HeaderValue> {
        let lifetime = DEVICE_LIFETIME.as_secs();
        let key = self.device_key(&token_hash(token.expose()));
        self.redis
            .cmd(cmd!["SET", key, account, "EX", lifetime])
            .await?;
        let value = format!(
            "{}={}; Path={}; Max-Age={lifetime}; HttpOnly; Secure; SameSite=Strict",
            self.policy.cookie,
            token.expose(),
            self.policy.cookie_path
        );
        HeaderValue::from_str(&value).map_err(platform::Error::internal)
    }
}
