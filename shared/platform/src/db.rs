//! PostgreSQL through tokio-postgres and a deadpool pool.
//!
//! Two facts of the deployment shape this module:
//! - Production may reach Postgres through RDS Proxy or a pooler in transaction mode,
//!   where a named prepared statement pins the session to one server connection
//!   (RDS Proxy) or breaks (pgbouncer before 1.21 without `max_prepared_statements`).
//!   Queries therefore go through `query_typed` (unnamed statements, one round trip)
//!   or `simple_query`/`batch_execute`, except the content read path, which prepares
//!   its statements once per connection unless told not to ([`Statements`]).
//! - A Lambda sandbox can sit frozen for minutes while the server or proxy drops its
//!   idle connections. A connection idle for longer than [`VERIFY_AFTER_IDLE`] is
//!   checked with an empty query before it is handed out, and replaced if dead; hot
//!   connections skip that round trip.

use std::{str::FromStr, sync::Arc, time::Duration};

use deadpool_postgres::{
    HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts,
    tokio_postgres::{Config as PgConfig, NoTls, config::SslMode},
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::{
    config::DatabaseConfig,
    error::{Error, Result},
};

pub use tokio_postgres::types::Type;
use tokio_postgres::{Row, SimpleQueryMessage, types::ToSql};
use tracing::Instrument;

/// One statement, as a span: a Sentry `db.sql.query` span named by its SQL (our
/// constant text with `$n` placeholders; parameters are never recorded).
pub fn sql_span(statement: &str) -> tracing::Span {
    let mut sql = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = sql.char_indices().nth(1000) {
        sql.truncate(cut);
    }
    tracing::info_span!(
        "sql",
        sentry.op = "db.sql.query",
        sentry.name = %sql,
        db.system = "postgresql"
    )
}

/// The statements the code runs, each in its own [`sql_span`]. Domain functions take
/// `&impl GenericClient` (this trait, not tokio-postgres' own), so a pooled client,
/// a plain one and a transaction all pass and every statement they run is traced.
#[allow(async_fn_in_trait)]
pub trait GenericClient: Sync {
    type Postgres: tokio_postgres::GenericClient + Sync;

    /// The tokio-postgres client or transaction underneath.
    fn postgres(&self) -> &Self::Postgres;

    async fn query_typed(
        &self,
        statement: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::query_typed(self.postgres(), statement, params)
            .instrument(span)
            .await
    }

    async fn query_typed_opt(
        &self,
        statement: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::query_typed_opt(self.postgres(), statement, params)
            .instrument(span)
            .await
    }

    async fn query_typed_one(
        &self,
        statement: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<Row, tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::query_typed_one(self.postgres(), statement, params)
            .instrument(span)
            .await
    }

    async fn execute_typed(
        &self,
        statement: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::execute_typed(self.postgres(), statement, params)
            .instrument(span)
            .await
    }

    async fn batch_execute(
        &self,
        statement: &str,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::batch_execute(self.postgres(), statement)
            .instrument(span)
            .await
    }

    async fn simple_query(
        &self,
        statement: &str,
    ) -> std::result::Result<Vec<SimpleQueryMessage>, tokio_postgres::Error> {
        let span = sql_span(statement);
        tokio_postgres::GenericClient::simple_query(self.postgres(), statement)
            .instrument(span)
            .await
    }
}

/// A pooled connection. Its statement methods are [`GenericClient`]'s, so each runs in
/// its own [`sql_span`]; everything else (prepared-statement cache, `is_closed`) is
/// the pool's client underneath.
pub struct Client(deadpool_postgres::Client);

impl std::ops::Deref for Client {
    type Target = deadpool_postgres::ClientWrapper;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

/// A transaction on a pooled connection, its statements traced as the client's.
pub struct Transaction<'a>(deadpool_postgres::Transaction<'a>);

impl<'a> std::ops::Deref for Transaction<'a> {
    type Target = deadpool_postgres::Transaction<'a>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Client {
    pub async fn transaction(
        &mut self,
    ) -> std::result::Result<Transaction<'_>, tokio_postgres::Error> {
        let span = sql_span("BEGIN");
        Ok(Transaction(self.0.transaction().instrument(span).await?))
    }
}

impl Transaction<'_> {
    pub async fn commit(self) -> std::result::Result<(), tokio_postgres::Error> {
        let span = sql_span("COMMIT");
        self.0.commit().instrument(span).await
    }

    pub async fn rollback(self) -> std::result::Result<(), tokio_postgres::Error> {
        let span = sql_span("ROLLBACK");
        self.0.rollback().instrument(span).await
    }
}

