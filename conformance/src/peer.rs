//! Black-box cases against a client implementation through its shim (spec §13). The runner
//! starts a relay of its own and plays the other person with its own model of the protocol
//! (`model.rs`: keys, records and SMP, independent of the code under test) and the protocol
//! crate's message encodings, so it can deviate exactly where a case needs: a commitment that does not match, a low-order key, a
//! bad tag, a replay, dropped and reordered records, an oversize message, unexpected messages,
//! a wrong SMP answer, a forged SMP proof, and a relay in the middle.

// `value["key"]` on a serde_json::Value returns Null for a missing key: it never panics.
#![allow(clippy::indexing_slicing)]

use crate::model::{self, KeyPair, ReceiveChain, SendChain, commitment};
use crate::{Case, Outcome, Selection};
use cryptully_protocol::errors::RejectReason;
use cryptully_protocol::framing::MAX_FRAME;
use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::{InnerMessage, TypingState};
use cryptully_protocol::limits::{MAX_SKIP, MAX_TOO_FAR};
use cryptully_protocol::net::{FrameReader, write_frame};
use cryptully_protocol::records::Record;
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::versioning::PEER_VERSION;
use cryptully_protocol::{Nick, smp};
use cryptully_relay::{Config, RelayHandle};
use num_bigint::BigUint;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::{Child, ChildStdin, ChildStdout};

type Result<T> = std::result::Result<T, String>;

const WAIT: Duration = Duration::from_secs(10);
/// Exit status of a shim that does not implement what a case needs (§13.3).
const UNIMPLEMENTED: i32 = 89;

/// The shim under test, as a child process. Dropping it kills the process.
struct Shim {
    watcher: tokio::task::JoinHandle<()>,
    exit: Arc<AtomicI32>,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Drop for Shim {
    fn drop(&mut self) {
        // Dropping the watcher drops the child, which kills it (kill_on_drop).
        self.watcher.abort();
    }
}

/// Records the shim's exit status in `exit` (the run's slot: cases run one at a time).
fn watch(mut child: Child, exit: Arc<AtomicI32>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Ok(status) = child.wait().await {
            exit.store(status.code().unwrap_or(-2), Ordering::SeqCst);
        }
    })
}

impl Shim {
    async fn start(ctx: &Ctx, relay: SocketAddr, nick: &str) -> Result<Self> {
        let (program, args) = ctx.shim.split_first().ok_or("no shim command")?;
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the shim `{program}`: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let exit = ctx.exit.clone();
        let mut shim = Shim {
            watcher: watch(child, exit.clone()),
            exit,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        shim.send(json!({"cmd": "connect", "relay": relay.to_string(), "nick": nick}))
            .await?;
        shim.expect("registered", |_| true).await?;
        Ok(shim)
    }

    async fn send(&mut self, v: Value) -> Result<()> {
        let line = format!("{v}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .map_err(|e| format!("shim stdin: {e}"))
    }

    /// The next event, or why there is none.
    async fn next(&mut self, wait: Duration) -> Result<Option<Value>> {
        match tokio::time::timeout(wait, self.lines.next_line()).await {
            Err(_) => Ok(None),
            Ok(Ok(Some(line))) => {
                let v: Value = serde_json::from_str(&line)
                    .map_err(|e| format!("shim printed non-JSON {line:?}: {e}"))?;
                if v["event"] == "unimplemented" {
                    return Err(format!(
                        "unimplemented: the shim does not implement `{}`",
                        v["cmd"]
                    ));
                }
                // §7.4 [7.4-3], §13: in every case, `undelivered` names one or more messages
                // by the ids `send` gave; a report of nothing, or of a message the shim does
                // not know, tells its person of a loss that did not happen.
                let named = v["ids"]
                    .as_array()
                    .is_some_and(|ids| !ids.is_empty() && ids.iter().all(Value::is_u64));
                if v["event"] == "undelivered" && !named {
                    return Err(format!(
                        "`undelivered` must name the ids of one or more sent messages (§7.4): {v}"
                    ));
                }
                Ok(Some(v))
            }
            Ok(_) => {
                for _ in 0..20 {
                    match self.exit.load(Ordering::SeqCst) {
                        -1 => tokio::time::sleep(Duration::from_millis(50)).await,
                        UNIMPLEMENTED => {
                            return Err("unimplemented: the shim exited with status 89".into());
                        }
                        code => return Err(format!("the shim exited with status {code}")),
                    }
                }
                Err("the shim closed its output".into())
            }
        }
    }

    /// Waits for an event named `name` satisfying `pred`, skipping typing and delivery chatter.
    async fn expect(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            match self.next(wait).await? {
                Some(v) if v["event"] == name && pred(&v) => return Ok(v),
                Some(v) => seen.push(v),
                None => break,
            }
        }
        Err(format!(
            "expected event `{name}`, saw {}",
            Value::from(seen)
        ))
    }

    /// Collects events for `wait`.
    async fn drain(&mut self, wait: Duration) -> Result<Vec<Value>> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next(left).await? {
                Some(v) => seen.push(v),
                None => break,
            }
        }
        Ok(seen)
    }
}

/// The runner's registered connection to the relay.
struct Wire {
    r: FrameReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Wire {
    async fn registered(addr: SocketAddr, nick: &str) -> Result<Self> {
        let (r, w) = TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?
            .into_split();
        let mut wire = Wire {
            r: FrameReader::new(r, MAX_FRAME),
            w,
        };
        wire.frame(&ClientMessage::Hello { version: 2 }).await?;
        let n = Nick::new(nick).map_err(|e| e.to_string())?;
        wire.frame(&ClientMessage::Register { nick: n }).await?;
        match wire.relay_message().await? {
            RelayMessage::Registered { .. } => Ok(wire),
            other => Err(format!("runner could not register {nick}: {other:?}")),
        }
    }

    async fn frame(&mut self, m: &ClientMessage) -> Result<()> {
        write_frame(&mut self.w, &m.to_bytes())
            .await
            .map_err(|e| e.to_string())
    }

    async fn send(&mut self, to: &str, m: &PeerMessage) -> Result<()> {
        self.send_payload(to, m.to_bytes()).await
    }

    /// A RECORD to the shim.
    async fn record(&mut self, r: Record) -> Result<()> {
        self.send(SHIM, &PeerMessage::Record(r)).await
    }

    async fn send_payload(&mut self, to: &str, payload: Vec<u8>) -> Result<()> {
        let destination = Nick::new(to).map_err(|e| e.to_string())?;
        self.frame(&ClientMessage::Relay {
            destination,
            payload,
        })
        .await
    }

    async fn relay_message(&mut self) -> Result<RelayMessage> {
        match tokio::time::timeout(WAIT, self.r.next_frame()).await {
            Ok(Ok(Some(f))) => RelayMessage::decode(&f).map_err(|e| e.to_string()),
            other => Err(format!("runner's relay connection: {other:?}")),
        }
    }

    /// The next peer message from the shim; `None` when none comes within `wait`.
    async fn peer_within(&mut self, wait: Duration) -> Result<Option<PeerMessage>> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match tokio::time::timeout(left, self.r.next_frame()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Some(f))) => {
                    if let Ok(RelayMessage::Deliver { payload, .. }) = RelayMessage::decode(&f) {
                        return PeerMessage::decode(&payload).map(Some).map_err(|e| {
                            format!("the shim sent an undecodable peer message: {e}")
                        });
                    }
                }
                Ok(other) => return Err(format!("runner's relay connection: {other:?}")),
            }
        }
        Ok(None)
    }

    async fn peer(&mut self) -> Result<PeerMessage> {
        self.peer_within(WAIT)
            .await?
            .ok_or_else(|| "the shim sent nothing within 10 s".to_string())
    }
}

/// The runner's side of an established session, driven by hand.
struct Keys {
    tx: SendChain,
    rx: ReceiveChain,
    initiator_public: [u8; 32],
    responder_public: [u8; 32],
    session_id: [u8; 32],
    code: String,
    /// The fingerprint of §5.6 as the shim reports it: 32 lowercase hex digits.
    fingerprint: String,
    /// §5.2, for the IDENTITY MACs (§5.7).
    transcript_hash: [u8; 32],
    /// The identity key the shim proved (§4.7), once its IDENTITY opened.
    shim_identity: [u8; 32],
}

impl Keys {
    /// §5 by the runner's own model (src/model.rs), not by the protocol crate under test.
    fn derive(
        initiator: &str,
        responder: &str,
        ikey: [u8; 32],
        rkey: [u8; 32],
        own: &KeyPair,
        peer_public: &[u8; 32],
        we_initiate: bool,
    ) -> Result<Self> {
        let shared = own.shared(peer_public)?;
        let s = model::schedule(initiator, responder, &ikey, &rkey, &shared);
        let (tx, rx) = if we_initiate {
            (s.i2r, s.r2i)
        } else {
            (s.r2i, s.i2r)
        };
        Ok(Keys {
            tx: SendChain::new(tx),
            rx: ReceiveChain::new(rx),
            initiator_public: ikey,
            responder_public: rkey,
            session_id: s.session_id,
            code: s.safety_code,
            fingerprint: s.fingerprint,
            transcript_hash: s.transcript_hash,
            shim_identity: [0; 32],
        })
    }

    /// §4.7: the runner's IDENTITY as `identity`, its first record, with the MAC of §5.7 keyed
    /// by `X25519(identity, shim's ephemeral key)`. `label` names the runner's direction.
    fn identity(
        &mut self,
        identity: &KeyPair,
        shim_ephemeral: &[u8; 32],
        label: &str,
    ) -> Result<Record> {
        let dh = identity.shared(shim_ephemeral)?;
        let mac = model::identity_mac(&self.transcript_hash, &dh, label, identity.public());
        self.seal(&InnerMessage::Identity {
            identity_key: *identity.public(),
            mac,
        })
    }

    /// §4.7: the shim's first record must be an IDENTITY whose MAC the runner recomputes from its
    /// own ephemeral key `mine`. Remembers the identity key.
    async fn shim_identity(&mut self, wire: &mut Wire, mine: &KeyPair, label: &str) -> Result<()> {
        let PeerMessage::Record(r) = wire.peer().await? else {
            return Err("expected the shim's IDENTITY record (§4.7 [4.7-1])".into());
        };
        let opened = self
            .rx
            .open(&r)
            .map_err(|e| format!("the shim's IDENTITY record did not open: {e}"))?;
        let inner = InnerMessage::decode_padded(&opened.plaintext).map_err(|e| e.to_string())?;
        let InnerMessage::Identity { identity_key, mac } = inner else {
            return Err(format!(
                "the shim's first record was {}, not IDENTITY (§4.7 [4.7-1])",
                inner.name()
            ));
        };
        let dh = mine.shared(&identity_key)?;
        let want = model::identity_mac(&self.transcript_hash, &dh, label, &identity_key);
        if !bool::from(want.ct_eq(&mac)) {
            return Err("the shim's IDENTITY MAC is not the one of §5.7".into());
        }
        self.shim_identity = identity_key;
        Ok(())
    }

    /// §13.2: what the shim reports on `established` is what the runner derived: the safety
    /// code, the fingerprint, the runner's identity and the identity fingerprint (§5.8).
    fn check_established(
        &self,
        ev: &Value,
        (shim_nick, runner_nick): (&str, &str),
        runner: &KeyPair,
    ) -> Result<()> {
        if ev["safety_code"] != self.code {
            return Err(format!(
                "safety code {} but the runner derived {}",
                ev["safety_code"], self.code
            ));
        }
        if ev["fingerprint"] != self.fingerprint {
            return Err(format!(
                "fingerprint {} but the runner derived {} (§5.6, §13.2)",
                ev["fingerprint"], self.fingerprint
            ));
        }
        if ev["identity"] != hex::encode(runner.public()) {
            return Err(format!(
                "the shim reports the friend's identity {} but the runner's is {} (§4.7, §13.2)",
                ev["identity"],
                hex::encode(runner.public())
            ));
        }
        let fp = model::identity_fingerprint(
            (shim_nick, &self.shim_identity),
            (runner_nick, runner.public()),
        );
        if ev["identity_fingerprint"] != fp {
            return Err(format!(
                "identity fingerprint {} but the runner derived {fp} (§5.8, §13.2)",
                ev["identity_fingerprint"]
            ));
        }
        Ok(())
    }

    fn seal(&mut self, inner: &InnerMessage) -> Result<Record> {
        self.tx
            .seal(&inner.encode_padded())
            .map_err(|e| e.to_string())
    }

    /// A MSG carrying `text`, sealed.
    fn msg(&mut self, text: &str) -> Result<Record> {
        self.seal(&InnerMessage::Msg { text: text.into() })
    }

    /// Opens the shim's records until one carries an inner message other than ACK and TYPING.
    async fn next_inner(&mut self, wire: &mut Wire) -> Result<InnerMessage> {
        loop {
            match wire.peer().await? {
                PeerMessage::Record(r) => {
                    let opened = self
                        .rx
                        .open(&r)
                        .map_err(|e| format!("the shim's record did not open: {e}"))?;
                    let inner = InnerMessage::decode_padded(&opened.plaintext)
                        .map_err(|e| e.to_string())?;
                    if !matches!(inner, InnerMessage::Ack { .. } | InnerMessage::Typing(_)) {
                        return Ok(inner);
                    }
                }
                other => return Err(format!("expected a RECORD, got {}", other.name())),
            }
        }
    }

    /// §8.2 by the runner's model, for the model's SMP steps.
    fn secret(&self, answer: &str) -> BigUint {
        model::secret_int(&model::smp_secret(
            &self.initiator_public,
            &self.responder_public,
            &self.session_id,
            answer,
        ))
    }
}

static KEY_SEED: AtomicU8 = AtomicU8::new(1);

fn fresh_key() -> KeyPair {
    let b = KEY_SEED.fetch_add(1, Ordering::Relaxed);
    let mut k = [b; 32];
    k[0] = 0x40;
    KeyPair::from_private(k)
}

const SHIM: &str = "alice";
const RUNNER: &str = "bob";

