//! insta snapshots: a readable rendering of every message type (§3, §4, §6, §7, §8), and proof
//! that `Debug` of keys and sessions prints no secret (§12.4).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::errors::{ErrorCode, RejectReason};
use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::{InnerMessage, TypingState};
use cryptully_protocol::key_schedule::{
    EphemeralKeyPair, IdentityKeyPair, KeySchedule, Transcript,
};
use cryptully_protocol::records::{ChainKey, SendChain};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::session::Session;
use cryptully_protocol::{Nick, smp};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::fmt::Write;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

/// One line per message: its name, its Debug form and its bytes in hex.
fn render(name: &str, debug: String, bytes: &[u8]) -> String {
    let mut hex = hex::encode(bytes);
    if hex.len() > 96 {
        hex = format!("{}… ({} bytes)", &hex[..96], bytes.len());
    }
    format!("{name}\n  {debug}\n  {hex}\n")
}

#[test]
fn snapshot_every_message_type() {
    let mut out = String::new();
    let client = [
        ClientMessage::Hello { version: 2 },
        ClientMessage::Register {
            nick: nick("Alice"),
        },
        ClientMessage::Relay {
            destination: nick("bob"),
            payload: vec![0x10, 0x00, 0x02],
        },
        ClientMessage::Ping { token: 7 },
        ClientMessage::Bye,
    ];
    for m in client {
        out += &render(m.name(), format!("{m:?}"), &m.to_bytes());
    }
    let relay = [
        RelayMessage::Registered {
            nick: nick("alice"),
        },
        RelayMessage::Deliver {
            source: nick("alice"),
            payload: vec![0x11, 0xaa],
        },
        RelayMessage::Error {
            code: ErrorCode::NickNotFound,
            nick: Some(nick("carol")),
        },
        RelayMessage::Error {
            code: ErrorCode::Malformed,
            nick: None,
        },
        RelayMessage::Pong { token: 7 },
        RelayMessage::PeerGone { nick: nick("bob") },
        RelayMessage::Shutdown,
    ];
    for m in relay {
        out += &render(m.name(), format!("{m:?}"), &m.to_bytes());
    }
    let mut tx = SendChain::new(ChainKey::new([1; 32]));
    let record = tx.seal(&InnerMessage::End.encode_padded()).unwrap();
    let peer = [
        PeerMessage::Helo {
            version: 2,
            commitment: [0xc0; 32],
        },
        PeerMessage::Redy {
            public_key: [0x52; 32],
        },
        PeerMessage::Rej {
            reason: RejectReason::Declined,
        },
        PeerMessage::PubKey {
            public_key: [0x49; 32],
        },
        PeerMessage::Record(record),
    ];
    for m in peer {
        out += &render(m.name(), format!("{m:?}"), &m.to_bytes());
    }
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let secret = |a: &str| smp::secret(&[1; 32], &[2; 32], &[3; 32], a);
    let (a, m1) = smp::step1(secret("x"), smp::Step1Random::draw(&mut rng));
    let (b, m2) = smp::step2(
        &smp::check_smp1(&m1).unwrap(),
        secret("x"),
        smp::Step2Random::draw(&mut rng),
    );
    let (_, m3) = smp::step3(a, &m2, smp::Step3Random::draw(&mut rng)).unwrap();
    let (_, m4) = smp::step4(b, &m3, smp::Step4Random::draw(&mut rng)).unwrap();
    let inner = [
        InnerMessage::Msg {
            text: "hello ✓".into(),
        },
        InnerMessage::Typing(TypingState::StoppedWithText),
        InnerMessage::Ack { seq: 3 },
        InnerMessage::Identity {
            identity_key: [0x1d; 32],
            mac: [0x3a; 32],
        },
        InnerMessage::Smp0 {
            question: "Where did we meet?".into(),
        },
        InnerMessage::Smp1(m1),
        InnerMessage::Smp2(m2),
        InnerMessage::Smp3(m3),
        InnerMessage::Smp4(m4),
        InnerMessage::SmpAbort,
        InnerMessage::End,
    ];
    for m in inner {
        let mut debug = format!("{m:?}");
        if debug.len() > 160 {
            debug = format!("{}…", &debug[..debug.char_indices().nth(160).unwrap().0]);
        }
        out += &render(m.name(), debug, &m.encode_padded());
    }
    insta::assert_snapshot!(out);
}

#[test]
fn snapshot_debug_of_keys_and_sessions_prints_no_secret() {
    let private = [0x5a; 32];
    let keys = EphemeralKeyPair::from_private_bytes(private);
    let transcript = Transcript {
        initiator: nick("alice"),
        responder: nick("bob"),
        commitment: keys.commitment(),
        responder_public: [9; 32],
        initiator_public: *keys.public(),
    };
    let shared = keys
        .diffie_hellman(&cryptully_protocol::primitives::x25519_public(&[0x33; 32]))
        .unwrap();
    let schedule = KeySchedule::derive(&transcript.hash(), &shared).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let identity = std::sync::Arc::new(IdentityKeyPair::from_private_bytes([0x44; 32]));
    let (mut a, helo) = Session::initiate(nick("alice"), nick("bob"), identity.clone(), &mut rng);
    let bob_identity = std::sync::Arc::new(IdentityKeyPair::from_private_bytes([0x45; 32]));
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), bob_identity, &helo);
    let redy = b.accept(&mut rng).unwrap().send.remove(0);
    let mut to_b = a.handle(redy, &mut rng).unwrap().send;
    let pub_key = to_b.remove(0);
    let to_a = b.handle(pub_key, &mut rng).unwrap().send;
    for m in to_b {
        let _ = b.handle(m, &mut rng).unwrap();
    }
    for m in to_a {
        let _ = a.handle(m, &mut rng).unwrap();
    }
    assert!(a.is_established());
    let exponent = smp::SecretInt::random_exponent(&mut rng);

    let mut out = String::new();
    writeln!(out, "{keys:#?}").unwrap();
    writeln!(out, "{schedule:#?}").unwrap();
    writeln!(out, "{:?}", ChainKey::new([0x77; 32])).unwrap();
    writeln!(out, "{:?}", SendChain::new(ChainKey::new([0x77; 32]))).unwrap();
    writeln!(out, "{exponent:?}").unwrap();
    writeln!(out, "{a:#?}").unwrap();
    writeln!(out, "{identity:?}").unwrap();

    // The secrets themselves, in the forms a leak would take, appear nowhere.
    let (i2r, r2i) = schedule.dangerous_chain_keys();
    for secret in [
        &[0x44; 32][..],
        &private[..],
        &shared[..],
        &KeySchedule::dangerous_prk(&transcript.hash(), &shared)[..],
        i2r,
        r2i,
        &[0x77; 32],
    ] {
        let hex = hex::encode(secret);
        assert!(!out.contains(&hex), "secret {hex} printed");
        assert!(
            !out.contains(&format!("{:?}", secret)),
            "secret bytes printed"
        );
    }
    assert!(!out.contains(&exponent.dangerous_value().to_string()));
    assert!(!out.contains(&format!("{:x}", exponent.dangerous_value())));
    insta::assert_snapshot!(out);
}
