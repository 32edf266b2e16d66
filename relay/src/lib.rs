//! # cryptully-relay
//!
//! The reference relay (spec §3): it registers nicknames and forwards opaque payloads between
//! them, rewriting the source so nobody can speak as someone else. It never sees plaintext, and at
//! the default log level it logs neither payloads nor who talks to whom.
//!
//! Every limit of spec §10.2 is a field of [`Config`]. [`spawn`] runs a relay in the background
//! (tests, the desktop client's embedded relay); [`serve`] runs one until a shutdown future
//! resolves (the `cryptully-relay` binary).

#![forbid(unsafe_code)]

mod bucket;
pub mod cli;
pub mod cluster;
mod conn;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod natsd;
pub mod ops;
pub mod peer;
pub mod router;
pub mod tls;

use router::{MemoryRouter, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The relay's limits (§10.2), each with the spec's default.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest frame body accepted (§2.1); at most 65536.
    pub max_frame: usize,
    /// Connections held at once; more get ERROR SERVER_FULL.
    pub max_connections: usize,
    /// Time from connect to REGISTERED before ERROR TIMEOUT.
    pub register_timeout: Duration,
    /// Time without a byte from a registered client before ERROR TIMEOUT.
    pub idle_timeout: Duration,
    /// Time a frame may take to arrive whole once its first byte came (§10.2): a client that
    /// stalls in the middle of a frame is closed with ERROR TIMEOUT.
    pub frame_timeout: Duration,
    /// Messages per second per connection (token bucket rate).
    pub rate_messages: f64,
    /// Messages a connection may send in a burst.
    pub rate_messages_burst: f64,
    /// Bytes per second per connection.
    pub rate_bytes: f64,
    /// Bytes a connection may send in a burst.
    pub rate_bytes_burst: f64,
    /// Bytes queued for one connection; frames for it beyond this are dropped and their senders
    /// told SLOW_CONSUMER naming it (§10.2).
    pub queue_bytes: usize,
    /// How long a connection with a full queue may go without its socket taking a byte before
    /// it is dropped as a slow consumer (§10.2). A reader that is slow but reads is never
    /// dropped for it.
    pub stall_timeout: Duration,
    /// TLS 1.3 for every connection (§15); `None` serves plain TCP.
    pub tls: Option<Arc<tls::Tls>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame: cryptully_protocol::limits::MAX_FRAME,
            max_connections: 10_000,
            register_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            frame_timeout: Duration::from_secs(30),
            rate_messages: 200.0,
            rate_messages_burst: 400.0,
            rate_bytes: 1024.0 * 1024.0,
            rate_bytes_burst: 2.0 * 1024.0 * 1024.0,
            queue_bytes: 1024 * 1024,
            stall_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// State shared by every connection of one relay.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) router: Arc<dyn Router>,
    /// The cluster this relay is a node of, if any (§14).
    pub(crate) cluster: Option<Arc<cluster::Cluster>>,
    /// This node's id in the cluster; 0 for a relay of one process.
    pub(crate) node: u64,
    pub(crate) shutdown: watch::Sender<bool>,
    connections: AtomicUsize,
    next_id: AtomicU64,
}

/// Serves `listener` until `shutdown` resolves, then sends SHUTDOWN to every client (§3.8) and
/// returns once they are closed (or after 5 seconds).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(
        listener,
        config,
        Arc::new(MemoryRouter::default()),
        shutdown,
    )
    .await
}

/// [`serve`] with another routing backend.
pub async fn serve_with(
    listener: TcpListener,
    config: Config,
    router: Arc<dyn Router>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    run(listener, config, router, None, shutdown).await
}

/// [`serve`] as a node of `cluster` (§14): nicknames are unique across every node and frames
/// reach nicknames on any node. At shutdown the node hands its last notices to NATS before it
/// returns.
pub async fn serve_cluster(
    listener: TcpListener,
    config: Config,
    cluster: Arc<cluster::Cluster>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = cluster.local();
    let served = run(listener, config, router, Some(cluster.clone()), shutdown).await;
    cluster.leave().await;
    served
}

