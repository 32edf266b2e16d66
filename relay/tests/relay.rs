//! The relay over real TCP on 127.0.0.1 (spec §3, §9.1, §10.2), speaking raw frames.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::MAX_FRAME;
use cryptully_protocol::net::{FrameReader, NetError, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_relay::{Config, RelayHandle, spawn};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

async fn relay(config: Config) -> RelayHandle {
    spawn("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

/// A client that speaks raw frames.
struct Raw {
    r: FrameReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn connect(addr: SocketAddr) -> Self {
        Self::over(TcpStream::connect(addr).await.unwrap())
    }

    fn over(stream: TcpStream) -> Self {
        let (r, w) = stream.into_split();
        Raw {
            r: FrameReader::new(r, MAX_FRAME),
            w,
        }
    }

    async fn registered(addr: SocketAddr, name: &str) -> Self {
        Self::connect(addr).await.register(name).await
    }

    /// Registered with a 4 KiB receive buffer, so that what it does not read soon backs up in
    /// the relay.
    async fn registered_reading_slowly(addr: SocketAddr, name: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        Self::over(socket.connect(addr).await.unwrap())
            .register(name)
            .await
    }

    /// Sends 16 KiB frames to `dest`, one at a time, until the relay answers something (a full
    /// queue: SLOW_CONSUMER); returns that answer.
    async fn fill_queue_of(&mut self, dest: &str) -> RelayMessage {
        let payload = vec![0xab; 16 * 1024];
        for _ in 0..10_000 {
            self.send(ClientMessage::Relay {
                destination: nick(dest),
                payload: payload.clone(),
            })
            .await;
            if let Ok(f) =
                tokio::time::timeout(Duration::from_millis(20), self.r.next_frame()).await
            {
                return RelayMessage::decode(&f.unwrap().unwrap()).unwrap();
            }
        }
        panic!("{dest}'s queue never filled");
    }

    /// HELLO, REGISTER, and REGISTERED back.
    async fn register(mut self, name: &str) -> Self {
        self.send(ClientMessage::Hello { version: 2 }).await;
        self.send(ClientMessage::Register { nick: nick(name) })
            .await;
        assert_eq!(
            self.recv().await,
            RelayMessage::Registered {
                nick: nick(name).canonical()
            }
        );
        self
    }

    async fn send(&mut self, m: ClientMessage) {
        write_frame(&mut self.w, &m.to_bytes()).await.unwrap();
    }

    async fn relay(&mut self, to: &str, payload: &[u8]) {
        self.send(ClientMessage::Relay {
            destination: nick(to),
            payload: payload.to_vec(),
        })
        .await;
    }

    async fn recv(&mut self) -> RelayMessage {
        let frame = tokio::time::timeout(Duration::from_secs(30), self.r.next_frame())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .expect("a frame, not the end of the stream");
        RelayMessage::decode(&frame).unwrap()
    }

    /// The next frame, then the end of the stream.
    async fn recv_then_closed(&mut self) -> RelayMessage {
        let m = self.recv().await;
        self.closed().await;
        m
    }

    async fn closed(&mut self) {
        let end = tokio::time::timeout(Duration::from_secs(30), self.r.next_frame())
            .await
            .unwrap();
        assert!(
            matches!(end, Ok(None) | Err(_)),
            "expected the relay to close, got {end:?}"
        );
    }
}

/// No rate limits, and this much queued per connection.
fn unlimited_rate(queue_bytes: usize) -> Config {
    Config {
        queue_bytes,
        rate_messages: 1e9,
        rate_messages_burst: 1e9,
        rate_bytes: 1e12,
        rate_bytes_burst: 1e12,
        ..Config::default()
    }
}

fn error(code: ErrorCode, nick_name: Option<&str>) -> RelayMessage {
    RelayMessage::Error {
        code,
        nick: nick_name.map(nick),
    }
}

#[tokio::test]
async fn relay_3_5_deliver_carries_the_registered_source() {
    let r = relay(Config::default()).await;
    let mut alice = Raw::registered(r.local_addr(), "Alice").await;
    let mut bob = Raw::registered(r.local_addr(), "bob").await;
    alice.relay("BOB", b"\x10hello").await;
    assert_eq!(
        bob.recv().await,
        RelayMessage::Deliver {
            source: nick("alice"),
            payload: b"\x10hello".to_vec()
        }
    );
    bob.relay("alice", b"back").await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::Deliver {
            source: nick("bob"),
            payload: b"back".to_vec()
        }
    );
}

#[tokio::test]
async fn relay_3_5_spoofing_is_impossible_source_is_always_the_sender() {
    let r = relay(Config::default()).await;
    let mut mallory = Raw::registered(r.local_addr(), "mallory").await;
    let mut bob = Raw::registered(r.local_addr(), "bob").await;
    // A client has no field to name a source; a DELIVER sent by a client is not a client message.
    let forged = RelayMessage::Deliver {
        source: nick("alice"),
        payload: b"x".to_vec(),
    };
    mallory.relay("bob", &forged.to_bytes()).await;
    let got = bob.recv().await;
    assert_eq!(
        got,
        RelayMessage::Deliver {
            source: nick("mallory"),
            payload: forged.to_bytes()
        }
    );
    write_frame(&mut mallory.w, &forged.to_bytes())
        .await
        .unwrap();
    assert_eq!(
        mallory.recv_then_closed().await,
        error(ErrorCode::Malformed, None)
    );
}

#[tokio::test]
async fn relay_3_4_nick_in_use_is_case_insensitive_and_the_connection_stays() {
    let r = relay(Config::default()).await;
    let _alice = Raw::registered(r.local_addr(), "alice").await;
    let mut other = Raw::connect(r.local_addr()).await;
    other.send(ClientMessage::Hello { version: 2 }).await;
    other
        .send(ClientMessage::Register {
            nick: nick("ALICE"),
        })
        .await;
    assert_eq!(
        other.recv().await,
        error(ErrorCode::NickInUse, Some("alice"))
    );
    other
        .send(ClientMessage::Register {
            nick: nick("alice2"),
        })
        .await;
    assert_eq!(
        other.recv().await,
        RelayMessage::Registered {
            nick: nick("alice2")
        }
    );
}

#[tokio::test]
async fn relay_3_4_invalid_nick_gets_invalid_nick_and_may_retry() {
    let r = relay(Config::default()).await;
    let mut c = Raw::connect(r.local_addr()).await;
    c.send(ClientMessage::Hello { version: 2 }).await;
    write_frame(&mut c.w, &[0x02, 3, b'a', b' ', b'b'])
        .await
        .unwrap();
    assert_eq!(c.recv().await, error(ErrorCode::InvalidNick, None));
    c.send(ClientMessage::Register { nick: nick("a_b") }).await;
    assert_eq!(
        c.recv().await,
        RelayMessage::Registered { nick: nick("a_b") }
    );
}

#[tokio::test]
async fn relay_3_3_version_mismatch_is_refused_and_closed() {
    let r = relay(Config::default()).await;
    let mut c = Raw::connect(r.local_addr()).await;
    c.send(ClientMessage::Hello { version: 1 }).await;
    assert_eq!(
        c.recv_then_closed().await,
        error(ErrorCode::UnsupportedVersion, None)
    );
}

#[tokio::test]
async fn relay_3_10_relay_before_register_is_unexpected() {
    let r = relay(Config::default()).await;
    let mut c = Raw::connect(r.local_addr()).await;
    c.send(ClientMessage::Hello { version: 2 }).await;
    c.relay("bob", b"x").await;
    assert_eq!(
        c.recv_then_closed().await,
        error(ErrorCode::UnexpectedMessage, None)
    );
    let mut d = Raw::connect(r.local_addr()).await;
    d.send(ClientMessage::Register { nick: nick("d") }).await;
    assert_eq!(
        d.recv_then_closed().await,
        error(ErrorCode::UnexpectedMessage, None)
    );
}

#[tokio::test]
async fn relay_3_5_unknown_destination_is_named_in_nick_not_found() {
    let r = relay(Config::default()).await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    alice.relay("Nobody", b"x").await;
    assert_eq!(
        alice.recv().await,
        error(ErrorCode::NickNotFound, Some("nobody"))
    );
    write_frame(&mut alice.w, &[0x03, 2, b'!', b'!', 0x10])
        .await
        .unwrap();
    assert_eq!(alice.recv().await, error(ErrorCode::InvalidNick, None));
    alice.send(ClientMessage::Ping { token: 5 }).await;
    assert_eq!(alice.recv().await, RelayMessage::Pong { token: 5 });
}

#[tokio::test]
async fn relay_3_9_peer_gone_reaches_those_who_chatted() {
    let r = relay(Config::default()).await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    let mut bob = Raw::registered(r.local_addr(), "bob").await;
    let mut carol = Raw::registered(r.local_addr(), "carol").await;
    alice.relay("bob", b"hi").await;
    let _ = bob.recv().await;
    bob.send(ClientMessage::Bye).await;
    bob.closed().await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::PeerGone { nick: nick("bob") }
    );
    // carol never chatted with bob: she hears nothing, and the nickname is free again.
    carol.send(ClientMessage::Ping { token: 1 }).await;
    assert_eq!(carol.recv().await, RelayMessage::Pong { token: 1 });
    let _bob_again = Raw::registered(r.local_addr(), "bob").await;
}

#[tokio::test]
async fn relay_3_7_ping_is_answered_with_its_token() {
    let r = relay(Config::default()).await;
    let mut c = Raw::connect(r.local_addr()).await;
    c.send(ClientMessage::Hello { version: 2 }).await;
    c.send(ClientMessage::Ping { token: u64::MAX }).await;
    assert_eq!(c.recv().await, RelayMessage::Pong { token: u64::MAX });
}

#[tokio::test]
async fn relay_2_2_malformed_and_oversize_frames_close_only_their_connection() {
    let r = relay(Config::default()).await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    let mut bob = Raw::registered(r.local_addr(), "bob").await;

    let mut bad = Raw::registered(r.local_addr(), "bad").await;
    write_frame(&mut bad.w, &[0x77, 1, 2, 3]).await.unwrap();
    assert_eq!(
        bad.recv_then_closed().await,
        error(ErrorCode::Malformed, None)
    );

    let mut huge = Raw::registered(r.local_addr(), "huge").await;
    huge.w.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.unwrap();
    assert_eq!(
        huge.recv_then_closed().await,
        error(ErrorCode::FrameTooLarge, None)
    );

    let mut empty = Raw::registered(r.local_addr(), "empty").await;
    empty.w.write_all(&[0, 0, 0, 0]).await.unwrap();
    assert_eq!(
        empty.recv_then_closed().await,
        error(ErrorCode::Malformed, None)
    );

    alice.relay("bob", b"still here").await;
    assert_eq!(
        bob.recv().await,
        RelayMessage::Deliver {
            source: nick("alice"),
            payload: b"still here".to_vec()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn relay_10_2_connections_that_never_register_time_out() {
    let r = relay(Config::default()).await;
    let mut c = Raw::connect(r.local_addr()).await;
    c.send(ClientMessage::Hello { version: 2 }).await;
    let start = tokio::time::Instant::now();
    assert_eq!(c.recv_then_closed().await, error(ErrorCode::Timeout, None));
    assert!(start.elapsed() >= Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn relay_10_2_idle_registered_connections_time_out_and_ping_keeps_them() {
    let config = Config {
        idle_timeout: Duration::from_secs(30),
        ..Config::default()
    };
    let r = relay(config).await;
    let mut idle = Raw::registered(r.local_addr(), "idle").await;
    let mut busy = Raw::registered(r.local_addr(), "busy").await;
    for token in 0..4 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        busy.send(ClientMessage::Ping { token }).await;
        assert_eq!(busy.recv().await, RelayMessage::Pong { token });
    }
    assert_eq!(
        idle.recv_then_closed().await,
        error(ErrorCode::Timeout, None)
    );
}

/// Issue 13, item 3: a client that stops in the middle of a frame used to stay forever (the
/// read-buffer timer kept pushing the idle deadline). Now the frame timeout closes it, and a
/// client that sends whole frames slowly, byte by byte, is not mistaken for one.
#[tokio::test(start_paused = true)]
async fn relay_10_2_a_client_stalled_mid_frame_times_out() {
    use tokio::io::AsyncWriteExt;
    let config = Config {
        idle_timeout: Duration::from_secs(120),
        frame_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let r = relay(config).await;
    let mut stalled = Raw::registered(r.local_addr(), "stalled").await;
    // The prefix of a 100-byte frame and 10 of its bytes, then nothing.
    let mut half = 100u32.to_be_bytes().to_vec();
    half.extend_from_slice(&[0x03; 10]);
    stalled.w.write_all(&half).await.unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(
        stalled.recv_then_closed().await,
        error(ErrorCode::Timeout, None)
    );
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited <= Duration::from_secs(12),
        "{waited:?}"
    );
}

#[tokio::test]
async fn relay_10_2_a_flooding_client_is_throttled_and_told() {
    let config = Config {
        rate_messages: 0.01,
        rate_messages_burst: 20.0,
        ..Config::default()
    };
    let r = relay(config).await;
    let mut flood = Raw::registered(r.local_addr(), "flood").await;
    let mut bob = Raw::registered(r.local_addr(), "bob").await;
    // HELLO and REGISTER spent 2 of the 20 tokens; at 0.01 per second nothing refills.
    for i in 0..100u8 {
        flood.relay("bob", &[i]).await;
    }
    flood.send(ClientMessage::Bye).await;
    let mut limited = 0;
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(60), flood.r.next_frame())
        .await
        .unwrap()
    {
        assert_eq!(
            RelayMessage::decode(&f).unwrap(),
            error(ErrorCode::RateLimited, None)
        );
        limited += 1;
    }
    let mut delivered = 0;
    while let Ok(Some(f)) = tokio::time::timeout(Duration::from_secs(60), bob.r.next_frame())
        .await
        .unwrap()
    {
        match RelayMessage::decode(&f).unwrap() {
            RelayMessage::Deliver { .. } => delivered += 1,
            RelayMessage::PeerGone { .. } => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(delivered, 18);
    assert_eq!(
        limited + delivered,
        100,
        "every frame is delivered or reported"
    );
}

#[tokio::test]
async fn relay_10_2_a_slow_consumer_is_dropped_and_the_sender_told() {
    let r = relay(Config {
        stall_timeout: Duration::from_millis(500),
        ..unlimited_rate(64 * 1024)
    })
    .await;
    // bob registers with a tiny receive buffer and then never reads.
    let mut bob = Raw::registered_reading_slowly(r.local_addr(), "bob").await;

    let alice = Raw::registered(r.local_addr(), "alice").await;
    let mut carol = Raw::registered(r.local_addr(), "carol").await;
    let (mut ar, mut aw) = (alice.r, alice.w);
    let sender = tokio::spawn(async move {
        let payload = vec![0xab; 16 * 1024];
        let msg = ClientMessage::Relay {
            destination: nick("bob"),
            payload,
        }
        .to_bytes();
        for _ in 0..20_000 {
            if write_frame(&mut aw, &msg).await.is_err() {
                break;
            }
        }
        aw
    });
    // alice is told of each dropped frame, and then that bob is gone: he took no byte for the
    // stall timeout.
    let told = tokio::time::timeout(Duration::from_secs(60), async {
        // In either order: bob's own task may announce his departure first.
        let (mut dropped, mut gone) = (0, false);
        while dropped == 0 || !gone {
            let f = ar.next_frame().await.unwrap().unwrap();
            match RelayMessage::decode(&f).unwrap() {
                m if m == error(ErrorCode::SlowConsumer, Some("bob")) => dropped += 1,
                // Gone: announced, or, when alice's own queue is full of errors, learnt from
                // her next frame to him.
                RelayMessage::PeerGone { nick: n } if n == nick("bob") => gone = true,
                m if m == error(ErrorCode::NickNotFound, Some("bob")) => gone = true,
                _ => {}
            }
        }
        dropped
    })
    .await;
    assert!(
        told.as_ref().is_ok_and(|&dropped| dropped > 0),
        "alice is told that bob could not keep up, then that he is gone: {told:?}"
    );
    sender.abort();
    // Issue 13, item 4: what bob finally reads is whole frames, the SLOW_CONSUMER (if it got
    // out) at a frame boundary and last; never an ERROR spliced into a half-sent frame.
    let mut frames = 0;
    let mut told_bob = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), bob.r.next_frame()).await {
            Ok(Ok(Some(f))) => {
                assert!(!told_bob, "a frame after SLOW_CONSUMER");
                match RelayMessage::decode(&f) {
                    Ok(RelayMessage::Deliver { payload, .. }) => {
                        assert!(payload.iter().all(|&b| b == 0xab), "a spliced frame");
                        frames += 1;
                    }
                    Ok(m) if m == error(ErrorCode::SlowConsumer, None) => told_bob = true,
                    other => panic!("bob read {other:?} after {frames} frames"),
                }
            }
            Ok(Ok(None) | Err(NetError::Truncated)) => break,
            other => panic!("bob's stream broke after {frames} frames: {other:?}"),
        }
    }
    // bob reads within the relay's grace, so the SLOW_CONSUMER reaches him whole.
    assert!(
        told_bob,
        "bob never read his SLOW_CONSUMER ({frames} frames)"
    );
    // Others keep chatting.
    carol.send(ClientMessage::Ping { token: 9 }).await;
    assert_eq!(carol.recv().await, RelayMessage::Pong { token: 9 });
    // bob's nickname was released: his connection is gone.
    let _bob_again = Raw::registered(r.local_addr(), "bob").await;
}

/// §10.2: the stall timeout runs on the relay's own clock. A sender that filled a reader's queue
/// and then went quiet must not keep a connection that reads nothing registered forever: the
/// reader is dropped once its socket has taken nothing for the stall timeout, with nobody
/// sending to it any more.
#[tokio::test]
async fn relay_10_2_a_slow_consumer_is_dropped_when_its_senders_fall_silent() {
    let r = relay(Config {
        stall_timeout: Duration::from_millis(500),
        ..unlimited_rate(64 * 1024)
    })
    .await;
    let _bob = Raw::registered_reading_slowly(r.local_addr(), "bob").await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    // alice sends, one frame at a time, until the relay says bob's queue is full; then she
    // sends nothing more.
    let told = alice.fill_queue_of("bob").await;
    assert_eq!(told, error(ErrorCode::SlowConsumer, Some("bob")));
    // Her next news is that bob is gone, well within ten stall timeouts.
    let gone = tokio::time::timeout(Duration::from_secs(5), alice.recv()).await;
    assert_eq!(
        gone.ok(),
        Some(RelayMessage::PeerGone { nick: nick("bob") }),
        "bob read nothing and nobody sent to him: he is dropped by the stall timeout alone"
    );
    let _bob_again = Raw::registered(r.local_addr(), "bob").await;
}

/// §10.2: a stall timeout of "never" (the command line's `inf`) keeps a stalled reader; when it
/// reads again, what was queued for it arrives. (The deadline once overflowed the clock and
/// killed the connection's writer.)
#[tokio::test]
async fn relay_10_2_a_stall_timeout_of_never_keeps_the_reader_and_its_queue() {
    let r = relay(Config {
        stall_timeout: Duration::MAX,
        ..unlimited_rate(64 * 1024)
    })
    .await;
    let mut bob = Raw::registered_reading_slowly(r.local_addr(), "bob").await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    let _told = alice.fill_queue_of("bob").await;
    // Well past any stall check, bob reads again: his queue drains, and a new frame reaches him.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reader = tokio::spawn(async move {
        loop {
            match bob.r.next_frame().await {
                Ok(Some(f)) => {
                    if let Ok(RelayMessage::Deliver { payload, .. }) = RelayMessage::decode(&f) {
                        if payload == b"last" {
                            return true;
                        }
                    }
                }
                _ => return false,
            }
        }
    });
    let got_last = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            alice
                .send(ClientMessage::Relay {
                    destination: nick("bob"),
                    payload: b"last".to_vec(),
                })
                .await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            if reader.is_finished() {
                return reader.await.unwrap_or(false);
            }
        }
    })
    .await;
    assert_eq!(
        got_last.ok(),
        Some(true),
        "bob's writer lives on: he gets new frames"
    );
}

