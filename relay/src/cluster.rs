//! A relay cluster on NATS (§14): several relay processes that look like one relay to clients.
//!
//! - **Who holds a nickname** lives in a JetStream key-value bucket. REGISTER is a
//!   create-if-absent, so a race between nodes has exactly one winner (MUST [14.1-1]). The entry
//!   is a lease: the owning node rewrites it every third of the lease, and the bucket's maximum
//!   age removes it when nobody does (a crashed node's nicknames come free after the lease).
//! - **Frames** for a nickname on another node go over core NATS to that node's subject. One
//!   ordered queue per node carries them and the notices that follow them (PEER_GONE, releases),
//!   so frames from one sender to one receiver stay in order (§3.5) and a PEER_GONE never
//!   overtakes the sender's last frames. The receiving node applies the queue limit and the stall
//!   rule of §10.2 and sends errors back the same way.
//! - **Liveness**: every node announces itself each [`HEARTBEAT`]. A node not heard from for
//!   [`NODE_DEAD`] is dead: its clients' partners get PEER_GONE (§3.9). While a node is itself
//!   cut off from NATS it judges nobody, so a NATS restart ends no chat; a node that comes back
//!   after the others judged it is told so, and ends its side of those chats too.
//!
//! The messages between nodes are [`Wire`]; another node is trusted no more than a client.

use crate::peer::{Peer, PushError, Whom, slow_consumer};
use crate::router::{MemoryRouter, Router};
use async_nats::jetstream::{self, kv};
use bytes::{BufMut, Bytes, BytesMut};
use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::LENGTH_PREFIX;
use cryptully_protocol::limits::MAX_RELAY_PAYLOAD;
use cryptully_protocol::relay::RelayMessage;
use futures_util::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// How often a node announces that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which a node is taken for dead (§14.2).
pub const NODE_DEAD: Duration = Duration::from_secs(5);
/// Payload bytes waiting for NATS per node; beyond this, senders get SLOW_CONSUMER (§14.3).
const QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// The longest a key-value request may take before the relay gives up on it.
const KV_TIMEOUT: Duration = Duration::from_secs(3);
/// How long "nobody holds this nickname" is believed without asking again.
const ABSENT_FOR: Duration = Duration::from_millis(500);
/// Nodes remembered at most (heard, or taken for dead).
const MAX_NODES: usize = 4096;
/// Renewals in flight at once.
const RENEWALS: usize = 64;
/// Items taken from a queue before the work they gave is flushed (to NATS, or to sockets).
const BATCH: usize = 1024;
/// Bytes of one NATS message carrying several messages between nodes (NATS allows 1 MiB).
const MAX_BATCH: usize = 256 * 1024;

/// How to join a cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// The NATS server(s), e.g. `nats://127.0.0.1:4222` (comma-separated for several).
    pub url: String,
    /// Names the bucket and subjects, so that several clusters can share one NATS.
    pub name: String,
    /// How long a nickname stays held after its node stops renewing it (§14.1).
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
    /// NATS cannot be asked now; the nickname cannot be known to be free (§14.1).
    Unavailable,
}

/// A message from one node to another (not client wire protocol). `u64`s are big-endian,
/// nicknames `len8 || bytes`. A NATS message carries one or more, each as `u32 len || Wire`.
///
/// | kind | body |
/// | --- | --- |
/// | 1 DELIVER | to conn u64, to nick, from node u64, from conn u64, from nick, payload |
/// | 2 ERROR | to conn u64, to nick, code u8, about nick |
/// | 3 PEER_GONE | to conn u64, to nick, from node u64, from conn u64, gone nick |
/// | 4 JUDGED | by node u64: "I took you for dead; my clients were told yours left" |
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// A frame from `from` for the connection `to` holding `to_nick`.
    Deliver {
        /// The destination connection's id on the receiving node.
        to: u64,
        /// Its nickname.
        to_nick: Nick,
        /// The sending connection.
        from: Whom,
        /// Its nickname, the DELIVER's source.
        from_nick: Nick,
        /// The RELAY's payload: 1 to MAX_RELAY_PAYLOAD bytes.
        payload: Bytes,
    },
    /// What the sender of a frame is to be told: NICK_NOT_FOUND or SLOW_CONSUMER only.
    Error {
        /// The sender's connection id.
        to: u64,
        /// Its nickname.
        to_nick: Nick,
        /// The code.
        code: ErrorCode,
        /// The destination the frame was for.
        about: Nick,
    },
    /// `gone` (connection `from`) has left (§3.9).
    PeerGone {
        /// The connection to tell.
        to: u64,
        /// Its nickname.
        to_nick: Nick,
        /// The connection that left.
        from: Whom,
        /// Its nickname.
        gone: Nick,
    },
    /// Node `by` took the receiver for dead.
    Judged {
        /// The judging node.
        by: u64,
    },
}

