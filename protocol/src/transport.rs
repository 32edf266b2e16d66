//! §15 Transport: how a client reaches its relay. Plain TCP (loopback, a trusted network, tests)
//! or TLS 1.3, with the relay's certificate checked against the system's authorities or pinned
//! by its SHA-256 fingerprint (`tls://host:port#sha256=…`).

use crate::connection::ConnectError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The ALPN protocol id both ends offer (§15.2), so that a TLS connection meant for another
/// service is never taken for a relay's.
pub const ALPN: &[u8] = b"cryptully";

/// How a connection to a relay is secured (§15.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP: for loopback and networks the person trusts.
    Plain,
    /// TLS 1.3. With a pin, the relay's certificate must have that SHA-256 fingerprint;
    /// without, it must verify against the system's certificate authorities.
    Tls {
        /// The pinned fingerprint, if any.
        pin: Option<Fingerprint>,
    },
}

/// The SHA-256 of a certificate's DER bytes (§15.3), shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(cert_der: &[u8]) -> Self {
        Self(Sha256::digest(cert_der).into())
    }

    /// Whether two fingerprints are equal, in constant time.
    pub fn matches(&self, other: &Fingerprint) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let mut out = [0u8; 32];
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(AddrError::Pin);
        }
        for (o, pair) in out.iter_mut().zip(bytes.chunks(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| AddrError::Pin)?;
            *o = u8::from_str_radix(text, 16).map_err(|_| AddrError::Pin)?;
        }
        Ok(Self(out))
    }
}

/// A relay's address (§15.1): `HOST:PORT`, `tls://HOST:PORT` or
/// `tls://HOST:PORT#sha256=FINGERPRINT`. IPv6 hosts are written in brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayAddr {
    /// A DNS name or an IP address (without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// Plain or TLS.
    pub security: Security,
}

/// Why an address could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrError {
    /// No `:PORT`, or a port that is not a number from 1 to 65535.
    Port,
    /// An empty host.
    Host,
    /// A scheme other than `tcp://` or `tls://`.
    Scheme(String),
    /// A `#` part other than `sha256=` and 64 hex digits.
    Pin,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Port => f.write_str(
                "the address needs a port from 1 to 65535: HOST:PORT, e.g. relay.example:9000",
            ),
            Self::Host => f.write_str("the address needs a host: HOST:PORT"),
            Self::Scheme(s) => write!(f, "unknown scheme {s:?}: use tls://HOST:PORT or HOST:PORT"),
            Self::Pin => {
                f.write_str("a pinned certificate is written #sha256= followed by 64 hex digits")
            }
        }
    }
}

impl std::error::Error for AddrError {}

impl RelayAddr {
    /// A plain address for `addr` (loopback relays, tests).
    pub fn plain(addr: SocketAddr) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
            security: Security::Plain,
        }
    }

    /// `addr` over TLS with the certificate pinned to `pin`.
    pub fn pinned(addr: SocketAddr, pin: Fingerprint) -> Self {
        Self {
            security: Security::Tls { pin: Some(pin) },
            ..Self::plain(addr)
        }
    }
}

impl FromStr for RelayAddr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let s = s.trim();
        let (tls, rest) = match s.split_once("://") {
            None => (false, s),
            Some(("tcp", rest)) => (false, rest),
            Some(("tls", rest)) => (true, rest),
            Some((scheme, _)) => return Err(AddrError::Scheme(scheme.into())),
        };
        let (hostport, pin) = match rest.split_once('#') {
            None => (rest, None),
            Some((hp, frag)) => {
                let hex = frag.strip_prefix("sha256=").ok_or(AddrError::Pin)?;
                (hp, Some(hex.parse::<Fingerprint>()?))
            }
        };
        if pin.is_some() && !tls {
            return Err(AddrError::Pin);
        }
        let (host, port) = hostport.rsplit_once(':').ok_or(AddrError::Port)?;
        let port: u16 = port.parse().map_err(|_| AddrError::Port)?;
        if port == 0 {
            return Err(AddrError::Port);
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(AddrError::Host);
        }
        Ok(Self {
            host: host.into(),
            port,
            security: if tls {
                Security::Tls { pin }
            } else {
                Security::Plain
            },
        })
    }
}

impl fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Security::Tls { .. } = self.security {
            f.write_str("tls://")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if let Security::Tls { pin: Some(pin) } = self.security {
            write!(f, "#sha256={pin}")?;
        }
        Ok(())
    }
}

/// What [`crate::connection::connect`] accepts as an address.
pub trait ToRelayAddr {
    /// The address, or why it is not one.
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError>;
}

impl ToRelayAddr for RelayAddr {
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError> {
        Ok(self.clone())
    }
}

impl ToRelayAddr for SocketAddr {
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError> {
        Ok(RelayAddr::plain(*self))
    }
}

impl ToRelayAddr for str {
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError> {
        self.parse()
    }
}

impl ToRelayAddr for String {
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError> {
        self.parse()
    }
}

impl<T: ToRelayAddr + ?Sized> ToRelayAddr for &T {
    fn to_relay_addr(&self) -> Result<RelayAddr, AddrError> {
        (**self).to_relay_addr()
    }
}

