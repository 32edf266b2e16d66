//! proptest: every message round-trips (§2.2), decoders never panic on arbitrary bytes and
//! accept only canonical encodings, records open what was sealed (§6), SMP matches exactly when
//! the answers do (§8).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::errors::{ErrorCode, RejectReason};
use cryptully_protocol::framing::{MAX_FRAME, split_frame};
use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::{InnerMessage, TypingState};
use cryptully_protocol::records::{ChainKey, ReceiveChain, SendChain};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::{Nick, smp};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn nick() -> impl Strategy<Value = Nick> {
    "[A-Za-z0-9_-]{1,32}".prop_map(|s| Nick::new(&s).unwrap())
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..300)
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        any::<u16>().prop_map(|version| ClientMessage::Hello { version }),
        nick().prop_map(|nick| ClientMessage::Register { nick }),
        (nick(), payload()).prop_map(|(destination, payload)| ClientMessage::Relay {
            destination,
            payload
        }),
        any::<u64>().prop_map(|token| ClientMessage::Ping { token }),
        Just(ClientMessage::Bye),
    ]
}

fn relay_message() -> impl Strategy<Value = RelayMessage> {
    prop_oneof![
        nick().prop_map(|nick| RelayMessage::Registered { nick }),
        (nick(), payload()).prop_map(|(source, payload)| RelayMessage::Deliver { source, payload }),
        (
            prop::sample::select(ErrorCode::ALL.to_vec()),
            prop::option::of(nick())
        )
            .prop_map(|(code, nick)| RelayMessage::Error { code, nick }),
        any::<u64>().prop_map(|token| RelayMessage::Pong { token }),
        nick().prop_map(|nick| RelayMessage::PeerGone { nick }),
        Just(RelayMessage::Shutdown),
    ]
}

fn peer_message() -> impl Strategy<Value = PeerMessage> {
    prop_oneof![
        (any::<u16>(), any::<[u8; 32]>()).prop_map(|(version, commitment)| PeerMessage::Helo {
            version,
            commitment
        }),
        any::<[u8; 32]>().prop_map(|public_key| PeerMessage::Redy { public_key }),
        prop::sample::select(RejectReason::ALL.to_vec())
            .prop_map(|reason| PeerMessage::Rej { reason }),
        any::<[u8; 32]>().prop_map(|public_key| PeerMessage::PubKey { public_key }),
        (any::<u64>(), 1usize..=257, any::<u8>(), any::<[u8; 32]>()).prop_map(
            |(seq, k, fill, tag)| {
                PeerMessage::Record(cryptully_protocol::records::Record {
                    seq,
                    ciphertext: vec![fill; 64 * k + 16],
                    tag,
                })
            }
        ),
    ]
}

fn text(max: usize, min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), min..40)
        .prop_map(move |cs| {
            let mut s: String = cs.into_iter().collect();
            while s.len() > max {
                s.pop();
            }
            s
        })
        .prop_filter("length bounds", move |s| s.len() >= min)
}

fn mpi() -> impl Strategy<Value = num_bigint::BigUint> {
    prop::collection::vec(any::<u8>(), 0..=192).prop_map(|b| num_bigint::BigUint::from_bytes_be(&b))
}

fn inner_message() -> impl Strategy<Value = InnerMessage> {
    prop_oneof![
        text(16384, 1).prop_map(|text| InnerMessage::Msg { text }),
        prop::sample::select(vec![
            TypingState::Typing,
            TypingState::StoppedEmpty,
            TypingState::StoppedWithText
        ])
        .prop_map(InnerMessage::Typing),
        any::<u64>().prop_map(|seq| InnerMessage::Ack { seq }),
        text(1024, 0).prop_map(|question| InnerMessage::Smp0 { question }),
        prop::collection::vec(mpi(), 3).prop_map(|v| {
            let [rb, cr, d7] = <[_; 3]>::try_from(v).unwrap();
            InnerMessage::Smp4(smp::Smp4 { rb, cr, d7 })
        }),
        prop::collection::vec(mpi(), 6).prop_map(|v| {
            let [g2a, c2, d2, g3a, c3, d3] = <[_; 6]>::try_from(v).unwrap();
            InnerMessage::Smp1(smp::Smp1 {
                g2a,
                c2,
                d2,
                g3a,
                c3,
                d3,
            })
        }),
        Just(InnerMessage::SmpAbort),
        Just(InnerMessage::End),
    ]
}

