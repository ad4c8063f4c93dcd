//! Where sessions and spent challenges live.
//!
//! A sign-in starts a *session*: one record holding the identity, the hash of the one refresh
//! token that is current, how many times it was rotated, and when the session ends. Rotating
//! the refresh token replaces the hash in one atomic step; presenting any other token of the
//! session (an earlier, spent one) revokes the session in that same step, so no interleaving of
//! concurrent refreshes leaves a descendant of a replayed token working.
//!
//! With a grace ([`Rotate::grace`], `refresh_reuse_grace_seconds`), the record also keeps the
//! hash of the token spent by the latest rotation and the time of that rotation: that one
//! token, presented again within the grace while its successor is still current, is a retry
//! ([`Rotation::Retried`]) that changes nothing.
//!
//! Access tokens are not remembered: each names its session (`sid`), and its `jti` carries its
//! expiry under a MAC, so that it can be revoked without a record of it. Revocations go on an
//! append-only list that validators read (`GET /api/v1/auth/revoked-jtis`), one entry each:
//! a token (`jti`), a session (every token it issued), or a subject (every token issued to it
//! until then), whatever the number of tokens it covers. Each entry gets a sequence number in
//! commit order, so a reader that asks for what came after the last entry it saw misses
//! nothing.
//!
//! Wallet challenges are not stored when issued: each carries its expiry and a MAC under the
//! store's [secret](AuthStore::secret). Only spent challenges are remembered, until they
//! expire, so that each is used once.
//!
//! [`MemoryStore`], the default, keeps everything in this process, bounded in size; a restart
//! loses every session (clients sign in again; access tokens stay valid because the signing key
//! is persisted). The revocation list outlives a restart: the issuer's memory store also writes
//! it to a file ([`MemoryStore::with_revocation_file`]). Several instances share one
//! PostgreSQL database instead (`PgStore`, cargo feature `postgres`).

mod memory;
#[cfg(feature = "postgres")]
mod postgres;

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PgStore;

/// How long a revoked token stays on the list after its `exp`.
pub const LISTED_PAST_EXPIRY: Duration = Duration::from_secs(3600);

pub(crate) use auth_runtime::BoxFuture;

/// A keyed hash (HMAC-SHA256) of a refresh token: the token itself is never stored.
pub type TokenHash = [u8; 32];

/// The random identifier of a session, carried inside each of its refresh tokens.
pub type SessionId = [u8; 16];

/// The identifier of a wallet challenge (its expiry and nonce), remembered once spent.
pub type ChallengeId = [u8; 16];

/// An access token as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedAccess {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: SystemTime,
}

/// What [`AuthStore::revoke`] revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    /// One access token: listed until its `exp`.
    Token {
        /// Its `jti`.
        jti: String,
        /// Its `exp`.
        expires_at: SystemTime,
    },
    /// Every session of a subject (`sub`), and every access token issued to it until
    /// `issued_before`: one entry, listed until `until`.
    Subject {
        /// The subject.
        subject: String,
        /// Tokens issued (`iat`) at or before this are revoked: a little after the
        /// revocation, so that a refresh racing it cannot issue one that escapes.
        issued_before: SystemTime,
        /// When the last access token it covers expires.
        until: SystemTime,
    },
    /// A session (its refresh token stops working) and every access token it issued: one
    /// entry, listed until `until`. Nothing is done for a session revoked already.
    Session {
        /// The session.
        id: SessionId,
        /// When the last access token it issued expires.
        until: SystemTime,
    },
}

/// What [`AuthStore::revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Revoked {
    /// Entries newly put on the revocation list (none for something listed already).
    pub listed: u64,
    /// Sessions newly revoked.
    pub sessions: u64,
}

/// What one entry of the revocation list names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// One access token, by `jti`.
    Token(String),
    /// Every access token of a session (their `sid` claim).
    Session(SessionId),
    /// Every access token of a subject issued (`iat`) at or before `issued_before`.
    Subject {
        /// The subject (`sub`).
        subject: String,
        /// The time of the revocation, to the second.
        issued_before: SystemTime,
    },
}