async fn run(
    listener: TcpListener,
    config: Config,
    router: Arc<dyn Router>,
    cluster: Option<Arc<cluster::Cluster>>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (tx, _) = watch::channel(false);
    let shared = Arc::new(Shared {
        config,
        router,
        node: cluster.as_ref().map_or(0, |c| c.node()),
        cluster,
        shutdown: tx,
        connections: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
    });
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(5);
                    accept(&shared, &mut tasks, stream);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tracing::info!(
        connections = shared.connections.load(Ordering::Relaxed),
        "shutting down"
    );
    let _ = shared.shutdown.send(true);
    let drained = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tasks.abort_all();
    }
    Ok(())
}

fn accept(shared: &Arc<Shared>, tasks: &mut JoinSet<()>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let count = shared.connections.fetch_add(1, Ordering::AcqRel);
    if count >= shared.config.max_connections {
        shared.connections.fetch_sub(1, Ordering::AcqRel);
        tasks.spawn(server_full(stream, shared.config.tls.clone()));
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let shared = shared.clone();
    tasks.spawn(async move {
        let sides = match &shared.config.tls {
            None => Some(tls::plain(stream)),
            Some(tls) => {
                let limit = shared.config.register_timeout;
                tokio::time::timeout(limit, handshake(stream, tls))
                    .await
                    .ok()
                    .flatten()
            }
        };
        if let Some(sides) = sides {
            conn::serve(shared.clone(), sides, id).await;
        }
        shared.connections.fetch_sub(1, Ordering::AcqRel);
    });
}

/// §15.2: the TLS handshake, or, for a client that speaks plain frames to a TLS relay, a TLS
/// alert it can recognise, then the close.
async fn handshake(
    mut stream: TcpStream,
    tls: &tls::Tls,
) -> Option<(tls::ReadSide, tls::WriteSide)> {
    let mut first = [0u8; 1];
    stream.peek(&mut first).await.ok()?;
    // A TLS handshake record starts 0x16; a frame's length prefix starts 0x00 (§2.1).
    if first[0] != 0x16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = stream.write_all(&tls::PLAIN_REFUSED).await;
        let _ = stream.shutdown().await;
        // Read what the client sent before closing: closing with unread bytes makes the system
        // reset the connection, and the client may then never read the alert.
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
        return None;
    }
    match tls.acceptor().accept(stream).await {
        Ok(s) => Some(tls::secure(s)),
        Err(e) => {
            tracing::debug!("TLS handshake failed: {e}");
            None
        }
    }
}

async fn server_full(stream: TcpStream, tls: Option<Arc<tls::Tls>>) {
    use cryptully_protocol::errors::ErrorCode;
    use cryptully_protocol::relay::RelayMessage;
    let msg = RelayMessage::Error {
        code: ErrorCode::ServerFull,
        nick: None,
    };
    let mut body = Vec::new();
    cryptully_protocol::framing::encode_frame(&msg.to_bytes(), &mut body);
    let answer = async {
        // Over TLS too, so that the client reads SERVER_FULL rather than a broken handshake.
        let sides = match tls {
            None => Some(tls::plain(stream)),
            Some(tls) => handshake(stream, &tls).await,
        };
        if let Some((_, mut w)) = sides {
            let _ = w.write_all(&body).await;
            let _ = w.shutdown().await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// A relay running in the background.
#[derive(Debug)]
pub struct RelayHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RelayHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it as SIGTERM would: SHUTDOWN to every client, then close.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

/// Binds a listening socket with a deep accept queue: many clients connecting at once (a
/// relay restart, a load test) must not overflow the default backlog of 1024.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    // The kernel caps this at its own limit (net.core.somaxconn on Linux).
    socket.listen(8192)
}

/// Joins the cluster `opts`, binds `addr` and serves as a node in a background task (§14).
pub async fn spawn_cluster(
    addr: SocketAddr,
    config: Config,
    opts: &cluster::ClusterOptions,
) -> Result<RelayHandle, Box<dyn std::error::Error + Send + Sync>> {
    let cluster = cluster::Cluster::join(opts, &config).await?;
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_cluster(listener, config, cluster, async move {
        let _ = stopped.await;
    }));
    Ok(RelayHandle {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Binds `addr` (port 0 for any free port) and serves in a background task.
pub async fn spawn(addr: SocketAddr, config: Config) -> std::io::Result<RelayHandle> {
    let listener = bind(addr)?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, config, async move {
        let _ = stopped.await;
    }));
    Ok(RelayHandle {
        addr,
        stop: Some(stop),
        task,
    })
}
