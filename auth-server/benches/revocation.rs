//! The cost of a sign-out and of a page of `/revoked-jtis` on the in-memory store, with a
//! million entries on the revocation list: `cargo bench -p auth-server --bench revocation`.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use auth_server::store::{AuthStore as _, MemoryStore, NewSession, Revoke};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

/// Entries on the list before anything is measured.
const LISTED: u64 = 1_000_000;
/// Entries per answer of `/revoked-jtis`, as the issuer asks the store for them.
const PAGE: usize = 10_001;

/// The memory store answers at once; its futures are polled once.
fn now_or_never<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("the memory store never waits"),
    }
}

fn filled(now: SystemTime) -> MemoryStore {
    let store = MemoryStore::new(usize::MAX, 10);
    for i in 0..LISTED {
        let revoke = Revoke::Token {
            jti: format!("{i:048x}"),
            expires_at: now + Duration::from_secs(900),
        };
        now_or_never(store.revoke(revoke, now)).expect("listed");
    }
    store
}

fn session(n: u64, now: SystemTime) -> NewSession {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&n.to_be_bytes());
    NewSession {
        id,
        claims: serde_json::Map::new(),
        token_hash: [1; 32],
        token_expires_at: now + Duration::from_secs(3600),
        ends_at: now + Duration::from_secs(86_400),
        bounded: true,
        dpop_jkt: None,
    }
}

fn revocation(c: &mut Criterion) {
    let now = SystemTime::now();
    let store = filled(now);
    let mut group = c.benchmark_group("revocation at 1M entries");
    let mut n = 0u64;
    group.bench_function("sign-out (one session entry)", |b| {
        b.iter_batched(
            || {
                n += 1;
                let new = session(n, now);
                let id = new.id;
                now_or_never(store.start_session(new, now)).expect("room");
                id
            },
            |id| {
                let until = now + Duration::from_secs(900);
                now_or_never(store.revoke(Revoke::Session { id, until }, now)).expect("listed")
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("sign-out of a session ended already", |b| {
        let id = session(1, now).id;
        b.iter(|| {
            let until = now + Duration::from_secs(900);
            black_box(now_or_never(
                store.revoke(Revoke::Session { id, until }, now),
            ))
        });
    });
    group.bench_function("revoked-jtis: the first page (10000 entries)", |b| {
        b.iter(|| black_box(now_or_never(store.revoked_after(0, PAGE, now))));
    });
    group.bench_function("revoked-jtis: a poll with nothing new", |b| {
        b.iter(|| black_box(now_or_never(store.revoked_after(u64::MAX - 1, PAGE, now))));
    });
    group.finish();
}

criterion_group!(benches, revocation);
criterion_main!(benches);
