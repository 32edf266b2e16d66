//! §4.5 The per-peer session state machine, sans IO.
//!
//! It takes decoded peer messages ([`Session::handle`]) and the person's actions
//! ([`Session::accept`], [`Session::send_message`], ...) and returns a [`Step`]: peer messages to
//! send and events to show. Randomness comes in as an argument. A fatal error leaves the session
//! in `Failed`, and every later input returns that same error.

use crate::DecodeError;
use crate::errors::RejectReason;
use crate::handshake::PeerMessage;
use crate::inner::{InnerMessage, TypingState};
use crate::key_schedule::{
    self, Direction, EphemeralKeyPair, Fingerprint, IdentityFingerprint, IdentityKeyPair,
    KeySchedule, SafetyCode, Transcript,
};
use crate::limits::{
    HANDSHAKE_DECISION_TIMEOUT, HANDSHAKE_STEP_TIMEOUT, MAX_MSG_TEXT, MAX_SMP_QUESTION, MAX_TOO_FAR,
};
use crate::nick::Nick;
use crate::primitives::{CryptoError, erased};
use crate::records::{ChainKey, ReceiveChain, Record, RecordError, SendChain};
use crate::smp::{self, Smp, SmpError, SmpOutcome, SmpOutput, TieBreak};
use crate::versioning::PEER_VERSION;
use core::fmt;
use rand_core::CryptoRngCore;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A warning about records in transit (§6.4). The session goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warning {
    /// A record failed authentication (or could not be checked): someone changed or forged it.
    Tampered {
        /// Its sequence number.
        seq: u64,
    },
    /// A record arrived again, or out of order.
    Replayed {
        /// Its sequence number.
        seq: u64,
    },
    /// Records were deleted in transit before the one just opened.
    Deleted {
        /// How many.
        count: u64,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tampered { .. } => f.write_str(
                "a message was changed in transit and was discarded; someone may be tampering",
            ),
            Self::Replayed { .. } => {
                f.write_str("an old message was sent again and was discarded; someone may be replaying messages")
            }
            Self::Deleted { count: 1 } => {
                f.write_str("1 message from your friend was deleted in transit")
            }
            Self::Deleted { count } => {
                write!(f, "{count} messages from your friend were deleted in transit")
            }
        }
    }
}

/// Why a session ended (§4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// This side sent END.
    Closed,
    /// The peer sent END.
    PeerClosed,
    /// The relay reported PEER_GONE.
    PeerGone,
    /// The relay knows nobody by the friend's nickname now (§3.5 NICK_NOT_FOUND): they are not
    /// connected, or have left. Said in words, never as the relay's error code (issue 15).
    NotConnected,
    /// The connection to the relay was lost.
    ConnectionLost,
    /// More than MAX_SKIP of the friend's records were lost in transit, so later ones can no
    /// longer be opened (§6.4). This side sent END.
    MessagesLost,
    /// The handshake waited longer than §4.5 allows: the friend did not answer the request, or
    /// this side's person did not decide.
    TimedOut,
    /// The handshake failed a check, on this side (REJ HANDSHAKE_FAILED was sent) or on the
    /// friend's (it arrived) (§4.4): someone may be interfering.
    HandshakeFailed,
}

/// What a session tells its person (§4.5, §6.4, §7, §8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A HELO arrived: the person should accept or reject (§4.3).
    Request {
        /// Who asks.
        peer: Nick,
    },
    /// The handshake completed and the friend proved its identity key (§4.7).
    Established {
        /// Read aloud to compare (§5.5).
        safety_code: SafetyCode,
        /// For auditors (§5.6).
        fingerprint: Fingerprint,
        /// The friend's long-term identity public key, proven by its IDENTITY (§4.7). The
        /// application compares it with what it remembers of this nickname (§12.5).
        peer_identity: [u8; 32],
        /// The 30 digits both people see for their two identities (§5.8).
        identity_fingerprint: IdentityFingerprint,
    },
    /// The peer rejected the request (§4.3).
    Rejected(RejectReason),
    /// A chat message (§7.3).
    Message {
        /// The sequence number of the record that carried it.
        seq: u64,
        /// The text.
        text: String,
    },
    /// The peer's typing state (§7.5).
    Typing(TypingState),
    /// The peer acknowledged a message this side sent (§7.4).
    Delivered {
        /// The sequence number [`Session::send_message`] returned.
        seq: u64,
    },
    /// The peer asks a question; answer with [`Session::answer_smp`] (§8.5).
    SmpQuestion {
        /// The question.
        question: String,
    },
    /// An SMP run ended (§8.6).
    SmpResult(SmpOutcome),
    /// Something happened to records in transit (§6.4).
    Warning(Warning),
    /// Messages this side sent that were never acknowledged, now that the session ended (§7.4).
    Undelivered {
        /// Their sequence numbers, ascending.
        seqs: Vec<u64>,
    },
    /// The session ended (§4.6).
    Ended(EndReason),
}

