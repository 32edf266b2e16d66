//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz), also replayed by `cargo test` over
//! every committed corpus and regression input. Each states what must hold for every input: a
//! panic here is a finding. Not part of the API.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::framing::{MAX_FRAME, split_frame};
use crate::handshake::PeerMessage;
use crate::inner::{InnerMessage, TypingState};
use crate::key_schedule::{EphemeralKeyPair, IdentityKeyPair};
use crate::nick::Nick;
use crate::records::{ChainKey, ReceiveChain, SendChain};
use crate::relay::{ClientMessage, RelayMessage};
use crate::session::{Event, Session};
use crate::smp;
use arbitrary::{Arbitrary, Unstructured};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

/// §2.1: frames split from any byte stream are within bounds and consume the stream in order.
pub fn frames(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((body, after))) = split_frame(rest, MAX_FRAME) {
        assert!(!body.is_empty() && body.len() <= MAX_FRAME);
        assert_eq!(body.len() + 4 + after.len(), rest.len());
        rest = after;
    }
}

/// §3: relay messages in both directions; what decodes re-encodes to the same bytes.
pub fn relay_messages(data: &[u8]) {
    if let Ok(m) = ClientMessage::decode(data) {
        assert_eq!(m.to_bytes(), data, "{m:?}");
    }
    if let Ok(m) = RelayMessage::decode(data) {
        assert_eq!(m.to_bytes(), data, "{m:?}");
    }
}

/// §4.1: peer messages; canonical.
pub fn peer_messages(data: &[u8]) {
    if let Ok(m) = PeerMessage::decode(data) {
        assert_eq!(m.to_bytes(), data, "{m:?}");
    }
}

/// §7: inner messages, bare and padded; canonical.
pub fn inner_messages(data: &[u8]) {
    if let Ok(m) = InnerMessage::decode(data) {
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out, data, "{m:?}");
    }
    if let Ok(m) = InnerMessage::decode_padded(data) {
        assert_eq!(&m.encode_padded()[..], data, "{m:?}");
    }
}

/// §2.2: every decoder at once: decode then encode gives the input back.
pub fn round_trip(data: &[u8]) {
    relay_messages(data);
    peer_messages(data);
    inner_messages(data);
    frames(data);
}

/// §6.4 against a fixed chain. The first byte chooses: 0, the rest is a RECORD payload to open
/// (under `cfg(fuzzing)` a bad tag is let through, so decryption and the inner parser are
/// reached); otherwise the rest is a plaintext that is sealed, opened and decoded.
pub fn record_open(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = [7u8; 32];
    let mut rx = ReceiveChain::new(ChainKey::new(key));
    if mode == 0 {
        if let Ok(PeerMessage::Record(record)) = PeerMessage::decode(rest) {
            let before = rx.next_seq();
            match rx.open(&record) {
                Ok(opened) => {
                    assert_eq!(rx.next_seq(), record.seq + 1);
                    assert_eq!(opened.deleted, record.seq - before);
                    let _ = InnerMessage::decode_padded(&opened.plaintext);
                }
                Err(_) => assert_eq!(rx.next_seq(), before, "a refused record moves nothing"),
            }
        }
    } else {
        let mut tx = SendChain::new(ChainKey::new(key));
        for _ in 0..(mode % 4) {
            let _ = tx.seal(&[0; 64]);
        }
        let record = tx.seal(rest).expect("sealing never fails");
        let opened = rx.open(&record).expect("a sealed record opens");
        assert_eq!(&opened.plaintext[..], rest);
        assert_eq!(opened.deleted, u64::from(mode % 4));
        if let Ok(m) = InnerMessage::decode_padded(rest) {
            assert_eq!(&m.encode_padded()[..], rest);
        }
    }
}

struct SmpStates {
    asker1: smp::AskerAfterSmp1,
    answerer2: smp::AnswererAfterSmp2,
    asker3: smp::AskerAfterSmp3,
}

fn smp_states() -> &'static SmpStates {
    static STATES: OnceLock<SmpStates> = OnceLock::new();
    STATES.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        let secret = |a: &str| smp::secret(&[1; 32], &[2; 32], &[3; 32], a);
        let (asker1, m1) = smp::step1(secret("fuzz"), smp::Step1Random::draw(&mut rng));
        let checked = smp::check_smp1(&m1).expect("genuine SMP1");
        let (answerer2, m2) =
            smp::step2(&checked, secret("fuzz"), smp::Step2Random::draw(&mut rng));
        let (asker3, m3) = smp::step3(asker1.clone(), &m2, smp::Step3Random::draw(&mut rng))
            .expect("genuine SMP2");
        // A whole honest run must match, also in the small group of fuzz builds (prime.rs):
        // otherwise the fuzzers would explore arithmetic that is not the real protocol's.
        let (matched, m4) = smp::step4(answerer2.clone(), &m3, smp::Step4Random::draw(&mut rng))
            .expect("genuine SMP3");
        assert!(matched, "an honest SMP run matches for the answerer");
        assert!(
            smp::step5(asker3.clone(), &m4).expect("genuine SMP4"),
            "an honest SMP run matches for the asker"
        );
        SmpStates {
            asker1,
            answerer2,
            asker3,
        }
    })
}

