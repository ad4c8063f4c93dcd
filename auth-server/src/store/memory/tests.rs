//! The in-process store's behaviour, driven without a runtime.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Map;

use super::MemoryStore;
use super::revocation_file::RevocationFile;
use crate::store::{
    AuthStore as _, BoxFuture, IssuedAccess, Listing, NewSession, Revoke, Revoked, Rotate,
    Rotation, SignInOutcome, StoreError,
};

fn run<T>(future: BoxFuture<'_, T>) -> T {
    let mut future = future;
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => unreachable!("the memory store never waits"),
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn session(id: u8, token: u8) -> NewSession {
    NewSession {
        id: [id; 16],
        claims: Map::new(),
        token_hash: [token; 32],
        token_expires_at: at(100),
        ends_at: at(1000),
        bounded: true,
        dpop_jkt: None,
    }
}

fn rotate(id: u8, presented: u8, next: u8, now: u64) -> Rotate {
    Rotate {
        id: [id; 16],
        presented: [presented; 32],
        next: [next; 32],
        next_expires_at: at(now + 100),
        now: at(now),
        access: IssuedAccess {
            jti: format!("s{id}-t{next}"),
            expires_at: at(now + 60),
        },
        grace: Duration::ZERO,
        dpop_jkt: None,
        dpop_proof: None,
    }
}

/// [`rotate`] with a grace of `grace` seconds.
fn rotate_with_grace(id: u8, presented: u8, next: u8, now: u64, grace: u64) -> Rotate {
    Rotate {
        grace: Duration::from_secs(grace),
        ..rotate(id, presented, next, now)
    }
}

#[test]
fn rotation_is_single_use_and_reuse_revokes_the_session() {
    let store = MemoryStore::new(10, 10);
    run(store.start_session(session(1, 1), at(0))).unwrap();
    assert!(matches!(
        run(store.rotate(rotate(1, 1, 2, 10))).unwrap(),
        Rotation::Rotated { generation: 1, .. }
    ));
    assert_eq!(
        run(store.rotate(rotate(1, 1, 3, 20))).unwrap(),
        Rotation::Reused
    );
    assert_eq!(
        run(store.rotate(rotate(1, 2, 4, 30))).unwrap(),
        Rotation::Revoked
    );
    assert_eq!(
        run(store.rotate(rotate(9, 1, 4, 30))).unwrap(),
        Rotation::Unknown
    );
}

#[test]
fn a_bound_session_is_rotated_only_with_its_key_and_a_refusal_changes_nothing() {
    let store = MemoryStore::new(10, 10);
    let bound = NewSession {
        dpop_jkt: Some("key-a".into()),
        ..session(1, 1)
    };
    run(store.start_session(bound, at(0))).unwrap();
    let with_key = |presented, next, now, key: Option<&str>| Rotate {
        dpop_jkt: key.map(str::to_owned),
        ..rotate(1, presented, next, now)
    };
    // Without a key or with another: refused, the current token stays current.
    for key in [None, Some("key-b")] {
        assert_eq!(
            run(store.rotate(with_key(1, 2, 10, key))).unwrap(),
            Rotation::WrongKey
        );
    }
    assert!(matches!(
        run(store.rotate(with_key(1, 2, 10, Some("key-a")))).unwrap(),
        Rotation::Rotated { generation: 1, .. }
    ));
    // A spent token without the key is refused as such, not taken for a reuse.
    assert_eq!(
        run(store.rotate(with_key(1, 3, 20, None))).unwrap(),
        Rotation::WrongKey
    );
    assert!(matches!(
        run(store.rotate(with_key(2, 3, 20, Some("key-a")))).unwrap(),
        Rotation::Rotated { generation: 2, .. }
    ));
    // An unbound session takes any proof, or none.
    run(store.start_session(session(2, 1), at(0))).unwrap();
    assert!(matches!(
        run(store.rotate(Rotate {
            dpop_jkt: Some("key-c".into()),
            ..rotate(2, 1, 2, 10)
        }))
        .unwrap(),
        Rotation::Rotated { .. }
    ));
}

#[test]
fn within_the_grace_the_previous_token_with_its_own_successor_is_a_retry() {
    let store = MemoryStore::new(10, 10);
    run(store.start_session(session(1, 1), at(0))).unwrap();
    assert!(matches!(
        run(store.rotate(rotate_with_grace(1, 1, 2, 10, 30))).unwrap(),
        Rotation::Rotated { generation: 1, .. }
    ));
    assert!(matches!(
        run(store.rotate(rotate_with_grace(1, 1, 2, 39, 30))).unwrap(),
        Rotation::Retried { generation: 1, .. }
    ));
    // The retry changed nothing: the successor rotates as the current token.
    assert!(matches!(
        run(store.rotate(rotate_with_grace(1, 2, 3, 39, 30))).unwrap(),
        Rotation::Rotated { generation: 2, .. }
    ));

    // Another successor than the current token is no retry: a reuse.
    run(store.start_session(session(2, 1), at(0))).unwrap();
    run(store.rotate(rotate_with_grace(2, 1, 2, 10, 30))).unwrap();
    assert_eq!(
        run(store.rotate(rotate_with_grace(2, 1, 3, 11, 30))).unwrap(),
        Rotation::Reused
    );

    // At the end of the grace, and without a grace, a reuse.
    for (id, now, grace) in [(3, 40, 30), (4, 10, 0)] {
        run(store.start_session(session(id, 1), at(0))).unwrap();
        run(store.rotate(rotate_with_grace(id, 1, 2, 10, grace))).unwrap();
        assert_eq!(
            run(store.rotate(rotate_with_grace(id, 1, 2, now, grace))).unwrap(),
            Rotation::Reused,
            "session {id}"
        );
    }
}

#[test]
fn the_bound_counts_live_sessions_not_rotations() {
    let store = MemoryStore::new(2, 10);
    run(store.start_session(session(1, 1), at(0))).unwrap();
    for n in 1..200u8 {
        assert!(matches!(
            run(store.rotate(rotate(1, n, n + 1, 1))).unwrap(),
            Rotation::Rotated { .. }
        ));
    }
    run(store.start_session(session(2, 1), at(0))).unwrap();
    assert!(matches!(
        run(store.start_session(session(3, 1), at(0))),
        Err(StoreError::Full { what: "sessions" })
    ));
    // A session whose token expired gives its place up.
    let mut short = session(4, 1);
    short.token_expires_at = at(1);
    run(store.start_session(short, at(50))).unwrap_err();
    assert_eq!(
        run(store.rotate(rotate(2, 1, 2, 100))).unwrap(),
        Rotation::Expired
    );
    run(store.start_session(session(5, 1), at(150))).unwrap();
}

#[test]
fn sessions_end_at_their_absolute_end() {
    let store = MemoryStore::new(2, 10);
    let mut long = session(1, 1);
    long.token_expires_at = at(1000);
    run(store.start_session(long, at(0))).unwrap();
    // Rotated just before the end: the next token expires with the session, not later.
    assert!(matches!(
        run(store.rotate(rotate(1, 1, 2, 999))).unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(
        run(store.rotate(rotate(1, 2, 3, 1000))).unwrap(),
        Rotation::Expired
    );
}

#[test]
fn the_revocation_list_is_ordered_paged_and_forgets_long_expired_tokens() {
    let store = MemoryStore::new(10, 10);
    run(store.start_session(session(1, 1), at(0))).unwrap();
    run(store.start_session(session(2, 1), at(0))).unwrap();
    assert!(matches!(
        run(store.rotate(rotate(1, 1, 2, 10))).unwrap(),
        Rotation::Rotated { .. }
    ));
    // However many tokens the session issued: one entry.
    let revoked = run(store.revoke(session_until(1, 60), at(20))).unwrap();
    assert_eq!(
        revoked,
        Revoked {
            listed: 1,
            sessions: 1
        }
    );
    // Again: nothing new, and nothing done.
    let again = run(store.revoke(session_until(1, 61), at(21))).unwrap();
    assert_eq!(again, Revoked::default());
    run(store.revoke(token("s2-t1", 60), at(22))).unwrap();
    let subject = Revoke::Subject {
        subject: "someone".into(),
        issued_before: at(23),
        until: at(70),
    };
    run(store.revoke(subject, at(23))).unwrap();
    let all = run(store.revoked_after(0, 10, at(30))).unwrap();
    let listings: Vec<&Listing> = all.iter().map(|e| &e.listing).collect();
    assert_eq!(
        listings,
        [
            &Listing::Session([1; 16]),
            &Listing::Token("s2-t1".into()),
            &Listing::Subject {
                subject: "someone".into(),
                issued_before: at(23)
            }
        ]
    );
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let page = run(store.revoked_after(all[0].seq, 1, at(30))).unwrap();
    assert_eq!(page, vec![all[1].clone()]);
    // Listed entries go an hour after the expiry of the last token they revoke.
    assert_eq!(
        run(store.revoked_after(0, 10, at(60 + 3599)))
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        run(store.revoked_after(0, 10, at(60 + 3601)))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        run(store.revoked_after(0, 10, at(70 + 3601)))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn spent_challenges_are_kept_and_burnt_ones_never_crowd_them_out() {
    let store = MemoryStore::new(1, 2);
    let spend = |id: u8, outcome| run(store.spend_challenge([id; 16], at(60), outcome, at(0)));
    for id in 10..50 {
        assert!(spend(id, SignInOutcome::Failed).unwrap());
    }
    assert!(spend(1, SignInOutcome::Verified).unwrap());
    assert!(!spend(1, SignInOutcome::Verified).unwrap());
    assert!(!spend(10, SignInOutcome::Verified).unwrap(), "burnt first");
    assert!(spend(2, SignInOutcome::Verified).unwrap());
    assert!(matches!(
        spend(3, SignInOutcome::Verified),
        Err(StoreError::Full { .. })
    ));
    // Expired entries make room.
    assert!(run(store.spend_challenge([3; 16], at(200), SignInOutcome::Verified, at(61))).unwrap());
}

/// A fresh folder for one test's revocation file.
fn folder() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "memory-store-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn line(jti: &str, exp: u64) -> String {
    format!("{{\"jti\":\"{jti}\",\"exp\":{}}}\n", 1_700_000_000 + exp)
}

fn listed(store: &MemoryStore, now: u64) -> Vec<String> {
    run(store.revoked_after(0, usize::MAX, at(now)))
        .unwrap()
        .into_iter()
        .map(|entry| entry.listing.key())
        .collect()
}

fn session_until(id: u8, until: u64) -> Revoke {
    Revoke::Session {
        id: [id; 16],
        until: at(until),
    }
}

fn token(jti: &str, expires_at: u64) -> Revoke {
    Revoke::Token {
        jti: jti.into(),
        expires_at: at(expires_at),
    }
}

#[test]
fn the_file_is_replayed_in_order_once_each_without_expired_entries_or_a_cut_short_line() {
    let path = folder().join("revoked-jtis.jsonl");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text = [
        line("a", 5000),
        line("gone", 100),
        line("b", 4000),
        line("a", 5000),
        r#"{"jti":"c","e"#.to_owned(),
    ]
    .concat();
    std::fs::write(&path, text).unwrap();

    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = {
        let logs = Arc::clone(&logs);
        move || Log(Arc::clone(&logs))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    // At 3800, `gone` (exp 100) is more than an hour past its expiry.
    let store = tracing::subscriber::with_default(subscriber, || {
        MemoryStore::with_revocation_file(10, 10, &path, at(3800)).unwrap()
    });
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("line=5"), "{logs}");
    assert!(logs.contains(&path.display().to_string()), "{logs}");

    assert_eq!(listed(&store, 3800), ["a", "b"]);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        [line("a", 5000), line("b", 4000)].concat()
    );
}

/// A log destination the test reads back.
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_revocation_that_cannot_be_written_fails_and_changes_nothing() {
    let path = folder().join("revoked-jtis.jsonl");
    let store = MemoryStore::with_revocation_file(10, 10, &path, at(0)).unwrap();
    run(store.start_session(session(1, 1), at(0))).unwrap();
    store.lock().file = Some(RevocationFile::failing(&path).unwrap());

    for attempt in [
        run(store.revoke(session_until(1, 60), at(10))),
        run(store.revoke(token("s1-t1", 60), at(10))),
        // A reuse: the presented token is not the current one.
        run(store.rotate(rotate(1, 9, 2, 10))).map(|_| Revoked::default()),
    ] {
        assert!(
            matches!(attempt, Err(StoreError::Unavailable(_))),
            "{attempt:?}"
        );
    }
    assert!(listed(&store, 10).is_empty());
    // The session was not revoked: its token still rotates.
    assert!(matches!(
        run(store.rotate(rotate(1, 1, 2, 10))).unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"");
}

#[test]
fn the_file_stays_within_twice_the_list_plus_1024_lines() {
    let path = folder().join("revoked-jtis.jsonl");
    let store = MemoryStore::with_revocation_file(5000, 10, &path, at(0)).unwrap();
    let file_lines = || std::fs::read_to_string(&path).unwrap().lines().count();
    let revoke_one = |n: u16, now: u64| {
        let mut new = session(0, 1);
        new.id[..2].copy_from_slice(&n.to_be_bytes());
        new.token_expires_at = at(now + 100);
        new.ends_at = at(now + 1000);
        run(store.start_session(new.clone(), at(now))).unwrap();
        let until = at(now + 60);
        let revoked = run(store.revoke(Revoke::Session { id: new.id, until }, at(now))).unwrap();
        assert_eq!(revoked.listed, 1);
    };
    for n in 0..1100 {
        revoke_one(n, 0);
    }
    assert_eq!(file_lines(), 1100);
    // An hour past their expiry the 1100 are off the list; the next write rewrites the file.
    let later = 60 + 3601;
    assert!(listed(&store, later).is_empty());
    revoke_one(5000, later);
    assert_eq!(file_lines(), 1);
    let reopened = MemoryStore::with_revocation_file(10, 10, &path, at(later)).unwrap();
    let mut last = [0; 16];
    last[..2].copy_from_slice(&5000u16.to_be_bytes());
    assert_eq!(listed(&reopened, later), [Listing::Session(last).key()]);
}
