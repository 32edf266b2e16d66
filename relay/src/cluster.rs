//! A relay cluster on NATS (§14): several relay processes that look like one relay to clients.
//!
//! - **Who holds a nickname** lives in a JetStream key-value bucket. REGISTER is a
//!   create-if-absent, so a race between nodes has exactly one winner (MUST [14-1]). The entry
//!   is a lease: the owning node rewrites it every third of the lease, and the bucket's maximum
//!   age removes it when nobody does (a crashed node's nicknames come free after the lease). A
//!   node that finds its entry gone and taken drops that connection.
//! - **Frames** for a nickname on another node go over core NATS to that node's subject. One
//!   ordered queue per node carries them, so frames from one sender to one receiver stay in
//!   order (§3.5). The receiving node applies the queue limit and the stall rule of §10.2 and
//!   sends errors back the same way.
//! - **Liveness**: every node announces itself each [`HEARTBEAT`]. A node not heard from for
//!   [`NODE_DEAD`] is dead: its clients' partners get PEER_GONE (§3.9). While a node is itself
//!   cut off from NATS it judges nobody, so a NATS restart ends no chat.
//!
//! Messages between nodes (not client wire protocol; `u64`s are big-endian):
//!
//! | kind | body |
//! | --- | --- |
//! | 1 DELIVER | dest conn u64, len8 dest nick, src node u64, src conn u64, len8 src nick, payload |
//! | 2 ERROR | dest conn u64, len8 dest nick, code u8, len8 about nick (0: none) |
//! | 3 PEER_GONE | dest conn u64, len8 dest nick, src node u64, src conn u64, len8 gone nick |

use crate::peer::{Peer, PushError, Whom, slow_consumer};
use crate::router::{MemoryRouter, Router};
use async_nats::jetstream::{self, kv};
use bytes::{BufMut, Bytes, BytesMut};
use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::LENGTH_PREFIX;
use cryptully_protocol::relay::RelayMessage;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How often a node announces that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which a node is taken for dead (§14).
pub const NODE_DEAD: Duration = Duration::from_secs(5);
/// Frames waiting for NATS per node; beyond this, senders get SLOW_CONSUMER (§10.2).
const QUEUE: usize = 16 * 1024;
/// The longest a key-value request may take before the relay gives up on it.
const KV_TIMEOUT: Duration = Duration::from_secs(3);

const DELIVER: u8 = 1;
const ERROR: u8 = 2;
const PEER_GONE: u8 = 3;

/// How to join a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222` (comma-separated for several).
    pub url: String,
    /// Names the bucket and subjects, so that several clusters can share one NATS.
    pub name: String,
    /// How long a nickname stays held after its node stops renewing it (§14).
    pub lease: Duration,
}

impl ClusterOptions {
    /// Options with the default name (`cryptully`) and lease (15 s).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: "cryptully".into(),
            lease: Duration::from_secs(15),
        }
    }
}

/// Why a relay could not join its cluster.
#[derive(Debug)]
pub enum ClusterError {
    /// The cluster name has characters NATS subjects or bucket names cannot hold.
    Name(String),
    /// The lease is too short to renew in time.
    Lease(Duration),
    /// NATS did not answer.
    Connect(String),
    /// JetStream (key-value) is missing or refused the bucket.
    Bucket(String),
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => write!(
                f,
                "cluster name {n:?}: use 1-64 of A-Z a-z 0-9 _ - (it names a NATS bucket)"
            ),
            Self::Lease(l) => write!(f, "cluster lease {l:?}: use at least 3 seconds"),
            Self::Connect(e) => write!(f, "cannot reach NATS: {e}"),
            Self::Bucket(e) => write!(
                f,
                "NATS has no usable JetStream key-value store (start nats-server with -js): {e}"
            ),
        }
    }
}

impl std::error::Error for ClusterError {}

/// The result of claiming a nickname cluster-wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Won,
    InUse,
    /// NATS cannot be asked now; the nickname cannot be known to be free (§14).
    Unavailable,
}