/// The runner's long-term identity (§5.7) in every case but those about a changed one.
fn runner_identity() -> KeyPair {
    KeyPair::from_private([0x52; 32])
}

/// The shim opens a chat with the runner, which answers correctly.
async fn shim_initiates(shim: &mut Shim, wire: &mut Wire) -> Result<Keys> {
    shim_opens(shim, wire, SHIM, RUNNER).await
}

/// [`shim_initiates`] for a shim registered as `shim_nick` whose person types the runner's
/// nickname as `typed` (any case; the keys bind canonical forms, §5.2).
async fn shim_opens(
    shim: &mut Shim,
    wire: &mut Wire,
    shim_nick: &str,
    typed: &str,
) -> Result<Keys> {
    shim_opens_as(shim, wire, shim_nick, typed, &runner_identity()).await
}

/// [`shim_opens`] with the runner proving `identity` (§4.7).
async fn shim_opens_as(
    shim: &mut Shim,
    wire: &mut Wire,
    shim_nick: &str,
    typed: &str,
    identity: &KeyPair,
) -> Result<Keys> {
    let (mut keys, shim_ephemeral) =
        shim_opens_until_identity(shim, wire, shim_nick, typed).await?;
    let record = keys.identity(identity, &shim_ephemeral, "cryptully/3 identity r2i")?;
    wire.send(shim_nick, &PeerMessage::Record(record)).await?;
    let ev = shim.expect("established", |_| true).await?;
    keys.check_established(&ev, (shim_nick, RUNNER), identity)?;
    Ok(keys)
}

/// The first half of [`shim_opens`]: the handshake up to the shim's IDENTITY, checked. Returns
/// the keys and the shim's ephemeral public key; the runner's IDENTITY is still to send.
async fn shim_opens_until_identity(
    shim: &mut Shim,
    wire: &mut Wire,
    shim_nick: &str,
    typed: &str,
) -> Result<(Keys, [u8; 32])> {
    shim.send(json!({"cmd": "open", "peer": typed})).await?;
    let PeerMessage::Helo { commitment: c, .. } = wire.peer().await? else {
        return Err("expected HELO".into());
    };
    let mine = fresh_key();
    wire.send(
        shim_nick,
        &PeerMessage::Redy {
            public_key: *mine.public(),
        },
    )
    .await?;
    let PeerMessage::PubKey { public_key } = wire.peer().await? else {
        return Err("expected PUB_KEY".into());
    };
    if commitment(&public_key) != c {
        return Err("the shim's PUB_KEY does not open its own commitment".into());
    }
    let mut keys = Keys::derive(
        shim_nick,
        RUNNER,
        public_key,
        *mine.public(),
        &mine,
        &public_key,
        false,
    )?;
    keys.shim_identity(wire, &mine, "cryptully/3 identity i2r")
        .await?;
    Ok((keys, public_key))
}

/// The runner opens a chat with the shim, which accepts.
/// The runner, as `from`, sends the shim (`to`) a HELO with `commitment`; the shim's person is
/// asked and accepts. Returns what the shim sent next (REDY, from a correct one).
async fn helo_accepted(
    shim: &mut Shim,
    wire: &mut Wire,
    (to, from): (&str, &str),
    commitment: [u8; 32],
) -> Result<PeerMessage> {
    wire.send(
        to,
        &PeerMessage::Helo {
            version: PEER_VERSION,
            commitment,
        },
    )
    .await?;
    shim.expect("request", |v| v["peer"] == from).await?;
    shim.send(json!({"cmd": "accept", "peer": from})).await?;
    wire.peer().await
}

async fn runner_initiates(shim: &mut Shim, wire: &mut Wire) -> Result<Keys> {
    let mine = fresh_key();
    let PeerMessage::Redy { public_key } =
        helo_accepted(shim, wire, (SHIM, RUNNER), mine.commitment()).await?
    else {
        return Err("expected REDY".into());
    };
    runner_sends_pub_key(shim, wire, &mine, public_key).await
}

/// The runner, as initiator with key pair `mine`, got REDY with `public_key`: it sends PUB_KEY and
/// checks the safety code and fingerprint the shim reports against its own.
async fn runner_sends_pub_key(
    shim: &mut Shim,
    wire: &mut Wire,
    mine: &KeyPair,
    public_key: [u8; 32],
) -> Result<Keys> {
    runner_sends_pub_key_as(
        shim,
        wire,
        (SHIM, RUNNER),
        mine,
        public_key,
        &runner_identity(),
    )
    .await
}

/// [`runner_sends_pub_key`] with the runner proving `identity` (§4.7).
async fn runner_sends_pub_key_as(
    shim: &mut Shim,
    wire: &mut Wire,
    (shim_nick, runner_nick): (&str, &str),
    mine: &KeyPair,
    public_key: [u8; 32],
    identity: &KeyPair,
) -> Result<Keys> {
    wire.send(
        shim_nick,
        &PeerMessage::PubKey {
            public_key: *mine.public(),
        },
    )
    .await?;
    let mut keys = Keys::derive(
        runner_nick,
        shim_nick,
        *mine.public(),
        public_key,
        mine,
        &public_key,
        true,
    )?;
    let record = keys.identity(identity, &public_key, "cryptully/3 identity i2r")?;
    wire.send(shim_nick, &PeerMessage::Record(record)).await?;
    keys.shim_identity(wire, mine, "cryptully/3 identity r2i")
        .await?;
    let ev = shim.expect("established", |_| true).await?;
    keys.check_established(&ev, (shim_nick, runner_nick), identity)?;
    Ok(keys)
}

/// §4.4 [4.4-4]: the shim's next peer message is REJ HANDSHAKE_FAILED, and nothing else.
/// The runner asks (HELO), the shim's person is asked, then `reject` is sent to the shim.
async fn shim_rejects(e: &mut Env, reject: Value) -> Result<()> {
    let k = fresh_key();
    e.wire
        .send(
            SHIM,
            &PeerMessage::Helo {
                version: PEER_VERSION,
                commitment: k.commitment(),
            },
        )
        .await?;
    e.shim.expect("request", |_| true).await?;
    e.shim.send(reject).await
}

async fn expect_handshake_failed_rej(wire: &mut Wire) -> Result<()> {
    match wire.peer_within(Duration::from_secs(5)).await? {
        Some(PeerMessage::Rej {
            reason: RejectReason::HandshakeFailed,
        }) => Ok(()),
        Some(m) => Err(format!(
            "the shim sent {} instead of REJ HANDSHAKE_FAILED (§4.4)",
            m.name()
        )),
        None => Err(
            "the shim did not announce the failed handshake with REJ HANDSHAKE_FAILED (§4.4)"
                .into(),
        ),
    }
}

/// The shim must not reach `established`, and must tell its person (error or ended).
async fn expect_refused(shim: &mut Shim) -> Result<()> {
    let events = shim.drain(Duration::from_secs(2)).await?;
    if events.iter().any(|e| e["event"] == "established") {
        return Err(format!(
            "the shim established the chat anyway: {}",
            Value::from(events)
        ));
    }
    if !events
        .iter()
        .any(|e| e["event"] == "error" || e["event"] == "ended")
    {
        return Err(format!(
            "the shim did not tell its person: {}",
            Value::from(events)
        ));
    }
    Ok(())
}

/// What each case gets.
pub struct Ctx {
    shim: Vec<String>,
    /// The exit status of a shim that exited during the current case (-1: none).
    exit: Arc<AtomicI32>,
}

struct Env {
    _relay: RelayHandle,
    shim: Shim,
    wire: Wire,
}

/// The shim's events before it shows the message `text`, which must come. The runner sent only
/// messages the shim must drop before it (§4.5 [4.5-4]: they change nothing), so a chat that
/// ends, or any other message shown, fails.
async fn before_message(shim: &mut Shim, text: &str) -> Result<Vec<Value>> {
    let mut seen = Vec::new();
    loop {
        let Some(v) = shim.next(WAIT).await? else {
            return Err(format!(
                "the genuine message {text:?} after the dropped ones was not shown, saw {}",
                Value::from(seen)
            ));
        };
        if v["event"] == "message" && v["text"] == text {
            return Ok(seen);
        }
        if v["event"] == "ended" || v["event"] == "message" {
            return Err(format!("a message that must be refused was acted on: {v}"));
        }
        seen.push(v);
    }
}

/// [4.5-4]: each of `count` dropped messages is reported to the person (an `error`, §13).
fn refusals_reported(seen: &[Value], count: usize) -> Result<()> {
    let errors = seen.iter().filter(|v| v["event"] == "error").count();
    if errors >= count {
        Ok(())
    } else {
        Err(format!(
            "{count} messages were dropped but {errors} reported to the person (§4.5 [4.5-4]), saw {}",
            Value::from(seen.to_vec())
        ))
    }
}

async fn env(ctx: &Ctx) -> Result<Env> {
    env_named(ctx, SHIM).await
}

/// [`env`] with the shim registered as `shim_nick`.
async fn env_named(ctx: &Ctx, shim_nick: &str) -> Result<Env> {
    let relay = cryptully_relay::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), Config::default())
        .await
        .map_err(|e| e.to_string())?;
    let wire = Wire::registered(relay.local_addr(), RUNNER).await?;
    let shim = Shim::start(ctx, relay.local_addr(), shim_nick).await?;
    Ok(Env {
        _relay: relay,
        shim,
        wire,
    })
}

fn flip_tag(mut r: Record) -> Record {
    r.tag[0] ^= 1;
    r
}