proptest! {
    #[test]
    fn relay_3_client_messages_round_trip(m in client_message()) {
        prop_assert_eq!(ClientMessage::decode(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn relay_3_relay_messages_round_trip(m in relay_message()) {
        prop_assert_eq!(RelayMessage::decode(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn handshake_4_peer_messages_round_trip(m in peer_message()) {
        prop_assert_eq!(PeerMessage::decode(&m.to_bytes()), Ok(m));
    }

    #[test]
    fn inner_7_messages_round_trip_padded(m in inner_message()) {
        let padded = m.encode_padded();
        prop_assert_eq!(padded.len() % 64, 0);
        prop_assert_eq!(InnerMessage::decode_padded(&padded), Ok(m));
    }

    /// §2.2: on arbitrary bytes every decoder returns, and whatever it accepts is canonical.
    #[test]
    fn codec_2_2_arbitrary_bytes_never_panic_and_accepted_input_is_canonical(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        if let Ok(m) = ClientMessage::decode(&bytes) { prop_assert_eq!(m.to_bytes(), bytes.clone()); }
        if let Ok(m) = RelayMessage::decode(&bytes) { prop_assert_eq!(m.to_bytes(), bytes.clone()); }
        if let Ok(m) = PeerMessage::decode(&bytes) { prop_assert_eq!(m.to_bytes(), bytes.clone()); }
        if let Ok(m) = InnerMessage::decode(&bytes) {
            let mut out = Vec::new();
            m.encode(&mut out);
            prop_assert_eq!(out, bytes.clone());
        }
        if let Ok(m) = InnerMessage::decode_padded(&bytes) {
            prop_assert_eq!(&m.encode_padded()[..], &bytes[..]);
        }
        let _ = split_frame(&bytes, MAX_FRAME);
    }

    /// Decoders also survive mutations of valid messages, which reach deeper than random bytes.
    #[test]
    fn codec_2_2_mutated_messages_never_panic(
        m in inner_message(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = m.encode_padded().to_vec();
        for (i, v) in flips {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        if let Ok(m) = InnerMessage::decode_padded(&bytes) {
            prop_assert_eq!(&m.encode_padded()[..], &bytes[..]);
        }
    }

    #[test]
    fn records_6_seal_then_open_gives_back_any_message(
        key in any::<[u8; 32]>(), messages in prop::collection::vec(inner_message(), 1..6),
    ) {
        let mut tx = SendChain::new(ChainKey::new(key));
        let mut rx = ReceiveChain::new(ChainKey::new(key));
        for m in messages {
            let record = tx.seal(&m.encode_padded()).unwrap();
            let opened = rx.open(&record).unwrap();
            prop_assert_eq!(opened.deleted, 0);
            prop_assert_eq!(InnerMessage::decode_padded(&opened.plaintext), Ok(m));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    #[test]
    fn smp_8_matches_exactly_when_answers_are_equal(
        x in "[a-z ]{0,12}", other in "[a-z ]{0,12}", same in any::<bool>(), seed in any::<u64>(),
    ) {
        // Half the cases answer alike, so both outcomes are exercised.
        let y = if same { x.clone() } else { other };
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = |a: &str| smp::secret(&[4; 32], &[5; 32], &[6; 32], a);
        let (a, m1) = smp::step1(secret(&x), smp::Step1Random::draw(&mut rng));
        let checked = smp::check_smp1(&m1).unwrap();
        let (b, m2) = smp::step2(&checked, secret(&y), smp::Step2Random::draw(&mut rng));
        let (a, m3) = smp::step3(a, &m2, smp::Step3Random::draw(&mut rng)).unwrap();
        let (bob, m4) = smp::step4(b, &m3, smp::Step4Random::draw(&mut rng)).unwrap();
        let alice = smp::step5(a, &m4).unwrap();
        let equal = x.trim() == y.trim();
        prop_assert_eq!((alice, bob), (equal, equal));
    }
}
