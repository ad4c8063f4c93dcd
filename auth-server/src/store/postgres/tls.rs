//! TLS to the database: `sslmode` and `sslrootcert` as libpq names them, read from the store
//! URL, and a rustls connector for tokio-postgres.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` and no CA file; the two parameters are
//! taken out of the URL here and the certificate checks done by the connector.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::message;
use crate::store::StoreError;

/// What `sslmode` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain TCP; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is checked against `sslrootcert` when one is
    /// given (as `verify-ca`), not otherwise.
    Require,
    /// TLS, the certificate issued by a trusted CA; any host name.
    VerifyCa,
    /// TLS, the certificate issued by a trusted CA for the host connected to.
    VerifyFull,
}

impl SslMode {
    const NAMES: [(&'static str, SslMode); 5] = [
        ("disable", SslMode::Disable),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("prefer", |(name, _)| name)
    }

    /// The mode tokio-postgres negotiates with: the checks beyond it are the connector's.
    pub(super) fn negotiated(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The CAs a server certificate is checked against.
#[derive(Clone, Debug)]
enum Roots {
    /// None: any certificate is taken (`prefer`, `require` without `sslrootcert`).
    Unchecked,
    /// The PEM file `sslrootcert` names.
    File(PathBuf),
    /// The system's trusted CAs (`sslrootcert=system`, or no `sslrootcert` with `verify-ca`
    /// or `verify-full`).
    System,
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Unchecked => f.write_str("certificate not checked"),
            Roots::File(path) => write!(f, "sslrootcert={}", path.display()),
            Roots::System => f.write_str("the system's trusted CAs"),
        }
    }
}

/// The TLS settings of a store URL.
#[derive(Clone, Debug, Default)]
pub(super) struct TlsSettings {
    /// `sslmode`; none when the URL has none (tokio-postgres' reading of the connection
    /// string then decides: `prefer` unless it says otherwise).
    pub(super) mode: Option<SslMode>,
    /// `sslrootcert`.
    root_cert: Option<PathBuf>,
}

/// `url` without `sslmode` and `sslrootcert` (which tokio-postgres would refuse or ignore),
/// and those settings. A connection string that is not a URL is left whole: its `sslmode`
/// (`disable`, `prefer`, `require`) is tokio-postgres' to read.
pub(super) fn split_url(url: &str) -> Result<(Cow<'_, str>, TlsSettings), StoreError> {
    let mut settings = TlsSettings::default();
    let Some(rest) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|prefix| url.strip_prefix(prefix))
    else {
        return Ok((Cow::Borrowed(url), settings));
    };
    // As tokio-postgres reads it: the credentials end at the first `@`, the query starts at
    // the first `?` after them.
    let after_credentials = url.len() - rest.len() + rest.find('@').map_or(0, |at| at + 1);
    let Some(query_at) = url[after_credentials..]
        .find('?')
        .map(|at| after_credentials + at)
    else {
        return Ok((Cow::Borrowed(url), settings));
    };
    let mut kept = Vec::new();
    for parameter in url[query_at + 1..].split('&') {
        let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        match &*percent_decode(key) {
            "sslmode" => {
                let value = percent_decode(value);
                settings.mode = Some(
                    SslMode::NAMES
                        .iter()
                        .find(|(name, _)| *name == value)
                        .map(|(_, mode)| *mode)
                        .ok_or_else(|| {
                            message(format!(
                                "sslmode={value} is not supported: use disable, prefer, require, \
                                 verify-ca or verify-full"
                            ))
                        })?,
                );
            }
            "sslrootcert" => settings.root_cert = Some(PathBuf::from(&*percent_decode(value))),
            _ => kept.push(parameter),
        }
    }
    let mut stripped = url[..query_at].to_owned();
    if !kept.is_empty() {
        stripped.push('?');
        stripped.push_str(&kept.join("&"));
    }
    Ok((Cow::Owned(stripped), settings))
}

/// `text` with its `%XX` escapes decoded, as tokio-postgres decodes URL parameters.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
}