/// Keys of sessions and subjects start with these; a `jti` of ours is hex, so never does.
const SESSION_KEY: &str = "sid:";
const SUBJECT_KEY: &str = "sub:";

impl Listing {
    /// The entry as one string, unique per entry, for stores that keep the list as text:
    /// the `jti`, `sid:HEX`, or `sub:SECONDS:SUBJECT`.
    pub fn key(&self) -> String {
        match self {
            Listing::Token(jti) => jti.clone(),
            Listing::Session(id) => format!("{SESSION_KEY}{}", crate::hex::to_hex(id)),
            Listing::Subject {
                subject,
                issued_before,
            } => format!(
                "{SUBJECT_KEY}{}:{subject}",
                crate::clock::unix_seconds(*issued_before)
            ),
        }
    }

    /// The entry a [`key`](Self::key) stands for; any other text is a `jti`.
    pub fn from_key(key: &str) -> Listing {
        if let Some(hex) = key.strip_prefix(SESSION_KEY)
            && let Some(id) = crate::hex::from_hex(hex).and_then(|id| id.try_into().ok())
        {
            return Listing::Session(id);
        }
        if let Some(rest) = key.strip_prefix(SUBJECT_KEY)
            && let Some((seconds, subject)) = rest.split_once(':')
            && let Ok(seconds) = seconds.parse::<u64>()
        {
            return Listing::Subject {
                subject: subject.to_owned(),
                issued_before: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
            };
        }
        Listing::Token(key.to_owned())
    }
}

/// One entry of the revocation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Its place in the list: increasing in commit order.
    pub seq: u64,
    /// What it revokes.
    pub listing: Listing,
    /// When the last token it revokes expires.
    pub expires_at: SystemTime,
}

/// A new session, as [`AuthStore::start_session`] stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    /// Random, 128 bits.
    pub id: SessionId,
    /// The identity claims to put into every access token of the session.
    pub claims: Map<String, Value>,
    /// The hash of the first refresh token.
    pub token_hash: TokenHash,
    /// When the first refresh token stops being accepted.
    pub token_expires_at: SystemTime,
    /// When the session ends, however often its token is rotated (`session_max_days`).
    pub ends_at: SystemTime,
    /// Whether the session counts against the bound on live sessions (the admin's do not).
    pub bounded: bool,
    /// The RFC 7638 thumbprint of the DPoP key (RFC 9449) the session is bound to, when it
    /// started with a proof: each of its refresh tokens is then accepted only with a proof
    /// by that key ([`Rotate::dpop_jkt`]).
    pub dpop_jkt: Option<String>,
}

/// One refresh-token rotation, as [`AuthStore::rotate`] applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotate {
    /// The session named by the presented token.
    pub id: SessionId,
    /// The hash of the presented token.
    pub presented: TokenHash,
    /// The hash of the token that replaces it.
    pub next: TokenHash,
    /// When the next token stops being accepted; the store holds it to the session's end.
    pub next_expires_at: SystemTime,
    /// The time of the request.
    pub now: SystemTime,
    /// The access token issued with the next refresh token (or again with the same one, on a
    /// retry): when a reuse revokes the session instead, its `exp` bounds the session's entry
    /// on the list.
    pub access: IssuedAccess,
    /// How long after a rotation the token it spent, presented again, is a retry rather than
    /// a reuse: while `now` is before the rotation's time plus `grace` and the session's
    /// current token is `next` (the issuer derives the successor from the presented token,
    /// so a retry names the token its first presentation got). Zero: never.
    pub grace: Duration,
    /// The thumbprint of the key of the DPoP proof the refresh came with (checked already),
    /// if any. A session bound to a key ([`NewSession::dpop_jkt`]) is rotated only when it
    /// is that key's; otherwise [`Rotation::WrongKey`], before anything else is looked at.
    pub dpop_jkt: Option<String>,
    /// The identity of that proof. A bound session keeps those of its latest refreshes: one
    /// presented again is [`Rotation::ReplayedProof`] (a captured request replayed where the
    /// instance's own record of proofs does not know it), and changes nothing.
    pub dpop_proof: Option<[u8; 16]>,
}