const DELIVER: u8 = 1;
const ERROR: u8 = 2;
const PEER_GONE: u8 = 3;
const JUDGED: u8 = 4;

impl Wire {
    /// The bytes sent over NATS.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(64);
        match self {
            Self::Deliver {
                to,
                to_nick,
                from,
                from_nick,
                payload,
            } => {
                b.reserve(payload.len());
                b.put_u8(DELIVER);
                b.put_u64(*to);
                put_nick(&mut b, to_nick);
                put_whom(&mut b, *from);
                put_nick(&mut b, from_nick);
                b.put_slice(payload);
            }
            Self::Error {
                to,
                to_nick,
                code,
                about,
            } => {
                b.put_u8(ERROR);
                b.put_u64(*to);
                put_nick(&mut b, to_nick);
                b.put_u8(code.to_u8());
                put_nick(&mut b, about);
            }
            Self::PeerGone {
                to,
                to_nick,
                from,
                gone,
            } => {
                b.put_u8(PEER_GONE);
                b.put_u64(*to);
                put_nick(&mut b, to_nick);
                put_whom(&mut b, *from);
                put_nick(&mut b, gone);
            }
            Self::Judged { by } => {
                b.put_u8(JUDGED);
                b.put_u64(*by);
            }
        }
        b.freeze()
    }

    /// Appends this message to a batch: `u32 len || Wire`.
    pub fn append_to(&self, batch: &mut BytesMut) {
        let body = self.encode();
        batch.put_u32(body.len() as u32);
        batch.put_slice(&body);
    }

    /// One NATS message carrying `all`, in order (what [`Wire::parse_batch`] reads).
    pub fn encode_batch(all: &[Wire]) -> Bytes {
        let mut batch = BytesMut::new();
        for w in all {
            w.append_to(&mut batch);
        }
        batch.freeze()
    }

    /// Parses a NATS message from another node: `u32 len || Wire`, one or more times. `None` if
    /// any part is malformed.
    pub fn parse_batch(msg: &Bytes) -> Option<Vec<Self>> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < msg.len() {
            let len = msg
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())?;
            let end = (at + 4).checked_add(u32::from_be_bytes(len) as usize)?;
            if end > msg.len() {
                return None;
            }
            out.push(Self::parse(&msg.slice(at + 4..end))?);
            at = end;
        }
        (!out.is_empty()).then_some(out)
    }

    /// Parses one message from another node; `None` for anything malformed, out of range or
    /// with bytes left over.
    pub fn parse(msg: &Bytes) -> Option<Self> {
        let mut r = Reader(msg);
        let wire = match r.u8()? {
            DELIVER => {
                let to = r.u64()?;
                let to_nick = r.nick()?;
                let from = r.whom()?;
                let from_nick = r.nick()?;
                let start = msg.len() - r.0.len();
                let payload = msg.slice(start..);
                r.0 = &[];
                if payload.is_empty() || payload.len() > MAX_RELAY_PAYLOAD {
                    return None;
                }
                Self::Deliver {
                    to,
                    to_nick,
                    from,
                    from_nick,
                    payload,
                }
            }
            ERROR => {
                let to = r.u64()?;
                let to_nick = r.nick()?;
                let code = ErrorCode::from_u8(r.u8()?).ok()?;
                // Only what a node may tell a sender about a frame (§14.2): a fatal code would
                // let one node disconnect another's clients.
                if !matches!(code, ErrorCode::NickNotFound | ErrorCode::SlowConsumer) {
                    return None;
                }
                let about = r.nick()?;
                Self::Error {
                    to,
                    to_nick,
                    code,
                    about,
                }
            }
            PEER_GONE => Self::PeerGone {
                to: r.u64()?,
                to_nick: r.nick()?,
                from: r.whom()?,
                gone: r.nick()?,
            },
            JUDGED => Self::Judged { by: r.u64()? },
            _ => return None,
        };
        r.0.is_empty().then_some(wire)
    }
}

struct Owned {
    peer: Arc<Peer>,
    revision: u64,
    /// When the lease was last written.
    renewed: Instant,
}

/// What the ordered queue carries to NATS.
enum Out {
    Deliver {
        src: Arc<Peer>,
        src_nick: Nick,
        dest: Nick,
        payload: Bytes,
    },
    /// A connection ended: PEER_GONE to its partners on other nodes, then its nickname released.
    Left {
        peer: Arc<Peer>,
        nick: Nick,
        remote: Vec<(Nick, Whom)>,
    },
    /// A node's message to another, in order with the rest.
    Send {
        node: u64,
        wire: Wire,
    },
    /// Deletes an entry this node wrote and no longer holds.
    Release {
        nick: Nick,
        revision: u64,
    },
    Flush(oneshot::Sender<()>),
}

