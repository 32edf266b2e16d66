//! Two clients chat end to end through a real relay over TCP (spec §3–§8), using the client
//! `Connection` that the desktop client and the conformance shim run on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::connection::{Command, ConnEvent, ConnectError, Handle, connect_with_rng};
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::session::{EndReason, Event};
use cryptully_protocol::{Nick, SmpOutcome, TypingState};
use cryptully_relay::{Config, RelayHandle, spawn};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

struct Client {
    handle: Handle,
    events: UnboundedReceiver<ConnEvent>,
}

impl Client {
    async fn connect(addr: SocketAddr, name: &str, seed: u64) -> Self {
        let (handle, events) = connect_with_rng(addr, nick(name), ChaCha20Rng::seed_from_u64(seed))
            .await
            .unwrap();
        Client { handle, events }
    }

    fn cmd(&self, c: Command) {
        assert!(self.handle.send(c));
    }

    /// The next event, leaving out what the contacts make of a chat (§12.5, tested in
    /// `tests/identity.rs`).
    async fn next(&mut self) -> ConnEvent {
        loop {
            let e = tokio::time::timeout(Duration::from_secs(20), self.events.recv())
                .await
                .expect("an event within 20 s")
                .expect("the connection is still running");
            if !matches!(e, ConnEvent::Contact { .. } | ConnEvent::ContactsChanged(_)) {
                return e;
            }
        }
    }

    /// The next event about `peer`'s chat.
    async fn peer_event(&mut self) -> Event {
        match self.next().await {
            ConnEvent::Peer { event, .. } => event,
            other => panic!("expected a chat event, got {other:?}"),
        }
    }
}

async fn relay() -> RelayHandle {
    spawn("127.0.0.1:0".parse().unwrap(), Config::default())
        .await
        .unwrap()
}

/// `opener` (registered as `opener_nick`) opens a chat with the nickname typed as `typed`;
/// `other` is asked.
async fn asks(opener: &mut Client, opener_nick: &str, other: &mut Client, typed: &str) {
    opener.cmd(Command::Open { peer: nick(typed) });
    assert_eq!(
        other.peer_event().await,
        Event::Request {
            peer: nick(opener_nick)
        }
    );
}

/// alice opens a chat with bob, bob accepts; returns both and the safety code each sees.
async fn chatting(addr: SocketAddr) -> (Client, Client, String, String) {
    chatting_across(addr, addr).await
}

/// [`chatting`] with alice on the relay at `a` and bob on the one at `b`.
async fn chatting_across(a: SocketAddr, b: SocketAddr) -> (Client, Client, String, String) {
    let mut alice = Client::connect(a, "Alice", 1).await;
    let mut bob = Client::connect(b, "bob", 2).await;
    assert_eq!(alice.handle.nick(), &nick("alice"));
    asks(&mut alice, "alice", &mut bob, "BOB").await;
    bob.cmd(Command::Accept {
        peer: nick("alice"),
    });
    let code = |e: Event| match e {
        Event::Established { safety_code, .. } => safety_code.to_string(),
        other => panic!("{other:?}"),
    };
    let a = code(alice.peer_event().await);
    let b = code(bob.peer_event().await);
    (alice, bob, a, b)
}