/// How many proofs of its latest refreshes a bound session keeps.
pub const RECENT_PROOFS: usize = 4;

impl Rotate {
    /// Whether this refresh's proof is one of `recent`, those a bound session's latest
    /// refreshes came with.
    pub fn replays(&self, recent: &[[u8; 16]]) -> bool {
        self.dpop_proof.is_some_and(|proof| recent.contains(&proof))
    }

    /// Adds this refresh's proof to `recent`, keeping the [`RECENT_PROOFS`] newest.
    pub fn remember_proof(&self, recent: &mut Vec<[u8; 16]>) {
        if let Some(proof) = self.dpop_proof {
            recent.push(proof);
            let extra = recent.len().saturating_sub(RECENT_PROOFS);
            recent.drain(..extra);
        }
    }

    /// Whether the presented token, not the session's `current` one, is a retry of the latest
    /// rotation: a grace is set, the presented token is the one that rotation spent
    /// (`previous`, with the rotation's time), the grace has not run out, and the current
    /// token is still the successor the presented token gets ([`next`](Self::next)). The rule
    /// every store applies, inside its one atomic step.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use auth_server::store::{IssuedAccess, Rotate};
    ///
    /// let rotated_at = SystemTime::now();
    /// let retry = Rotate {
    ///     id: [1; 16],
    ///     presented: [2; 32],
    ///     next: [3; 32],
    ///     next_expires_at: rotated_at + Duration::from_secs(3600),
    ///     now: rotated_at + Duration::from_secs(5),
    ///     access: IssuedAccess { jti: "a".into(), expires_at: rotated_at },
    ///     grace: Duration::from_secs(10),
    ///     dpop_jkt: None,
    ///     dpop_proof: None,
    /// };
    /// assert!(retry.is_retry(&[3; 32], Some((&[2; 32], rotated_at))));
    /// // The successor was rotated further: the current token is another one.
    /// assert!(!retry.is_retry(&[4; 32], Some((&[3; 32], rotated_at))));
    /// // No grace: never a retry.
    /// let strict = Rotate { grace: Duration::ZERO, ..retry.clone() };
    /// assert!(!strict.is_retry(&[3; 32], Some((&[2; 32], rotated_at))));
    /// ```
    pub fn is_retry(&self, current: &[u8], previous: Option<(&[u8], SystemTime)>) -> bool {
        !self.grace.is_zero()
            && current == self.next
            && previous.is_some_and(|(spent, rotated_at)| {
                spent == self.presented && self.now < crate::clock::later(rotated_at, self.grace)
            })
    }

    /// Whether a session bound to `bound` (a thumbprint, or `None` for an unbound session) may
    /// be refreshed by this request: unbound, or bound to the key of the request's proof.
    /// The rule every store applies first, inside its one atomic step.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use auth_server::store::{IssuedAccess, Rotate};
    /// # let now = SystemTime::now();
    /// let rotate = Rotate {
    ///     id: [1; 16],
    ///     presented: [2; 32],
    ///     next: [3; 32],
    ///     next_expires_at: now,
    ///     now,
    ///     access: IssuedAccess { jti: "a".into(), expires_at: now },
    ///     grace: Duration::ZERO,
    ///     dpop_jkt: Some("key-a".into()),
    ///     dpop_proof: None,
    /// };
    /// assert!(rotate.has_key(None));
    /// assert!(rotate.has_key(Some("key-a")));
    /// assert!(!rotate.has_key(Some("key-b")));
    /// assert!(!Rotate { dpop_jkt: None, ..rotate }.has_key(Some("key-a")));
    /// ```
    pub fn has_key(&self, bound: Option<&str>) -> bool {
        match bound {
            None => true,
            // A thumbprint is a public key's hash, no secret: compared plainly.
            Some(bound) => self.dpop_jkt.as_deref() == Some(bound),
        }
    }
}

