//! The client side of §3 and §4 over TCP or TLS (feature `tokio`, transport §15): one relay connection, any number of
//! chats, one [`Session`] per peer.
//!
//! [`connect`] returns once the nickname is registered (or says why not, e.g. it is taken). The
//! connection then runs in its own task: the application sends [`Command`]s through the
//! [`Handle`] and receives [`ConnEvent`]s. Everything a session produces is forwarded with the
//! peer's nickname; nothing the person sent is lost silently: messages never acknowledged are
//! reported as undelivered when their chat ends, however it ends.

use crate::contacts::{Contacts, Recognition};
use crate::errors::ErrorCode;
use crate::handshake::PeerMessage;
use crate::inner::TypingState;
use crate::key_schedule::IdentityKeyPair;
use crate::net::{FrameReader, NetError, put_frame};
use crate::nick::Nick;
use crate::relay::{ClientMessage, RelayMessage};
use crate::session::{EndReason, Event, Session, SessionError, Step};
use crate::smp::SmpOutcome;
use crate::transport::{Fingerprint, Io, ToRelayAddr};
use crate::versioning::RELAY_VERSION;
use bytes::BytesMut;
use core::fmt;
use rand_core::CryptoRngCore;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// How often an otherwise quiet client pings the relay (§3.7: half the default idle timeout).
pub const PING_INTERVAL: Duration = Duration::from_secs(60);
/// How long [`connect`] waits for the relay to accept and register (§3.3, §3.4).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long after a PING the relay may take to PONG before the connection counts as dead
/// (§3.7): a relay that stopped answering is noticed in a minute, not when TCP gives up.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(30);

/// What the application asks of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open a chat with `peer` (§4.2).
    Open {
        /// Who to chat with.
        peer: Nick,
    },
    /// Accept `peer`'s request (§4.3).
    Accept {
        /// Who asked.
        peer: Nick,
    },
    /// Reject `peer`'s request (§4.3).
    Reject {
        /// Who asked.
        peer: Nick,
        /// REJ BUSY (the client cannot take the chat now, §4.5) instead of DECLINED (the person
        /// said no).
        busy: bool,
    },
    /// Send a chat message (§7.3). `id` is the application's own, echoed in [`ConnEvent::Sent`]
    /// or [`ConnEvent::NotSent`].
    Send {
        /// To whom.
        peer: Nick,
        /// The application's id for this message.
        id: u64,
        /// The text.
        text: String,
    },
    /// Tell `peer` whether the person is typing (§7.5).
    Typing {
        /// To whom.
        peer: Nick,
        /// The state.
        state: TypingState,
    },
    /// Ask `peer` a question to verify them (§8.5 step 1).
    StartSmp {
        /// Whom.
        peer: Nick,
        /// The question shown to them.
        question: String,
        /// The answer they should give; erased when the command is dropped (§12.3).
        answer: Zeroizing<String>,
    },
    /// Answer `peer`'s question (§8.5 step 2).
    AnswerSmp {
        /// Who asked.
        peer: Nick,
        /// The answer; erased when the command is dropped (§12.3).
        answer: Zeroizing<String>,
    },
    /// Abort a running verification (§8.6).
    AbortSmp {
        /// With whom.
        peer: Nick,
    },
    /// The person read the safety code aloud and it matched (§5.5): `peer`'s proven identity
    /// is remembered as verified (§12.5), and a chat blocked by a changed identity may go on.
    MarkVerified {
        /// With whom.
        peer: Nick,
    },
    /// The person goes on with `peer`'s changed identity without verifying it (§12.5): it
    /// replaces the verified one, unverified, and the chat may go on.
    AcceptIdentity {
        /// With whom.
        peer: Nick,
    },
    /// The person takes back a verification of `peer` made in this chat: its identity is
    /// remembered as not verified (§12.5).
    Unverify {
        /// With whom.
        peer: Nick,
    },
    /// Forget what is remembered of `peer` (§12.5).
    Forget {
        /// Whom.
        peer: Nick,
    },
    /// Close the chat with `peer` (§7.7).
    Close {
        /// With whom.
        peer: Nick,
    },
    /// End every chat, say BYE and disconnect (§3.8).
    Quit,
    /// Move the clock of every chat forward by this much at once, as if that time had passed
    /// with nothing arriving, and apply the time-outs of §4.5 and §8.6 right after. For the
    /// conformance shim's `clock` command (§13.1) and tests, so that a time-out of minutes is
    /// checked in a moment; an application never sends it.
    AdvanceClock(Duration),
}