/// Why a session input failed. Variants marked fatal leave the session `Failed`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// A peer message the state does not accept (§4.5). Fatal before and during `Established`.
    UnexpectedMessage {
        /// The state's name.
        state: &'static str,
        /// The message's name.
        got: &'static str,
    },
    /// The HELO's version is not spoken (§4.3). Fatal; REJ was sent.
    UnsupportedVersion(u16),
    /// PUB_KEY does not open the HELO's commitment (§4.4). Fatal.
    CommitmentMismatch,
    /// The peer's public key is a low-order point (§4.4). Fatal.
    LowOrderKey,
    /// The friend's first record was not a valid IDENTITY: a wrong MAC, a low-order identity
    /// key, or another message (§4.7). Fatal; REJ HANDSHAKE_FAILED was sent.
    IdentityNotProven,
    /// An authenticated record held an invalid inner message (§6.4 step 6). Fatal.
    InvalidInnerMessage(DecodeError),
    /// The sending direction is exhausted (§6.2). Fatal.
    SequenceExhausted,
    /// The person's action needs an established session.
    NotEstablished {
        /// The state's name.
        state: &'static str,
    },
    /// A message is empty or too long (§7.3).
    MessageLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A question is too long (§8.4).
    QuestionTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// An SMP action that is not possible now (§8.6).
    Smp(SmpError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedMessage { state, got } => write!(
                f,
                "the friend's client sent a message out of order (state {state}, got {got}); the chat was closed (§4.5)"
            ),
            Self::UnsupportedVersion(v) => write!(
                f,
                "the friend's client speaks protocol version {v}, this one speaks {PEER_VERSION}; one of you should update (§4.3)"
            ),
            Self::CommitmentMismatch => f.write_str(
                "the friend's key does not match what it promised; someone may be in the middle, so the chat was closed (§4.4)",
            ),
            Self::LowOrderKey => f.write_str(
                "the friend sent an invalid key; someone may be interfering, so the chat was closed (§4.4)",
            ),
            Self::IdentityNotProven => f.write_str(
                "the friend's client could not prove who it is; someone may be interfering, so the chat was closed (§4.7)",
            ),
            Self::InvalidInnerMessage(e) => write!(
                f,
                "the friend's client sent a message this client cannot read ({e}); the chat was closed (§6.4)"
            ),
            Self::SequenceExhausted => {
                f.write_str("this chat sent the most messages it can; start a new chat (§6.2)")
            }
            Self::NotEstablished { state } => {
                write!(f, "the chat is not ready yet (state {state}); wait until it is secure")
            }
            Self::MessageLength { len: 0 } => f.write_str("cannot send an empty message"),
            Self::MessageLength { len } => write!(
                f,
                "message too long: {len} bytes, at most {MAX_MSG_TEXT} (§7.3); split it"
            ),
            Self::QuestionTooLong { len } => write!(
                f,
                "question too long: {len} bytes, at most {MAX_SMP_QUESTION} (§8.4)"
            ),
            Self::Smp(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for SessionError {}

/// What one input produced: peer messages to send, in order, and events to show.
#[must_use]
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Peer messages for RELAY, to the session's peer, in order.
    pub send: Vec<PeerMessage>,
    /// Events for the person, in order.
    pub events: Vec<Event>,
}

/// Which end of the handshake this side is (§1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sent HELO.
    Initiator,
    /// Received HELO.
    Responder,
}

struct Established {
    send: SendChain,
    recv: ReceiveChain,
    initiator_public: [u8; 32],
    responder_public: [u8; 32],
    session_id: [u8; 32],
    safety_code: SafetyCode,
    fingerprint: Fingerprint,
    /// The friend's identity public key, once its IDENTITY is verified (§4.7).
    peer_identity: [u8; 32],
    smp: Smp,
    /// Counts SMP runs, so that two runs waiting in the same state are two waits (§8.6).
    smp_run: u64,
    unacked: BTreeSet<u64>,
    /// Records in a row that were more than MAX_SKIP ahead (§6.4).
    too_far: u32,
}

/// The session id is a secret of §5.4 (SMP binds to it); the chains erase themselves.
impl Drop for Established {
    fn drop(&mut self) {
        self.session_id.zeroize();
    }
}

enum State {
    ExpectRedy {
        keys: EphemeralKeyPair,
    },
    ExpectDecision {
        commitment: [u8; 32],
    },
    ExpectPubKey {
        keys: EphemeralKeyPair,
        commitment: [u8; 32],
    },
    /// Keys are derived and this side's IDENTITY is sent; the friend's must come next (§4.7).
    /// The ephemeral key is kept until then: the IDENTITY MAC needs it.
    ExpectIdentity {
        est: Box<Established>,
        keys: EphemeralKeyPair,
        transcript_hash: [u8; 32],
    },
    Established(Box<Established>),
    Closed,
    Failed(SessionError),
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::ExpectRedy { .. } => "ExpectRedy",
            Self::ExpectDecision { .. } => "ExpectDecision",
            Self::ExpectPubKey { .. } => "ExpectPubKey",
            Self::ExpectIdentity { .. } => "ExpectIdentity",
            Self::Established(_) => "Established",
            Self::Closed => "Closed",
            Self::Failed(_) => "Failed",
        }
    }
}

