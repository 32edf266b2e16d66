//! A relay cluster on a real nats-server (§14), seen by clients speaking raw frames: nodes in
//! this process where that is enough, relay processes where one has to be killed.
//!
//! These tests need `nats-server` (scripts/install-deps.sh installs it); they fail without it,
//! they are never skipped.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::MAX_FRAME;
use cryptully_protocol::net::{FrameReader, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_relay::cluster::{ClusterOptions, NODE_DEAD};
use cryptully_relay::natsd::NatsServer;
use cryptully_relay::{Config, RelayHandle, spawn_cluster};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const LEASE: Duration = Duration::from_secs(3);

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

fn nats() -> NatsServer {
    NatsServer::start().unwrap_or_else(|e| panic!("{e}"))
}

fn opts(nats: &NatsServer) -> ClusterOptions {
    ClusterOptions {
        lease: LEASE,
        ..ClusterOptions::new(nats.url())
    }
}

/// No rate limits (§10.2), for senders that must not be held back.
fn unlimited() -> Config {
    Config {
        rate_messages: 1e9,
        rate_messages_burst: 1e9,
        rate_bytes: 1e12,
        rate_bytes_burst: 1e12,
        ..Config::default()
    }
}

/// A node in this process.
async fn node(nats: &NatsServer, config: Config) -> RelayHandle {
    spawn_cluster("127.0.0.1:0".parse().unwrap(), config, &opts(nats))
        .await
        .unwrap()
}

/// A node in this process that reaches NATS at `url` with lease `lease`.
async fn node_via(url: String, lease: Duration) -> RelayHandle {
    let opts = ClusterOptions {
        lease,
        ..ClusterOptions::new(url)
    };
    spawn_cluster("127.0.0.1:0".parse().unwrap(), Config::default(), &opts)
        .await
        .unwrap()
}

/// A TCP proxy in front of NATS that a test can cut, as a network partition would cut one
/// node off while the others still reach NATS.
struct Partition {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Partition {
    async fn to(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let links = Arc::new(Mutex::new(Vec::new()));
        let (c, l) = (cut.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                l.lock().unwrap().push(link);
            }
        });
        Partition { addr, cut, links }
    }

    fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// A node as its own `cryptully-relay` process, so that it can be killed.
struct Process {
    child: Child,
    addr: SocketAddr,
}

impl Process {
    fn start(nats: &NatsServer) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cryptully-relay"))
            .args(["--listen", "127.0.0.1:0", "--cluster", &nats.url()])
            .args(["--cluster-lease", &LEASE.as_secs().to_string()])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the relay says where it listens")
                .unwrap();
            if let Some(at) = line.split("listening on ").nth(1) {
                break at.trim().parse().unwrap();
            }
        };
        // Keep reading, or the relay would block on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Process { child, addr }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client that speaks raw frames.
struct Raw {
    r: FrameReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Raw {
    async fn hello(addr: SocketAddr) -> Self {
        Self::hello_over(TcpStream::connect(addr).await.unwrap()).await
    }

    async fn hello_over(stream: TcpStream) -> Self {
        let (r, w) = stream.into_split();
        let mut c = Raw {
            r: FrameReader::new(r, MAX_FRAME),
            w,
        };
        c.send(ClientMessage::Hello { version: 2 }).await;
        c
    }

    /// REGISTER and the relay's answer.
    async fn try_register(&mut self, name: &str) -> RelayMessage {
        self.send(ClientMessage::Register { nick: nick(name) })
            .await;
        self.recv().await
    }

    async fn registered(addr: SocketAddr, name: &str) -> Self {
        let mut c = Self::hello(addr).await;
        assert_eq!(
            c.try_register(name).await,
            RelayMessage::Registered { nick: nick(name) }
        );
        c
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
        self.recv_within(Duration::from_secs(30))
            .await
            .expect("a frame within the time")
    }

    async fn recv_within(&mut self, wait: Duration) -> Option<RelayMessage> {
        let frame = tokio::time::timeout(wait, self.r.next_frame()).await.ok()?;
        let frame = frame.unwrap().expect("a frame, not the end of the stream");
        Some(RelayMessage::decode(&frame).unwrap())
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

fn deliver(from: &str, payload: &[u8]) -> RelayMessage {
    RelayMessage::Deliver {
        source: nick(from),
        payload: payload.to_vec(),
    }
}

#[tokio::test]
async fn cluster_14_frames_cross_nodes_in_order_with_their_true_source() {
    let nats = nats();
    let (a, b) = (
        node(&nats, Config::default()).await,
        node(&nats, Config::default()).await,
    );
    let mut alice = Raw::registered(a.local_addr(), "alice").await;
    let mut bob = Raw::registered(b.local_addr(), "Bob").await;
    // §3.2 across nodes: the nickname is one, whatever the case and the node.
    let mut again = Raw::hello(a.local_addr()).await;
    assert_eq!(
        again.try_register("BOB").await,
        RelayMessage::Error {
            code: ErrorCode::NickInUse,
            nick: Some(nick("bob"))
        }
    );
    for i in 0..300u32 {
        alice.relay("BOB", &i.to_be_bytes()).await;
    }
    for i in 0..300u32 {
        assert_eq!(
            bob.recv().await,
            deliver("alice", &i.to_be_bytes()),
            "frame {i}"
        );
    }
    bob.relay("alice", b"hi").await;
    assert_eq!(alice.recv().await, deliver("bob", b"hi"));
    // NICK_NOT_FOUND as on one relay.
    alice.relay("nobody", b"x").await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::Error {
            code: ErrorCode::NickNotFound,
            nick: Some(nick("nobody"))
        }
    );
    // §3.9 across nodes: bob leaves, alice is told; the nickname comes free at once.
    bob.send(ClientMessage::Bye).await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::PeerGone { nick: nick("bob") }
    );
    alice.relay("bob", b"late").await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::Error {
            code: ErrorCode::NickNotFound,
            nick: Some(nick("bob"))
        }
    );
    let _bob2 = Raw::registered(a.local_addr(), "bob").await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn cluster_14_a_nickname_raced_on_two_nodes_has_exactly_one_winner() {
    let nats = nats();
    let (a, b) = (
        node(&nats, Config::default()).await,
        node(&nats, Config::default()).await,
    );
    for round in 0..40 {
        let name = format!("race{round}");
        let (mut x, mut y) = tokio::join!(Raw::hello(a.local_addr()), Raw::hello(b.local_addr()));
        let (rx, ry) = tokio::join!(x.try_register(&name), y.try_register(&name));
        let won = RelayMessage::Registered { nick: nick(&name) };
        let lost = RelayMessage::Error {
            code: ErrorCode::NickInUse,
            nick: Some(nick(&name)),
        };
        assert!(
            (rx == won && ry == lost) || (rx == lost && ry == won),
            "round {round}: {rx:?} and {ry:?}"
        );
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn cluster_14_killing_a_node_disconnects_only_its_own_clients() {
    let nats = nats();
    let (a, b, mut c) = (
        Process::start(&nats),
        Process::start(&nats),
        Process::start(&nats),
    );
    let mut alice = Raw::registered(a.addr, "alice").await;
    let mut bob = Raw::registered(b.addr, "bob").await;
    let mut carol = Raw::registered(c.addr, "carol").await;
    alice.relay("bob", b"1").await;
    assert_eq!(bob.recv().await, deliver("alice", b"1"));
    carol.relay("alice", b"2").await;
    assert_eq!(alice.recv().await, deliver("carol", b"2"));
    c.kill();
    carol.closed().await;
    // §3.9: carol's partner learns she is gone once her node is known dead.
    let told = alice.recv_within(NODE_DEAD * 3).await;
    assert_eq!(
        told,
        Some(RelayMessage::PeerGone {
            nick: nick("carol")
        })
    );
    // The chat between the other two nodes goes on.
    alice.relay("bob", b"3").await;
    assert_eq!(bob.recv().await, deliver("alice", b"3"));
    bob.relay("alice", b"4").await;
    assert_eq!(alice.recv().await, deliver("bob", b"4"));
    // The dead node's nickname comes free after the lease.
    tokio::time::sleep(LEASE).await;
    let mut carol2 = Raw::hello(b.addr).await;
    let mut answer = carol2.try_register("carol").await;
    for _ in 0..20 {
        if answer
            == (RelayMessage::Registered {
                nick: nick("carol"),
            })
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        answer = carol2.try_register("carol").await;
    }
    assert_eq!(
        answer,
        RelayMessage::Registered {
            nick: nick("carol")
        }
    );
}

#[tokio::test]
async fn cluster_14_a_nats_restart_keeps_clients_and_refuses_frames_during_the_outage() {
    let mut nats = nats();
    let (a, b) = (
        node(&nats, Config::default()).await,
        node(&nats, Config::default()).await,
    );
    let mut alice = Raw::registered(a.local_addr(), "alice").await;
    let mut bob = Raw::registered(b.local_addr(), "bob").await;
    alice.relay("bob", b"before").await;
    assert_eq!(bob.recv().await, deliver("alice", b"before"));

    nats.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // §14: a frame that cannot cross is refused, never dropped silently.
    alice.relay("bob", b"during").await;
    assert_eq!(
        alice.recv().await,
        RelayMessage::Error {
            code: ErrorCode::SlowConsumer,
            nick: Some(nick("bob"))
        }
    );
    // A registration cannot be checked for uniqueness: "try later".
    let mut carol = Raw::hello(a.local_addr()).await;
    assert_eq!(
        carol.try_register("carol").await,
        RelayMessage::Error {
            code: ErrorCode::ServerFull,
            nick: None
        }
    );

    nats.restart().unwrap();
    // Once the nodes are back, frames cross again; nobody was disconnected or told PEER_GONE.
    let mut crossed = false;
    for i in 0..100u32 {
        alice.relay("bob", &i.to_be_bytes()).await;
        match bob.recv_within(Duration::from_millis(200)).await {
            Some(m) => {
                assert_eq!(m, deliver("alice", &i.to_be_bytes()));
                crossed = true;
                break;
            }
            None => {
                let m = alice.recv().await;
                assert_eq!(
                    m,
                    RelayMessage::Error {
                        code: ErrorCode::SlowConsumer,
                        nick: Some(nick("bob"))
                    }
                );
            }
        }
    }
    assert!(crossed, "frames cross again after nats-server is back");
    bob.relay("alice", b"after").await;
    assert_eq!(alice.recv().await, deliver("bob", b"after"));
    // Both still hold their nicknames, across the cluster, past a whole lease.
    tokio::time::sleep(LEASE + Duration::from_secs(1)).await;
    let mut thief = Raw::hello(b.local_addr()).await;
    assert_eq!(
        thief.try_register("alice").await,
        RelayMessage::Error {
            code: ErrorCode::NickInUse,
            nick: Some(nick("alice"))
        }
    );
    alice.relay("bob", b"still").await;
    assert_eq!(bob.recv().await, deliver("alice", b"still"));
}

#[tokio::test]
async fn cluster_14_a_node_that_loses_its_lease_drops_the_connection() {
    let nats = nats();
    let a = node(&nats, Config::default()).await;
    let mut alice = Raw::registered(a.local_addr(), "alice").await;
    // Someone else's entry replaces this node's, as after a lease lost in a partition.
    let client = async_nats::connect(nats.url()).await.unwrap();
    let kv = async_nats::jetstream::new(client)
        .get_key_value("cryptully-nicks")
        .await
        .unwrap();
    kv.put("alice", "00000000000000ff.1".into()).await.unwrap();
    assert_eq!(
        alice.recv_within(LEASE * 2).await,
        Some(RelayMessage::Error {
            code: ErrorCode::NickInUse,
            nick: Some(nick("alice"))
        })
    );
    alice.closed().await;
}

#[tokio::test]
async fn cluster_14_10_2_a_reader_that_falls_behind_across_nodes_costs_frames_not_the_sender() {
    let nats = nats();
    let config = Config {
        queue_bytes: 64 * 1024,
        ..unlimited()
    };
    let (a, b) = (node(&nats, config.clone()).await, node(&nats, config).await);
    let mut sender = Raw::registered(a.local_addr(), "sender").await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = Raw::hello_over(socket.connect(b.local_addr()).await.unwrap()).await;
    assert_eq!(
        slow.try_register("slow").await,
        RelayMessage::Registered { nick: nick("slow") }
    );
    let payload = vec![7u8; 8 * 1024];
    // 8 MB: more than the queue and every socket buffer on the way can hold.
    for _ in 0..1000 {
        sender.relay("slow", &payload).await;
    }
    assert_eq!(
        sender.recv().await,
        RelayMessage::Error {
            code: ErrorCode::SlowConsumer,
            nick: Some(nick("slow"))
        }
    );
    // The reader was not dropped: it reads what was queued, in order.
    assert_eq!(slow.recv().await, deliver("sender", &payload));
}

#[tokio::test]
async fn cluster_14_3_4_no_frame_reaches_a_connection_before_its_registered() {
    let nats = nats();
    let a = node(&nats, unlimited()).await;
    let mut sender = Raw::registered(a.local_addr(), "sender").await;
    // The sender writes to "late" without pause while "late" registers on the same node: the
    // cluster check takes a round trip to NATS, during which the name must not take frames.
    let flood = tokio::spawn(async move {
        for _ in 0..50_000 {
            sender.relay("late", b"early").await;
            tokio::task::yield_now().await;
        }
        sender
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut late = Raw::hello(a.local_addr()).await;
    assert_eq!(
        late.try_register("late").await,
        RelayMessage::Registered { nick: nick("late") }
    );
    flood.abort();
}

#[tokio::test]
async fn cluster_14_2_a_partner_is_told_gone_even_when_the_last_frame_and_bye_arrive_together() {
    let nats = nats();
    let (a, b) = (
        node(&nats, Config::default()).await,
        node(&nats, Config::default()).await,
    );
    let mut bob = Raw::registered(b.local_addr(), "bob").await;
    for round in 0..10 {
        let name = format!("alice{round}");
        let mut alice = Raw::registered(a.local_addr(), &name).await;
        // The frame and BYE in one write: the relay reads both before the frame has crossed.
        let mut both = Vec::new();
        for m in [
            ClientMessage::Relay {
                destination: nick("bob"),
                payload: b"last".to_vec(),
            },
            ClientMessage::Bye,
        ] {
            cryptully_protocol::framing::encode_frame(&m.to_bytes(), &mut both);
        }
        tokio::io::AsyncWriteExt::write_all(&mut alice.w, &both)
            .await
            .unwrap();
        assert_eq!(bob.recv().await, deliver(&name, b"last"), "round {round}");
        assert_eq!(
            bob.recv().await,
            RelayMessage::PeerGone { nick: nick(&name) },
            "round {round}"
        );
    }
}

#[tokio::test]
async fn cluster_14_2_a_node_cut_off_alone_is_taken_for_stopped_and_both_ends_agree() {
    let nats = nats();
    let lease = Duration::from_secs(20);
    let partition = Partition::to(nats.addr()).await;
    let a = node_via(nats.url(), lease).await;
    let b = node_via(partition.url(), lease).await;
    let mut alice = Raw::registered(a.local_addr(), "alice").await;
    let mut bob = Raw::registered(b.local_addr(), "bob").await;
    alice.relay("bob", b"1").await;
    assert_eq!(bob.recv().await, deliver("alice", b"1"));
    bob.relay("alice", b"2").await;
    assert_eq!(alice.recv().await, deliver("bob", b"2"));

    partition.cut();
    // Node B is silent to node A: alice is told bob left.
    assert_eq!(
        alice.recv_within(NODE_DEAD * 3).await,
        Some(RelayMessage::PeerGone { nick: nick("bob") })
    );
    partition.heal();
    // Back, node B learns it was taken for stopped and tells bob the same of alice.
    assert_eq!(
        bob.recv_within(NODE_DEAD * 4).await,
        Some(RelayMessage::PeerGone {
            nick: nick("alice")
        })
    );
    // Both stayed connected and registered; a new chat crosses again.
    let mut crossed = false;
    for i in 0..50u32 {
        alice.relay("bob", &i.to_be_bytes()).await;
        if let Some(m) = bob.recv_within(Duration::from_millis(200)).await {
            assert_eq!(m, deliver("alice", &i.to_be_bytes()));
            crossed = true;
            break;
        }
        // Until B's lease entry is seen alive again, alice hears NICK_NOT_FOUND.
        let _ = alice.recv_within(Duration::from_millis(100)).await;
    }
    assert!(crossed, "frames cross again once the node is back");
    drop((a, b));
}

#[tokio::test]
async fn cluster_14_3_a_node_that_cannot_renew_for_a_whole_lease_closes_its_clients() {
    let nats = nats();
    let partition = Partition::to(nats.addr()).await;
    let b = node_via(partition.url(), LEASE).await;
    let mut bob = Raw::registered(b.local_addr(), "bob").await;
    partition.cut();
    assert_eq!(
        bob.recv_within(LEASE * 3).await,
        Some(RelayMessage::Error {
            code: ErrorCode::ServerFull,
            nick: None
        })
    );
    bob.closed().await;
    // By then the entry has expired: another node gives the nickname to someone else.
    let a = node(&nats, Config::default()).await;
    let mut other = Raw::hello(a.local_addr()).await;
    let mut answer = other.try_register("bob").await;
    for _ in 0..20 {
        if answer == (RelayMessage::Registered { nick: nick("bob") }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        answer = other.try_register("bob").await;
    }
    assert_eq!(answer, RelayMessage::Registered { nick: nick("bob") });
}

#[tokio::test]
async fn cluster_14_3_8_a_node_that_stops_tells_partners_elsewhere_and_frees_its_nicknames() {
    let nats = nats();
    let (a, b) = (
        node(&nats, Config::default()).await,
        node(&nats, Config::default()).await,
    );
    let mut alice = Raw::registered(a.local_addr(), "alice").await;
    let mut bob = Raw::registered(b.local_addr(), "bob").await;
    alice.relay("bob", b"hi").await;
    assert_eq!(bob.recv().await, deliver("alice", b"hi"));
    a.shutdown().await.unwrap();
    assert_eq!(alice.recv().await, RelayMessage::Shutdown);
    assert_eq!(
        bob.recv().await,
        RelayMessage::PeerGone {
            nick: nick("alice")
        }
    );
    // Released at once, not after the lease.
    let mut again = Raw::hello(b.local_addr()).await;
    assert_eq!(
        again.try_register("alice").await,
        RelayMessage::Registered {
            nick: nick("alice")
        }
    );
}
