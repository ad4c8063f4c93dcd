//! A throwaway PostgreSQL cluster on loopback, as the store's tests start one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// A throwaway PostgreSQL cluster on loopback: `initdb` in a temporary folder, the server as a
/// child of a watchdog shell that stops it, and removes the folder, when this process's end
/// of its standard input closes (even if this process is killed).
pub(super) struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    watchdog: std::process::Child,
}

const PG_USER: &str = "auth";
const PG_PASSWORD: &str = "loadbench-only-password";

impl Cluster {
    pub(super) fn start(root: &Path) -> Result<Cluster, String> {
        let bin = pg_bin_dir()?;
        let owner = pg_owner()?;
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = owner {
            for path in [root, pwfile.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
            }
        }
        let data = root.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner, root);
        let out = initdb
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        // Durability off, as in the store's tests: the figures are CPU, not this disk.
        let script = r#"
            "$1/postgres" -D "$2" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                >"$4/server.log" 2>&1 &
            pid=$!
            read -r _
            kill -INT "$pid"
            wait "$pid"
            rm -rf "$4"
        "#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&bin)
            .arg(&data)
            .arg(port.to_string())
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_owner(&mut command, owner, root);
        let watchdog = command
            .spawn()
            .map_err(|e| format!("cannot start postgres: {e}"))?;
        let cluster = Cluster {
            bin,
            root: root.to_owned(),
            data,
            port,
            watchdog,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Command::new(cluster.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
        {
            if Instant::now() > deadline {
                return Err(format!(
                    "postgres did not start; see {}",
                    cluster.root.join("server.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(cluster)
    }

    /// Creates database `name`; its URL.
    pub(super) fn create_database(&self, name: &str) -> Result<String, String> {
        self.sql_in("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        ))
    }

    /// The answer of `psql` to `query` on `database`, over the server's Unix socket.
    pub(super) fn sql_in(&self, database: &str, query: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-U", PG_USER, "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-Atc", query])
            .env("PGPASSWORD", PG_PASSWORD)
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The server's main process.
    pub(super) fn postmaster(&self) -> Result<u32, String> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().next()?.trim().parse().ok())
            .ok_or_else(|| "cannot read postmaster.pid".to_owned())
    }
}

/// CPU time used so far by a PostgreSQL server: the postmaster (with its children that
/// exited) and the processes it started.
pub(super) fn postgres_ticks(postmaster: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime, stime, cutime, cstime: fields 14 to 17 of stat, counted from the state (3).
    let own: u64 = (11..15)
        .map(|i| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    let parent = postmaster.to_string();
    let children: u64 = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            (fields.get(1) == Some(&parent.as_str())).then_some(())?;
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum();
    Some(own + children)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The watchdog stops the server when its standard input closes.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// The folder of `initdb`, `postgres` and `psql`: `PG_BIN`, else the newest install under
/// `/usr/lib/postgresql` (Debian), else `pg_config --bindir`.
fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Ok(bin);
    }
    Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists())
        .ok_or_else(|| {
            "PostgreSQL's server binaries (initdb, postgres, psql) were not found under \
             /usr/lib/postgresql/*/bin nor by pg_config: install PostgreSQL (apt-get install \
             postgresql; loadbench/run.sh issuer-load does it on Debian) or set PG_BIN to \
             their folder"
                .to_owned()
        })
}

/// PostgreSQL refuses to run as root: then the cluster belongs to `postgres` (or `nobody`).
fn pg_owner() -> Result<Option<(u32, u32)>, String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3
                && fields[0] == name
                && let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse())
            {
                return Ok(Some((uid, gid)));
            }
        }
    }
    Err("running as root and neither a `postgres` nor a `nobody` user exists".into())
}

/// Runs `command` in `dir` as `owner`, when one is needed.
fn as_owner(command: &mut Command, owner: Option<(u32, u32)>, dir: &Path) {
    use std::os::unix::process::CommandExt as _;
    command.current_dir(dir);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid).env("HOME", dir);
    }
}
