//! The in-process store's behaviour, driven without a runtime.

use std::time::{Duration, SystemTime};

use serde_json::Map;

use super::MemoryStore;
use crate::store::{
    AuthStore as _, BoxFuture, IssuedAccess, NewSession, Revoke, Revoked, Rotate, Rotation,
    SignInOutcome, StoreError,
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
        access: IssuedAccess {
            jti: format!("s{id}-t{token}"),
            expires_at: at(60),
        },
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
    let revoked = run(store.revoke(Revoke::Session([1; 16]), at(20))).unwrap();
    assert_eq!(
        revoked,
        Revoked {
            tokens: 2,
            sessions: 1
        }
    );
    // Again: nothing new.
    let again = run(store.revoke(Revoke::Session([1; 16]), at(21))).unwrap();
    assert_eq!(again, Revoked::default());
    run(store.revoke(Revoke::Token("s2-t1".into()), at(22))).unwrap();
    let all = run(store.revoked_after(0, 10, at(30))).unwrap();
    let jtis: Vec<&str> = all.iter().map(|e| e.jti.as_str()).collect();
    assert_eq!(jtis.len(), 3);
    assert_eq!(jtis[2], "s2-t1");
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    let page = run(store.revoked_after(all[0].seq, 1, at(30))).unwrap();
    assert_eq!(page, vec![all[1].clone()]);
    // A token past its expiry is not revoked; listed ones go an hour after expiry.
    let late = run(store.revoke(Revoke::Subject(String::new()), at(100))).unwrap();
    assert_eq!(late.tokens, 0);
    assert_eq!(
        run(store.revoked_after(0, 10, at(60 + 3599)))
            .unwrap()
            .len(),
        3
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