/// What [`AuthStore::rotate`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token was the current one: it is now spent and `next` is current.
    Rotated {
        /// The session's identity claims.
        claims: Map<String, Value>,
        /// How many times the session's token has been rotated, this time included.
        generation: u64,
    },
    /// The presented token is the one the latest rotation spent, presented again within the
    /// [grace](Rotate::grace) while `next`, its successor, is still current: a retry. Nothing
    /// changed; the new access token names the session, so revoking it covers that token too.
    Retried {
        /// The session's identity claims.
        claims: Map<String, Value>,
        /// How many times the session's token has been rotated (the retry is no rotation).
        generation: u64,
    },
    /// The presented token was an earlier, spent token of a live session: someone replays it.
    /// The session is now revoked, and on the revocation list.
    Reused,
    /// The session was revoked earlier (after a reuse).
    Revoked,
    /// The session is bound to a DPoP key and the refresh came without a proof by that key
    /// ([`Rotate::has_key`]): refused, and nothing changed (a spent token is not taken for a
    /// reuse either, since whoever lacks the key can use no token of the session).
    WrongKey,
    /// The session is bound to a DPoP key and the refresh came with a proof one of its latest
    /// refreshes came with: a captured request replayed. Refused, and nothing changed.
    ReplayedProof,
    /// The session reached its end, or its current token expired unused.
    Expired,
    /// No such session (never existed, or expired and forgotten).
    Unknown,
}

/// What [`AuthStore::spend_challenge`] is told about the sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The signature verified: the sign-in goes ahead if this is the challenge's first use.
    Verified,
    /// The signature failed: the challenge is burnt too, as far as the store has room (a
    /// failed challenge cannot sign anyone in, so forgetting it early opens nothing).
    Failed,
}

/// Why a store could not answer.
#[derive(Debug)]
pub enum StoreError {
    /// The store is at its configured bound.
    Full {
        /// What is full: `sessions` or `spent challenges`.
        what: &'static str,
    },
    /// The store cannot be reached or failed (database down, connection lost, ...).
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Full { what } => write!(f, "the store holds its maximum of {what}"),
            StoreError::Unavailable(source) => write!(f, "the store is unavailable: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Full { .. } => None,
            StoreError::Unavailable(source) => Some(source.as_ref()),
        }
    }
}

/// Storage for sessions and spent challenges. Every method is one atomic step: a store shared
/// by several instances must enforce it (a transaction or one conditional statement), never by
/// reading and then writing.
pub trait AuthStore: Send + Sync + 'static {
    /// The 32-byte secret under which challenges are MAC'd and refresh tokens hashed. Every
    /// instance sharing the store must see the same one.
    fn secret(&self) -> &[u8; 32];

    /// Remembers that the challenge `id` (valid until `expires_at`) was used. `Ok(true)` the
    /// first time, `Ok(false)` when it was spent before.
    fn spend_challenge(
        &self,
        id: ChallengeId,
        expires_at: SystemTime,
        outcome: SignInOutcome,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Stores a new session.
    fn start_session(
        &self,
        session: NewSession,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Rotates a session's refresh token, recording the presented one and the time as the
    /// latest rotation's; first of all, refuses ([`Rotation::WrongKey`]) a session bound to
    /// a DPoP key the request has no proof by. When the presented token is not the current one: a retry if it is
    /// the one the latest rotation spent, within [`Rotate::grace`] of that rotation, and the
    /// current token is [`Rotate::next`]; otherwise revokes the session (and lists it on the
    /// revocation list).
    fn rotate(&self, rotate: Rotate) -> BoxFuture<'_, Result<Rotation, StoreError>>;

    /// Puts what `what` names on the revocation list (one entry), and revokes the sessions
    /// it names, in one step.
    fn revoke(&self, what: Revoke, now: SystemTime) -> BoxFuture<'_, Result<Revoked, StoreError>>;

    /// Up to `limit` entries of the revocation list after `after` (a `seq`; `0`: from the
    /// start), in order, leaving out tokens that expired more than [`LISTED_PAST_EXPIRY`]
    /// before `now` (validators accept a token a little past its `exp`, by their leeway).
    fn revoked_after(
        &self,
        after: u64,
        limit: usize,
        now: SystemTime,
    ) -> BoxFuture<'_, Result<Vec<RevokedEntry>, StoreError>>;
}
