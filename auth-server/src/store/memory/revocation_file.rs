//! The in-process store's revocation list on disk, so that a restart does not bring revoked
//! tokens back: an append-only JSON-lines file, one `{"jti": ..., "exp": ...}` line per
//! revoked access token, readable by its owner only.
//!
//! New entries are written and synced (`fdatasync`) before they go on the list and before the
//! revocation is answered, so a revocation the caller was told about is on disk whatever
//! happens next. A crash during a write leaves at most a cut-short last line, never
//! acknowledged; opening the file skips it. Opening also rewrites the file with only the
//! entries still listed (to a temporary file, synced, then renamed over it), and so does a
//! write that finds more lines of entries no longer listed than of listed ones, plus
//! [`SLACK`]: after each write the file holds at most twice as many lines as the list has
//! entries, plus that many.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_runtime::{ConfigError, ConfigErrorKind};
use serde::{Deserialize, Serialize};

/// Lines of entries no longer listed that the file may hold beyond as many as there are
/// listed entries, before a write rewrites it.
const SLACK: usize = 1024;

/// One line of the file.
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    jti: Cow<'a, str>,
    /// The token's `exp`, in seconds since the Unix epoch.
    exp: u64,
}

/// A revoked token: its `jti` and `exp`.
pub(super) type Entry = (String, SystemTime);

/// The file, open for appending, and what is known of its contents.
pub(super) struct RevocationFile {
    path: PathBuf,
    file: File,
    /// Bytes of whole lines: anything past them is left from a write that failed.
    len: u64,
    /// Lines in the file.
    lines: usize,
    /// A write failed and the bytes it left past `len` could not be cut off yet.
    torn: bool,
}

impl RevocationFile {
    /// Opens the file at `path` (creating it, and its folder, when missing): the entries of
    /// tokens whose `exp` is not before `listed_from`, in the order written, each once. The
    /// file is rewritten with only those.
    pub(super) fn open(
        path: &Path,
        listed_from: SystemTime,
    ) -> Result<(RevocationFile, Vec<Entry>), ConfigError> {
        let entries = read(path, listed_from)?;
        let listed = entries
            .iter()
            .map(|(jti, expires_at)| (jti.as_str(), *expires_at));
        let (file, len, lines) =
            rewrite(path, listed).map_err(|err| cannot("write", path, &err))?;
        let file = RevocationFile {
            path: path.to_owned(),
            file,
            len,
            lines,
            torn: false,
        };
        Ok((file, entries))
    }

    /// Appends `entries` and syncs them to disk. When that fails, what was written of them is
    /// cut off (now, or else before the next append), so that the next entry starts a line
    /// of its own.
    pub(super) fn append(&mut self, entries: &[(&str, SystemTime)]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut text = Vec::new();
        for (jti, expires_at) in entries {
            encode(&mut text, jti, *expires_at)?;
        }
        if self.torn {
            self.file
                .set_len(self.len)
                .map_err(|err| self.context(err))?;
            self.torn = false;
        }
        match self
            .file
            .write_all(&text)
            .and_then(|()| self.file.sync_data())
        {
            Ok(()) => {
                self.len += text.len() as u64;
                self.lines += entries.len();
                Ok(())
            }
            Err(err) => {
                self.torn = self.file.set_len(self.len).is_err();
                Err(self.context(err))
            }
        }
    }

    /// Whether the file holds more lines of entries no longer listed than of the `listed`
    /// ones, plus [`SLACK`].
    pub(super) fn sparse(&self, listed: usize) -> bool {
        self.lines > listed.saturating_mul(2).saturating_add(SLACK)
    }

    /// Rewrites the file with `listed`, the whole list in order. When that fails, the file
    /// stays as it was, holding every listed entry, and a warning says why.
    pub(super) fn compact<'a>(&mut self, listed: impl Iterator<Item = (&'a str, SystemTime)>) {
        match rewrite(&self.path, listed) {
            Ok((file, len, lines)) => {
                self.file = file;
                self.len = len;
                self.lines = lines;
                self.torn = false;
            }
            Err(err) => tracing::warn!(
                path = %self.path.display(),
                error = %err,
                "cannot rewrite the revocation file without its expired entries; it keeps them"
            ),
        }
    }

    fn context(&self, err: io::Error) -> io::Error {
        io::Error::new(
            err.kind(),
            format!(
                "cannot write the revocation file {}: {err}",
                self.path.display()
            ),
        )
    }
}

#[cfg(test)]
impl RevocationFile {
    /// The file at `path`, open so that every write fails, as on a failing disk.
    pub(super) fn failing(path: &Path) -> io::Result<RevocationFile> {
        Ok(RevocationFile {
            path: path.to_owned(),
            file: File::open(path)?,
            len: 0,
            lines: 0,
            torn: false,
        })
    }
}

