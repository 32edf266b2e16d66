//! Operations around the relay: the health check of `cryptully-relay health` and the systemd
//! readiness notice.

use cryptully_protocol::net::{FrameReader, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::versioning::RELAY_VERSION;
use std::time::Duration;

/// Connects to `addr`, says HELLO (§3.3) and PING (§3.7), and waits for the matching PONG.
/// The error says in words what went wrong.
pub async fn health(
    addr: &str,
    tls_dir: Option<&std::path::Path>,
    tls_cert: Option<&std::path::Path>,
    timeout: Duration,
) -> Result<(), String> {
    use cryptully_protocol::transport::{RelayAddr, Security};
    let mut target: RelayAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    // §15: a relay's own certificate, kept in its TLS directory, is the pin for checking it.
    if target.security == (Security::Tls { pin: None }) {
        let pin = match tls_cert {
            Some(cert) => crate::tls::fingerprint_of(cert),
            None => crate::tls::fingerprint_in(&crate::cli::tls_dir(tls_dir)),
        };
        if let Some(pin) = pin {
            target.security = Security::Tls { pin: Some(pin) };
        }
    }
    let check = async {
        let opened = cryptully_protocol::transport::open(&target)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (read, mut write) = tokio::io::split(opened.stream);
        let token = 0x6865_616c_7468; // "health"
        for msg in [
            ClientMessage::Hello {
                version: RELAY_VERSION,
            },
            ClientMessage::Ping { token },
        ] {
            let mut body = Vec::new();
            msg.encode(&mut body);
            write_frame(&mut write, &body)
                .await
                .map_err(|e| format!("cannot write to {addr}: {e}"))?;
        }
        let mut frames = FrameReader::new(read, cryptully_protocol::limits::MAX_FRAME);
        loop {
            let frame = frames
                .next_frame()
                .await
                .map_err(|e| match e {
                    // §15.2: a TLS relay answers plain frames with a TLS alert.
                    cryptully_protocol::net::NetError::Frame(
                        cryptully_protocol::framing::FrameError::Length { length, .. },
                    ) if cryptully_protocol::transport::looks_like_tls(length) => {
                        format!("{addr} serves TLS: check it as tls://{addr}")
                    }
                    e => format!("{addr} is not a Cryptully relay: {e}"),
                })?
                .ok_or_else(|| format!("{addr} closed the connection"))?;
            match RelayMessage::decode(&frame) {
                Ok(RelayMessage::Pong { token: t }) if t == token => return Ok(()),
                Ok(RelayMessage::Error { code, .. }) => {
                    return Err(format!("{addr} refused: {code:?}"));
                }
                Ok(_) => continue,
                Err(e) => return Err(format!("{addr} is not a Cryptully relay: {e}")),
            }
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| format!("{addr} did not answer within {timeout:?}"))?
}

/// Tells systemd the relay is ready (`READY=1` on `$NOTIFY_SOCKET`, as `sd_notify(3)` does),
/// for units of `Type=notify`. Does nothing without that variable. Returns whether it sent.
pub fn notify_ready() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some_and(|socket| notify_ready_at(&socket))
}

/// Sends `READY=1` to the datagram socket `socket` (a path, or `@name` for Linux's abstract
/// namespace). Always `false` where there are no Unix sockets.
pub fn notify_ready_at(socket: &std::ffi::OsStr) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::net::UnixDatagram;
        let Ok(sender) = UnixDatagram::unbound() else {
            return false;
        };
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(socket);
        #[cfg(target_os = "linux")]
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            return std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|a| sender.send_to_addr(b"READY=1", &a))
                .is_ok();
        }
        let _ = bytes;
        sender.send_to(b"READY=1", socket).is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        false
    }
}

/// File descriptors a relay keeps for things other than client connections: the listener,
/// standard streams, the runtime's own, a margin for accepts in flight.
pub const RESERVED_FDS: u64 = 64;

/// Raises this process's soft limit on open files to its hard limit (§10.2: new connections must
/// get SERVER_FULL, not hang for want of a descriptor). Returns the limit now in force, or `None`
/// where there is no such limit (Windows) or it could not be read.
pub fn raise_file_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(u64::MAX) | Err(_) => None,
        Ok(limit) => Some(limit),
    }
}

/// How many connections fit under a file limit of `nofile`: one descriptor each, after
/// [`RESERVED_FDS`]. At least one.
pub fn connections_within(max_connections: usize, nofile: u64) -> usize {
    let room = usize::try_from(nofile.saturating_sub(RESERVED_FDS)).unwrap_or(usize::MAX);
    max_connections.min(room).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Config;

    #[tokio::test]
    async fn health_passes_against_a_relay_and_fails_against_a_silent_server() {
        let relay = crate::spawn("127.0.0.1:0".parse().unwrap(), Config::default())
            .await
            .unwrap();
        let addr = relay.local_addr().to_string();
        health(&addr, None, None, Duration::from_secs(3))
            .await
            .unwrap();
        // A server that accepts and says nothing.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        let _keep = tokio::spawn(async move {
            let (_s, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let err = health(&silent_addr, None, None, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(err.contains("did not answer"), "{err}");
    }

    #[test]
    fn ops_10_2_connections_fit_under_the_file_limit() {
        // The common 1 024 with the default 10 000 connections: 960, so the 961st gets SERVER_FULL.
        assert_eq!(connections_within(10_000, 1024), 960);
        assert_eq!(connections_within(500, 1024), 500);
        assert_eq!(connections_within(10_000, 10), 1);
        assert_eq!(connections_within(10_000, u64::MAX), 10_000);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_file_limit_is_raised_to_the_hard_one() {
        let limit = raise_file_limit();
        if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() {
            assert_eq!(soft, hard.min(limit.unwrap_or(hard)));
            assert_eq!(limit, Some(soft));
        }
    }

    #[cfg(unix)]
    #[test]
    fn notify_ready_writes_ready_to_the_notify_socket() {
        let dir = std::env::temp_dir().join(format!("cryptully-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        assert!(notify_ready_at(path.as_os_str()));
        let mut buf = [0u8; 32];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        assert!(!notify_ready_at(dir.join("nobody").as_os_str()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
