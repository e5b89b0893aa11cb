//! PostgreSQL through tokio-postgres and a deadpool pool.
//!
//! Two facts of the deployment shape this module:
//! - Production reaches Postgres through RDS Proxy or a pooler in transaction mode,
//!   where named prepared statements break. Queries therefore go through
//!   `query_typed` (unnamed statements, one round trip) or `simple_query`/
//!   `batch_execute`; nothing in the bundle calls `prepare`.
//! - A Lambda sandbox can sit frozen for minutes while the server or proxy drops its
//!   idle connections. A connection idle for longer than [`VERIFY_AFTER_IDLE`] is
//!   checked with an empty query before it is handed out, and replaced if dead; hot
//!   connections skip that round trip.

use std::{str::FromStr, sync::Arc, time::Duration};

use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
    tokio_postgres::{Config as PgConfig, NoTls, config::SslMode},
};
use rustls::{ClientConfig, RootCertStore, pki_types::CertificateDer, pki_types::pem::PemObject};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    config::DatabaseConfig,
    error::{Error, Result},
};

pub use deadpool_postgres::{Client, Transaction};
pub use tokio_postgres::types::Type;

/// Connections idle longer than this are verified before use.
pub const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Db {
    pool: Pool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("status", &self.pool.status())
            .finish()
    }
}

impl Db {
    /// Builds the pool without connecting: a cold start does no I/O it can defer.
    pub fn new(config: &DatabaseConfig) -> Result<Self> {
        let pg_config = PgConfig::from_str(config.url.expose())
            .map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if pg_config.get_ssl_mode() == SslMode::Disable {
            Manager::from_config(pg_config, NoTls, manager_config)
        } else {
            let tls = MakeRustlsConnect::new(tls_config(config.ca_pem.as_deref())?);
            Manager::from_config(pg_config, tls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(5)),
                create: Some(Duration::from_secs(5)),
                recycle: Some(Duration::from_secs(2)),
            })
            .pre_recycle(deadpool_postgres::Hook::async_fn(|client, metrics| {
                Box::pin(async move {
                    if metrics.last_used() < VERIFY_AFTER_IDLE {
                        return Ok(());
                    }
                    client
                        .simple_query("")
                        .await
                        .map(drop)
                        .map_err(|e| HookError::message(format!("stale connection: {e}")))
                })
            }))
            .build()
            .map_err(Error::internal)?;
        Ok(Self { pool })
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<Client> {
        Ok(self.pool.get().await?)
    }

    /// One round trip that proves the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}

fn tls_config(extra_ca_pem: Option<&str>) -> Result<ClientConfig> {
    crate::install_crypto_provider();
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| Error::internal(format!("DATABASE_CA_PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::internal(format!("DATABASE_CA_PEM: {e}")))?;
        }
    }
    Ok(ClientConfig::builder()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth())
}