struct Owned {
    peer: Arc<Peer>,
    revision: u64,
}

enum Out {
    Deliver {
        src: Whom,
        src_nick: Nick,
        dest: Nick,
        payload: Bytes,
    },
    Gone {
        src: Whom,
        nick: Nick,
        to: Whom,
        to_nick: Nick,
    },
    Release {
        nick: Nick,
        revision: u64,
    },
    Flush(oneshot::Sender<()>),
}

/// One node's membership in a cluster.
pub struct Cluster {
    node: u64,
    prefix: String,
    client: async_nats::Client,
    kv: kv::Store,
    lease: Duration,
    local: Arc<MemoryRouter>,
    stall_timeout: Duration,
    tx: mpsc::Sender<Out>,
    rx: Mutex<Option<mpsc::Receiver<Out>>>,
    /// Where remote nicknames were last found.
    routes: Mutex<HashMap<Nick, Whom>>,
    owned: Mutex<HashMap<Nick, Owned>>,
    alive: Mutex<HashMap<u64, Instant>>,
    dead: Mutex<HashSet<u64>>,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &format_args!("{:016x}", self.node))
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn random_node() -> u64 {
    use rand_core::RngCore;
    let mut b = [0u8; 8];
    // A clash between two nodes' random 64-bit ids is not a practical concern; without the OS
    // generator, the clock and process id still separate nodes started apart.
    if rand_core::OsRng.try_fill_bytes(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ (u64::from(std::process::id()) << 32);
    }
    u64::from_be_bytes(b) | 1
}

