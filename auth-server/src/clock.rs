//! The one clock of the issuer (token times, challenge and session expiry, login throttling)
//! and its randomness (session ids, token nonces, `jti`s).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::ServerError;

/// Where the issuer reads the time: the system clock, or a function (to test what happens
/// after days without waiting for them).
#[derive(Clone, Default)]
pub struct Clock {
    read: Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.read {
            None => "Clock(system)",
            Some(_) => "Clock(custom)",
        })
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { read: None }
    }

    /// A clock that reads `read`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// let clock = auth_server::Clock::from_fn(|| SystemTime::now() + Duration::from_secs(86_400));
    /// assert!(clock.now() > SystemTime::now());
    /// ```
    pub fn from_fn(read: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock {
            read: Some(Arc::new(read)),
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.read {
            None => SystemTime::now(),
            Some(read) => read(),
        }
    }
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// The time `seconds` after the Unix epoch.
pub(crate) fn from_unix_seconds(seconds: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or(UNIX_EPOCH)
}

/// `time + duration`, held at the far future instead of overflowing.
pub(crate) fn later(time: SystemTime, duration: Duration) -> SystemTime {
    time.checked_add(duration)
        .unwrap_or_else(|| from_unix_seconds(u64::from(u32::MAX) * 64))
}

/// `N` bytes from the system's secure random generator. A failure, which only a broken system
/// has, is an internal error.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ServerError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ServerError::Internal)?;
    Ok(bytes)
}
