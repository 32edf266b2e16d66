//! §15 on the relay: TLS 1.3 (tokio-rustls). The operator gives a certificate and key, or the
//! relay makes a self-signed pair on first start (rcgen), keeps it, and prints its fingerprint
//! for clients to pin (`tls://HOST:PORT#sha256=…`).

use bytes::BytesMut;
use cryptully_protocol::transport::{ALPN, Fingerprint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

/// The certificate file kept in the TLS directory.
pub const CERT_FILE: &str = "relay-cert.pem";
/// The private key file kept in the TLS directory (mode 0600 on Unix).
pub const KEY_FILE: &str = "relay-key.pem";

/// A TLS 1.3 server configuration and the fingerprint of its certificate.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    fingerprint: Fingerprint,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tls({})", self.fingerprint)
    }
}

/// Why TLS could not be set up.
#[derive(Debug)]
pub enum TlsError {
    /// A file could not be read or written.
    File(PathBuf, std::io::Error),
    /// A file holds no usable certificate or key.
    Pem(PathBuf, String),
    /// The certificate and key do not make a TLS configuration (e.g. they do not match).
    Config(String),
    /// A certificate could not be made.
    Generate(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p, e) => write!(f, "{}: {e}", p.display()),
            Self::Pem(p, e) => write!(f, "{}: not a PEM certificate or key: {e}", p.display()),
            Self::Config(e) => write!(f, "the certificate and key cannot be used: {e}"),
            Self::Generate(e) => write!(f, "cannot make a certificate: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

impl Tls {
    /// From PEM text: the certificate chain (the relay's first) and its private key.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], path: &Path) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Pem(path.into(), e.to_string()))?;
        let Some(first) = chain.first() else {
            return Err(TlsError::Pem(path.into(), "no certificate".into()));
        };
        let fingerprint = Fingerprint::of(first);
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| TlsError::Pem(path.into(), e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(Self {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            fingerprint,
        })
    }

    /// The operator's certificate (PEM chain) and key.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let c = std::fs::read(cert).map_err(|e| TlsError::File(cert.into(), e))?;
        let k = std::fs::read(key).map_err(|e| TlsError::File(key.into(), e))?;
        Self::from_pem(&c, &k, cert)
    }

    /// The pair kept in `dir`, made (self-signed) and kept there if there is none; whether it
    /// was made now. A pair that exists but cannot be read is an error, never replaced.
    pub fn load_or_generate(dir: &Path) -> Result<(Self, bool), TlsError> {
        let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
        if cert.exists() || key.exists() {
            return Ok((Self::load(&cert, &key)?, false));
        }
        let (cert_pem, key_pem) = self_signed()?;
        std::fs::create_dir_all(dir).map_err(|e| TlsError::File(dir.into(), e))?;
        write_new(&key, key_pem.as_bytes(), true)?;
        write_new(&cert, cert_pem.as_bytes(), false)?;
        Ok((
            Self::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), &cert)?,
            true,
        ))
    }

    /// A fresh self-signed pair, kept nowhere (tests, benchmarks).
    pub fn ephemeral() -> Result<Self, TlsError> {
        let (c, k) = self_signed()?;
        Self::from_pem(c.as_bytes(), k.as_bytes(), Path::new("(generated)"))
    }

    /// The SHA-256 fingerprint of the certificate, for clients to pin (§15.3).
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub(crate) fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }
}

/// The fingerprint of the certificate kept in `dir`, if there is one.
pub fn fingerprint_in(dir: &Path) -> Option<Fingerprint> {
    fingerprint_of(&dir.join(CERT_FILE))
}

/// The fingerprint of the first certificate in the PEM file `path`.
pub fn fingerprint_of(path: &Path) -> Option<Fingerprint> {
    let pem = std::fs::read(path).ok()?;
    let first = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    Some(Fingerprint::of(&first))
}

fn self_signed() -> Result<(String, String), TlsError> {
    // The name is not checked by pinning clients (§15.3); it says what the certificate is for.
    let made = rcgen::generate_simple_self_signed(vec!["cryptully-relay".to_string()])
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((made.cert.pem(), made.key_pair.serialize_pem()))
}

/// Writes a file that must not exist yet, readable by its owner only when `secret`.
fn write_new(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(path)
        .map_err(|e| TlsError::File(path.into(), e))?;
    std::io::Write::write_all(&mut file, bytes).map_err(|e| TlsError::File(path.into(), e))?;
    file.sync_all().map_err(|e| TlsError::File(path.into(), e))
}

/// A TLS alert record (fatal, protocol_version): what a TLS-only relay answers a plain client,
/// which recognises it (§15.2).
pub(crate) const PLAIN_REFUSED: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46];

/// The reading half of a client connection.
pub(crate) enum ReadSide {
    Tcp(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

impl ReadSide {
    /// Whether readiness can be waited for without reading (plain TCP only).
    pub(crate) fn has_readiness(&self) -> bool {
        matches!(self, Self::Tcp(_))
    }

    pub(crate) async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Self::Tcp(r) => r.read_buf(buf).await,
            Self::Tls(r) => r.read_buf(buf).await,
        }
    }

    pub(crate) async fn readable(&self) -> std::io::Result<()> {
        match self {
            Self::Tcp(r) => r.readable().await,
            Self::Tls(_) => std::future::pending().await,
        }
    }

    pub(crate) fn try_read_buf(&self, buf: &mut BytesMut) -> std::io::Result<usize> {
        match self {
            Self::Tcp(r) => r.try_read_buf(buf),
            Self::Tls(_) => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }
}

/// The writing half of a client connection.
pub(crate) enum WriteSide {
    Tcp(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

impl WriteSide {
    /// Writes without waiting, plain TCP only; TLS leaves it to the writer task.
    pub(crate) fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(w) => w.try_write(buf),
            Self::Tls(_) => Err(std::io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Writes some of `buf`. Over TLS, the count is what rustls took (it holds at most its
    /// buffer limit); [`WriteSide::flush`] sends it. A write cut short by an abort then leaves
    /// no byte both counted and unsent (§10.2: SLOW_CONSUMER only at a frame boundary).
    pub(crate) async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(w) => w.write(buf).await,
            Self::Tls(w) => w.write(buf).await,
        }
    }

    /// Sends what TLS still holds (nothing to do for TCP).
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Tcp(_) => Ok(()),
            Self::Tls(w) => w.flush().await,
        }
    }

    pub(crate) async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Tcp(w) => w.write_all(buf).await,
            Self::Tls(w) => {
                w.write_all(buf).await?;
                w.flush().await
            }
        }
    }

    pub(crate) async fn shutdown(&mut self) -> std::io::Result<()> {
        match self {
            Self::Tcp(w) => w.shutdown().await,
            Self::Tls(w) => w.shutdown().await,
        }
    }
}

/// A plain connection's two halves.
pub(crate) fn plain(stream: TcpStream) -> (ReadSide, WriteSide) {
    let (r, w) = stream.into_split();
    (ReadSide::Tcp(r), WriteSide::Tcp(w))
}

/// A TLS connection's two halves.
pub(crate) fn secure(stream: TlsStream<TcpStream>) -> (ReadSide, WriteSide) {
    let (r, w) = tokio::io::split(stream);
    (ReadSide::Tls(r), WriteSide::Tls(w))
}
