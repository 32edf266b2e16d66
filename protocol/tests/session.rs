//! §4.5 Two sessions driven in memory through every phase, and a relay in the middle (§1.3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::{InnerMessage, TypingState};
use cryptully_protocol::session::{EndReason, Event, Session, SessionError, Step, Warning};
use cryptully_protocol::{Nick, RejectReason, SmpOutcome};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

/// Two sessions and an in-memory wire between them (quinn's `Pair`, without a clock).
struct Pair {
    a: Session,
    b: Session,
    rng: ChaCha20Rng,
}

impl Pair {
    /// A full handshake: alice initiates, bob accepts.
    fn established(seed: u64) -> (Self, Vec<Event>, Vec<Event>) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (a, helo) = Session::initiate(nick("alice"), nick("Bob"), id(), &mut rng);
        let (mut b, step) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
        assert_eq!(
            step.events,
            vec![Event::Request {
                peer: nick("alice")
            }]
        );
        let accept = b.accept(&mut rng).unwrap();
        let mut pair = Pair { a, b, rng };
        let (ea, eb) = pair.deliver_b_to_a(accept);
        (pair, ea, eb)
    }

    /// Delivers `step.send` from a to b, then whatever that makes each side send, until quiet.
    /// Returns the events each side saw.
    fn deliver_a_to_b(&mut self, step: Step) -> (Vec<Event>, Vec<Event>) {
        self.pump(step.send, true)
    }

    fn deliver_b_to_a(&mut self, step: Step) -> (Vec<Event>, Vec<Event>) {
        self.pump(step.send, false)
    }

    fn pump(&mut self, first: Vec<PeerMessage>, from_a: bool) -> (Vec<Event>, Vec<Event>) {
        pump(&mut self.a, &mut self.b, first, from_a, &mut self.rng)
    }
}

/// Delivers `first` (from `a` when `from_a`, else from `b`) and whatever that makes each side
/// send, until quiet. Returns the events each side saw.
fn pump(
    a: &mut Session,
    b: &mut Session,
    first: Vec<PeerMessage>,
    from_a: bool,
    rng: &mut ChaCha20Rng,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let mut queue: Vec<(bool, PeerMessage)> = first.into_iter().map(|m| (from_a, m)).collect();
    while !queue.is_empty() {
        let (from_a, msg) = queue.remove(0);
        // Every message crosses the wire as bytes, as through a relay.
        let msg = PeerMessage::decode(&msg.to_bytes()).unwrap();
        let (to, events) = if from_a {
            (&mut *b, &mut eb)
        } else {
            (&mut *a, &mut ea)
        };
        let step = to.handle(msg, rng).unwrap();
        events.extend(step.events);
        queue.extend(step.send.into_iter().map(|m| (!from_a, m)));
    }
    (ea, eb)
}

fn established_code(events: &[Event]) -> String {
    match events
        .iter()
        .find(|e| matches!(e, Event::Established { .. }))
    {
        Some(Event::Established { safety_code, .. }) => safety_code.to_string(),
        _ => panic!("not established: {events:?}"),
    }
}

#[test]
fn session_4_5_handshake_gives_both_sides_the_same_safety_code() {
    let (pair, ea, eb) = Pair::established(1);
    assert_eq!(established_code(&ea), established_code(&eb));
    assert_eq!(pair.a.fingerprint(), pair.b.fingerprint());
    assert!(pair.a.is_established() && pair.b.is_established());
}

#[test]
fn session_7_messages_both_ways_with_delivery_receipts() {
    let (mut pair, _, _) = Pair::established(2);
    let (seq, record) = pair.a.send_message("hello bob").unwrap();
    let (ea, eb) = pair.deliver_a_to_b(Step {
        send: vec![record],
        events: vec![],
    });
    assert_eq!(
        eb,
        vec![Event::Message {
            seq,
            text: "hello bob".into()
        }]
    );
    assert_eq!(ea, vec![Event::Delivered { seq }]);
    assert!(pair.a.unacknowledged().is_empty());

    let (seq_b, record) = pair.b.send_message("hi alice ✓").unwrap();
    let (ea, eb) = pair.deliver_b_to_a(Step {
        send: vec![record],
        events: vec![],
    });
    assert_eq!(
        ea,
        vec![Event::Message {
            seq: seq_b,
            text: "hi alice ✓".into()
        }]
    );
    assert_eq!(eb, vec![Event::Delivered { seq: seq_b }]);
}