/// The statement methods as inherent ones, so `client.query_typed(..)` on a pooled
/// client or transaction is traced without the trait in scope.
macro_rules! traced_statements {
    ($type:ty) => {
        impl $type {
            pub async fn query_typed(
                &self,
                statement: &str,
                params: &[(&(dyn ToSql + Sync), Type)],
            ) -> std::result::Result<Vec<Row>, tokio_postgres::Error> {
                GenericClient::query_typed(self, statement, params).await
            }

            pub async fn query_typed_opt(
                &self,
                statement: &str,
                params: &[(&(dyn ToSql + Sync), Type)],
            ) -> std::result::Result<Option<Row>, tokio_postgres::Error> {
                GenericClient::query_typed_opt(self, statement, params).await
            }

            pub async fn query_typed_one(
                &self,
                statement: &str,
                params: &[(&(dyn ToSql + Sync), Type)],
            ) -> std::result::Result<Row, tokio_postgres::Error> {
                GenericClient::query_typed_one(self, statement, params).await
            }

            pub async fn execute_typed(
                &self,
                statement: &str,
                params: &[(&(dyn ToSql + Sync), Type)],
            ) -> std::result::Result<u64, tokio_postgres::Error> {
                GenericClient::execute_typed(self, statement, params).await
            }

            pub async fn batch_execute(
                &self,
                statement: &str,
            ) -> std::result::Result<(), tokio_postgres::Error> {
                GenericClient::batch_execute(self, statement).await
            }

            pub async fn simple_query(
                &self,
                statement: &str,
            ) -> std::result::Result<Vec<SimpleQueryMessage>, tokio_postgres::Error> {
                GenericClient::simple_query(self, statement).await
            }
        }
    };
}

traced_statements!(Client);
traced_statements!(Transaction<'_>);

impl<'a> GenericClient for Transaction<'a> {
    type Postgres = tokio_postgres::Transaction<'a>;

    fn postgres(&self) -> &tokio_postgres::Transaction<'a> {
        &self.0
    }
}

/// A client inside a transaction: what a function takes when its statements must
/// commit or roll back with its caller's (a row lock held to the end, an outbox row or
/// an audit entry written with the change it describes). Plain clients do not
/// implement it, so an autocommit connection cannot be handed over by mistake.
pub trait Transactional: GenericClient {}

impl Transactional for tokio_postgres::Transaction<'_> {}
impl Transactional for deadpool_postgres::Transaction<'_> {}
impl Transactional for Transaction<'_> {}

impl GenericClient for tokio_postgres::Client {
    type Postgres = Self;

    fn postgres(&self) -> &Self {
        self
    }
}

impl<'a> GenericClient for tokio_postgres::Transaction<'a> {
    type Postgres = Self;

    fn postgres(&self) -> &Self {
        self
    }
}

impl GenericClient for Client {
    type Postgres = tokio_postgres::Client;

    fn postgres(&self) -> &tokio_postgres::Client {
        &self.0
    }
}

impl GenericClient for deadpool_postgres::ClientWrapper {
    type Postgres = tokio_postgres::Client;

    fn postgres(&self) -> &tokio_postgres::Client {
        self
    }
}

impl<'a> GenericClient for deadpool_postgres::Transaction<'a> {
    type Postgres = tokio_postgres::Transaction<'a>;

    fn postgres(&self) -> &tokio_postgres::Transaction<'a> {
        self
    }
}

/// How a read path sends its statements.
///
/// An unnamed statement is parsed and planned on every execution. For the content
/// API's short indexed reads that is most of the database's work: with pgbench on
/// 10,000 articles, the list statement ran at 2,211/s unnamed and 4,438/s prepared,
/// a populate statement at 8,281/s and 20,977/s. Prepared statements live on the
/// server session, so behind RDS Proxy they pin each sandbox's session to one
/// database connection (a Lambda sandbox holds one connection and serves one request
/// at a time, so the count of connections is the count of warm sandboxes either way,
/// bounded by reserved concurrency); behind a pooler that cannot keep them, set
/// `DB_PREPARED_STATEMENTS=false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statements {
    /// Prepared on a connection's first use of the SQL text, reused afterwards.
    Prepared,
    /// Unnamed, parsed and planned every time.
    Unnamed,
}

/// The most statements one connection keeps prepared. The content API's SQL is a
/// function of a query's shape, and callers choose shapes; past this many the
/// connection's statements are closed and prepared again as they recur, so no
/// caller can grow a server session's memory without bound.
pub const MAX_PREPARED_PER_CONNECTION: usize = 256;

impl Statements {
    /// Runs `sql` with its typed parameters the way this mode says.
    pub async fn query(
        self,
        client: &Client,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>> {
        match self {
            Statements::Unnamed => Ok(GenericClient::query_typed(&***client, sql, params).await?),
            Statements::Prepared => {
                if client.statement_cache.size() >= MAX_PREPARED_PER_CONNECTION {
                    client.statement_cache.clear();
                }
                let types: Vec<Type> = params.iter().map(|(_, ty)| ty.clone()).collect();
                let span = sql_span(sql);
                let statement = client
                    .prepare_typed_cached(sql, &types)
                    .instrument(span.clone())
                    .await?;
                let values: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|(value, _)| *value).collect();
                Ok(client.query(&statement, &values).instrument(span).await?)
            }
        }
    }
}

