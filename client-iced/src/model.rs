//! The client's state without widgets: chats, their lines, delivery and verification. Network
//! events go in through [`Model::apply`]; the clock comes in as a string, so every rule here is
//! tested without a window or a socket.

use cryptully_protocol::Nick;
use cryptully_protocol::connection::{Command, ConnEvent};
use cryptully_protocol::contacts::{Recognition, date};
use cryptully_protocol::session::{EndReason, Event};
use cryptully_protocol::smp::SmpError;
use cryptully_protocol::{SmpOutcome, TypingState};

/// What a nickname may be (§3.2), for the person choosing one.
pub const NICK_RULES: &str = "Nicknames are 1 to 32 characters: letters A-Z, digits, _ and -.";

/// How long "is typing…" stays without news from the friend: a stopped-typing TYPING can be
/// lost with a record the relay dropped, or never sent by a client that crashed (issue 15, item
/// 11). A person typing on sends TYPING again after each pause of 1.5 s (§7.5).
pub const PEER_TYPING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Text from the network as the person sees it (issue 15, item 1; §12.4).
pub use cryptully_protocol::inner::shown;

/// A protocol library's message in plain words (issue 15, item 8): without the spec's section
/// marks ("(§4.4)") and state names ("(state ExpectPubKey)"), which the log keeps.
pub fn plain(message: &str) -> String {
    let mut out = message.to_string();
    for open in [" (§", "(§", " (state ", "(state "] {
        while let Some(start) = out.find(open) {
            let Some(len) = out.get(start..).and_then(|rest| rest.find(')')) else {
                break;
            };
            out.replace_range(start..start + len + 1, "");
        }
    }
    out
}

/// A notice about the connection as a whole, shown until the person dismisses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// What it says.
    pub text: String,
    /// Something went wrong (warning colours), or only information (issue 15, item 15).
    pub warning: bool,
}

impl Notice {
    /// Information: a relay is hosted, the app is back online.
    pub fn info(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            warning: false,
        }
    }

    /// Something went wrong.
    pub fn warning(text: impl Into<String>) -> Self {
        Notice {
            text: text.into(),
            warning: true,
        }
    }
}

/// Where a chat is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatState {
    /// This side asked; waiting for the friend to accept.
    Opening,
    /// The friend asked; waiting for this person to accept or reject.
    Incoming,
    /// Keys agreed; messages flow.
    Secure,
    /// Over.
    Ended,
}

/// What happened to a message this person sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the connection.
    Sending,
    /// On its way, as record `seq`.
    Sent(u64),
    /// The friend's client acknowledged it.
    Delivered,
    /// It will never arrive (§7.4): the person is told.
    Undelivered,
}

/// One line of a chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Written here.
    Mine {
        /// The id given to the connection.
        id: u64,
        /// The text.
        text: String,
        /// What happened to it.
        delivery: Delivery,
    },
    /// Written by the friend.
    Theirs {
        /// The text.
        text: String,
    },
    /// A neutral service line.
    Info(String),
    /// Good news (secure, verified).
    Success(String),
    /// Something the person must not miss (tampering, replay, failed verification).
    Warning(String),
}

/// What the person knows about who is at the other end of a chat (§5.5, §8). The header, the
/// sidebar and the safety-code panel all show this one value, so they never disagree with each
/// other or with the newest line (issue 15, item 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Nothing compared yet.
    Unverified,
    /// The person said the safety codes match (they can take it back).
    CodeCompared,
    /// An answer matched (§8): proof that nobody is in the middle of this chat.
    AnswerMatched,
    /// A check failed and nothing in this chat proves it safe.
    Failed,
    /// The friend proved the identity the person verified in an earlier chat, at this time
    /// (seconds since the Unix epoch): verified with nothing to do (§12.5 [12.5-2]).
    Remembered {
        /// When it was verified.
        since: u64,
    },
    /// The friend proved another identity than the one the person verified then: this may
    /// not be them. Nothing can be sent until the person verifies again or goes on without
    /// (§12.5 [12.5-3]).
    IdentityChanged {
        /// When the old identity was verified.
        since: u64,
    },
}

/// Who asked the question of the verification under way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asker {
    /// This person asked; the friend answers.
    Me,
    /// The friend asked; this person answers.
    Friend,
}

/// A line and when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// What.
    pub kind: LineKind,
    /// When, as shown ("14:05").
    pub time: String,
}

/// One chat with one friend.
#[derive(Clone, Debug)]
pub struct Chat {
    /// The friend's nickname, canonical.
    pub peer: Nick,
    /// Where it is.
    pub state: ChatState,
    /// Everything shown.
    pub lines: Vec<Line>,
    /// Messages not yet seen.
    pub unread: usize,
    /// The friend is typing.
    pub peer_typing: bool,
    /// When the friend last said they started typing, as the app's clock saw it.
    pub peer_typing_at: Option<std::time::Instant>,
    /// The safety code, "123 456", once secure.
    pub code: Option<String>,
    /// The longer fingerprint, once secure.
    pub fingerprint: Option<String>,
    /// What the person knows about who is at the other end.
    pub trust: Trust,
    /// Who asked the question of the verification under way, if one is.
    pub asking: Option<Asker>,
    /// The person verified again in this chat an identity that had changed (§12.5).
    pub identity_was_changed: bool,
    /// Messages from a changed identity have been marked as such (§12.5).
    pub doubt_told: bool,
    /// The friend's question waiting for an answer.
    pub question: Option<String>,
}