#[test]
fn session_7_5_typing_states_arrive() {
    let (mut pair, _, _) = Pair::established(3);
    for state in [
        TypingState::Typing,
        TypingState::StoppedWithText,
        TypingState::StoppedEmpty,
    ] {
        let rec = pair.a.send_typing(state).unwrap();
        let (_, eb) = pair.deliver_a_to_b(Step {
            send: vec![rec],
            events: vec![],
        });
        assert_eq!(eb, vec![Event::Typing(state)]);
    }
}

fn run_smp(pair: &mut Pair, asker_answer: &str, answerer_answer: &str) -> (Vec<Event>, Vec<Event>) {
    let start = pair
        .a
        .start_smp("Where did we meet?", asker_answer, &mut pair.rng.clone())
        .unwrap();
    assert_eq!(start.send.len(), 2, "SMP0 and SMP1");
    let (_, eb) = pair.deliver_a_to_b(start);
    assert_eq!(
        eb,
        vec![Event::SmpQuestion {
            question: "Where did we meet?".into()
        }]
    );
    assert_eq!(pair.b.pending_question(), Some("Where did we meet?"));
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let answer = pair.b.answer_smp(answerer_answer, &mut rng).unwrap();
    pair.deliver_b_to_a(answer)
}

#[test]
fn session_8_smp_with_the_same_answer_matches_on_both_sides() {
    let (mut pair, _, _) = Pair::established(4);
    let (ea, eb) = run_smp(&mut pair, "the lake", " the lake ");
    assert_eq!(ea, vec![Event::SmpResult(SmpOutcome::Matched)]);
    assert_eq!(eb, vec![Event::SmpResult(SmpOutcome::Matched)]);
}

#[test]
fn session_8_smp_with_a_different_answer_fails_on_both_sides() {
    let (mut pair, _, _) = Pair::established(5);
    let (ea, eb) = run_smp(&mut pair, "the lake", "the beach");
    assert_eq!(ea, vec![Event::SmpResult(SmpOutcome::Mismatched)]);
    assert_eq!(eb, vec![Event::SmpResult(SmpOutcome::Mismatched)]);
    // The session goes on after a failed verification.
    let (seq, rec) = pair.a.send_message("still here").unwrap();
    let (_, eb) = pair.deliver_a_to_b(Step {
        send: vec![rec],
        events: vec![],
    });
    assert_eq!(
        eb,
        vec![Event::Message {
            seq,
            text: "still here".into()
        }]
    );
}

#[test]
fn session_8_6_abort_is_reported_to_the_peer() {
    let (mut pair, _, _) = Pair::established(6);
    let start = pair.a.start_smp("q?", "a", &mut pair.rng.clone()).unwrap();
    let _ = pair.deliver_a_to_b(start);
    let abort = pair.b.abort_smp().unwrap();
    let (ea, _) = pair.deliver_b_to_a(abort);
    assert_eq!(ea, vec![Event::SmpResult(SmpOutcome::AbortedByPeer)]);
    assert!(matches!(
        pair.b.answer_smp("a", &mut pair.rng.clone()),
        Err(SessionError::Smp(_))
    ));
}

#[test]
fn session_7_7_end_closes_both_sides_and_reports_undelivered() {
    let (mut pair, _, _) = Pair::established(7);
    // bob's message is lost on the way: alice never acknowledges it.
    let (lost, _record) = pair.b.send_message("lost").unwrap();
    let end = pair.a.end().unwrap();
    assert_eq!(end.events, vec![Event::Ended(EndReason::Closed)]);
    let (_, eb) = pair.deliver_a_to_b(end);
    assert_eq!(
        eb,
        vec![
            Event::Undelivered { seqs: vec![lost] },
            Event::Ended(EndReason::PeerClosed)
        ]
    );
    assert!(pair.a.is_over() && pair.b.is_over());
    assert!(matches!(
        pair.a.send_message("x"),
        Err(SessionError::NotEstablished { .. })
    ));
}

