//! The store's operations: each one statement, or one transaction holding the session's row
//! lock, bounded in time by [`within`].

use std::time::SystemTime;

use serde_json::{Map, Value};

use super::{PgStore, unavailable, within};
use crate::store::{
    AuthStore, BoxFuture, ChallengeId, LISTED_PAST_EXPIRY, Listing, NewSession, Revoke, Revoked,
    RevokedEntry, Rotate, Rotation, SignInOutcome, StoreError,
};

/// Serialises additions to the revocation list, so that `seq` follows commit order.
const REVOCATION_LOCK: i64 = 0x6175_7468_5f72_766b; // "auth_rvk"

/// Puts `listing` on the revocation list until `expires_at`, unless it is on it already;
/// `Ok(1)` when it was added. Takes the list's lock, held until the transaction ends.
async fn list(
    tx: &tokio_postgres::Transaction<'_>,
    listing: &Listing,
    expires_at: SystemTime,
    now: SystemTime,
) -> Result<u64, StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&REVOCATION_LOCK])
        .await
        .map_err(unavailable)?;
    let key = listing.key();
    let key_hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    tx.execute(
        "INSERT INTO auth_revoked_tokens (jti, key_hash, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key_hash) DO NOTHING",
        &[&key, &key_hash.as_ref(), &expires_at, &now],
    )
    .await
    .map_err(unavailable)
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
                let claims = Value::Object(session.claims);
                let bound = if session.bounded {
                    database.max_sessions
                } else {
                    i64::MAX
                };
                // One statement: the row goes in only while fewer than `max_sessions` are live.
                // Counting them reads every live row, so it is skipped while an upper bound of
                // the table's rows (migration 6: rows added less rows deleted) is below the
                // bound already; CASE evaluates the count only when that bound is not.
                let inserted = tx
                    .execute(
                        "INSERT INTO auth_sessions
                         (id, claims, token_hash, token_expires_at, ends_at, started_at, dpop_jkt)
                     SELECT $1, $2, $3, $4, $5, $6, $8
                     WHERE CASE
                         WHEN (SELECT last_value FROM auth_sessions_added)
                              - (SELECT removed FROM auth_sessions_removed) < $7 THEN true
                         ELSE (SELECT count(*) FROM auth_sessions
                               WHERE revoked_at IS NULL AND ends_at > $6
                                 AND token_expires_at > $6) < $7
                     END",
                        &[
                            &&session.id[..],
                            &claims,
                            &&session.token_hash[..],
                            &session.token_expires_at,
                            &session.ends_at,
                            &now,
                            &bound,
                            &session.dpop_jkt,
                        ],
                    )
                    .await
                    .map_err(unavailable)?;
                if inserted != 1 {
                    return Err(StoreError::Full { what: "sessions" });
                }
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
                            revoked_at IS NOT NULL, previous_hash, rotated_at, generation,
                            dpop_jkt, dpop_recent_proofs
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
                let previous_hash: Option<Vec<u8>> = row.get(5);
                let rotated_at: Option<SystemTime> = row.get(6);
                let previous = previous_hash.as_deref().zip(rotated_at);
                let dpop_jkt: Option<String> = row.get(8);
                let mut recent = recent_proofs(row.get(9));
                let answer = if !rotate.has_key(dpop_jkt.as_deref()) {
                    Rotation::WrongKey
                } else if rotate.replays(&recent) {
                    Rotation::ReplayedProof
                } else if revoked {
                    Rotation::Revoked
                } else if ends_at <= rotate.now || token_expires_at <= rotate.now {
                    Rotation::Expired
                } else if token_hash == rotate.presented {
                    rotate.remember_proof(&mut recent);
                    // `previous_hash = token_hash` reads the row as it was: the presented token.
                    let generation: i64 = tx
                        .query_one(
                            "UPDATE auth_sessions
                         SET previous_hash = token_hash, rotated_at = $4,
                             token_hash = $2, token_expires_at = least($3, ends_at),
                             generation = generation + 1, dpop_recent_proofs = $5
                         WHERE id = $1
                         RETURNING generation",
                            &[
                                &&rotate.id[..],
                                &&rotate.next[..],
                                &rotate.next_expires_at,
                                &rotate.now,
                                &recent.concat(),
                            ],
                        )
                        .await
                        .map_err(unavailable)?
                        .get(0);
                    Rotation::Rotated {
                        claims: claims_of(&row),
                        generation: u64::try_from(generation).unwrap_or(0),
                    }
                } else if rotate.is_retry(&token_hash, previous) {
                    if rotate.dpop_proof.is_some() {
                        rotate.remember_proof(&mut recent);
                        tx.execute(
                            "UPDATE auth_sessions SET dpop_recent_proofs = $2 WHERE id = $1",
                            &[&&rotate.id[..], &recent.concat()],
                        )
                        .await
                        .map_err(unavailable)?;
                    }
                    Rotation::Retried {
                        claims: claims_of(&row),
                        generation: u64::try_from(row.get::<_, i64>(7)).unwrap_or(0),
                    }
                } else {
                    tx.execute(
                        "UPDATE auth_sessions SET revoked_at = $2 WHERE id = $1",
                        &[&&rotate.id[..], &rotate.now],
                    )
                    .await
                    .map_err(unavailable)?;
                    let session = Listing::Session(rotate.id);
                    list(&tx, &session, rotate.access.expires_at, rotate.now).await?;
                    Rotation::Reused
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
                    Revoke::Token { jti, expires_at } => Revoked {
                        listed: list(&tx, &Listing::Token(jti.clone()), *expires_at, now).await?,
                        sessions: 0,
                    },
                    Revoke::Subject {
                        subject,
                        issued_before,
                        until,
                    } => {
                        let sessions = tx
                            .execute(
                                "UPDATE auth_sessions SET revoked_at = $1
                                 WHERE claims->>'sub' = $2 AND revoked_at IS NULL",
                                &[&now, subject],
                            )
                            .await
                            .map_err(unavailable)?;
                        let listing = Listing::Subject {
                            subject: subject.clone(),
                            issued_before: *issued_before,
                        };
                        Revoked {
                            listed: list(&tx, &listing, *until, now).await?,
                            sessions,
                        }
                    }
                    Revoke::Session { id, until } => {
                        // Revoked already: listed then, so nothing to do. Not found (forgotten
                        // after its end): its tokens may live on, so it is listed.
                        let state = tx
                            .query_opt(
                                "SELECT revoked_at IS NOT NULL FROM auth_sessions WHERE id = $1
                                 FOR UPDATE",
                                &[&&id[..]],
                            )
                            .await
                            .map_err(unavailable)?;
                        match state.map(|row| row.get::<_, bool>(0)) {
                            Some(true) => Revoked::default(),
                            found => {
                                if found.is_some() {
                                    tx.execute(
                                        "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2",
                                        &[&now, &&id[..]],
                                    )
                                    .await
                                    .map_err(unavailable)?;
                                }
                                Revoked {
                                    listed: list(&tx, &Listing::Session(*id), *until, now).await?,
                                    sessions: u64::from(found.is_some()),
                                }
                            }
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
                        listing: Listing::from_key(row.get(1)),
                        expires_at: row.get(2),
                    })
                    .collect())
            })
        })
    }
}

/// The identity claims of a session row (column 0).
fn claims_of(row: &tokio_postgres::Row) -> Map<String, Value> {
    match row.get::<_, Value>(0) {
        Value::Object(claims) => claims,
        _ => Map::new(),
    }
}

/// The proofs a session's latest refreshes came with, from their column (16 bytes each).
fn recent_proofs(column: Vec<u8>) -> Vec<[u8; 16]> {
    column
        .chunks_exact(16)
        .filter_map(|chunk| <[u8; 16]>::try_from(chunk).ok())
        .collect()
}