/// Issue 13, item 2: eight senders, each within its own rate limit, fill one reader's queue. The
/// reader keeps reading, slowly: frames beyond its queue are dropped and their senders told
/// SLOW_CONSUMER naming it, but the reader is never dropped (it used to be, nickname and all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_10_2_senders_together_cannot_knock_off_a_reader_that_reads() {
    // The stall timeout is well above the gaps kernel socket buffers put between a reader's
    // reads and the relay's writes (up to a second or so on loopback).
    let r = relay(Config {
        stall_timeout: Duration::from_secs(5),
        ..unlimited_rate(256 * 1024)
    })
    .await;
    let mut reader = Raw::registered_reading_slowly(r.local_addr(), "reader").await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut writers, mut drains) = (Vec::new(), Vec::new());
    for i in 0..8 {
        let sender = Raw::registered(r.local_addr(), &format!("tx{i}")).await;
        let (mut sr, mut sw) = (sender.r, sender.w);
        drains.push(tokio::spawn(async move {
            let mut told = 0u32;
            while let Ok(Some(f)) = sr.next_frame().await {
                if RelayMessage::decode(&f) == Ok(error(ErrorCode::SlowConsumer, Some("reader"))) {
                    told += 1;
                }
            }
            told
        }));
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let msg = ClientMessage::Relay {
                destination: nick("reader"),
                payload: vec![0xcd; 8 * 1024],
            }
            .to_bytes();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if write_frame(&mut sw, &msg).await.is_err() {
                    break;
                }
            }
        }));
    }
    // The reader reads for 3 s, a little at a time: slower than the senders, never stalled.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut frames = 0u32;
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(500), reader.r.next_frame()).await {
            Ok(Ok(Some(_))) => frames += 1,
            Ok(other) => panic!("the reader was cut off after {frames} frames: {other:?}"),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Still reading: the reader is registered and answers its PING once its queue drains.
    reader.send(ClientMessage::Ping { token: 7 }).await;
    loop {
        match reader.recv().await {
            RelayMessage::Pong { token: 7 } => break,
            RelayMessage::Deliver { .. } => frames += 1,
            // Senders that stopped may already have left.
            RelayMessage::PeerGone { .. } => {}
            other => panic!("the reader got {other:?} instead of its PONG"),
        }
    }
    for w in writers {
        w.await.unwrap();
    }
    // Each sender's stream ends once its writer has gone; count what it was told.
    let mut told = 0;
    for d in drains {
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(10), d).await {
            told += n;
        }
    }
    assert!(frames > 0);
    assert!(
        told > 0,
        "the queue never filled, so the test proved nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_3_5_frames_arrive_whole_and_in_order_when_the_reader_falls_behind() {
    // bob has a small receive buffer and starts reading late: the relay's direct writes fill his
    // socket, the rest waits in his queue for the writer task, and both must keep order.
    let r = relay(unlimited_rate(64 * 1024 * 1024)).await;
    let mut bob = Raw::registered_reading_slowly(r.local_addr(), "bob").await;
    let mut alice = Raw::registered(r.local_addr(), "alice").await;
    const COUNT: u32 = 5_000;
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            // Sizes vary so that partial writes cut frames at every offset.
            let mut payload = i.to_be_bytes().to_vec();
            payload.resize(4 + (i as usize * 397) % 4000, (i % 251) as u8);
            alice.relay("bob", &payload).await;
        }
        alice
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..COUNT {
        match bob.recv().await {
            RelayMessage::Deliver { source, payload } => {
                assert_eq!(source, nick("alice"));
                assert_eq!(payload.len(), 4 + (i as usize * 397) % 4000, "frame {i}");
                assert_eq!(payload[..4], i.to_be_bytes(), "frame {i} out of order");
                assert!(
                    payload[4..].iter().all(|&b| b == (i % 251) as u8),
                    "frame {i}"
                );
            }
            other => panic!("frame {i}: {other:?}"),
        }
    }
    let _alice = sender.await.unwrap();
}