/// What the connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// Something happened in the chat with `peer`.
    Peer {
        /// The peer, canonical.
        peer: Nick,
        /// What happened.
        event: Event,
    },
    /// A message left: `seq` identifies it in later [`Event::Delivered`] / [`Event::Undelivered`].
    Sent {
        /// To whom.
        peer: Nick,
        /// The application's id from [`Command::Send`].
        id: u64,
        /// The record sequence number.
        seq: u64,
    },
    /// What the friend's proven identity means (§12.5): right after [`Event::Established`], and
    /// again when the person verifies it or accepts a changed one.
    Contact {
        /// The peer, canonical.
        peer: Nick,
        /// New, known, verified, or changed. When it [`Recognition::blocks`], messages to
        /// `peer` are refused until [`Command::MarkVerified`], a matching answer (§8) or
        /// [`Command::AcceptIdentity`].
        recognition: Recognition,
    },
    /// What is remembered of friends changed: the application stores it (§12.5).
    ContactsChanged(Contacts),
    /// A message could not be sent at all.
    NotSent {
        /// To whom.
        peer: Nick,
        /// The application's id from [`Command::Send`].
        id: u64,
        /// Why, for the person.
        reason: String,
    },
    /// Something went wrong that the person should know, about a chat or the connection.
    Error {
        /// The chat concerned, if any.
        peer: Option<Nick>,
        /// What happened, for the person.
        message: String,
    },
    /// The connection to the relay ended; every chat has ended with it.
    Disconnected {
        /// Why, for the person.
        reason: String,
    },
}

/// Why [`connect`] failed.
#[non_exhaustive]
#[derive(Debug)]
pub enum ConnectError {
    /// The relay could not be reached.
    Unreachable(std::io::Error),
    /// The relay refused with an ERROR (§9.1): nickname in use, invalid, version, full...
    Refused(ErrorCode),
    /// The relay broke the protocol or closed the connection.
    Protocol(String),
    /// Nothing usable came back within [`CONNECT_TIMEOUT`]: the address may not be a relay.
    TimedOut,
    /// The address could not be read (§15.1).
    Address(String),
    /// The TLS handshake failed (§15.3).
    Tls(String),
    /// The relay's certificate is not the pinned one (§15.3): maybe an impostor.
    CertificateChanged {
        /// The pin.
        expected: Fingerprint,
        /// What the relay showed.
        got: Fingerprint,
    },
    /// No pin, and the certificate is not signed by a known authority (§15.3).
    UntrustedCertificate {
        /// What the relay showed, to pin if the person trusts it.
        fingerprint: Fingerprint,
    },
    /// `tls://` to a relay that speaks plain TCP (§15.2).
    NotTls,
    /// Plain TCP to a relay that speaks only TLS (§15.2).
    TlsRequired,
    /// Something answered, but not with frames (§2.1): a web server, say.
    NotARelay,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Plain words, not "(os error 111)": the details are the io::Error's, for logs.
            Self::Unreachable(e) => match e.kind() {
                std::io::ErrorKind::ConnectionRefused => f.write_str(
                    "nothing answers at that address: check the address and port, and that the \
                     relay is running",
                ),
                std::io::ErrorKind::TimedOut => {
                    f.write_str("the relay's computer did not answer: check the address")
                }
                std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => f
                    .write_str(
                        "the relay's computer cannot be reached from here: check the address \
                         and your network",
                    ),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    f.write_str("the relay closed the connection at once: try again later")
                }
                std::io::ErrorKind::PermissionDenied => f.write_str(
                    "this computer does not allow the connection: check its firewall settings",
                ),
                std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::NetworkDown => {
                    f.write_str("this computer is not connected to a network: check your network")
                }
                // A name that does not resolve comes as an uncategorised error on most
                // systems: say what it most likely is, not the error's kind.
                _ => f.write_str(
                    "no relay was found at that address: check its spelling and your network",
                ),
            },
            Self::Refused(ErrorCode::NickInUse) => {
                f.write_str("that nickname is taken on this relay; pick another")
            }
            Self::Refused(ErrorCode::InvalidNick) => {
                f.write_str("invalid nickname: use 1 to 32 characters of A-Z, a-z, 0-9, _ and -")
            }
            Self::Refused(ErrorCode::UnsupportedVersion) => f.write_str(
                "the relay speaks a different version of Cryptully; one of you should update",
            ),
            Self::Refused(code) => write!(f, "the relay refused: {code}"),
            Self::Protocol(e) => write!(f, "the relay misbehaved: {e}"),
            Self::TimedOut => f.write_str(
                "the relay did not answer in time; check the address, or try again later",
            ),
            Self::Address(e) => write!(f, "{e}"),
            Self::Tls(e) => write!(f, "the secure connection to the relay failed: {e}"),
            Self::CertificateChanged { expected, got } => write!(
                f,
                "this is not the relay you trusted: its certificate changed (expected {expected}, \
                 got {got}). Someone may be pretending to be it; ask its operator before trusting \
                 the new one"
            ),
            Self::UntrustedCertificate { fingerprint } => write!(
                f,
                "the relay's certificate is not signed by an authority this computer knows. If \
                 its operator gave you the fingerprint {fingerprint}, add #sha256={fingerprint} \
                 to the address"
            ),
            Self::NotTls => f.write_str(
                "the relay does not speak TLS: drop tls:// from the address (only on a network \
                 you trust)",
            ),
            Self::TlsRequired => f.write_str(
                "the relay accepts only secure connections: write the address as tls://HOST:PORT",
            ),
            Self::NotARelay => f.write_str("that address is not a Cryptully relay"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Sends commands to a running connection. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Handle {
    nick: Nick,
    commands: mpsc::UnboundedSender<Command>,
    fingerprint: Option<Fingerprint>,
}

impl Handle {
    /// The nickname the relay registered (canonical).
    pub fn nick(&self) -> &Nick {
        &self.nick
    }

    /// The relay certificate's fingerprint, when connected over TLS (§15.3).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// Queues a command; `false` when the connection has ended.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }
}

/// Who this client is from chat to chat (§12.5): its long-term identity and what it remembers
/// of its friends'.
#[derive(Debug, Clone)]
pub struct Profile {
    /// This device's identity key (§5.7).
    pub identity: Arc<IdentityKeyPair>,
    /// What it remembers of friends.
    pub contacts: Contacts,
}

impl Profile {
    /// A fresh identity and no contacts: nothing carries over to another run (tests, tools).
    pub fn throwaway(rng: &mut impl CryptoRngCore) -> Self {
        Self {
            identity: Arc::new(IdentityKeyPair::generate(rng)),
            contacts: Contacts::default(),
        }
    }
}

/// Connects to `addr`, registers `nick` and starts the connection task, drawing keys from the
/// operating system's random source, with a throwaway identity ([`connect_as`] keeps one).
pub async fn connect(
    addr: impl ToRelayAddr,
    nick: Nick,
) -> Result<(Handle, mpsc::UnboundedReceiver<ConnEvent>), ConnectError> {
    connect_with_rng(addr, nick, rand_core::OsRng).await
}

/// [`connect`] with an injected random source (tests).
pub async fn connect_with_rng<R: CryptoRngCore + Send + 'static>(
    addr: impl ToRelayAddr,
    nick: Nick,
    rng: R,
) -> Result<(Handle, mpsc::UnboundedReceiver<ConnEvent>), ConnectError> {
    connect_within(addr, nick, rng, CONNECT_TIMEOUT).await
}

