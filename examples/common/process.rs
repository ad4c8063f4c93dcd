//! What every example's `main` does around its own app: logging to stderr, the configuration
//! file, the listening socket, and the exit code.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;

/// Logs to stderr at `info` (`RUST_LOG` overrides), runs `run`, and turns its error into a
/// message and a failing exit code.
pub async fn main(run: impl Future<Output = Result<(), String>>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration file: `AUTH_CONFIG`, else `examples/<default_file>`.
pub fn config_path(default_file: &str) -> PathBuf {
    std::env::var_os("AUTH_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join(default_file)
        })
}

/// A socket listening on `BIND_ADDR`, else `default`; `other` is the address an error
/// suggests instead.
pub fn listen(default: &str, other: &str) -> Result<(TcpListener, SocketAddr), String> {
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| default.to_owned());
    let listener = TcpListener::bind(&bind).map_err(|err| {
        format!("cannot listen on {bind}: {err}; choose another address with BIND_ADDR={other}")
    })?;
    let addr = listener
        .local_addr()
        .map_err(|err| format!("cannot read the bound address: {err}"))?;
    Ok((listener, addr))
}