/// Messages for other nodes, collected while the queue is drained, in order per node.
#[derive(Default)]
struct Batches(Vec<Batch>);

struct Batch {
    node: u64,
    /// `u32 len || Wire` repeated: one NATS message.
    bytes: BytesMut,
    /// The senders of the frames in it, told SLOW_CONSUMER if it cannot be sent.
    frames: Vec<(Arc<Peer>, Nick)>,
}

/// Tells the sender `src` what became of its frame to `dest`.
fn tell(src: &Arc<Peer>, code: ErrorCode, dest: Nick) {
    let msg = RelayMessage::Error {
        code,
        nick: Some(dest),
    };
    if src.push_control(&msg) == Err(PushError::Full) {
        src.close(Some(&slow_consumer()), true);
    }
}

enum Route {
    At(Whom),
    Absent(Instant),
}

#[derive(Default)]
struct Nodes {
    /// When each other node was last heard.
    alive: HashMap<u64, Instant>,
    /// Nodes taken for dead, and when.
    dead: HashMap<u64, Instant>,
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
    tx: mpsc::UnboundedSender<Out>,
    /// Payload bytes in the queue (§14.3: bounded by bytes, not by count).
    queued: AtomicUsize,
    routes: Mutex<HashMap<Nick, Route>>,
    owned: Mutex<HashMap<Nick, Owned>>,
    nodes: Mutex<Nodes>,
    stop: watch::Sender<bool>,
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

fn owner_value(node: u64, id: u64) -> Bytes {
    Bytes::from(format!("{node:016x}.{id:x}"))
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
            // Keep trying for ever: a NATS restart must not stop the relay (§14.3).
            .max_reconnects(None)
            .reconnect_delay_callback(|n| Duration::from_millis(100 * (n.min(10) as u64 + 1)))
            .connect(servers)
            .await
            .map_err(|e| ClusterError::Connect(e.to_string()))?;
        let js = jetstream::new(client.clone());
        let (kv, lease) = ensure_bucket(&js, &opts.name, opts.lease)
            .await
            .map_err(ClusterError::Bucket)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, _) = watch::channel(false);
        let cluster = Arc::new(Self {
            node: random_node(),
            prefix: opts.name.clone(),
            client,
            kv,
            lease,
            local: Arc::new(MemoryRouter::default()),
            stall_timeout: config.stall_timeout,
            tx,
            queued: AtomicUsize::new(0),
            routes: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashMap::new()),
            nodes: Mutex::new(Nodes::default()),
            stop,
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
        tokio::spawn(cluster.clone().publish_loop(rx));
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

    fn queue(&self, out: Out) {
        // Only fails once the publish loop has stopped, at shutdown.
        let _ = self.tx.send(out);
    }

    /// Claims `nick` for `peer` across the cluster (§3.4, §14.1).
    pub(crate) async fn claim(&self, nick: &Nick, peer: &Arc<Peer>) -> Claim {
        if !self.connected() {
            return Claim::Unavailable;
        }
        let value = owner_value(self.node, peer.id());
        let key = nick.as_str();
        let created = tokio::time::timeout(KV_TIMEOUT, self.kv.create(key, value.clone())).await;
        let revision = match created {
            Ok(Ok(revision)) => revision,
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Ours, from a connection that has just closed and whose release is still on
                // its way: a client reconnecting at once must not be told NICK_IN_USE.
                match self.take_over_own(nick, value).await {
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
                    renewed: Instant::now(),
                },
            );
        }
        Claim::Won
    }

    /// The entry for `nick` names this node, and the caller holds `nick` in the local router:
    /// any connection of ours it names is closed. Overwrites it.
    async fn take_over_own(&self, nick: &Nick, value: Bytes) -> Option<u64> {
        let key = nick.as_str();
        let entry = tokio::time::timeout(KV_TIMEOUT, self.kv.entry(key))
            .await
            .ok()?
            .ok()??;
        let (node, _) = parse_owner(&entry.value)?;
        if node != self.node {
            return None;
        }
        tokio::time::timeout(KV_TIMEOUT, self.kv.update(key, value, entry.revision))
            .await
            .ok()?
            .ok()
    }

    /// Queues `payload` from `src` for `dest`, which is not on this node (§3.5). An error is what
    /// the sender is told at once; NICK_NOT_FOUND from a lookup comes later, as §3.5 allows.
    pub(crate) fn forward(
        &self,
        src: &Arc<Peer>,
        src_nick: &Nick,
        dest: Nick,
        payload: &[u8],
    ) -> Result<(), ErrorCode> {
        // §14.3: a frame that cannot reach NATS is refused, never dropped silently.
        if !self.connected() {
            return Err(ErrorCode::SlowConsumer);
        }
        let len = payload.len();
        let queued = self.queued.fetch_add(len, Ordering::AcqRel);
        if queued + len > QUEUE_BYTES {
            self.queued.fetch_sub(len, Ordering::AcqRel);
            return Err(ErrorCode::SlowConsumer);
        }
        self.queue(Out::Deliver {
            src: src.clone(),
            src_nick: src_nick.clone(),
            dest,
            payload: Bytes::copy_from_slice(payload),
        });
        Ok(())
    }