#[test]
fn session_3_9_peer_gone_reports_unacknowledged_messages() {
    let (mut pair, _, _) = Pair::established(8);
    let (s1, _) = pair.a.send_message("one").unwrap();
    let (s2, _) = pair.a.send_message("two").unwrap();
    let step = pair.a.terminate(EndReason::PeerGone);
    assert_eq!(
        step.events,
        vec![
            Event::Undelivered { seqs: vec![s1, s2] },
            Event::Ended(EndReason::PeerGone)
        ]
    );
}

#[test]
fn session_4_3_reject_is_reported_to_the_initiator() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (mut a, helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
    let rej = b.reject().unwrap().send.pop().unwrap();
    assert_eq!(
        rej,
        PeerMessage::Rej {
            reason: RejectReason::Declined
        }
    );
    let step = a.handle(rej, &mut rng).unwrap();
    assert_eq!(step.events, vec![Event::Rejected(RejectReason::Declined)]);
    assert!(a.is_over() && b.is_over());
}

#[test]
fn session_4_3_unsupported_version_is_rejected_without_asking() {
    let helo = PeerMessage::Helo {
        version: 1,
        commitment: [0; 32],
    };
    let (s, step) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
    assert!(step.events.is_empty());
    assert_eq!(
        step.send,
        vec![PeerMessage::Rej {
            reason: RejectReason::UnsupportedVersion
        }]
    );
    assert!(s.is_over());
}

#[test]
fn session_4_4_commitment_mismatch_is_fatal_and_stays_fatal() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let (_, helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
    let _ = b.accept(&mut rng).unwrap();
    let other = cryptully_protocol::key_schedule::EphemeralKeyPair::generate(&mut rng);
    let err = b.handle(
        PeerMessage::PubKey {
            public_key: *other.public(),
        },
        &mut rng,
    );
    // §4.4: announced to the friend, so that nobody believes the chat is secure.
    let announced = Step {
        send: vec![PeerMessage::Rej {
            reason: RejectReason::HandshakeFailed,
        }],
        events: vec![Event::Ended(EndReason::HandshakeFailed)],
    };
    assert_eq!(err, Ok(announced));
    assert_eq!(
        b.send_message("x").unwrap_err(),
        SessionError::CommitmentMismatch
    );
    assert_eq!(b.state_name(), "Failed");
}

/// Issue 10 / §4.4: an initiator that sent PUB_KEY believed the chat was open. The responder's
/// REJ HANDSHAKE_FAILED now ends it on both sides, in words; after the friend's first record has
/// opened, a REJ can only be forged and changes nothing.
#[test]
fn session_4_4_a_failed_handshake_is_announced_to_the_initiator() {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let (mut a, _helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    // A relay in the middle swapped the HELO: bob got another commitment.
    let (_, other_helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), id(), &other_helo);
    let redy = b.accept(&mut rng).unwrap();
    let step = a.handle(redy.send[0].clone(), &mut rng).unwrap();
    // §4.7: alice waits for bob's IDENTITY, and nothing of hers can be sent yet.
    assert_eq!(a.state_name(), "ExpectIdentity");
    assert!(matches!(
        a.send_message("are you there?"),
        Err(SessionError::NotEstablished { .. })
    ));
    let rej = b.handle(step.send[0].clone(), &mut rng).unwrap();
    assert_eq!(rej.events, vec![Event::Ended(EndReason::HandshakeFailed)]);
    let ended = a.handle(rej.send[0].clone(), &mut rng).unwrap();
    assert_eq!(ended.events, vec![Event::Ended(EndReason::HandshakeFailed)]);
    assert!(a.is_over());

    // A forged REJ after the friend's first record opened is ignored.
    let (mut pair, _, _) = Pair::established(15);
    let (_, hello) = pair.b.send_message("hello").unwrap();
    let _ = pair.a.handle(hello, &mut pair.rng).unwrap();
    let forged = PeerMessage::Rej {
        reason: RejectReason::HandshakeFailed,
    };
    assert_eq!(pair.a.handle(forged, &mut pair.rng), Ok(Step::default()));
    assert!(pair.a.is_established());
}