/// One chat with one peer (§4.5).
pub struct Session {
    local: Nick,
    peer: Nick,
    /// This device's long-term identity (§5.7), shared by all its sessions.
    identity: Arc<IdentityKeyPair>,
    role: Role,
    state: State,
    /// What the session waits for and since when, as last seen by [`Session::tick`].
    waiting_since: Option<(Wait, Instant)>,
}

/// One wait of §4.5 or §8.6: the state's name, and for SMP the run it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wait {
    state: &'static str,
    smp_run: u64,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Session");
        d.field("local", &self.local)
            .field("peer", &self.peer)
            .field("role", &self.role)
            .field("state", &self.state.name());
        if let State::Established(e) = &self.state {
            d.field("safety_code", &e.safety_code)
                .field("send_seq", &e.send.next_seq())
                .field("recv_seq", &e.recv.next_seq())
                .field("smp", &e.smp.name())
                .field("unacked", &e.unacked.len());
        }
        d.finish_non_exhaustive()
    }
}

impl Session {
    /// Opens a chat with `peer` (§4.2): the session and the HELO to send. `identity` is this
    /// device's long-term key (§5.7).
    pub fn initiate(
        local: Nick,
        peer: Nick,
        identity: Arc<IdentityKeyPair>,
        rng: &mut impl CryptoRngCore,
    ) -> (Self, PeerMessage) {
        erased(|| {
            let keys = EphemeralKeyPair::generate(rng);
            Self::initiate_with(local, peer, identity, keys)
        })
    }

    /// [`Session::initiate`] with a given key pair (vectors and tests).
    pub fn initiate_with(
        local: Nick,
        peer: Nick,
        identity: Arc<IdentityKeyPair>,
        keys: EphemeralKeyPair,
    ) -> (Self, PeerMessage) {
        let helo = PeerMessage::Helo {
            version: PEER_VERSION,
            commitment: keys.commitment(),
        };
        let session = Self {
            local,
            peer,
            identity,
            role: Role::Initiator,
            state: State::ExpectRedy { keys },
            waiting_since: None,
        };
        (session, helo)
    }

    /// A HELO arrived from `peer` (§4.3). With a supported version the step holds
    /// [`Event::Request`]; otherwise the session is failed and the step holds REJ.
    pub fn respond(
        local: Nick,
        peer: Nick,
        identity: Arc<IdentityKeyPair>,
        helo: &PeerMessage,
    ) -> (Self, Step) {
        let mut session = Self {
            local,
            peer: peer.clone(),
            identity,
            role: Role::Responder,
            state: State::Closed,
            waiting_since: None,
        };
        let mut step = Step::default();
        match helo {
            PeerMessage::Helo {
                version,
                commitment,
            } if *version == PEER_VERSION => {
                session.state = State::ExpectDecision {
                    commitment: *commitment,
                };
                step.events.push(Event::Request { peer });
            }
            PeerMessage::Helo { version, .. } => {
                step.send.push(PeerMessage::Rej {
                    reason: RejectReason::UnsupportedVersion,
                });
                session.state = State::Failed(SessionError::UnsupportedVersion(*version));
            }
            other => {
                session.state = State::Failed(SessionError::UnexpectedMessage {
                    state: "ExpectHelo",
                    got: other.name(),
                });
            }
        }
        (session, step)
    }

    /// The peer's nickname.
    pub fn peer(&self) -> &Nick {
        &self.peer
    }

