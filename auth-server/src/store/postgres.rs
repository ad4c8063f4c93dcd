//! The PostgreSQL store: every instance of the issuer on one database shares sessions, spent
//! challenges and the secret.
//!
//! Each operation is one statement or one transaction holding the session's row lock, so two
//! instances racing on one session are ordered by the database. The store runs its
//! connections on a runtime thread of its own: an operation from any actix worker is handed
//! to it, and a dead database makes operations fail with [`StoreError::Unavailable`] (a 503)
//! after at most a few seconds, never a 500.

use std::future::Future;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use serde_json::{Map, Value};
use tokio_postgres::NoTls;

use super::{
    AuthStore, BoxFuture, ChallengeId, LISTED_PAST_EXPIRY, NewSession, Revoke, Revoked,
    RevokedEntry, Rotate, Rotation, SignInOutcome, StoreError,
};

/// How long one store operation may take, waiting for a connection included.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// How often expired sessions and challenges are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Serialises schema changes of instances starting at once (`pg_advisory_xact_lock` key).
const MIGRATION_LOCK: i64 = 0x6175_7468_5f73_7276; // "auth_srv"

/// The schema, one step per entry; applied in order, each at most once per database.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("migrations/001_sessions.sql")),
    (2, include_str!("migrations/002_revocation.sql")),
];

/// Serialises additions to the revocation list, so that `seq` follows commit order.
const REVOCATION_LOCK: i64 = 0x6175_7468_5f72_766b; // "auth_rvk"

/// Puts on the revocation list the live access tokens that `condition` (SQL over
/// `auth_access_tokens`, parameters from `$2`) selects; `$1` is the time of the request. Takes
/// the list's lock, held until the transaction ends.
async fn list_tokens(
    tx: &tokio_postgres::Transaction<'_>,
    condition: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REVOCATION_LOCK])
        .await
        .map_err(unavailable)?;
    let sql = format!(
        "INSERT INTO auth_revoked_tokens (jti, expires_at, revoked_at)
         SELECT jti, expires_at, $1 FROM auth_access_tokens
         WHERE expires_at > $1 AND ({condition})
         ORDER BY jti
         ON CONFLICT (jti) DO NOTHING"
    );
    tx.execute(&sql, params).await.map_err(unavailable)
}

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
    pub async fn connect(
        url: &str,
        pool_size: usize,
        max_sessions: usize,
    ) -> Result<PgStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|err| message(format!("not a PostgreSQL URL: {err}")))?;
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
            NoTls,
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
            .map_err(unavailable)??;
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

    /// Applies missing migrations and returns the shared secret.
    async fn prepare(&self, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(unavailable)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS auth_schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(unavailable)?;
        let applied: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM auth_schema_migrations",
                &[],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
            tx.batch_execute(sql).await.map_err(unavailable)?;
            tx.execute(
                "INSERT INTO auth_schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(unavailable)?;
            tracing::info!(version, "auth store schema migrated");
        }
        tx.execute(
            "INSERT INTO auth_secrets (name, value) VALUES ('master', $1)
             ON CONFLICT (name) DO NOTHING",
            &[&&fresh[..]],
        )
        .await
        .map_err(unavailable)?;
        let stored: Vec<u8> = tx
            .query_one("SELECT value FROM auth_secrets WHERE name = 'master'", &[])
            .await
            .map_err(unavailable)?
            .get(0);
        tx.commit().await.map_err(unavailable)?;
        stored
            .try_into()
            .map_err(|_| message("auth_secrets.master is not 32 bytes"))
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
                 DELETE FROM auth_access_tokens
                     WHERE expires_at < now() - interval '1 hour';
                 DELETE FROM auth_revoked_tokens
                     WHERE expires_at < now() - interval '2 hours';",
            )
            .await
            .map_err(unavailable)
    }
}

