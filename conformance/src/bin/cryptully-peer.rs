//! `cryptully-peer`: the reference conformance shim (spec §13) and a line-based terminal chat.
//!
//! Without arguments it speaks the shim protocol: JSON commands on stdin, JSON events on stdout.
//! With `--nick NAME` it is a chat for people who prefer a terminal: type `/help`.

#![forbid(unsafe_code)]

use clap::Parser;
use cryptully_protocol::connection::{
    CONNECT_TIMEOUT, Command, ConnEvent, Handle, Profile, connect_as,
};
use cryptully_protocol::contacts::{Recognition, date};
use cryptully_protocol::session::{EndReason, Event, Warning};
use cryptully_protocol::{Nick, RejectReason, SmpOutcome, TypingState};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::ExitCode;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Cryptully in a terminal, or the conformance shim of spec §13.
#[derive(Parser, Debug)]
#[command(name = "cryptully-peer", version)]
struct Args {
    /// Chat in the terminal under this nickname (without it: the JSON-lines shim of §13).
    #[arg(long)]
    nick: Option<String>,
    /// The relay (with --nick): HOST:PORT, tls://HOST:PORT or tls://HOST:PORT#sha256=PIN (§15).
    #[arg(long, default_value = "127.0.0.1:9000")]
    relay: String,
    /// Where the terminal chat keeps its identity and contacts (§12.5); by default `terminal`
    /// in the desktop app's data directory (an identity of its own: two programs writing one
    /// contacts file would lose each other's verifications).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        eprintln!("cryptully-peer: cannot start");
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        match args.nick {
            Some(nick) => terminal(nick, args.relay, args.data_dir).await,
            None => shim().await,
        }
    })
}

