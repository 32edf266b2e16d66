//! TLS to the relay (spec §15), with real certificates made by rcgen: what a client sees when
//! it connects pinned, with a wrong pin, without a pin, or with the wrong transport.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::Nick;
use cryptully_protocol::connection::{Command, ConnEvent, ConnectError, connect};
use cryptully_protocol::session::Event;
use cryptully_protocol::transport::{Fingerprint, RelayAddr, Security};
use cryptully_relay::tls::Tls;
use cryptully_relay::{Config, RelayHandle, spawn};
use std::sync::Arc;
use std::time::Duration;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

async fn tls_relay() -> (RelayHandle, Fingerprint) {
    let tls = Arc::new(Tls::ephemeral().unwrap());
    let fp = tls.fingerprint();
    let config = Config {
        tls: Some(tls),
        ..Config::default()
    };
    (
        spawn("127.0.0.1:0".parse().unwrap(), config).await.unwrap(),
        fp,
    )
}

/// The next event, leaving out what the contacts make of a chat (§12.5, tested in
/// `tests/identity.rs`).
async fn next(events: &mut tokio::sync::mpsc::UnboundedReceiver<ConnEvent>) -> ConnEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event within 20 s")
            .expect("the connection is running");
        if !matches!(e, ConnEvent::Contact { .. } | ConnEvent::ContactsChanged(_)) {
            return e;
        }
    }
}

#[tokio::test]
async fn tls_15_pinned_clients_chat_end_to_end() {
    let (relay, fp) = tls_relay().await;
    let addr = RelayAddr::pinned(relay.local_addr(), fp);
    let text = addr.to_string();
    assert!(text.starts_with("tls://127.0.0.1:") && text.ends_with(&format!("#sha256={fp}")));
    let (alice, mut alice_events) = connect(&text, nick("alice")).await.unwrap();
    let (bob, mut bob_events) = connect(&addr, nick("bob")).await.unwrap();
    assert_eq!(alice.fingerprint(), Some(fp));
    alice.send(Command::Open { peer: nick("bob") });
    assert!(matches!(
        next(&mut bob_events).await,
        ConnEvent::Peer {
            event: Event::Request { .. },
            ..
        }
    ));
    bob.send(Command::Accept {
        peer: nick("alice"),
    });
    let code = |e: ConnEvent| match e {
        ConnEvent::Peer {
            event: Event::Established { safety_code, .. },
            ..
        } => safety_code.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        code(next(&mut alice_events).await),
        code(next(&mut bob_events).await)
    );
    alice.send(Command::Send {
        peer: nick("bob"),
        id: 1,
        text: "over TLS".into(),
    });
    assert!(matches!(
        next(&mut alice_events).await,
        ConnEvent::Sent { id: 1, .. }
    ));
    assert!(matches!(
        next(&mut bob_events).await,
        ConnEvent::Peer { event: Event::Message { text, .. }, .. } if text == "over TLS"
    ));
}