    /// This side's nickname.
    pub fn local(&self) -> &Nick {
        &self.local
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The state's name, as in §4.5.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }

    /// Whether records can flow.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// Whether the session ended or failed: it accepts nothing more.
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed(_))
    }

    /// The safety code, once established (§5.5).
    pub fn safety_code(&self) -> Option<SafetyCode> {
        match &self.state {
            State::Established(e) => Some(e.safety_code),
            _ => None,
        }
    }

    /// The fingerprint, once established (§5.6).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match &self.state {
            State::Established(e) => Some(e.fingerprint),
            _ => None,
        }
    }

    /// The session id (§5.4), once established. Not secret: SMP binds to it (§8.2).
    pub fn session_id(&self) -> Option<[u8; 32]> {
        match &self.state {
            State::Established(e) => Some(e.session_id),
            _ => None,
        }
    }

    /// The friend's identity public key, once proven (§4.7).
    pub fn peer_identity(&self) -> Option<[u8; 32]> {
        match &self.state {
            State::Established(e) => Some(e.peer_identity),
            _ => None,
        }
    }

    /// The handshake's public keys `(initiator, responder)`, once established (§5.2, §8.2).
    pub fn public_keys(&self) -> Option<([u8; 32], [u8; 32])> {
        match &self.state {
            State::Established(e) => Some((e.initiator_public, e.responder_public)),
            _ => None,
        }
    }

    /// Sequence numbers of sent messages not yet acknowledged (§7.4).
    pub fn unacknowledged(&self) -> Vec<u64> {
        match &self.state {
            State::Established(e) => e.unacked.iter().copied().collect(),
            _ => Vec::new(),
        }
    }

    /// The person accepts the request (§4.3): REDY.
    pub fn accept(&mut self, rng: &mut impl CryptoRngCore) -> Result<Step, SessionError> {
        erased(|| self.accept_with(EphemeralKeyPair::generate(rng)))
    }

    /// [`Session::accept`] with a given key pair (vectors and tests).
    pub fn accept_with(&mut self, keys: EphemeralKeyPair) -> Result<Step, SessionError> {
        self.check_live()?;
        let State::ExpectDecision { commitment } = self.state else {
            return Err(SessionError::NotEstablished {
                state: self.state.name(),
            });
        };
        let redy = PeerMessage::Redy {
            public_key: *keys.public(),
        };
        self.state = State::ExpectPubKey { keys, commitment };
        Ok(Step {
            send: vec![redy],
            events: Vec::new(),
        })
    }

    /// The person rejects the request (§4.3): REJ DECLINED.
    pub fn reject(&mut self) -> Result<Step, SessionError> {
        self.reject_with(RejectReason::Declined)
    }

    /// The client cannot take the chat now (§4.5): REJ BUSY. Never for a person's no [4.3-6].
    pub fn reject_busy(&mut self) -> Result<Step, SessionError> {
        self.reject_with(RejectReason::Busy)
    }

    fn reject_with(&mut self, reason: RejectReason) -> Result<Step, SessionError> {
        self.check_live()?;
        if !matches!(self.state, State::ExpectDecision { .. }) {
            return Err(SessionError::NotEstablished {
                state: self.state.name(),
            });
        }
        self.state = State::Closed;
        Ok(Step {
            send: vec![PeerMessage::Rej { reason }],
            events: Vec::new(),
        })
    }

    /// A peer message arrived for this session.
    pub fn handle(
        &mut self,
        msg: PeerMessage,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Step, SessionError> {
        erased(|| {
            self.check_live()?;
            let state = core::mem::replace(&mut self.state, State::Closed);
            let result = match (state, msg) {
                (State::ExpectRedy { keys }, PeerMessage::Redy { public_key }) => {
                    self.on_redy(keys, public_key)
                }
                (State::ExpectRedy { .. }, PeerMessage::Rej { reason }) => {
                    self.state = State::Closed;
                    Ok(Step {
                        send: Vec::new(),
                        events: vec![Event::Rejected(reason)],
                    })
                }
                (State::ExpectPubKey { keys, commitment }, PeerMessage::PubKey { public_key }) => {
                    self.on_pub_key(keys, commitment, public_key)
                }
                // §4.4: the friend's side found our key, commitment or IDENTITY bad and said so.
                // In `Established`, only until a record of the friend's after its IDENTITY has
                // opened: after that the handshake provably worked, and a REJ can only be a
                // relay's forgery.
                (
                    State::ExpectPubKey { .. } | State::ExpectIdentity { .. },
                    PeerMessage::Rej {
                        reason: RejectReason::HandshakeFailed,
                    },
                ) => Ok(Step {
                    send: Vec::new(),
                    events: vec![Event::Ended(EndReason::HandshakeFailed)],
                }),
                (
                    State::Established(est),
                    PeerMessage::Rej {
                        reason: RejectReason::HandshakeFailed,
                    },
                ) => {
                    // The friend's IDENTITY (record 0) opening proves nothing about whether the
                    // friend accepted ours: both are sent before either is checked (§4.7).
                    if est.recv.next_seq() <= 1 {
                        let mut events = Vec::new();
                        let unacked: Vec<u64> = est.unacked.iter().copied().collect();
                        if !unacked.is_empty() {
                            events.push(Event::Undelivered { seqs: unacked });
                        }
                        events.push(Event::Ended(EndReason::HandshakeFailed));
                        Ok(Step {
                            send: Vec::new(),
                            events,
                        })
                    } else {
                        self.state = State::Established(est);
                        Ok(Step::default())
                    }
                }
                (
                    State::ExpectIdentity {
                        est,
                        keys,
                        transcript_hash,
                    },
                    PeerMessage::Record(record),
                ) => self.on_identity_record(est, keys, transcript_hash, &record),
                (State::Established(mut est), PeerMessage::Record(record)) => {
                    // §8.6: when both ask at once, the lower canonical nickname's question goes on.
                    let tie = if self.local < self.peer {
                        TieBreak::Win
                    } else {
                        TieBreak::Lose
                    };
                    on_record(&mut est, &record, tie, rng).map(|(step, ended)| {
                        if !ended {
                            self.state = State::Established(est);
                        }
                        step
                    })
                }
                (State::Closed, msg) => {
                    return Err(SessionError::UnexpectedMessage {
                        state: "Closed",
                        got: msg.name(),
                    });
                }
                (state, msg) => Err(SessionError::UnexpectedMessage {
                    state: state.name(),
                    got: msg.name(),
                }),
            };
            match result {
                // §4.4: a commitment that does not open, or a low-order key, is announced to the
                // friend with REJ HANDSHAKE_FAILED, so that neither side believes the chat is
                // secure. The session fails all the same.
                Err(
                    e @ (SessionError::CommitmentMismatch
                    | SessionError::LowOrderKey
                    | SessionError::IdentityNotProven),
                ) => {
                    self.state = State::Failed(e);
                    Ok(Step {
                        send: vec![PeerMessage::Rej {
                            reason: RejectReason::HandshakeFailed,
                        }],
                        events: vec![Event::Ended(EndReason::HandshakeFailed)],
                    })
                }
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    Err(e)
                }
                ok => ok,
            }
        })
    }

    /// Sends a chat message (§7.3). Returns its sequence number, which later appears in
    /// [`Event::Delivered`] or [`Event::Undelivered`], and the RECORD to send.
    pub fn send_message(&mut self, text: &str) -> Result<(u64, PeerMessage), SessionError> {
        erased(|| {
            if text.is_empty() || text.len() > MAX_MSG_TEXT {
                return Err(SessionError::MessageLength { len: text.len() });
            }
            let est = self.established()?;
            let seq = est.send.next_seq();
            let record = seal(
                est,
                &InnerMessage::Msg {
                    text: text.to_owned(),
                },
            );
            if record.is_ok() {
                est.unacked.insert(seq);
            }
            Ok((seq, self.fail_on_err(record)?))
        })
    }

    /// Sends the person's typing state (§7.5).
    pub fn send_typing(&mut self, state: TypingState) -> Result<PeerMessage, SessionError> {
        erased(|| {
            let est = self.established()?;
            let record = seal(est, &InnerMessage::Typing(state));
            self.fail_on_err(record)
        })
    }

    /// The person asks a question with their answer (§8.5 step 1): SMP0 and SMP1.
    pub fn start_smp(
        &mut self,
        question: &str,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Step, SessionError> {
        erased(|| {
            if question.len() > MAX_SMP_QUESTION {
                return Err(SessionError::QuestionTooLong {
                    len: question.len(),
                });
            }
            let est = self.established()?;
            let x = smp_secret(est, answer);
            let out = est
                .smp
                .start(question.to_owned(), x, rng)
                .map_err(SessionError::Smp)?;
            est.smp_run += 1;
            self.smp_step(out)
        })
    }

    /// The person answers the peer's question (§8.5 step 2): SMP2.
    pub fn answer_smp(
        &mut self,
        answer: &str,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Step, SessionError> {
        erased(|| {
            let est = self.established()?;
            let y = smp_secret(est, answer);
            let out = est.smp.answer(y, rng).map_err(SessionError::Smp)?;
            self.smp_step(out)
        })
    }

    /// The person aborts a running verification (§8.6).
    pub fn abort_smp(&mut self) -> Result<Step, SessionError> {
        erased(|| {
            let out = self.established()?.smp.abort();
            self.smp_step(out)
        })
    }

    /// The question waiting for the person's answer, if any: from SMP0 until they answer (§8.6).
    pub fn pending_question(&self) -> Option<&str> {
        match &self.state {
            State::Established(e) => e.smp.pending_question(),
            _ => None,
        }
    }

    /// Time passes (§4.5, §8.6). Call it every second or so with the current time; the session
    /// keeps no clock of its own. A wait that lasted longer than its limit ends: a handshake as
    /// [`EndReason::TimedOut`], an SMP run as [`SmpOutcome::Aborted`] with SMP_ABORT sent. A wait
    /// starts at the first tick that sees it, so limits hold to within one tick.
    pub fn tick(&mut self, now: Instant) -> Step {
        erased(|| {
            let Some((limit, wait)) = self.wait() else {
                self.waiting_since = None;
                return Step::default();
            };
            match self.waiting_since {
                Some((seen, since)) if seen == wait => {
                    if now.saturating_duration_since(since) < limit {
                        return Step::default();
                    }
                    self.waiting_since = None;
                    self.expire()
                }
                _ => {
                    self.waiting_since = Some((wait, now));
                    Step::default()
                }
            }
        })
    }

    /// What the session waits for from the friend or its person, and for how long at most.
    fn wait(&self) -> Option<(Duration, Wait)> {
        let wait = |state, smp_run| Wait { state, smp_run };
        match &self.state {
            State::ExpectRedy { .. } => Some((HANDSHAKE_DECISION_TIMEOUT, wait("ExpectRedy", 0))),
            State::ExpectDecision { .. } => {
                Some((HANDSHAKE_DECISION_TIMEOUT, wait("ExpectDecision", 0)))
            }
            State::ExpectPubKey { .. } => Some((HANDSHAKE_STEP_TIMEOUT, wait("ExpectPubKey", 0))),
            State::ExpectIdentity { .. } => {
                Some((HANDSHAKE_STEP_TIMEOUT, wait("ExpectIdentity", 0)))
            }
            State::Established(e) => e
                .smp
                .timeout()
                .map(|(limit, _)| (limit, wait(e.smp.name(), e.smp_run))),
            State::Closed | State::Failed(_) => None,
        }
    }

    fn expire(&mut self) -> Step {
        match &mut self.state {
            State::Established(est) => {
                let waiting_for = est.smp.timeout().map_or("its next message", |(_, w)| w);
                let out = est.smp.time_out(waiting_for);
                let step = smp_output(est, out);
                self.fail_on_err(step).unwrap_or_default()
            }
            _ => {
                self.state = State::Closed;
                Step {
                    send: Vec::new(),
                    events: vec![Event::Ended(EndReason::TimedOut)],
                }
            }
        }
    }

    /// The person closes the chat (§7.7): END, then `Closed`.
    pub fn end(&mut self) -> Result<Step, SessionError> {
        erased(|| {
            // §4.7: waiting for the friend's IDENTITY, the keys exist and the friend may count
            // the chat secure already: it is told too.
            let est = match &mut self.state {
                State::ExpectIdentity { est, .. } => est,
                _ => self.established()?,
            };
            let end = seal(est, &InnerMessage::End);
            let end = self.fail_on_err(end)?;
            let mut step = self.terminate(EndReason::Closed);
            step.send.insert(0, end);
            Ok(step)
        })
    }

    /// The session ends without END: the relay said PEER_GONE or the connection was lost
    /// (§3.9, §4.6). Reports unacknowledged messages as undelivered.
    pub fn terminate(&mut self, reason: EndReason) -> Step {
        let mut step = Step::default();
        if self.is_over() {
            return step;
        }
        let unacked = self.unacknowledged();
        if !unacked.is_empty() {
            step.events.push(Event::Undelivered { seqs: unacked });
        }
        step.events.push(Event::Ended(reason));
        self.state = State::Closed;
        step
    }

    // -- internals ------------------------------------------------------------------------

    fn check_live(&self) -> Result<(), SessionError> {
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn established(&mut self) -> Result<&mut Established, SessionError> {
        match &mut self.state {
            State::Established(e) => Ok(e),
            State::Failed(e) => Err(e.clone()),
            other => Err(SessionError::NotEstablished {
                state: other.name(),
            }),
        }
    }

    fn fail_on_err<T>(&mut self, r: Result<T, SessionError>) -> Result<T, SessionError> {
        if let Err(e) = &r {
            self.state = State::Failed(e.clone());
        }
        r
    }

    fn smp_step(&mut self, out: SmpOutput) -> Result<Step, SessionError> {
        let est = self.established()?;
        let step = smp_output(est, out);
        self.fail_on_err(step)
    }

    fn on_redy(
        &mut self,
        keys: EphemeralKeyPair,
        responder_public: [u8; 32],
    ) -> Result<Step, SessionError> {
        let transcript = Transcript {
            initiator: self.local.clone(),
            responder: self.peer.clone(),
            commitment: keys.commitment(),
            responder_public,
            initiator_public: *keys.public(),
        };
        let shared = keys
            .diffie_hellman(&responder_public)
            .map_err(crypto_error)?;
        let schedule = KeySchedule::derive(&transcript.hash(), &shared).map_err(crypto_error)?;
        let pub_key = PeerMessage::PubKey {
            public_key: *keys.public(),
        };
        let identity = self.establish(&schedule, &transcript, keys)?;
        Ok(Step {
            send: vec![pub_key, identity],
            events: Vec::new(),
        })
    }

    fn on_pub_key(
        &mut self,
        keys: EphemeralKeyPair,
        commitment: [u8; 32],
        initiator_public: [u8; 32],
    ) -> Result<Step, SessionError> {
        let opened = key_schedule::commitment(&initiator_public);
        if !bool::from(opened.ct_eq(&commitment)) {
            return Err(SessionError::CommitmentMismatch);
        }
        let transcript = Transcript {
            initiator: self.peer.clone(),
            responder: self.local.clone(),
            commitment,
            responder_public: *keys.public(),
            initiator_public,
        };
        let shared = keys
            .diffie_hellman(&initiator_public)
            .map_err(crypto_error)?;
        let schedule = KeySchedule::derive(&transcript.hash(), &shared).map_err(crypto_error)?;
        let identity = self.establish(&schedule, &transcript, keys)?;
        Ok(Step {
            send: vec![identity],
            events: Vec::new(),
        })
    }

    /// Keys are derived: moves to `ExpectIdentity` and returns this side's IDENTITY record
    /// (§4.7), the first record it sends.
    fn establish(
        &mut self,
        schedule: &KeySchedule,
        t: &Transcript,
        keys: EphemeralKeyPair,
    ) -> Result<PeerMessage, SessionError> {
        let (i2r, r2i) = schedule.dangerous_chain_keys();
        let (send, recv) = match self.role {
            Role::Initiator => (*i2r, *r2i),
            Role::Responder => (*r2i, *i2r),
        };
        let est = Established {
            send: SendChain::new(ChainKey::new(send)),
            recv: ReceiveChain::new(ChainKey::new(recv)),
            initiator_public: t.initiator_public,
            responder_public: t.responder_public,
            session_id: *schedule.session_id(),
            safety_code: schedule.safety_code(),
            fingerprint: schedule.fingerprint(),
            peer_identity: [0; 32],
            smp: Smp::Idle,
            smp_run: 0,
            unacked: BTreeSet::new(),
            too_far: 0,
        };
        let transcript_hash = t.hash();
        let (peer_ephemeral, direction) = match self.role {
            Role::Initiator => (&t.responder_public, Direction::InitiatorToResponder),
            Role::Responder => (&t.initiator_public, Direction::ResponderToInitiator),
        };
        let dh = self
            .identity
            .diffie_hellman(peer_ephemeral)
            .map_err(crypto_error)?;
        let identity_key = *self.identity.public();
        let mac = key_schedule::identity_mac(&transcript_hash, &dh, direction, &identity_key)
            .map_err(crypto_error)?;
        let mut est = Box::new(est);
        let record = seal(
            &mut est,
            &InnerMessage::Identity {
                identity_key,
                mac: *mac,
            },
        )?;
        self.state = State::ExpectIdentity {
            est,
            keys,
            transcript_hash,
        };
        Ok(record)
    }

    /// §4.7: the friend's first record must be an IDENTITY whose MAC this side can recompute
    /// from its own ephemeral key. Records that do not open are warnings, as in `Established`.
    fn on_identity_record(
        &mut self,
        mut est: Box<Established>,
        keys: EphemeralKeyPair,
        transcript_hash: [u8; 32],
        record: &Record,
    ) -> Result<Step, SessionError> {
        // §4.7 [4.7-2]: a first record that authenticates but does not hold a readable
        // message is as unproven as a wrong MAC: the friend's client is told.
        let opened = open(&mut est, record).map_err(|e| match e {
            SessionError::InvalidInnerMessage(_) => SessionError::IdentityNotProven,
            other => other,
        })?;
        let (mut step, inner) = match opened {
            Opened::Inner(step, inner) => (step, *inner),
            Opened::Done(step, ended) => {
                if !ended {
                    self.state = State::ExpectIdentity {
                        est,
                        keys,
                        transcript_hash,
                    };
                }
                return Ok(step);
            }
        };
        let InnerMessage::Identity { identity_key, mac } = inner else {
            return Err(SessionError::IdentityNotProven);
        };
        let direction = match self.role {
            Role::Initiator => Direction::ResponderToInitiator,
            Role::Responder => Direction::InitiatorToResponder,
        };
        let dh = keys
            .diffie_hellman(&identity_key)
            .map_err(|_| SessionError::IdentityNotProven)?;
        let expected = key_schedule::identity_mac(&transcript_hash, &dh, direction, &identity_key)
            .map_err(|_| SessionError::IdentityNotProven)?;
        if !bool::from(expected.ct_eq(&mac)) {
            return Err(SessionError::IdentityNotProven);
        }
        drop(keys);
        est.peer_identity = identity_key;
        let identity_fingerprint = IdentityFingerprint::of(
            (&self.local, self.identity.public()),
            (&self.peer, &identity_key),
        );
        step.events.push(Event::Established {
            safety_code: est.safety_code,
            fingerprint: est.fingerprint,
            peer_identity: identity_key,
            identity_fingerprint,
        });
        self.state = State::Established(est);
        Ok(step)
    }
}

/// §6.4 and §7: opens a record and acts on its inner message. Returns the step and whether END
/// arrived.
fn on_record(
    est: &mut Established,
    record: &Record,
    tie: TieBreak,
    rng: &mut impl CryptoRngCore,
) -> Result<(Step, bool), SessionError> {
    let (mut step, inner) = match open(est, record)? {
        Opened::Inner(step, inner) => (step, *inner),
        Opened::Done(step, ended) => return Ok((step, ended)),
    };
    match inner {
        InnerMessage::Msg { text } => {
            step.send
                .push(seal(est, &InnerMessage::Ack { seq: record.seq })?);
            step.events.push(Event::Message {
                seq: record.seq,
                text,
            });
        }
        InnerMessage::Typing(state) => step.events.push(Event::Typing(state)),
        InnerMessage::Ack { seq } => {
            if est.unacked.remove(&seq) {
                step.events.push(Event::Delivered { seq });
            }
        }
        InnerMessage::End => {
            let unacked: Vec<u64> = est.unacked.iter().copied().collect();
            if !unacked.is_empty() {
                step.events.push(Event::Undelivered { seqs: unacked });
            }
            step.events.push(Event::Ended(EndReason::PeerClosed));
            return Ok((step, true));
        }
        // §4.7: one IDENTITY per direction, first. A second one is authenticated, so only the
        // friend's client can have sent it: a broken client, and the chat cannot go on.
        InnerMessage::Identity { .. } => {
            return Err(SessionError::UnexpectedMessage {
                state: "Established",
                got: "IDENTITY",
            });
        }
        smp_msg => {
            if matches!(smp_msg, InnerMessage::Smp0 { .. }) {
                est.smp_run += 1;
            }
            let out = est.smp.receive(&smp_msg, tie, rng);
            let more = smp_output(est, out)?;
            step.send.extend(more.send);
            step.events.extend(more.events);
        }
    }
    Ok((step, false))
}

/// What opening one record gave: an inner message to act on, or a step that is all there is
/// (a warning; or the session ended, when the flag is set).
enum Opened {
    Inner(Step, Box<InnerMessage>),
    Done(Step, bool),
}

/// §6.4: opens a record. Warnings for records that do not open; the chat ends after MAX_TOO_FAR
/// records in a row too far ahead.
fn open(est: &mut Established, record: &Record) -> Result<Opened, SessionError> {
    let mut step = Step::default();
    let opened = match est.recv.open(record) {
        Ok(opened) => opened,
        Err(RecordError::Replayed { seq, .. }) => {
            step.events.push(Event::Warning(Warning::Replayed { seq }));
            return Ok(Opened::Done(step, false));
        }
        Err(RecordError::TooFarAhead { seq, .. }) => {
            // §6.4: one such record may be a relay's forgery; MAX_TOO_FAR in a row mean the
            // friend's records can no longer be opened, and the chat would hang for ever.
            est.too_far += 1;
            if est.too_far >= MAX_TOO_FAR {
                step.send.push(seal(est, &InnerMessage::End)?);
                let unacked: Vec<u64> = est.unacked.iter().copied().collect();
                if !unacked.is_empty() {
                    step.events.push(Event::Undelivered { seqs: unacked });
                }
                step.events.push(Event::Ended(EndReason::MessagesLost));
                return Ok(Opened::Done(step, true));
            }
            step.events.push(Event::Warning(Warning::Tampered { seq }));
            return Ok(Opened::Done(step, false));
        }
        Err(RecordError::BadTag { seq }) => {
            step.events.push(Event::Warning(Warning::Tampered { seq }));
            return Ok(Opened::Done(step, false));
        }
        Err(RecordError::BadPadding) => {
            return Err(SessionError::InvalidInnerMessage(
                DecodeError::InvalidValue("padding"),
            ));
        }
        Err(RecordError::SequenceExhausted) => return Err(SessionError::SequenceExhausted),
    };
    est.too_far = 0;
    if opened.deleted > 0 {
        step.events.push(Event::Warning(Warning::Deleted {
            count: opened.deleted,
        }));
    }
    let inner = InnerMessage::decode_padded(&opened.plaintext)
        .map_err(SessionError::InvalidInnerMessage)?;
    Ok(Opened::Inner(step, Box::new(inner)))
}

fn seal(est: &mut Established, inner: &InnerMessage) -> Result<PeerMessage, SessionError> {
    est.send
        .seal(&inner.encode_padded())
        .map(PeerMessage::Record)
        .map_err(|_| SessionError::SequenceExhausted)
}

fn smp_secret(est: &Established, answer: &str) -> smp::SecretInt {
    smp::secret(
        &est.initiator_public,
        &est.responder_public,
        &est.session_id,
        answer,
    )
}

fn smp_output(est: &mut Established, out: SmpOutput) -> Result<Step, SessionError> {
    let mut step = Step::default();
    for inner in &out.send {
        step.send.push(seal(est, inner)?);
    }
    // A run that ends comes before a question that starts the next (both at once, §8.6).
    if let Some(outcome) = out.outcome {
        step.events.push(Event::SmpResult(outcome));
    }
    if let Some(question) = out.question {
        step.events.push(Event::SmpQuestion { question });
    }
    Ok(step)
}

fn crypto_error(e: CryptoError) -> SessionError {
    match e {
        CryptoError::LowOrderPoint => SessionError::LowOrderKey,
        // HKDF lengths are fixed by the spec; nothing else can fail here.
        CryptoError::InvalidLength | CryptoError::Decrypt => SessionError::LowOrderKey,
    }
}
