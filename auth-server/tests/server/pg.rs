//! A throwaway PostgreSQL cluster on loopback: `initdb` in a temporary folder, the server as a
//! child process, gone when the test process ends (even when it is killed: the server is
//! stopped by a watchdog shell that sees the test's end of its stdin).

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

const USER: &str = "auth";
pub const PASSWORD: &str = "test-only-password";

pub struct Cluster {
    bin: PathBuf,
    root: PathBuf,
    data: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    watchdog: Option<Child>,
}

/// The cluster most tests share; each test takes a database of its own.
pub fn shared() -> &'static Mutex<Cluster> {
    static SHARED: LazyLock<Mutex<Cluster>> = LazyLock::new(|| Mutex::new(Cluster::start()));
    &SHARED
}

/// A new, empty database on the shared cluster; its URL.
pub fn fresh_database() -> String {
    let cluster = shared().lock().unwrap_or_else(|p| p.into_inner());
    cluster.create_database()
}

/// The folder of `initdb` and `postgres`: `PG_BIN`, else the newest Debian install, else
/// `pg_config`'s; on a Debian machine without PostgreSQL, as root, the package is installed
/// first.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = installed_bin_dir() {
        return dir;
    }
    if owner().is_some() && Path::new("/usr/bin/apt-get").exists() {
        eprintln!("PostgreSQL not found: installing the Debian package for the store tests");
        let installed = Command::new("sh")
            .arg("-c")
            .arg("apt-get update -q && apt-get install -y -q --no-install-recommends postgresql")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if let (true, Some(dir)) = (installed, installed_bin_dir()) {
            return dir;
        }
    }
    panic!(
        "PostgreSQL server binaries (initdb, postgres) not found: install PostgreSQL 15 \
         (`apt-get install postgresql`, as .ci/run does) or set PG_BIN"
    );
}

fn installed_bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Some(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    dir.join("initdb").exists().then_some(dir)
}

/// PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user (or
/// `nobody`).
fn owner() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == name {
                return Some((fields[2].parse().ok()?, fields[3].parse().ok()?));
            }
        }
    }
    panic!("running as root and neither a `postgres` nor a `nobody` user exists");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Cluster {
    /// Initialises a cluster in a new temporary folder and starts it.
    pub fn start() -> Cluster {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let bin = bin_dir();
        let owner = owner();
        let root = std::env::temp_dir().join(format!(
            "auth-server-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("cluster folder");
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PASSWORD).expect("password file");
        let data = root.join("data");
        if let Some((uid, gid)) = owner {
            chown(&root, uid, gid);
            chown(&pwfile, uid, gid);
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner, &root);
        let out = initdb.output().expect("run initdb");
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&root);
            panic!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut cluster = Cluster {
            bin,
            root,
            data,
            port: free_port(),
            owner,
            watchdog: None,
        };
        cluster.resume();
        cluster
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{name}",
            self.port
        )
    }

    /// Creates a new database; its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(self.bin.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                &name,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name)
    }

    /// Writes `name` into the data folder, owned by the server's user with `mode`: settings,
    /// `pg_hba.conf`, certificates and keys (which the server takes only when no one else may
    /// read them). Read when the server next starts.
    pub fn write_file(&self, name: &str, contents: &[u8], mode: u32) {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.data.join(name);
        std::fs::write(&path, contents).expect("write into the data folder");
        if let Some((uid, gid)) = self.owner {
            chown(&path, uid, gid);
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Adds `lines` to `postgresql.conf`; read when the server next starts.
    pub fn configure(&self, lines: &str) {
        let path = self.data.join("postgresql.conf");
        let mut conf = std::fs::read_to_string(&path).expect("postgresql.conf");
        conf.push('\n');
        conf.push_str(lines);
        conf.push('\n');
        self.write_file("postgresql.conf", conf.as_bytes(), 0o600);
    }

    /// The answer of `psql` to `query` on database `postgres`, over the server's Unix socket
    /// (so it works whatever `pg_hba.conf` says of TCP).
    pub fn sql(&self, query: &str) -> String {
        self.sql_in("postgres", query)
    }

    /// The answer of `psql` to `query` on `database`, as [`sql`](Self::sql).
    pub fn sql_in(&self, database: &str, query: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                database,
                "-Atc",
                query,
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Starts the server (again) on the same folder and port, and waits until it accepts
    /// connections.
    pub fn resume(&mut self) {
        assert!(self.watchdog.is_none(), "already running");
        // The shell starts the server, then waits for a line on stdin: `keep` stops the server
        // and keeps the data; end of input (the test process is gone) also removes it.
        let script = r#"
            "$1/postgres" -D "$2" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 \
                -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
                >"$4/server.log" 2>&1 &
            pid=$!
            read -r answer
            kill -INT "$pid"
            wait "$pid"
            [ "$answer" = keep ] || rm -rf "$4"
        "#;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&self.bin)
            .arg(&self.data)
            .arg(self.port.to_string())
            .arg(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        as_owner(&mut command, self.owner, &self.root);
        self.watchdog = Some(command.spawn().expect("start postgres"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && Command::new(self.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()
                    .is_ok_and(|s| s.success())
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not start; see {}",
                self.root.join("server.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the server and every process it started (`SIGSTOP`): connections stay open
    /// and nothing answers, as from a hung database host. [`thaw`](Self::thaw) undoes it.
    /// A test that fails while the server is frozen still stops it: it is thawed when the
    /// cluster is dropped.
    pub fn freeze(&self) {
        assert!(self.signal("STOP"), "could not freeze the server");
    }

    /// Lets a frozen server run again (`SIGCONT`).
    pub fn thaw(&self) {
        assert!(self.signal("CONT"), "could not thaw the server");
    }

    /// Sends `signal` to the server and its processes; `false` when it is not running.
    fn signal(&self, signal: &str) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(self.data.join("postmaster.pid")) else {
            return false;
        };
        let Some(postmaster) = pid_file.lines().next().map(|pid| pid.trim().to_owned()) else {
            return false;
        };
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").expect("/proc") {
            let Ok(entry) = entry else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces, so split after its `)`.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Command::new("sh")
            .arg("-c")
            .arg(format!("kill -{signal} {}", pids.join(" ")))
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Stops the server (a fast shutdown, as a restart does), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            self.signal("CONT");
            if let Some(stdin) = watchdog.stdin.as_mut() {
                let _ = stdin.write_all(b"keep\n");
            }
            let _ = watchdog.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            // A frozen server would never stop.
            self.signal("CONT");
            drop(watchdog.stdin.take());
            let _ = watchdog.wait();
        }
    }
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
}

/// Runs `command` in `dir` as `owner`, when one is needed.
fn as_owner(command: &mut Command, owner: Option<(u32, u32)>, dir: &Path) {
    command.current_dir(dir);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid).env("HOME", dir);
    }
}