/// §8.5: each SMP step fed an arbitrary payload. The first byte picks the step; the rest is the
/// OTR payload (count and MPIs) of SMP1..SMP4, or (5) an inner message for the state machine.
pub fn smp_steps(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else {
        return;
    };
    let states = smp_states();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let ty = 0x11 + step % 5;
    let inner = InnerMessage::decode(&[&[ty][..], rest].concat());
    match (step % 6, inner) {
        (0, Ok(InnerMessage::Smp1(m))) => {
            let _ = smp::check_smp1(&m);
        }
        (1, Ok(InnerMessage::Smp2(m))) => {
            let _ = smp::step3(states.asker1.clone(), &m, smp::Step3Random::draw(&mut rng));
        }
        (2, Ok(InnerMessage::Smp3(m))) => {
            let _ = smp::step4(
                states.answerer2.clone(),
                &m,
                smp::Step4Random::draw(&mut rng),
            );
        }
        (3, Ok(InnerMessage::Smp4(m))) => {
            let _ = smp::step5(states.asker3.clone(), &m);
        }
        (5, _) => {
            // The state machine in every state, fed any inner message.
            if let Ok(m) = InnerMessage::decode(rest) {
                let mut machine = smp::Smp::default();
                let _ = machine.receive(
                    &InnerMessage::Smp0 {
                        question: "q".into(),
                    },
                    smp::TieBreak::Lose,
                    &mut rng,
                );
                let out = machine.receive(&m, smp::TieBreak::Lose, &mut rng);
                if out.outcome.is_some() {
                    assert!(
                        !machine.is_running(),
                        "a finished run leaves the machine idle"
                    );
                }
            }
        }
        _ => {}
    }
}

/// What the adversary in the middle and the two people do (§4.5).
#[derive(Arbitrary, Debug)]
pub enum Action {
    /// Deliver the next message in flight towards bob (or alice).
    Deliver {
        to_bob: bool,
    },
    /// Lose it.
    Drop {
        to_bob: bool,
    },
    /// Deliver it twice.
    Duplicate {
        to_bob: bool,
    },
    /// Change one byte of it, then deliver it.
    Corrupt {
        to_bob: bool,
        index: u16,
        xor: u8,
    },
    /// Deliver bytes of the adversary's own.
    Inject {
        to_bob: bool,
        bytes: Vec<u8>,
    },
    Accept,
    Reject,
    Send {
        from_bob: bool,
        text: String,
    },
    Typing {
        from_bob: bool,
        state: u8,
    },
    StartSmp {
        from_bob: bool,
        question: String,
        answer: String,
    },
    AnswerSmp {
        from_bob: bool,
        answer: String,
    },
    AbortSmp {
        from_bob: bool,
    },
    End {
        from_bob: bool,
    },
    PeerGone {
        bob: bool,
    },
}