#[tokio::test]
async fn chat_end_to_end_handshake_messages_typing_receipts_and_end() {
    let r = relay().await;
    let (mut alice, mut bob, code_a, code_b) = chatting(r.local_addr()).await;
    assert_eq!(code_a, code_b, "both people read the same safety code");

    alice.cmd(Command::Typing {
        peer: nick("bob"),
        state: TypingState::Typing,
    });
    assert_eq!(bob.peer_event().await, Event::Typing(TypingState::Typing));

    alice.cmd(Command::Send {
        peer: nick("bob"),
        id: 7,
        text: "hello bob".into(),
    });
    let ConnEvent::Sent { id: 7, seq, .. } = alice.next().await else {
        panic!()
    };
    assert_eq!(
        bob.peer_event().await,
        Event::Message {
            seq,
            text: "hello bob".into()
        }
    );
    assert_eq!(alice.peer_event().await, Event::Delivered { seq });

    bob.cmd(Command::Send {
        peer: nick("alice"),
        id: 1,
        text: "hi ✓".into(),
    });
    let ConnEvent::Sent { seq: bseq, .. } = bob.next().await else {
        panic!()
    };
    assert_eq!(
        alice.peer_event().await,
        Event::Message {
            seq: bseq,
            text: "hi ✓".into()
        }
    );
    assert_eq!(bob.peer_event().await, Event::Delivered { seq: bseq });

    alice.cmd(Command::Close { peer: nick("bob") });
    assert_eq!(alice.peer_event().await, Event::Ended(EndReason::Closed));
    assert_eq!(bob.peer_event().await, Event::Ended(EndReason::PeerClosed));
}

async fn smp(alice: &mut Client, bob: &mut Client, asked: &str, answered: &str) -> (Event, Event) {
    alice.cmd(Command::StartSmp {
        peer: nick("bob"),
        question: "Where did we meet?".into(),
        answer: String::from(asked).into(),
    });
    assert_eq!(
        bob.peer_event().await,
        Event::SmpQuestion {
            question: "Where did we meet?".into()
        }
    );
    bob.cmd(Command::AnswerSmp {
        peer: nick("alice"),
        answer: String::from(answered).into(),
    });
    (alice.peer_event().await, bob.peer_event().await)
}

#[tokio::test]
async fn chat_smp_succeeds_with_the_same_answer_and_fails_with_another() {
    let r = relay().await;
    let (mut alice, mut bob, _, _) = chatting(r.local_addr()).await;
    let right = Event::SmpResult(SmpOutcome::Matched);
    assert_eq!(
        smp(&mut alice, &mut bob, "the lake", "the lake").await,
        (right.clone(), right)
    );
    let wrong = Event::SmpResult(SmpOutcome::Mismatched);
    assert_eq!(
        smp(&mut alice, &mut bob, "the lake", "the sea").await,
        (wrong.clone(), wrong)
    );
}

#[tokio::test]
async fn chat_14_alice_and_bob_on_two_cluster_nodes_chat_and_verify_end_to_end() {
    let nats = cryptully_relay::natsd::NatsServer::start().unwrap_or_else(|e| panic!("{e}"));
    let opts = cryptully_relay::cluster::ClusterOptions::new(nats.url());
    let any = "127.0.0.1:0".parse().unwrap();
    let a = cryptully_relay::spawn_cluster(any, Config::default(), &opts)
        .await
        .unwrap();
    let b = cryptully_relay::spawn_cluster(any, Config::default(), &opts)
        .await
        .unwrap();
    let (mut alice, mut bob, code_a, code_b) =
        chatting_across(a.local_addr(), b.local_addr()).await;
    assert_eq!(code_a, code_b, "the same safety code on both nodes");
    alice.cmd(Command::Send {
        peer: nick("bob"),
        id: 1,
        text: "across the cluster".into(),
    });
    let ConnEvent::Sent { id: 1, seq, .. } = alice.next().await else {
        panic!()
    };
    assert_eq!(
        bob.peer_event().await,
        Event::Message {
            seq,
            text: "across the cluster".into()
        }
    );
    assert_eq!(alice.peer_event().await, Event::Delivered { seq });
    let right = Event::SmpResult(SmpOutcome::Matched);
    assert_eq!(
        smp(&mut alice, &mut bob, "the lake", "the lake").await,
        (right.clone(), right)
    );
    // alice's program quits without closing the chat: her node tells bob's (§3.9 across nodes).
    alice.cmd(Command::Quit);
    let ended = bob.peer_event().await;
    assert!(
        matches!(
            ended,
            Event::Ended(EndReason::PeerGone | EndReason::PeerClosed)
        ),
        "{ended:?}"
    );
}

