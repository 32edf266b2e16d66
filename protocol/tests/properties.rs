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

/// §8.5 written out with num-bigint's plain `modpow`, straight from the spec's formulas: the
/// oracle for the constant-time arithmetic (combs, exponents folded mod q) of `smp`.
mod plain {
    use num_bigint::BigUint;
    use sha2::{Digest, Sha256};

    pub(crate) struct Group {
        pub(crate) p: BigUint,
        pub(crate) q: BigUint,
    }

    impl Group {
        pub(crate) fn pow(&self, b: &BigUint, e: &BigUint) -> BigUint {
            b.modpow(e, &self.p)
        }
        pub(crate) fn g(&self, e: &BigUint) -> BigUint {
            self.pow(&BigUint::from(2u32), e)
        }
        pub(crate) fn mul(&self, a: &BigUint, b: &BigUint) -> BigUint {
            a * b % &self.p
        }
        pub(crate) fn div(&self, a: &BigUint, b: &BigUint) -> BigUint {
            self.mul(a, &b.modinv(&self.p).unwrap())
        }
        /// `r - a·c mod q`.
        pub(crate) fn d(&self, r: &BigUint, a: &BigUint, c: &BigUint) -> BigUint {
            (r + &self.q - (a * c) % &self.q) % &self.q
        }
        /// `h(v, a[, b])` of §8.3.
        pub(crate) fn h(&self, v: u8, a: &BigUint, b: Option<&BigUint>) -> BigUint {
            let mut hash = Sha256::new();
            hash.update([v]);
            for x in std::iter::once(a).chain(b) {
                let bytes = if x.bits() == 0 {
                    vec![]
                } else {
                    x.to_bytes_be()
                };
                hash.update((bytes.len() as u32).to_be_bytes());
                hash.update(&bytes);
            }
            BigUint::from_bytes_be(&hash.finalize())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    /// Issue 11: the constant-time path gives exactly the values of the plain formulas.
    #[test]
    fn smp_8_5_constant_time_steps_equal_the_plain_formulas(
        x in "[a-z]{0,8}", y in "[a-z]{0,8}", seed in any::<u64>(),
    ) {
        let g = plain::Group { p: smp::prime(), q: smp::subgroup_order() };
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let secret = |a: &str| smp::secret(&[7; 32], &[8; 32], &[9; 32], a);
        let (xs, ys) = (secret(&x), secret(&y));
        let (xv, yv) = (xs.dangerous_value(), ys.dangerous_value());
        let r1 = smp::Step1Random::draw(&mut rng);
        let [a2, a3, r2, r3] = [&r1.a2, &r1.a3, &r1.r2, &r1.r3].map(|s| s.dangerous_value());
        let (alice, m1) = smp::step1(xs, r1);
        let c2 = g.h(1, &g.g(&r2), None);
        let c3 = g.h(2, &g.g(&r3), None);
        prop_assert_eq!((&m1.g2a, &m1.g3a), (&g.g(&a2), &g.g(&a3)));
        prop_assert_eq!((&m1.c2, &m1.d2), (&c2, &g.d(&r2, &a2, &c2)));
        prop_assert_eq!((&m1.c3, &m1.d3), (&c3, &g.d(&r3, &a3, &c3)));

        let r2s = smp::Step2Random::draw(&mut rng);
        let [b2, b3, _, _, r4, r5, r6] =
            [&r2s.b2, &r2s.b3, &r2s.r2, &r2s.r3, &r2s.r4, &r2s.r5, &r2s.r6].map(|s| s.dangerous_value());
        let (bob, m2) = smp::step2(&smp::check_smp1(&m1).unwrap(), ys, r2s);
        let (g2, g3) = (g.pow(&m1.g2a, &b2), g.pow(&m1.g3a, &b3));
        let pb = g.pow(&g3, &r4);
        let qb = g.mul(&g.g(&r4), &g.pow(&g2, &yv));
        let cp = g.h(5, &g.pow(&g3, &r5), Some(&g.mul(&g.g(&r5), &g.pow(&g2, &r6))));
        prop_assert_eq!((&m2.g2b, &m2.g3b), (&g.g(&b2), &g.g(&b3)));
        prop_assert_eq!((&m2.pb, &m2.qb, &m2.cp), (&pb, &qb, &cp));
        prop_assert_eq!((&m2.d5, &m2.d6), (&g.d(&r5, &r4, &cp), &g.d(&r6, &yv, &cp)));

        let r3s = smp::Step3Random::draw(&mut rng);
        let [r4, r5, r6, r7] = [&r3s.r4, &r3s.r5, &r3s.r6, &r3s.r7].map(|s| s.dangerous_value());
        let (alice, m3) = smp::step3(alice, &m2, r3s).unwrap();
        let (g2, g3) = (g.pow(&m2.g2b, &a2), g.pow(&m2.g3b, &a3));
        let pa = g.pow(&g3, &r4);
        let qa = g.mul(&g.g(&r4), &g.pow(&g2, &xv));
        let cp = g.h(6, &g.pow(&g3, &r5), Some(&g.mul(&g.g(&r5), &g.pow(&g2, &r6))));
        let qa_qb = g.div(&qa, &qb);
        let cr = g.h(7, &g.g(&r7), Some(&g.pow(&qa_qb, &r7)));
        prop_assert_eq!((&m3.pa, &m3.qa, &m3.cp), (&pa, &qa, &cp));
        prop_assert_eq!((&m3.d5, &m3.d6), (&g.d(&r5, &r4, &cp), &g.d(&r6, &xv, &cp)));
        prop_assert_eq!((&m3.ra, &m3.cr, &m3.d7), (&g.pow(&qa_qb, &a3), &cr, &g.d(&r7, &a3, &cr)));

        let r4s = smp::Step4Random::draw(&mut rng);
        let r7 = r4s.r7.dangerous_value();
        let (bob_matched, m4) = smp::step4(bob, &m3, r4s).unwrap();
        let cr = g.h(8, &g.g(&r7), Some(&g.pow(&qa_qb, &r7)));
        prop_assert_eq!((&m4.rb, &m4.cr, &m4.d7), (&g.pow(&qa_qb, &b3), &cr, &g.d(&r7, &b3, &cr)));
        let pa_pb = g.div(&pa, &pb);
        let matched = g.pow(&m3.ra, &b3) == pa_pb;
        prop_assert_eq!(bob_matched, matched);
        prop_assert_eq!(smp::step5(alice, &m4).unwrap(), g.pow(&m4.rb, &a3) == pa_pb);
        prop_assert_eq!(matched, x == y);
    }
}