#[test]
fn session_4_4_low_order_key_aborts_before_pub_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let (mut a, _) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let step = a.handle(
        PeerMessage::Redy {
            public_key: [0; 32],
        },
        &mut rng,
    );
    assert_eq!(
        step.map(|s| (s.send, s.events)),
        Ok((
            vec![PeerMessage::Rej {
                reason: RejectReason::HandshakeFailed
            }],
            vec![Event::Ended(EndReason::HandshakeFailed)]
        ))
    );
    assert!(a.is_over());
    assert_eq!(a.send_message("x").unwrap_err(), SessionError::LowOrderKey);
}

#[test]
fn session_4_5_unexpected_message_during_handshake_is_fatal() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (mut a, helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    assert_eq!(
        a.handle(helo.clone(), &mut rng),
        Err(SessionError::UnexpectedMessage {
            state: "ExpectRedy",
            got: "HELO"
        })
    );
    assert_eq!(
        a.handle(
            PeerMessage::Redy {
                public_key: [9; 32]
            },
            &mut rng
        ),
        Err(SessionError::UnexpectedMessage {
            state: "ExpectRedy",
            got: "HELO"
        })
    );
}

#[test]
fn session_6_4_tampered_replayed_and_deleted_records_are_warnings() {
    let (mut pair, _, _) = Pair::established(13);
    let (s0, r0) = pair.a.send_message("zero").unwrap();
    let (_, r1) = pair.a.send_message("one").unwrap();
    let (s2, r2) = pair.a.send_message("two").unwrap();
    let PeerMessage::Record(mut bad) = r0.clone() else {
        panic!()
    };
    bad.ciphertext[5] ^= 0x40;
    let step = pair
        .b
        .handle(PeerMessage::Record(bad), &mut pair.rng)
        .unwrap();
    assert_eq!(
        step.events,
        vec![Event::Warning(Warning::Tampered { seq: s0 })]
    );
    assert!(step.send.is_empty());
    // The chain did not move: the genuine record still opens.
    let step = pair.b.handle(r0.clone(), &mut pair.rng).unwrap();
    assert!(matches!(step.events[..], [Event::Message { seq, .. }] if seq == s0));
    let step = pair.b.handle(r0, &mut pair.rng).unwrap();
    assert_eq!(
        step.events,
        vec![Event::Warning(Warning::Replayed { seq: s0 })]
    );
    drop(r1); // deleted in transit
    let step = pair.b.handle(r2, &mut pair.rng).unwrap();
    assert_eq!(
        step.events,
        vec![
            Event::Warning(Warning::Deleted { count: 1 }),
            Event::Message {
                seq: s2,
                text: "two".into()
            }
        ]
    );
    assert!(pair.b.is_established());
}

#[test]
fn session_7_3_rejects_empty_and_oversize_messages_without_failing() {
    let (mut pair, _, _) = Pair::established(14);
    assert_eq!(
        pair.a.send_message("").unwrap_err(),
        SessionError::MessageLength { len: 0 }
    );
    let long = "x".repeat(16385);
    assert_eq!(
        pair.a.send_message(&long).unwrap_err(),
        SessionError::MessageLength { len: 16385 }
    );
    assert!(pair.a.send_message(&"x".repeat(16384)).is_ok());
}