/// Every peer case, in spec order.
pub fn cases() -> Vec<Case<Ctx>> {
    vec![
        case!(
            "PEER-4-INITIATOR",
            "the implementation opens a chat; both derive the same safety code",
            ["5.2-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                shim_initiates(&mut e.shim, &mut e.wire).await.map(|_| ())
            }
        ),
        case!(
            "PEER-4-RESPONDER",
            "the implementation asks its person, accepts, and derives the same safety code",
            ["4.3-1", "4.4-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                runner_initiates(&mut e.shim, &mut e.wire).await.map(|_| ())
            }
        ),
        case!(
            "PEER-4-FRESH-KEYS",
            "two chats in a row: the implementation's HELO commitments and REDY keys all differ",
            ["4.2-1", "4.3-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut commitments = Vec::new();
                let mut redy_keys = Vec::new();
                for _ in 0..2 {
                    // As initiator: a HELO, which the runner leaves unanswered; then close.
                    e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                    let PeerMessage::Helo { commitment, .. } = e.wire.peer().await? else {
                        return Err("expected HELO".into());
                    };
                    commitments.push(commitment);
                    // Closed before the runner's HELO comes, or the two would cross (§4.5).
                    e.shim.send(json!({"cmd": "close", "peer": RUNNER})).await?;
                    e.shim.expect("ended", |_| true).await?;
                    // As responder: the runner asks, the person accepts, REDY; then close.
                    let PeerMessage::Redy { public_key } = helo_accepted(
                        &mut e.shim,
                        &mut e.wire,
                        (SHIM, RUNNER),
                        fresh_key().commitment(),
                    )
                    .await?
                    else {
                        return Err("expected REDY".into());
                    };
                    redy_keys.push(public_key);
                    e.shim.send(json!({"cmd": "close", "peer": RUNNER})).await?;
                    e.shim.expect("ended", |_| true).await?;
                    // A close may reach the wire as REJ or nothing; drain it.
                    while e
                        .wire
                        .peer_within(Duration::from_millis(200))
                        .await?
                        .is_some()
                    {}
                }
                if commitments[0] == commitments[1] {
                    return Err("the same HELO commitment twice: a key was reused (§4.2)".into());
                }
                if redy_keys[0] == redy_keys[1] {
                    return Err("the same REDY key twice: a key was reused (§4.3)".into());
                }
                Ok(())
            }
        ),
        case!(
            "PEER-4.3-REJECT",
            "a person's reject sends REJ DECLINED",
            ["4.3-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                shim_rejects(&mut e, json!({"cmd": "reject", "peer": RUNNER})).await?;
                match e.wire.peer().await? {
                    PeerMessage::Rej {
                        reason: RejectReason::Declined,
                    } => Ok(()),
                    other => Err(format!("expected REJ DECLINED, got {other:?}")),
                }
            }
        ),
        case!(
            "PEER-4.3-REJECT-BUSY",
            "the shim's reject with reason busy sends REJ BUSY (§13.1)",
            [],
            |ctx| {
                let mut e = env(ctx).await?;
                shim_rejects(
                    &mut e,
                    json!({"cmd": "reject", "peer": RUNNER, "reason": "busy"}),
                )
                .await?;
                match e.wire.peer().await? {
                    PeerMessage::Rej {
                        reason: RejectReason::Busy,
                    } => Ok(()),
                    other => Err(format!("expected REJ BUSY, got {other:?}")),
                }
            }
        ),
        case!(
            "PEER-4.3-REJECTED",
            "REJ BUSY and REJ DECLINED end the initiator's chat, each with its own reason",
            ["4.3-7"],
            |ctx| {
                let mut e = env(ctx).await?;
                for (reason, name) in [
                    (RejectReason::Busy, "busy"),
                    (RejectReason::Declined, "declined"),
                ] {
                    e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                    let PeerMessage::Helo { .. } = e.wire.peer().await? else {
                        return Err("expected HELO".into());
                    };
                    e.wire.send(SHIM, &PeerMessage::Rej { reason }).await?;
                    let got = e.shim.expect("rejected", |_| true).await?;
                    if got["reason"] != name {
                        return Err(format!(
                            "REJ {reason:?} reported as {got}, not reason {name:?}"
                        ));
                    }
                }
                Ok(())
            }
        ),
        case!(
            "PEER-4.3-UNSUPPORTED-VERSION",
            "a HELO of version 1 is rejected without asking the person",
            ["4.3-3", "11-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Helo {
                            version: 1,
                            commitment: [1; 32],
                        },
                    )
                    .await?;
                match e.wire.peer().await? {
                    PeerMessage::Rej {
                        reason: cryptully_protocol::RejectReason::UnsupportedVersion,
                    } => {}
                    other => {
                        return Err(format!("expected REJ UNSUPPORTED_VERSION, got {other:?}"));
                    }
                }
                let events = e.shim.drain(Duration::from_millis(500)).await?;
                if events.iter().any(|v| v["event"] == "request") {
                    Err("the person was asked".into())
                } else {
                    Ok(())
                }
            }
        ),
        case!(
            "PEER-4.4-COMMITMENT-MISMATCH",
            "PUB_KEY that does not open HELO's commitment: REJ HANDSHAKE_FAILED, no chat",
            ["4.4-1", "4.4-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (promised, sent) = (fresh_key(), fresh_key());
                let _redy = helo_accepted(
                    &mut e.shim,
                    &mut e.wire,
                    (SHIM, RUNNER),
                    promised.commitment(),
                )
                .await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::PubKey {
                            public_key: *sent.public(),
                        },
                    )
                    .await?;
                expect_handshake_failed_rej(&mut e.wire).await?;
                expect_refused(&mut e.shim).await
            }
        ),
        case!(
            "PEER-4.4-LOW-ORDER-KEY",
            "REDY with a low-order point: REJ HANDSHAKE_FAILED instead of PUB_KEY, no chat",
            ["4.4-2", "4.4-3", "4.4-4", "5.3-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                let _helo = e.wire.peer().await?;
                let mut point = [0u8; 32];
                point[0] = 1;
                e.wire
                    .send(SHIM, &PeerMessage::Redy { public_key: point })
                    .await?;
                expect_handshake_failed_rej(&mut e.wire).await?;
                expect_refused(&mut e.shim).await
            }
        ),
        case!(
            "PEER-4.4-HANDSHAKE-FAILED-RECEIVED",
            "the shim sent PUB_KEY and its IDENTITY; REJ HANDSHAKE_FAILED comes instead of the friend's IDENTITY: the chat ends, is never reported established, a message the person writes is refused and reported undelivered, and a late IDENTITY changes nothing",
            ["4.4-5", "4.7-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (mut k, shim_ephemeral) =
                    shim_opens_until_identity(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                // §4.7 [4.7-3]: while the runner's IDENTITY is awaited, nothing the person
                // writes is sealed.
                nothing_leaves(&mut e, 6, "before the friend's IDENTITY (§4.7 [4.7-3])").await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Rej {
                            reason: RejectReason::HandshakeFailed,
                        },
                    )
                    .await?;
                let mut events = e.shim.drain(Duration::from_secs(2)).await?;
                let ended = events.iter().any(|v| {
                    v["event"] == "ended"
                        || (v["event"] == "rejected" && v["reason"] == "handshake_failed")
                });
                if !ended {
                    return Err(format!(
                        "REJ HANDSHAKE_FAILED before any record must end the chat (§4.4): {}",
                        Value::from(events)
                    ));
                }
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 7, "text": "hello"}))
                    .await?;
                let record = k.identity(
                    &runner_identity(),
                    &shim_ephemeral,
                    "cryptully/3 identity r2i",
                )?;
                e.wire.record(record).await?;
                events.extend(e.shim.drain(Duration::from_millis(700)).await?);
                if let Some(v) = events.iter().find(|v| v["event"] == "established") {
                    return Err(format!("the failed chat was reported established: {v}"));
                }
                if let Some(m) = e.wire.peer_within(Duration::from_millis(300)).await? {
                    return Err(format!(
                        "the shim sent {} after the failed handshake",
                        m.name()
                    ));
                }
                let undelivered = events.iter().any(|v| {
                    v["event"] == "undelivered"
                        && v["ids"]
                            .as_array()
                            .is_some_and(|ids| ids.contains(&json!(7)))
                });
                if !undelivered {
                    return Err(format!(
                        "the unacknowledged message must be reported undelivered: {}",
                        Value::from(events)
                    ));
                }
                e.wire.record(k.msg("after")?).await?;
                let later = e.shim.drain(Duration::from_millis(700)).await?;
                match later.iter().find(|v| v["event"] == "message") {
                    Some(v) => Err(format!(
                        "a record after the failed handshake was shown: {v}"
                    )),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-4.4-HANDSHAKE-FAILED-AFTER-IDENTITY",
            "the shim counts the chat secure (the runner's IDENTITY opened), then REJ HANDSHAKE_FAILED comes before any other record of the runner's: the friend refused the shim's IDENTITY, so the chat ends",
            ["4.4-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let _k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Rej {
                            reason: RejectReason::HandshakeFailed,
                        },
                    )
                    .await?;
                let events = e.shim.drain(Duration::from_secs(2)).await?;
                if events.iter().any(|v| {
                    v["event"] == "ended"
                        || (v["event"] == "rejected" && v["reason"] == "handshake_failed")
                }) {
                    Ok(())
                } else {
                    Err(format!(
                        "each side sends its IDENTITY before checking the other's, so the friend may refuse the shim's after the shim accepted the friend's; its REJ must end the chat (§4.4 [4.4-5]): {}",
                        Value::from(events)
                    ))
                }
            }
        ),
        case!(
            "PEER-4.4-HANDSHAKE-FAILED-FORGED",
            "REJ HANDSHAKE_FAILED after a record of the friend's beyond its IDENTITY has opened is a relay's forgery: ignored, the chat goes on",
            ["4.4-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.wire.record(k.msg("first")?).await?;
                e.shim.expect("message", |v| v["text"] == "first").await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Rej {
                            reason: RejectReason::HandshakeFailed,
                        },
                    )
                    .await?;
                e.wire.record(k.msg("still here")?).await?;
                let events = e.shim.drain(Duration::from_secs(2)).await?;
                if let Some(v) = events
                    .iter()
                    .find(|v| v["event"] == "ended" || v["event"] == "rejected")
                {
                    return Err(format!("a forged REJ ended the chat: {v}"));
                }
                if events
                    .iter()
                    .any(|v| v["event"] == "message" && v["text"] == "still here")
                {
                    Ok(())
                } else {
                    Err(format!(
                        "the chat must go on after a forged REJ: {}",
                        Value::from(events)
                    ))
                }
            }
        ),
        case!(
            "PEER-4.4-LOW-ORDER-PUB-KEY",
            "PUB_KEY with a low-order point that opens its commitment: REJ HANDSHAKE_FAILED, no chat",
            ["4.4-2", "4.4-4", "5.3-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut point = [0u8; 32];
                point[0] = 1;
                let _redy =
                    helo_accepted(&mut e.shim, &mut e.wire, (SHIM, RUNNER), commitment(&point))
                        .await?;
                e.wire
                    .send(SHIM, &PeerMessage::PubKey { public_key: point })
                    .await?;
                expect_handshake_failed_rej(&mut e.wire).await?;
                expect_refused(&mut e.shim).await
            }
        ),
        case!(
            "PEER-5.2-MIXED-CASE-NICKNAMES",
            "the shim opens a chat typing the friend's nickname in mixed case: the transcript uses canonical forms, so the codes agree",
            ["3.2-4", "5.2-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                shim_opens(&mut e.shim, &mut e.wire, SHIM, "BoB")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-4.5-UNEXPECTED-IN-EXPECT-REDY",
            "PUB_KEY while waiting for REDY ends the handshake",
            ["4.5-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                let _helo = e.wire.peer().await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::PubKey {
                            public_key: *fresh_key().public(),
                        },
                    )
                    .await?;
                expect_refused(&mut e.shim).await
            }
        ),
        case!(
            "PEER-4.5-UNEXPECTED-IN-EXPECT-PUB-KEY",
            "REDY while waiting for PUB_KEY ends the handshake",
            ["4.5-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let commitment = fresh_key().commitment();
                let _redy =
                    helo_accepted(&mut e.shim, &mut e.wire, (SHIM, RUNNER), commitment).await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Redy {
                            public_key: *fresh_key().public(),
                        },
                    )
                    .await?;
                expect_refused(&mut e.shim).await
            }
        ),
        case!(
            "PEER-4.5-UNEXPECTED-IN-ESTABLISHED",
            "REDY in an established chat ends it",
            ["4.5-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let _k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Redy {
                            public_key: *fresh_key().public(),
                        },
                    )
                    .await?;
                let events = e.shim.drain(Duration::from_secs(2)).await?;
                if events
                    .iter()
                    .any(|v| v["event"] == "error" || v["event"] == "ended")
                {
                    Ok(())
                } else {
                    Err(format!("nothing told: {}", Value::from(events)))
                }
            }
        ),
        case!(
            "PEER-4.5-UNDECODABLE-IGNORED",
            "an undecodable peer message changes nothing but is reported to the person: the chat goes on",
            ["4.5-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                for garbage in [vec![0x99, 1, 2, 3], vec![0x20, 0, 1], vec![0x10]] {
                    e.wire.send_payload(SHIM, garbage).await?;
                }
                let r = k.msg("still here")?;
                e.wire.record(r).await?;
                let seen = before_message(&mut e.shim, "still here").await?;
                refusals_reported(&seen, 3)
            }
        ),
        case!(
            "PEER-4.5-NO-SESSION-IGNORED",
            "REDY, PUB_KEY and RECORD from a nickname with no chat get no answer; a HELO after them is a request",
            ["4.5-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let key = fresh_key();
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Redy {
                            public_key: *key.public(),
                        },
                    )
                    .await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::PubKey {
                            public_key: *key.public(),
                        },
                    )
                    .await?;
                let stray = Record {
                    seq: 0,
                    ciphertext: vec![0; 80],
                    tag: [0; 32],
                };
                e.wire.send(SHIM, &PeerMessage::Record(stray)).await?;
                if let Some(m) = e.wire.peer_within(Duration::from_millis(500)).await? {
                    return Err(format!("the shim answered {} with no chat open", m.name()));
                }
                let mine = fresh_key();
                let redy =
                    helo_accepted(&mut e.shim, &mut e.wire, (SHIM, RUNNER), mine.commitment())
                        .await?;
                match redy {
                    PeerMessage::Redy { .. } => Ok(()),
                    other => Err(format!("expected REDY, got {}", other.name())),
                }
            }
        ),
        case!(
            "PEER-4.5-OPEN-ACCEPTS-PENDING-REQUEST",
            "the shim's person opens a chat with a friend whose request is waiting: that accepts it (REDY), not a second HELO",
            ["4.5-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mine = fresh_key();
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Helo {
                            version: PEER_VERSION,
                            commitment: mine.commitment(),
                        },
                    )
                    .await?;
                e.shim.expect("request", |v| v["peer"] == RUNNER).await?;
                e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                let PeerMessage::Redy { public_key } = e.wire.peer().await? else {
                    return Err(
                        "opening a chat while the friend's request waits must accept it with REDY (§4.5)"
                            .into(),
                    );
                };
                runner_sends_pub_key(&mut e.shim, &mut e.wire, &mine, public_key)
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-4.5-TIMEOUT-EXPECT-REDY",
            "the shim opens a chat nobody answers: it gives up after 300 s of its clock (§13.1 `clock`), not before, sending nothing",
            ["4.5-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                e.shim.send(json!({"cmd": "open", "peer": RUNNER})).await?;
                let PeerMessage::Helo { .. } = e.wire.peer().await? else {
                    return Err("expected HELO".into());
                };
                handshake_times_out(&mut e, 300).await
            }
        ),
        case!(
            "PEER-4.5-TIMEOUT-EXPECT-DECISION",
            "a request the shim's person never decides on ends after 300 s of its clock, not before, sending nothing",
            ["4.5-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Helo {
                            version: PEER_VERSION,
                            commitment: fresh_key().commitment(),
                        },
                    )
                    .await?;
                e.shim.expect("request", |v| v["peer"] == RUNNER).await?;
                handshake_times_out(&mut e, 300).await
            }
        ),
        case!(
            "PEER-4.5-TIMEOUT-EXPECT-PUB-KEY",
            "the shim accepted and sent REDY; no PUB_KEY comes: it gives up after 30 s of its clock, not before, sending nothing",
            ["4.5-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let k = fresh_key();
                let PeerMessage::Redy { .. } =
                    helo_accepted(&mut e.shim, &mut e.wire, (SHIM, RUNNER), k.commitment()).await?
                else {
                    return Err("expected REDY".into());
                };
                handshake_times_out(&mut e, 30).await
            }
        ),
        case!(
            "PEER-4.5-HELO-REPLACES-PENDING-REQUEST",
            "a second HELO while the first waits for the person replaces it: the handshake uses the second commitment",
            ["4.5-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (first, second) = (fresh_key(), fresh_key());
                e.wire
                    .send(
                        SHIM,
                        &PeerMessage::Helo {
                            version: PEER_VERSION,
                            commitment: first.commitment(),
                        },
                    )
                    .await?;
                e.shim.expect("request", |v| v["peer"] == RUNNER).await?;
                let PeerMessage::Redy { public_key } = helo_accepted(
                    &mut e.shim,
                    &mut e.wire,
                    (SHIM, RUNNER),
                    second.commitment(),
                )
                .await?
                else {
                    return Err("expected REDY".into());
                };
                // The runner checks the code, the fingerprint and the identities (§13.2).
                runner_sends_pub_key(&mut e.shim, &mut e.wire, &second, public_key)
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-7-MESSAGES-AND-RECEIPTS",
            "messages both ways; each MSG is acknowledged and the sender told",
            ["7.4-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r = k.msg("hello from the runner ✓")?;
                e.wire.record(r.clone()).await?;
                e.shim
                    .expect("message", |v| v["text"] == "hello from the runner ✓")
                    .await?;
                let ack = match e.wire.peer().await? {
                    PeerMessage::Record(a) => k.rx.open(&a).map_err(|e| e.to_string())?,
                    other => return Err(format!("expected the ACK record, got {}", other.name())),
                };
                match InnerMessage::decode_padded(&ack.plaintext) {
                    Ok(InnerMessage::Ack { seq }) if seq == r.seq => {}
                    other => return Err(format!("expected ACK {}, got {other:?}", r.seq)),
                }
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 42, "text": "hello runner"}))
                    .await?;
                let seq = match e.wire.peer().await? {
                    PeerMessage::Record(m) => {
                        let seq = m.seq;
                        let opened = k.rx.open(&m).map_err(|e| e.to_string())?;
                        match InnerMessage::decode_padded(&opened.plaintext) {
                            Ok(InnerMessage::Msg { text }) if text == "hello runner" => seq,
                            other => return Err(format!("expected MSG, got {other:?}")),
                        }
                    }
                    other => return Err(format!("expected a RECORD, got {}", other.name())),
                };
                let ack = k.seal(&InnerMessage::Ack { seq })?;
                e.wire.record(ack).await?;
                e.shim
                    .expect("delivered", |v| v["id"] == 42)
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-7.5-TYPING",
            "TYPING states reach the person",
            [],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = runner_initiates(&mut e.shim, &mut e.wire).await?;
                for state in [TypingState::Typing, TypingState::StoppedWithText] {
                    e.wire.record(k.seal(&InnerMessage::Typing(state))?).await?;
                }
                e.shim.expect("typing", |v| v["state"] == 0).await?;
                e.shim
                    .expect("typing", |v| v["state"] == 2)
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-BAD-TAG",
            "a record with a bad tag is a tampering warning; the genuine one still opens",
            ["6.4-3", "6.4-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r = k.msg("genuine")?;
                e.wire.record(flip_tag(r.clone())).await?;
                e.shim
                    .expect("warning", |v| v["kind"] == "tampered")
                    .await?;
                e.wire.record(r).await?;
                e.shim
                    .expect("message", |v| v["text"] == "genuine")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-BAD-TAG-VARIANTS",
            "the last tag byte, a ciphertext byte or the sequence number changed: each a tampering warning; the genuine record still opens",
            ["6.4-3", "6.4-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r = k.msg("genuine")?;
                let mut last_tag = r.clone();
                if let Some(b) = last_tag.tag.last_mut() {
                    *b ^= 0x80;
                }
                let mut ciphertext = r.clone();
                if let Some(b) = ciphertext.ciphertext.get_mut(20) {
                    *b ^= 0x01;
                }
                let mut seq = r.clone();
                seq.seq += 1;
                for forged in [last_tag, ciphertext, seq] {
                    e.wire.record(forged).await?;
                    e.shim
                        .expect("warning", |v| v["kind"] == "tampered")
                        .await?;
                }
                e.wire.record(r).await?;
                e.shim
                    .expect("message", |v| v["text"] == "genuine")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-6.3-CIPHERTEXT-LENGTH-REFUSED",
            "a RECORD whose ciphertext is not 64·k + 16 bytes with 1 ≤ k ≤ 257 is refused as undecodable and reported, though its tag is good: the chat goes on",
            ["6.3-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                // Each is sealed with the chain's next keys, so its tag is good, around a
                // plaintext of 0, 80 and 258·64 bytes: ciphertexts of 16 (k = 0), 96 (not
                // 64·k + 16) and 64·258 + 16 bytes (k = 258, over §10.1's bound). A decoder
                // that took one would open it, and an invalid padded message behind a good tag
                // ends the chat (§6.4 step 6); refused, it changes nothing (§4.5 [4.5-4]), and
                // the next record has the same number.
                for len in [0, 80, 258 * 64] {
                    let bad = k.tx.clone().seal(&vec![0u8; len])?;
                    e.wire.record(bad).await?;
                }
                e.wire.record(k.msg("genuine")?).await?;
                let seen = before_message(&mut e.shim, "genuine").await?;
                refusals_reported(&seen, 3)
            }
        ),
        case!(
            "PEER-6.4-BAD-PADDING-IS-FATAL",
            "a record with a good tag around an invalid padded message ends the chat (§6.4 step 6)",
            ["6.4-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                // MSG "x" with a nonzero byte in its padding (§7.1).
                let mut padded = InnerMessage::Msg { text: "x".into() }
                    .encode_padded()
                    .to_vec();
                if let Some(b) = padded.last_mut() {
                    *b = 0x01;
                }
                let r = k.tx.seal(&padded).map_err(|e| e.to_string())?;
                e.wire.record(r).await?;
                e.shim.expect("ended", |_| true).await.map(|_| ())
            }
        ),
        case!(
            "PEER-4.6-RECORD-AFTER-END",
            "a MSG after END is not shown",
            ["4.6-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let end = k.seal(&InnerMessage::End)?;
                let late = k.msg("after the end")?;
                e.wire.record(end).await?;
                e.wire.record(late).await?;
                e.shim.expect("ended", |_| true).await?;
                let later = e.shim.drain(Duration::from_millis(500)).await?;
                match later.iter().find(|v| v["event"] == "message") {
                    Some(v) => Err(format!("a message after END was shown: {v}")),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-7.4-ACK-UNKNOWN",
            "an ACK for a number never sent changes nothing: no delivered event, the chat goes on",
            ["7.4-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let ack = k.seal(&InnerMessage::Ack { seq: 999 })?;
                e.wire.record(ack).await?;
                let m = k.msg("next")?;
                e.wire.record(m).await?;
                let seen = e.shim.expect("message", |v| v["text"] == "next").await;
                let drained = e.shim.drain(Duration::from_millis(300)).await?;
                if let Some(v) = drained.iter().find(|v| v["event"] == "delivered") {
                    return Err(format!("an unknown ACK was reported: {v}"));
                }
                seen.map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-TOO-FAR-ENDS",
            "MAX_TOO_FAR records in a row more than MAX_SKIP ahead end the chat: END sent, `ended` reported",
            ["6.4-2", "6.4-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                // Records the runner really sealed, numbered as if MAX_SKIP + 1 were lost.
                for i in 0..MAX_TOO_FAR {
                    let mut r = k.msg(&format!("late {i}"))?;
                    r.seq += MAX_SKIP + 1;
                    e.wire.record(r).await?;
                }
                e.shim.expect("ended", |_| true).await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::End => Ok(()),
                    other => Err(format!("expected END, got {}", other.name())),
                }
            }
        ),
        case!(
            "PEER-6.4-TOO-FAR-FEWER-THAN-MAX-GO-ON",
            "MAX_TOO_FAR - 1 records in a row too far ahead are tampering warnings and the chat goes on; a record that opens resets the count, so MAX_TOO_FAR - 1 more do not end it either",
            ["6.4-2", "6.4-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                for round in 0..2 {
                    for i in 0..MAX_TOO_FAR - 1 {
                        let mut r = k.msg(&format!("late {round} {i}"))?;
                        r.seq += MAX_SKIP + 1;
                        e.wire.record(r).await?;
                        e.shim
                            .expect("warning", |v| v["kind"] == "tampered")
                            .await?;
                    }
                    let text = format!("genuine {round}");
                    e.wire.record(k.msg(&text)?).await?;
                    let v = e.shim.expect("message", |v| v["text"] == text).await;
                    if let Err(why) = v {
                        return Err(format!(
                            "fewer than MAX_TOO_FAR records in a row too far ahead must not end the chat (§6.4): {why}"
                        ));
                    }
                }
                Ok(())
            }
        ),
        case!(
            "PEER-6.4-REPLAY",
            "a record sent twice is a replay warning, shown once",
            ["6.4-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r = k.msg("once")?;
                e.wire.record(r.clone()).await?;
                e.shim.expect("message", |v| v["text"] == "once").await?;
                e.wire.record(r).await?;
                let w = e.shim.expect("warning", |v| v["kind"] == "replayed").await;
                w.map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-MAX-SKIP-AHEAD-OPENS",
            "a record exactly MAX_SKIP ahead (MAX_SKIP records lost) still opens: the loss is reported and the message shown",
            ["6.4-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                for i in 0..MAX_SKIP {
                    k.msg(&format!("lost {i}"))?;
                }
                e.wire.record(k.msg("after the gap")?).await?;
                let mut seen = Vec::new();
                loop {
                    let Some(v) = e.shim.next(WAIT).await? else {
                        return Err(format!(
                            "a record MAX_SKIP ahead must open (§6.4: only more than MAX_SKIP is too far), saw {}",
                            Value::from(seen)
                        ));
                    };
                    if v["event"] == "message" && v["text"] == "after the gap" {
                        break;
                    }
                    seen.push(v);
                }
                let deleted = |v: &Value| v["kind"] == "deleted" && v["count"] == MAX_SKIP;
                match seen.iter().any(|v| v["event"] == "warning" && deleted(v)) {
                    true => Ok(()),
                    false => Err(format!(
                        "the {MAX_SKIP} records lost were not reported deleted (§6.4), saw {}",
                        Value::from(seen)
                    )),
                }
            }
        ),
        case!(
            "PEER-6.4-DROPPED",
            "records deleted in transit are counted and reported",
            ["6.4-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r0 = k.msg("zero")?;
                let _r1 = k.msg("one")?;
                let _r2 = k.msg("two")?;
                let r3 = k.msg("three")?;
                e.wire.record(r0).await?;
                e.wire.record(r3).await?;
                e.shim.expect("message", |v| v["text"] == "zero").await?;
                e.shim
                    .expect("warning", |v| v["kind"] == "deleted" && v["count"] == 2)
                    .await?;
                e.shim
                    .expect("message", |v| v["text"] == "three")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-REORDERED",
            "a record after a later one is a replay: reordering is detected",
            ["6.4-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let r0 = k.msg("first")?;
                let r1 = k.msg("second")?;
                e.wire.record(r1).await?;
                e.wire.record(r0).await?;
                e.shim
                    .expect("warning", |v| v["kind"] == "deleted" && v["count"] == 1)
                    .await?;
                e.shim.expect("message", |v| v["text"] == "second").await?;
                e.shim
                    .expect("warning", |v| v["kind"] == "replayed")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-6.4-BURST",
            "300 records written at once, faster than the shim reads: every message is shown once, in order, with no warning, and every one is acknowledged",
            ["7.4-1"],
            |ctx| {
                const N: usize = 300;
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut sent = Vec::with_capacity(N);
                for i in 0..N {
                    let r = k.msg(&format!("burst {i:03}"))?;
                    sent.push(r.seq);
                    e.wire.record(r).await?;
                }
                let mut shown = 0;
                while shown < N {
                    let Some(v) = e.shim.next(WAIT).await? else {
                        return Err(format!("only {shown} of {N} messages shown"));
                    };
                    match v["event"].as_str() {
                        Some("message") if v["text"] == format!("burst {shown:03}") => shown += 1,
                        Some("message") => {
                            return Err(format!("message {shown} expected, got {v}"));
                        }
                        Some("warning" | "error" | "ended") => {
                            return Err(format!("after {shown} messages: {v}"));
                        }
                        _ => {}
                    }
                }
                let mut acked = Vec::with_capacity(N);
                while acked.len() < N {
                    let PeerMessage::Record(r) = e.wire.peer().await? else {
                        return Err("expected a RECORD".into());
                    };
                    let opened =
                        k.rx.open(&r)
                            .map_err(|e| format!("the shim's record: {e}"))?;
                    if let InnerMessage::Ack { seq } =
                        InnerMessage::decode_padded(&opened.plaintext).map_err(|e| e.to_string())?
                    {
                        acked.push(seq);
                    }
                }
                if acked != sent {
                    return Err(format!("ACKs {acked:?} for records {sent:?}"));
                }
                Ok(())
            }
        ),
        case!(
            "PEER-7.3-OVERSIZE",
            "an authenticated MSG of 16385 bytes is not shown, and the person is told",
            ["2.2-1", "7.1-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut raw = vec![0x01, 0x40, 0x01];
                raw.extend(std::iter::repeat_n(b'x', 16385));
                raw.resize(raw.len().next_multiple_of(64), 0);
                let r = k.tx.seal(&raw).map_err(|e| e.to_string())?;
                e.wire.record(r).await?;
                let events = e.shim.drain(Duration::from_secs(2)).await?;
                if events.iter().any(|v| v["event"] == "message") {
                    return Err("the oversize message was shown".into());
                }
                if events
                    .iter()
                    .any(|v| v["event"] == "error" || v["event"] == "ended")
                {
                    Ok(())
                } else {
                    Err(format!("nothing told: {}", Value::from(events)))
                }
            }
        ),
        case!(
            "PEER-10.1-BOUNDS-REFUSED-BEFORE-SENDING",
            "an empty message, a message of 16385 bytes and a question of 1025 bytes are refused with an error and never sent; a message of 16384 bytes and a question of 1024 are sent",
            ["10.1-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let max_msg = "x".repeat(16384);
                let max_question = "q".repeat(1024);
                for (cmd, what) in [
                    (
                        json!({"cmd": "send", "peer": RUNNER, "id": 1, "text": ""}),
                        "an empty message",
                    ),
                    (
                        json!({"cmd": "send", "peer": RUNNER, "id": 2, "text": "x".repeat(16385)}),
                        "a message of 16385 bytes",
                    ),
                    (
                        json!({"cmd": "smp_start", "peer": RUNNER, "question": "q".repeat(1025), "answer": "a"}),
                        "a question of 1025 bytes",
                    ),
                ] {
                    e.shim.send(cmd).await?;
                    e.shim
                        .expect("error", |_| true)
                        .await
                        .map_err(|err| format!("{what} must be refused with an error: {err}"))?;
                }
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 3, "text": max_msg}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::Msg { text } if text == max_msg => {}
                    InnerMessage::Msg { text } => {
                        return Err(format!(
                            "a refused message was sent: a MSG of {} bytes came first",
                            text.len()
                        ));
                    }
                    other => return Err(format!("expected the MSG, got {}", other.name())),
                }
                e.shim
                    .send(json!({"cmd": "smp_start", "peer": RUNNER, "question": max_question, "answer": "a"}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::Smp0 { question } if question == max_question => Ok(()),
                    InnerMessage::Smp0 { question } => Err(format!(
                        "SMP0 carried a question of {} bytes, not the one of 1024",
                        question.len()
                    )),
                    InnerMessage::Ack { .. } => Err("unexpected ACK".into()),
                    other => Err(format!(
                        "a question of 1024 bytes must be sent: got {}",
                        other.name()
                    )),
                }
            }
        ),
        case!(
            "PEER-7.7-CLOSE-SENDS-END",
            "the shim's person closes an established chat: END goes to the friend, and no record after it",
            ["4.6-3", "4.6-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.shim.send(json!({"cmd": "close", "peer": RUNNER})).await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::End => {}
                    other => {
                        return Err(format!(
                            "closing a chat must send END (§4.6), got {}",
                            other.name()
                        ));
                    }
                }
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 1, "text": "late"}))
                    .await?;
                match e.wire.peer_within(Duration::from_millis(700)).await? {
                    Some(m) => Err(format!("the shim sent {} after END", m.name())),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-4.7-CLOSE-WHILE-WAITING-FOR-IDENTITY-SENDS-END",
            "the shim's person closes the chat after the shim sent its IDENTITY and before the friend's arrived: END goes to the friend all the same",
            ["4.6-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (mut k, _) =
                    shim_opens_until_identity(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                e.shim.send(json!({"cmd": "close", "peer": RUNNER})).await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::End => Ok(()),
                    other => Err(format!(
                        "closing a chat that waits for the friend's IDENTITY must send END \
                         (§4.7), got {}",
                        other.name()
                    )),
                }
            }
        ),
        case!(
            "PEER-7.7-END",
            "END from the peer ends the chat and reports unacknowledged messages",
            ["4.6-1", "7.4-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.shim.send(json!({"cmd": "send", "peer": RUNNER, "id": 7, "text": "never acknowledged"})).await?;
                let _msg = e.wire.peer().await?;
                e.wire.record(k.seal(&InnerMessage::End)?).await?;
                e.shim
                    .expect("undelivered", |v| {
                        v["ids"].as_array().is_some_and(|a| a.contains(&json!(7)))
                    })
                    .await?;
                e.shim.expect("ended", |_| true).await.map(|_| ())
            }
        ),
        case!(
            "PEER-7.4-ACKNOWLEDGED-NEVER-UNDELIVERED",
            "two messages sent, the first acknowledged, then the friend is gone: only the second is reported undelivered",
            ["7.4-3", "3.9-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut seqs = Vec::new();
                for (id, text) in [(1, "first"), (2, "second")] {
                    e.shim
                        .send(json!({"cmd": "send", "peer": RUNNER, "id": id, "text": text}))
                        .await?;
                    match e.wire.peer().await? {
                        PeerMessage::Record(r) => seqs.push(r.seq),
                        other => return Err(format!("expected a RECORD, got {}", other.name())),
                    }
                }
                let [first, _] = seqs[..] else {
                    return Err("expected two RECORDs".into());
                };
                let ack = k.seal(&InnerMessage::Ack { seq: first })?;
                e.wire.record(ack).await?;
                e.shim.expect("delivered", |v| v["id"] == 1).await?;
                drop(e.wire);
                let v = e.shim.expect("undelivered", |_| true).await?;
                if v["ids"] != json!([2]) {
                    return Err(format!(
                        "only the unacknowledged message is undelivered (§7.4), got {v}"
                    ));
                }
                e.shim.expect("ended", |_| true).await.map(|_| ())
            }
        ),
        case!(
            "PEER-3.9-PEER-GONE",
            "when the peer disconnects, unacknowledged messages are reported undelivered",
            ["3.9-2", "7.4-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let _k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 9, "text": "into the void"}))
                    .await?;
                let _msg = e.wire.peer().await?;
                drop(e.wire);
                e.shim
                    .expect("undelivered", |v| {
                        v["ids"].as_array().is_some_and(|a| a.contains(&json!(9)))
                    })
                    .await?;
                e.shim.expect("ended", |_| true).await.map(|_| ())
            }
        ),
        case!(
            "PEER-8-SMP-MATCH",
            "SMP with the right answer: both sides report matched",
            ["8.5-1", "8.5-2"],
            |ctx| { smp_case(ctx, "the lake", SmpTwist::None).await }
        ),
        case!(
            "PEER-8-SMP-WRONG-ANSWER",
            "SMP with a wrong answer: both sides report mismatched",
            ["8.5-2"],
            |ctx| { smp_case(ctx, "the sea", SmpTwist::None).await }
        ),
        case!(
            "PEER-8.5-SMP-FORGED-PROOF",
            "SMP1 with a forged proof is refused: reported as `failed`, SMP_ABORT sent",
            ["8.5-1", "8.6-1", "8.6-4"],
            |ctx| { smp_case(ctx, "the lake", SmpTwist::ForgeProof).await }
        ),
        case!(
            "PEER-8.1-SMP-NOT-IN-SUBGROUP",
            "SMP1 whose g2a is outside the subgroup, with a proof that verifies: `failed`, SMP_ABORT sent",
            ["8.1-2", "8.6-1", "8.6-4"],
            |ctx| { smp_case(ctx, "the lake", SmpTwist::NonResidue).await }
        ),
        case!(
            "PEER-8.5-FORGED-SMP1-FIELDS",
            "SMP1 with c3 off by one, D2 = q, D3 = 0, or g2a or g3a = 1 with a proof that holds, or a field out of range that holds modulo p or q: each reported `failed`, SMP_ABORT sent",
            ["8.1-2", "8.5-1", "8.6-4"],
            |ctx| {
                let forgeries: [Forgery<smp::Smp1>; 8] = [
                    // Out of range, yet the proof holds in arithmetic modulo p or q: only the
                    // range checks of §8.1 refuse these.
                    ("g2a = p + 4, where 4 = g^2 has a proof that holds", |m| {
                        let r = BigUint::from(999u32);
                        (m.g2a, m.c2, m.d2) =
                            model::proof_of_knowledge(1, &BigUint::from(2u32), &r);
                        m.g2a += model::prime();
                    }),
                    ("D2 + q", |m| m.d2 += model::subgroup_order()),
                    ("D2 = q where the proof's D2 is 0", |m| {
                        // a2 = r2 / c2 (mod q) makes D2 = r2 - a2·c2 = 0, and g^q = g^0.
                        let (q, r) = (model::subgroup_order(), BigUint::from(4_242u32));
                        let (_, c, _) = model::proof_of_knowledge(1, &BigUint::from(0u32), &r);
                        let inverse = c.modpow(&(&q - 2u32), &q);
                        let a = &r * inverse % &q;
                        let d;
                        (m.g2a, m.c2, d) = model::proof_of_knowledge(1, &a, &r);
                        debug_assert_eq!(d, BigUint::from(0u32));
                        m.d2 = q;
                    }),
                    ("c3 + 1", |m| m.c3 += 1u32),
                    ("D2 = q", |m| m.d2 = model::subgroup_order()),
                    ("D3 = 0", |m| m.d3 = BigUint::from(0u32)),
                    // §8.1: 1 is out of range even with a proof that holds (a2 = 0).
                    ("g2a = 1 with a valid proof", |m| {
                        let r = BigUint::from(12_345u32);
                        (m.g2a, m.c2, m.d2) =
                            model::proof_of_knowledge(1, &BigUint::from(0u32), &r);
                    }),
                    ("g3a = 1 with a valid proof", |m| {
                        let r = BigUint::from(54_321u32);
                        (m.g3a, m.c3, m.d3) =
                            model::proof_of_knowledge(2, &BigUint::from(0u32), &r);
                    }),
                ];
                for (what, forge) in forgeries {
                    smp_forged(ctx, Forged::Smp1(forge))
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                }
                Ok(())
            }
        ),
        case!(
            "PEER-8.1-SMP-FRESH-EXPONENTS",
            "the shim asks twice: the two SMP1s' g2a and g3a differ, and none is g itself (exponent 1): the exponents are random and fresh for each run",
            ["8.1-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut seen = Vec::new();
                for question in ["Our cat?", "Our dog?"] {
                    let m1 = shim_asks(&mut e, &mut k, question, "tom").await?;
                    seen.extend([m1.g2a, m1.g3a]);
                    e.wire.record(k.seal(&InnerMessage::SmpAbort)?).await?;
                    e.shim.expect("smp_result", |_| true).await?;
                }
                let g = BigUint::from(2u32);
                if seen.contains(&g) {
                    return Err("an SMP1 element is g: the exponent was 1 (§8.1)".into());
                }
                for (i, x) in seen.iter().enumerate() {
                    if seen.iter().skip(i + 1).any(|y| y == x) {
                        return Err(format!(
                            "two SMP1 elements are equal, so their exponents were: {x:x} (§8.1: uniform random exponents)"
                        ));
                    }
                }
                Ok(())
            }
        ),
        case!(
            "PEER-8.1-SMP-ELEMENT-TWO-ACCEPTED",
            "SMP1 with g2a = 2, the smallest value in range (exponent 1, a proof that holds): the shim accepts it and answers with SMP2",
            ["8.1-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut rng = crate::TestRng(14);
                let (_, mut m1) = model::smp_step1(k.secret("the lake"), &mut rng);
                (m1.g2a, m1.c2, m1.d2) =
                    model::proof_of_knowledge(1, &BigUint::from(1u32), &BigUint::from(777u32));
                runner_asks(&mut e, &mut k, "q?", m1).await?;
                match shim_answers(&mut e, &mut k, "the lake").await? {
                    InnerMessage::Smp2(_) => Ok(()),
                    other => Err(format!(
                        "2 is in the range of §8.1 (2 ≤ x ≤ p − 2): expected SMP2, got {}",
                        other.name()
                    )),
                }
            }
        ),
        case!(
            "PEER-8.5-FORGED-SMP2",
            "the shim asks; SMP2 with cP off by one, D5 = q, D6 = 0, Pb = 1 or Qb outside the subgroup: `failed`, SMP_ABORT",
            ["8.1-2", "8.5-1", "8.6-4"],
            |ctx| {
                let forgeries: [Forgery<smp::Smp2>; 5] = [
                    ("cP + 1", |m| m.cp += 1u32),
                    ("D5 = q", |m| m.d5 = model::subgroup_order()),
                    ("D6 = 0", |m| m.d6 = BigUint::from(0u32)),
                    ("Pb = 1", |m| m.pb = BigUint::from(1u32)),
                    ("Qb = p - Qb", |m| m.qb = model::prime() - &m.qb),
                ];
                for (what, forge) in forgeries {
                    smp_forged(ctx, Forged::Smp2(forge))
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                }
                Ok(())
            }
        ),
        case!(
            "PEER-8.5-FORGED-SMP3",
            "the shim answers; SMP3 with Ra = 1, cR off by one or D7 = 0: `failed`, SMP_ABORT",
            ["8.5-1", "8.6-4"],
            |ctx| {
                let forgeries: [Forgery<smp::Smp3>; 3] = [
                    ("Ra = 1", |m| m.ra = BigUint::from(1u32)),
                    ("cR + 1", |m| m.cr += 1u32),
                    ("D7 = 0", |m| m.d7 = BigUint::from(0u32)),
                ];
                for (what, forge) in forgeries {
                    smp_forged(ctx, Forged::Smp3(forge))
                        .await
                        .map_err(|e| format!("{what}: {e}"))?;
                }
                Ok(())
            }
        ),
        case!(
            "PEER-8.6-SMP-OUT-OF-ORDER",
            "SMP3 while the shim waits for its person's answer: the run is aborted (`aborted`), SMP_ABORT sent",
            ["8.6-1"],
            |ctx| { smp_forged(ctx, Forged::OutOfOrder).await }
        ),
        case!(
            "PEER-8.6-SMP-EARLY-ANSWER",
            "an answer given after SMP0 and before SMP1 is kept: SMP2 follows SMP1",
            ["8.6-3"],
            |ctx| { smp_early_answer(ctx).await }
        ),
        case!(
            "PEER-8.6-SMP-ABORT-BOTH-WAYS",
            "the shim's person cancels the friend's question: SMP_ABORT goes out; the friend cancels the shim's: it reports `aborted`, and a new question can follow at once",
            ["8.6-7", "8.6-8"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                // SMP0 alone: an SMP1 still on its way when the person cancels could meet the
                // shim's next run and abort that one, as it should (§8.6).
                e.wire
                    .record(k.seal(&InnerMessage::Smp0 {
                        question: "Our cat?".into(),
                    })?)
                    .await?;
                e.shim.expect("smp_question", |_| true).await?;
                e.shim
                    .send(json!({"cmd": "smp_abort", "peer": RUNNER}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::SmpAbort => {}
                    other => {
                        return Err(format!(
                            "a person's cancel must send SMP_ABORT (§8.6), got {}",
                            other.name()
                        ));
                    }
                }
                // Now the shim asks, and the runner cancels.
                shim_asks(&mut e, &mut k, "Our dog?", "rex").await?;
                e.wire.record(k.seal(&InnerMessage::SmpAbort)?).await?;
                let result = e.shim.expect("smp_result", |_| true).await?;
                if result["result"] != "aborted" {
                    return Err(format!(
                        "SMP_ABORT from the friend ends the run as `aborted`, not {result}"
                    ));
                }
                e.shim
                    .send(json!({"cmd": "smp_start", "peer": RUNNER, "question": "Our fish?", "answer": "nemo"}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::Smp0 { question } if question == "Our fish?" => Ok(()),
                    other => Err(format!(
                        "after a cancelled run a new one starts: expected SMP0, got {}",
                        other.name()
                    )),
                }
            }
        ),
        case!(
            "PEER-8.6-SMP-TIMEOUT-EXPECT-SMP2",
            "the shim asked and no answer comes: after 600 s of its clock, not before, it sends SMP_ABORT and reports `aborted`; the chat goes on",
            ["8.6-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                shim_asks(&mut e, &mut k, "Our cat?", "tom").await?;
                smp_times_out(&mut e, &mut k, 600).await
            }
        ),
        case!(
            "PEER-8.6-SMP-TIMEOUT-EACH-RUN-ITS-OWN",
            "a run cancelled after 590 s of waiting, then a new one in the same state: the new one waits its own 600 s",
            ["8.6-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                for (question, answer) in [("Our cat?", "tom"), ("Our dog?", "rex")] {
                    shim_asks(&mut e, &mut k, question, answer).await?;
                    if question == "Our dog?" {
                        break;
                    }
                    clock(&mut e.shim, 590).await?;
                    e.wire.record(k.seal(&InnerMessage::SmpAbort)?).await?;
                    let result = e.shim.expect("smp_result", |_| true).await?;
                    if result["result"] != "aborted" {
                        return Err(format!("the cancelled run ended as {result}"));
                    }
                }
                // The second run has waited 15 s of its own, not 605; then 595; then 605.
                new_run_waits_its_own(&mut e, &mut k, "new run", 600, [(15, 15), (580, 595)]).await
            }
        ),
        case!(
            "PEER-8.6-SMP-TIMEOUT-EACH-ANSWERED-RUN-ITS-OWN",
            "the friend asks, the shim answers, and the friend cancels after 50 s of the shim's 60 s wait for SMP3; then the friend asks again: the new wait for SMP3 is 60 s of its own",
            ["8.6-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut rng = crate::TestRng(17);
                for run in 1..=2 {
                    let (_, smp1) = model::smp_step1(k.secret("tom"), &mut rng);
                    runner_asks(&mut e, &mut k, "Our cat?", smp1).await?;
                    let InnerMessage::Smp2(_) = shim_answers(&mut e, &mut k, "tom").await? else {
                        return Err("expected SMP2".into());
                    };
                    if run == 2 {
                        break;
                    }
                    clock(&mut e.shim, 50).await?;
                    e.wire.record(k.seal(&InnerMessage::SmpAbort)?).await?;
                    let result = e.shim.expect("smp_result", |_| true).await?;
                    if result["result"] != "aborted" {
                        return Err(format!("the cancelled run ended as {result}"));
                    }
                }
                // The second run has waited 15 s of its own, not 65; then 55; then 65.
                new_run_waits_its_own(&mut e, &mut k, "friend's new run", 60, [(15, 15), (40, 55)])
                    .await
            }
        ),
        case!(
            "PEER-8.6-SMP-TIMEOUT-EACH-STATE-ITS-OWN",
            "the friend answers after 590 s of the shim's 600 s wait for SMP2: the shim's wait for SMP4 is a new one of 60 s, and the run completes",
            ["8.6-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let m1 = shim_asks(&mut e, &mut k, "Our cat?", "tom").await?;
                clock(&mut e.shim, 590).await?;
                let mut rng = crate::TestRng(13);
                let (answerer, m2) = model::smp_step2(&m1, &k.secret("tom"), &mut rng)?;
                e.wire.record(k.seal(&InnerMessage::Smp2(m2))?).await?;
                let InnerMessage::Smp3(m3) = k.next_inner(&mut e.wire).await? else {
                    return Err("expected SMP3".into());
                };
                // Waiting for SMP4 since just now: 5 s of 60, not 595.
                clock(&mut e.shim, 5).await?;
                let early = e.shim.drain(Duration::from_millis(1500)).await?;
                if let Some(v) = early.iter().find(|v| v["event"] == "smp_result") {
                    return Err(format!(
                        "the wait for SMP4 took over the wait for SMP2 (§8.6: a wait starts when its state is entered): {v}"
                    ));
                }
                let (_, m4) = model::smp_step4(answerer, &m3, &mut rng)?;
                e.wire.record(k.seal(&InnerMessage::Smp4(m4))?).await?;
                e.shim
                    .expect("smp_result", |v| v["result"] == "matched")
                    .await
                    .map(|_| ())
            }
        ),
        case!(
            "PEER-8.6-SMP-TIMEOUT-EXPECT-SMP3",
            "the shim answered (SMP2) and no SMP3 comes: after 60 s of its clock, not before, it sends SMP_ABORT and reports `aborted`; the chat goes on",
            ["8.6-6"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let mut rng = crate::TestRng(11);
                let (_, smp1) = model::smp_step1(k.secret("tom"), &mut rng);
                runner_asks(&mut e, &mut k, "Our cat?", smp1).await?;
                let InnerMessage::Smp2(_) = shim_answers(&mut e, &mut k, "tom").await? else {
                    return Err("expected SMP2".into());
                };
                smp_times_out(&mut e, &mut k, 60).await
            }
        ),
        case!(
            "PEER-8.6-SMP-IDLE-IGNORED",
            "SMP2, SMP3, SMP4 and SMP_ABORT with no run: no SMP_ABORT back, nothing reported",
            ["8.6-5"],
            |ctx| { smp_idle_ignored(ctx).await }
        ),
        case!(
            "PEER-8.6-SMP-BOTH-ASK-SHIM-WINS",
            "both ask at once, the shim's nickname is lower: its run goes on and the runner's SMP0/SMP1 are ignored",
            ["8.6-2"],
            |ctx| { smp_both_ask(ctx, true).await }
        ),
        case!(
            "PEER-8.6-SMP-BOTH-ASK-RUNNER-WINS",
            "both ask at once, the runner's nickname is lower: the shim reports `crossed` and answers the runner's question",
            ["8.6-2"],
            |ctx| { smp_both_ask(ctx, false).await }
        ),
        case!(
            "PEER-13-UNKNOWN-COMMAND",
            "a command the shim does not know, without a peer field, is answered `unimplemented`",
            [],
            |ctx| {
                let mut e = env(ctx).await?;
                e.shim.send(json!({"cmd": "no_such_command"})).await?;
                match e.shim.expect("unimplemented", |_| true).await {
                    Err(why) if why.contains("no_such_command") => Ok(()),
                    Err(why) => Err(why),
                    Ok(v) => Err(format!("unexpected {v}")),
                }
            }
        ),
        case!(
            "PEER-12.5-VERIFIED-ONCE-CARRIES-OVER",
            "a chat verified by the safety code, closed, and a new chat with the same identity: the shim reports the friend `verified` at once, since the first",
            ["12.5-1", "12.5-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (c, _) =
                    second_chat(&mut e, &runner_identity(), true, &runner_identity()).await?;
                if c["status"] != "verified" || !c["since"].is_u64() {
                    return Err(format!(
                        "the same verified identity must start verified, with its time: {c}"
                    ));
                }
                Ok(())
            }
        ),
        case!(
            "PEER-12.5-RELAY-IN-THE-MIDDLE-OF-A-VERIFIED-PAIR",
            "after a verified chat, a relay in the middle of the next one proves its own identity: the shim reports `changed` with `was_verified`, and refuses to send a message (undelivered, nothing on the wire) until its person decides",
            ["12.5-3"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mallory = KeyPair::from_private([0x6d; 32]);
                let (c, mut k) = second_chat(&mut e, &runner_identity(), true, &mallory).await?;
                if c["status"] != "changed" || !c["was_verified"].is_u64() {
                    return Err(format!(
                        "a changed identity of a verified friend must be reported as such: {c}"
                    ));
                }
                nothing_leaves(
                    &mut e,
                    3,
                    "to a friend whose identity changed (§12.5 [12.5-3])",
                )
                .await?;
                // The person chooses to go on: messages flow again.
                e.shim
                    .send(json!({"cmd": "accept_identity", "peer": RUNNER}))
                    .await?;
                e.shim.expect("contact", |v| v["status"] == "known").await?;
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 4, "text": "ok"}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::Msg { text } if text == "ok" => Ok(()),
                    other => Err(format!(
                        "expected the MSG after accept_identity, got {}",
                        other.name()
                    )),
                }
            }
        ),
        case!(
            "PEER-12.5-NICKNAME-TAKEN-OVER",
            "an unverified friend's nickname comes back with another identity: the shim reports `changed` without `was_verified`, and the chat goes on",
            ["12.5-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let other = KeyPair::from_private([0x6e; 32]);
                let (c, mut k) = second_chat(&mut e, &runner_identity(), false, &other).await?;
                if c["status"] != "changed" || !c["was_verified"].is_null() {
                    return Err(format!("expected `changed` without `was_verified`: {c}"));
                }
                e.shim
                    .send(json!({"cmd": "send", "peer": RUNNER, "id": 5, "text": "hi"}))
                    .await?;
                match k.next_inner(&mut e.wire).await? {
                    InnerMessage::Msg { .. } => {}
                    other => return Err(format!("expected the MSG, got {}", other.name())),
                }
                // §12.5 [12.5-4]: the new key replaced the old one.
                e.wire.record(k.seal(&InnerMessage::End)?).await?;
                e.shim.expect("ended", |_| true).await?;
                shim_opens_as(&mut e.shim, &mut e.wire, SHIM, RUNNER, &other).await?;
                let c = e.shim.expect("contact", |_| true).await?;
                if c["status"] == "known" {
                    Ok(())
                } else {
                    Err(format!(
                        "the replacing key must be remembered: a third chat with it is `known`, got {c}"
                    ))
                }
            }
        ),
        case!(
            "PEER-12.5-UNVERIFIED-STAYS-UNVERIFIED",
            "a chat never verified, closed, and a new chat with the same identity: `known`, not `verified`",
            ["12.5-2", "12.5-5"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (c, _) =
                    second_chat(&mut e, &runner_identity(), false, &runner_identity()).await?;
                if c["status"] != "known" {
                    return Err(format!("expected `known`: {c}"));
                }
                Ok(())
            }
        ),
        case!(
            "PEER-12.5-SMP-MATCH-VERIFIES",
            "a matching answer to the friend's question proves nobody is in the middle but not who asked: the next chat is `known`; a matching answer to the shim's own question verifies: the chat after is `verified`",
            ["12.5-1"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                // The runner asks (anyone could ask "type yes"), the shim's person answers.
                smp_run_matches(&mut e, &mut k).await?;
                e.wire.record(k.seal(&InnerMessage::End)?).await?;
                e.shim.expect("ended", |_| true).await?;
                let mut k = shim_opens(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                let c = e.shim.expect("contact", |_| true).await?;
                if c["status"] != "known" {
                    return Err(format!(
                        "answering the friend's question must not verify the friend: {c}"
                    ));
                }
                // The shim's person asks; the runner knows the answer.
                shim_asks_and_runner_matches(&mut e, &mut k).await?;
                e.shim
                    .expect("contact", |v| v["status"] == "verified")
                    .await?;
                e.wire.record(k.seal(&InnerMessage::End)?).await?;
                e.shim.expect("ended", |_| true).await?;
                shim_opens(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                let c = e.shim.expect("contact", |_| true).await?;
                if c["status"] != "verified" {
                    return Err(format!(
                        "expected `verified` after a match on the shim's question: {c}"
                    ));
                }
                Ok(())
            }
        ),
        case!(
            "PEER-4.7-TAMPERED-IDENTITY-IS-A-WARNING",
            "the friend's IDENTITY record arrives first with a bad tag: a tampering warning, and the genuine one still establishes the chat (a relay cannot end it with garbage)",
            ["6.4-3", "6.4-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (mut k, shim_ephemeral) =
                    shim_opens_until_identity(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                let identity = runner_identity();
                let record = k.identity(&identity, &shim_ephemeral, "cryptully/3 identity r2i")?;
                e.wire.record(flip_tag(record.clone())).await?;
                e.shim
                    .expect("warning", |v| v["kind"] == "tampered")
                    .await?;
                e.wire.record(record).await?;
                let ev = e.shim.expect("established", |_| true).await?;
                k.check_established(&ev, (SHIM, RUNNER), &identity)
            }
        ),
        case!(
            "PEER-4.7-FORGED-IDENTITY",
            "the runner's first record is an IDENTITY with someone else's key and a MAC it cannot compute: REJ HANDSHAKE_FAILED, never established",
            ["4.7-1", "4.7-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (mut k, _) =
                    shim_opens_until_identity(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                let forged = k.seal(&InnerMessage::Identity {
                    identity_key: *runner_identity().public(),
                    mac: [0x5a; 32],
                })?;
                e.wire.record(forged).await?;
                expect_handshake_failed_rej(&mut e.wire).await?;
                let events = e.shim.drain(Duration::from_millis(700)).await?;
                match events.iter().find(|v| v["event"] == "established") {
                    Some(v) => Err(format!("a forged IDENTITY was accepted: {v}")),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-4.7-FIRST-RECORD-NOT-IDENTITY",
            "the runner's first record is a MSG instead of IDENTITY: REJ HANDSHAKE_FAILED, the message is not shown",
            ["4.7-2"],
            |ctx| {
                let mut e = env(ctx).await?;
                let (mut k, _) =
                    shim_opens_until_identity(&mut e.shim, &mut e.wire, SHIM, RUNNER).await?;
                e.wire.record(k.msg("believe me")?).await?;
                expect_handshake_failed_rej(&mut e.wire).await?;
                let events = e.shim.drain(Duration::from_millis(700)).await?;
                match events
                    .iter()
                    .find(|v| v["event"] == "established" || v["event"] == "message")
                {
                    Some(v) => Err(format!("expected no chat: {v}")),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-4.7-SECOND-IDENTITY-ENDS",
            "an IDENTITY after the chat is established (a new key mid-chat) ends the chat; nothing after it is shown",
            ["4.7-4"],
            |ctx| {
                let mut e = env(ctx).await?;
                let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
                let again = k.seal(&InnerMessage::Identity {
                    identity_key: [0x6f; 32],
                    mac: [0; 32],
                })?;
                e.wire.record(again).await?;
                e.shim.expect("ended", |_| true).await?;
                e.wire.record(k.msg("after")?).await?;
                let events = e.shim.drain(Duration::from_millis(700)).await?;
                match events.iter().find(|v| v["event"] == "message") {
                    Some(v) => Err(format!(
                        "a message after the second IDENTITY was shown: {v}"
                    )),
                    None => Ok(()),
                }
            }
        ),
        case!(
            "PEER-1.3-RELAY-IN-THE-MIDDLE",
            "a relay in the middle: the two people see different codes and SMP fails with the right answer",
            ["3.2-4", "5.2-1"],
            |ctx| { mitm(ctx).await }
        ),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SmpTwist {
    None,
    ForgeProof,
    /// §8.1: `g2a` replaced by `p - g2a`, a quadratic non-residue. Its proof still verifies when
    /// `c2` is even, so the runner draws until it is: only the subgroup check refuses it.
    NonResidue,
}

/// A named change to one SMP message.
type Forgery<M> = (&'static str, fn(&mut M));

/// One forged SMP message, and which side the shim plays.
enum Forged {
    /// The runner asks with this SMP1; the shim answers.
    Smp1(fn(&mut smp::Smp1)),
    /// The shim asks; the runner answers with this SMP2.
    Smp2(fn(&mut smp::Smp2)),
    /// The runner asks; the shim answers; the runner's SMP3 is this.
    Smp3(fn(&mut smp::Smp3)),
    /// The runner asks and sends SMP3 before the shim's person has answered.
    OutOfOrder,
}

/// §8.5, §8.6: the shim gets one forged or misplaced SMP message, and must end its run as
/// `failed` (or `aborted` when out of order) and send SMP_ABORT.
async fn smp_forged(ctx: &Ctx, forged: Forged) -> Result<()> {
    let mut e = env(ctx).await?;
    let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
    let mut rng = crate::TestRng(11);
    let want = if matches!(forged, Forged::OutOfOrder) {
        "aborted"
    } else {
        "failed"
    };
    let ask = |k: &Keys, rng: &mut crate::TestRng| model::smp_step1(k.secret("the lake"), rng);
    match forged {
        Forged::Smp1(forge) => {
            let (_, mut m1) = ask(&k, &mut rng);
            forge(&mut m1);
            runner_asks(&mut e, &mut k, "q?", m1).await?;
        }
        Forged::Smp2(forge) => {
            let m1 = shim_asks(&mut e, &mut k, "q?", "the lake").await?;
            let (_, mut m2) = model::smp_step2(&m1, &k.secret("the lake"), &mut rng)?;
            forge(&mut m2);
            e.wire.record(k.seal(&InnerMessage::Smp2(m2))?).await?;
        }
        Forged::Smp3(forge) => {
            let (asker, m1) = ask(&k, &mut rng);
            runner_asks(&mut e, &mut k, "q?", m1).await?;
            let InnerMessage::Smp2(m2) = shim_answers(&mut e, &mut k, "the lake").await? else {
                return Err("expected SMP2".into());
            };
            let (_, mut m3) = model::smp_step3(asker, &m2, &mut rng)
                .map_err(|e| format!("the shim's SMP2 failed its checks: {e}"))?;
            forge(&mut m3);
            e.wire.record(k.seal(&InnerMessage::Smp3(m3))?).await?;
        }
        Forged::OutOfOrder => {
            // A genuine SMP3 of another run, sent while the shim waits for its person.
            let (other_asker, other_m1) = ask(&k, &mut rng);
            let (_, m2) = model::smp_step2(&other_m1, &k.secret("x"), &mut rng)?;
            let (_, m3) =
                model::smp_step3(other_asker, &m2, &mut rng).map_err(|e| e.to_string())?;
            let (_, m1) = ask(&k, &mut rng);
            for inner in [
                InnerMessage::Smp0 {
                    question: "q?".into(),
                },
                InnerMessage::Smp1(m1),
            ] {
                e.wire.record(k.seal(&inner)?).await?;
            }
            e.shim.expect("smp_question", |_| true).await?;
            e.wire.record(k.seal(&InnerMessage::Smp3(m3))?).await?;
        }
    }
    let result = e.shim.expect("smp_result", |_| true).await?;
    if result["result"] != want {
        return Err(format!(
            "the run ended as {}, expected {want}",
            result["result"]
        ));
    }
    match k.next_inner(&mut e.wire).await? {
        InnerMessage::SmpAbort => Ok(()),
        other => Err(format!("expected SMP_ABORT, got {}", other.name())),
    }
}

/// The runner asks "the lake"; the shim's person answers `answer`.
async fn smp_case(ctx: &Ctx, answer: &str, twist: SmpTwist) -> Result<()> {
    let mut e = env(ctx).await?;
    let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
    let mut rng = crate::TestRng(7);
    let (mut asker, mut smp1) = model::smp_step1(k.secret("the lake"), &mut rng);
    match twist {
        SmpTwist::ForgeProof => smp1.c2 += 1u32,
        SmpTwist::NonResidue => {
            while smp1.c2.bit(0) {
                (asker, smp1) = model::smp_step1(k.secret("the lake"), &mut rng);
            }
            smp1.g2a = model::prime() - &smp1.g2a;
        }
        SmpTwist::None => {}
    }
    runner_asks(&mut e, &mut k, "Where did we meet?", smp1).await?;
    if twist != SmpTwist::None {
        let result = e.shim.expect("smp_result", |_| true).await?;
        if result["result"] != "failed" {
            return Err(format!(
                "a message that fails its checks must end as `failed` (§8.6), not {}",
                result["result"]
            ));
        }
        return match k.next_inner(&mut e.wire).await? {
            InnerMessage::SmpAbort => Ok(()),
            other => Err(format!("expected SMP_ABORT, got {}", other.name())),
        };
    }
    smp_answered(&mut e, &mut k, asker, &mut rng, answer).await
}

/// The runner asks with the right answer ("the lake") and the shim's person gives it: both
/// report matched (§8.5).
async fn smp_run_matches(e: &mut Env, k: &mut Keys) -> Result<()> {
    let mut rng = crate::TestRng(7);
    let (asker, smp1) = model::smp_step1(k.secret("the lake"), &mut rng);
    runner_asks(e, k, "Where did we meet?", smp1).await?;
    smp_answered(e, k, asker, &mut rng, "the lake").await
}

/// The shim's person asks "Where did we meet?" answering "the lake"; the runner answers the
/// same, and both report matched (§8.5).
async fn shim_asks_and_runner_matches(e: &mut Env, k: &mut Keys) -> Result<()> {
    let mut rng = crate::TestRng(9);
    let m1 = shim_asks(e, k, "Where did we meet?", "the lake").await?;
    let (answerer, m2) = model::smp_step2(&m1, &k.secret("the lake"), &mut rng)
        .map_err(|e| format!("the shim's SMP1 failed its checks: {e}"))?;
    e.wire.record(k.seal(&InnerMessage::Smp2(m2))?).await?;
    let InnerMessage::Smp3(m3) = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP3".into());
    };
    let (matched, m4) = model::smp_step4(answerer, &m3, &mut rng)
        .map_err(|e| format!("the shim's SMP3 failed its checks: {e}"))?;
    if !matched {
        return Err("the runner's result is mismatched".into());
    }
    e.wire.record(k.seal(&InnerMessage::Smp4(m4))?).await?;
    e.shim
        .expect("smp_result", |v| v["result"] == "matched")
        .await
        .map(|_| ())
}

/// The runner asked "Where did we meet?" expecting "the lake"; the shim's person answers
/// `answer`, and the run completes with the result both sides must report.
async fn smp_answered(
    e: &mut Env,
    k: &mut Keys,
    asker: model::Asker1,
    rng: &mut crate::TestRng,
    answer: &str,
) -> Result<()> {
    e.shim
        .expect("smp_question", |v| v["question"] == "Where did we meet?")
        .await?;
    e.shim
        .send(json!({"cmd": "smp_answer", "peer": RUNNER, "answer": answer}))
        .await?;
    let InnerMessage::Smp2(m2) = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP2".into());
    };
    let (asker, m3) = model::smp_step3(asker, &m2, rng)
        .map_err(|e| format!("the shim's SMP2 failed its checks: {e}"))?;
    e.wire.record(k.seal(&InnerMessage::Smp3(m3))?).await?;
    let InnerMessage::Smp4(m4) = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP4".into());
    };
    let matched = model::smp_step5(asker, &m4)
        .map_err(|e| format!("the shim's SMP4 failed its checks: {e}"))?;
    let want = if answer == "the lake" {
        "matched"
    } else {
        "mismatched"
    };
    if matched != (want == "matched") {
        return Err(format!("the runner's result is {matched}, expected {want}"));
    }
    e.shim
        .expect("smp_result", |v| v["result"] == want)
        .await
        .map(|_| ())
}

/// §4.5 [4.5-2]: the handshake under way waits `limit` seconds of the shim's clock. Five
/// seconds short of it nothing has happened; five seconds past it the shim has told its person
/// the chat ended, and sent the runner nothing.
async fn handshake_times_out(e: &mut Env, limit: u64) -> Result<()> {
    clock(&mut e.shim, limit - 5).await?;
    let early = e.shim.drain(Duration::from_millis(1500)).await?;
    if let Some(v) = early
        .iter()
        .find(|v| v["event"] == "ended" || v["event"] == "error")
    {
        return Err(format!(
            "the shim gave up after {} s of a {limit} s wait: {v}",
            limit - 5
        ));
    }
    if let Some(m) = e.wire.peer_within(Duration::from_millis(200)).await? {
        return Err(format!("the shim sent {} while waiting", m.name()));
    }
    clock(&mut e.shim, 10).await?;
    e.shim
        .expect("ended", |v| v["peer"] == RUNNER)
        .await
        .map_err(|err| format!("still waiting {} s into a {limit} s wait: {err}", limit + 5))?;
    match e.wire.peer_within(Duration::from_millis(500)).await? {
        Some(m) => Err(format!(
            "a handshake that times out sends nothing (§4.5), the shim sent {}",
            m.name()
        )),
        None => Ok(()),
    }
}

/// The runner asks `question` (§8.5 step 1): SMP0 and `m1`, sealed and sent to the shim.
async fn runner_asks(e: &mut Env, k: &mut Keys, question: &str, m1: smp::Smp1) -> Result<()> {
    for inner in [
        InnerMessage::Smp0 {
            question: question.into(),
        },
        InnerMessage::Smp1(m1),
    ] {
        e.wire.record(k.seal(&inner)?).await?;
    }
    Ok(())
}

/// The shim's person, asked a question, answers `answer`: the shim's next message (SMP2 from
/// a correct shim, §8.5 step 2).
async fn shim_answers(e: &mut Env, k: &mut Keys, answer: &str) -> Result<InnerMessage> {
    e.shim.expect("smp_question", |_| true).await?;
    e.shim
        .send(json!({"cmd": "smp_answer", "peer": RUNNER, "answer": answer}))
        .await?;
    k.next_inner(&mut e.wire).await
}

/// The shim asks `question` expecting `answer` (§8.5 step 1): its SMP0 and SMP1, read from
/// the wire; the SMP1 is returned for the runner's step 2.
async fn shim_asks(e: &mut Env, k: &mut Keys, question: &str, answer: &str) -> Result<smp::Smp1> {
    e.shim
        .send(json!({"cmd": "smp_start", "peer": RUNNER, "question": question, "answer": answer}))
        .await?;
    let InnerMessage::Smp0 { .. } = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP0".into());
    };
    let InnerMessage::Smp1(m1) = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP1".into());
    };
    Ok(m1)
}

/// §8.6 [8.6-6], after a cancelled run: the clock moves by each of `steps` (seconds, and how
/// long the new run has waited then) with no result, then 10 s more, past the new run's own
/// `limit`: `aborted` reported and SMP_ABORT sent.
async fn new_run_waits_its_own(
    e: &mut Env,
    k: &mut Keys,
    run: &str,
    limit: u64,
    steps: [(u64, u64); 2],
) -> Result<()> {
    for (step, waited) in steps {
        clock(&mut e.shim, step).await?;
        let early = e.shim.drain(Duration::from_millis(1500)).await?;
        if let Some(v) = early.iter().find(|v| v["event"] == "smp_result") {
            return Err(format!(
                "the {run} ended after {waited} s of its own {limit} s wait (§8.6: each run's wait is its own): {v}"
            ));
        }
    }
    clock(&mut e.shim, 10).await?;
    let result = e.shim.expect("smp_result", |_| true).await?;
    if result["result"] != "aborted" {
        return Err(format!("a run that timed out is `aborted`, not {result}"));
    }
    match k.next_inner(&mut e.wire).await? {
        InnerMessage::SmpAbort => Ok(()),
        other => Err(format!("expected SMP_ABORT, got {}", other.name())),
    }
}

/// §8.6 [8.6-6]: the run waits `limit` seconds of the shim's clock. Five seconds short of it
/// nothing has happened; five seconds past it the shim has sent SMP_ABORT and reported
/// `aborted`, and the chat goes on.
async fn smp_times_out(e: &mut Env, k: &mut Keys, limit: u64) -> Result<()> {
    clock(&mut e.shim, limit - 5).await?;
    let early = e.shim.drain(Duration::from_millis(1500)).await?;
    if let Some(v) = early
        .iter()
        .find(|v| v["event"] == "smp_result" || v["event"] == "ended")
    {
        return Err(format!(
            "the shim gave up after {} s of a {limit} s wait: {v}",
            limit - 5
        ));
    }
    if let Some(m) = e.wire.peer_within(Duration::from_millis(200)).await? {
        return Err(format!("the shim sent {} while waiting", m.name()));
    }
    clock(&mut e.shim, 10).await?;
    let result = e
        .shim
        .expect("smp_result", |v| v["peer"] == RUNNER)
        .await
        .map_err(|err| format!("still waiting {} s into a {limit} s wait: {err}", limit + 5))?;
    if result["result"] != "aborted" {
        return Err(format!("a run that timed out is `aborted`, not {result}"));
    }
    match k.next_inner(&mut e.wire).await? {
        InnerMessage::SmpAbort => {}
        other => return Err(format!("expected SMP_ABORT, got {}", other.name())),
    }
    e.wire.record(k.msg("still here")?).await?;
    e.shim
        .expect("message", |v| v["text"] == "still here")
        .await
        .map_err(|err| format!("the chat must go on after a verification timed out: {err}"))
        .map(|_| ())
}

/// §13.1 `clock`: the shim's chats live `seconds` later, at once.
async fn clock(shim: &mut Shim, seconds: u64) -> Result<()> {
    shim.send(json!({"cmd": "clock", "seconds": seconds})).await
}

/// Waits until the shim has acted on every command sent so far: it sends the runner a message,
/// which the runner reads (commands are handled in order).
async fn sync_shim(e: &mut Env, k: &mut Keys, id: u64) -> Result<()> {
    e.shim
        .send(json!({"cmd": "send", "peer": RUNNER, "id": id, "text": "sync"}))
        .await?;
    match k.next_inner(&mut e.wire).await? {
        InnerMessage::Msg { text } if text == "sync" => Ok(()),
        other => Err(format!("expected the MSG `sync`, got {}", other.name())),
    }
}

/// §8.6: SMP0, the shim's person answers, then SMP1; the shim must answer with SMP2.
async fn smp_early_answer(ctx: &Ctx) -> Result<()> {
    let mut e = env(ctx).await?;
    let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
    let mut rng = crate::TestRng(8);
    let (asker, smp1) = model::smp_step1(k.secret("the lake"), &mut rng);
    let smp0 = InnerMessage::Smp0 {
        question: "Where did we meet?".into(),
    };
    e.wire.record(k.seal(&smp0)?).await?;
    e.shim
        .expect("smp_question", |v| v["question"] == "Where did we meet?")
        .await?;
    e.shim
        .send(json!({"cmd": "smp_answer", "peer": RUNNER, "answer": "the lake"}))
        .await?;
    sync_shim(&mut e, &mut k, 1).await?;
    e.wire.record(k.seal(&InnerMessage::Smp1(smp1))?).await?;
    let InnerMessage::Smp2(m2) = k.next_inner(&mut e.wire).await? else {
        return Err("the early answer was dropped: expected SMP2 after SMP1".into());
    };
    let (asker, m3) = model::smp_step3(asker, &m2, &mut rng)
        .map_err(|e| format!("the shim's SMP2 failed its checks: {e}"))?;
    e.wire.record(k.seal(&InnerMessage::Smp3(m3))?).await?;
    let InnerMessage::Smp4(m4) = k.next_inner(&mut e.wire).await? else {
        return Err("expected SMP4".into());
    };
    if !model::smp_step5(asker, &m4).map_err(|e| e.to_string())? {
        return Err("the runner's result is mismatched; the answers were equal".into());
    }
    e.shim
        .expect("smp_result", |v| v["result"] == "matched")
        .await
        .map(|_| ())
}

/// §8.6: SMP messages of no run are ignored; the next thing the shim sends is the ACK of a MSG.
async fn smp_idle_ignored(ctx: &Ctx) -> Result<()> {
    let mut e = env(ctx).await?;
    let mut k = shim_initiates(&mut e.shim, &mut e.wire).await?;
    // Genuine messages of a run the shim never saw.
    let mut rng = crate::TestRng(9);
    let secret = k.secret("x");
    let (asker, m1) = model::smp_step1(secret.clone(), &mut rng);
    let (answerer, m2) = model::smp_step2(&m1, &secret, &mut rng)?;
    let (_, m3) = model::smp_step3(asker, &m2, &mut rng).map_err(|e| e.to_string())?;
    let (_, m4) = model::smp_step4(answerer, &m3, &mut rng).map_err(|e| e.to_string())?;
    for inner in [
        InnerMessage::Smp2(m2),
        InnerMessage::Smp3(m3),
        InnerMessage::Smp4(m4),
        InnerMessage::SmpAbort,
        InnerMessage::Msg {
            text: "after".into(),
        },
    ] {
        e.wire.record(k.seal(&inner)?).await?;
    }
    let events = e.shim.expect("message", |v| v["text"] == "after").await;
    let seen = e.shim.drain(Duration::from_millis(300)).await?;
    if let Some(v) = seen.iter().find(|v| v["event"] == "smp_result") {
        return Err(format!("the shim reported a run that never started: {v}"));
    }
    events?;
    // The ACK of "after" must be the first record back: no SMP_ABORT before it.
    loop {
        let PeerMessage::Record(r) = e.wire.peer().await? else {
            return Err("expected a RECORD".into());
        };
        let opened = k.rx.open(&r).map_err(|e| e.to_string())?;
        match InnerMessage::decode_padded(&opened.plaintext).map_err(|e| e.to_string())? {
            InnerMessage::Ack { .. } => return Ok(()),
            InnerMessage::Typing(_) => continue,
            other => {
                return Err(format!(
                    "expected only the ACK of the MSG, got {} first",
                    other.name()
                ));
            }
        }
    }
}

/// §8.6: both ask at once. The shim asks first (the runner reads its SMP0 and SMP1), then the
/// runner's own SMP0 and SMP1 cross them. `shim_wins`: the shim is "alice" (lower than "bob"),
/// else "carol" (higher).
async fn smp_both_ask(ctx: &Ctx, shim_wins: bool) -> Result<()> {
    let shim_nick = if shim_wins { SHIM } else { "carol" };
    let mut e = env_named(ctx, shim_nick).await?;
    let mut k = shim_opens(&mut e.shim, &mut e.wire, shim_nick, RUNNER).await?;
    let mut rng = crate::TestRng(10);
    e.shim
        .send(json!({"cmd": "smp_start", "peer": RUNNER, "question": "Shim's question?", "answer": "ours"}))
        .await?;
    let InnerMessage::Smp0 { question } = k.next_inner(&mut e.wire).await? else {
        return Err("expected the shim's SMP0".into());
    };
    let InnerMessage::Smp1(shim_smp1) = k.next_inner(&mut e.wire).await? else {
        return Err("expected the shim's SMP1".into());
    };
    let (runner_asker, runner_smp1) = model::smp_step1(k.secret("theirs"), &mut rng);
    for inner in [
        InnerMessage::Smp0 {
            question: "Runner's question?".into(),
        },
        InnerMessage::Smp1(runner_smp1),
    ] {
        e.wire
            .send(shim_nick, &PeerMessage::Record(k.seal(&inner)?))
            .await?;
    }
    if shim_wins {
        // The runner loses: it answers the shim's question, and the shim's run completes.
        if question != "Shim's question?" {
            return Err(format!("the shim's SMP0 carried {question:?}"));
        }
        let (answerer, m2) = model::smp_step2(&shim_smp1, &k.secret("ours"), &mut rng)
            .map_err(|e| format!("the shim's SMP1 failed its checks: {e}"))?;
        e.wire
            .send(
                shim_nick,
                &PeerMessage::Record(k.seal(&InnerMessage::Smp2(m2))?),
            )
            .await?;
        let InnerMessage::Smp3(m3) = k.next_inner(&mut e.wire).await? else {
            return Err("expected SMP3: the shim must ignore the runner's SMP0 and SMP1".into());
        };
        let (matched, m4) = model::smp_step4(answerer, &m3, &mut rng)
            .map_err(|e| format!("the shim's SMP3 failed its checks: {e}"))?;
        if !matched {
            return Err("the runner's result is mismatched".into());
        }
        e.wire
            .send(
                shim_nick,
                &PeerMessage::Record(k.seal(&InnerMessage::Smp4(m4))?),
            )
            .await?;
        let result = e.shim.expect("smp_result", |_| true).await?;
        if result["result"] != "matched" {
            return Err(format!(
                "the shim's run ended as {}, expected matched",
                result["result"]
            ));
        }
        Ok(())
    } else {
        // The runner wins: it ignores the shim's SMP0/SMP1; the shim reports `crossed`, shows the
        // runner's question and answers it.
        let crossed = e.shim.expect("smp_result", |_| true).await?;
        if crossed["result"] != "crossed" {
            return Err(format!(
                "expected smp_result `crossed`, got {}",
                crossed["result"]
            ));
        }
        e.shim
            .expect("smp_question", |v| v["question"] == "Runner's question?")
            .await?;
        e.shim
            .send(json!({"cmd": "smp_answer", "peer": RUNNER, "answer": "theirs"}))
            .await?;
        let InnerMessage::Smp2(m2) = k.next_inner(&mut e.wire).await? else {
            return Err("expected SMP2 answering the runner's question".into());
        };
        let (asker, m3) = model::smp_step3(runner_asker, &m2, &mut rng)
            .map_err(|e| format!("the shim's SMP2 failed its checks: {e}"))?;
        e.wire
            .send(
                shim_nick,
                &PeerMessage::Record(k.seal(&InnerMessage::Smp3(m3))?),
            )
            .await?;
        let InnerMessage::Smp4(m4) = k.next_inner(&mut e.wire).await? else {
            return Err("expected SMP4".into());
        };
        if !model::smp_step5(asker, &m4).map_err(|e| e.to_string())? {
            return Err("the runner's result is mismatched".into());
        }
        e.shim
            .expect("smp_result", |v| v["result"] == "matched")
            .await
            .map(|_| ())
    }
}

/// Two shims, two relays, and the runner in the middle running one handshake with each.
async fn mitm(ctx: &Ctx) -> Result<()> {
    let spawn = || cryptully_relay::spawn(SocketAddr::from(([127, 0, 0, 1], 0)), Config::default());
    let (r1, r2) = (
        spawn().await.map_err(|e| e.to_string())?,
        spawn().await.map_err(|e| e.to_string())?,
    );
    // alice (shim A) on relay 1 talks to "bob" = the runner; bob (shim B) on relay 2 talks to
    // "alice" = the runner.
    let mut to_alice = Wire::registered(r1.local_addr(), "bob").await?;
    let mut to_bob = Wire::registered(r2.local_addr(), "alice").await?;
    let mut alice = Shim::start(ctx, r1.local_addr(), "alice").await?;
    let mut bob = Shim::start(ctx, r2.local_addr(), "bob").await?;
    let mut ka = shim_initiates(&mut alice, &mut to_alice).await?;
    // The runner, as alice, opens a chat with bob.
    let mine = fresh_key();
    let PeerMessage::Redy { public_key } =
        helo_accepted(&mut bob, &mut to_bob, ("bob", "alice"), mine.commitment()).await?
    else {
        return Err("expected REDY from bob".into());
    };
    let mut kb = runner_sends_pub_key_as(
        &mut bob,
        &mut to_bob,
        ("bob", "alice"),
        &mine,
        public_key,
        &runner_identity(),
    )
    .await?;
    if kb.code == ka.code {
        return Err(
            "both people were shown the same safety code through a relay in the middle".into(),
        );
    }
    // SMP, both with the right answer; the runner re-encrypts every SMP message unchanged.
    alice
        .send(json!({"cmd": "smp_start", "peer": "bob", "question": "first pet?", "answer": "rex"}))
        .await?;
    for _ in 0..2 {
        let inner = ka.next_inner(&mut to_alice).await?;
        to_bob
            .send("bob", &PeerMessage::Record(kb.seal(&inner)?))
            .await?;
    }
    bob.expect("smp_question", |_| true).await?;
    bob.send(json!({"cmd": "smp_answer", "peer": "alice", "answer": "rex"}))
        .await?;
    let m2 = kb.next_inner(&mut to_bob).await?;
    to_alice
        .send("alice", &PeerMessage::Record(ka.seal(&m2)?))
        .await?;
    let m3 = ka.next_inner(&mut to_alice).await?;
    to_bob
        .send("bob", &PeerMessage::Record(kb.seal(&m3)?))
        .await?;
    let m4 = kb.next_inner(&mut to_bob).await?;
    to_alice
        .send("alice", &PeerMessage::Record(ka.seal(&m4)?))
        .await?;
    let ra = alice.expect("smp_result", |_| true).await?;
    let rb = bob.expect("smp_result", |_| true).await?;
    if ra["result"] == "matched" || rb["result"] == "matched" {
        return Err(format!(
            "SMP matched through a relay in the middle: alice {}, bob {}",
            ra["result"], rb["result"]
        ));
    }
    Ok(())
}

/// The shim's person writes a message (`id`) and starts typing: the message is reported
/// undelivered and nothing reaches the runner. `when` says in what state, for the failure.
async fn nothing_leaves(e: &mut Env, id: u64, when: &str) -> Result<()> {
    e.shim
        .send(json!({"cmd": "send", "peer": RUNNER, "id": id, "text": "my address is..."}))
        .await?;
    e.shim
        .send(json!({"cmd": "typing", "peer": RUNNER, "state": 0}))
        .await?;
    e.shim
        .expect("undelivered", |v| v["ids"] == json!([id]))
        .await?;
    match e.wire.peer_within(Duration::from_millis(500)).await? {
        Some(m) => Err(format!("the shim sent {} {when}", m.name())),
        None => Ok(()),
    }
}

/// Two chats the shim opens with the runner (§12.5): the first proves `first`, is verified by
/// the shim's person (`mark_verified`) when `verify`, and ends; the second proves `second`.
/// Returns the shim's `contact` event for the second chat, and its keys.
async fn second_chat(
    e: &mut Env,
    first: &KeyPair,
    verify: bool,
    second: &KeyPair,
) -> Result<(Value, Keys)> {
    let mut k = shim_opens_as(&mut e.shim, &mut e.wire, SHIM, RUNNER, first).await?;
    let c = e.shim.expect("contact", |_| true).await?;
    if c["status"] != "new" {
        return Err(format!("a first chat must be a `new` contact: {c}"));
    }
    if verify {
        e.shim
            .send(json!({"cmd": "mark_verified", "peer": RUNNER}))
            .await?;
        e.shim
            .expect("contact", |v| v["status"] == "verified")
            .await?;
    }
    e.wire.record(k.seal(&InnerMessage::End)?).await?;
    e.shim.expect("ended", |_| true).await?;
    let k2 = shim_opens_as(&mut e.shim, &mut e.wire, SHIM, RUNNER, second).await?;
    let c2 = e.shim.expect("contact", |_| true).await?;
    Ok((c2, k2))
}

/// Runs the selected cases, each with a fresh relay and a fresh shim.
pub async fn run(shim: Vec<String>, selection: &Selection) -> Vec<Outcome> {
    let ctx = Ctx {
        shim,
        exit: Arc::new(AtomicI32::new(-1)),
    };
    let reset = |c: &Ctx| c.exit.store(-1, Ordering::SeqCst);
    // A case that failed because the shim gave up with status 89 is unimplemented (§13.3).
    let settle = |c: &Ctx, v: crate::Verdict| match v {
        crate::Verdict::Fail(_) if c.exit.load(Ordering::SeqCst) == UNIMPLEMENTED => {
            crate::Verdict::Unimplemented("the shim exited with status 89 (§13.3)".into())
        }
        v => v,
    };
    crate::run_cases(cases(), &ctx, selection, reset, settle).await
}