    /// `peer` (holding `nick`) has ended. After its last frames, in the same queue: PEER_GONE
    /// to its partners on other nodes (`remote`, and any its last frames reach), then its
    /// nickname is released (§3.9, §14.2).
    pub(crate) fn left(&self, peer: &Arc<Peer>, nick: &Nick, remote: Vec<(Nick, Whom)>) {
        self.queue(Out::Left {
            peer: peer.clone(),
            nick: nick.clone(),
            remote,
        });
    }

    /// Sends everything queued to NATS (waiting at most 3 seconds), then stops this node's
    /// tasks. Called once the node's connections have ended.
    pub async fn leave(&self) {
        let (done, wait) = oneshot::channel();
        self.queue(Out::Flush(done));
        let _ = tokio::time::timeout(KV_TIMEOUT, wait).await;
        let _ = self.stop.send(true);
    }

    fn is_alive(&self, node: u64) -> bool {
        if node == self.node {
            return true;
        }
        let Ok(mut nodes) = self.nodes.lock() else {
            return false;
        };
        if nodes.dead.contains_key(&node) {
            return false;
        }
        // A node with a fresh lease entry that has not been heard yet is given the benefit of
        // the doubt: it is taken for dead if it stays silent.
        if nodes.alive.len() < MAX_NODES {
            nodes.alive.entry(node).or_insert_with(Instant::now);
        }
        true
    }