#[tokio::test]
async fn chat_10_2_an_honest_burst_is_paced_under_the_relays_limits_not_dropped() {
    // The relay's default limits (§10.2): 200 frames a second, a burst of 400.
    let r = relay().await;
    let (mut alice, mut bob, _, _) = chatting(r.local_addr()).await;
    const N: u64 = 1000;
    for id in 0..N {
        alice.cmd(Command::Send {
            peer: nick("bob"),
            id,
            text: format!("line {id}"),
        });
    }
    let mut got = Vec::new();
    while got.len() < N as usize {
        match bob.next().await {
            ConnEvent::Peer {
                event: Event::Message { text, .. },
                ..
            } => got.push(text),
            ConnEvent::Error { message, .. } => panic!("bob: {message}"),
            _ => {}
        }
    }
    let want: Vec<String> = (0..N).map(|id| format!("line {id}")).collect();
    assert_eq!(got, want, "every line, in order");
    let mut delivered = 0;
    while delivered < N {
        match alice.next().await {
            ConnEvent::Peer {
                event: Event::Delivered { .. },
                ..
            } => delivered += 1,
            ConnEvent::Error { message, .. } => panic!("alice: {message}"),
            _ => {}
        }
    }
}

/// Issue 15, item 9: what waits for the pace is bounded. A person who pastes far more than the
/// relay takes in a few seconds gets the excess refused at once, each message either sent (and
/// then delivered, in order) or reported not sent with the reason: none silently lost, and
/// memory does not grow without end.
#[tokio::test]
async fn chat_10_2_the_paced_queue_is_bounded_and_the_excess_is_reported() {
    use cryptully_protocol::connection::MAX_PACED_BYTES;
    // A relay queue that holds everything the client may send: a bob slowed by a busy machine
    // must not make the relay drop frames (SLOW_CONSUMER, §10.2), which is not what this checks.
    let r = spawn(
        "127.0.0.1:0".parse().unwrap(),
        Config {
            queue_bytes: 4 * MAX_PACED_BYTES,
            ..Config::default()
        },
    )
    .await
    .unwrap();
    let (mut alice, mut bob, _, _) = chatting(r.local_addr()).await;
    let text = "x".repeat(16 * 1024);
    // Three times what may wait, beyond the burst that goes at once.
    let n = (3 * MAX_PACED_BYTES / text.len()) as u64;
    for id in 0..n {
        alice.cmd(Command::Send {
            peer: nick("bob"),
            id,
            text: format!("{id:06}{}", &text[6..]),
        });
    }
    let (mut sent, mut refused) = (Vec::new(), 0u64);
    while (sent.len() as u64) + refused < n {
        match alice.next().await {
            ConnEvent::Sent { id, .. } => sent.push(id),
            ConnEvent::NotSent { reason, .. } => {
                assert!(reason.contains("waiting to go out"), "{reason}");
                refused += 1;
            }
            _ => {}
        }
    }
    assert!(refused > 0, "the excess is refused, not queued without end");
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let e = tokio::time::timeout(Duration::from_secs(20), bob.events.recv()).await;
        match e {
            Ok(Some(ConnEvent::Peer {
                event: Event::Message { text, .. },
                ..
            })) => got.push(text.get(..6).unwrap_or_default().parse::<u64>().unwrap()),
            Ok(Some(_)) => {}
            other => panic!(
                "bob got {} of {} sent ({refused} refused), then {other:?}",
                got.len(),
                sent.len()
            ),
        }
    }
    assert_eq!(got, sent, "what was sent arrives, in order");
}

#[tokio::test]
async fn chat_10_2_quitting_right_after_a_burst_still_delivers_it() {
    let r = relay().await;
    let (alice, mut bob, _, _) = chatting(r.local_addr()).await;
    const N: u64 = 600;
    for id in 0..N {
        alice.cmd(Command::Send {
            peer: nick("bob"),
            id,
            text: format!("line {id}"),
        });
    }
    alice.cmd(Command::Quit);
    let mut got = 0;
    loop {
        match bob.peer_event().await {
            Event::Message { .. } => got += 1,
            Event::Ended(_) => break,
            _ => {}
        }
    }
    assert_eq!(got, N, "every line before the chat ended");
}