/// The entries of `path` whose `exp` is not before `listed_from`, each once. A missing file
/// holds none. Only the last line may be unreadable (a write cut short by a crash, never
/// acknowledged): it is skipped with a warning; any other unreadable line is an error, since
/// skipping it could bring back a revoked token.
fn read(path: &Path, listed_from: SystemTime) -> Result<Vec<Entry>, ConfigError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(cannot("read", path, &err)),
    };
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    let mut line = Vec::new();
    let mut number = 0;
    let mut unreadable = None;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|err| cannot("read", path, &err))?;
        if read == 0 {
            break;
        }
        number += 1;
        if let Some(earlier) = unreadable {
            return Err(ConfigError::new(
                ConfigErrorKind::Store,
                format!(
                    "line {earlier} of the revocation file {} is not a revocation record \
                     ({{\"jti\": ..., \"exp\": ...}}); repair or remove that line (removed, the \
                     token it revoked, if any, is accepted again)",
                    path.display()
                ),
            ));
        }
        match parse(&line) {
            Some((jti, expires_at)) => {
                if expires_at >= listed_from && seen.insert(jti.clone()) {
                    entries.push((jti, expires_at));
                }
            }
            None => unreadable = Some(number),
        }
    }
    if let Some(number) = unreadable {
        tracing::warn!(
            path = %path.display(),
            line = number,
            "the last line of the revocation file is cut short or unreadable (a write \
             interrupted by a crash, never acknowledged); skipped"
        );
    }
    Ok(entries)
}

fn parse(line: &[u8]) -> Option<Entry> {
    let record: Record<'_> = serde_json::from_slice(line).ok()?;
    if record.jti.is_empty() {
        return None;
    }
    let expires_at = UNIX_EPOCH.checked_add(Duration::from_secs(record.exp))?;
    Some((record.jti.into_owned(), expires_at))
}

/// Appends the line of one entry to `out`.
fn encode(out: &mut Vec<u8>, jti: &str, expires_at: SystemTime) -> io::Result<()> {
    let exp = expires_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    serde_json::to_writer(
        &mut *out,
        &Record {
            jti: Cow::Borrowed(jti),
            exp,
        },
    )?;
    out.push(b'\n');
    Ok(())
}

/// Writes `entries` to a new owner-only file beside `path`, syncs it and renames it over
/// `path`, whole or not at all; the new file, open for appending, its length and its lines.
fn rewrite<'a>(
    path: &Path,
    entries: impl Iterator<Item = (&'a str, SystemTime)>,
) -> io::Result<(File, u64, usize)> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    fs::create_dir_all(folder)?;
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| io::Error::other("no randomness"))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", u64::from_le_bytes(nonce)));
    let temporary = PathBuf::from(temporary);
    let written = write_new(&temporary, entries).and_then(|written| {
        fs::rename(&temporary, path)?;
        Ok(written)
    });
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    let written = written?;
    sync_folder(folder, path);
    Ok(written)
}

/// Creates `path` (owner-only), writes `entries` to it and syncs it; the file, its length and
/// its lines.
fn write_new<'a>(
    path: &Path,
    entries: impl Iterator<Item = (&'a str, SystemTime)>,
) -> io::Result<(File, u64, usize)> {
    let mut options = OpenOptions::new();
    options.append(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    let mut out = BufWriter::new(&file);
    let mut line = Vec::new();
    let (mut len, mut lines) = (0, 0);
    for (jti, expires_at) in entries {
        line.clear();
        encode(&mut line, jti, expires_at)?;
        out.write_all(&line)?;
        len += line.len() as u64;
        lines += 1;
    }
    out.flush()?;
    drop(out);
    file.sync_all()?;
    Ok((file, len, lines))
}

/// Makes a rename in `folder` survive a crash. Where folders cannot be synced, a warning: the
/// file in place holds every listed entry either way, before or after the rename.
fn sync_folder(folder: &Path, path: &Path) {
    #[cfg(unix)]
    if let Err(err) = File::open(folder).and_then(|folder| folder.sync_all()) {
        tracing::warn!(
            path = %path.display(),
            error = %err,
            "cannot sync the folder of the revocation file after rewriting it"
        );
    }
    #[cfg(not(unix))]
    let _ = (folder, path);
}

fn cannot(what: &str, path: &Path, err: &io::Error) -> ConfigError {
    ConfigError::new(
        ConfigErrorKind::Store,
        format!(
            "cannot {what} the revocation file {}: {err}; make it (and its folder) readable \
             and writable, or set server_auth.revocations_path",
            path.display()
        ),
    )
}
