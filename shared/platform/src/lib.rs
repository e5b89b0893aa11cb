//! The layer every bianxian function stands on, and the bottom of `shared/`:
//! configuration, secrets, the database, migrations, the Upstash client, the response
//! cache, rate limits, the one error type, HTTP helpers, telemetry, the runtime, AWS
//! clients, the transactional outbox and the audit trail.
//!
//! It knows no domain: identity, mail and content build on it, never the other way
//! round (Cargo refuses a cycle). One module per concern; a function crate wires them
//! together in a few lines (`runtime::run_http`) and keeps only its own handlers.

pub mod audit;
pub mod aws;
pub mod cache;
pub mod config;
pub mod csv;
pub mod db;
pub mod error;
pub mod http;
pub mod migrations;
pub mod outbox;
pub mod ratelimit;
pub mod runtime;
pub mod secret;
pub mod signature;
mod state;
pub mod stored;
pub mod telemetry;
pub mod upstash;

pub use error::{Error, Result};
pub use state::Platform;

/// Every binary links this crate, so this is every binary's allocator. Responses are
/// built from many short-lived JSON maps and strings of up to a few hundred KB, and
/// glibc's malloc spent over a third of the content API's CPU time on them (perf,
/// uncached article list); mimalloc is built for exactly that pattern.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Installs ring as rustls' process-wide crypto provider (reqwest, Sentry and the
/// Postgres TLS connector all use it). ring instead of aws-lc-rs keeps the build free of
/// CMake and the binaries smaller. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