/// A relay in the middle runs two handshakes: alice↔mallory(as bob) and mallory(as alice)↔bob.
#[test]
fn session_1_3_man_in_the_middle_shows_different_codes_and_smp_fails() {
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    // alice → "bob" (really mallory)
    let (mut alice, helo_a) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (mut m_as_bob, _) = Session::respond(nick("bob"), nick("alice"), id(), &helo_a);
    // mallory → bob, in alice's name
    let (mut m_as_alice, helo_m) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let bob_identity = id();
    let (mut bob, _) = Session::respond(nick("bob"), nick("alice"), bob_identity.clone(), &helo_m);

    let redy = bob.accept(&mut rng).unwrap().send;
    let (_, bob_events) = pump(&mut m_as_alice, &mut bob, redy, false, &mut rng);
    let redy = m_as_bob.accept(&mut rng).unwrap().send;
    let (alice_events, _) = pump(&mut alice, &mut m_as_bob, redy, false, &mut rng);

    // §4.7: the identity alice's chat proved is mallory's, not bob's: a client that remembers
    // bob's (§12.5) sees the change without anything read aloud.
    assert_ne!(alice.peer_identity(), Some(*bob_identity.public()));

    // What the people read aloud differs.
    assert_ne!(
        established_code(&alice_events),
        established_code(&bob_events)
    );

    // Both type the right answer. Mallory decrypts each SMP message with one session and
    // re-encrypts it with the other, so the SMP values flow unchanged between alice and bob:
    // exactly the pure steps below, with each person's secret bound to their own session.
    let secret = |s: &Session| {
        let (i, r) = s.public_keys().unwrap();
        cryptully_protocol::smp::secret(&i, &r, &s.session_id().unwrap(), "rex")
    };
    use cryptully_protocol::smp;
    let (a, m1) = smp::step1(secret(&alice), smp::Step1Random::draw(&mut rng));
    let checked = smp::check_smp1(&m1).unwrap();
    let (b, m2) = smp::step2(&checked, secret(&bob), smp::Step2Random::draw(&mut rng));
    let (a, m3) = smp::step3(a, &m2, smp::Step3Random::draw(&mut rng)).unwrap();
    let (bob_matched, m4) = smp::step4(b, &m3, smp::Step4Random::draw(&mut rng)).unwrap();
    let alice_matched = smp::step5(a, &m4).unwrap();
    assert!(
        !alice_matched && !bob_matched,
        "SMP must fail through a relay in the middle"
    );

    // Without mallory, the same answer matches (the control experiment).
    let (mut pair, _, _) = Pair::established(16);
    let (ea, eb) = run_smp(&mut pair, "rex", "rex");
    assert_eq!(
        (ea, eb),
        (
            vec![Event::SmpResult(SmpOutcome::Matched)],
            vec![Event::SmpResult(SmpOutcome::Matched)]
        )
    );
}

#[test]
fn session_4_2_every_helo_and_every_accept_uses_a_fresh_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let (_, h1) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (_, h2) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    assert_ne!(h1, h2, "two HELOs commit to two different keys");
    let (mut b1, step) = Session::respond(nick("bob"), nick("alice"), id(), &h1);
    assert!(
        step.send.is_empty(),
        "§4.3: nothing is sent before the person accepts"
    );
    let (mut b2, _) = Session::respond(nick("bob"), nick("alice"), id(), &h1);
    let r1 = b1.accept(&mut rng).unwrap().send;
    let r2 = b2.accept(&mut rng).unwrap().send;
    assert_ne!(r1, r2, "each accept draws its own key");
}