/// The connector for `mode` (what the URL says, else what tokio-postgres read) and the
/// settings' CA file, which is read now: a missing or empty file is an error before any
/// connection is tried.
pub(super) fn connector(mode: SslMode, settings: &TlsSettings) -> Result<MakeRustls, StoreError> {
    let roots = match (mode, settings.root_cert.as_deref()) {
        (SslMode::Disable | SslMode::Prefer, Some(path)) => {
            return Err(message(format!(
                "sslrootcert={} is given but sslmode={mode} does not verify the server: use \
                 sslmode=verify-full (or verify-ca)",
                path.display()
            )));
        }
        (SslMode::Disable | SslMode::Prefer | SslMode::Require, None) => Roots::Unchecked,
        // The system's CAs sign certificates for anyone's names: they prove something only
        // with the host name checked too.
        (SslMode::VerifyFull, None) => Roots::System,
        (SslMode::VerifyFull, Some(path)) if path == Path::new("system") => Roots::System,
        (_, Some(path)) if path == Path::new("system") => {
            return Err(message(format!(
                "sslrootcert=system with sslmode={mode}: the system's CAs sign certificates for \
                 anyone's names, so they are trusted only with the host name checked; use \
                 sslmode=verify-full"
            )));
        }
        (SslMode::VerifyCa, None) => {
            return Err(message(
                "sslmode=verify-ca needs sslrootcert=PATH, the CA that signs the server's \
                 certificate (the system's CAs would accept a certificate for any name they \
                 signed); give it, or use sslmode=verify-full"
                    .to_owned(),
            ));
        }
        (_, Some(path)) => Roots::File(path.to_owned()),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let checked: Arc<dyn ServerCertVerifier> = match &roots {
        Roots::Unchecked => Arc::new(AnyCertificate(Arc::clone(&provider))),
        Roots::File(path) => {
            let mut store = RootCertStore::empty();
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
                .map_err(|err| message(format!("sslrootcert={}: {err}", path.display())))?;
            let (added, _) = store.add_parsable_certificates(certificates);
            if added == 0 {
                return Err(message(format!(
                    "sslrootcert={} holds no PEM certificate",
                    path.display()
                )));
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&provider))
                .build()
                .map_err(|err| message(format!("sslrootcert={}: {err}", path.display())))?
        }
        Roots::System => Arc::new(
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                .map_err(|err| message(format!("the system's trusted CAs: {err}")))?,
        ),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, &roots) {
        (SslMode::VerifyFull, _) | (_, Roots::Unchecked) => checked,
        _ => Arc::new(AnyName(checked)),
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| message(format!("TLS: {err}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    // Required by servers taking `sslnegotiation=direct`; harmless to the others.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(MakeRustls {
        config: Arc::new(config),
        checks: Arc::new(Checks { mode, roots }),
    })
}

/// What a handshake error names: the settings that decided the checks.
#[derive(Debug)]
struct Checks {
    mode: SslMode,
    roots: Roots,
}

/// Takes any certificate, but still checks that the server holds its key (the handshake
/// signature): encryption against eavesdroppers, no defence against someone in the middle.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The inner verifier's checks but the host name's (`verify-ca`, and `require` with a CA
/// file). Both verifiers used check the chain before the name, so a name error means the
/// chain was trusted.
#[derive(Debug)]
struct AnyName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Makes a [`RustlsConnect`] per connection, for the host connected to.
#[derive(Clone)]
pub(super) struct MakeRustls {
    config: Arc<ClientConfig>,
    checks: Arc<Checks>,
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = TlsError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, TlsError> {
        // The name is checked when TLS is used: a Unix socket has none and needs none.
        Ok(RustlsConnect {
            config: Arc::clone(&self.config),
            checks: Arc::clone(&self.checks),
            domain: domain.to_owned(),
        })
    }
}

/// One TLS handshake with the host `domain`.
pub(super) struct RustlsConnect {
    config: Arc<ClientConfig>,
    checks: Arc<Checks>,
    domain: String,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = TlsError;
    type Future = Pin<Box<dyn Future<Output = Result<RustlsStream<S>, TlsError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let failed = |source: io::Error| TlsError {
                checks: Arc::clone(&self.checks),
                host: self.domain.clone(),
                source,
            };
            let name = ServerName::try_from(self.domain.as_str())
                .map_err(|err| failed(io::Error::new(io::ErrorKind::InvalidInput, err)))?
                .to_owned();
            tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
                .connect(name, stream)
                .await
                .map(RustlsStream)
                .map_err(failed)
        })
    }
}

/// A failed handshake, with the settings that decided the checks.
#[derive(Debug)]
pub(super) struct TlsError {
    checks: Arc<Checks>,
    host: String,
    source: io::Error,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TLS with {} (sslmode={}, {}) failed: {}",
            self.host, self.checks.mode, self.checks.roots, self.source
        )
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A TLS connection to the database.
pub(super) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding; `channel_binding=require` is refused.
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, Option<SslMode>, Option<PathBuf>) {
        let (url, settings) = split_url(url).unwrap();
        (url.into_owned(), settings.mode, settings.root_cert)
    }

    #[test]
    fn tls_parameters_are_taken_out_and_the_others_kept_in_order() {
        assert_eq!(
            split(
                "postgres://u:pw@db:5432/auth?application_name=a&sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20file.pem&connect_timeout=2"
            ),
            (
                "postgres://u:pw@db:5432/auth?application_name=a&connect_timeout=2".to_owned(),
                Some(SslMode::VerifyFull),
                Some(PathBuf::from("/etc/ca file.pem")),
            )
        );
        assert_eq!(
            split("postgresql://db/auth?sslmode=require"),
            (
                "postgresql://db/auth".to_owned(),
                Some(SslMode::Require),
                None
            )
        );
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        assert_eq!(
            split("postgres://u:p?ss&sslmode=x@db/auth?sslmode=verify-ca"),
            (
                "postgres://u:p?ss&sslmode=x@db/auth".to_owned(),
                Some(SslMode::VerifyCa),
                None
            )
        );
    }

    #[test]
    fn urls_without_tls_parameters_and_key_value_strings_are_left_whole() {
        for url in [
            "postgres://u:pw@db/auth",
            "postgres://u:pw@db/auth?connect_timeout=2",
            "host=db user=u sslmode=require",
        ] {
            let (kept, mode, root) = split(url);
            assert_eq!(kept, url);
            assert_eq!((mode, root), (None, None));
        }
    }

    #[test]
    fn an_unknown_sslmode_is_refused_with_the_known_ones() {
        let err = split_url("postgres://u:pw@db/auth?sslmode=allow")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sslmode=allow is not supported"), "{err}");
        assert!(err.contains("verify-full"), "{err}");
        assert!(!err.contains("pw"), "{err}");
    }
}