/// A byte stream to a relay: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// An open connection to a relay, before any frame.
pub struct Opened {
    /// The stream.
    pub stream: Box<dyn Io>,
    /// The relay certificate's fingerprint, over TLS.
    pub fingerprint: Option<Fingerprint>,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Opens a TCP connection to `addr` and, for `tls://`, completes a TLS 1.3 handshake that checks
/// the relay's certificate (§15.3).
pub async fn open(addr: &RelayAddr) -> Result<Opened, ConnectError> {
    let tcp = TcpStream::connect((addr.host.as_str(), addr.port))
        .await
        .map_err(ConnectError::Unreachable)?;
    let _ = tcp.set_nodelay(true);
    over(tcp, addr).await
}

/// [`open`] over a TCP connection already made (a test that sets socket options first).
pub async fn over(tcp: TcpStream, addr: &RelayAddr) -> Result<Opened, ConnectError> {
    let Security::Tls { pin } = addr.security else {
        return Ok(Opened {
            stream: Box::new(tcp),
            fingerprint: None,
        });
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Mutex::new(None));
    let webpki = match pin {
        Some(_) => None,
        None => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
            Some(verifier)
        }
    };
    let verifier = Arc::new(Verifier {
        pin,
        webpki,
        seen: seen.clone(),
        provider: provider.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConnectError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    let name = ServerName::try_from(addr.host.clone())
        .map_err(|_| ConnectError::Address(format!("{:?} is not a host name", addr.host)))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector.connect(name, tcp).await.map_err(|e| {
        let observed = seen.lock().ok().and_then(|s| *s);
        handshake_error(&e, pin, observed)
    })?;
    // §15.2: a relay chooses `cryptully`; any other TLS service is not one.
    if tls.get_ref().1.alpn_protocol() != Some(ALPN) {
        return Err(ConnectError::NotARelay);
    }
    let fingerprint = seen.lock().ok().and_then(|s| *s);
    Ok(Opened {
        stream: Box::new(tls),
        fingerprint,
    })
}

/// Says in plain words why a TLS handshake failed.
fn handshake_error(
    e: &std::io::Error,
    pin: Option<Fingerprint>,
    observed: Option<Fingerprint>,
) -> ConnectError {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .cloned();
    match (inner, pin, observed) {
        (Some(rustls::Error::InvalidCertificate(_)), Some(expected), Some(got)) => {
            ConnectError::CertificateChanged { expected, got }
        }
        (Some(rustls::Error::InvalidCertificate(_)), None, Some(fingerprint)) => {
            ConnectError::UntrustedCertificate { fingerprint }
        }
        (Some(rustls::Error::InvalidMessage(_)), _, None) => ConnectError::NotTls,
        (None, _, None) if e.kind() == std::io::ErrorKind::UnexpectedEof => ConnectError::NotTls,
        (Some(err), _, _) => ConnectError::Tls(err.to_string()),
        (None, _, _) => ConnectError::Tls(e.to_string()),
    }
}

/// Checks the relay's certificate: against the pin when there is one, else against the
/// certificate authorities. Records what it saw, so that a refusal can name it.
#[derive(Debug)]
struct Verifier {
    pin: Option<Fingerprint>,
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    seen: Arc<Mutex<Option<Fingerprint>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = Fingerprint::of(end_entity);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fp);
        }
        match (&self.pin, &self.webpki) {
            // §15.3: a pin replaces the authorities: the certificate is the relay's, whoever
            // signed it (self-signed is the usual case), and nothing else is.
            (Some(pin), _) if pin.matches(&fp) => Ok(ServerCertVerified::assertion()),
            (Some(_), _) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            (None, Some(webpki)) => {
                webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            (None, None) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Whether a length prefix that broke §2.1 was in fact the start of a TLS record (a relay that
/// speaks only TLS answers a plain client with a TLS alert, §15.2).
pub fn looks_like_tls(length_prefix: u32) -> bool {
    let [kind, major, ..] = length_prefix.to_be_bytes();
    (kind == 0x15 || kind == 0x16) && major == 0x03
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_15_1_addresses_parse_and_print_back() {
        let pin = "ab".repeat(32);
        for text in [
            "127.0.0.1:9000".to_string(),
            "relay.example:443".to_string(),
            "tls://relay.example:443".to_string(),
            format!("tls://relay.example:9000#sha256={pin}"),
            "tls://[::1]:9000".to_string(),
        ] {
            let addr: RelayAddr = text.parse().expect("parses");
            assert_eq!(addr.to_string(), text);
        }
        let a: RelayAddr = "tcp://h:1".parse().expect("parses");
        assert_eq!(a.security, Security::Plain);
    }

    #[test]
    fn transport_15_1_bad_addresses_say_what_is_wrong() {
        assert_eq!("relay".parse::<RelayAddr>(), Err(AddrError::Port));
        assert_eq!("relay:0".parse::<RelayAddr>(), Err(AddrError::Port));
        assert_eq!("relay:x".parse::<RelayAddr>(), Err(AddrError::Port));
        assert_eq!("relay:99999".parse::<RelayAddr>(), Err(AddrError::Port));
        // A port out of range is named as such, not as a missing port.
        assert!(AddrError::Port.to_string().contains("from 1 to 65535"));
        assert_eq!(":9000".parse::<RelayAddr>(), Err(AddrError::Host));
        assert_eq!(
            "http://relay:80".parse::<RelayAddr>(),
            Err(AddrError::Scheme("http".into()))
        );
        assert_eq!(
            "tls://h:1#sha256=abc".parse::<RelayAddr>(),
            Err(AddrError::Pin)
        );
        assert_eq!("tls://h:1#md5=ab".parse::<RelayAddr>(), Err(AddrError::Pin));
        let pin = "00".repeat(32);
        assert_eq!(
            format!("h:1#sha256={pin}").parse::<RelayAddr>(),
            Err(AddrError::Pin),
            "a pin without TLS means nothing"
        );
    }

    #[test]
    fn transport_15_2_tls_records_are_recognised_in_a_length_prefix() {
        assert!(looks_like_tls(0x1503_0300));
        assert!(looks_like_tls(0x1603_0100));
        assert!(!looks_like_tls(0x0000_0002));
    }
}
