//! The PostgreSQL store: every instance of the issuer on one database shares sessions, spent
//! challenges and the secret.
//!
//! Each operation is one statement or one transaction holding the session's row lock, so two
//! instances racing on one session are ordered by the database. The store runs its
//! connections on a runtime thread of its own: an operation from any actix worker is handed
//! to it, and a dead database makes operations fail with [`StoreError::Unavailable`] (a 503)
//! after at most a few seconds, never a 500.

mod operations;
mod schema;
mod tls;

use std::future::Future;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use super::{BoxFuture, StoreError};

/// How long one store operation may take, waiting for a connection included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How often expired sessions and challenges are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Sessions, spent challenges and the shared secret in PostgreSQL, for every instance of the
/// issuer on one database.
///
/// Each operation is one statement or one transaction holding the session's row lock, so two
/// instances racing on one session are ordered by the database. Connections run on a runtime
/// thread of the store's own; when the database is unreachable an operation fails with
/// [`StoreError::Unavailable`] (a 503) within a few seconds.
pub struct PgStore {
    database: Arc<Database>,
    secret: [u8; 32],
    runtime: StoreRuntime,
}

/// The store's runtime, shut down without blocking when dropped: the store may be dropped on
/// an async worker, where a blocking shutdown would panic.
struct StoreRuntime(Option<tokio::runtime::Runtime>);

impl Drop for StoreRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The connection pool and the session bound: what each operation, run on the store's
/// runtime, takes with it.
struct Database {
    pool: Pool,
    max_sessions: i64,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.database.pool.status())
            .field("max_sessions", &self.database.max_sessions)
            .finish_non_exhaustive()
    }
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

fn message(text: impl Into<String>) -> StoreError {
    StoreError::Unavailable(text.into().into())
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with up to
    /// `pool_size` connections, creates or upgrades the tables, and reads the shared secret
    /// (creating it if this is the first instance). `max_sessions` bounds live sessions as in
    /// the memory store.
    ///
    /// TLS follows libpq's `sslmode` in the URL: `disable` (plain TCP), `prefer` (the default:
    /// TLS when the server offers it, the certificate unchecked), `require` (TLS or no
    /// connection; the certificate checked against `sslrootcert` when one is given),
    /// `verify-ca` (the certificate issued by a trusted CA) and `verify-full` (that, and
    /// issued for the host name in the URL). `sslrootcert=PATH` names a PEM file of the
    /// trusted CAs; without it, or with `sslrootcert=system`, `verify-ca` and `verify-full`
    /// trust the system's CAs.
    pub async fn connect(
        url: &str,
        pool_size: usize,
        max_sessions: usize,
    ) -> Result<PgStore, StoreError> {
        let (url, tls_settings) = tls::split_url(url)?;
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|err| message(format!("not a PostgreSQL URL: {}", with_causes(&err))))?;
        let ssl_mode = tls_settings.mode.unwrap_or(match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => tls::SslMode::Disable,
            tokio_postgres::config::SslMode::Require => tls::SslMode::Require,
            _ => tls::SslMode::Prefer,
        });
        config.ssl_mode(ssl_mode.negotiated());
        let tls = tls::connector(ssl_mode, &tls_settings)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(3));
        }
        // A connection the network silently dropped is noticed within seconds, not minutes,
        // and the server gives up on statements and transactions left hanging.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3);
        #[cfg(target_os = "linux")]
        config.tcp_user_timeout(Duration::from_secs(15));
        if config.get_options().is_none() {
            config
                .options("-c statement_timeout=5000 -c idle_in_transaction_session_timeout=15000");
        }
        config.application_name("auth-server");
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(OPERATION_TIMEOUT))
            .create_timeout(Some(OPERATION_TIMEOUT))
            .recycle_timeout(Some(OPERATION_TIMEOUT))
            .build()
            .map_err(|err| message(format!("cannot build the connection pool: {err}")))?;
        let runtime = StoreRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("auth-store")
                .enable_all()
                .build()
                .map_err(unavailable)?,
        ));
        let Some(handle) = runtime.0.as_ref().map(|r| r.handle().clone()) else {
            return Err(message("the store runtime did not start"));
        };
        let database = Arc::new(Database {
            pool,
            max_sessions: i64::try_from(max_sessions).unwrap_or(i64::MAX),
        });
        let mut fresh = [0u8; 32];
        SystemRandom::new()
            .fill(&mut fresh)
            .map_err(|_| message("the system random generator failed"))?;
        let setup = Arc::clone(&database);
        let secret = handle
            .spawn(async move {
                tokio::time::timeout(Duration::from_secs(30), setup.prepare(fresh))
                    .await
                    .unwrap_or_else(|_| {
                        Err(message(
                            "the database did not answer within 30 s (unreachable, or another \
                             instance holds the schema lock)",
                        ))
                    })
            })
            .await
            .map_err(unavailable)?
            // The first connection is made here: its failure is told whole (a TLS error
            // says which check failed) and with the `sslmode` it was made under.
            .map_err(|err| match err {
                StoreError::Unavailable(source) => {
                    let told = with_causes(source.as_ref());
                    if told.contains("sslmode=") {
                        message(told)
                    } else {
                        message(format!("{told} (sslmode={ssl_mode})"))
                    }
                }
                other => other,
            })?;
        let sweeper = Arc::clone(&database);
        handle.spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                if let Err(err) = sweeper.sweep().await {
                    tracing::warn!(error = %err, "could not delete expired sessions");
                }
            }
        });
        Ok(PgStore {
            database,
            secret,
            runtime,
        })
    }

    /// Runs `operation` on the store's runtime. Each operation bounds its own waits with
    /// [`within`].
    fn run<T, F>(
        &self,
        operation: impl FnOnce(Arc<Database>) -> F,
    ) -> BoxFuture<'_, Result<T, StoreError>>
    where
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
        T: Send + 'static,
    {
        let future = operation(Arc::clone(&self.database));
        let handle = self.runtime.0.as_ref().map(|runtime| runtime.spawn(future));
        Box::pin(async move {
            match handle {
                Some(handle) => handle.await.map_err(unavailable)?,
                None => Err(message("the store is shut down")),
            }
        })
    }
}

/// `err` and the errors under it, each told once: tokio-postgres' own errors name only their
/// kind (such as "error performing TLS handshake") and leave the cause to `source`.
fn with_causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut told = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        let text = err.to_string();
        if !told.contains(&text) {
            told.push_str(": ");
            told.push_str(&text);
        }
        cause = err.source();
    }
    told
}

/// `future`, given up (as unavailable) after [`OPERATION_TIMEOUT`].
async fn within<T>(future: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| Err(message("the database did not answer in time")))
}

impl Database {
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }

    async fn sweep(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .batch_execute(
                // An hour's margin: instances whose clocks run behind the database's still
                // find every spent challenge and ended session they could be asked about.
                "DELETE FROM auth_sessions
                     WHERE least(ends_at, token_expires_at) < now() - interval '1 hour';
                 DELETE FROM auth_spent_challenges
                     WHERE expires_at < now() - interval '1 hour';
                 DELETE FROM auth_revoked_tokens
                     WHERE expires_at < now() - interval '2 hours';",
            )
            .await
            .map_err(unavailable)
    }
}
