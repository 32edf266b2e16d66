//! Black-box cases against a relay (§2, §3, §9, §10), speaking raw frames only.

use crate::{Case, Outcome, Selection};
use cryptully_protocol::Nick;
use cryptully_protocol::errors::ErrorCode;
use cryptully_protocol::framing::MAX_FRAME;
use cryptully_protocol::net::{FrameReader, write_frame};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::transport::{self, Io, RelayAddr};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};

/// What the relay runner needs to know about its target.
#[derive(Clone, Debug)]
pub struct Target {
    /// The relay's addresses: one for a single relay, one per node of a cluster (§14). Each new
    /// client takes the next in turn, so the two ends of a case sit on different nodes.
    pub addrs: Vec<RelayAddr>,
    /// Its registration timeout (§10.2), so the timeout case knows how long to wait.
    pub register_timeout: Duration,
    /// Set when the runner spawned the reference relay itself: cases that need operator
    /// control (SHUTDOWN, SERVER_FULL) then start relays of their own.
    pub spawned: bool,
    /// The certificate of the spawned relay, when it serves TLS (§15): the relays those cases
    /// start use it too.
    pub tls: Option<Arc<cryptully_relay::tls::Tls>>,
}

impl Target {
    /// A single relay at `addr`.
    pub fn single(addr: SocketAddr, register_timeout: Duration, spawned: bool) -> Self {
        Self {
            addrs: vec![RelayAddr::plain(addr)],
            register_timeout,
            spawned,
            tls: None,
        }
    }

    /// The address for the next client: round robin over [`Target::addrs`].
    fn addr(&self) -> RelayAddr {
        static TURN: AtomicUsize = AtomicUsize::new(0);
        let i = TURN.fetch_add(1, Ordering::Relaxed);
        self.addrs
            .get(i % self.addrs.len().max(1))
            .cloned()
            .unwrap_or(RelayAddr::plain(loopback()))
    }

    /// The config for a relay a case starts itself: the target's TLS, if any.
    fn config(&self) -> cryptully_relay::Config {
        cryptully_relay::Config {
            tls: self.tls.clone(),
            ..cryptully_relay::Config::default()
        }
    }

    /// How to reach such a relay at `addr`.
    fn own(&self, addr: SocketAddr) -> RelayAddr {
        match &self.tls {
            Some(tls) => RelayAddr::pinned(addr, tls.fingerprint()),
            None => RelayAddr::plain(addr),
        }
    }
}

type Result<T> = std::result::Result<T, String>;

const WAIT: Duration = Duration::from_secs(10);

