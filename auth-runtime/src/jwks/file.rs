//! Keys from a JWKS file on disk (`keys_file`), for keys known ahead rather than fetched.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwap;

use super::set::{KeySet, KeySource, KeysUnavailable};
use crate::BoxFuture;
use crate::config::{ConfigError, ConfigErrorKind, IssuerConfig};

/// How often, at most, the file is looked at again (one `stat`, on a request).
const RECHECK_MILLIS: u64 = 1000;

/// A key set read from a JWKS file: at start-up, and again when the file changes. Requests
/// look at the file's modification time at most once a second (one `stat` by the request that
/// wins the look, no lock), so a flood of tokens naming unknown keys costs no more; a changed
/// file is read and parsed then. A file that no longer parses leaves the keys held in place
/// (and logs a warning).
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
}

/// The keys, and the modification time of the file they were read from.
struct Read {
    set: Arc<KeySet>,
    modified: Option<SystemTime>,
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
        let modified = modified(path);
        let set = read(path, issuer.jwks_max_bytes())
            .map_err(|why| ConfigError::at(key.clone(), ConfigErrorKind::Invalid, why))?;
        Ok(FileKeySource {
            shared: Arc::new(KeysOnDisk {
                path: path.to_owned(),
                max_bytes: issuer.jwks_max_bytes(),
                held: ArcSwap::from_pointee(Read {
                    set: Arc::new(set),
                    modified,
                }),
                looked_at: AtomicU64::new(0),
                started: Instant::now(),
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
    /// Looks at the file when the last look is a second old, and rereads it when it changed.
    /// Only the caller that wins the look does it.
    fn look(&self) {
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
        let modified = modified(&self.path);
        if modified == self.held.load().modified {
            return;
        }
        match read(&self.path, self.max_bytes) {
            Ok(set) => {
                tracing::info!(path = %self.path.display(), keys = set.len(), "key file reread");
                self.held.store(Arc::new(Read {
                    set: Arc::new(set),
                    modified,
                }));
            }
            Err(why) => {
                tracing::warn!(error = %why, "key file changed and cannot be used; keeping the keys held");
                // Not again until it changes once more.
                let set = Arc::clone(&self.held.load().set);
                self.held.store(Arc::new(Read { set, modified }));
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
}

/// The usable keys of the JWKS file at `path`, read up to `max_bytes`.
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
    let set =
        KeySet::from_jwks_json(&body).map_err(|err| format!("the key file {shown}: {err}"))?;
    if set.is_empty() {
        return Err(format!("the key file {shown} holds no usable signing key"));
    }
    Ok(set)
}