#[test]
fn session_7_4_an_ack_for_an_unknown_number_is_ignored() {
    use cryptully_protocol::key_schedule::{EphemeralKeyPair, KeySchedule, Transcript};
    use cryptully_protocol::records::{ChainKey, SendChain};
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let (ipriv, rpriv) = ([1u8; 32], [2u8; 32]);
    let (mut alice, helo) = Session::initiate_with(
        nick("alice"),
        nick("bob"),
        id(),
        EphemeralKeyPair::from_private_bytes(ipriv),
    );
    let (mut bob, _) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
    let redy = bob
        .accept_with(EphemeralKeyPair::from_private_bytes(rpriv))
        .unwrap()
        .send
        .remove(0);
    let pub_key = alice.handle(redy, &mut rng).unwrap().send.remove(0);
    let bob_identity = bob.handle(pub_key, &mut rng).unwrap().send.remove(0);
    let _ = alice.handle(bob_identity, &mut rng).unwrap();
    let (sent, _never_delivered) = alice.send_message("waiting").unwrap();

    // A peer holding bob's keys seals an ACK for a number alice never used.
    let (ik, rk) = (
        EphemeralKeyPair::from_private_bytes(ipriv),
        EphemeralKeyPair::from_private_bytes(rpriv),
    );
    let t = Transcript {
        initiator: nick("alice"),
        responder: nick("bob"),
        commitment: ik.commitment(),
        responder_public: *rk.public(),
        initiator_public: *ik.public(),
    };
    let ks = KeySchedule::derive(&t.hash(), &ik.diffie_hellman(rk.public()).unwrap()).unwrap();
    let mut bob_tx = SendChain::new(ChainKey::new(*ks.dangerous_chain_keys().1));
    // Record 0 was bob's IDENTITY (§4.7).
    let _ = bob_tx.seal(&[0; 64]).unwrap();
    let ack = bob_tx
        .seal(&InnerMessage::Ack { seq: 999 }.encode_padded())
        .unwrap();
    let step = alice.handle(PeerMessage::Record(ack), &mut rng).unwrap();
    assert!(step.events.is_empty() && step.send.is_empty(), "{step:?}");
    assert!(alice.is_established());
    assert_eq!(alice.unacknowledged(), vec![sent]);
}

/// §6.4: after more than MAX_SKIP records were lost, the friend's records can never be opened
/// again; MAX_TOO_FAR of them in a row end the session in words, with END to the friend, instead
/// of a warning per record for ever. Fewer, followed by one that opens, change nothing.
#[test]
fn session_6_4_records_too_far_ahead_end_the_session_instead_of_wedging_it() {
    use cryptully_protocol::limits::{MAX_SKIP, MAX_TOO_FAR};
    let (mut pair, _, _) = Pair::established(21);
    let mut sent = Vec::new();
    for i in 0..MAX_SKIP + 1 + u64::from(MAX_TOO_FAR) {
        sent.push(pair.a.send_message(&format!("m{i}")).unwrap().1);
    }
    // The relay dropped the first MAX_SKIP + 1: every later record is too far ahead.
    let mut late = sent
        .split_off(usize::try_from(MAX_SKIP).unwrap() + 1)
        .into_iter();
    for _ in 1..MAX_TOO_FAR {
        let step = pair.b.handle(late.next().unwrap(), &mut pair.rng).unwrap();
        assert!(matches!(
            step.events[..],
            [Event::Warning(Warning::Tampered { .. })]
        ));
        assert!(!pair.b.is_over());
    }
    let step = pair.b.handle(late.next().unwrap(), &mut pair.rng).unwrap();
    assert_eq!(step.events, vec![Event::Ended(EndReason::MessagesLost)]);
    assert!(pair.b.is_over());
    // The friend hears END, so neither side waits for ever.
    let (a_events, _) = pair.deliver_b_to_a(step);
    assert!(
        a_events.contains(&Event::Ended(EndReason::PeerClosed)),
        "{a_events:?}"
    );

    // Fewer than MAX_TOO_FAR in a row, then a record that opens: the count starts again.
    let (mut pair, _, _) = Pair::established(22);
    let (_, good) = pair.a.send_message("good").unwrap();
    let mut forged = good.clone();
    if let PeerMessage::Record(r) = &mut forged {
        r.seq = MAX_SKIP + 5;
    }
    for _ in 1..MAX_TOO_FAR {
        let _ = pair.b.handle(forged.clone(), &mut pair.rng).unwrap();
    }
    let step = pair.b.handle(good, &mut pair.rng).unwrap();
    assert!(matches!(step.events[..], [Event::Message { .. }]));
    let step = pair.b.handle(forged, &mut pair.rng).unwrap();
    assert!(matches!(
        step.events[..],
        [Event::Warning(Warning::Tampered { .. })]
    ));
    assert!(!pair.b.is_over());
}

