//! The platform every bianxian function stands on.
//!
//! One module per concern; a function crate wires them together in a few lines
//! (`runtime::run_http`) and keeps only its own handlers.

pub mod access;
pub mod audit;
pub mod aws;
pub mod cache;
pub mod config;
pub mod content;
pub mod db;
pub mod email;
pub mod entitlements;
pub mod error;
pub mod http;
pub mod mail;
pub mod members;
pub mod migrations;
pub mod password;
pub mod platform;
pub mod queue;
pub mod ratelimit;
pub mod runtime;
pub mod secret;
pub mod session;
pub mod staff;
pub mod telemetry;
pub mod upstash;
pub mod webhooks;

pub use error::{Error, Result};
pub use platform::Platform;

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