/// [`connect_with_rng`] that gives up after `limit` (tests use a short one).
pub async fn connect_within<R: CryptoRngCore + Send + 'static>(
    addr: impl ToRelayAddr,
    nick: Nick,
    mut rng: R,
    limit: Duration,
) -> Result<(Handle, mpsc::UnboundedReceiver<ConnEvent>), ConnectError> {
    let profile = Profile::throwaway(&mut rng);
    connect_as(addr, nick, profile, rng, limit).await
}

/// Connects as `profile`: its identity proves this side in every chat (§4.7), and its contacts
/// decide what each friend's identity means (§12.5).
pub async fn connect_as<R: CryptoRngCore + Send + 'static>(
    addr: impl ToRelayAddr,
    nick: Nick,
    profile: Profile,
    rng: R,
    limit: Duration,
) -> Result<(Handle, mpsc::UnboundedReceiver<ConnEvent>), ConnectError> {
    tokio::time::timeout(limit, connect_now(addr, nick, profile, rng))
        .await
        .map_err(|_| ConnectError::TimedOut)?
}

async fn connect_now<R: CryptoRngCore + Send + 'static>(
    addr: impl ToRelayAddr,
    nick: Nick,
    profile: Profile,
    rng: R,
) -> Result<(Handle, mpsc::UnboundedReceiver<ConnEvent>), ConnectError> {
    let addr = addr
        .to_relay_addr()
        .map_err(|e| ConnectError::Address(e.to_string()))?;
    let opened = crate::transport::open(&addr).await?;
    let fingerprint = opened.fingerprint;
    let (r, w) = tokio::io::split(opened.stream);
    let mut reader = FrameReader::new(r, crate::limits::MAX_FRAME);
    let mut writer = Writer::new(w);
    writer.queue(&ClientMessage::Hello {
        version: RELAY_VERSION,
    });
    writer.queue(&ClientMessage::Register { nick: nick.clone() });
    writer
        .flush()
        .await
        .map_err(|e| ConnectError::Protocol(e.to_string()))?;
    let registered = loop {
        let frame = reader
            .next_frame()
            .await
            .map_err(|e| match e {
                // §15.2: a TLS relay answers a plain client with a TLS alert.
                NetError::Frame(crate::framing::FrameError::Length { length, .. })
                    if crate::transport::looks_like_tls(length) =>
                {
                    ConnectError::TlsRequired
                }
                // A length prefix no relay sends: "HTTP" read as a length, for instance.
                NetError::Frame(_) => ConnectError::NotARelay,
                e => ConnectError::Protocol(e.to_string()),
            })?
            .ok_or_else(|| ConnectError::Protocol("the relay closed the connection".into()))?;
        match RelayMessage::decode(&frame) {
            Ok(RelayMessage::Registered { nick }) => break nick,
            Ok(RelayMessage::Error { code, .. }) => return Err(ConnectError::Refused(code)),
            Ok(RelayMessage::Pong { .. }) => {}
            Ok(other) => {
                return Err(ConnectError::Protocol(format!(
                    "unexpected {}",
                    other.name()
                )));
            }
            Err(e) => return Err(ConnectError::Protocol(e.to_string())),
        }
    };
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::unbounded_channel();
    let client = Client {
        nick: registered.clone(),
        sessions: HashMap::new(),
        profile,
        blocked: HashSet::new(),
        asking: HashSet::new(),
        writer,
        events,
        rng,
        clock_ahead: Duration::ZERO,
    };
    tokio::spawn(client.run(reader, command_rx));
    Ok((
        Handle {
            nick: registered,
            commands,
            fingerprint,
        },
        event_rx,
    ))
}