impl AuthStore for PgStore {
    fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    fn spend_challenge(
        &self,
        id: ChallengeId,
        expires_at: SystemTime,
        outcome: SignInOutcome,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let verified = outcome == SignInOutcome::Verified;
        self.run(move |database| {
            within(async move {
                let client = database.client().await?;
                // A row comes back only when this call inserted it (or replaced an expired one).
                let rows = client
                    .query(
                        "INSERT INTO auth_spent_challenges (id, expires_at, verified)
                     VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE
                         SET expires_at = excluded.expires_at, verified = excluded.verified
                         WHERE auth_spent_challenges.expires_at <= $4
                     RETURNING id",
                        &[&&id[..], &expires_at, &verified, &now],
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(!rows.is_empty())
            })
        })
    }

    fn start_session(
        &self,
        session: NewSession,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.run(move |database| {
            within(async move {
                let mut client = database.client().await?;
                let tx = client.transaction().await.map_err(unavailable)?;
                let subject = subject_of(&session.claims);
                let claims = Value::Object(session.claims);
                let bound = if session.bounded {
                    database.max_sessions
                } else {
                    i64::MAX
                };
                // One statement: the row goes in only while fewer than `max_sessions` are live.
                let inserted = tx
                    .execute(
                        "INSERT INTO auth_sessions
                         (id, claims, token_hash, token_expires_at, ends_at, started_at)
                     SELECT $1, $2, $3, $4, $5, $6
                     WHERE (SELECT count(*) FROM auth_sessions
                            WHERE revoked_at IS NULL AND ends_at > $6
                              AND token_expires_at > $6) < $7",
                        &[
                            &&session.id[..],
                            &claims,
                            &&session.token_hash[..],
                            &session.token_expires_at,
                            &session.ends_at,
                            &now,
                            &bound,
                        ],
                    )
                    .await
                    .map_err(unavailable)?;
                if inserted != 1 {
                    return Err(StoreError::Full { what: "sessions" });
                }
                tx.execute(
                    "INSERT INTO auth_access_tokens (jti, session_id, subject, expires_at)
                     VALUES ($1, $2, $3, $4)",
                    &[
                        &session.access.jti,
                        &&session.id[..],
                        &subject,
                        &session.access.expires_at,
                    ],
                )
                .await
                .map_err(unavailable)?;
                tx.commit().await.map_err(unavailable)
            })
        })
    }

    fn rotate(&self, rotate: Rotate) -> BoxFuture<'_, Result<Rotation, StoreError>> {
        self.run(move |database| async move {
            let mut client = within(database.client()).await?;
            let tx = within(async { client.transaction().await.map_err(unavailable) }).await?;
            // Everything up to the commit is bounded in time; a transaction given up rolls
            // back, so the presented token stays current. The commit itself is not cut short
            // (the server's statement timeout and TCP keepalive bound it). The one case where a
            // 503 follows a rotation that happened is a connection lost during the commit.
            let answer = within(async {
                // The row lock orders concurrent rotations of one session, on every instance.
                let Some(row) = tx
                    .query_opt(
                        "SELECT claims, token_hash, token_expires_at, ends_at,
                            revoked_at IS NOT NULL
                     FROM auth_sessions WHERE id = $1 FOR UPDATE",
                        &[&&rotate.id[..]],
                    )
                    .await
                    .map_err(unavailable)?
                else {
                    return Ok(Rotation::Unknown);
                };
                let token_hash: Vec<u8> = row.get(1);
                let token_expires_at: SystemTime = row.get(2);
                let ends_at: SystemTime = row.get(3);
                let revoked: bool = row.get(4);
                let answer = if revoked {
                    Rotation::Revoked
                } else if ends_at <= rotate.now || token_expires_at <= rotate.now {
                    Rotation::Expired
                } else if token_hash != rotate.presented {
                    tx.execute(
                        "UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1",
                        &[&&rotate.id[..], &rotate.now],
                    )
                    .await
                    .map_err(unavailable)?;
                    list_tokens(&tx, "session_id = $2", &[&rotate.now, &&rotate.id[..]]).await?;
                    Rotation::Reused
                } else {
                    let generation: i64 = tx
                        .query_one(
                            "UPDATE auth_sessions
                         SET token_hash = $2, token_expires_at = least($3, ends_at),
                             generation = generation + 1
                         WHERE id = $1
                         RETURNING generation",
                            &[&&rotate.id[..], &&rotate.next[..], &rotate.next_expires_at],
                        )
                        .await
                        .map_err(unavailable)?
                        .get(0);
                    let claims = match row.get::<_, Value>(0) {
                        Value::Object(claims) => claims,
                        _ => Map::new(),
                    };
                    tx.execute(
                        "INSERT INTO auth_access_tokens (jti, session_id, subject, expires_at)
                         VALUES ($1, $2, $3, $4)",
                        &[
                            &rotate.access.jti,
                            &&rotate.id[..],
                            &subject_of(&claims),
                            &rotate.access.expires_at,
                        ],
                    )
                    .await
                    .map_err(unavailable)?;
                    Rotation::Rotated {
                        claims,
                        generation: u64::try_from(generation).unwrap_or(0),
                    }
                };
                Ok(answer)
            })
            .await?;
            tx.commit().await.map_err(unavailable)?;
            Ok(answer)
        })
    }