/// Connections idle longer than this are verified before use.
pub const VERIFY_AFTER_IDLE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Db {
    pool: Pool,
    probe: Pool,
    statements: Statements,
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
        let (rest, sslmode) = SslPolicy::split(config.url.expose())
            .map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
        let mut pg_config =
            PgConfig::from_str(&rest).map_err(|e| Error::internal(format!("DATABASE_URL: {e}")))?;
        pg_config.ssl_mode(sslmode.tokio_postgres());
        // A startup parameter, not a SET: no extra round trip, and it holds on every
        // connection the pool ever opens. Poolers that refuse startup options take
        // `DB_STATEMENT_TIMEOUT_MS=0` and set the limit themselves (RDS Proxy's
        // InitQuery, or `ALTER ROLE … SET statement_timeout`).
        if !config.statement_timeout.is_zero() {
            let limit = format!(
                "-c statement_timeout={}",
                config.statement_timeout.as_millis()
            );
            let options = match pg_config.get_options() {
                Some(given) => format!("{given} {limit}"),
                None => limit,
            };
            pg_config.options(options);
        }
        let tls = match sslmode {
            SslPolicy::Disable => None,
            _ => Some(MakeRustlsConnect::new(tls_config(
                sslmode,
                config.ca_pem.as_deref(),
            )?)),
        };
        let manager = || {
            let manager_config = ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            };
            match &tls {
                None => Manager::from_config(pg_config.clone(), NoTls, manager_config),
                Some(tls) => Manager::from_config(pg_config.clone(), tls.clone(), manager_config),
            }
        };
        // Health's own connection: it reports whether the database answers, not how
        // long requests queue for the pool.
        let probe = Pool::builder(manager())
            .max_size(1)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(2)),
                create: Some(Duration::from_secs(2)),
                recycle: Some(Duration::from_secs(2)),
            })
            .pre_recycle(verify_when_idle())
            .build()
            .map_err(Error::internal)?;
        let pool = Pool::builder(manager())
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(5)),
                create: Some(Duration::from_secs(5)),
                recycle: Some(Duration::from_secs(2)),
            })
            .pre_recycle(verify_when_idle())
            .build()
            .map_err(Error::internal)?;
        Ok(Self {
            pool,
            probe,
            statements: config.statements,
        })
    }

    /// How read paths that may prepare should send their statements.
    pub fn statements(&self) -> Statements {
        self.statements
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<Client> {
        Ok(Client(self.pool.get().await?))
    }

    /// A connection for a start-up task (migrations), whose failure says exactly why
    /// and what to change, where a request's answer stays a generic 503.
    pub async fn client_or_explain(&self) -> Result<Client> {
        self.pool.get().await.map(Client).map_err(|err| {
            let cause = crate::error::with_causes(&err);
            let hint = if cause.contains("not valid for name") {
                " (the server's TLS certificate does not name this host: connect by a name \
                 it was issued for, or use sslmode=verify-ca to check only the chain)"
            } else if cause.contains("certificate") || cause.contains("Certificate") {
                " (the server's TLS certificate is not trusted under this sslmode: set \
                 DATABASE_CA_PEM to the CA that signed it, e.g. the RDS CA bundle, or use \
                 sslmode=require to encrypt without verifying, as libpq does)"
            } else if cause.contains("TLS") || cause.contains("SSL") || cause.contains("tls") {
                " (sslmode=require, verify-ca and verify-full need a server that offers TLS: \
                 enable ssl on the server, or use sslmode=prefer or disable)"
            } else {
                ""
            };
            Error::ServiceUnavailable(format!("cannot connect to the database: {cause}{hint}"))
        })
    }

    /// One round trip that proves the database answers, on a connection of its own:
    /// a pool full of slow requests does not make a healthy database look down.
    pub async fn ping(&self) -> Result<()> {
        self.probe.get().await?.simple_query("SELECT 1").await?;
        Ok(())
    }
}

/// Checks a connection idle for longer than [`VERIFY_AFTER_IDLE`] before handing it
/// out: a thawed sandbox may hold connections the server dropped.
fn verify_when_idle() -> deadpool_postgres::Hook {
    deadpool_postgres::Hook::async_fn(|client, metrics| {
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
    })
}