    /// Where `dest` is: the cache, else the bucket. `Err` when the bucket cannot be asked.
    async fn resolve(&self, dest: &Nick) -> Result<Option<Whom>, ()> {
        let cached = self.routes.lock().ok().and_then(|r| match r.get(dest) {
            Some(Route::At(whom)) => Some(Some(*whom)),
            Some(Route::Absent(since)) if since.elapsed() < ABSENT_FOR => Some(None),
            _ => None,
        });
        match cached {
            Some(Some(whom)) if self.is_alive(whom.node) => return Ok(Some(whom)),
            Some(None) => return Ok(None),
            _ => {}
        }
        let entry = tokio::time::timeout(KV_TIMEOUT, self.kv.entry(dest.as_str()))
            .await
            .map_err(|_| ())?
            .map_err(|_| ())?;
        let found = entry
            .filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| parse_owner(&e.value))
            // Held here means the local lookup missed: that connection has gone.
            .filter(|(node, _)| *node != self.node && self.is_alive(*node))
            .map(|(node, id)| Whom { node, id });
        if let Ok(mut routes) = self.routes.lock() {
            if routes.len() >= 64 * 1024 {
                routes.clear();
            }
            let route = match found {
                Some(whom) => Route::At(whom),
                None => Route::Absent(Instant::now()),
            };
            routes.insert(dest.clone(), route);
        }
        Ok(found)
    }

    fn forget_route(&self, nick: &Nick, whom: Option<Whom>) {
        if let Ok(mut routes) = self.routes.lock() {
            let matches = match (routes.get(nick), whom) {
                (Some(Route::At(at)), Some(w)) => *at == w,
                _ => whom.is_none(),
            };
            if matches {
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

    async fn publish_loop(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Out>) {
        let mut stop = self.stop.subscribe();
        let mut batches = Batches::default();
        loop {
            let out = tokio::select! {
                out = rx.recv() => out,
                _ = stop.changed() => None,
            };
            let Some(out) = out else { return };
            self.process(out, &mut batches).await;
            // Whatever else is waiting goes in the same NATS messages, one per node: under load
            // NATS then carries batches, not single frames.
            for _ in 1..BATCH {
                match rx.try_recv() {
                    Ok(out) => self.process(out, &mut batches).await,
                    Err(_) => break,
                }
            }
            self.send_batches(&mut batches).await;
        }
    }

    async fn process(&self, out: Out, batches: &mut Batches) {
        match out {
            Out::Deliver {
                src,
                src_nick,
                dest,
                payload,
            } => {
                self.queued.fetch_sub(payload.len(), Ordering::AcqRel);
                let code = match self.resolve(&dest).await {
                    // §14.3: the cluster could not be asked; the destination may be there.
                    Err(()) => ErrorCode::SlowConsumer,
                    Ok(None) => ErrorCode::NickNotFound,
                    Ok(Some(to)) => {
                        // Even if the sender has just left: its Left, queued after this,
                        // tells `to`.
                        src.add_contact(&dest, to);
                        let wire = Wire::Deliver {
                            to: to.id,
                            to_nick: dest.clone(),
                            from: Whom {
                                node: self.node,
                                id: src.id(),
                            },
                            from_nick: src_nick,
                            payload,
                        };
                        self.stage(to.node, &wire, Some((src, dest)), batches).await;
                        return;
                    }
                };
                tell(&src, code, dest);
            }
            Out::Left { peer, nick, remote } => {
                let me = Whom {
                    node: self.node,
                    id: peer.id(),
                };
                // Partners its last frames reached after the connection ended count too.
                let later = peer
                    .take_contacts()
                    .into_iter()
                    .filter(|(_, w)| w.node != self.node);
                for (other, whom) in remote.into_iter().chain(later) {
                    let wire = Wire::PeerGone {
                        to: whom.id,
                        to_nick: other,
                        from: me,
                        gone: nick.clone(),
                    };
                    self.stage(whom.node, &wire, None, batches).await;
                }
                let revision = self.owned.lock().ok().and_then(|mut owned| {
                    if owned.get(&nick).is_some_and(|o| o.peer.id() == peer.id()) {
                        owned.remove(&nick).map(|o| o.revision)
                    } else {
                        None
                    }
                });
                if let Some(revision) = revision {
                    self.delete(&nick, revision).await;
                }
            }
            Out::Send { node, wire } => self.stage(node, &wire, None, batches).await,
            Out::Release { nick, revision } => self.delete(&nick, revision).await,
            Out::Flush(done) => {
                self.send_batches(batches).await;
                let _ = tokio::time::timeout(KV_TIMEOUT, self.client.flush()).await;
                let _ = done.send(());
            }
        }
    }

    /// Adds `wire` to the batch for `node`; `frame` is the sender to tell if it is lost.
    async fn stage(
        &self,
        node: u64,
        wire: &Wire,
        frame: Option<(Arc<Peer>, Nick)>,
        batches: &mut Batches,
    ) {
        let i = match batches.0.iter().position(|b| b.node == node) {
            Some(i) => i,
            None => {
                batches.0.push(Batch {
                    node,
                    bytes: BytesMut::new(),
                    frames: Vec::new(),
                });
                batches.0.len() - 1
            }
        };
        let full = match batches.0.get_mut(i) {
            Some(batch) => {
                wire.append_to(&mut batch.bytes);
                batch.frames.extend(frame);
                batch.bytes.len() >= MAX_BATCH
            }
            None => false,
        };
        if full {
            let batch = batches.0.swap_remove(i);
            self.send_batch(batch).await;
        }
    }

    async fn send_batches(&self, batches: &mut Batches) {
        for batch in batches.0.drain(..) {
            self.send_batch(batch).await;
        }
    }

    async fn send_batch(&self, batch: Batch) {
        let sent = self
            .client
            .publish(self.node_subject(batch.node), batch.bytes.freeze())
            .await;
        if sent.is_err() {
            // §14.3: never dropped without a word.
            for (src, dest) in batch.frames {
                tell(&src, ErrorCode::SlowConsumer, dest);
            }
        }
    }

    async fn delete(&self, nick: &Nick, revision: u64) {
        let delete = self
            .kv
            .delete_expect_revision(nick.as_str(), Some(revision));
        let _ = tokio::time::timeout(KV_TIMEOUT, delete).await;
    }

    async fn inbox_loop(self: Arc<Self>, mut inbox: async_nats::Subscriber) {
        let mut stop = self.stop.subscribe();
        let mut dirty: Vec<Arc<Peer>> = Vec::new();
        loop {
            let first = tokio::select! {
                msg = inbox.next() => msg,
                _ = stop.changed() => None,
            };
            let Some(first) = first else { return };
            self.handle(&first.payload, &mut dirty);
            // Everything already received, then one socket write per destination.
            for _ in 1..BATCH {
                match inbox.next().now_or_never() {
                    Some(Some(msg)) => self.handle(&msg.payload, &mut dirty),
                    _ => break,
                }
            }
            for p in dirty.drain(..) {
                p.flush();
            }
        }
    }

    /// One NATS message: `u32 len || Wire`, repeated.
    fn handle(&self, msg: &Bytes, dirty: &mut Vec<Arc<Peer>>) {
        let Some(batch) = Wire::parse_batch(msg) else {
            // Logged without its content; none of it is trusted.
            tracing::warn!(bytes = msg.len(), "malformed message from the cluster");
            return;
        };
        for wire in batch {
            self.handle_one(wire, dirty);
        }
    }

    fn handle_one(&self, wire: Wire, dirty: &mut Vec<Arc<Peer>>) {
        match wire {
            Wire::Deliver {
                to,
                to_nick,
                from,
                from_nick,
                payload,
            } => {
                let bounce = match self.local_peer(&to_nick, to) {
                    None => Some(ErrorCode::NickNotFound),
                    Some(target) => {
                        let code = self.deliver(&target, from, &from_nick, &payload);
                        if code.is_none() && !dirty.iter().any(|p| Arc::ptr_eq(p, &target)) {
                            dirty.push(target);
                        }
                        code
                    }
                };
                if let Some(code) = bounce {
                    let wire = Wire::Error {
                        to: from.id,
                        to_nick: from_nick,
                        code,
                        about: to_nick,
                    };
                    self.queue(Out::Send {
                        node: from.node,
                        wire,
                    });
                }
            }
            Wire::Error {
                to,
                to_nick,
                code,
                about,
            } => {
                if code == ErrorCode::NickNotFound {
                    self.forget_route(&about, None);
                }
                let msg = RelayMessage::Error {
                    code,
                    nick: Some(about),
                };
                self.tell_local(&to_nick, to, &msg);
            }
            Wire::PeerGone {
                to,
                to_nick,
                from,
                gone,
            } => {
                self.forget_route(&gone, Some(from));
                // §3.9: only a connection that exchanged frames with exactly that connection.
                if let Some(p) = self.local_peer(&to_nick, to) {
                    if p.remove_contact_if(&gone, from) {
                        let _ = p.push_control(&RelayMessage::PeerGone { nick: gone });
                    }
                }
            }
            // §14.2: node `by` told its clients that ours had left; ours are told the same of
            // theirs, so that both ends agree the chats ended.
            Wire::Judged { by } => self.partners_gone(by),
        }
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
            buf.put_u32(len as u32);
            buf.put_u8(0x82);
            buf.put_u8(nick.len() as u8);
            buf.put_slice(nick);
            buf.put_slice(payload);
        });
        match pushed {
            Ok(()) => {
                target.add_contact(src_nick, src);
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
        let mut stop = self.stop.subscribe();
        let subject = format!("{}.alive", self.prefix);
        let beat = Bytes::copy_from_slice(&self.node.to_be_bytes());
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut down_since: Option<Instant> = None;
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                // Heard first: a busy tick must not make a live node look silent.
                heard = beats.next() => {
                    let Some(heard) = heard else { return };
                    let Ok(id) = <[u8; 8]>::try_from(&heard.payload[..]) else { continue };
                    self.heard(u64::from_be_bytes(id));
                }
                _ = tick.tick() => {
                    if !self.connected() {
                        down_since.get_or_insert_with(Instant::now);
                        continue;
                    }
                    let _ = self.client.publish(subject.clone(), beat.clone()).await;
                    if down_since.take().is_some() {
                        // Back after an outage: the others were silent because we were cut
                        // off. Start counting afresh; a node that judged us will say so.
                        let now = Instant::now();
                        if let Ok(mut nodes) = self.nodes.lock() {
                            nodes.alive.values_mut().for_each(|t| *t = now);
                        }
                        continue;
                    }
                    self.judge();
                }
            }
        }
    }

    fn heard(&self, node: u64) {
        if node == self.node {
            return;
        }
        let was_dead = match self.nodes.lock() {
            Ok(mut nodes) => {
                if nodes.alive.len() >= MAX_NODES && !nodes.alive.contains_key(&node) {
                    return;
                }
                nodes.alive.insert(node, Instant::now());
                nodes.dead.remove(&node).is_some()
            }
            Err(_) => return,
        };
        if was_dead {
            // It was cut off, not gone. Our clients were told its clients left; it must tell
            // its clients the same of ours (§14.2). New frames reach it again from now on.
            tracing::info!(node = %format_args!("{node:016x}"), "a cluster node answers again");
            self.queue(Out::Send {
                node,
                wire: Wire::Judged { by: self.node },
            });
        }
    }

    fn judge(&self) {
        let now = Instant::now();
        let died: Vec<u64> = match self.nodes.lock() {
            Ok(mut nodes) => {
                let died: Vec<u64> = nodes
                    .alive
                    .iter()
                    .filter(|(_, t)| now.duration_since(**t) >= NODE_DEAD)
                    .map(|(n, _)| *n)
                    .collect();
                for n in &died {
                    nodes.alive.remove(n);
                    nodes.dead.insert(*n, now);
                }
                // Forget long-dead nodes: node ids are not reused.
                nodes
                    .dead
                    .retain(|_, t| now.duration_since(*t) < Duration::from_secs(3600));
                while nodes.dead.len() > MAX_NODES {
                    let Some(oldest) = nodes.dead.iter().min_by_key(|(_, t)| **t).map(|(n, _)| *n)
                    else {
                        break;
                    };
                    nodes.dead.remove(&oldest);
                }
                died
            }
            Err(_) => Vec::new(),
        };
        for node in died {
            tracing::warn!(node = %format_args!("{node:016x}"), "a cluster node stopped answering");
            if let Ok(mut routes) = self.routes.lock() {
                routes.retain(|_, r| !matches!(r, Route::At(w) if w.node == node));
            }
            self.partners_gone(node);
        }
    }

    /// §3.9 across nodes: every local connection is told that its partners on `node` left.
    fn partners_gone(&self, node: u64) {
        for p in self.local.peers() {
            for nick in p.remove_contacts_on(node) {
                let _ = p.push_control(&RelayMessage::PeerGone { nick });
            }
        }
    }

    async fn lease_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            let held: Vec<(Nick, Arc<Peer>, u64, Instant)> = match self.owned.lock() {
                Ok(owned) => owned
                    .iter()
                    .filter(|(_, o)| !o.peer.is_closed())
                    .map(|(n, o)| (n.clone(), o.peer.clone(), o.revision, o.renewed))
                    .collect(),
                Err(_) => continue,
            };
            let connected = self.connected();
            let this = &self;
            let results: Vec<_> = futures_util::stream::iter(held)
                .map(|(nick, peer, revision, renewed)| async move {
                    let renewal = if connected {
                        this.renew(&nick, &peer, revision).await
                    } else {
                        Renewal::Unknown
                    };
                    (nick, peer, renewed, renewal)
                })
                .buffer_unordered(RENEWALS)
                .collect()
                .await;
            for (nick, peer, renewed, renewal) in results {
                self.renewed(nick, &peer, renewed, renewal);
            }
        }
    }

    fn renewed(&self, nick: Nick, peer: &Arc<Peer>, renewed: Instant, renewal: Renewal) {
        let mut owned = match self.owned.lock() {
            Ok(o) => o,
            Err(_) => return,
        };
        let still_ours = owned.get(&nick).is_some_and(|o| o.peer.id() == peer.id());
        match renewal {
            Renewal::Kept(revision) if still_ours => {
                if let Some(o) = owned.get_mut(&nick) {
                    o.revision = revision;
                    o.renewed = Instant::now();
                }
            }
            // Released or taken over while the renewal was on its way: that write must not
            // keep the nickname held until the lease runs out.
            Renewal::Kept(revision) => {
                drop(owned);
                self.queue(Out::Release { nick, revision });
            }
            Renewal::Lost => {
                // §14.1: someone else holds it now; this connection may not speak as it.
                if still_ours {
                    owned.remove(&nick);
                }
                drop(owned);
                tracing::warn!(conn = peer.id(), "lost a nickname's lease; closing");
                let msg = RelayMessage::Error {
                    code: ErrorCode::NickInUse,
                    nick: Some(nick),
                };
                peer.close(Some(&msg), false);
            }
            Renewal::Unknown if renewed.elapsed() >= self.lease => {
                // §14.3: not renewed for a whole lease; another node may have given the name to
                // someone else by now.
                if still_ours {
                    owned.remove(&nick);
                }
                drop(owned);
                tracing::warn!(
                    conn = peer.id(),
                    "could not renew a nickname's lease; closing"
                );
                let msg = RelayMessage::Error {
                    code: ErrorCode::ServerFull,
                    nick: None,
                };
                peer.close(Some(&msg), false);
            }
            Renewal::Unknown => {}
        }
    }

    async fn renew(&self, nick: &Nick, peer: &Arc<Peer>, revision: u64) -> Renewal {
        let value = owner_value(self.node, peer.id());
        let key = nick.as_str();
        let update = self.kv.update(key, value.clone(), revision);
        match tokio::time::timeout(KV_TIMEOUT, update).await {
            Ok(Ok(revision)) => return Renewal::Kept(revision),
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {}
            _ => return Renewal::Unknown,
        }
        // Our entry is gone (the lease ran out during an outage) or replaced. Claim it again:
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

/// Opens the bucket, creating it if needed; returns it and the lease in force (an existing
/// bucket's, which every node must share).
async fn ensure_bucket(
    js: &jetstream::Context,
    name: &str,
    lease: Duration,
) -> Result<(kv::Store, Duration), String> {
    let bucket = format!("{name}-nicks");
    // The key-value conventions written out as a stream, because `create_key_value` first asks
    // for account details that nats-server 2.9 (Debian 12) does not send.
    let config = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        description: Some("Cryptully: which relay node holds which nickname".into()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        // The lease: an entry nobody renews is removed (§14.1).
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
    let stream = match tokio::time::timeout(KV_TIMEOUT, js.get_or_create_stream(config)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err("timed out".into()),
    };
    let existing = stream.cached_info().config.max_age;
    let lease = if existing != lease {
        if existing < Duration::from_secs(3) {
            return Err(format!(
                "the bucket's lease is {existing:?}, too short to renew in time"
            ));
        }
        tracing::warn!(
            "the cluster's lease is {} s (set by its first node); using it instead of {} s",
            existing.as_secs_f64(),
            lease.as_secs_f64()
        );
        existing
    } else {
        lease
    };
    match tokio::time::timeout(KV_TIMEOUT, js.get_key_value(bucket)).await {
        Ok(Ok(kv)) => Ok((kv, lease)),
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

fn put_whom(b: &mut BytesMut, whom: Whom) {
    b.put_u64(whom.node);
    b.put_u64(whom.id);
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

    fn whom(&mut self) -> Option<Whom> {
        Some(Whom {
            node: self.u64()?,
            id: self.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(s: &str) -> Nick {
        Nick::new(s).expect("a valid nickname")
    }

    #[test]
    fn cluster_14_owner_values_round_trip_and_junk_is_refused() {
        assert_eq!(
            parse_owner(&owner_value(0xdead_beef, 42)),
            Some((0xdead_beef, 42))
        );
        assert_eq!(parse_owner(b"nonsense"), None);
        assert_eq!(parse_owner(b"zz.1"), None);
        assert_eq!(parse_owner(&[0xff, b'.', b'1']), None);
    }

    #[test]
    fn cluster_14_messages_between_nodes_round_trip() {
        let from = Whom { node: 7, id: 9 };
        let all = [
            Wire::Deliver {
                to: 3,
                to_nick: nick("bob"),
                from,
                from_nick: nick("alice"),
                payload: Bytes::from_static(b"hello"),
            },
            Wire::Error {
                to: 9,
                to_nick: nick("alice"),
                code: ErrorCode::SlowConsumer,
                about: nick("bob"),
            },
            Wire::PeerGone {
                to: 9,
                to_nick: nick("alice"),
                from,
                gone: nick("bob"),
            },
            Wire::Judged { by: 11 },
        ];
        for w in all {
            assert_eq!(Wire::parse(&w.encode()), Some(w));
        }
    }

    #[test]
    fn cluster_14_2_a_node_cannot_send_what_a_relay_would_not() {
        let deliver = |payload: Vec<u8>| {
            Wire::Deliver {
                to: 1,
                to_nick: nick("bob"),
                from: Whom { node: 2, id: 3 },
                from_nick: nick("alice"),
                payload: payload.into(),
            }
            .encode()
        };
        assert!(Wire::parse(&deliver(vec![1; MAX_RELAY_PAYLOAD])).is_some());
        assert_eq!(Wire::parse(&deliver(vec![1; MAX_RELAY_PAYLOAD + 1])), None);
        assert_eq!(Wire::parse(&deliver(Vec::new())), None);
        // A fatal code would let one node disconnect another's clients.
        let error = |code| {
            Wire::Error {
                to: 1,
                to_nick: nick("a"),
                code,
                about: nick("b"),
            }
            .encode()
        };
        assert!(Wire::parse(&error(ErrorCode::NickNotFound)).is_some());
        assert_eq!(Wire::parse(&error(ErrorCode::Malformed)), None);
        assert_eq!(Wire::parse(&error(ErrorCode::ServerFull)), None);
    }

    #[test]
    fn cluster_14_malformed_messages_between_nodes_are_refused() {
        let good = Wire::PeerGone {
            to: 9,
            to_nick: nick("alice"),
            from: Whom { node: 1, id: 2 },
            gone: nick("bob"),
        }
        .encode();
        for cut in 0..good.len() {
            assert_eq!(Wire::parse(&good.slice(..cut)), None, "cut at {cut}");
        }
        let mut long = BytesMut::from(&good[..]);
        long.put_u8(0);
        assert_eq!(Wire::parse(&long.freeze()), None, "a byte left over");
        assert_eq!(
            Wire::parse(&Bytes::from_static(&[9, 0, 0])),
            None,
            "unknown kind"
        );
        let mut r = Reader(&[2, b'a', b' ']);
        assert_eq!(r.nick(), None, "not a nickname");
    }

    #[test]
    fn cluster_14_batches_carry_messages_in_order_and_refuse_any_bad_part() {
        let a = Wire::Judged { by: 1 }.encode();
        let batch = Wire::encode_batch(&[Wire::Judged { by: 1 }, Wire::Judged { by: 2 }]);
        assert_eq!(
            Wire::parse_batch(&batch),
            Some(vec![Wire::Judged { by: 1 }, Wire::Judged { by: 2 }])
        );
        let boundary = 4 + a.len();
        for cut in (0..batch.len()).filter(|c| *c != boundary) {
            assert_eq!(Wire::parse_batch(&batch.slice(..cut)), None, "cut at {cut}");
        }
        assert_eq!(
            Wire::parse_batch(&batch.slice(..boundary)),
            Some(vec![Wire::Judged { by: 1 }])
        );
        let mut huge = BytesMut::new();
        huge.put_u32(u32::MAX);
        huge.put_slice(&a);
        assert_eq!(Wire::parse_batch(&huge.freeze()), None);
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