impl Chat {
    fn new(peer: Nick, state: ChatState) -> Self {
        Chat {
            peer,
            state,
            lines: Vec::new(),
            unread: 0,
            peer_typing: false,
            peer_typing_at: None,
            code: None,
            fingerprint: None,
            trust: Trust::Unverified,
            asking: None,
            identity_was_changed: false,
            doubt_told: false,
            question: None,
        }
    }

    /// The code was compared or an answer matched, and no check has failed since.
    pub fn verified(&self) -> bool {
        matches!(
            self.trust,
            Trust::CodeCompared | Trust::AnswerMatched | Trust::Remembered { .. }
        )
    }

    fn line(&mut self, kind: LineKind, time: &str) {
        self.lines.push(Line {
            kind,
            time: time.to_string(),
        });
    }
}

/// Everything the window shows.
#[derive(Debug, Default)]
pub struct Model {
    /// The chats, in the order they began.
    pub chats: Vec<Chat>,
    /// The chat on screen.
    pub selected: Option<Nick>,
    /// Every remembered friend (§12.5), in nickname order, with when the person verified its
    /// identity, if they did.
    pub contacts: Vec<(Nick, Option<u64>)>,
    /// A notice about the connection as a whole.
    pub notice: Option<Notice>,
    next_id: u64,
}

/// The line for a verification's end, which also moves the chat's [`Trust`]: the two always
/// agree. A failure after an answer matched in this chat says so instead of "someone is in the
/// middle": the match proved nobody is (§8), so the chat stays verified.
fn smp_line(chat: &mut Chat, outcome: &SmpOutcome) -> LineKind {
    let peer = chat.peer.clone();
    let proven = chat.trust == Trust::AnswerMatched;
    let was_marked = chat.trust == Trust::CodeCompared;
    match outcome {
        // §12.5: the answerer learns that nobody is in the middle, not who chose the question;
        // a changed identity stays in doubt until the person asks, or reads the code.
        SmpOutcome::Matched
            if chat.asking == Some(Asker::Friend)
                && matches!(chat.trust, Trust::IdentityChanged { .. }) =>
        {
            LineKind::Warning(format!(
                "Your answer matched: nobody is in the middle. But whoever is at the other end \
                 chose the question, so this does not show that it is {peer}. Ask a question \
                 only {peer} can answer, or read the safety code together."
            ))
        }
        SmpOutcome::Matched => {
            chat.trust = Trust::AnswerMatched;
            LineKind::Success(match chat.asking {
                Some(Asker::Me) => {
                    format!(
                        "Verified: {peer} gave the answer you expected. Nobody is listening in."
                    )
                }
                Some(Asker::Friend) => format!(
                    "Verified: your answer is the one {peer} expected. Nobody is listening in. \
                     {peer} chose the question: to have Cryptully remember {peer} as verified, ask \
                     a question of your own."
                ),
                None => "Verified: the answers match. Nobody is listening in.".into(),
            })
        }
        SmpOutcome::Mismatched | SmpOutcome::Failed(_) if proven => LineKind::Info(format!(
            "This check did not succeed, but an earlier answer in this chat already proved that \
             nobody is in the middle, so it stays verified. {}",
            match outcome {
                SmpOutcome::Failed(_) => format!("{peer}'s app sent an invalid proof."),
                _ => "The answers were probably written differently (case counts).".into(),
            }
        )),
        SmpOutcome::Mismatched => {
            chat.trust = Trust::Failed;
            let who = match chat.asking {
                Some(Asker::Me) => format!("{peer}'s answer is not the one you expected"),
                Some(Asker::Friend) => format!("your answer is not the one {peer} expected"),
                None => "the answers differ".into(),
            };
            let unmarked = if was_marked {
                " This chat is no longer marked verified."
            } else {
                ""
            };
            LineKind::Warning(format!(
                "Not verified: {who}. Either it was written differently (case counts), or \
                 someone is in the middle. Ask again; or read the safety code to each other: \
                 if it matches, nobody is in the middle.{unmarked}"
            ))
        }
        // §8.6: a failed check is an attack, not a cancel.
        SmpOutcome::Failed(_) => {
            chat.trust = Trust::Failed;
            LineKind::Warning(format!(
                "Not verified: {peer}'s side sent an invalid proof. Honest software never does \
                 that: someone may be tampering with this chat."
            ))
        }
        SmpOutcome::AbortedByPeer => LineKind::Info(format!("{peer} cancelled the verification.")),
        SmpOutcome::Crossed => LineKind::Info(format!(
            "You and {peer} asked at the same time: {peer}'s question goes first."
        )),
        SmpOutcome::Aborted(SmpError::TimedOut { .. }) => LineKind::Info(
            "The verification stopped: no answer came in time. Ask again when you are both here."
                .into(),
        ),
        SmpOutcome::Aborted(_) => LineKind::Warning(
            "The verification stopped: its messages arrived out of order. Try again.".into(),
        ),
    }
}

impl Model {
    /// The chat with `peer`.
    pub fn chat(&self, peer: &Nick) -> Option<&Chat> {
        self.chats.iter().find(|c| &c.peer == peer)
    }

    fn chat_mut(&mut self, peer: &Nick) -> Option<&mut Chat> {
        self.chats.iter_mut().find(|c| &c.peer == peer)
    }

    /// Starts the chat with `peer` anew in `state`, keeping its earlier lines.
    fn fresh(&mut self, peer: &Nick, state: ChatState) {
        match self.chat_mut(peer) {
            Some(c) => {
                c.state = state;
                c.code = None;
                c.fingerprint = None;
                c.trust = Trust::Unverified;
                c.asking = None;
                c.question = None;
            }
            None => self.chats.push(Chat::new(peer.canonical(), state)),
        }
    }