/// §10.2: the relay drops frames beyond 200 a second (burst 400) and 1 MiB a second (burst
/// 2 MiB) by default. A client keeps under four fifths of that, so that an honest burst (a long
/// paste, a fast typist) is delayed rather than dropped and reported as lost.
pub const PACE_FRAMES: f64 = 160.0;
/// Frames a client sends at once before pacing sets in.
pub const PACE_FRAMES_BURST: f64 = 320.0;
/// Bytes a second a client sends at most.
pub const PACE_BYTES: f64 = 0.8 * 1024.0 * 1024.0;
/// Bytes a client sends at once before pacing sets in.
pub const PACE_BYTES_BURST: f64 = 1.6 * 1024.0 * 1024.0;
/// Bytes of frames that may wait for the pace (§10.2): five seconds of sending. Past it, a
/// chat message is refused at once with [`ConnEvent::NotSent`] instead of waiting longer and
/// longer in memory (issue 15, item 9).
pub const MAX_PACED_BYTES: usize = 4 * 1024 * 1024;
/// How long quitting may spend sending what is still paced before it sends the rest at once.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// How much longer quitting waits, after the grace, for the last bytes to go and for the relay
/// to close the connection (§3.8).
const QUIT_CLOSE_WAIT: Duration = Duration::from_secs(2);

struct Writer {
    w: WriteHalf<Box<dyn Io>>,
    buf: BytesMut,
    /// Frames waiting for the pace (§10.2), in order.
    pending: std::collections::VecDeque<Vec<u8>>,
    /// Their total length.
    pending_bytes: usize,
    frames: f64,
    bytes: f64,
    refilled: tokio::time::Instant,
}

impl Writer {
    fn new(w: WriteHalf<Box<dyn Io>>) -> Self {
        Self {
            w,
            buf: BytesMut::new(),
            pending: std::collections::VecDeque::new(),
            pending_bytes: 0,
            frames: PACE_FRAMES_BURST,
            bytes: PACE_BYTES_BURST,
            refilled: tokio::time::Instant::now(),
        }
    }

    fn queue(&mut self, msg: &ClientMessage) {
        let mut frame = BytesMut::new();
        put_frame(&mut frame, &msg.to_bytes());
        self.pending_bytes += frame.len();
        self.pending.push_back(frame.to_vec());
    }

    /// Queues a relay-level message ahead of chat frames (a PING: nothing orders it among them).
    fn queue_first(&mut self, msg: &ClientMessage) {
        let mut frame = BytesMut::new();
        put_frame(&mut frame, &msg.to_bytes());
        self.pending_bytes += frame.len();
        self.pending.push_front(frame.to_vec());
    }

    fn refill(&mut self, now: tokio::time::Instant) {
        let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.frames = (self.frames + dt * PACE_FRAMES).min(PACE_FRAMES_BURST);
        self.bytes = (self.bytes + dt * PACE_BYTES).min(PACE_BYTES_BURST);
    }

    /// When the next waiting frame may go, if one waits.
    fn next_send(&self) -> Option<tokio::time::Instant> {
        let len = self.pending.front()?.len() as f64;
        let frames = (1.0 - self.frames).max(0.0) / PACE_FRAMES;
        let bytes = (len.min(PACE_BYTES_BURST) - self.bytes).max(0.0) / PACE_BYTES;
        Some(self.refilled + Duration::from_secs_f64(frames.max(bytes)))
    }

    /// Writes what the pace allows now.
    async fn flush(&mut self) -> Result<(), NetError> {
        self.refill(tokio::time::Instant::now());
        while let Some(front) = self.pending.front() {
            let len = front.len() as f64;
            // A frame larger than the byte burst goes once the bucket is full.
            if self.frames < 1.0 || self.bytes < len.min(PACE_BYTES_BURST) {
                break;
            }
            self.frames -= 1.0;
            self.bytes -= len;
            if let Some(frame) = self.pending.pop_front() {
                self.pending_bytes -= frame.len();
                self.buf.extend_from_slice(&frame);
            }
        }
        self.write().await
    }

    /// Writes everything, paced or not (leaving: nothing more will follow).
    async fn flush_all(&mut self) -> Result<(), NetError> {
        for frame in self.pending.drain(..) {
            self.buf.extend_from_slice(&frame);
        }
        self.pending_bytes = 0;
        self.write().await
    }

    async fn write(&mut self) -> Result<(), NetError> {
        if !self.buf.is_empty() {
            self.w.write_all(&self.buf).await?;
            // TLS holds what it encrypted until flushed (§15).
            self.w.flush().await?;
            self.buf.clear();
        }
        Ok(())
    }
}

struct Client<R> {
    nick: Nick,
    sessions: HashMap<Nick, Session>,
    profile: Profile,
    /// Chats whose friend proved another identity than the verified one: nothing is sent to
    /// them until the person decides [12.5-3].
    blocked: HashSet<Nick>,
    /// Chats whose verification under way was asked by this side's person (§12.5).
    asking: HashSet<Nick>,
    writer: Writer,
    events: mpsc::UnboundedSender<ConnEvent>,
    rng: R,
    /// How far [`Command::AdvanceClock`] moved the chats' clock ahead of the real one.
    clock_ahead: Duration,
}