impl Cluster {
    /// Connects to NATS, opens (or creates) the nickname bucket and starts this node's tasks.
    /// `config` supplies the stall timeout the node applies to frames from other nodes.
    pub async fn join(
        opts: &ClusterOptions,
        config: &crate::Config,
    ) -> Result<Arc<Self>, ClusterError> {
        if !valid_name(&opts.name) {
            return Err(ClusterError::Name(opts.name.clone()));
        }
        if opts.lease < Duration::from_secs(3) {
            return Err(ClusterError::Lease(opts.lease));
        }
        let servers: Vec<&str> = opts.url.split(',').map(str::trim).collect();
        let client = async_nats::ConnectOptions::new()
            .name("cryptully-relay")
            .connection_timeout(Duration::from_secs(5))
            // Keep trying for ever: a NATS restart must not stop the relay (§14).
            .max_reconnects(None)
            .reconnect_delay_callback(|n| Duration::from_millis(100 * (n.min(10) as u64 + 1)))
            .connect(servers)
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let kv = ensure_bucket(&js, &opts.name, opts.lease)
            .await
            .map_err(ClusterError::Bucket)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let cluster = Arc::new(Self {
            node: random_node(),
            prefix: opts.name.clone(),
            client,
            kv,
            lease: opts.lease,
            local: Arc::new(MemoryRouter::default()),
            stall_timeout: config.stall_timeout,
            tx,
            rx: Mutex::new(Some(rx)),
            routes: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashMap::new()),
            alive: Mutex::new(HashMap::new()),
            dead: Mutex::new(HashSet::new()),
        });
        let inbox = cluster
            .client
            .subscribe(cluster.node_subject(cluster.node))
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let beats = cluster
            .client
            .subscribe(format!("{}.alive", cluster.prefix))
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        // Subscriptions are in place before the first frame can be addressed to this node.
        let _ = cluster.client.flush().await;
        let rx = cluster.rx.lock().ok().and_then(|mut r| r.take());
        if let Some(rx) = rx {
            tokio::spawn(cluster.clone().publish_loop(rx));
        }
        tokio::spawn(cluster.clone().inbox_loop(inbox));
        tokio::spawn(cluster.clone().heartbeat_loop(beats));
        tokio::spawn(cluster.clone().lease_loop());
        tracing::info!(node = %format_args!("{:016x}", cluster.node), "joined the cluster");
        Ok(cluster)
    }

    /// This node's id: random per process, so a restarted node is a new node.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// The router of this node's own connections.
    pub(crate) fn local(&self) -> Arc<MemoryRouter> {
        self.local.clone()
    }

    fn node_subject(&self, node: u64) -> String {
        format!("{}.node.{node:016x}", self.prefix)
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Claims `nick` for `peer` across the cluster (§3.4, §14).
    pub(crate) async fn claim(&self, nick: &Nick, peer: &Arc<Peer>) -> Claim {
        if !self.connected() {
            return Claim::Unavailable;
        }
        let value = Bytes::from(format!("{:016x}.{:x}", self.node, peer.id()));
        let key = nick.as_str();
        let created = tokio::time::timeout(KV_TIMEOUT, self.kv.create(key, value.clone())).await;
        let revision = match created {
            Ok(Ok(revision)) => revision,
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Ours, from a connection that has just closed and whose release is still on
                // its way: a client reconnecting at once must not be told NICK_IN_USE.
                match self.take_over_own(key, value).await {
                    Some(revision) => revision,
                    None => return Claim::InUse,
                }
            }
            _ => return Claim::Unavailable,
        };
        if let Ok(mut owned) = self.owned.lock() {
            owned.insert(
                nick.clone(),
                Owned {
                    peer: peer.clone(),
                    revision,
                },
            );
        }
        Claim::Won
    }

    async fn take_over_own(&self, key: &str, value: Bytes) -> Option<u64> {
        let entry = tokio::time::timeout(KV_TIMEOUT, self.kv.entry(key))
            .await
            .ok()?
            .ok()??;
        let (node, _) = parse_owner(&entry.value)?;
        if node != self.node {
            return None;
        }
        let nick = Nick::new(key).ok()?;
        let live = self
            .owned
            .lock()
            .ok()
            .is_some_and(|owned| owned.get(&nick).is_some_and(|o| !o.peer.is_closed()));
        if live {
            return None;
        }
        tokio::time::timeout(KV_TIMEOUT, self.kv.update(key, value, entry.revision))
            .await
            .ok()?
            .ok()
    }

    /// Gives up `nick` if `peer` still holds it. The delete goes through the ordered queue, after
    /// the connection's last frames and PEER_GONE notices.
    pub(crate) fn release(&self, nick: &Nick, peer: &Arc<Peer>) {
        let revision = self.owned.lock().ok().and_then(|mut owned| {
            let own = owned.get(nick).is_some_and(|o| o.peer.id() == peer.id());
            if own {
                owned.remove(nick).map(|o| o.revision)
            } else {
                None
            }
        });
        if let Some(revision) = revision {
            let _ = self.tx.try_send(Out::Release {
                nick: nick.clone(),
                revision,
            });
        }
    }

    /// Queues `payload` from `src` for `dest`, which is not on this node (§3.5). An error is what
    /// the sender is told at once; NICK_NOT_FOUND from a lookup comes later, as on one relay.
    pub(crate) fn forward(
        &self,
        src: &Arc<Peer>,
        src_nick: &Nick,
        dest: Nick,
        payload: &[u8],
    ) -> Result<(), ErrorCode> {
        // §14: a frame that cannot reach NATS is refused, never dropped silently.
        if !self.connected() {
            return Err(ErrorCode::SlowConsumer);
        }
        let out = Out::Deliver {
            src: Whom {
                node: self.node,
                id: src.id(),
            },
            src_nick: src_nick.clone(),
            dest,
            payload: Bytes::copy_from_slice(payload),
        };
        self.tx.try_send(out).map_err(|_| ErrorCode::SlowConsumer)
    }

    /// Tells the connection `to` on another node that `nick` (connection `src`) left (§3.9).
    pub(crate) fn peer_gone(&self, src: Whom, nick: &Nick, to_nick: Nick, to: Whom) {
        let _ = self.tx.try_send(Out::Gone {
            src,
            nick: nick.clone(),
            to,
            to_nick,
        });
    }

    /// Waits until everything queued has gone to NATS (at shutdown), for at most 3 seconds.
    pub async fn drain(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Out::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), wait).await;
        }
    }

    fn is_alive(&self, node: u64) -> bool {
        if node == self.node {
            return true;
        }
        if self.dead.lock().map(|d| d.contains(&node)).unwrap_or(false) {
            return false;
        }
        // A node with a fresh lease entry that has not been heard yet is given the benefit of
        // the doubt: it is declared dead if it stays silent.
        if let Ok(mut alive) = self.alive.lock() {
            alive.entry(node).or_insert_with(Instant::now);
        }
        true
    }

    /// Where `dest` is: the cache, else the bucket.
    async fn resolve(&self, dest: &Nick) -> Option<Whom> {
        let cached = self.routes.lock().ok().and_then(|r| r.get(dest).copied());
        if let Some(whom) = cached {
            if self.is_alive(whom.node) {
                return Some(whom);
            }
        }
        let entry = tokio::time::timeout(KV_TIMEOUT, self.kv.entry(dest.as_str()))
            .await
            .ok()?
            .ok()??;
        if entry.operation != kv::Operation::Put {
            return None;
        }
        let (node, id) = parse_owner(&entry.value)?;
        // Held here means the local lookup missed: that connection has gone.
        if node == self.node || !self.is_alive(node) {
            return None;
        }
        let whom = Whom { node, id };
        if let Ok(mut routes) = self.routes.lock() {
            if routes.len() >= 64 * 1024 {
                routes.clear();
            }
            routes.insert(dest.clone(), whom);
        }
        Some(whom)
    }

    fn forget_route(&self, nick: &Nick, whom: Whom) {
        if let Ok(mut routes) = self.routes.lock() {
            if routes.get(nick) == Some(&whom) {
                routes.remove(nick);
            }
        }
    }

    /// The local connection `id` holding `nick`.
    fn local_peer(&self, nick: &Nick, id: u64) -> Option<Arc<Peer>> {
        self.local.lookup(nick).filter(|p| p.id() == id)
    }

    fn tell_local(&self, nick: &Nick, id: u64, msg: &RelayMessage) {
        if let Some(p) = self.local_peer(nick, id) {
            if p.push_control(msg) == Err(PushError::Full) {
                p.close(Some(&slow_consumer()), true);
            }
        }
    }

    async fn publish_loop(self: Arc<Self>, mut rx: mpsc::Receiver<Out>) {
        while let Some(out) = rx.recv().await {
            match out {
                Out::Deliver {
                    src,
                    src_nick,
                    dest,
                    payload,
                } => {
                    let Some(to) = self.resolve(&dest).await else {
                        let msg = RelayMessage::Error {
                            code: ErrorCode::NickNotFound,
                            nick: Some(dest),
                        };
                        self.tell_local(&src_nick, src.id, &msg);
                        continue;
                    };
                    if let Some(p) = self.local_peer(&src_nick, src.id) {
                        p.add_contact(&dest, to);
                    }
                    let mut b = BytesMut::with_capacity(64 + payload.len());
                    b.put_u8(DELIVER);
                    b.put_u64(to.id);
                    put_nick(&mut b, &dest);
                    b.put_u64(src.node);
                    b.put_u64(src.id);
                    put_nick(&mut b, &src_nick);
                    b.put_slice(&payload);
                    let sent = self
                        .client
                        .publish(self.node_subject(to.node), b.freeze())
                        .await;
                    if sent.is_err() {
                        let msg = RelayMessage::Error {
                            code: ErrorCode::SlowConsumer,
                            nick: Some(dest),
                        };
                        self.tell_local(&src_nick, src.id, &msg);
                    }
                }
                Out::Gone {
                    src,
                    nick,
                    to,
                    to_nick,
                } => {
                    let mut b = BytesMut::with_capacity(96);
                    b.put_u8(PEER_GONE);
                    b.put_u64(to.id);
                    put_nick(&mut b, &to_nick);
                    b.put_u64(src.node);
                    b.put_u64(src.id);
                    put_nick(&mut b, &nick);
                    let _ = self
                        .client
                        .publish(self.node_subject(to.node), b.freeze())
                        .await;
                }
                Out::Release { nick, revision } => {
                    let delete = self
                        .kv
                        .delete_expect_revision(nick.as_str(), Some(revision));
                    let _ = tokio::time::timeout(KV_TIMEOUT, delete).await;
                }
                Out::Flush(done) => {
                    let _ = tokio::time::timeout(KV_TIMEOUT, self.client.flush()).await;
                    let _ = done.send(());
                }
            }
        }
    }

    async fn inbox_loop(self: Arc<Self>, mut inbox: async_nats::Subscriber) {
        use futures_util::StreamExt;
        while let Some(msg) = inbox.next().await {
            // Another node is trusted no more than a client: a message that does not parse is
            // dropped (and logged without its content).
            if self.handle(&msg.payload).await.is_none() {
                tracing::warn!(
                    bytes = msg.payload.len(),
                    "malformed message from the cluster"
                );
            }
        }
    }

    async fn handle(&self, msg: &[u8]) -> Option<()> {
        let mut r = Reader(msg);
        let kind = r.u8()?;
        let dest_id = r.u64()?;
        let dest = r.nick()?;
        match kind {
            DELIVER => {
                let src = Whom {
                    node: r.u64()?,
                    id: r.u64()?,
                };
                let src_nick = r.nick()?;
                let payload = r.0;
                if payload.is_empty() {
                    return None;
                }
                let bounce = match self.local_peer(&dest, dest_id) {
                    None => Some(ErrorCode::NickNotFound),
                    Some(target) => self.deliver(&target, src, &src_nick, payload),
                };
                if let Some(code) = bounce {
                    let mut b = BytesMut::with_capacity(80);
                    b.put_u8(ERROR);
                    b.put_u64(src.id);
                    put_nick(&mut b, &src_nick);
                    b.put_u8(code.to_u8());
                    put_nick(&mut b, &dest);
                    let _ = self
                        .client
                        .publish(self.node_subject(src.node), b.freeze())
                        .await;
                }
            }
            ERROR => {
                let code = ErrorCode::from_u8(r.u8()?).ok()?;
                let about = r.nick()?;
                if code == ErrorCode::NickNotFound {
                    if let Ok(mut routes) = self.routes.lock() {
                        routes.remove(&about);
                    }
                }
                let msg = RelayMessage::Error {
                    code,
                    nick: Some(about),
                };
                self.tell_local(&dest, dest_id, &msg);
            }
            PEER_GONE => {
                let src = Whom {
                    node: r.u64()?,
                    id: r.u64()?,
                };
                let gone = r.nick()?;
                self.forget_route(&gone, src);
                // §3.9: only a connection that exchanged frames with exactly that connection.
                if let Some(p) = self.local_peer(&dest, dest_id) {
                    if p.remove_contact_if(&gone, src) {
                        let _ = p.push_control(&RelayMessage::PeerGone { nick: gone });
                    }
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// Queues a frame from another node for `target`; the error its sender is to be told.
    fn deliver(
        &self,
        target: &Arc<Peer>,
        src: Whom,
        src_nick: &Nick,
        payload: &[u8],
    ) -> Option<ErrorCode> {
        let nick = src_nick.as_str().as_bytes();
        let len = 2 + nick.len() + payload.len();
        let pushed = target.push_deferred(LENGTH_PREFIX + len, |buf| {
            buf.extend_from_slice(&(len as u32).to_be_bytes());
            buf.put_u8(0x82);
            buf.put_u8(nick.len() as u8);
            buf.extend_from_slice(nick);
            buf.extend_from_slice(payload);
        });
        match pushed {
            Ok(()) => {
                target.add_contact(src_nick, src);
                target.flush();
                None
            }
            Err(PushError::Full) => {
                // §10.2 as on one relay: the frame is dropped, and the destination only once it
                // has taken nothing for the stall timeout.
                if target.stalled_for(std::time::Instant::now()) >= self.stall_timeout {
                    target.close(Some(&slow_consumer()), true);
                }
                Some(ErrorCode::SlowConsumer)
            }
            Err(PushError::Closed) => Some(ErrorCode::NickNotFound),
        }
    }

    async fn heartbeat_loop(self: Arc<Self>, mut beats: async_nats::Subscriber) {
        use futures_util::StreamExt;
        let subject = format!("{}.alive", self.prefix);
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_down = false;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if !self.connected() {
                        was_down = true;
                        continue;
                    }
                    let _ = self
                        .client
                        .publish(subject.clone(), Bytes::copy_from_slice(&self.node.to_be_bytes()))
                        .await;
                    let now = Instant::now();
                    if was_down {
                        // Back after an outage: everyone was silent because we were; start
                        // counting afresh rather than ending every chat across nodes.
                        was_down = false;
                        if let Ok(mut alive) = self.alive.lock() {
                            alive.values_mut().for_each(|t| *t = now);
                        }
                        continue;
                    }
                    let died: Vec<u64> = match self.alive.lock() {
                        Ok(mut alive) => {
                            let died: Vec<u64> = alive
                                .iter()
                                .filter(|(_, t)| now.duration_since(**t) >= NODE_DEAD)
                                .map(|(n, _)| *n)
                                .collect();
                            died.iter().for_each(|n| {
                                alive.remove(n);
                            });
                            died
                        }
                        Err(_) => Vec::new(),
                    };
                    for node in died {
                        self.node_died(node);
                    }
                }
                beat = beats.next() => {
                    let Some(beat) = beat else { return };
                    let Ok(id) = <[u8; 8]>::try_from(&beat.payload[..]) else { continue };
                    let node = u64::from_be_bytes(id);
                    if node == self.node || self.dead.lock().map(|d| d.contains(&node)).unwrap_or(true) {
                        continue;
                    }
                    if let Ok(mut alive) = self.alive.lock() {
                        alive.insert(node, Instant::now());
                    }
                }
            }
        }
    }

    /// §3.9 across nodes: partners of a dead node's clients are told they left.
    fn node_died(&self, node: u64) {
        tracing::warn!(node = %format_args!("{node:016x}"), "a cluster node stopped answering");
        if let Ok(mut dead) = self.dead.lock() {
            dead.insert(node);
        }
        if let Ok(mut routes) = self.routes.lock() {
            routes.retain(|_, w| w.node != node);
        }
        for p in self.local.peers() {
            for nick in p.remove_contacts_on(node) {
                let _ = p.push_control(&RelayMessage::PeerGone { nick });
            }
        }
    }

    async fn lease_loop(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !self.connected() {
                continue;
            }
            let held: Vec<(Nick, Arc<Peer>, u64)> = match self.owned.lock() {
                Ok(owned) => owned
                    .iter()
                    .map(|(n, o)| (n.clone(), o.peer.clone(), o.revision))
                    .collect(),
                Err(_) => continue,
            };
            for (nick, peer, revision) in held {
                if peer.is_closed() {
                    continue;
                }
                let renewed = self.renew(&nick, &peer, revision).await;
                match renewed {
                    Renewal::Kept(revision) => {
                        if let Ok(mut owned) = self.owned.lock() {
                            if let Some(o) = owned.get_mut(&nick) {
                                if o.peer.id() == peer.id() {
                                    o.revision = revision;
                                }
                            }
                        }
                    }
                    Renewal::Lost => {
                        // §14: someone else holds it now; this connection may not speak as it.
                        tracing::warn!(conn = peer.id(), "lost a nickname's lease; closing");
                        if let Ok(mut owned) = self.owned.lock() {
                            owned.remove(&nick);
                        }
                        peer.close(
                            Some(&RelayMessage::Error {
                                code: ErrorCode::NickInUse,
                                nick: Some(nick),
                            }),
                            false,
                        );
                    }
                    Renewal::Unknown => {}
                }
            }
        }
    }

    async fn renew(&self, nick: &Nick, peer: &Arc<Peer>, revision: u64) -> Renewal {
        let value = Bytes::from(format!("{:016x}.{:x}", self.node, peer.id()));
        let key = nick.as_str();
        let update = self.kv.update(key, value.clone(), revision);
        match tokio::time::timeout(KV_TIMEOUT, update).await {
            Ok(Ok(revision)) => return Renewal::Kept(revision),
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
            _ => return Renewal::Unknown,
        }
        // Our entry is gone (the lease ran out during a long outage) or replaced. Claim it again:
        // if nobody took it, the connection keeps its nickname.
        match tokio::time::timeout(KV_TIMEOUT, self.kv.create(key, value)).await {
            Ok(Ok(revision)) => Renewal::Kept(revision),
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let entry = tokio::time::timeout(KV_TIMEOUT, self.kv.entry(key)).await;
                match entry {
                    Ok(Ok(Some(e))) if parse_owner(&e.value) == Some((self.node, peer.id())) => {
                        Renewal::Kept(e.revision)
                    }
                    Ok(Ok(_)) => Renewal::Lost,
                    _ => Renewal::Unknown,
                }
            }
            _ => Renewal::Unknown,
        }
    }
}