    /// The chat on screen.
    pub fn current(&self) -> Option<&Chat> {
        self.selected.as_ref().and_then(|p| self.chat(p))
    }

    /// Shows `peer`'s chat and marks it read.
    pub fn select(&mut self, peer: &Nick) {
        if let Some(c) = self.chat_mut(peer) {
            c.unread = 0;
            self.selected = Some(c.peer.clone());
        }
    }

    /// The person opens a chat with `peer`; `false` when one is already going.
    pub fn open(&mut self, peer: &Nick, time: &str) -> bool {
        if self.chat(peer).is_some_and(|c| c.state != ChatState::Ended) {
            self.select(peer);
            return false;
        }
        self.fresh(peer, ChatState::Opening);
        if let Some(chat) = self.chat_mut(peer) {
            chat.line(
                LineKind::Info(format!("Asking {} to chat…", chat.peer)),
                time,
            );
        }
        self.select(peer);
        true
    }

    /// The person sends `text` to `peer`: the line appears at once, marked sending. Returns the
    /// id to give the connection.
    pub fn send(&mut self, peer: &Nick, text: &str, time: &str) -> Option<u64> {
        let id = self.next_id;
        // §12.5 [12.5-3]: nothing for someone who may not be the friend.
        let chat = self.chat_mut(peer).filter(|c| {
            c.state == ChatState::Secure && !matches!(c.trust, Trust::IdentityChanged { .. })
        })?;
        chat.line(
            LineKind::Mine {
                id,
                text: text.to_string(),
                delivery: Delivery::Sending,
            },
            time,
        );
        self.next_id += 1;
        Some(id)
    }

    /// What the person asked for while there is no connection to the relay: refused at once and
    /// in words, never left "waiting…" (issue 15, item 6).
    pub fn offline(&mut self, command: &Command, time: &str) {
        let why = "You are offline, so this could not be done. Cryptully is reconnecting; try again once it is back online.";
        match command {
            Command::Open { peer } => {
                if let Some(c) = self.chat_mut(peer) {
                    c.state = ChatState::Ended;
                    c.line(
                        LineKind::Warning(format!(
                            "You are offline, so the chat with {} could not start. Cryptully is reconnecting; try again once it is back online.",
                            c.peer
                        )),
                        time,
                    );
                }
            }
            Command::Send { peer, id, .. } => {
                let id = *id;
                self.delivery(peer, |m_id, _| m_id == id, Delivery::Undelivered);
                if let Some(c) = self.chat_mut(peer) {
                    c.line(LineKind::Warning("Not sent: you are offline.".into()), time);
                }
            }
            Command::Typing { .. } => {}
            Command::Accept { peer }
            | Command::Reject { peer, .. }
            | Command::StartSmp { peer, .. }
            | Command::AnswerSmp { peer, .. }
            | Command::AbortSmp { peer }
            | Command::Close { peer } => {
                if let Some(c) = self.chat_mut(peer) {
                    c.line(LineKind::Warning(why.into()), time);
                }
            }
            _ => self.notice = Some(Notice::warning(why)),
        }
    }

    /// What the friend's proven identity means (§12.5), said in the chat.
    fn contact(&mut self, peer: &Nick, recognition: Recognition, time: &str) {
        let Some(c) = self.chat_mut(peer) else {
            return;
        };
        let who = c.peer.clone();
        match recognition {
            // A verification of this very chat (code or answer) is reported back: it is said
            // already.
            Recognition::Verified { .. } if c.verified() => {}
            Recognition::Verified { since } => {
                c.trust = Trust::Remembered { since };
                c.line(
                    LineKind::Success(format!(
                        "Verified: {who} has the same identity as when you verified on {}. Nothing to do.",
                        date(since)
                    )),
                    time,
                );
            }
            Recognition::New => c.line(
                LineKind::Info(format!(
                    "First chat with {who}: compare the safety code once, and Cryptully remembers {who} for next time."
                )),
                time,
            ),
            // After "go on without verifying" the dialog's own line said it.
            Recognition::Known if c.trust != Trust::Unverified => {}
            Recognition::Known => {
                if !c.lines.iter().any(|l| matches!(&l.kind, LineKind::Info(t) if t.contains("not verified yet"))) {
                    c.line(
                        LineKind::Info(format!(
                            "{who} is not verified yet: compare the safety code, or ask a question."
                        )),
                        time,
                    );
                }
            }
            Recognition::Changed {
                was_verified: Some(since),
            } => {
                c.trust = Trust::IdentityChanged { since };
                c.line(
                    LineKind::Warning(format!(
                        "This may not be {who}: the identity is not the one you verified on {}. Someone may be pretending to be {who}, or {who} reset their app. Nothing is sent until you check again.",
                        date(since)
                    )),
                    time,
                );
            }
            Recognition::Changed { was_verified: None } => c.line(
                LineKind::Warning(format!(
                    "{who}'s identity changed since your last chat (it was never verified). Compare the safety code, or ask a question."
                )),
                time,
            ),
        }
    }

    /// The person goes on with a changed identity without verifying it (§12.5); whether the
    /// chat on screen was blocked, so that there was something to accept.
    pub fn accept_identity(&mut self, peer: &Nick, time: &str) -> bool {
        let Some(c) = self.chat_mut(peer).filter(|c| {
            c.state == ChatState::Secure && matches!(c.trust, Trust::IdentityChanged { .. })
        }) else {
            return false;
        };
        c.trust = Trust::Unverified;
        let line = format!(
            "You chose to go on with {}'s new identity without verifying it: not verified.",
            c.peer
        );
        c.line(LineKind::Info(line), time);
        true
    }