/// bob rejects alice's request (busy or not); alice sees the reason (§4.3).
async fn rejected(busy: bool) -> Event {
    let r = relay().await;
    let mut alice = Client::connect(r.local_addr(), "alice", 3).await;
    let mut bob = Client::connect(r.local_addr(), "bob", 4).await;
    asks(&mut alice, "alice", &mut bob, "bob").await;
    bob.cmd(Command::Reject {
        peer: nick("alice"),
        busy,
    });
    alice.peer_event().await
}

#[tokio::test]
async fn chat_reject_is_reported_to_the_initiator() {
    assert_eq!(
        rejected(false).await,
        Event::Rejected(cryptully_protocol::RejectReason::Declined)
    );
}

#[tokio::test]
async fn chat_4_3_a_busy_client_s_reject_reaches_the_initiator_as_busy() {
    assert_eq!(
        rejected(true).await,
        Event::Rejected(cryptully_protocol::RejectReason::Busy)
    );
}

#[tokio::test]
async fn chat_3_9_peer_gone_reports_undelivered_messages() {
    let r = relay().await;
    let addr = r.local_addr();
    let mut alice = Client::connect(addr, "alice", 10).await;
    // bob runs on a runtime of his own, which is then dropped: his process "crashes" and his
    // client sends neither END nor BYE.
    let (runtime, handle, events) = tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (h, e) = rt
            .block_on(connect_with_rng(
                addr,
                nick("bob"),
                ChaCha20Rng::seed_from_u64(11),
            ))
            .unwrap();
        (rt, h, e)
    })
    .await
    .unwrap();
    let mut bob = Client { handle, events };
    asks(&mut alice, "alice", &mut bob, "bob").await;
    bob.cmd(Command::Accept {
        peer: nick("alice"),
    });
    assert!(matches!(
        alice.peer_event().await,
        Event::Established { .. }
    ));
    tokio::task::spawn_blocking(move || drop(runtime))
        .await
        .unwrap();

    alice.cmd(Command::Send {
        peer: nick("bob"),
        id: 9,
        text: "are you there?".into(),
    });
    let mut sent = None;
    let mut undelivered = None;
    loop {
        match alice.next().await {
            ConnEvent::Sent { id: 9, seq, .. } => sent = Some(seq),
            ConnEvent::NotSent { id: 9, .. } => {}
            ConnEvent::Error { .. } => {}
            ConnEvent::Peer {
                event: Event::Undelivered { seqs },
                ..
            } => undelivered = Some(seqs),
            ConnEvent::Peer {
                event: Event::Ended(EndReason::PeerGone | EndReason::NotConnected),
                ..
            } => break,
            other => panic!("{other:?}"),
        }
    }
    // Either the message left before the relay noticed bob was gone, and is reported
    // undelivered, or it could not be sent at all and was reported so: never silently lost.
    match sent {
        Some(seq) => assert_eq!(undelivered, Some(vec![seq])),
        None => assert_eq!(undelivered, None),
    }
}

#[tokio::test]
async fn chat_open_to_nobody_says_so() {
    let r = relay().await;
    let mut alice = Client::connect(r.local_addr(), "alice", 5).await;
    alice.cmd(Command::Open {
        peer: nick("nobody"),
    });
    // Issue 15, item 8: one event that says it, not the relay's error code and then a false
    // "left".
    assert_eq!(
        alice.next().await,
        ConnEvent::Peer {
            peer: nick("nobody"),
            event: Event::Ended(EndReason::NotConnected),
        }
    );
}

