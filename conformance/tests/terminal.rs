//! The terminal chat (`cryptully-peer --nick`), run as two people would: two processes, typing
//! commands and reading what each prints, through a real relay.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

struct Terminal {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Terminal {
    /// A person's terminal chat, keeping its identity and contacts in a data directory of
    /// this test's, named after the person and `test`.
    fn start(nick: &str, relay: std::net::SocketAddr) -> Self {
        Self::start_in(nick, relay, &home(nick, "chat"))
    }

    fn start_in(nick: &str, relay: std::net::SocketAddr, dir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cryptully-peer"))
            .args(["--nick", nick, "--relay", &relay.to_string(), "--data-dir"])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Terminal {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The first printed line containing `text`, waiting up to 20 s for it.
    fn expect(&mut self, text: &str) -> String {
        self.expect_any(&[text])
    }

    /// The first printed line containing one of `texts`.
    fn expect_any(&mut self, texts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if texts.iter().any(|t| line.contains(t)) => return line,
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("never printed any of {texts:?}; printed: {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh data directory for `nick` in the test `test`.
fn home(nick: &str, test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cryptully-terminal-{}-{test}-{nick}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn safety_code(line: &str) -> String {
    let at = line.find("Safety code ").unwrap() + "Safety code ".len();
    line[at..].split(':').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_chat_two_people_agree_on_the_code_chat_and_see_delivery() {
    let relay = cryptully_relay::spawn(
        "127.0.0.1:0".parse().unwrap(),
        cryptully_relay::Config::default(),
    )
    .await
    .unwrap();
    let addr = relay.local_addr();
    tokio::task::spawn_blocking(move || {
        let mut alice = Terminal::start("alice", addr);
        let mut bob = Terminal::start("bob", addr);
        alice.expect("registered as alice");
        bob.expect("registered as bob");

        alice.type_line("/open bob");
        bob.expect("alice wants to chat: /accept alice or /reject alice");
        bob.type_line("/accept alice");
        let a = safety_code(&alice.expect("secure chat with bob"));
        let b = safety_code(&bob.expect("secure chat with alice"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 7, "six digits in two groups: {a}");

        alice.type_line("hello bob");
        bob.expect("<alice> hello bob");
        bob.type_line("hi alice");
        alice.expect("<bob> hi alice");

        // A question (§8): each side reads its own role, and the asker sees it went out.
        alice.type_line("/ask Where did we meet? the lake");
        alice.expect("* you asked bob: \u{201c}Where did we meet?\u{201d} Waiting for the answer.");
        bob.expect("* alice asks: \u{201c}Where did we meet?\u{201d}");
        bob.type_line("/answer the lake");
        bob.expect("* checking your answer with alice...");
        // §12.5: answering proves nobody is in the middle, not who asked.
        bob.expect("* your answer is the one alice expected: nobody is in the middle.");
        alice.expect("* bob is verified: bob gave the answer you expected.");

        // Delivery is reported on request, once the friend's acknowledgement is in.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            alice.type_line("/status");
            let status = alice.expect("sent,");
            if status == "* 1 sent, 1 delivered, 0 not delivered" {
                break;
            }
            assert!(Instant::now() < deadline, "last status: {status}");
            std::thread::sleep(Duration::from_millis(50));
        }

        // Quitting ends the chat (END, §7.7) and then the connection (PEER_GONE, §3.9):
        // alice hears of whichever reaches her first.
        bob.type_line("/quit");
        alice.expect_any(&["* chat with bob ended", "* bob left"]);
    })
    .await
    .unwrap();
}

/// Issue 15: a friend (or a relay in the middle) sends text with a line break, a fake app line
/// and terminal escapes; the terminal shows it escaped on the friend's own line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_chat_shows_network_text_escaped_so_it_cannot_fake_a_line() {
    let relay = cryptully_relay::spawn(
        "127.0.0.1:0".parse().unwrap(),
        cryptully_relay::Config::default(),
    )
    .await
    .unwrap();
    let addr = relay.local_addr();
    tokio::task::spawn_blocking(move || {
        let mut alice = Terminal::start("alice", addr);
        alice.expect("registered as alice");
        // bob is the JSON-lines shim, which sends any text it is given.
        let mut bob = Command::new(env!("CARGO_BIN_EXE_cryptully-peer"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut bob_in = bob.stdin.take().unwrap();
        let mut bob_out = BufReader::new(bob.stdout.take().unwrap()).lines();
        let mut bob_expect = |event: &str| loop {
            let line = bob_out.next().unwrap().unwrap();
            if line.contains(&format!("\"event\":\"{event}\"")) {
                break;
            }
        };
        writeln!(
            bob_in,
            r#"{{"cmd":"connect","relay":"{addr}","nick":"bob"}}"#
        )
        .unwrap();
        bob_expect("registered");
        writeln!(bob_in, r#"{{"cmd":"open","peer":"alice"}}"#).unwrap();
        alice.expect("bob wants to chat");
        alice.type_line("/accept bob");
        alice.expect("secure chat with bob");
        bob_expect("established");
        let attack = "hi\n* bob is verified: you gave the same answer.\r\u{1b}[2K\u{202e}";
        let command = serde_json::json!({"cmd": "send", "peer": "alice", "id": 1, "text": attack});
        writeln!(bob_in, "{command}").unwrap();
        let line = alice.expect("<bob> hi");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(line.contains("\\u{a}* bob is verified"), "{line:?}");
        assert!(!line.contains('\u{202e}'), "{line:?}");
        let _ = bob.kill();
        let _ = bob.wait();
        assert!(
            !alice
                .seen
                .iter()
                .any(|l| l.starts_with("* bob is verified")),
            "{:#?}",
            alice.seen
        );
    })
    .await
    .unwrap();
}

/// Issue 14, §12.5: two people verify once (the code, /verified), quit, and start again with
/// the same data directories: the next chat is verified with nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_12_5_verified_once_is_verified_after_restarting() {
    let relay = cryptully_relay::spawn(
        "127.0.0.1:0".parse().unwrap(),
        cryptully_relay::Config::default(),
    )
    .await
    .unwrap();
    let addr = relay.local_addr();
    tokio::task::spawn_blocking(move || {
        let (alice_dir, bob_dir) = (home("alice", "restart"), home("bob", "restart"));
        let meet = |first: bool| {
            let mut alice = Terminal::start_in("alice", addr, &alice_dir);
            let mut bob = Terminal::start_in("bob", addr, &bob_dir);
            alice.expect("registered as alice");
            bob.expect("registered as bob");
            alice.type_line("/open bob");
            bob.expect("alice wants to chat");
            bob.type_line("/accept alice");
            alice.expect("secure chat with bob");
            if first {
                alice.expect("* first chat with bob: not verified yet");
                alice.type_line("/verified");
                alice.expect("* bob is verified");
            } else {
                alice.expect("* bob is verified: same identity as when you verified on");
            }
            alice.type_line("/quit");
            bob.type_line("/quit");
            let _ = (alice.child.wait(), bob.child.wait());
        };
        meet(true);
        meet(false);
        for dir in [alice_dir, bob_dir] {
            let _ = std::fs::remove_dir_all(dir);
        }
    })
    .await
    .unwrap();
}
