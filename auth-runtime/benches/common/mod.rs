//! Shared by the benchmarks.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// Polls a future that must finish without waiting: with a warm key cache nothing touches the
/// network, so one poll is enough. Anything else is a bug worth a loud stop.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("waited although everything was cached"),
    }
}