    fn revoke(&self, what: Revoke, now: SystemTime) -> BoxFuture<'_, Result<Revoked, StoreError>> {
        self.run(move |database| {
            within(async move {
                let mut client = database.client().await?;
                let tx = client.transaction().await.map_err(unavailable)?;
                let revoked = match &what {
                    Revoke::Token(jti) => Revoked {
                        tokens: list_tokens(&tx, "jti = $2", &[&now, jti]).await?,
                        sessions: 0,
                    },
                    Revoke::Subject(subject) => {
                        let sessions = tx
                            .execute(
                                "UPDATE auth_sessions SET revoked_at = $1
                                 WHERE claims->>'sub' = $2 AND revoked_at IS NULL",
                                &[&now, subject],
                            )
                            .await
                            .map_err(unavailable)?;
                        Revoked {
                            tokens: list_tokens(&tx, "subject = $2", &[&now, subject]).await?,
                            sessions,
                        }
                    }
                    Revoke::Session(id) => {
                        let sessions = tx
                            .execute(
                                "UPDATE auth_sessions SET revoked_at = $1
                                 WHERE id = $2 AND revoked_at IS NULL",
                                &[&now, &&id[..]],
                            )
                            .await
                            .map_err(unavailable)?;
                        Revoked {
                            tokens: list_tokens(&tx, "session_id = $2", &[&now, &&id[..]]).await?,
                            sessions,
                        }
                    }
                };
                tx.commit().await.map_err(unavailable)?;
                Ok(revoked)
            })
        })
    }

    fn revoked_after(
        &self,
        after: u64,
        limit: usize,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Vec<RevokedEntry>, StoreError>> {
        let horizon = now
            .checked_sub(LISTED_PAST_EXPIRY)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.run(move |database| {
            within(async move {
                let client = database.client().await?;
                let rows = client
                    .query(
                        "SELECT seq, jti, expires_at FROM auth_revoked_tokens
                         WHERE seq > $1 AND expires_at >= $2
                         ORDER BY seq LIMIT $3",
                        &[
                            &i64::try_from(after).unwrap_or(i64::MAX),
                            &horizon,
                            &i64::try_from(limit).unwrap_or(i64::MAX),
                        ],
                    )
                    .await
                    .map_err(unavailable)?;
                Ok(rows
                    .iter()
                    .map(|row| RevokedEntry {
                        seq: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
                        jti: row.get(1),
                        expires_at: row.get(2),
                    })
                    .collect())
            })
        })
    }
}

/// The `sub` of a session's claims (empty when it has none).
fn subject_of(claims: &Map<String, Value>) -> String {
    claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