    /// The person confirmed that they and the friend read the same safety code (issue 15,
    /// item 5). From `Unverified`, or to verify a changed identity again (§12.5); after a failed
    /// check, the panel offers asking again. Whether it counted: only then is it remembered.
    pub fn mark_verified(&mut self, peer: &Nick, time: &str) -> bool {
        let Some(c) = self.chat_mut(peer).filter(|c| {
            c.state == ChatState::Secure
                && c.code.is_some()
                && matches!(c.trust, Trust::Unverified | Trust::IdentityChanged { .. })
        }) else {
            return false;
        };
        // Taking it back then would not bring back the identity verified before (§12.5).
        c.identity_was_changed |= matches!(c.trust, Trust::IdentityChanged { .. });
        c.trust = Trust::CodeCompared;
        let line = format!(
            "You marked this chat as verified: you and {} read the same safety code.",
            c.peer
        );
        c.line(LineKind::Success(line), time);
        true
    }

    /// The person takes back "the codes match"; whether there was something to take back.
    /// Not after verifying a changed identity: the identity verified before is gone.
    pub fn unmark_verified(&mut self, peer: &Nick, time: &str) -> bool {
        let Some(c) = self
            .chat_mut(peer)
            .filter(|c| c.trust == Trust::CodeCompared && !c.identity_was_changed)
        else {
            return false;
        };
        {
            c.trust = Trust::Unverified;
            c.line(
                LineKind::Info("You took back \"the codes match\": not verified.".into()),
                time,
            );
        }
        true
    }

    /// The app saw `peer` start typing at `now`.
    pub fn typing_seen(&mut self, peer: &Nick, now: std::time::Instant) {
        if let Some(c) = self.chat_mut(peer).filter(|c| c.peer_typing) {
            c.peer_typing_at = Some(now);
        }
    }