impl<R: CryptoRngCore + Send + 'static> Client<R> {
    async fn run(
        mut self,
        mut reader: FrameReader<ReadHalf<Box<dyn Io>>>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.tick().await;
        // The PING sent last whose PONG has not come back, and when it was sent (§3.7).
        let mut awaiting_pong: Option<(u64, tokio::time::Instant)> = None;
        // §4.5, §8.6: the sessions keep no clock; they are told the time once a second.
        let mut clock = tokio::time::interval(Duration::from_secs(1));
        clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut token = 0u64;
        let reason = loop {
            let paced = self.writer.next_send();
            tokio::select! {
                // §10.2: the next frame held back by the pace may go.
                () = async {
                    if let Some(at) = paced {
                        tokio::time::sleep_until(at).await;
                    }
                }, if paced.is_some() => {}
                command = commands.recv() => match command {
                    Some(Command::Quit) | None => {
                        self.quit();
                        // The last messages (END to each chat, BYE) still keep the pace, for
                        // QUIT_GRACE at most, so the relay does not drop them (§10.2); what is
                        // left then goes at once. The loop stops itself at the deadline rather
                        // than being cancelled, since a write cut short would leave half a frame
                        // that the rest, sent again, could not follow.
                        let deadline = tokio::time::Instant::now() + QUIT_GRACE;
                        let _ = tokio::time::timeout_at(deadline + QUIT_CLOSE_WAIT, async {
                            while let Some(at) = self.writer.next_send() {
                                if at > deadline {
                                    break;
                                }
                                tokio::time::sleep_until(at).await;
                                if self.writer.flush().await.is_err() {
                                    break;
                                }
                            }
                            let _ = self.writer.flush_all().await;
                            let _ = self.writer.w.shutdown().await;
                            // §3.8: the relay closes the connection once it has read BYE and
                            // let the nickname go; waiting for that close means a restart at
                            // once finds the nickname free, not "in use".
                            while let Ok(Some(_)) = reader.next_frame().await {}
                        })
                        .await;
                        break "you left".to_string();
                    }
                    Some(command) => self.command(command),
                },
                frame = reader.next_frame() => match frame {
                    Ok(Some(body)) => {
                        // 0x84 is PONG (§3.1): only those are decoded twice.
                        if body.first() == Some(&0x84)
                            && let Ok(RelayMessage::Pong { token: t }) = RelayMessage::decode(&body)
                            && awaiting_pong.is_some_and(|(sent, _)| sent == t)
                        {
                            awaiting_pong = None;
                        }
                        if let Some(reason) = self.relay_message(&body) {
                            break reason;
                        }
                    }
                    Ok(None) => break "the relay closed the connection".to_string(),
                    Err(e) => break e.to_string(),
                },
                _ = ping.tick() => {
                    token = token.wrapping_add(1);
                    // Ahead of any paced backlog: the PONG timeout runs from now (§3.7).
                    self.writer.queue_first(&ClientMessage::Ping { token });
                    if awaiting_pong.is_none() {
                        awaiting_pong = Some((token, tokio::time::Instant::now()));
                    }
                }
                now = clock.tick() => {
                    if awaiting_pong.is_some_and(|(_, sent)| now.duration_since(sent) > PONG_TIMEOUT) {
                        break "the relay stopped answering".to_string();
                    }
                    self.tick(self.chat_time(now.into_std()));
                }
            }
            if let Err(e) = self.writer.flush().await {
                break e.to_string();
            }
        };
        self.end_all(EndReason::ConnectionLost);
        let _ = self.events.send(ConnEvent::Disconnected { reason });
    }

    fn emit(&self, event: ConnEvent) {
        let _ = self.events.send(event);
    }

    fn error(&self, peer: Option<&Nick>, message: impl fmt::Display) {
        self.emit(ConnEvent::Error {
            peer: peer.cloned(),
            message: message.to_string(),
        });
    }

    /// Sends a step's messages to `peer` and reports its events.
    fn apply(&mut self, peer: &Nick, step: Step) {
        for msg in step.send {
            self.writer.queue(&ClientMessage::Relay {
                destination: peer.clone(),
                payload: msg.to_bytes(),
            });
        }
        for event in step.events {
            // What the contacts make of an event is told after the event itself.
            let about_contacts = matches!(
                event,
                Event::Established { .. }
                    | Event::SmpResult(_)
                    | Event::SmpQuestion { .. }
                    | Event::Ended(_)
            )
            .then(|| event.clone());
            self.emit(ConnEvent::Peer {
                peer: peer.clone(),
                event,
            });
            if let Some(follow) = about_contacts.and_then(|e| self.contact_event(peer, &e)) {
                self.emit(follow);
            }
        }
        if self.sessions.get(peer).is_some_and(Session::is_over) {
            self.sessions.remove(peer);
        }
    }

    /// §12.5: what an event means for the contacts. A chat's proven identity is compared with
    /// the remembered one; a matching answer to this side's own question verifies it.
    fn contact_event(&mut self, peer: &Nick, event: &Event) -> Option<ConnEvent> {
        match event {
            Event::Established { peer_identity, .. } => {
                let recognition = self.profile.contacts.recognise(peer, peer_identity);
                if recognition.blocks() {
                    self.blocked.insert(peer.clone());
                } else {
                    self.blocked.remove(peer);
                }
                // `recognise` stores a key exactly when it is new or replaces an unverified one.
                if matches!(
                    recognition,
                    Recognition::New | Recognition::Changed { was_verified: None }
                ) {
                    self.emit(ConnEvent::ContactsChanged(self.profile.contacts.clone()));
                }
                Some(ConnEvent::Contact {
                    peer: peer.clone(),
                    recognition,
                })
            }
            // §12.5 [12.5-1]: only the asker learns who answered. The answerer learns that
            // nobody is in the middle, not who chose the question: an impostor asking "type
            // yes" must not become a verified friend (libotr records trust the same way).
            Event::SmpResult(outcome) => {
                if self.asking.remove(peer) && *outcome == SmpOutcome::Matched {
                    self.verify(peer);
                }
                None
            }
            // The friend's question: the run under way, if any, is theirs (§8.6 crossed).
            Event::SmpQuestion { .. } => {
                self.asking.remove(peer);
                None
            }
            Event::Ended(_) => {
                self.blocked.remove(peer);
                self.asking.remove(peer);
                None
            }
            _ => None,
        }
    }

    /// The person verified `peer` in this chat: by the code or a matching answer (§12.5).
    fn verify(&mut self, peer: &Nick) {
        let Some(identity) = self.sessions.get(peer).and_then(Session::peer_identity) else {
            return self.error(
                Some(peer),
                "the chat is not secure yet: there is nothing to verify",
            );
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.profile.contacts.mark_verified(peer, &identity, now);
        self.blocked.remove(peer);
        // Stored before it is told: a person who quits on reading "verified" keeps it.
        self.emit(ConnEvent::ContactsChanged(self.profile.contacts.clone()));
        self.emit(ConnEvent::Contact {
            peer: peer.clone(),
            recognition: Recognition::Verified { since: now },
        });
    }

    fn apply_result(&mut self, peer: &Nick, result: Result<Step, SessionError>) {
        match result {
            Ok(step) => self.apply(peer, step),
            Err(e) => {
                self.error(Some(peer), &e);
                if self.sessions.get(peer).is_some_and(Session::is_over) {
                    self.sessions.remove(peer);
                    self.emit(ConnEvent::Peer {
                        peer: peer.clone(),
                        event: Event::Ended(EndReason::Closed),
                    });
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        let rng = &mut self.rng;
        match command {
            Command::Open { peer } => {
                let peer = peer.canonical();
                // §4.2: a chat needs two people.
                if peer == self.nick {
                    return self.error(
                        Some(&peer),
                        "you cannot chat with yourself: type your friend's nickname",
                    );
                }
                // §4.5: the friend's request is already waiting for this person, who now asks
                // for the same chat: that is a yes.
                if self
                    .sessions
                    .get(&peer)
                    .is_some_and(|s| s.state_name() == "ExpectDecision")
                {
                    return self.session_command(Command::Accept { peer });
                }
                if self.sessions.get(&peer).is_some_and(|s| !s.is_over()) {
                    return self.error(Some(&peer), "a chat with this nickname is already open");
                }
                let (session, helo) = Session::initiate(
                    self.nick.clone(),
                    peer.clone(),
                    self.profile.identity.clone(),
                    rng,
                );
                self.sessions.insert(peer.clone(), session);
                self.apply(
                    &peer,
                    Step {
                        send: vec![helo],
                        events: Vec::new(),
                    },
                );
            }
            Command::Send { peer, id, text } => {
                let peer = peer.canonical();
                let Some(session) = self.sessions.get_mut(&peer) else {
                    let reason = "there is no open chat with this nickname".to_string();
                    return self.emit(ConnEvent::NotSent { peer, id, reason });
                };
                // §12.5 [12.5-3]: not a word to someone who may not be the verified friend.
                if self.blocked.contains(&peer) {
                    let reason = format!(
                        "this may not be {peer}: their identity changed since you verified it. \
                         Verify them again, or choose to go on without, before sending"
                    );
                    return self.emit(ConnEvent::NotSent { peer, id, reason });
                }
                // Refused before it is sealed, so no record number is spent on it (§6.3).
                if self.writer.pending_bytes + text.len() > MAX_PACED_BYTES {
                    let reason = "too many messages are still waiting to go out; wait a moment and send it again".to_string();
                    return self.emit(ConnEvent::NotSent { peer, id, reason });
                }
                match session.send_message(&text) {
                    Ok((seq, record)) => {
                        self.apply(
                            &peer,
                            Step {
                                send: vec![record],
                                events: Vec::new(),
                            },
                        );
                        self.emit(ConnEvent::Sent { peer, id, seq });
                    }
                    Err(e) => self.emit(ConnEvent::NotSent {
                        peer,
                        id,
                        reason: e.to_string(),
                    }),
                }
            }
            Command::Typing { peer, state } => {
                let peer = peer.canonical();
                if self.blocked.contains(&peer) {
                    return;
                }
                if let Some(session) = self.sessions.get_mut(&peer) {
                    if let Ok(record) = session.send_typing(state) {
                        self.apply(
                            &peer,
                            Step {
                                send: vec![record],
                                events: Vec::new(),
                            },
                        );
                    }
                }
            }
            Command::MarkVerified { peer } => self.verify(&peer.canonical()),
            Command::AcceptIdentity { peer } => {
                let peer = peer.canonical();
                // Only a blocked chat has a changed identity to accept; elsewhere it would
                // quietly downgrade a verified friend.
                if !self.blocked.contains(&peer) {
                    return self.error(
                        Some(&peer),
                        "nothing to accept: this friend's identity did not change",
                    );
                }
                let Some(identity) = self.sessions.get(&peer).and_then(Session::peer_identity)
                else {
                    return self.error(Some(&peer), "there is no secure chat with this nickname");
                };
                self.profile.contacts.accept(&peer, &identity);
                self.blocked.remove(&peer);
                self.emit(ConnEvent::ContactsChanged(self.profile.contacts.clone()));
                self.emit(ConnEvent::Contact {
                    peer: peer.clone(),
                    recognition: Recognition::Known,
                });
            }
            Command::Unverify { peer } => {
                let peer = peer.canonical();
                let identity = self.sessions.get(&peer).and_then(Session::peer_identity);
                let same = identity.is_some_and(|id| {
                    self.profile
                        .contacts
                        .get(&peer)
                        .is_some_and(|c| c.identity == id && c.verified_at.is_some())
                });
                if let (true, Some(identity)) = (same, identity) {
                    self.profile.contacts.accept(&peer, &identity);
                    self.emit(ConnEvent::ContactsChanged(self.profile.contacts.clone()));
                }
            }
            Command::Forget { peer } => {
                if self.profile.contacts.forget(&peer) {
                    self.emit(ConnEvent::ContactsChanged(self.profile.contacts.clone()));
                }
            }
            Command::AdvanceClock(by) => {
                // A wait begun before the jump is first seen at the old time, so the jump
                // counts in full towards it (§4.5: a wait starts when the state is entered).
                let now = std::time::Instant::now();
                self.tick(self.chat_time(now));
                let ahead = self.clock_ahead.saturating_add(by);
                // A jump past what the platform's clock can hold is not taken at all.
                if now.checked_add(ahead).is_some() {
                    self.clock_ahead = ahead;
                }
                self.tick(self.chat_time(now));
            }
            other => self.session_command(other),
        }
    }

    /// The chats' clock: the real one, moved ahead by [`Command::AdvanceClock`].
    fn chat_time(&self, real: std::time::Instant) -> std::time::Instant {
        real.checked_add(self.clock_ahead).unwrap_or(real)
    }

    /// The commands that map one to one onto a session method.
    fn session_command(&mut self, command: Command) {
        let peer = match &command {
            Command::Accept { peer }
            | Command::Reject { peer, .. }
            | Command::StartSmp { peer, .. }
            | Command::AnswerSmp { peer, .. }
            | Command::AbortSmp { peer }
            | Command::Close { peer } => peer.canonical(),
            _ => return,
        };
        let rng = &mut self.rng;
        let Some(session) = self.sessions.get_mut(&peer) else {
            return self.error(Some(&peer), "there is no chat with this nickname");
        };
        let result = match command {
            Command::Accept { .. } => session.accept(rng),
            Command::Reject { busy: false, .. } => session.reject(),
            Command::Reject { busy: true, .. } => session.reject_busy(),
            Command::StartSmp {
                question, answer, ..
            } => {
                let started = session.start_smp(&question, &answer, rng);
                if started.is_ok() {
                    self.asking.insert(peer.clone());
                }
                started
            }
            Command::AnswerSmp { answer, .. } => session.answer_smp(&answer, rng),
            Command::AbortSmp { .. } => session.abort_smp(),
            // §4.7: waiting for the friend's IDENTITY the keys exist too, and END tells the
            // friend, who may already count the chat secure.
            Command::Close { .. }
                if session.is_established() || session.state_name() == "ExpectIdentity" =>
            {
                session.end()
            }
            Command::Close { .. } if session.state_name() == "ExpectDecision" => session.reject(),
            Command::Close { .. } => Ok(session.terminate(EndReason::Closed)),
            _ => return,
        };
        self.apply_result(&peer, result);
    }

    /// One frame from the relay; `Some(reason)` when the connection must end.
    fn relay_message(&mut self, body: &[u8]) -> Option<String> {
        let msg = match RelayMessage::decode(body) {
            Ok(msg) => msg,
            Err(e) => return Some(format!("the relay sent something unreadable: {e}")),
        };
        match msg {
            RelayMessage::Deliver { source, payload } => self.deliver(source.canonical(), &payload),
            RelayMessage::PeerGone { nick } => {
                self.end_chat(&nick.canonical(), EndReason::PeerGone)
            }
            RelayMessage::Error { code, nick } => return self.relay_error(code, nick),
            RelayMessage::Shutdown => return Some("the relay is shutting down".into()),
            RelayMessage::Pong { .. } | RelayMessage::Registered { .. } => {}
        }
        None
    }

    fn relay_error(&mut self, code: ErrorCode, nick: Option<Nick>) -> Option<String> {
        match (code, nick) {
            // The chat's end says it in words (EndReason::NotConnected); a separate error
            // with the relay's code name would only repeat it in jargon.
            (ErrorCode::NickNotFound, Some(peer)) => {
                let peer = peer.canonical();
                if self.sessions.contains_key(&peer) {
                    self.end_chat(&peer, EndReason::NotConnected);
                } else {
                    self.error(Some(&peer), format!("{peer} is not connected"));
                }
                None
            }
            // §9.1, §10.2: a frame to `peer` was dropped because it is not keeping up; it is still
            // connected (PEER_GONE follows if the relay drops it), so the chat goes on and the
            // message stays unacknowledged.
            (ErrorCode::SlowConsumer, Some(peer)) => {
                let peer = peer.canonical();
                self.error(
                    Some(&peer),
                    format!("{peer} is not keeping up, so the relay dropped a message to them"),
                );
                None
            }
            (ErrorCode::RateLimited | ErrorCode::InvalidNick | ErrorCode::NickNotFound, _) => {
                self.error(None, code);
                None
            }
            (code, _) => Some(code.to_string()),
        }
    }

    fn deliver(&mut self, peer: Nick, payload: &[u8]) {
        let msg = match PeerMessage::decode(payload) {
            Ok(msg) => msg,
            Err(e) => {
                return self.error(Some(&peer), format!("unreadable message from {peer}: {e}"));
            }
        };
        if let PeerMessage::Helo { .. } = msg {
            // §4.2: nobody opens a chat with themselves; only a relay could send this.
            if peer == self.nick {
                return self.error(
                    Some(&peer),
                    "ignored a chat request that claims to come from your own nickname",
                );
            }
            // §4.5, both opened at once: each side's HELO crossed the other's. The lower
            // canonical nickname's attempt goes on; the other side answers it as responder and
            // accepts at once, since its person asked for this very chat.
            let crossed = self
                .sessions
                .get(&peer)
                .is_some_and(|s| s.state_name() == "ExpectRedy");
            if crossed && self.nick < peer {
                return;
            }
            // §4.5: otherwise a new HELO replaces whatever chat there was with this nickname.
            if self.sessions.contains_key(&peer) && !crossed {
                self.end_chat(&peer, EndReason::PeerClosed);
            }
            let (mut session, mut step) = Session::respond(
                self.nick.clone(),
                peer.clone(),
                self.profile.identity.clone(),
                &msg,
            );
            if crossed && session.state_name() == "ExpectDecision" {
                match session.accept(&mut self.rng) {
                    Ok(accepted) => step = accepted,
                    Err(e) => self.error(Some(&peer), &e),
                }
            }
            self.sessions.insert(peer.clone(), session);
            return self.apply(&peer, step);
        }
        let rng = &mut self.rng;
        let Some(session) = self.sessions.get_mut(&peer) else {
            // A late record for a chat already closed: nothing to show.
            return;
        };
        let result = session.handle(msg, rng);
        self.apply_result(&peer, result);
    }

    /// Passes the time to every session (§4.5, §8.6); a session the time ended is removed.
    fn tick(&mut self, now: std::time::Instant) {
        let peers: Vec<Nick> = self.sessions.keys().cloned().collect();
        for peer in peers {
            let Some(session) = self.sessions.get_mut(&peer) else {
                continue;
            };
            let was_over = session.is_over();
            let step = session.tick(now);
            let ended = !was_over && session.is_over();
            if !step.send.is_empty() || !step.events.is_empty() {
                self.apply(&peer, step);
            }
            if ended {
                self.sessions.remove(&peer);
            }
        }
    }

    fn end_chat(&mut self, peer: &Nick, reason: EndReason) {
        if let Some(mut session) = self.sessions.remove(peer) {
            let step = session.terminate(reason);
            self.apply(peer, step);
        }
    }

    fn end_all(&mut self, reason: EndReason) {
        let peers: Vec<Nick> = self.sessions.keys().cloned().collect();
        for peer in peers {
            self.end_chat(&peer, reason);
        }
    }

    fn quit(&mut self) {
        let peers: Vec<Nick> = self.sessions.keys().cloned().collect();
        for peer in peers {
            self.session_command(Command::Close { peer });
        }
        self.writer.queue(&ClientMessage::Bye);
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectError;
    use std::io::{Error, ErrorKind};

    /// Issue 15, item 8: a relay that cannot be reached is said in words a person can act on,
    /// never as an error kind ("(uncategorized error)", "(os error 111)").
    #[test]
    fn connection_unreachable_relays_are_told_in_words() {
        for e in [
            Error::from(ErrorKind::ConnectionRefused),
            Error::from(ErrorKind::TimedOut),
            Error::from(ErrorKind::HostUnreachable),
            Error::from(ErrorKind::PermissionDenied),
            Error::other("failed to lookup address information: Name or service not known"),
        ] {
            let text = ConnectError::Unreachable(e).to_string();
            assert!(!text.contains('(') && !text.contains("error"), "{text}");
            assert!(text.contains("check"), "{text}");
        }
        // A name that does not resolve is said as such; a firewall is not taken for a typo.
        let dns = Error::other("failed to lookup address information: Name or service not known");
        assert!(
            ConnectError::Unreachable(dns)
                .to_string()
                .starts_with("no relay was found")
        );
        let denied = ConnectError::Unreachable(Error::from(ErrorKind::PermissionDenied));
        assert!(denied.to_string().contains("firewall"));
    }
}