#[tokio::test]
async fn relay_3_8_shutdown_reaches_every_client() {
    let r = relay(Config::default()).await;
    let mut a = Raw::registered(r.local_addr(), "a").await;
    let mut b = Raw::connect(r.local_addr()).await;
    b.send(ClientMessage::Hello { version: 2 }).await;
    b.send(ClientMessage::Ping { token: 0 }).await;
    assert_eq!(b.recv().await, RelayMessage::Pong { token: 0 });
    r.shutdown().await.unwrap();
    assert_eq!(a.recv_then_closed().await, RelayMessage::Shutdown);
    assert_eq!(b.recv_then_closed().await, RelayMessage::Shutdown);
}

#[tokio::test]
async fn relay_10_2_server_full_refuses_the_extra_connection() {
    let r = relay(Config {
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let _a = Raw::registered(r.local_addr(), "a").await;
    let _b = Raw::registered(r.local_addr(), "b").await;
    let mut c = Raw::connect(r.local_addr()).await;
    assert_eq!(
        c.recv_then_closed().await,
        error(ErrorCode::ServerFull, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_1000_concurrent_connections_each_deliver() {
    let r = relay(Config::default()).await;
    let addr = r.local_addr();
    let n = 1000;
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(tokio::spawn(async move {
            Raw::registered(addr, &format!("c{i}")).await
        }));
    }
    let clients: Vec<Raw> = futures_join(clients).await;
    let mut clients = clients;
    for (i, c) in clients.iter_mut().enumerate() {
        c.relay(&format!("c{}", (i + 1) % n), format!("from {i}").as_bytes())
            .await;
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let from = (i + n - 1) % n;
        assert_eq!(
            c.recv().await,
            RelayMessage::Deliver {
                source: nick(&format!("c{from}")),
                payload: format!("from {from}").into_bytes()
            }
        );
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