#[tokio::test]
async fn tls_15_3_a_wrong_pin_is_refused_in_plain_words() {
    let (relay, fp) = tls_relay().await;
    let wrong = Fingerprint([7; 32]);
    let err = connect(RelayAddr::pinned(relay.local_addr(), wrong), nick("alice"))
        .await
        .unwrap_err();
    match &err {
        ConnectError::CertificateChanged { expected, got } => {
            assert_eq!((*expected, *got), (wrong, fp));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("not the relay you trusted"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_15_3_a_self_signed_certificate_without_a_pin_is_not_trusted_and_named() {
    let (relay, fp) = tls_relay().await;
    let addr = RelayAddr {
        security: Security::Tls { pin: None },
        ..RelayAddr::plain(relay.local_addr())
    };
    let err = connect(addr, nick("alice")).await.unwrap_err();
    match &err {
        ConnectError::UntrustedCertificate { fingerprint } => assert_eq!(*fingerprint, fp),
        other => panic!("{other:?}"),
    }
    // The message tells the person how to pin it.
    assert!(err.to_string().contains(&format!("#sha256={fp}")), "{err}");
}

#[tokio::test]
async fn tls_15_2_a_plain_client_against_a_tls_relay_gets_a_clear_error() {
    let (relay, _) = tls_relay().await;
    let err = connect(relay.local_addr(), nick("alice"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::TlsRequired), "{err:?}");
    assert!(err.to_string().contains("tls://"), "{err}");
}

#[tokio::test]
async fn tls_15_2_a_tls_client_against_a_plain_relay_gets_a_clear_error() {
    let relay = spawn("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap();
    let addr = RelayAddr::pinned(relay.local_addr(), Fingerprint([1; 32]));
    let err = connect(addr, nick("alice")).await.unwrap_err();
    assert!(matches!(err, ConnectError::NotTls), "{err:?}");
}

#[tokio::test]
async fn tls_15_the_relay_keeps_its_certificate_and_never_replaces_a_broken_one() {
    let dir = std::env::temp_dir().join(format!("cryptully-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (first, made) = Tls::load_or_generate(&dir).unwrap();
    assert!(made);
    let (again, made) = Tls::load_or_generate(&dir).unwrap();
    assert!(!made);
    assert_eq!(
        first.fingerprint(),
        again.fingerprint(),
        "the same certificate"
    );
    assert_eq!(
        cryptully_relay::tls::fingerprint_in(&dir),
        Some(first.fingerprint())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join(cryptully_relay::tls::KEY_FILE);
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is readable by its owner only");
    }
    let cert = dir.join(cryptully_relay::tls::CERT_FILE);
    std::fs::write(&cert, b"not a certificate").unwrap();
    let err = Tls::load_or_generate(&dir).unwrap_err();
    assert!(err.to_string().contains("relay-cert.pem"), "{err}");
    assert_eq!(std::fs::read(&cert).unwrap(), b"not a certificate", "kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn tls_15_10_2_a_tls_client_that_never_reads_is_dropped_and_frees_its_place() {
    use cryptully_protocol::relay::ClientMessage;
    use tokio::io::AsyncWriteExt;
    let tls = Arc::new(Tls::ephemeral().unwrap());
    let fp = tls.fingerprint();
    let config = Config {
        tls: Some(tls),
        max_connections: 1,
        queue_bytes: 4096,
        stall_timeout: Duration::from_secs(1),
        // Every PING answered, so that the PONGs pile up.
        rate_messages: 1e9,
        rate_messages_burst: 1e9,
        rate_bytes: 1e12,
        rate_bytes_burst: 1e12,
        ..Config::default()
    };
    let relay = spawn("127.0.0.1:0".parse().unwrap(), config).await.unwrap();
    let addr = RelayAddr::pinned(relay.local_addr(), fp);
    // It registers, then sends PINGs and never reads a PONG.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(relay.local_addr()).await.unwrap();
    let opened = cryptully_protocol::transport::over(tcp, &addr)
        .await
        .unwrap();
    let mut stream = opened.stream;
    let mut hello = Vec::new();
    for m in [
        ClientMessage::Hello { version: 2 },
        ClientMessage::Register { nick: nick("mute") },
    ] {
        cryptully_protocol::framing::encode_frame(&m.to_bytes(), &mut hello);
    }
    stream.write_all(&hello).await.unwrap();
    let hostile = tokio::spawn(async move {
        let mut ping = Vec::new();
        cryptully_protocol::framing::encode_frame(
            &ClientMessage::Ping { token: 1 }.to_bytes(),
            &mut ping,
        );
        let batch = ping.repeat(256);
        loop {
            if stream.write_all(&batch).await.is_err() || stream.flush().await.is_err() {
                break;
            }
        }
        stream
    });
    // Its place comes free: a new client gets in (not SERVER_FULL) within the stall timeout and
    // the bounded close.
    let mut joined = None;
    for _ in 0..90 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(c) = connect(&addr, nick("next")).await {
            joined = Some(c);
            break;
        }
    }
    assert!(
        joined.is_some(),
        "the relay freed the place of a client that never reads"
    );
    hostile.abort();
}
