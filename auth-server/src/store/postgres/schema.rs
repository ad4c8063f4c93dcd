//! The store's tables: migrations applied in order, under an advisory lock, and the shared
//! secret.

use super::{Database, message, unavailable};
use crate::store::StoreError;

/// Serialises schema changes of instances starting at once (`pg_advisory_xact_lock` key).
const MIGRATION_LOCK: i64 = 0x6175_7468_5f73_7276; // "auth_srv"

/// The schema, one step per entry; applied in order, each at most once per database. A step
/// missing from a database is applied even when a later one was (a database created while
/// step 3 did not exist yet has 1, 2 and 4), so steps must not depend on those after them.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/001_sessions.sql")),
    (2, include_str!("../migrations/002_revocation.sql")),
    (3, include_str!("../migrations/003_refresh_retry.sql")),
    (
        4,
        include_str!("../migrations/004_no_access_token_records.sql"),
    ),
    (5, include_str!("../migrations/005_revocation_key_hash.sql")),
    (6, include_str!("../migrations/006_session_count.sql")),
    (7, include_str!("../migrations/007_session_dpop_key.sql")),
    (
        8,
        include_str!("../migrations/008_session_recent_proofs.sql"),
    ),
];

impl Database {
    /// Applies missing migrations and returns the shared secret.
    pub(super) async fn prepare(&self, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let mut client = self.client().await?;
        // Read committed whatever the database's default: a migration that counts rows
        // (6) must see those committed by writers it waited for, not a snapshot taken before.
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(unavailable)?;
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
        let applied: Vec<i32> = tx
            .query("SELECT version FROM auth_schema_migrations", &[])
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !applied.contains(v)) {
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
}