/// Writes one event line. When the runner has closed our stdout there is nobody left to tell:
/// exit quietly rather than panic on the broken pipe.
fn emit(v: Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{v}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn nick_of(v: &Value) -> Option<Nick> {
    Nick::new(v.get("peer")?.as_str()?).ok()
}

/// Per chat: record sequence number → the runner's message id (§13.1 `send`).
#[derive(Default)]
struct Ids(HashMap<(Nick, u64), u64>);

/// The JSON-lines shim of §13.
async fn shim() -> ExitCode {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut conn: Option<(Handle, tokio::sync::mpsc::UnboundedReceiver<ConnEvent>)> = None;
    let mut ids = Ids::default();
    // §13.2: one identity and one memory of contacts for as long as the shim runs, across
    // chats and connections.
    let mut profile = Profile::throwaway(&mut rand_core::OsRng);
    loop {
        let event = async {
            match conn.as_mut() {
                Some((_, events)) => events.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { return ExitCode::SUCCESS };
                let Ok(cmd) = serde_json::from_str::<Value>(&line) else {
                    emit(json!({"event": "error", "message": format!("not JSON: {line}")}));
                    continue;
                };
                match shim_command(&cmd, &mut conn, &profile).await {
                    Ok(true) => {}
                    Ok(false) => return ExitCode::SUCCESS,
                    Err(message) => emit(json!({"event": "error", "message": message})),
                }
            }
            Some(e) = event => {
                let disconnected = matches!(e, ConnEvent::Disconnected { .. });
                if let ConnEvent::ContactsChanged(contacts) = &e {
                    profile.contacts = contacts.clone();
                }
                for v in shim_event(e, &mut ids) {
                    emit(v);
                }
                if disconnected {
                    conn = None;
                }
            }
        }
    }
}

/// Runs one command; `Ok(false)` after `quit`.
async fn shim_command(
    cmd: &Value,
    conn: &mut Option<(Handle, tokio::sync::mpsc::UnboundedReceiver<ConnEvent>)>,
    profile: &Profile,
) -> Result<bool, String> {
    let name = cmd.get("cmd").and_then(Value::as_str).unwrap_or_default();
    let text = |k: &str| {
        cmd.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if name == "connect" {
        let nick = Nick::new(&text("nick")).map_err(|e| e.to_string())?;
        let (handle, events) = connect_as(
            text("relay"),
            nick,
            profile.clone(),
            rand_core::OsRng,
            CONNECT_TIMEOUT,
        )
        .await
        .map_err(|e| e.to_string())?;
        emit(json!({"event": "registered", "nick": handle.nick().as_str()}));
        *conn = Some((handle, events));
        return Ok(true);
    }
    if name == "quit" {
        if let Some((h, _)) = conn {
            h.send(Command::Quit);
        }
        return Ok(false);
    }
    // §13.1: a command this shim does not know is `unimplemented`, with or without a peer.
    const KNOWN: [&str; 14] = [
        "open",
        "accept",
        "reject",
        "send",
        "typing",
        "smp_start",
        "smp_answer",
        "smp_abort",
        "close",
        "mark_verified",
        "accept_identity",
        "forget",
        "clock",
        "quit",
    ];
    if !KNOWN.contains(&name) {
        emit(json!({"event": "unimplemented", "cmd": name}));
        return Ok(true);
    }
    let Some((handle, _)) = conn.as_ref() else {
        return Err("not connected".into());
    };
    if name == "clock" {
        // §13.1: the chats' clock jumps ahead; their time-outs are checked right after.
        let by = cmd
            .get("seconds")
            .and_then(Value::as_f64)
            .and_then(|s| std::time::Duration::try_from_secs_f64(s).ok())
            .ok_or("`seconds` must be a number of seconds, 0 or more")?;
        handle.send(Command::AdvanceClock(by));
        return Ok(true);
    }
    let peer = nick_of(cmd).ok_or("missing or invalid `peer`")?;
    let command = match name {
        "open" => Command::Open { peer },
        "accept" => Command::Accept { peer },
        "reject" => Command::Reject {
            peer,
            // §13.1: "declined" (the default) or "busy".
            busy: match cmd.get("reason").and_then(Value::as_str) {
                None | Some("declined") => false,
                Some("busy") => true,
                Some(other) => return Err(format!("unknown reject reason {other:?}")),
            },
        },
        "send" => Command::Send {
            peer,
            id: cmd.get("id").and_then(Value::as_u64).unwrap_or(0),
            text: text("text"),
        },
        "typing" => {
            let state = match cmd.get("state").and_then(Value::as_u64) {
                Some(0) => TypingState::Typing,
                Some(1) => TypingState::StoppedEmpty,
                _ => TypingState::StoppedWithText,
            };
            Command::Typing { peer, state }
        }
        "smp_start" => Command::StartSmp {
            peer,
            question: text("question"),
            answer: text("answer").into(),
        },
        "smp_answer" => Command::AnswerSmp {
            peer,
            answer: text("answer").into(),
        },
        "smp_abort" => Command::AbortSmp { peer },
        "close" => Command::Close { peer },
        "mark_verified" => Command::MarkVerified { peer },
        "accept_identity" => Command::AcceptIdentity { peer },
        "forget" => Command::Forget { peer },
        other => {
            emit(json!({"event": "unimplemented", "cmd": other}));
            return Ok(true);
        }
    };
    handle.send(command);
    Ok(true)
}

/// §13.2: the `reason` of `rejected`, the §9.2 name in lower case.
fn reject_reason_name(r: RejectReason) -> &'static str {
    match r {
        RejectReason::Declined => "declined",
        RejectReason::Busy => "busy",
        RejectReason::UnsupportedVersion => "unsupported_version",
        RejectReason::HandshakeFailed => "handshake_failed",
        _ => "other",
    }
}

fn shim_event(e: ConnEvent, ids: &mut Ids) -> Vec<Value> {
    match e {
        ConnEvent::Sent { peer, id, seq } => {
            ids.0.insert((peer, seq), id);
            vec![]
        }
        ConnEvent::NotSent { peer, id, reason } => {
            vec![
                json!({"event": "undelivered", "peer": peer.as_str(), "ids": [id]}),
                json!({"event": "error", "peer": peer.as_str(), "message": reason}),
            ]
        }
        ConnEvent::Error { peer, message } => vec![
            json!({"event": "error", "peer": peer.map(|p| p.as_str().to_string()), "message": message}),
        ],
        ConnEvent::Disconnected { reason } => {
            vec![json!({"event": "error", "message": format!("disconnected: {reason}")})]
        }
        ConnEvent::ContactsChanged(_) => vec![],
        ConnEvent::Contact { peer, recognition } => {
            let p = peer.as_str();
            vec![match recognition {
                Recognition::New => json!({"event": "contact", "peer": p, "status": "new"}),
                Recognition::Known => json!({"event": "contact", "peer": p, "status": "known"}),
                Recognition::Verified { since } => {
                    json!({"event": "contact", "peer": p, "status": "verified", "since": since})
                }
                Recognition::Changed { was_verified } => {
                    json!({"event": "contact", "peer": p, "status": "changed", "was_verified": was_verified})
                }
            }]
        }
        ConnEvent::Peer { peer, event } => {
            let p = peer.as_str().to_string();
            let v = match event {
                Event::Request { .. } => json!({"event": "request", "peer": p}),
                Event::Established {
                    safety_code,
                    fingerprint,
                    peer_identity,
                    identity_fingerprint,
                } => {
                    json!({
                        "event": "established",
                        "peer": p,
                        "safety_code": safety_code.digits(),
                        "fingerprint": hex(fingerprint.as_bytes()),
                        "identity": hex(&peer_identity),
                        "identity_fingerprint": identity_fingerprint.digits(),
                    })
                }
                Event::Rejected(r) => {
                    json!({"event": "rejected", "peer": p, "reason": reject_reason_name(r)})
                }
                Event::Message { text, .. } => json!({"event": "message", "peer": p, "text": text}),
                Event::Typing(s) => {
                    json!({"event": "typing", "peer": p, "state": match s { TypingState::Typing => 0, TypingState::StoppedEmpty => 1, TypingState::StoppedWithText => 2 }})
                }
                Event::Delivered { seq } => {
                    json!({"event": "delivered", "peer": p, "id": ids.0.remove(&(peer, seq))})
                }
                Event::Undelivered { seqs } => {
                    let list: Vec<Option<u64>> = seqs
                        .iter()
                        .map(|s| ids.0.remove(&(peer.clone(), *s)))
                        .collect();
                    json!({"event": "undelivered", "peer": p, "ids": list})
                }
                Event::SmpQuestion { question } => {
                    json!({"event": "smp_question", "peer": p, "question": question})
                }
                Event::SmpResult(o) => {
                    let result = match o {
                        SmpOutcome::Matched => "matched",
                        SmpOutcome::Mismatched => "mismatched",
                        SmpOutcome::Failed(_) => "failed",
                        SmpOutcome::Crossed => "crossed",
                        SmpOutcome::AbortedByPeer | SmpOutcome::Aborted(_) => "aborted",
                    };
                    json!({"event": "smp_result", "peer": p, "result": result})
                }
                Event::Warning(Warning::Tampered { .. }) => {
                    json!({"event": "warning", "peer": p, "kind": "tampered"})
                }
                Event::Warning(Warning::Replayed { .. }) => {
                    json!({"event": "warning", "peer": p, "kind": "replayed"})
                }
                Event::Warning(Warning::Deleted { count }) => {
                    json!({"event": "warning", "peer": p, "kind": "deleted", "count": count})
                }
                Event::Ended(_) => json!({"event": "ended", "peer": p}),
            };
            vec![v]
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A line of network text in the terminal (§12.4): nothing a peer or a relay sends can start a
/// line of its own (the app's lines begin with `*` or `!`, a friend's with `<nick>`), move the
/// cursor, recolour or erase the screen, or reorder what follows.
fn shown(text: &str) -> String {
    cryptully_protocol::inner::shown(text, false)
}

/// The terminal's line for the end of a verification. After an answer matched in this chat,
/// a failed check says so in words instead of "someone is in the middle" (issue 15, item 2):
/// the match proved nobody is.
fn smp_result_line(peer: &Nick, outcome: &SmpOutcome, proven: bool, asked: bool) -> String {
    match outcome {
        SmpOutcome::Matched if asked => {
            format!("* {peer} is verified: {peer} gave the answer you expected.")
        }
        // §12.5: the answerer learns that nobody is in the middle, not who chose the question.
        SmpOutcome::Matched => format!(
            "* your answer is the one {peer} expected: nobody is in the middle. To verify who \
             {peer} is, /ask your own question or compare the safety code."
        ),
        SmpOutcome::Mismatched | SmpOutcome::Failed(_) if proven => format!(
            "* this check with {peer} did not succeed ({}), but an earlier answer in this chat \
             already proved that nobody is in the middle: it stays verified",
            if matches!(outcome, SmpOutcome::Failed(_)) {
                "their side sent an invalid proof"
            } else {
                "the answers differ; case counts"
            }
        ),
        SmpOutcome::Mismatched => format!(
            "! verification with {peer} failed: the answers differ (case counts), or someone is in the middle"
        ),
        SmpOutcome::Failed(_) => format!(
            "!! verification with {peer} FAILED: their side sent an invalid proof. Someone may be tampering with this chat."
        ),
        SmpOutcome::Crossed => {
            format!("* you and {peer} asked at the same time: {peer}'s question goes first")
        }
        SmpOutcome::AbortedByPeer => format!("* {peer} cancelled the verification"),
        SmpOutcome::Aborted(_) => {
            format!("! verification with {peer} stopped: messages arrived out of order")
        }
    }
}

const HELP: &str = "commands: /open NICK  /accept NICK  /reject NICK  /to NICK (choose who plain lines go to)
          /ask QUESTION? ANSWER  /answer ANSWER  /verified (the safety code matched)  /trust (go on with a changed identity)
          /contacts  /forget NICK  /identity  /status  /close  /quit   — anything else is sent as a message";

/// The terminal's line for what a chat's proven identity means (§12.5).
fn contact_line(peer: &Nick, recognition: Recognition) -> String {
    match recognition {
        Recognition::New => format!(
            "* first chat with {peer}: not verified yet. Read the safety code aloud together and \
             type /verified if it matches, or /ask a question only {peer} can answer. You only do this once."
        ),
        Recognition::Known => format!(
            "* {peer} is not verified yet: read the safety code aloud (/verified if it matches) or /ask"
        ),
        Recognition::Verified { since } => format!(
            "* {peer} is verified: same identity as when you verified on {}",
            date(since)
        ),
        Recognition::Changed {
            was_verified: Some(since),
        } => format!(
            "!! THIS MAY NOT BE {peer}. The identity of {peer} is not the one you verified on {}: \
             someone may be pretending to be {peer}, or {peer} reset their app. Nothing is sent until \
             you verify again (read the safety code aloud and /verified, or /ask), or choose /trust.",
            date(since)
        ),
        Recognition::Changed { was_verified: None } => format!(
            "! {peer}'s identity changed since your last chat (it was never verified): \
             read the safety code aloud (/verified if it matches) or /ask"
        ),
    }
}

/// The terminal chat.
async fn terminal(nick: String, relay: String, data_dir: Option<std::path::PathBuf>) -> ExitCode {
    use cryptully_protocol::storage;
    let Ok(nick) = Nick::new(&nick) else {
        eprintln!("invalid nickname: use 1 to 32 characters of A-Z, a-z, 0-9, _ and -");
        return ExitCode::FAILURE;
    };
    let Some(dir) = data_dir.or_else(|| {
        directories::ProjectDirs::from("", "", "cryptully").map(|d| d.data_dir().join("terminal"))
    }) else {
        eprintln!("no data directory for the identity: give one with --data-dir");
        return ExitCode::FAILURE;
    };
    let (identity_path, contacts_path) = (dir.join("identity"), dir.join("contacts"));
    let profile = match (
        storage::load_or_create_identity(&identity_path, &mut rand_core::OsRng),
        storage::load_contacts(&contacts_path),
    ) {
        (Ok(identity), Ok(contacts)) => Profile {
            identity: std::sync::Arc::new(identity),
            contacts,
        },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let me = *profile.identity.public();
    let mut known = profile.contacts.clone();
    // Chats just secured: their next contact line says what the identity means; a later one
    // reports a verification made in the chat.
    let mut starting: std::collections::HashSet<Nick> = std::collections::HashSet::new();
    let (handle, mut events) = match connect_as(
        relay.as_str(),
        nick,
        profile,
        rand_core::OsRng,
        CONNECT_TIMEOUT,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    println!("registered as {} at {relay}. {HELP}", handle.nick());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut current: Option<Nick> = None;
    let mut next_id = 0u64;
    // Counted for /status: how many of the messages sent have arrived, or never will.
    let (mut delivered, mut undelivered) = (0usize, 0usize);
    // Chats in which an answer matched: a later check that fails does not undo that proof.
    let mut proven: std::collections::HashSet<Nick> = std::collections::HashSet::new();
    // Chats in which this person asked the question under way: the result names the roles.
    let mut asking: std::collections::HashSet<Nick> = std::collections::HashSet::new();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { handle.send(Command::Quit); return ExitCode::SUCCESS };
                let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                let target = || Nick::new(rest.trim()).ok();
                match word {
                    "/open" | "/accept" | "/reject" | "/to" => {
                        let Some(peer) = target() else { println!("! which nickname?"); continue };
                        current = Some(peer.clone());
                        match word {
                            "/open" => { handle.send(Command::Open { peer }); }
                            "/accept" => { handle.send(Command::Accept { peer }); }
                            "/reject" => { handle.send(Command::Reject { peer, busy: false }); }
                            _ => println!("* talking to {peer}"),
                        }
                    }
                    "/ask" => match (current.clone(), rest.split_once('?')) {
                        (Some(peer), Some((q, a))) => {
                            println!("* you asked {peer}: \u{201c}{}?\u{201d} Waiting for the answer.", shown(q.trim()));
                            asking.insert(peer.clone());
                            handle.send(Command::StartSmp { peer, question: format!("{q}?"), answer: String::from(a.trim()).into() });
                        }
                        _ => println!("! usage: /ask QUESTION? ANSWER (after /to NICK)"),
                    },
                    "/answer" => if let Some(peer) = current.clone() {
                        println!("* checking your answer with {peer}...");
                        handle.send(Command::AnswerSmp { peer, answer: String::from(rest).into() });
                    },
                    "/close" => if let Some(peer) = current.take() { handle.send(Command::Close { peer }); },
                    "/verified" => match current.clone() {
                        Some(peer) => { handle.send(Command::MarkVerified { peer }); }
                        None => println!("! /to NICK first"),
                    },
                    "/trust" => match current.clone() {
                        Some(peer) => { handle.send(Command::AcceptIdentity { peer }); }
                        None => println!("! /to NICK first"),
                    },
                    "/forget" => match target() {
                        Some(peer) => {
                            if known.get(&peer).is_some() {
                                println!("* {peer} forgotten: the next chat with {peer} starts as a first one");
                            } else {
                                println!("* {peer} was not remembered");
                            }
                            handle.send(Command::Forget { peer });
                        }
                        None => println!("! which nickname?"),
                    },
                    "/contacts" => {
                        if known.iter().next().is_none() {
                            println!("* no contacts yet");
                        }
                        for (peer, c) in known.iter() {
                            match c.verified_at {
                                Some(t) => println!("* {peer}: verified on {}", date(t)),
                                None => println!("* {peer}: not verified"),
                            }
                        }
                    }
                    "/identity" => println!("* your identity key: {} (kept in {})", hex(&me), identity_path.display()),
                    "/quit" => { handle.send(Command::Quit); return ExitCode::SUCCESS; }
                    "/help" => println!("{HELP}"),
                    "/status" => println!("* {next_id} sent, {delivered} delivered, {undelivered} not delivered"),
                    _ if line.is_empty() => {}
                    _ => match current.clone() {
                        Some(peer) => { next_id += 1; handle.send(Command::Send { peer, id: next_id, text: line }); }
                        None => println!("! /open NICK first"),
                    },
                }
            }
            e = events.recv() => {
                let Some(e) = e else { return ExitCode::SUCCESS };
                match e {
                    ConnEvent::Peer { peer, event } => match event {
                        Event::Request { .. } => println!("* {peer} wants to chat: /accept {peer} or /reject {peer}"),
                        Event::Established { safety_code, identity_fingerprint, .. } => { proven.remove(&peer); starting.insert(peer.clone()); println!("* secure chat with {peer}. Safety code {safety_code}: read it to your friend; if it matches, nobody is listening in. (Identity fingerprint, the same in every chat with {peer}: {identity_fingerprint})") }
                        Event::Message { text, .. } => println!("<{peer}> {}", shown(&text)),
                        Event::Delivered { .. } => delivered += 1,
                        Event::Undelivered { seqs } => { undelivered += seqs.len(); println!("! {} message(s) to {peer} were not delivered", seqs.len()) }
                        Event::SmpQuestion { question } => println!("* {peer} asks: \u{201c}{}\u{201d}  (/to {peer} then /answer ...; case counts)", shown(&question)),
                        Event::SmpResult(outcome) => {
                            let was_proven = proven.contains(&peer);
                            if outcome == SmpOutcome::Matched {
                                proven.insert(peer.clone());
                            }
                            let asked = asking.remove(&peer);
                            println!("{}", smp_result_line(&peer, &outcome, was_proven, asked));
                        }
                        Event::Warning(w) => println!("!! {peer}: {w}"),
                        Event::Rejected(r) => println!("* {peer} {r}"),
                        Event::Typing(_) => {}
                        Event::Ended(EndReason::PeerGone) => println!("* {peer} left"),
                        Event::Ended(EndReason::NotConnected) => println!("* {peer} is not connected to this relay"),
                        Event::Ended(EndReason::HandshakeFailed) => println!("!! the chat with {peer} could not be secured: the keys did not check out; someone may be interfering"),
                        Event::Ended(EndReason::TimedOut) => println!("* nobody answered in time: the chat request with {peer} was dropped"),
                        Event::Ended(EndReason::MessagesLost) => println!("! so many of {peer}'s messages were lost on the way that the chat cannot go on: /open {peer} to start a new one"),
                        Event::Ended(_) => println!("* chat with {peer} ended"),
                    },
                    ConnEvent::Error { peer, message } => println!("! {}{message}", peer.map(|p| format!("{p}: ")).unwrap_or_default()),
                    ConnEvent::NotSent { reason, .. } => println!("! not sent: {reason}"),
                    ConnEvent::Sent { .. } => {}
                    ConnEvent::Contact { peer, recognition } => {
                        if starting.remove(&peer) {
                            println!("{}", contact_line(&peer, recognition));
                        } else if let Recognition::Verified { .. } = recognition {
                            println!("* {peer} is verified, and remembered: your next chats with {peer} start verified");
                        }
                    }
                    ConnEvent::ContactsChanged(contacts) => {
                        if let Err(e) = storage::save_contacts(&contacts_path, &contacts) {
                            println!("! {e}");
                        }
                        known = contacts;
                    }
                    ConnEvent::Disconnected { reason } => { println!("! disconnected: {reason}"); return ExitCode::FAILURE; }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{shown, smp_result_line};
    use cryptully_protocol::{Nick, SmpOutcome};

    #[test]
    fn terminal_a_failed_check_after_a_match_says_the_chat_was_already_proven() {
        let bob = Nick::new("bob").unwrap();
        let line = smp_result_line(&bob, &SmpOutcome::Matched, false, true);
        assert_eq!(line, "* bob is verified: bob gave the answer you expected.");
        let line = smp_result_line(&bob, &SmpOutcome::Matched, false, false);
        // §12.5: answering proves nobody is in the middle, not who asked.
        assert!(
            line.contains("nobody is in the middle") && !line.contains("is verified"),
            "{line}"
        );
        let line = smp_result_line(&bob, &SmpOutcome::Mismatched, true, false);
        assert!(
            line.starts_with("* ") && line.contains("already proved that nobody is in the middle"),
            "{line}"
        );
        assert!(!line.contains("someone is in the middle"), "{line}");
        let line = smp_result_line(&bob, &SmpOutcome::Mismatched, false, false);
        assert!(
            line.starts_with("! ") && line.contains("someone is in the middle"),
            "{line}"
        );
    }

    #[test]
    fn network_text_cannot_start_a_line_move_the_cursor_or_reorder_text() {
        let attack =
            "hi\n* bob is verified: you gave the same answer.\r\u{1b}[2K\u{202e}olleh\u{2066}";
        let out = shown(attack);
        assert!(!out.chars().any(|c| c.is_control()), "{out}");
        assert!(
            !out.contains('\u{202e}') && !out.contains('\u{2066}'),
            "{out}"
        );
        assert_eq!(
            out,
            "hi\\u{a}* bob is verified: you gave the same answer.\\u{d}\\u{1b}[2K\\u{202e}olleh\\u{2066}"
        );
        // Ordinary text, including other scripts and emoji, is untouched.
        assert_eq!(shown("Zürich, 東京, مرحبا 🙂"), "Zürich, 東京, مرحبا 🙂");
    }
}