/// A client speaking raw frames.
struct Raw {
    r: FrameReader<ReadHalf<Box<dyn Io>>>,
    w: WriteHalf<Box<dyn Io>>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A nickname unique to this run, so cases can share a relay with others.
fn fresh(tag: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("cf{}{tag}{n}", std::process::id() % 10_000)
}

fn nick(s: &str) -> Result<Nick> {
    Nick::new(s).map_err(|e| e.to_string())
}

impl Raw {
    async fn connect(addr: RelayAddr) -> Result<Self> {
        let opened = transport::open(&addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        Ok(Self::over(opened))
    }

    fn over(opened: transport::Opened) -> Self {
        let (r, w) = tokio::io::split(opened.stream);
        Raw {
            r: FrameReader::new(r, MAX_FRAME),
            w,
        }
    }

    async fn hello(addr: RelayAddr) -> Result<Self> {
        let mut c = Self::connect(addr).await?;
        c.send(&ClientMessage::Hello { version: 2 }).await?;
        Ok(c)
    }

    async fn registered(addr: RelayAddr, name: &str) -> Result<Self> {
        let mut c = Self::hello(addr).await?;
        c.send(&ClientMessage::Register { nick: nick(name)? })
            .await?;
        let want = RelayMessage::Registered {
            nick: nick(name)?.canonical(),
        };
        c.expect(&want).await?;
        Ok(c)
    }

    async fn send(&mut self, m: &ClientMessage) -> Result<()> {
        self.raw(&m.to_bytes()).await
    }

    async fn raw(&mut self, body: &[u8]) -> Result<()> {
        write_frame(&mut self.w, body)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    async fn recv(&mut self) -> Result<RelayMessage> {
        match tokio::time::timeout(WAIT, self.r.next_frame()).await {
            Err(_) => Err("no answer within 10 s".into()),
            Ok(Err(e)) => Err(format!("read: {e}")),
            Ok(Ok(None)) => Err("the relay closed the connection".into()),
            Ok(Ok(Some(f))) => {
                RelayMessage::decode(&f).map_err(|e| format!("undecodable frame: {e}"))
            }
        }
    }

    /// The next message is `want`, byte for byte: nicknames compare with their case, so a relay
    /// that sends `ProbeSrc` for `probesrc` fails (§3.2 [3.2-3]).
    async fn expect(&mut self, want: &RelayMessage) -> Result<()> {
        let got = self.recv().await?;
        if got.to_bytes() == want.to_bytes() {
            Ok(())
        } else {
            Err(format!("expected {want:?}, got {got:?}"))
        }
    }

    /// The relay closes the connection (after any frames, which must be none).
    async fn expect_closed(&mut self) -> Result<()> {
        match tokio::time::timeout(WAIT, self.r.next_frame()).await {
            Err(_) => Err("the connection stayed open".into()),
            Ok(Ok(Some(f))) => Err(format!(
                "expected the close, got {:?}",
                RelayMessage::decode(&f)
            )),
            Ok(_) => Ok(()),
        }
    }

    /// The connection is still served: a PING gets its PONG.
    async fn expect_alive(&mut self) -> Result<()> {
        self.send(&ClientMessage::Ping { token: 0x5151 }).await?;
        self.expect(&RelayMessage::Pong { token: 0x5151 }).await
    }
}

fn err(code: ErrorCode, name: Option<&str>) -> Result<RelayMessage> {
    Ok(RelayMessage::Error {
        code,
        nick: name.map(nick).transpose()?.map(|n| n.canonical()),
    })
}

/// Every relay case, in spec order.
pub fn cases() -> Vec<Case<Target>> {
    vec![
        case!(
            "RELAY-2.1-FRAME-TOO-LARGE",
            "a length prefix above 65536 gets FRAME_TOO_LARGE and a close",
            ["2.1-1", "2.1-2", "10.2-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.w.write_all(&65537u32.to_be_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                c.expect(&err(ErrorCode::FrameTooLarge, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-2.1-ZERO-LENGTH",
            "a length prefix of 0 gets MALFORMED and a close",
            ["2.1-2"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.w.write_all(&[0, 0, 0, 0])
                    .await
                    .map_err(|e| e.to_string())?;
                c.expect(&err(ErrorCode::Malformed, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-2.2-UNKNOWN-TYPE",
            "an unknown type gets MALFORMED and a close; others are unaffected",
            ["2.2-1", "3.6-1"],
            |t| {
                let name = fresh("w");
                let mut other = Raw::registered(t.addr(), &name).await?;
                let mut c = Raw::hello(t.addr()).await?;
                c.raw(&[0x77, 1, 2]).await?;
                c.expect(&err(ErrorCode::Malformed, None)?).await?;
                c.expect_closed().await?;
                other.expect_alive().await
            }
        ),
        case!(
            "RELAY-2.2-TRAILING-BYTES",
            "HELLO with a trailing byte gets MALFORMED and a close",
            ["2.2-1"],
            |t| {
                let mut c = Raw::connect(t.addr()).await?;
                c.raw(&[0x01, 0, 2, 0]).await?;
                c.expect(&err(ErrorCode::Malformed, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-2.2-RELAY-TYPE-FROM-CLIENT",
            "a relay-to-client type (DELIVER) from a client is unknown: MALFORMED",
            ["3.1-1"],
            |t| {
                let name = fresh("d");
                let mut c = Raw::registered(t.addr(), &name).await?;
                c.raw(
                    &RelayMessage::Deliver {
                        source: nick("alice")?,
                        payload: vec![1],
                    }
                    .to_bytes(),
                )
                .await?;
                c.expect(&err(ErrorCode::Malformed, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.3-VERSION-ACCEPTED",
            "HELLO version 2 is accepted silently",
            ["3.3-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.3-VERSION-MISMATCH",
            "HELLO version 1 gets UNSUPPORTED_VERSION and a close",
            ["3.3-2", "11-1"],
            |t| {
                let mut c = Raw::connect(t.addr()).await?;
                c.send(&ClientMessage::Hello { version: 1 }).await?;
                c.expect(&err(ErrorCode::UnsupportedVersion, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.10-HELLO-FIRST",
            "REGISTER before HELLO gets UNEXPECTED_MESSAGE and a close",
            ["3.3-1", "3.4-1"],
            |t| {
                let mut c = Raw::connect(t.addr()).await?;
                c.send(&ClientMessage::Register {
                    nick: nick(&fresh("h"))?,
                })
                .await?;
                c.expect(&err(ErrorCode::UnexpectedMessage, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.11-STATE-BEFORE-NICK-RULES",
            "RELAY with an invalid nickname before REGISTER: UNEXPECTED_MESSAGE and a close, not INVALID_NICK",
            ["3.11-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                // RELAY, destination "a b" (a space breaks §3.2), payload 0x20.
                c.raw(&[0x03, 3, b'a', b' ', b'b', 0x20]).await?;
                c.expect(&err(ErrorCode::UnexpectedMessage, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.11-STATE-BEFORE-FIELDS",
            "REGISTER with an invalid nickname before HELLO: UNEXPECTED_MESSAGE and a close, not MALFORMED",
            ["3.11-1"],
            |t| {
                let mut c = Raw::connect(t.addr()).await?;
                c.raw(&[0x02, 3, b'a', b' ', b'b']).await?;
                c.expect(&err(ErrorCode::UnexpectedMessage, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.4-REGISTERED-CANONICAL",
            "REGISTER in mixed case is answered REGISTERED in lowercase",
            ["3.2-2", "3.2-3", "3.4-4"],
            |t| {
                let name = fresh("MiXeD");
                let mut c = Raw::hello(t.addr()).await?;
                c.send(&ClientMessage::Register { nick: nick(&name)? })
                    .await?;
                let got = c.recv().await?;
                match got {
                    RelayMessage::Registered { nick }
                        if nick.as_str() == name.to_ascii_lowercase() =>
                    {
                        Ok(())
                    }
                    other => Err(format!(
                        "expected REGISTERED {}, got {other:?}",
                        name.to_ascii_lowercase()
                    )),
                }
            }
        ),
        case!(
            "RELAY-3.4-NICK-IN-USE",
            "a nickname held in another case gets NICK_IN_USE naming it; the connection may retry",
            ["3.2-2", "3.2-3", "3.4-2"],
            |t| {
                let name = fresh("taken");
                let _holder = Raw::registered(t.addr(), &name).await?;
                let mut c = Raw::hello(t.addr()).await?;
                c.send(&ClientMessage::Register {
                    nick: nick(&name.to_ascii_uppercase())?,
                })
                .await?;
                c.expect(&err(ErrorCode::NickInUse, Some(&name))?).await?;
                let other = fresh("free");
                c.send(&ClientMessage::Register {
                    nick: nick(&other)?,
                })
                .await?;
                c.expect(&RelayMessage::Registered {
                    nick: nick(&other)?.canonical(),
                })
                .await
            }
        ),
        case!(
            "RELAY-3.4-INVALID-NICK",
            "REGISTER with a space in the nickname gets INVALID_NICK; the connection may retry",
            ["3.2-1", "3.4-3"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.raw(&[0x02, 3, b'a', b' ', b'b']).await?;
                c.expect(&err(ErrorCode::InvalidNick, None)?).await?;
                let name = fresh("ok");
                c.send(&ClientMessage::Register { nick: nick(&name)? })
                    .await?;
                c.expect(&RelayMessage::Registered {
                    nick: nick(&name)?.canonical(),
                })
                .await
            }
        ),
        case!(
            "RELAY-3.4-REGISTER-TWICE",
            "a second REGISTER gets UNEXPECTED_MESSAGE and a close",
            ["3.4-1"],
            |t| {
                let mut c = Raw::registered(t.addr(), &fresh("twice")).await?;
                c.send(&ClientMessage::Register {
                    nick: nick(&fresh("again"))?,
                })
                .await?;
                c.expect(&err(ErrorCode::UnexpectedMessage, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.5-RELAY-BEFORE-REGISTER",
            "RELAY before REGISTERED gets UNEXPECTED_MESSAGE and a close",
            [],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.send(&ClientMessage::Relay {
                    destination: nick("bob")?,
                    payload: vec![1],
                })
                .await?;
                c.expect(&err(ErrorCode::UnexpectedMessage, None)?).await?;
                c.expect_closed().await
            }
        ),
        case!(
            "RELAY-3.5-SOURCE-REWRITTEN",
            "DELIVER names the sender as registered, in canonical form, payload unchanged",
            ["3.2-3", "3.5-1", "3.5-4"],
            |t| {
                let (a, b) = (fresh("Src"), fresh("dst"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let mut bob = Raw::registered(t.addr(), &b).await?;
                let payload = vec![0x10, 0, 2, 0xff, 0x00];
                alice
                    .send(&ClientMessage::Relay {
                        destination: nick(&b.to_ascii_uppercase())?,
                        payload: payload.clone(),
                    })
                    .await?;
                bob.expect(&RelayMessage::Deliver {
                    source: nick(&a)?.canonical(),
                    payload,
                })
                .await
            }
        ),
        case!(
            "RELAY-3.5-ORDER",
            "100 payloads arrive unchanged and in order",
            ["3.5-3", "3.5-4"],
            |t| {
                let (a, b) = (fresh("o"), fresh("p"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let mut bob = Raw::registered(t.addr(), &b).await?;
                for i in 0..100u8 {
                    alice
                        .send(&ClientMessage::Relay {
                            destination: nick(&b)?,
                            payload: vec![i; 1 + usize::from(i)],
                        })
                        .await?;
                }
                for i in 0..100u8 {
                    bob.expect(&RelayMessage::Deliver {
                        source: nick(&a)?,
                        payload: vec![i; 1 + usize::from(i)],
                    })
                    .await?;
                }
                Ok(())
            }
        ),
        case!(
            "RELAY-3.5-NICK-NOT-FOUND",
            "RELAY to nobody gets NICK_NOT_FOUND naming the destination, canonical; the connection stays",
            ["3.5-2"],
            |t| {
                let mut c = Raw::registered(t.addr(), &fresh("nf")).await?;
                let ghost = fresh("Ghost");
                c.send(&ClientMessage::Relay {
                    destination: nick(&ghost)?,
                    payload: vec![1],
                })
                .await?;
                c.expect(&err(ErrorCode::NickNotFound, Some(&ghost))?)
                    .await?;
                c.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.5-NICK-NOT-FOUND-AFTER-LEAVING",
            "frames to a nickname whose holder left and came back reach the new holder; once it has left for good, RELAY to it gets NICK_NOT_FOUND",
            ["3.5-2", "3.5-1"],
            |t| {
                let (a, b) = (fresh("fa"), fresh("fb"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let to_bob = |payload: &[u8]| -> Result<ClientMessage> {
                    Ok(ClientMessage::Relay {
                        destination: nick(&b)?,
                        payload: payload.to_vec(),
                    })
                };
                let delivered = |payload: &[u8]| -> Result<RelayMessage> {
                    Ok(RelayMessage::Deliver {
                        source: nick(&a)?,
                        payload: payload.to_vec(),
                    })
                };
                // A relay may remember where bob was once it has delivered to him: twice he
                // is reached, leaves, and is registered anew before alice sends again.
                for round in 0..2u8 {
                    let mut bob = Raw::registered(t.addr(), &b).await?;
                    for i in 0..3u8 {
                        alice.send(&to_bob(&[round, i])?).await?;
                        bob.expect(&delivered(&[round, i])?)
                            .await
                            .map_err(|e| format!("bob, registered anew ({round}): {e}"))?;
                    }
                    bob.send(&ClientMessage::Bye).await?;
                    bob.expect_closed().await?;
                    alice
                        .expect(&RelayMessage::PeerGone { nick: nick(&b)? })
                        .await?;
                }
                alice.send(&to_bob(b"late")?).await?;
                alice
                    .expect(&err(ErrorCode::NickNotFound, Some(&b))?)
                    .await?;
                alice.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.5-DELIVER-FITS",
            "a RELAY whose DELIVER would not fit a frame gets FRAME_TOO_LARGE and a close; the receiver stays; the largest allowed one arrives",
            ["3.5-6"],
            |t| {
                // A 32-character sender makes the DELIVER 34 bytes longer than the payload.
                let long = format!("{:_<32}", fresh("L"));
                let mut sender = Raw::registered(t.addr(), &long).await?;
                let target = fresh("t");
                let mut receiver = Raw::registered(t.addr(), &target).await?;
                let limit = MAX_FRAME - 2 - 32;
                sender
                    .send(&ClientMessage::Relay {
                        destination: nick(&target)?,
                        payload: vec![0x20; limit],
                    })
                    .await?;
                match receiver.recv().await? {
                    RelayMessage::Deliver { payload, .. } if payload.len() == limit => {}
                    other => return Err(format!("expected the largest DELIVER, got {other:?}")),
                }
                sender
                    .send(&ClientMessage::Relay {
                        destination: nick(&target)?,
                        payload: vec![0x20; limit + 1],
                    })
                    .await?;
                sender.expect(&err(ErrorCode::FrameTooLarge, None)?).await?;
                sender.expect_closed().await?;
                // The sender had delivered to the receiver, so its departure is announced (§3.9);
                // the receiver itself stays connected.
                match receiver.recv().await? {
                    RelayMessage::PeerGone { nick }
                        if nick.as_str() == long.to_ascii_lowercase() => {}
                    other => {
                        return Err(format!("expected PEER_GONE for the sender, got {other:?}"));
                    }
                }
                receiver.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.5-INVALID-DESTINATION",
            "RELAY to an invalid nickname gets INVALID_NICK; the connection stays",
            ["3.5-5"],
            |t| {
                let mut c = Raw::registered(t.addr(), &fresh("inv")).await?;
                c.raw(&[0x03, 2, b'!', b'!', 0x10]).await?;
                c.expect(&err(ErrorCode::InvalidNick, None)?).await?;
                c.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.5-SELF",
            "RELAY to oneself is delivered like any other",
            ["3.5-1"],
            |t| {
                let me = fresh("self");
                let mut c = Raw::registered(t.addr(), &me).await?;
                c.send(&ClientMessage::Relay {
                    destination: nick(&me)?,
                    payload: vec![7],
                })
                .await?;
                c.expect(&RelayMessage::Deliver {
                    source: nick(&me)?,
                    payload: vec![7],
                })
                .await
            }
        ),
        case!(
            "RELAY-3.7-PING-PONG",
            "PING gets PONG with the same token, before and after registering",
            ["3.7-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                c.send(&ClientMessage::Ping { token: u64::MAX }).await?;
                c.expect(&RelayMessage::Pong { token: u64::MAX }).await?;
                c.send(&ClientMessage::Register {
                    nick: nick(&fresh("pp"))?,
                })
                .await?;
                let _ = c.recv().await?;
                c.send(&ClientMessage::Ping { token: 0 }).await?;
                c.expect(&RelayMessage::Pong { token: 0 }).await
            }
        ),
        case!(
            "RELAY-3.8-BYE",
            "BYE closes the connection and releases the nickname",
            [],
            |t| {
                let name = fresh("bye");
                let mut c = Raw::registered(t.addr(), &name).await?;
                c.send(&ClientMessage::Bye).await?;
                c.expect_closed().await?;
                Raw::registered(t.addr(), &name).await.map(|_| ())
            }
        ),
        case!(
            "RELAY-3.9-PEER-GONE",
            "when a nickname leaves, those who chatted with it get PEER_GONE; others do not",
            ["3.9-1"],
            |t| {
                let (a, b, c) = (fresh("ga"), fresh("gb"), fresh("gc"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let mut bob = Raw::registered(t.addr(), &b).await?;
                let mut carol = Raw::registered(t.addr(), &c).await?;
                bob.send(&ClientMessage::Relay {
                    destination: nick(&a)?,
                    payload: vec![1],
                })
                .await?;
                let _ = alice.recv().await?;
                bob.send(&ClientMessage::Bye).await?;
                bob.expect_closed().await?;
                alice
                    .expect(&RelayMessage::PeerGone { nick: nick(&b)? })
                    .await?;
                carol.expect_alive().await
            }
        ),
        case!(
            "RELAY-3.9-PEER-GONE-RECEIVER-LEAVES",
            "a connection that only received frames leaves: their sender gets PEER_GONE",
            ["3.9-1"],
            |t| {
                let (a, b) = (fresh("ra"), fresh("rb"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let mut bob = Raw::registered(t.addr(), &b).await?;
                alice
                    .send(&ClientMessage::Relay {
                        destination: nick(&b)?,
                        payload: vec![1],
                    })
                    .await?;
                let _ = bob.recv().await?;
                bob.send(&ClientMessage::Bye).await?;
                bob.expect_closed().await?;
                alice
                    .expect(&RelayMessage::PeerGone { nick: nick(&b)? })
                    .await
            }
        ),
        case!(
            "RELAY-3.9-PEER-GONE-AFTER-LAST-FRAME",
            "a frame and BYE in one write: the receiver gets the DELIVER, then PEER_GONE",
            ["3.9-1"],
            |t| {
                let (a, b) = (fresh("la"), fresh("lb"));
                let mut alice = Raw::registered(t.addr(), &a).await?;
                let mut bob = Raw::registered(t.addr(), &b).await?;
                let mut both = Vec::new();
                for m in [
                    ClientMessage::Relay {
                        destination: nick(&b)?,
                        payload: b"last".to_vec(),
                    },
                    ClientMessage::Bye,
                ] {
                    cryptully_protocol::framing::encode_frame(&m.to_bytes(), &mut both);
                }
                alice.w.write_all(&both).await.map_err(|e| e.to_string())?;
                alice.w.flush().await.map_err(|e| e.to_string())?;
                bob.expect(&RelayMessage::Deliver {
                    source: nick(&a)?,
                    payload: b"last".to_vec(),
                })
                .await?;
                bob.expect(&RelayMessage::PeerGone { nick: nick(&a)? })
                    .await
            }
        ),
        case!(
            "RELAY-10.2-REGISTERED-OUTLIVES-REGISTRATION-TIMEOUT",
            "a registered connection, quiet for longer than the registration timeout, is still served: only the idle timeout (never under 120 s) ends it",
            ["10.2-2"],
            |t| {
                let mut c = Raw::registered(t.addr(), &fresh("outlive")).await?;
                tokio::time::sleep(t.register_timeout + Duration::from_secs(1)).await;
                c.expect_alive().await.map_err(|e| {
                    format!(
                        "a registered connection was not served after {:?} quiet: {e}",
                        t.register_timeout + Duration::from_secs(1)
                    )
                })
            }
        ),
        case!(
            "RELAY-10.2-REGISTRATION-TIMEOUT",
            "a connection that never registers gets TIMEOUT and a close",
            ["10.2-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                let start = Instant::now();
                let limit = t.register_timeout + Duration::from_secs(5);
                let got = tokio::time::timeout(limit, c.r.next_frame()).await;
                match got {
                    Ok(Ok(Some(f)))
                        if RelayMessage::decode(&f).ok() == err(ErrorCode::Timeout, None).ok() =>
                    {
                        not_before_registration_timeout(start, t)?;
                        c.expect_closed().await
                    }
                    other => Err(format!(
                        "expected ERROR TIMEOUT within {limit:?}, got {other:?}"
                    )),
                }
            }
        ),
        case!(
            "RELAY-10.2-REGISTRATION-TIMEOUT-DESPITE-PINGS",
            "a connection that PINGs every 50 ms but never registers still gets TIMEOUT at the registration timeout",
            ["10.2-1"],
            |t| {
                let mut c = Raw::hello(t.addr()).await?;
                let start = Instant::now();
                let limit = t.register_timeout + Duration::from_secs(5);
                let mut ping = tokio::time::interval(Duration::from_millis(50));
                let mut token = 0u64;
                loop {
                    tokio::select! {
                        _ = ping.tick() => {
                            if start.elapsed() > limit {
                                return Err(format!(
                                    "no ERROR TIMEOUT after {:?} of PINGs without REGISTER (registration timeout {:?})",
                                    start.elapsed(),
                                    t.register_timeout
                                ));
                            }
                            token += 1;
                            // A relay that closed in the meantime ends the write; the read
                            // below says what it sent first.
                            let _ = c.send(&ClientMessage::Ping { token }).await;
                        }
                        frame = c.r.next_frame() => match frame {
                            Ok(Some(f)) => match RelayMessage::decode(&f) {
                                Ok(RelayMessage::Pong { .. })
                                | Ok(RelayMessage::Error { code: ErrorCode::RateLimited, nick: None }) => {}
                                Ok(RelayMessage::Error { code: ErrorCode::Timeout, nick: None }) => {
                                    return not_before_registration_timeout(start, t);
                                }
                                other => return Err(format!("unexpected {other:?}")),
                            },
                            other => return Err(format!(
                                "expected ERROR TIMEOUT before the close, got {other:?}"
                            )),
                        }
                    }
                }
            }
        ),
        case!(
            "RELAY-10.2-RATE-LIMIT",
            "a flood of 2000 PINGs gets RATE_LIMITED for what it drops; every frame is answered one way or the other",
            ["10.2-1"],
            |t| {
                let mut c = Raw::registered(t.addr(), &fresh("flood")).await?;
                let mut burst = Vec::new();
                for token in 0..2000u64 {
                    cryptully_protocol::framing::encode_frame(
                        &ClientMessage::Ping { token }.to_bytes(),
                        &mut burst,
                    );
                }
                c.w.write_all(&burst).await.map_err(|e| e.to_string())?;
                let (mut pongs, mut limited) = (0, 0);
                while pongs + limited < 2000 {
                    match c.recv().await? {
                        RelayMessage::Pong { .. } => pongs += 1,
                        RelayMessage::Error {
                            code: ErrorCode::RateLimited,
                            nick: None,
                        } => limited += 1,
                        other => return Err(format!("unexpected {other:?}")),
                    }
                }
                if limited == 0 {
                    return Err(format!("{pongs} PINGs in one burst and none was limited"));
                }
                Ok(())
            }
        ),
        case!(
            "RELAY-10.2-SLOW-CONSUMER",
            "a client that stops reading: its senders are told SLOW_CONSUMER naming it, it is dropped after the stall timeout; others unaffected",
            ["10.2-1", "3.6-1"],
            |t| { slow_consumer(t, false).await }
        ),
        case!(
            "RELAY-10.2-SLOW-CONSUMER-CATCHES-UP",
            "a client whose queue filled, and which then reads again before the stall timeout, is not dropped: it gets what was queued and is still served",
            ["10.2-1"],
            |t| { slow_consumer(t, true).await }
        ),
        case!(
            "RELAY-3.8-SHUTDOWN",
            "a relay that stops sends SHUTDOWN to every client",
            ["3.8-1"],
            |t| {
                if !t.spawned {
                    return Err("unimplemented: needs the operator to stop the relay; run with --spawn against the reference".into());
                }
                let relay = cryptully_relay::spawn(loopback(), t.config())
                    .await
                    .map_err(|e| e.to_string())?;
                let mut a = Raw::registered(t.own(relay.local_addr()), "shut1").await?;
                let mut b = Raw::hello(t.own(relay.local_addr())).await?;
                b.expect_alive().await?;
                relay.shutdown().await.map_err(|e| e.to_string())?;
                a.expect(&RelayMessage::Shutdown).await?;
                b.expect(&RelayMessage::Shutdown).await
            }
        ),
        case!(
            "RELAY-10.2-SERVER-FULL",
            "past its maximum of connections the relay answers SERVER_FULL and closes",
            ["10.2-1"],
            |t| {
                if !t.spawned {
                    return Err("unimplemented: needs a relay configured with a small maximum; run with --spawn".into());
                }
                let config = cryptully_relay::Config {
                    max_connections: 1,
                    ..t.config()
                };
                let relay = cryptully_relay::spawn(loopback(), config)
                    .await
                    .map_err(|e| e.to_string())?;
                let _a = Raw::registered(t.own(relay.local_addr()), "full1").await?;
                let mut b = Raw::connect(t.own(relay.local_addr())).await?;
                b.expect(&err(ErrorCode::ServerFull, None)?).await?;
                b.expect_closed().await
            }
        ),
    ]
}

/// §10.2: a TIMEOUT for a connection opened at `start` that never registered came no earlier
/// than the registration timeout (half a second allowed for the clocks of two processes).
fn not_before_registration_timeout(start: Instant, t: &Target) -> Result<()> {
    if start.elapsed() + Duration::from_millis(500) < t.register_timeout {
        return Err(format!(
            "timed out after {:?}, before the configured {:?}",
            start.elapsed(),
            t.register_timeout
        ));
    }
    Ok(())
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A client that stops reading (§10.2): its senders are told SLOW_CONSUMER. Then, with
/// `catches_up`, it reads again at once and must be served on; without, it reads nothing and
/// must be dropped after the stall timeout.
async fn slow_consumer(t: &Target, catches_up: bool) -> Result<()> {
    let victim = fresh("slow");
    let socket = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .set_recv_buffer_size(4096)
        .map_err(|e| e.to_string())?;
    let addr = t.addr();
    let ip = tokio::net::lookup_host((addr.host.as_str(), addr.port))
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("the relay's host has no address")?;
    let stream = socket.connect(ip).await.map_err(|e| e.to_string())?;
    let opened = transport::over(stream, &addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut slow = Raw::over(opened);
    slow.send(&ClientMessage::Hello { version: 2 }).await?;
    slow.send(&ClientMessage::Register {
        nick: nick(&victim)?,
    })
    .await?;
    slow.expect(&RelayMessage::Registered {
        nick: nick(&victim)?,
    })
    .await?;
    let mut bystander = Raw::registered(t.addr(), &fresh("by")).await?;
    // Several senders, so per-connection rate limits do not hide the victim's queue limit.
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = ClientMessage::Relay {
        destination: nick(&victim)?,
        payload: vec![0xab; 16 * 1024],
    }
    .to_bytes();
    let mut frame = Vec::new();
    cryptully_protocol::framing::encode_frame(&body, &mut frame);
    let mut senders = Vec::new();
    for _ in 0..8 {
        senders.push(Raw::registered(t.addr(), &fresh("tx")).await?);
    }
    let mut readers = tokio::task::JoinSet::new();
    let mut writers = tokio::task::JoinSet::new();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for s in senders {
        let frame = frame.clone();
        let victim = victim.clone();
        let stop = stop.clone();
        let (mut r, mut w) = (s.r, s.w);
        writers.spawn(async move {
            while Instant::now() < deadline && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if w.write_all(&frame).await.is_err() {
                    break;
                }
            }
            // Held open: a sender that falls silent is not a sender that left.
            w
        });
        readers.spawn(async move {
            loop {
                match tokio::time::timeout_at(deadline.into(), r.next_frame()).await {
                    Ok(Ok(Some(f))) => match RelayMessage::decode(&f) {
                        Ok(RelayMessage::Error {
                            code: ErrorCode::SlowConsumer,
                            nick: Some(n),
                        }) if n.as_str() == victim => break (true, r),
                        _ => {}
                    },
                    _ => break (false, r),
                }
            }
        });
    }
    // One sender told is enough. Then every sender falls silent, their connections open: the
    // stall timeout runs on the relay's clock, not on the arrival of more frames (§10.2).
    let mut told = false;
    let mut quiet_senders = Vec::new();
    while let Some(r) = readers.join_next().await {
        if let Ok((t, r)) = r {
            quiet_senders.push(r);
            if t {
                told = true;
                break;
            }
        }
    }
    readers.abort_all();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // A writer stops after the frame it is writing; the relay reads on, so that is soon.
    let mut held_open = Vec::new();
    while let Ok(Some(w)) = tokio::time::timeout(Duration::from_secs(10), writers.join_next()).await
    {
        held_open.extend(w.ok());
    }
    writers.abort_all();
    if !told {
        return Err("no sender was told SLOW_CONSUMER within 60 s".into());
    }
    bystander.expect_alive().await?;
    if catches_up {
        // Everything queued arrives, DELIVER after DELIVER, and then the connection is served:
        // a full queue alone never drops a client that reads (§10.2).
        let mut delivered = 0;
        loop {
            match tokio::time::timeout(Duration::from_secs(2), slow.r.next_frame()).await {
                Err(_) => break,
                Ok(Ok(Some(f))) => match RelayMessage::decode(&f) {
                    Ok(RelayMessage::Deliver { .. }) => delivered += 1,
                    other => {
                        return Err(format!(
                            "the client reading again after {delivered} DELIVERs got {other:?}: dropped before its stall timeout"
                        ));
                    }
                },
                Ok(other) => {
                    return Err(format!(
                        "the client reading again after {delivered} DELIVERs was dropped before its stall timeout: {other:?}"
                    ));
                }
            }
        }
        return slow.expect_alive().await;
    }
    // §10.2: the victim, which reads nothing at all, is dropped once it has stalled for the
    // relay's stall timeout (10 s by default), and its nickname released.
    let released_by = Instant::now() + Duration::from_secs(40);
    loop {
        match Raw::registered(t.addr(), &victim).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > released_by => {
                return Err(format!(
                    "the slow consumer's nickname was not released within 40 s: {e}"
                ));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Runs the selected cases one after another.
pub async fn run(target: &Target, selection: &Selection) -> Vec<Outcome> {
    crate::run_cases(cases(), target, selection, |_| {}, |_, v| v).await
}