/// libpq's `sslmode`, of which tokio-postgres knows only `disable`, `prefer` and
/// `require`, with a TLS client that would always verify. Read from `DATABASE_URL`
/// here so every mode means what libpq documents: `prefer` (the default) and
/// `require` encrypt without verifying the certificate (`require` verifies the chain
/// when `DATABASE_CA_PEM` is given, as libpq does with a root certificate file),
/// `verify-ca` verifies the chain, `verify-full` the chain and the host name.
/// `allow` is taken as `prefer` (TLS first, plaintext if the server offers none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslPolicy {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslPolicy {
    fn parse(raw: &str) -> std::result::Result<Self, String> {
        match raw {
            "disable" => Ok(SslPolicy::Disable),
            "allow" | "prefer" => Ok(SslPolicy::Prefer),
            "require" => Ok(SslPolicy::Require),
            "verify-ca" => Ok(SslPolicy::VerifyCa),
            "verify-full" => Ok(SslPolicy::VerifyFull),
            other => Err(format!(
                "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, \
                 verify-full"
            )),
        }
    }

    /// Takes `sslmode` out of a connection string (URL or `key=value` form): the rest
    /// for tokio-postgres, and the mode (libpq's default, `prefer`, when absent).
    pub fn split(url: &str) -> std::result::Result<(String, SslPolicy), String> {
        let mut mode = None;
        let mut keep = |pair: &str| match pair.strip_prefix("sslmode=") {
            Some(value) => {
                mode = Some(value.to_owned());
                false
            }
            None => true,
        };
        let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            match url.split_once('?') {
                Some((base, query)) => {
                    let kept: Vec<&str> = query.split('&').filter(|p| keep(p)).collect();
                    if kept.is_empty() {
                        base.to_owned()
                    } else {
                        format!("{base}?{}", kept.join("&"))
                    }
                }
                None => url.to_owned(),
            }
        } else {
            let kept: Vec<&str> = url.split_whitespace().filter(|p| keep(p)).collect();
            kept.join(" ")
        };
        let mode = match mode {
            Some(raw) => SslPolicy::parse(&raw)?,
            None => SslPolicy::Prefer,
        };
        Ok((rest, mode))
    }

    fn tokio_postgres(self) -> SslMode {
        match self {
            SslPolicy::Disable => SslMode::Disable,
            SslPolicy::Prefer => SslMode::Prefer,
            SslPolicy::Require | SslPolicy::VerifyCa | SslPolicy::VerifyFull => SslMode::Require,
        }
    }
}

fn tls_config(mode: SslPolicy, extra_ca_pem: Option<&str>) -> Result<ClientConfig> {
    crate::install_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, extra_ca_pem) {
        (SslPolicy::Disable | SslPolicy::Prefer, _) | (SslPolicy::Require, None) => {
            Arc::new(LibpqVerifier {
                provider: provider.clone(),
                chain: None,
            })
        }
        (SslPolicy::Require | SslPolicy::VerifyCa, _) => Arc::new(LibpqVerifier {
            provider: provider.clone(),
            chain: Some(webpki(extra_ca_pem, &provider)?),
        }),
        (SslPolicy::VerifyFull, _) => webpki(extra_ca_pem, &provider)?,
    };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(Error::internal)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The standard verifier over the public roots and `DATABASE_CA_PEM`.
fn webpki(
    extra_ca_pem: Option<&str>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
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
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(Error::internal)
}

/// What a TLS connection to the database checks of the server's certificate: for
/// `prefer` and `require` without a CA nothing (encrypted, unchecked: libpq's
/// meaning), for `verify-ca` (and `require` with a CA) the chain without the host
/// name. The handshake's signatures are always verified.
#[derive(Debug)]
struct LibpqVerifier {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_read_as_libpq_reads_it_and_the_rest_passed_on() {
        let cases = [
            (
                "postgres://u@h:5432/db",
                "postgres://u@h:5432/db",
                SslPolicy::Prefer,
            ),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/db",
                SslPolicy::Disable,
            ),
            (
                "postgres://u@h/db?sslmode=allow",
                "postgres://u@h/db",
                SslPolicy::Prefer,
            ),
            (
                "postgresql://u@h/db?application_name=x&sslmode=verify-full&connect_timeout=3",
                "postgresql://u@h/db?application_name=x&connect_timeout=3",
                SslPolicy::VerifyFull,
            ),
            (
                "host=h dbname=db sslmode=verify-ca",
                "host=h dbname=db",
                SslPolicy::VerifyCa,
            ),
            ("host=h sslmode=require", "host=h", SslPolicy::Require),
        ];
        for (url, rest, mode) in cases {
            assert_eq!(
                SslPolicy::split(url).unwrap(),
                (rest.to_owned(), mode),
                "{url}"
            );
        }
        let unknown = SslPolicy::split("postgres://u@h/db?sslmode=verify").unwrap_err();
        assert!(unknown.contains("verify-full"), "{unknown}");
    }
}
