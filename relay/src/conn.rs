//! One client connection: the relay states of §3.10, the limits of §10.2, routing (§3.5) and the
//! PEER_GONE notices of §3.9.

use crate::bucket::TokenBucket;
use crate::cluster::Claim;
use crate::peer::{Peer, PushError, Whom, slow_consumer};
use crate::tls::{ReadSide, WriteSide};
use crate::{Config, Shared};
use bytes::BytesMut;
use cryptully_protocol::Nick;
use cryptully_protocol::codec::DecodeError;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::{FrameError, LENGTH_PREFIX, check_frame};
use cryptully_protocol::limits::MAX_RELAY_PAYLOAD;
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::versioning::RELAY_VERSION;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::time::{Instant, sleep_until};

/// HELLO's type byte (§3.3). The state check of §3.11 reads type bytes before decoding.
const HELLO: u8 = 0x01;
/// REGISTER's type byte (§3.4).
const REGISTER: u8 = 0x02;
/// RELAY's type byte (§3.5): the hot path parses it without allocating.
const RELAY: u8 = 0x03;
/// PING's type byte (§3.7).
const PING: u8 = 0x04;
/// BYE's type byte (§3.1).
const BYE: u8 = 0x05;
/// DELIVER's type byte (§3.1).
const DELIVER: u8 = 0x82;
/// Room made in a connection's read buffer before each read.
const READ_BUFFER: usize = 16 * 1024;
/// How long a connection keeps its read buffer after its last data.
const KEEP_BUFFER: std::time::Duration = std::time::Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    ExpectHello,
    ExpectRegister,
    Registered,
}

/// What handling one frame asks of the read loop.
enum Next {
    Continue,
    Close,
    /// REGISTER, which a cluster answers only after asking NATS (§14).
    Register(Nick),
}

struct Conn {
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    state: State,
    /// DELIVER's header for frames from this connection: `type || len8(nick) || nick`.
    deliver_header: Vec<u8>,
    /// Destinations looked up before, by the exact bytes the client used (§3.5).
    routes: HashMap<Box<[u8]>, Arc<Peer>>,
    messages: TokenBucket,
    bytes: TokenBucket,
    /// Destinations given frames since the last read, to flush before reading again.
    dirty: Vec<Arc<Peer>>,
}

/// Serves one accepted connection until it closes.
pub(crate) async fn serve(shared: Arc<Shared>, (reader, writer): (ReadSide, WriteSide), id: u64) {
    let peer = Peer::new(
        id,
        shared.config.queue_bytes,
        shared.config.stall_timeout,
        writer,
    );
    let writer_task = tokio::spawn(peer.clone().write_loop());
    let now = Instant::now();
    let config: &Config = &shared.config;
    let mut conn = Conn {
        messages: TokenBucket::new(config.rate_messages, config.rate_messages_burst, now),
        bytes: TokenBucket::new(config.rate_bytes, config.rate_bytes_burst, now),
        shared: shared.clone(),
        peer: peer.clone(),
        state: State::ExpectHello,
        deliver_header: Vec::new(),
        routes: HashMap::new(),
        dirty: Vec::new(),
    };
    conn.read_loop(reader).await;
    conn.finish();
    let _ = writer_task.await;
}

