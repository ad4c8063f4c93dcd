//! What the tests that drive example binaries share.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

/// `cargo test` builds the examples next to the test binaries: target/<profile>/examples.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// A started example, killed when dropped.
pub struct Running {
    pub child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Takes a child started with piped stdout and reads its lines until one starts with
    /// `until`; returns the lines read, that one included.
    pub fn start(mut child: Child, until: &str) -> (Running, Vec<String>) {
        let stdout = child.stdout.take().expect("stdout is piped");
        let running = Running { child };
        let (tx, rx) = mpsc::channel();
        // Drain stdout until the child exits, even once nobody listens: a closed pipe would
        // make the example's next `println!` panic.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = Vec::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no `{until}` line printed; got {lines:#?}"));
            let done = line.starts_with(until);
            lines.push(line);
            if done {
                return (running, lines);
            }
        }
    }

    /// The base URL from the `listening on ...` line among `lines`.
    pub fn base(lines: &[String]) -> String {
        lines
            .iter()
            .find_map(|l| l.strip_prefix("listening on "))
            .expect("listening line")
            .to_owned()
    }
}

/// The value of the sample `series` (name and labels exactly as rendered) in a Prometheus
/// text exposition, or `None` when it is absent.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}