/// §4.5: two sessions and an adversary between them, driven by arbitrary actions. Nothing
/// panics; a session that is over shows nothing more; an honest pair that both reach
/// `Established` without tampering shows the same safety code.
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut rng = ChaCha20Rng::seed_from_u64(u.arbitrary().unwrap_or(0));
    let (alice_nick, bob_nick) = (Nick::new("alice").unwrap(), Nick::new("bob").unwrap());
    // One key pair each, made once: X25519 key generation was a tenth of this target's time,
    // and the handshake's logic is the same with any key.
    type Keys = (
        EphemeralKeyPair,
        EphemeralKeyPair,
        Arc<IdentityKeyPair>,
        Arc<IdentityKeyPair>,
    );
    static KEYS: OnceLock<Keys> = OnceLock::new();
    let (alice_key, bob_key, alice_id, bob_id) = KEYS.get_or_init(|| {
        (
            EphemeralKeyPair::from_private_bytes([0x41; 32]),
            EphemeralKeyPair::from_private_bytes([0x42; 32]),
            Arc::new(IdentityKeyPair::from_private_bytes([0x61; 32])),
            Arc::new(IdentityKeyPair::from_private_bytes([0x62; 32])),
        )
    });
    let (mut alice, helo) = Session::initiate_with(
        alice_nick.clone(),
        bob_nick.clone(),
        alice_id.clone(),
        alice_key.clone(),
    );
    let (mut bob, _) = Session::respond(bob_nick, alice_nick, bob_id.clone(), &helo);
    let mut to_bob: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_alice: VecDeque<Vec<u8>> = VecDeque::new();
    let mut tampered = false;
    let mut codes = (None, None);
    for _ in 0..64 {
        let Ok(action) = Action::arbitrary(&mut u) else {
            break;
        };
        let (target_is_bob, bytes) = match action {
            Action::Deliver { to_bob: b }
            | Action::Drop { to_bob: b }
            | Action::Duplicate { to_bob: b }
            | Action::Corrupt { to_bob: b, .. } => {
                let queue = if b { &mut to_bob } else { &mut to_alice };
                let Some(mut msg) = queue.pop_front() else {
                    continue;
                };
                match action {
                    Action::Drop { .. } => continue,
                    Action::Duplicate { .. } => queue.push_front(msg.clone()),
                    Action::Corrupt { index, xor, .. } if !msg.is_empty() && xor != 0 => {
                        let i = usize::from(index) % msg.len();
                        msg[i] ^= xor;
                        tampered = true;
                    }
                    _ => {}
                }
                (b, msg)
            }
            Action::Inject { to_bob: b, bytes } => {
                tampered = true;
                (b, bytes)
            }
            person => {
                let from_bob = match &person {
                    Action::Accept | Action::Reject => true,
                    Action::Send { from_bob, .. }
                    | Action::Typing { from_bob, .. }
                    | Action::StartSmp { from_bob, .. }
                    | Action::AnswerSmp { from_bob, .. }
                    | Action::AbortSmp { from_bob }
                    | Action::End { from_bob } => *from_bob,
                    Action::PeerGone { bob } => *bob,
                    _ => continue,
                };
                let s = if from_bob { &mut bob } else { &mut alice };
                let was_over = s.is_over();
                let step = match person {
                    Action::Accept => s.accept_with(bob_key.clone()).ok(),
                    Action::Reject => s.reject().ok(),
                    Action::Send { text, .. } => {
                        s.send_message(&text)
                            .ok()
                            .map(|(_, m)| crate::session::Step {
                                send: vec![m],
                                events: vec![],
                            })
                    }
                    Action::Typing { state, .. } => {
                        let state = [
                            TypingState::Typing,
                            TypingState::StoppedEmpty,
                            TypingState::StoppedWithText,
                        ][usize::from(state % 3)];
                        s.send_typing(state).ok().map(|m| crate::session::Step {
                            send: vec![m],
                            events: vec![],
                        })
                    }
                    Action::StartSmp {
                        question, answer, ..
                    } => s.start_smp(&question, &answer, &mut rng).ok(),
                    Action::AnswerSmp { answer, .. } => s.answer_smp(&answer, &mut rng).ok(),
                    Action::AbortSmp { .. } => s.abort_smp().ok(),
                    Action::End { .. } => s.end().ok(),
                    Action::PeerGone { .. } => {
                        Some(s.terminate(crate::session::EndReason::PeerGone))
                    }
                    _ => None,
                };
                if let Some(step) = step {
                    if was_over {
                        assert!(step.send.is_empty(), "a session that is over sends nothing");
                    }
                    let queue = if from_bob { &mut to_alice } else { &mut to_bob };
                    queue.extend(step.send.iter().map(PeerMessage::to_bytes));
                }
                continue;
            }
        };
        let Ok(msg) = PeerMessage::decode(&bytes) else {
            continue;
        };
        let s = if target_is_bob { &mut bob } else { &mut alice };
        let was_over = s.is_over();
        if let Ok(step) = s.handle(msg, &mut rng) {
            assert!(
                !was_over || step.events.is_empty(),
                "a session that is over shows nothing"
            );
            for e in &step.events {
                if let Event::Established {
                    safety_code,
                    peer_identity,
                    ..
                } = e
                {
                    // §4.7: only the friend's own identity can be proven, tampering or not.
                    let friend = if target_is_bob { alice_id } else { bob_id };
                    assert_eq!(
                        peer_identity,
                        friend.public(),
                        "a proven identity is the friend's"
                    );
                    if target_is_bob {
                        codes.1 = Some(*safety_code)
                    } else {
                        codes.0 = Some(*safety_code)
                    }
                }
            }
            let queue = if target_is_bob {
                &mut to_alice
            } else {
                &mut to_bob
            };
            queue.extend(step.send.iter().map(PeerMessage::to_bytes));
        }
    }
    if let (Some(a), Some(b), false) = (codes.0, codes.1, tampered) {
        assert_eq!(
            a, b,
            "an untampered handshake gives both sides the same code"
        );
    }
}
