//! Keys from a JWKS file on disk (`keys_file`), for keys known ahead rather than fetched.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;

use super::set::{KeySet, KeySource, KeysUnavailable};
use crate::BoxFuture;
use crate::config::{ConfigError, ConfigErrorKind, IssuerConfig};

/// How often, at most, the file is looked at again (one `stat`, on a request).
const RECHECK_MILLIS: u64 = 1000;

/// SIGHUPs received since the first key file was read, counted by the signal handler.
static HANGUPS: AtomicU64 = AtomicU64::new(0);

/// Installs, once per process, the SIGHUP handler that has every key file read again at the
/// next request. The handler only adds one to [`HANGUPS`].
fn count_hangups() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        #[cfg(unix)]
        {
            // SAFETY: the action only adds to an atomic integer, which is async-signal-safe:
            // it takes no lock, allocates nothing and touches no other state.
            let installed = unsafe {
                signal_hook_registry::register(libc::SIGHUP, || {
                    HANGUPS.fetch_add(1, Ordering::Relaxed);
                })
            };
            if let Err(err) = installed {
                tracing::warn!(error = %err, "cannot listen for SIGHUP; key files are reread when they change only");
            }
        }
    });
}

/// A key set read from a file, a JWKS document or PEM public keys (`-----BEGIN PUBLIC
/// KEY-----`, `-----BEGIN RSA PUBLIC KEY-----`): at start-up, and again when the file changes
/// or the process receives SIGHUP. Requests look at the file (its modification time, size and
/// inode) at most once a second, one `stat` by the request that wins the look, no lock; a
/// changed file is read and parsed then. After a SIGHUP the next request reads it whatever it
/// looks like (on Unix; the first key file installs the handler, so SIGHUP no longer ends
/// the process).
///
/// PEM keys have no `kid`: a token is checked against each of them, whatever `kid` it names.
///
/// The file is the authority on the keys: a JWKS document with no usable key, or a file that
/// was removed, leaves no key trusted (every token is refused, logged at `error`), so that
/// emptying the file revokes a leaked key at once. A file that does not parse (caught half
/// written, say) leaves the keys held in place and is read again at the next look.
#[derive(Clone)]
pub struct FileKeySource {
    shared: Arc<KeysOnDisk>,
}

/// What every clone of a [`FileKeySource`] shares: the file, the keys read from it, and
/// when it was last looked at.
struct KeysOnDisk {
    path: PathBuf,
    max_bytes: usize,
    held: ArcSwap<Read>,
    /// Milliseconds after `started` of the last look at the file.
    looked_at: AtomicU64,
    started: Instant,
    /// Held by the request that is reading the file, so that two reads never overlap.
    reading: AtomicBool,
    /// The version of the file last reported as unusable, so that it is reported once.
    reported: std::sync::Mutex<Option<Stamp>>,
    /// The count of [`HANGUPS`] this file was last read for.
    hangups: AtomicU64,
}

/// The keys, and what the file they were read from looked like.
struct Read {
    set: Arc<KeySet>,
    seen: Option<Stamp>,
}

/// What tells one version of the file from another: its modification time, size and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl std::fmt::Debug for FileKeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeySource")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl FileKeySource {
    /// The keys in `issuer`'s `keys_file`, read now: fails when the issuer has none, or when
    /// the file cannot be read or holds no usable key.
    pub fn new(issuer: &IssuerConfig) -> Result<FileKeySource, ConfigError> {
        let key = format!("{}.keys_file", issuer.config_key());
        let Some(path) = issuer.keys_file() else {
            return Err(ConfigError::at(
                key.clone(),
                ConfigErrorKind::Missing,
                format!("{key} is not set: FileKeySource reads the keys from that file"),
            ));
        };
        count_hangups();
        let hangups = HANGUPS.load(Ordering::Relaxed);
        let seen = stamp(path);
        let set = read(path, issuer.jwks_max_bytes()).map_err(|why| {
            ConfigError::at(key.clone(), ConfigErrorKind::Invalid, why.to_string())
        })?;
        if set.is_empty() {
            return Err(ConfigError::at(
                key,
                ConfigErrorKind::Invalid,
                format!(
                    "the key file {} holds no usable signing key",
                    path.display()
                ),
            ));
        }
        Ok(FileKeySource {
            shared: Arc::new(KeysOnDisk {
                path: path.to_owned(),
                max_bytes: issuer.jwks_max_bytes(),
                held: ArcSwap::from_pointee(Read {
                    set: Arc::new(set),
                    seen,
                }),
                looked_at: AtomicU64::new(0),
                started: Instant::now(),
                reading: AtomicBool::new(false),
                reported: std::sync::Mutex::new(None),
                hangups: AtomicU64::new(hangups),
            }),
        })
    }
}