impl Conn {
    async fn read_loop(&mut self, mut reader: ReadSide) {
        let mut shutdown = self.shared.shutdown.subscribe();
        let register_deadline = Instant::now() + self.shared.config.register_timeout;
        let mut buf = BytesMut::new();
        let mut active = false;
        let mut last_read: Option<Instant> = None;
        // §10.2: only bytes that arrive move the idle deadline, and a frame that has begun must
        // be whole within the frame timeout (a stalled half-frame used to keep a connection,
        // and its buffer, alive for ever).
        let mut last_bytes = Instant::now();
        let mut frame_started: Option<Instant> = None;
        loop {
            let now = Instant::now();
            // Every whole frame buffered, then one write per destination, before waiting again.
            let next = loop {
                match check_frame(&buf, self.shared.config.max_frame) {
                    Ok(Some(len)) => {
                        let frame = buf.split_to(LENGTH_PREFIX + len);
                        let body = frame.get(LENGTH_PREFIX..).unwrap_or_default();
                        match self.frame(body, now) {
                            Next::Continue => {}
                            Next::Close => break Next::Close,
                            Next::Register(nick) => self.register(nick).await,
                        }
                    }
                    Ok(None) => break Next::Continue,
                    Err(FrameError::Length { length: 0, .. }) => {
                        self.fail(ErrorCode::Malformed);
                        break Next::Close;
                    }
                    Err(_) => {
                        self.fail(ErrorCode::FrameTooLarge);
                        break Next::Close;
                    }
                }
            };
            for target in self.dirty.drain(..) {
                target.flush();
            }
            if let Next::Close = next {
                return;
            }
            if buf.is_empty() {
                frame_started = None;
            } else if frame_started.is_none() {
                frame_started = Some(now);
            }
            let mut deadline = if self.state == State::Registered {
                last_bytes + self.shared.config.idle_timeout
            } else {
                register_deadline
            };
            if let Some(started) = frame_started {
                deadline = deadline.min(started + self.shared.config.frame_timeout);
            }
            // A busy connection keeps its read buffer and reads straight into it: a short read
            // tells tokio the socket is drained, so no further read is spent to learn that. After
            // a quiet spell the buffer goes (memory per idle connection, §10.2) and the
            // connection only waits for readiness.
            let quiet = now + KEEP_BUFFER;
            let wake = if active && quiet < deadline {
                quiet
            } else {
                deadline
            };
            // Over TLS there is no readiness to wait for: always read into a real buffer.
            if active || !reader.has_readiness() {
                buf.reserve(READ_BUFFER);
            } else if buf.is_empty() {
                // Idle: hold no read buffer while waiting (memory per idle connection).
                buf = BytesMut::new();
            }
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    self.peer.close(Some(&RelayMessage::Shutdown), false);
                    return;
                }
                () = self.peer.closed() => return,
                () = sleep_until(wake) => {
                    if wake == deadline {
                        return self.fail(ErrorCode::Timeout);
                    }
                    if buf.is_empty() {
                        buf = BytesMut::new();
                        active = false;
                    }
                }
                read = async {
                    // Over TLS, bytes on the socket are not yet frames: read through rustls.
                    if active || !reader.has_readiness() {
                        reader.read_buf(&mut buf).await.map(Some)
                    } else {
                        reader.readable().await.map(|()| None)
                    }
                } => {
                    match read {
                        Ok(Some(0)) | Err(_) => return,
                        Ok(Some(_)) => {
                            last_bytes = Instant::now();
                            continue;
                        }
                        Ok(None) => {}
                    }
                    buf.reserve(READ_BUFFER);
                    match reader.try_read_buf(&mut buf) {
                        Ok(0) => return,
                        Ok(_) => {
                            last_bytes = Instant::now();
                            // Data twice in a short while: busy, keep the buffer. (Registering
                            // is one read; holding a buffer after it would cost every idle
                            // connection.)
                            let at = Instant::now();
                            active = last_read.is_some_and(|t| at.duration_since(t) < KEEP_BUFFER);
                            last_read = Some(at);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            }
        }
    }

    /// Sends ERROR `code` and closes (§9.1).
    fn fail(&self, code: ErrorCode) {
        self.peer
            .close(Some(&RelayMessage::Error { code, nick: None }), false);
    }

    /// Queues a message for this connection; if its own queue is full it is a slow consumer.
    fn reply(&self, msg: &RelayMessage) {
        if self.peer.push_control(msg) == Err(PushError::Full) {
            self.peer.close(Some(&slow_consumer()), true);
        }
    }

    fn frame(&mut self, body: &[u8], now: Instant) -> Next {
        // §10.2 rate limits: the frame is dropped and the client told. BYE only ends the
        // connection, so it is never held back.
        let limited = body.first() != Some(&BYE)
            && (!self.messages.take(1.0, now) || !self.bytes.take(body.len() as f64, now));
        if limited {
            self.reply(&RelayMessage::Error {
                code: ErrorCode::RateLimited,
                nick: None,
            });
            return Next::Continue;
        }
        if self.state == State::Registered && body.first() == Some(&RELAY) {
            return self.relay(body);
        }
        // §3.11 precedence: a known type that the state does not accept is UNEXPECTED_MESSAGE
        // whatever its fields hold (so a RELAY with a bad nickname before REGISTER closes the
        // connection rather than getting INVALID_NICK); an unknown type is MALFORMED below.
        let accepted = match (self.state, body.first().copied()) {
            (_, Some(BYE)) => true,
            (State::ExpectHello, Some(HELLO)) => true,
            (State::ExpectRegister, Some(REGISTER | PING)) => true,
            (State::Registered, Some(PING)) => true,
            (_, Some(HELLO | REGISTER | RELAY | PING)) => false,
            _ => true,
        };
        if !accepted {
            self.fail(ErrorCode::UnexpectedMessage);
            return Next::Close;
        }
        let msg = match ClientMessage::decode(body) {
            Ok(msg) => msg,
            Err(DecodeError::InvalidNick) if self.state == State::ExpectRegister => {
                self.reply(&RelayMessage::Error {
                    code: ErrorCode::InvalidNick,
                    nick: None,
                });
                return Next::Continue;
            }
            Err(_) => {
                self.fail(ErrorCode::Malformed);
                return Next::Close;
            }
        };
        match (self.state, msg) {
            (State::ExpectHello, ClientMessage::Hello { version }) => {
                if version != RELAY_VERSION {
                    self.fail(ErrorCode::UnsupportedVersion);
                    return Next::Close;
                }
                self.state = State::ExpectRegister;
            }
            (State::ExpectRegister, ClientMessage::Register { nick }) => {
                return Next::Register(nick);
            }
            (State::ExpectRegister | State::Registered, ClientMessage::Ping { token }) => {
                self.reply(&RelayMessage::Pong { token });
            }
            (_, ClientMessage::Bye) => {
                self.peer.close(None, false);
                return Next::Close;
            }
            _ => {
                self.fail(ErrorCode::UnexpectedMessage);
                return Next::Close;
            }
        }
        Next::Continue
    }

    async fn register(&mut self, nick: Nick) {
        let canonical = nick.canonical();
        if !self.shared.router.register(&canonical, &self.peer) {
            self.reply(&RelayMessage::Error {
                code: ErrorCode::NickInUse,
                nick: Some(canonical),
            });
            return;
        }
        if let Some(cluster) = &self.shared.cluster {
            let refused = match cluster.claim(&canonical, &self.peer).await {
                Claim::Won => None,
                Claim::InUse => Some(ErrorCode::NickInUse),
                // §14: uniqueness cannot be checked without NATS; "try later".
                Claim::Unavailable => Some(ErrorCode::ServerFull),
            };
            if let Some(code) = refused {
                self.shared.router.unregister(&canonical, &self.peer);
                if code == ErrorCode::ServerFull {
                    self.fail(code);
                } else {
                    self.reply(&RelayMessage::Error {
                        code,
                        nick: Some(canonical),
                    });
                }
                return;
            }
        }
        tracing::debug!(conn = self.peer.id(), "registered");
        let bytes = canonical.as_str().as_bytes();
        self.deliver_header = Vec::with_capacity(2 + bytes.len());
        self.deliver_header.push(DELIVER);
        self.deliver_header.push(bytes.len() as u8);
        self.deliver_header.extend_from_slice(bytes);
        self.state = State::Registered;
        self.reply(&RelayMessage::Registered {
            nick: canonical.clone(),
        });
        // Routable only from here, so that nothing is queued before REGISTERED (§14.1).
        self.peer.set_nick(canonical);
    }

    /// §3.5: RELAY becomes DELIVER with the registered source.
    fn relay(&mut self, body: &[u8]) -> Next {
        let nick_len = usize::from(body.get(1).copied().unwrap_or(0));
        let (Some(dest), Some(payload)) = (body.get(2..2 + nick_len), body.get(2 + nick_len..))
        else {
            self.fail(ErrorCode::Malformed);
            return Next::Close;
        };
        if payload.is_empty() {
            self.fail(ErrorCode::Malformed);
            return Next::Close;
        }
        // §3.5: the DELIVER must fit in a frame whatever the source's length, or the receiver
        // would have to drop its connection (§2.1): one frame could knock anyone off.
        if payload.len() > MAX_RELAY_PAYLOAD {
            self.fail(ErrorCode::FrameTooLarge);
            return Next::Close;
        }
        if !Nick::is_valid(dest) {
            self.reply(&RelayMessage::Error {
                code: ErrorCode::InvalidNick,
                nick: None,
            });
            return Next::Continue;
        }
        let Some(target) = self.route(dest) else {
            let nick = Nick::from_bytes(dest).ok().map(|n| n.canonical());
            if let (Some(cluster), Some(own), Some(dest)) =
                (&self.shared.cluster, self.peer.nick(), nick.clone())
            {
                // §14: not on this node; another node may hold it.
                if let Err(code) = cluster.forward(&self.peer, own, dest.clone(), payload) {
                    self.reply(&RelayMessage::Error {
                        code,
                        nick: Some(dest),
                    });
                }
                return Next::Continue;
            }
            self.reply(&RelayMessage::Error {
                code: ErrorCode::NickNotFound,
                nick,
            });
            return Next::Continue;
        };
        let header = &self.deliver_header;
        let len = header.len() + payload.len();
        let pushed = target.push_deferred(LENGTH_PREFIX + len, |buf| {
            buf.extend_from_slice(&(len as u32).to_be_bytes());
            buf.extend_from_slice(header);
            buf.extend_from_slice(payload);
        });
        match pushed {
            Ok(()) => {
                if !self.dirty.iter().any(|p| Arc::ptr_eq(p, &target)) {
                    self.dirty.push(target);
                }
            }
            Err(PushError::Full) => {
                // §10.2: the frame is dropped and its sender told, whoever fills the queue; the
                // destination itself is dropped only once it has stopped taking bytes for the
                // stall timeout, so senders together cannot knock a reading client off.
                if target.stalled_for(std::time::Instant::now()) >= self.shared.config.stall_timeout
                {
                    target.close(Some(&slow_consumer()), true);
                    self.routes.remove(dest);
                }
                let nick = target.nick().cloned();
                self.reply(&RelayMessage::Error {
                    code: ErrorCode::SlowConsumer,
                    nick,
                });
            }
            Err(PushError::Closed) => {
                self.routes.remove(dest);
                let nick = target.nick().cloned();
                self.reply(&RelayMessage::Error {
                    code: ErrorCode::NickNotFound,
                    nick,
                });
            }
        }
        Next::Continue
    }

    /// The live connection for `dest`, from the cache or the router; records the contact both
    /// ways on first use (§3.9).
    fn route(&mut self, dest: &[u8]) -> Option<Arc<Peer>> {
        if let Some(p) = self.routes.get(dest) {
            if !p.is_closed() {
                return Some(p.clone());
            }
        }
        let nick = Nick::from_bytes(dest).ok()?.canonical();
        let target = self.shared.router.lookup(&nick)?;
        if let Some(own) = self.peer.nick() {
            let node = self.shared.node;
            self.peer.add_contact(
                &nick,
                Whom {
                    node,
                    id: target.id(),
                },
            );
            target.add_contact(
                own,
                Whom {
                    node,
                    id: self.peer.id(),
                },
            );
        }
        if self.routes.len() >= 1024 {
            self.routes.clear();
        }
        self.routes.insert(dest.into(), target.clone());
        Some(target)
    }

    /// The connection is over: release the nickname and tell those it chatted with (§3.9).
    fn finish(&mut self) {
        self.peer.close(None, false);
        let Some(nick) = self.peer.nick().cloned() else {
            return;
        };
        self.shared.router.unregister(&nick, &self.peer);
        let mut remote = Vec::new();
        for (other, whom) in self.peer.take_contacts() {
            if whom.node != self.shared.node {
                remote.push((other, whom));
            } else if let Some(p) = self.shared.router.lookup(&other) {
                if p.id() == whom.id {
                    let _ = p.push_control(&RelayMessage::PeerGone { nick: nick.clone() });
                }
            }
        }
        // Partners on other nodes are told after this connection's last frames, in the same
        // ordered queue, and then the nickname is released (§14.2).
        if let Some(cluster) = &self.shared.cluster {
            cluster.left(&self.peer, &nick, remote);
        }
        tracing::debug!(conn = self.peer.id(), "unregistered");
    }
}
