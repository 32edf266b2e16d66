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
        "--tls-cert",
        "--tls-key",
        "--tls-dir",
        "--plain",
        "--cluster",
        "--cluster-lease",
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
    use std::io::BufRead;
    // Port 0: the relay picks a free port and logs it, so no other test can race for it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"))
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let addr: std::net::SocketAddr = loop {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "the relay exited before listening"
        );
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.trim().parse().unwrap();
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
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
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut log, &mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "clean exit");
    assert!(rest.contains("shutting down"), "{rest}");
}

#[test]
fn binary_15_off_loopback_the_relay_serves_tls_and_prints_the_pinned_address() {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("cryptully-bin-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"))
            .args(["--listen", "0.0.0.0:0", "--tls-dir"])
            .arg(&dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let pinned = loop {
            line.clear();
            assert!(log.read_line(&mut line).unwrap() > 0, "the relay exited");
            if let Some(rest) = line.split("clients connect with ").nth(1) {
                break rest.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in log.lines() {});
        (child, pinned)
    };
    let (mut child, pinned) = start();
    // tls://HOST:PORT#sha256=…: connect to it on loopback.
    let pinned = pinned.replace("HOST", "127.0.0.1");
    let health = |addr: &str, dir: Option<&std::path::Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"));
        cmd.args(["health", addr]);
        if let Some(d) = dir {
            cmd.arg("--tls-dir").arg(d);
        }
        cmd.output().unwrap()
    };
    let ok = health(&pinned, None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Plain to a TLS relay: refused, and told why.
    let port = pinned
        .rsplit_once(':')
        .unwrap()
        .1
        .split('#')
        .next()
        .unwrap();
    let plain = health(&format!("127.0.0.1:{port}"), None);
    assert!(!plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stderr).contains("tls://"));
    // tls:// without a pin: pinned to the certificate kept in --tls-dir.
    let kept = health(&format!("tls://127.0.0.1:{port}"), Some(&dir));
    assert!(
        kept.status.success(),
        "{}",
        String::from_utf8_lossy(&kept.stderr)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Restarted, it keeps the same certificate: the pin still holds.
    let (mut child, again) = start();
    assert_eq!(
        again.split('#').nth(1),
        pinned.split('#').nth(1),
        "the same fingerprint after a restart"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