impl KeySource for FileKeySource {
    fn cached(&self) -> Option<Arc<KeySet>> {
        self.shared.look();
        Some(Arc::clone(&self.shared.held.load().set))
    }

    fn refresh(&self) -> BoxFuture<'_, Result<Arc<KeySet>, KeysUnavailable>> {
        self.shared.look();
        let set = Arc::clone(&self.shared.held.load().set);
        Box::pin(async move { Ok(set) })
    }
}

impl KeysOnDisk {
    /// Looks at the file when the last look is a second old, and rereads it when it changed;
    /// after a SIGHUP, rereads it at once. Only the caller that wins the look does it.
    fn look(&self) {
        let hangups = HANGUPS.load(Ordering::Relaxed);
        let last_hangups = self.hangups.load(Ordering::Relaxed);
        let forced = hangups != last_hangups
            && self
                .hangups
                .compare_exchange(last_hangups, hangups, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        if !forced {
            let elapsed = self.started.elapsed().as_millis() as u64;
            let last = self.looked_at.load(Ordering::Relaxed);
            if elapsed < last.saturating_add(RECHECK_MILLIS) {
                return;
            }
            if self
                .looked_at
                .compare_exchange(last, elapsed.max(1), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                return;
            }
        }
        let seen = stamp(&self.path);
        if !forced && seen == self.held.load().seen {
            return;
        }
        if self.reading.swap(true, Ordering::AcqRel) {
            if forced {
                // A read already under way may have started before the signal: the next
                // request tries again.
                self.hangups.store(last_hangups, Ordering::Release);
            }
            return;
        }
        self.reread(seen);
        self.reading.store(false, Ordering::Release);
    }

    fn reread(&self, seen: Option<Stamp>) {
        let shown = self.path.display();
        let set = match (seen, read(&self.path, self.max_bytes)) {
            (_, Ok(set)) => set,
            // Removed: no key is trusted any more.
            (None, Err(_)) => KeySet::default(),
            (Some(_), Err(why)) => {
                let mut reported = self
                    .reported
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if *reported != seen {
                    *reported = seen;
                    tracing::warn!(error = %why, "key file changed and cannot be read; keeping the keys held until it can");
                }
                return;
            }
        };
        if set.is_empty() {
            tracing::error!(path = %shown, "key file holds no usable key: every token is refused");
        } else {
            tracing::info!(path = %shown, keys = set.len(), "key file reread");
        }
        self.held.store(Arc::new(Read {
            set: Arc::new(set),
            seen,
        }));
    }
}

/// What the file at `path` looks like now; `None` when it cannot be looked at (removed).
fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

/// The usable keys of the JWKS file at `path`, read up to `max_bytes`: possibly none.
fn read(path: &Path, max_bytes: usize) -> Result<KeySet, String> {
    use std::io::Read as _;
    let shown = path.display();
    let cannot = |err: std::io::Error| format!("cannot read the key file {shown}: {err}");
    let file = std::fs::File::open(path).map_err(cannot)?;
    // One byte past the cap at most: a file that grew too large is refused, never loaded.
    let mut body = Vec::new();
    file.take(max_bytes as u64 + 1)
        .read_to_end(&mut body)
        .map_err(cannot)?;
    if body.len() > max_bytes {
        return Err(format!(
            "the key file {shown} is larger than jwks_max_bytes ({max_bytes} bytes)"
        ));
    }
    if super::pem::is_pem(&body) {
        return KeySet::from_pem(&body).map_err(|err| format!("the key file {shown}: {err}"));
    }
    KeySet::from_jwks_json(&body).map_err(|err| format!("the key file {shown}: {err}"))
}