    /// Clears "is typing…" where nothing came from the friend for [`PEER_TYPING_TIMEOUT`].
    pub fn expire_typing(&mut self, now: std::time::Instant) {
        for c in &mut self.chats {
            if c.peer_typing
                && c.peer_typing_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= PEER_TYPING_TIMEOUT)
            {
                c.peer_typing = false;
                c.peer_typing_at = None;
            }
        }
    }

    /// Whether some chat shows "is typing…": the app then keeps a clock running.
    pub fn anyone_typing(&self) -> bool {
        self.chats.iter().any(|c| c.peer_typing)
    }

    /// The person asked `peer` a question (§8.5 step 1).
    pub fn asked(&mut self, peer: &Nick) {
        if let Some(c) = self.chat_mut(peer) {
            c.asking = Some(Asker::Me);
        }
    }

    /// The person asked `peer` `question`: as [`Model::asked`], and the question goes into the
    /// chat's history, as the friend's questions do.
    pub fn asked_question(&mut self, peer: &Nick, question: &str, time: &str) {
        self.asked(peer);
        if let Some(c) = self.chat_mut(peer) {
            let line = format!(
                "You asked {peer} a question to verify them: \u{201c}{}\u{201d}",
                shown(question, false)
            );
            c.line(LineKind::Info(line), time);
        }
    }

    /// The person answered or dismissed the friend's question.
    pub fn clear_question(&mut self, peer: &Nick) {
        if let Some(c) = self.chat_mut(peer) {
            c.question = None;
        }
    }

    /// Removes the chat from the list.
    pub fn forget(&mut self, peer: &Nick) {
        self.chats.retain(|c| &c.peer != peer);
        if self.selected.as_ref() == Some(peer) {
            self.selected = self.chats.first().map(|c| c.peer.clone());
        }
    }

    /// Total unread messages outside the chat on screen.
    pub fn unread(&self) -> usize {
        self.chats.iter().map(|c| c.unread).sum()
    }

    /// A network event at `time`.
    pub fn apply(&mut self, event: ConnEvent, time: &str) {
        match event {
            ConnEvent::Peer { peer, event } => self.peer_event(&peer, event, time),
            ConnEvent::Sent { peer, id, seq } => {
                self.delivery(&peer, |m_id, _| m_id == id, Delivery::Sent(seq))
            }
            ConnEvent::NotSent { peer, id, reason } => {
                tracing::info!(%peer, id, reason, "a message was not sent");
                let reason = plain(&reason);
                self.delivery(&peer, |m_id, _| m_id == id, Delivery::Undelivered);
                if let Some(c) = self.chat_mut(&peer) {
                    c.line(LineKind::Warning(format!("Not sent: {reason}")), time);
                }
            }
            ConnEvent::Error {
                peer: Some(peer),
                message,
            } => {
                tracing::info!(%peer, message, "an error in a chat");
                let message = plain(&message);
                match self.chat_mut(&peer) {
                    Some(c) => c.line(LineKind::Warning(message), time),
                    None => self.notice = Some(Notice::warning(format!("{peer}: {message}"))),
                }
            }
            ConnEvent::Error {
                peer: None,
                message,
            } => {
                tracing::info!(message, "an error");
                self.notice = Some(Notice::warning(plain(&message)));
            }
            // The network edge writes them to the contacts file (§12.5); the sidebar lists them.
            ConnEvent::ContactsChanged(contacts) => {
                self.contacts = contacts
                    .iter()
                    .map(|(nick, c)| (nick.clone(), c.verified_at))
                    .collect();
            }
            ConnEvent::Contact { peer, recognition } => self.contact(&peer, recognition, time),
            ConnEvent::Disconnected { reason } => {
                self.notice = Some(Notice::warning(format!("Disconnected: {}", plain(&reason))));
                for c in &mut self.chats {
                    c.state = ChatState::Ended;
                }
            }
        }
    }

    fn delivery(&mut self, peer: &Nick, matches: impl Fn(u64, &Delivery) -> bool, to: Delivery) {
        let Some(chat) = self.chat_mut(peer) else {
            return;
        };
        for line in &mut chat.lines {
            if let LineKind::Mine { id, delivery, .. } = &mut line.kind {
                if matches(*id, delivery) {
                    *delivery = to.clone();
                }
            }
        }
    }

    fn peer_event(&mut self, peer: &Nick, event: Event, time: &str) {
        let selected = self.selected.as_ref() == Some(peer);
        if let Event::Request { .. } = event {
            self.fresh(peer, ChatState::Incoming);
            if let Some(chat) = self.chat_mut(peer) {
                chat.line(
                    LineKind::Info(format!("{} wants to chat.", chat.peer)),
                    time,
                );
                if !selected {
                    chat.unread += 1;
                }
            }
            if self.selected.is_none() {
                self.select(peer);
            }
            return;
        }
        if let Event::Established {
            safety_code,
            identity_fingerprint,
            ..
        } = event
        {
            let code = safety_code.to_string();
            let Some(chat) = self.chat_mut(peer) else {
                return;
            };
            chat.state = ChatState::Secure;
            chat.code = Some(code.clone());
            // §5.8: the long fingerprint is of the two identities, the same in every chat.
            chat.fingerprint = Some(identity_fingerprint.to_string());
            // Not green: whether this is the friend is the next line's to say (§12.5).
            chat.line(
                LineKind::Info(format!(
                    "Secure connection established. Safety code {code}."
                )),
                time,
            );
            // A new chat has a new code by design: whether this is the same friend is the
            // identity's to say (the contact event that follows, §12.5), not the code's.
            return;
        }
        let Some(chat) = self.chat_mut(peer) else {
            return;
        };
        match event {
            Event::Message { text, .. } => {
                chat.peer_typing = false;
                // §12.5: words from an identity in doubt are marked once, before the first.
                if matches!(chat.trust, Trust::IdentityChanged { .. }) && !chat.doubt_told {
                    chat.doubt_told = true;
                    let line = format!(
                        "The messages below come from the new identity: they may not be from {}, whatever they say.",
                        chat.peer
                    );
                    chat.line(LineKind::Warning(line), time);
                }
                chat.line(
                    LineKind::Theirs {
                        text: shown(&text, true),
                    },
                    time,
                );
                if !selected {
                    chat.unread += 1;
                }
            }
            Event::Typing(state) => chat.peer_typing = state == TypingState::Typing,
            Event::Delivered { seq } => {
                self.delivery(peer, |_, d| *d == Delivery::Sent(seq), Delivery::Delivered)
            }
            Event::Undelivered { seqs } => {
                let n = seqs.len();
                self.delivery(
                    peer,
                    |_, d| matches!(d, Delivery::Sent(s) if seqs.contains(s)),
                    Delivery::Undelivered,
                );
                if let Some(chat) = self.chat_mut(peer) {
                    let what = if n == 1 {
                        "1 message was".to_string()
                    } else {
                        format!("{n} messages were")
                    };
                    chat.line(LineKind::Warning(format!("{what} not delivered.")), time);
                }
            }
            Event::SmpQuestion { question } => {
                let question = shown(&question, false);
                chat.line(
                    LineKind::Info(format!(
                        "{} asks you a question to verify you: {question}",
                        chat.peer
                    )),
                    time,
                );
                chat.question = Some(question);
                chat.asking = Some(Asker::Friend);
            }
            Event::SmpResult(outcome) => {
                let kind = smp_line(chat, &outcome);
                chat.question = None;
                chat.asking = match outcome {
                    // This side's question was dropped; the friend's follows (§8.6).
                    SmpOutcome::Crossed => Some(Asker::Friend),
                    _ => None,
                };
                chat.line(kind, time);
            }
            Event::Warning(w) => {
                // What the friend was typing may be the record that was refused.
                chat.peer_typing = false;
                let text = w.to_string();
                chat.line(
                    LineKind::Warning(format!(
                        "{}{}",
                        text.get(..1).unwrap_or_default().to_uppercase(),
                        text.get(1..).unwrap_or_default()
                    )),
                    time,
                );
            }
            Event::Rejected(reason) => {
                chat.state = ChatState::Ended;
                chat.line(LineKind::Info(format!("{} {reason}.", chat.peer)), time);
            }
            Event::Ended(reason) => {
                let was_opening = chat.state == ChatState::Opening;
                chat.state = ChatState::Ended;
                chat.peer_typing = false;
                chat.question = None;
                let text = match reason {
                    EndReason::Closed => "You closed the chat.".to_string(),
                    EndReason::PeerClosed => format!("{} closed the chat.", chat.peer),
                    EndReason::PeerGone => format!("{} left.", chat.peer),
                    EndReason::NotConnected if was_opening => format!(
                        "Nobody called {} is connected to this relay right now. Check the spelling, or ask them to open Cryptully and connect to the same relay.",
                        chat.peer
                    ),
                    EndReason::NotConnected => {
                        format!("{} is no longer connected to the relay.", chat.peer)
                    }
                    EndReason::ConnectionLost => {
                        "The connection to the relay was lost.".to_string()
                    }
                    // §4.4: not a refusal by the friend; keys that did not check out.
                    EndReason::HandshakeFailed => format!(
                        "The chat with {} could not be secured: the keys did not check out, so \
                         someone may be interfering. Nothing was sent. Try again later.",
                        chat.peer
                    ),
                    EndReason::TimedOut => {
                        "Nobody answered in time, so the request was dropped.".to_string()
                    }
                    EndReason::MessagesLost => format!(
                        "So many of {}'s messages were lost on the way that this chat cannot \
                         go on. Start a new chat.",
                        chat.peer
                    ),
                };
                chat.line(LineKind::Info(text), time);
            }
            Event::Request { .. } | Event::Established { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptully_protocol::session::Warning;

    fn nick(s: &str) -> Nick {
        Nick::new(s).unwrap()
    }

    fn peer(p: &str, event: Event) -> ConnEvent {
        ConnEvent::Peer {
            peer: nick(p),
            event,
        }
    }

    fn secure(m: &mut Model, p: &str) {
        assert!(m.open(&nick(p), "10:00"));
        m.apply(peer(p, established(1, [7; 32])), "10:01");
    }

    /// A chat's establishment: its code from `seed`, the friend proving `identity`.
    fn established(seed: u8, identity: [u8; 32]) -> Event {
        let code =
            cryptully_protocol::key_schedule::KeySchedule::derive(&[seed; 32], &[2; 32]).unwrap();
        Event::Established {
            safety_code: code.safety_code(),
            fingerprint: code.fingerprint(),
            peer_identity: identity,
            identity_fingerprint: cryptully_protocol::IdentityFingerprint::of(
                (&nick("alice"), &[6; 32]),
                (&nick("bob"), &identity),
            ),
        }
    }

    #[test]
    fn model_request_is_shown_and_counted_unread_when_elsewhere() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(
            peer(
                "carol",
                Event::Request {
                    peer: nick("carol"),
                },
            ),
            "10:02",
        );
        let carol = m.chat(&nick("carol")).unwrap();
        assert_eq!(carol.state, ChatState::Incoming);
        assert_eq!(carol.unread, 1);
        assert_eq!(m.current().unwrap().peer, nick("bob"));
        m.select(&nick("carol"));
        assert_eq!(m.unread(), 0);
    }

    #[test]
    fn model_7_4_a_message_goes_sending_sent_delivered() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        let id = m.send(&nick("bob"), "hi", "10:03").unwrap();
        let last = |m: &Model| {
            m.chat(&nick("bob"))
                .unwrap()
                .lines
                .last()
                .unwrap()
                .kind
                .clone()
        };
        assert!(matches!(
            last(&m),
            LineKind::Mine {
                delivery: Delivery::Sending,
                ..
            }
        ));
        m.apply(
            ConnEvent::Sent {
                peer: nick("bob"),
                id,
                seq: 4,
            },
            "10:03",
        );
        assert!(matches!(
            last(&m),
            LineKind::Mine {
                delivery: Delivery::Sent(4),
                ..
            }
        ));
        m.apply(peer("bob", Event::Delivered { seq: 4 }), "10:04");
        assert!(matches!(
            last(&m),
            LineKind::Mine {
                delivery: Delivery::Delivered,
                ..
            }
        ));
    }

    #[test]
    fn model_7_4_undelivered_messages_are_marked_and_announced() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        let a = m.send(&nick("bob"), "one", "10:03").unwrap();
        let b = m.send(&nick("bob"), "two", "10:03").unwrap();
        m.apply(
            ConnEvent::Sent {
                peer: nick("bob"),
                id: a,
                seq: 0,
            },
            "10:03",
        );
        m.apply(
            ConnEvent::Sent {
                peer: nick("bob"),
                id: b,
                seq: 1,
            },
            "10:03",
        );
        m.apply(peer("bob", Event::Delivered { seq: 0 }), "10:04");
        m.apply(peer("bob", Event::Undelivered { seqs: vec![1] }), "10:05");
        m.apply(peer("bob", Event::Ended(EndReason::PeerGone)), "10:05");
        let chat = m.chat(&nick("bob")).unwrap();
        let deliveries: Vec<_> = chat
            .lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Mine { delivery, .. } => Some(delivery.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(deliveries, vec![Delivery::Delivered, Delivery::Undelivered]);
        assert!(
            chat.lines
                .iter()
                .any(|l| l.kind == LineKind::Warning("1 message was not delivered.".into()))
        );
        assert_eq!(chat.state, ChatState::Ended);
        assert!(m.send(&nick("bob"), "too late", "10:06").is_none());
    }

    /// Issue 14: a new chat has a new code by design; only the identity tells a stranger
    /// from the friend (§12.5).
    #[test]
    fn model_12_5_a_new_code_alone_warns_nothing_a_changed_verified_identity_blocks() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(peer("bob", Event::Ended(EndReason::PeerGone)), "10:05");
        assert!(m.open(&nick("bob"), "10:06"));
        m.apply(peer("bob", established(9, [7; 32])), "10:07");
        let contact = |r| ConnEvent::Contact {
            peer: nick("bob"),
            recognition: r,
        };
        m.apply(
            contact(Recognition::Verified {
                since: 1_773_273_600,
            }),
            "10:07",
        );
        let chat = m.chat(&nick("bob")).unwrap();
        assert!(
            !chat
                .lines
                .iter()
                .any(|l| matches!(l.kind, LineKind::Warning(_)))
        );
        assert!(chat.verified(), "verified at once, with nothing to do");
        assert!(matches!(
            &chat.lines.last().unwrap().kind,
            LineKind::Success(t) if t.contains("same identity as when you verified on 2026-03-12")
        ));

        m.apply(peer("bob", Event::Ended(EndReason::PeerGone)), "10:08");
        assert!(m.open(&nick("bob"), "10:09"));
        m.apply(peer("bob", established(10, [8; 32])), "10:10");
        m.apply(
            contact(Recognition::Changed {
                was_verified: Some(1_773_273_600),
            }),
            "10:10",
        );
        let chat = m.chat(&nick("bob")).unwrap();
        assert!(!chat.verified());
        assert!(matches!(chat.trust, Trust::IdentityChanged { .. }));
        assert!(matches!(
            &chat.lines.last().unwrap().kind,
            LineKind::Warning(t) if t.starts_with("This may not be bob")
        ));
        // Going on without verifying is the person's explicit choice, and leaves it unverified.
        m.accept_identity(&nick("bob"), "10:11");
        assert_eq!(m.chat(&nick("bob")).unwrap().trust, Trust::Unverified);
    }

    #[test]
    fn model_8_smp_results_verify_or_warn() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(
            peer(
                "bob",
                Event::SmpQuestion {
                    question: "pet?".into(),
                },
            ),
            "10:08",
        );
        assert_eq!(
            m.chat(&nick("bob")).unwrap().question.as_deref(),
            Some("pet?")
        );
        m.apply(
            peer("bob", Event::SmpResult(SmpOutcome::Mismatched)),
            "10:09",
        );
        let chat = m.chat(&nick("bob")).unwrap();
        assert!(!chat.verified() && chat.question.is_none());
        assert!(matches!(
            &chat.lines.last().unwrap().kind,
            LineKind::Warning(_)
        ));
        m.apply(peer("bob", Event::SmpResult(SmpOutcome::Matched)), "10:10");
        assert!(m.chat(&nick("bob")).unwrap().verified());
    }

    fn result(m: &mut Model, outcome: SmpOutcome) -> (Trust, LineKind) {
        m.apply(peer("bob", Event::SmpResult(outcome)), "10:20");
        let c = m.chat(&nick("bob")).unwrap();
        (c.trust, c.lines.last().unwrap().kind.clone())
    }

    /// Issue 15, item 2: the status and the newest line never disagree. A failure after an
    /// answer matched keeps the chat verified and says why; a failure after the person marked
    /// the code takes the mark back and says so; no mark is possible right after a failure.
    #[test]
    fn model_8_the_trust_and_the_newest_line_agree() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.asked(&nick("bob"));
        let (trust, line) = result(&mut m, SmpOutcome::Matched);
        assert_eq!(trust, Trust::AnswerMatched);
        assert!(
            matches!(line, LineKind::Success(t) if t == "Verified: bob gave the answer you expected. Nobody is listening in.")
        );
        m.asked(&nick("bob"));
        let (trust, line) = result(&mut m, SmpOutcome::Mismatched);
        assert_eq!(trust, Trust::AnswerMatched);
        assert!(
            matches!(&line, LineKind::Info(t) if t.contains("already proved that nobody is in the middle") && !t.contains("someone is in the middle")),
            "{line:?}"
        );

        let mut m = Model::default();
        secure(&mut m, "bob");
        m.mark_verified(&nick("bob"), "10:02");
        assert_eq!(m.chat(&nick("bob")).unwrap().trust, Trust::CodeCompared);
        m.apply(
            peer(
                "bob",
                Event::SmpQuestion {
                    question: "pet?".into(),
                },
            ),
            "10:03",
        );
        let (trust, line) = result(&mut m, SmpOutcome::Mismatched);
        assert_eq!(trust, Trust::Failed);
        assert!(
            matches!(&line, LineKind::Warning(t) if t.starts_with("Not verified: your answer is not the one bob expected.") && t.ends_with("This chat is no longer marked verified.")),
            "{line:?}"
        );
        m.mark_verified(&nick("bob"), "10:04");
        assert_eq!(
            m.chat(&nick("bob")).unwrap().trust,
            Trust::Failed,
            "no mark right under a failure: ask again"
        );
        m.asked(&nick("bob"));
        let (trust, _) = result(&mut m, SmpOutcome::Matched);
        assert_eq!(trust, Trust::AnswerMatched, "a new match verifies");
    }

    /// Issue 15, item 5: "the codes match" can be taken back.
    #[test]
    fn model_5_5_a_compared_code_can_be_unmarked() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.mark_verified(&nick("bob"), "10:02");
        assert!(m.chat(&nick("bob")).unwrap().verified());
        m.unmark_verified(&nick("bob"), "10:03");
        let c = m.chat(&nick("bob")).unwrap();
        assert_eq!(c.trust, Trust::Unverified);
        assert!(
            matches!(&c.lines.last().unwrap().kind, LineKind::Info(t) if t.contains("not verified"))
        );
    }

    /// Issue 15, item 8: a chat with a nickname nobody has says so in words, and does not
    /// claim the friend "left".
    #[test]
    fn model_3_5_nobody_by_that_nickname_is_said_in_words() {
        let mut m = Model::default();
        assert!(m.open(&nick("karl"), "10:00"));
        m.apply(peer("karl", Event::Ended(EndReason::NotConnected)), "10:01");
        let c = m.chat(&nick("karl")).unwrap();
        assert!(matches!(
            &c.lines.last().unwrap().kind,
            LineKind::Info(t) if t.starts_with("Nobody called karl is connected to this relay right now.")
        ));
        assert!(!c.lines.iter().any(|l| matches!(&l.kind, LineKind::Info(t) | LineKind::Warning(t) if t.contains("left") || t.contains("NICK_NOT_FOUND"))));
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(peer("bob", Event::Ended(EndReason::NotConnected)), "10:05");
        assert!(matches!(
            &m.chat(&nick("bob")).unwrap().lines.last().unwrap().kind,
            LineKind::Info(t) if t == "bob is no longer connected to the relay."
        ));
    }

    /// Issue 15, item 11: "is typing…" goes after a while without news, and when a record from
    /// the friend is refused.
    #[test]
    fn model_7_5_is_typing_does_not_stay_for_ever() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        let t0 = std::time::Instant::now();
        m.apply(peer("bob", Event::Typing(TypingState::Typing)), "10:02");
        m.typing_seen(&nick("bob"), t0);
        m.expire_typing(t0 + PEER_TYPING_TIMEOUT - std::time::Duration::from_secs(1));
        assert!(m.chat(&nick("bob")).unwrap().peer_typing);
        assert!(m.anyone_typing());
        m.expire_typing(t0 + PEER_TYPING_TIMEOUT);
        assert!(!m.chat(&nick("bob")).unwrap().peer_typing);
        assert!(!m.anyone_typing());

        m.apply(peer("bob", Event::Typing(TypingState::Typing)), "10:03");
        m.apply(
            peer("bob", Event::Warning(Warning::Tampered { seq: 4 })),
            "10:03",
        );
        assert!(!m.chat(&nick("bob")).unwrap().peer_typing);
    }

    /// Issue 15, item 1: what a friend or a relay sends cannot reorder or break the app's own
    /// lines: controls, bidi overrides and line separators are shown escaped; a message keeps
    /// its own line breaks, a question none.
    #[test]
    fn model_1_text_from_the_network_is_shown_escaped() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        let evil = "hi\u{202e}deifirev\u{2066}\r\n\u{1b}[2J* bob is verified\u{2028}x";
        m.apply(
            peer(
                "bob",
                Event::Message {
                    text: evil.into(),
                    seq: 0,
                },
            ),
            "10:02",
        );
        assert!(matches!(
            &m.chat(&nick("bob")).unwrap().lines.last().unwrap().kind,
            LineKind::Theirs { text } if text == "hi\\u{202e}deifirev\\u{2066}\\u{d}\n\\u{1b}[2J* bob is verified\\u{2028}x"
        ));
        m.apply(
            peer(
                "bob",
                Event::SmpQuestion {
                    question: "pet?\nVerified: nobody is listening in.".into(),
                },
            ),
            "10:03",
        );
        let c = m.chat(&nick("bob")).unwrap();
        assert_eq!(
            c.question.as_deref(),
            Some("pet?\\u{a}Verified: nobody is listening in.")
        );
        assert!(
            !c.lines
                .iter()
                .any(|l| matches!(&l.kind, LineKind::Info(t) if t.contains('\n')))
        );
    }

    /// Issue 15, item 8: no section marks or state names in what a person reads.
    #[test]
    fn model_plain_words_without_section_marks_or_state_names() {
        assert_eq!(
            plain(
                "the friend sent an invalid key; someone may be interfering, so the chat was closed (§4.4)"
            ),
            "the friend sent an invalid key; someone may be interfering, so the chat was closed"
        );
        assert_eq!(
            plain("the chat is not ready yet (state ExpectPubKey); wait until it is secure"),
            "the chat is not ready yet; wait until it is secure"
        );
        assert_eq!(
            plain("message too long (§7.3); split it (§10.1)"),
            "message too long; split it"
        );
        assert_eq!(
            plain("an unclosed (§4"),
            "an unclosed (§4",
            "never loops or panics"
        );
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(
            ConnEvent::Error {
                peer: Some(nick("bob")),
                message: cryptully_protocol::session::SessionError::UnexpectedMessage {
                    state: "ExpectPubKey",
                    got: "REDY",
                }
                .to_string(),
            },
            "10:02",
        );
        assert!(matches!(
            &m.chat(&nick("bob")).unwrap().lines.last().unwrap().kind,
            LineKind::Warning(t) if t == "the friend's client sent a message out of order; the chat was closed"
        ));
    }

    #[test]
    fn model_6_4_warnings_are_lines_the_person_cannot_miss() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        m.apply(
            peer("bob", Event::Warning(Warning::Tampered { seq: 3 })),
            "10:11",
        );
        let last = &m.chat(&nick("bob")).unwrap().lines.last().unwrap().kind;
        assert!(
            matches!(last, LineKind::Warning(w) if w.starts_with("A message was changed")),
            "{last:?}"
        );
    }

    #[test]
    fn model_typing_and_unread() {
        let mut m = Model::default();
        secure(&mut m, "bob");
        secure(&mut m, "carol");
        m.apply(peer("bob", Event::Typing(TypingState::Typing)), "10:12");
        assert!(m.chat(&nick("bob")).unwrap().peer_typing);
        m.apply(
            peer(
                "bob",
                Event::Message {
                    seq: 0,
                    text: "hey".into(),
                },
            ),
            "10:12",
        );
        let bob = m.chat(&nick("bob")).unwrap();
        assert!(!bob.peer_typing);
        assert_eq!(bob.unread, 1, "carol's chat is on screen");
        assert_eq!(m.unread(), 1);
    }
}
