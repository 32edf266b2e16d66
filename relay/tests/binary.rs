//! The `cryptully-relay` binary as an operator runs it: `--help`, and SIGTERM (§3.8).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};

#[test]
fn binary_help_explains_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--listen",
        "--max-connections",
        "--max-frame",
        "--register-timeout",
        "--idle-timeout",
        "--rate-messages",
        "--rate-burst",
        "--rate-bytes",
        "--rate-bytes-burst",
        "--queue-bytes",
        "CRYPTULLY_LISTEN",
        "0.0.0.0:9000",
    ] {
        assert!(help.contains(option), "--help lacks {option}:\n{help}");
    }
}

#[cfg(unix)]
#[test]
fn binary_3_8_sigterm_sends_shutdown_and_exits_cleanly() {
    use cryptully_protocol::framing::MAX_FRAME;
    use cryptully_protocol::net::{FrameReader, write_frame};
    use cryptully_protocol::relay::{ClientMessage, RelayMessage};
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut stream = None;
        for _ in 0..100 {
            if let Ok(s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                stream = Some(s);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let mut stream = stream.expect("the relay listens");
        write_frame(&mut stream, &ClientMessage::Hello { version: 2 }.to_bytes())
            .await
            .unwrap();
        write_frame(&mut stream, &ClientMessage::Ping { token: 1 }.to_bytes())
            .await
            .unwrap();
        let mut r = FrameReader::new(stream, MAX_FRAME);
        let pong = r.next_frame().await.unwrap().unwrap();
        assert_eq!(
            RelayMessage::decode(&pong).unwrap(),
            RelayMessage::Pong { token: 1 }
        );
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let last = r.next_frame().await.unwrap().unwrap();
        assert_eq!(RelayMessage::decode(&last).unwrap(), RelayMessage::Shutdown);
    });
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "clean exit, got {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("listening on") && log.contains("shutting down"),
        "{log}"
    );
}