enum Renewal {
    Kept(u64),
    Lost,
    Unknown,
}

async fn ensure_bucket(
    js: &jetstream::Context,
    name: &str,
    lease: Duration,
) -> Result<kv::Store, String> {
    let bucket = format!("{name}-nicks");
    // The key-value conventions written out as a stream, because `create_key_value` first asks
    // for account details that nats-server 2.9 (Debian 12) does not send.
    let config = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some("Cryptully: which relay node holds which nickname".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        // The lease: an entry nobody renews is removed (§14).
        max_age: lease,
        // File storage: a restarted nats-server keeps the leases.
        storage: jetstream::stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    match tokio::time::timeout(KV_TIMEOUT, js.get_or_create_stream(config)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("timed out".into()),
    }
    match tokio::time::timeout(KV_TIMEOUT, js.get_key_value(bucket)).await {
        Ok(Ok(kv)) => Ok(kv),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// `NODE.CONN` in hex, as a node writes it when it claims a nickname.
fn parse_owner(value: &[u8]) -> Option<(u64, u64)> {
    let s = std::str::from_utf8(value).ok()?;
    let (node, id) = s.split_once('.')?;
    Some((
        u64::from_str_radix(node, 16).ok()?,
        u64::from_str_radix(id, 16).ok()?,
    ))
}

fn put_nick(b: &mut BytesMut, nick: &Nick) {
    let s = nick.as_str().as_bytes();
    b.put_u8(s.len() as u8);
    b.put_slice(s);
}

/// Reads the fields of a message between nodes without trusting a length in it.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn nick(&mut self) -> Option<Nick> {
        let len = usize::from(self.u8()?);
        Nick::from_bytes(self.take(len)?)
            .ok()
            .map(|n| n.canonical())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_14_owner_values_round_trip_and_junk_is_refused() {
        let v = format!("{:016x}.{:x}", 0xdead_beef_u64, 42u64);
        assert_eq!(parse_owner(v.as_bytes()), Some((0xdead_beef, 42)));
        assert_eq!(parse_owner(b"nonsense"), None);
        assert_eq!(parse_owner(b"zz.1"), None);
        assert_eq!(parse_owner(&[0xff, b'.', b'1']), None);
    }

    #[test]
    fn cluster_14_messages_between_nodes_are_parsed_without_trusting_lengths() {
        let mut r = Reader(&[3, b'b', b'o']);
        assert_eq!(r.nick(), None, "a length beyond the message");
        let mut r = Reader(&[1, 2, 3]);
        assert_eq!(r.u64(), None);
        let mut r = Reader(&[2, b'a', b' ']);
        assert_eq!(r.nick(), None, "not a nickname");
        let mut r = Reader(&[3, b'B', b'o', b'b']);
        assert_eq!(r.nick().map(|n| n.as_str().to_owned()), Some("bob".into()));
    }

    #[test]
    fn cluster_14_names_must_fit_nats() {
        assert!(valid_name("cryptully"));
        assert!(valid_name("eu-1_test"));
        assert!(!valid_name(""));
        assert!(!valid_name("a.b"));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
    }
}
