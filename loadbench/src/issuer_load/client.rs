//! The load's client: keep-alive HTTP/1.1 connections, and a wallet's sign-in and refresh.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use serde_json::Value;

use super::{BASE, WALLETS_PER_CLIENT};

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A keep-alive HTTP/1.1 connection, enough for JSON POSTs to actix.
struct Connection {
    addr: String,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(addr: &str) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        Ok(Connection {
            addr: addr.to_owned(),
            reader: BufReader::new(stream),
        })
    }

    /// POSTs `body` to `path`; the status and the body of the answer. A connection that
    /// failed is opened again for the next request.
    fn post(&mut self, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
        let result = self.exchange(path, body);
        if result.is_err() {
            *self = Connection::open(&self.addr)?;
        }
        result
    }

    fn exchange(&mut self, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let io = |e: std::io::Error| e.to_string();
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .map_err(io)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(io)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(io)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut answer = vec![0; length.ok_or("an answer without Content-Length")?];
        self.reader.read_exact(&mut answer).map_err(io)?;
        Ok((status, answer))
    }
}

/// A string field of a JSON answer.
fn field(body: &[u8], name: &str) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// One client: a connection per instance, used in turn, and its wallets.
pub(super) struct Client {
    connections: Vec<Connection>,
    next: usize,
    wallets: Vec<(Ed25519KeyPair, String)>,
    next_wallet: usize,
}

impl Client {
    pub(super) fn new(addrs: &[String]) -> Result<Client, String> {
        let wallets = (0..WALLETS_PER_CLIENT)
            .map(|_| {
                let key = Ed25519KeyPair::generate().map_err(|_| "cannot make an Ed25519 key")?;
                let address = hex(key.public_key().as_ref());
                Ok::<_, String>((key, address))
            })
            .collect::<Result<_, _>>()?;
        Ok(Client {
            connections: addrs
                .iter()
                .map(|a| Connection::open(a))
                .collect::<Result<_, _>>()?,
            next: 0,
            wallets,
            next_wallet: 0,
        })
    }

    /// POSTs to the next instance; the body of a 200, or what went wrong.
    fn post(&mut self, path: &str, body: &str) -> Result<Vec<u8>, String> {
        self.next = (self.next + 1) % self.connections.len();
        let (status, answer) = self.connections[self.next].post(&format!("{BASE}{path}"), body)?;
        if status == 200 {
            Ok(answer)
        } else {
            Err(format!(
                "{path}: {status} {}",
                String::from_utf8_lossy(&answer)
            ))
        }
    }

    /// A whole wallet sign-in with the next wallet; its refresh token.
    pub(super) fn sign_in(&mut self) -> Result<String, String> {
        self.next_wallet = (self.next_wallet + 1) % self.wallets.len();
        let address = self.wallets[self.next_wallet].1.clone();
        let answer = self.post("/challenge", &format!(r#"{{"address":"{address}"}}"#))?;
        let challenge = field(&answer, "challenge").ok_or("no challenge in the answer")?;
        let signature = hex(self.wallets[self.next_wallet]
            .0
            .sign(challenge.as_bytes())
            .as_ref());
        let answer = self.post(
            "/sign-in",
            &format!(
                r#"{{"address":"{address}","public_key":"{address}","signature":"{signature}","challenge":"{challenge}","algorithm":"Ed25519"}}"#
            ),
        )?;
        field(&answer, "refresh_token").ok_or_else(|| "no refresh_token in the answer".to_owned())
    }

    /// Rotates `token`; the new refresh token.
    pub(super) fn refresh(&mut self, token: &str) -> Result<String, String> {
        let answer = self.post("/refresh", &format!(r#"{{"refresh_token":"{token}"}}"#))?;
        field(&answer, "refresh_token").ok_or_else(|| "no refresh_token in the answer".to_owned())
    }
}
