//! The long-lived state of a function: configuration and the clients built from it.
//! Built once per sandbox (or once per local gateway) and shared by every request.
//! Domain services (a mailer, content webhooks) are built by the functions that use
//! them, from their own configuration sections (`config::Section`), on top of this.

use crate::{
    cache::Cache, config::Config, db::Db, error::Result, ratelimit::RateLimiter, upstash::Upstash,
};

#[derive(Debug)]
pub struct Platform {
    pub config: Config,
    pub db: Db,
    pub redis: Upstash,
    pub cache: Cache,
    pub limiter: RateLimiter,
}

impl Platform {
    /// Builds clients without connecting anywhere.
    pub fn new(config: Config) -> Result<Self> {
        let db = Db::new(&config.database)?;
        let redis = Upstash::new(&config.redis)?;
        let cache = Cache::new(redis.clone(), &config.redis.key_prefix);
        let limiter = RateLimiter::new(
            redis.clone(),
            &config.redis.key_prefix,
            config.rate_limit_failure_mode,
        );
        Ok(Self {
            config,
            db,
            redis,
            cache,
            limiter,
        })
    }
}