/// §4.5 and §8.6: waits end. The sessions keep no clock: the test passes the time in.
#[test]
fn session_4_5_and_8_6_waits_time_out() {
    use cryptully_protocol::limits::{
        HANDSHAKE_DECISION_TIMEOUT, SMP_ANSWER_TIMEOUT, SMP_STEP_TIMEOUT,
    };
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let second = Duration::from_secs(1);

    // An initiator whose HELO is never answered.
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let (mut alice, _helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    assert_eq!(alice.tick(t0), Step::default());
    assert_eq!(
        alice.tick(t0 + HANDSHAKE_DECISION_TIMEOUT - second),
        Step::default()
    );
    assert!(!alice.is_over());
    let step = alice.tick(t0 + HANDSHAKE_DECISION_TIMEOUT);
    assert_eq!(step.events, vec![Event::Ended(EndReason::TimedOut)]);
    assert!(alice.is_over());

    // An asker whose question is never answered: SMP_ABORT, and the outcome says why.
    let (mut pair, _, _) = Pair::established(31);
    let start = pair.a.start_smp("pet?", "rex", &mut pair.rng).unwrap();
    let _ = pair.deliver_a_to_b(start);
    assert_eq!(pair.a.tick(t0), Step::default());
    assert_eq!(
        pair.a.tick(t0 + SMP_ANSWER_TIMEOUT - second),
        Step::default()
    );
    let step = pair.a.tick(t0 + SMP_ANSWER_TIMEOUT);
    assert!(
        matches!(
            step.events[..],
            [Event::SmpResult(SmpOutcome::Aborted(
                cryptully_protocol::smp::SmpError::TimedOut {
                    waiting_for: "SMP2"
                }
            ))]
        ),
        "{:?}",
        step.events
    );
    let (_, b_events) = pair.deliver_a_to_b(step);
    assert_eq!(b_events, vec![Event::SmpResult(SmpOutcome::AbortedByPeer)]);
    assert!(!pair.a.is_over(), "an SMP time-out never ends the chat");

    // A new run starts a new wait, even in the same state: no time-out carried over.
    let t1 = t0 + SMP_ANSWER_TIMEOUT + second;
    let again = pair.a.start_smp("town?", "ely", &mut pair.rng).unwrap();
    let _ = pair.deliver_a_to_b(again);
    assert_eq!(pair.a.tick(t1), Step::default());
    assert_eq!(pair.a.tick(t1 + SMP_STEP_TIMEOUT), Step::default());
}

/// A fresh long-term identity (§5.7) for one side of a test chat.
fn id() -> std::sync::Arc<cryptully_protocol::IdentityKeyPair> {
    std::sync::Arc::new(cryptully_protocol::IdentityKeyPair::generate(
        &mut rand_core::OsRng,
    ))
}

/// §4.7, [4.6-3]: a person who closes the chat while the friend's IDENTITY is awaited still
/// sends END: the keys exist, and the friend may count the chat secure already.
#[test]
fn session_4_7_closing_while_the_identity_is_awaited_tells_the_friend() {
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let (mut a, helo) = Session::initiate(nick("alice"), nick("bob"), id(), &mut rng);
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), id(), &helo);
    let redy = b.accept(&mut rng).unwrap().send.remove(0);
    let to_b = a.handle(redy, &mut rng).unwrap().send;
    assert_eq!(a.state_name(), "ExpectIdentity");
    let closed = a.end().unwrap();
    assert_eq!(closed.events, vec![Event::Ended(EndReason::Closed)]);
    let mut events = Vec::new();
    for m in to_b.into_iter().chain(closed.send) {
        events.extend(b.handle(m, &mut rng).unwrap().events);
    }
    assert!(matches!(events.first(), Some(Event::Established { .. })));
    assert_eq!(events.last(), Some(&Event::Ended(EndReason::PeerClosed)));
}