/// Issue 10 / §4.2: opening a chat with oneself is refused in words, before anything is sent.
#[tokio::test]
async fn chat_4_2_a_chat_with_oneself_is_refused_in_plain_words() {
    let r = relay().await;
    let mut alice = Client::connect(r.local_addr(), "alice", 9).await;
    alice.cmd(Command::Open {
        peer: nick("Alice"),
    });
    match alice.next().await {
        ConnEvent::Error {
            peer: Some(p),
            message,
        } => {
            assert_eq!(p, nick("alice"));
            assert_eq!(
                message,
                "you cannot chat with yourself: type your friend's nickname"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn chat_connect_errors_are_typed() {
    let r = relay().await;
    let _alice = Client::connect(r.local_addr(), "alice", 6).await;
    let taken =
        connect_with_rng(r.local_addr(), nick("ALICE"), ChaCha20Rng::seed_from_u64(7)).await;
    assert!(matches!(
        taken,
        Err(ConnectError::Refused(ErrorCode::NickInUse))
    ));
    let addr = r.local_addr();
    r.shutdown().await.unwrap();
    let down = connect_with_rng(addr, nick("x"), ChaCha20Rng::seed_from_u64(8)).await;
    assert!(
        matches!(down, Err(ConnectError::Unreachable(_))),
        "{down:?}"
    );
}

#[tokio::test]
async fn chat_an_address_that_is_not_a_relay_says_so_in_plain_words() {
    // A web server: its answer, read as a length prefix, is no frame (§2.1).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let err = connect_with_rng(addr, nick("x"), ChaCha20Rng::seed_from_u64(9))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::NotARelay), "{err:?}");
    assert_eq!(err.to_string(), "that address is not a Cryptully relay");
    // And where nothing listens: plain words, not "(os error 111)".
    drop(err);
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed = free.local_addr().unwrap();
    drop(free);
    let err = connect_with_rng(closed, nick("x"), ChaCha20Rng::seed_from_u64(10))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::Unreachable(_)), "{err:?}");
    assert!(!err.to_string().contains("os error"), "{err}");
}

#[tokio::test]
async fn chat_relay_shutdown_disconnects_and_ends_chats() {
    let r = relay().await;
    let (mut alice, _bob, _, _) = chatting(r.local_addr()).await;
    alice.cmd(Command::Send {
        peer: nick("bob"),
        id: 1,
        text: "x".into(),
    });
    r.shutdown().await.unwrap();
    loop {
        match alice.next().await {
            ConnEvent::Disconnected { reason } => {
                assert!(reason.contains("shutting down"), "{reason}");
                break;
            }
            ConnEvent::Peer { .. } | ConnEvent::Sent { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn chat_three_people_two_concurrent_chats() {
    let r = relay().await;
    let (mut alice, bob, _, _) = chatting(r.local_addr()).await;
    let mut carol = Client::connect(r.local_addr(), "carol", 9).await;
    asks(&mut carol, "carol", &mut alice, "alice").await;
    alice.cmd(Command::Accept {
        peer: nick("carol"),
    });
    assert!(matches!(
        carol.peer_event().await,
        Event::Established { .. }
    ));
    assert!(matches!(
        alice.peer_event().await,
        Event::Established { .. }
    ));
    carol.cmd(Command::Send {
        peer: nick("alice"),
        id: 1,
        text: "from carol".into(),
    });
    bob.cmd(Command::Send {
        peer: nick("alice"),
        id: 1,
        text: "from bob".into(),
    });
    let mut got = Vec::new();
    while got.len() < 2 {
        if let ConnEvent::Peer {
            peer,
            event: Event::Message { text, .. },
        } = alice.next().await
        {
            got.push((peer.to_string(), text));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            ("bob".into(), "from bob".into()),
            ("carol".into(), "from carol".into())
        ]
    );
}

/// A TCP proxy in front of the relay that holds everything the relay sends to the client for
/// `delay`: a network where both people's requests cross.
async fn delaying_proxy(relay: SocketAddr, delay: Duration) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::TcpStream::connect(relay).await.unwrap();
            let (mut client_r, mut client_w) = client.into_split();
            let (mut up_r, mut up_w) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_r, &mut up_w).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match up_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    tokio::time::sleep(delay).await;
                    if client_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// Issue 10 / §4.5: both people open the chat within one network delay. Each HELO crosses the
/// other; the chat still opens once, with the same safety code, and nobody is asked.
#[tokio::test]
async fn chat_4_5_both_opening_at_once_gives_one_chat() {
    let r = relay().await;
    let delay = Duration::from_millis(400);
    let mut alice = Client::connect(delaying_proxy(r.local_addr(), delay).await, "alice", 40).await;
    let mut bob = Client::connect(delaying_proxy(r.local_addr(), delay).await, "bob", 41).await;
    alice.cmd(Command::Open { peer: nick("bob") });
    bob.cmd(Command::Open {
        peer: nick("alice"),
    });
    let code = |e: Event| match e {
        Event::Established { safety_code, .. } => safety_code,
        other => panic!("expected the chat to open, got {other:?}"),
    };
    let (a, b) = (code(alice.peer_event().await), code(bob.peer_event().await));
    assert_eq!(a, b);
    // And it works: a message each way.
    alice.cmd(Command::Send {
        peer: nick("bob"),
        id: 1,
        text: "hi".into(),
    });
    loop {
        if let Event::Message { text, .. } = bob.peer_event().await {
            assert_eq!(text, "hi");
            break;
        }
    }
}

/// Issue 13, item 7: a server that accepts and says nothing does not hang `connect`.
#[tokio::test]
async fn chat_connect_to_a_silent_server_times_out() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (_socket, _) = silent.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let result = cryptully_protocol::connection::connect_within(
        addr,
        nick("alice"),
        ChaCha20Rng::seed_from_u64(50),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(result, Err(ConnectError::TimedOut)), "{result:?}");
}

/// Issue 13, item 7: a relay that registers the client and then stops answering is noticed
/// when a PING gets no PONG in time, not when TCP gives up.
#[tokio::test(start_paused = true)]
async fn chat_a_relay_that_stops_answering_pings_is_noticed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mute = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = mute.local_addr().unwrap();
    let _relay = tokio::spawn(async move {
        let (mut socket, _) = mute.accept().await.unwrap();
        // REGISTERED alice (§3.4), then silence: everything read is ignored.
        let mut body = vec![0x81, 5];
        body.extend_from_slice(b"alice");
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        socket.write_all(&frame).await.unwrap();
        let mut sink = [0u8; 1024];
        while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let (_handle, mut events) =
        connect_with_rng(addr, nick("alice"), ChaCha20Rng::seed_from_u64(51))
            .await
            .unwrap();
    let started = tokio::time::Instant::now();
    loop {
        match events.recv().await {
            Some(ConnEvent::Disconnected { reason }) => {
                assert_eq!(reason, "the relay stopped answering");
                break;
            }
            Some(_) => {}
            None => panic!("the connection ended without saying why"),
        }
    }
    let waited = started.elapsed();
    let limit = cryptully_protocol::connection::PING_INTERVAL
        + cryptully_protocol::connection::PONG_TIMEOUT;
    assert!(waited <= limit + Duration::from_secs(2), "{waited:?}");
}

/// §3.8: a client that quits has its nickname back at once. It sends BYE and waits for the
/// relay to close the connection, which the relay does once it has let the nickname go, so
/// when `Disconnected` comes the same person can register again without a "nickname in use"
/// (an app restarted at once used to meet one now and then: issue 14's review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_3_8_after_quitting_the_nickname_is_free_at_once() {
    let r = relay().await;
    for round in 0..200 {
        let mut c = match connect_with_rng(
            r.local_addr(),
            nick("alice"),
            ChaCha20Rng::seed_from_u64(round),
        )
        .await
        {
            Ok((handle, events)) => Client { handle, events },
            Err(e) => panic!("round {round}: registering after Disconnected: {e:?}"),
        };
        c.cmd(Command::Quit);
        while !matches!(c.next().await, ConnEvent::Disconnected { .. }) {}
    }
}
