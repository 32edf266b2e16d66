//! Golden vectors (spec/vectors): generated here from fixed seeds, through the public API.
//!
//! `cargo test -p cryptully-protocol --test vectors` fails when a committed file differs from
//! what this code writes. After an intended wire change, regenerate with
//! `UPDATE_VECTORS=1 cargo test -p cryptully-protocol --test vectors` and commit the spec, the
//! code and the vectors together. The schema is in spec/vectors/README.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use cryptully_protocol::codec::DecodeError;
use cryptully_protocol::errors::{ErrorCode, RejectReason};
use cryptully_protocol::framing::{FrameError, MAX_FRAME, check_frame, encode_frame};
use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::{InnerMessage, TypingState};
use cryptully_protocol::key_schedule::{
    self, Direction, EphemeralKeyPair, IdentityFingerprint, IdentityKeyPair, KeySchedule,
    Transcript,
};
use cryptully_protocol::records::{self, ChainKey, ReceiveChain, Record, RecordError, SendChain};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::session::{EndReason, Event, Session, SessionError};
use cryptully_protocol::versioning::PEER_VERSION;
use cryptully_protocol::{Nick, smp};
use num_bigint::BigUint;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

fn nick(s: &str) -> Nick {
    Nick::new(s).unwrap()
}

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// An MPI's magnitude as hex: minimal big-endian, empty for zero (§8.3).
fn mpi(v: &BigUint) -> String {
    if v.bits() == 0 {
        String::new()
    } else {
        hex::encode(v.to_bytes_be())
    }
}

fn decode_error(e: DecodeError) -> Value {
    json!({ "kind": e.kind(), "detail": e.to_string() })
}

fn inner_hex(m: &InnerMessage) -> String {
    let mut out = Vec::new();
    m.encode(&mut out);
    h(&out)
}

// ---------------------------------------------------------------------------------------------

fn frames() -> Value {
    let mut valid = Vec::new();
    for body in [vec![0x05u8], vec![0x01, 0x00, 0x02], vec![0xab; 300]] {
        let mut frame = Vec::new();
        encode_frame(&body, &mut frame);
        assert_eq!(check_frame(&frame, MAX_FRAME), Ok(Some(body.len())));
        valid.push(json!({ "frame": h(&frame), "body": h(&body) }));
    }
    let mut invalid = Vec::new();
    for (desc, prefix) in [
        ("length 0 (§2.1)", 0u32),
        ("length 65537, one above MAX_FRAME (§2.1)", 65537),
        ("length 2^32 - 1 (§2.1)", u32::MAX),
    ] {
        let err = check_frame(&prefix.to_be_bytes(), MAX_FRAME).unwrap_err();
        assert!(matches!(err, FrameError::Length { .. }));
        invalid.push(json!({ "description": desc, "prefix": h(&prefix.to_be_bytes()), "error": err.to_string() }));
    }
    let incomplete = [&65536u32.to_be_bytes()[..], &[0u8; 10][..]].concat();
    assert_eq!(check_frame(&incomplete, MAX_FRAME), Ok(None));
    json!({
        "section": "§2.1",
        "valid": valid,
        "invalid_length_prefix": invalid,
        "incomplete": [{ "description": "length 65536 is allowed; 10 of its bytes are buffered", "bytes": h(&incomplete) }],
    })
}

fn nicknames() -> Value {
    let valid: Vec<Value> = ["alice", "Bob", "ALICE_the-2nd", "a", &"Z".repeat(32), "0_-"]
        .iter()
        .map(|s| {
            let n = nick(s);
            json!({ "nick": s, "canonical": n.canonical().as_str() })
        })
        .collect();
    let invalid: Vec<Value> = [
        ("", "empty"),
        (&"a".repeat(33) as &str, "33 characters"),
        ("al ice", "space"),
        ("bob!", "punctuation"),
        ("a.b", "dot"),
        ("émile", "non-ASCII"),
    ]
    .iter()
    .map(|(s, why)| {
        assert!(Nick::new(s).is_err());
        json!({ "nick_hex": h(s.as_bytes()), "why": why })
    })
    .collect();
    let equal = [("Alice", "alice"), ("BOB-1", "bob-1")];
    for (a, b) in equal {
        assert_eq!(nick(a), nick(b));
    }
    json!({
        "section": "§3.2",
        "valid": valid,
        "invalid": invalid,
        "equal_pairs": equal.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
    })
}

fn relay_messages() -> Value {
    let client = [
        (ClientMessage::Hello { version: 2 }, json!({ "version": 2 })),
        (
            ClientMessage::Register {
                nick: nick("Alice"),
            },
            json!({ "nick": "Alice" }),
        ),
        (
            ClientMessage::Relay {
                destination: nick("bob"),
                payload: vec![0x10, 0x00, 0x02],
            },
            json!({ "destination": "bob", "payload": "100002" }),
        ),
        (
            ClientMessage::Ping {
                token: 0x0102030405060708,
            },
            json!({ "token": "0102030405060708" }),
        ),
        (ClientMessage::Bye, json!({})),
    ];
    let relay = [
        (
            RelayMessage::Registered {
                nick: nick("alice"),
            },
            json!({ "nick": "alice" }),
        ),
        (
            RelayMessage::Deliver {
                source: nick("alice"),
                payload: vec![0x11; 5],
            },
            json!({ "source": "alice", "payload": "1111111111" }),
        ),
        (
            RelayMessage::Error {
                code: ErrorCode::NickNotFound,
                nick: Some(nick("carol")),
            },
            json!({ "code": "NICK_NOT_FOUND", "code_value": 7, "nick": "carol" }),
        ),
        (
            RelayMessage::Error {
                code: ErrorCode::Malformed,
                nick: None,
            },
            json!({ "code": "MALFORMED", "code_value": 2, "nick": null }),
        ),
        (
            RelayMessage::Pong {
                token: 0x0102030405060708,
            },
            json!({ "token": "0102030405060708" }),
        ),
        (
            RelayMessage::PeerGone { nick: nick("bob") },
            json!({ "nick": "bob" }),
        ),
        (RelayMessage::Shutdown, json!({})),
    ];
    let mut messages = Vec::new();
    for (m, fields) in client {
        assert_eq!(ClientMessage::decode(&m.to_bytes()), Ok(m.clone()));
        messages.push(json!({ "name": m.name(), "direction": "client_to_relay", "fields": fields, "hex": h(&m.to_bytes()) }));
    }
    for (m, fields) in relay {
        assert_eq!(RelayMessage::decode(&m.to_bytes()), Ok(m.clone()));
        messages.push(json!({ "name": m.name(), "direction": "relay_to_client", "fields": fields, "hex": h(&m.to_bytes()) }));
    }
    let every_code: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({ "name": c.name(), "value": c.to_u8(), "closes": c.closes_connection(false) }))
        .collect();
    let mut invalid = Vec::new();
    let client_bad: [(&str, Vec<u8>); 13] = [
        ("empty body", vec![]),
        ("unknown type 0x00", vec![0x00]),
        ("relay-to-client type from a client", vec![0x81, 1, b'a']),
        ("HELLO truncated", vec![0x01, 0x00]),
        ("HELLO with a trailing byte", vec![0x01, 0x00, 0x02, 0x00]),
        ("REGISTER with nick length 0", vec![0x02, 0x00]),
        (
            "REGISTER with a space in the nick",
            vec![0x02, 0x03, b'a', b' ', b'b'],
        ),
        ("RELAY with an empty payload", vec![0x03, 0x01, b'b']),
        ("BYE with a trailing byte", vec![0x05, 0x00]),
        // Two faults each: the first in reading order decides the kind (§2.2, §3.11).
        (
            "REGISTER with a nick length of 40 and 10 bytes (truncated first)",
            [&[0x02u8, 40][..], &[b'a'; 10]].concat(),
        ),
        (
            "REGISTER with a nick of 40 bytes, all present (invalid nick)",
            [&[0x02u8, 40][..], &[b'a'; 40]].concat(),
        ),
        (
            "RELAY with a bad destination and no payload (invalid nick first)",
            vec![0x03, 0x01, b' '],
        ),
        (
            "unknown type 0x06 followed by any bytes (unknown type first)",
            vec![0x06, 0x00],
        ),
    ];
    for (desc, bytes) in client_bad {
        let e = ClientMessage::decode(&bytes).unwrap_err();
        invalid.push(json!({ "description": desc, "direction": "client_to_relay", "hex": h(&bytes), "error": decode_error(e) }));
    }
    let relay_bad: [(&str, Vec<u8>); 7] = [
        ("client-to-relay type from a relay", vec![0x01, 0x00, 0x02]),
        ("ERROR with unknown code 0x00", vec![0x83, 0x00, 0x00]),
        ("ERROR with unknown code 0x0c", vec![0x83, 0x0c, 0x00]),
        ("ERROR without the nick length", vec![0x83, 0x02]),
        ("PONG truncated", vec![0x84, 0, 0, 0]),
        (
            "ERROR with unknown code 0x0c and no nick length (invalid value first)",
            vec![0x83, 0x0c],
        ),
        (
            "ERROR with a nick of a space and a trailing byte (invalid nick first)",
            vec![0x83, 0x02, 0x01, b' ', 0x00],
        ),
    ];
    for (desc, bytes) in relay_bad {
        let e = RelayMessage::decode(&bytes).unwrap_err();
        invalid.push(json!({ "description": desc, "direction": "relay_to_client", "hex": h(&bytes), "error": decode_error(e) }));
    }
    json!({ "section": "§3", "messages": messages, "error_codes": every_code, "invalid": invalid })
}

struct Handshake {
    json: Value,
    schedule: KeySchedule,
    initiator_public: [u8; 32],
    responder_public: [u8; 32],
    /// The responder's IDENTITY record and the inputs to forge variants of it.
    transcript_hash: [u8; 32],
    initiator_private: [u8; 32],
    initiator_identity_private: [u8; 32],
}

/// A fresh identity (§5.7) drawn from `rng`.
fn identity(rng: &mut ChaCha20Rng) -> Arc<IdentityKeyPair> {
    let mut private = [0u8; 32];
    rng.fill_bytes(&mut private);
    Arc::new(IdentityKeyPair::from_private_bytes(private))
}

/// One handshake through two sessions, exactly as clients run it (§4.2–§4.7), with every
/// intermediate value. `responder_identity_seed` picks the responder's identity key, so that
/// the same people can meet with a changed identity.
fn handshake(
    seed: u64,
    initiator: &str,
    responder: &str,
    responder_identity_seed: u64,
) -> Handshake {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut i_priv = [0u8; 32];
    let mut r_priv = [0u8; 32];
    rng.fill_bytes(&mut i_priv);
    rng.fill_bytes(&mut r_priv);
    let mut i_id_priv = [0u8; 32];
    rng.fill_bytes(&mut i_id_priv);
    let mut r_id_priv = [0u8; 32];
    ChaCha20Rng::seed_from_u64(responder_identity_seed).fill_bytes(&mut r_id_priv);
    let i_id = Arc::new(IdentityKeyPair::from_private_bytes(i_id_priv));
    let r_id = Arc::new(IdentityKeyPair::from_private_bytes(r_id_priv));
    let i_keys = EphemeralKeyPair::from_private_bytes(i_priv);
    let r_keys = EphemeralKeyPair::from_private_bytes(r_priv);
    let (i_pub, r_pub, commitment) = (*i_keys.public(), *r_keys.public(), i_keys.commitment());

    let (mut a, helo) =
        Session::initiate_with(nick(initiator), nick(responder), i_id.clone(), i_keys);
    let (mut b, _) = Session::respond(nick(responder), nick(initiator), r_id.clone(), &helo);
    let redy = b
        .accept_with(EphemeralKeyPair::from_private_bytes(r_priv))
        .unwrap()
        .send
        .remove(0);
    let step = a.handle(redy.clone(), &mut rng).unwrap();
    assert!(
        step.events.is_empty(),
        "no chat before the friend's IDENTITY"
    );
    let [pub_key, i_identity] = <[PeerMessage; 2]>::try_from(step.send).unwrap();
    let step = b.handle(pub_key.clone(), &mut rng).unwrap();
    assert!(
        step.events.is_empty(),
        "no chat before the friend's IDENTITY"
    );
    let [r_identity] = <[PeerMessage; 1]>::try_from(step.send).unwrap();
    let b_events = b.handle(i_identity.clone(), &mut rng).unwrap().events;
    let a_events = a.handle(r_identity.clone(), &mut rng).unwrap().events;

    let transcript = Transcript {
        initiator: nick(initiator),
        responder: nick(responder),
        commitment,
        responder_public: r_pub,
        initiator_public: i_pub,
    };
    let shared = EphemeralKeyPair::from_private_bytes(i_priv)
        .diffie_hellman(&r_pub)
        .unwrap();
    let th = transcript.hash();
    let schedule = KeySchedule::derive(&th, &shared).unwrap();
    let fp = IdentityFingerprint::of(
        (&nick(initiator), i_id.public()),
        (&nick(responder), r_id.public()),
    );
    let established = |peer: &IdentityKeyPair| Event::Established {
        safety_code: schedule.safety_code(),
        fingerprint: schedule.fingerprint(),
        peer_identity: *peer.public(),
        identity_fingerprint: fp,
    };
    assert_eq!(a_events, vec![established(&r_id)]);
    assert_eq!(b_events, vec![established(&i_id)]);
    // §5.7: each side's identity DH, computed by the sender from its identity key; the
    // receiver gets the same from its ephemeral key.
    let dh_i2r = key_schedule::EphemeralKeyPair::from_private_bytes(r_priv)
        .diffie_hellman(i_id.public())
        .unwrap();
    let dh_r2i = key_schedule::EphemeralKeyPair::from_private_bytes(i_priv)
        .diffie_hellman(r_id.public())
        .unwrap();
    let mac_i2r =
        key_schedule::identity_mac(&th, &dh_i2r, Direction::InitiatorToResponder, i_id.public())
            .unwrap();
    let mac_r2i =
        key_schedule::identity_mac(&th, &dh_r2i, Direction::ResponderToInitiator, r_id.public())
            .unwrap();
    let inner = |id: &IdentityKeyPair, mac: &[u8; 32]| InnerMessage::Identity {
        identity_key: *id.public(),
        mac: *mac,
    };
    let record_hex = |m: &PeerMessage| match m {
        PeerMessage::Record(_) => h(&m.to_bytes()),
        other => panic!("not a record: {other:?}"),
    };
    let (i2r, r2i) = schedule.dangerous_chain_keys();
    let json = json!({
        "description": format!("{initiator} opens a chat with {responder}"),
        "input": {
            "initiator_nick": initiator,
            "responder_nick": responder,
            "initiator_private": h(&i_priv),
            "responder_private": h(&r_priv),
            "initiator_identity_private": h(&i_id_priv),
            "responder_identity_private": h(&r_id_priv),
        },
        "output": {
            "initiator_public": h(&i_pub),
            "responder_public": h(&r_pub),
            "commitment": h(&commitment),
            "helo": h(&helo.to_bytes()),
            "redy": h(&redy.to_bytes()),
            "pub_key": h(&pub_key.to_bytes()),
            "shared_secret": h(&*shared),
            "transcript_hash": h(&th),
            "prk": h(&*KeySchedule::dangerous_prk(&th, &shared)),
            "chain_key_i2r": h(i2r),
            "chain_key_r2i": h(r2i),
            "session_id": h(schedule.session_id()),
            "safety_code": schedule.safety_code().digits(),
            "safety_code_display": schedule.safety_code().to_string(),
            "fingerprint": schedule.fingerprint().to_string(),
            "initiator_identity_public": h(i_id.public()),
            "responder_identity_public": h(r_id.public()),
            "identity_dh_i2r": h(&*dh_i2r),
            "identity_dh_r2i": h(&*dh_r2i),
            "identity_mac_i2r": h(&*mac_i2r),
            "identity_mac_r2i": h(&*mac_r2i),
            "identity_inner_i2r": inner_hex(&inner(&i_id, &mac_i2r)),
            "identity_inner_r2i": inner_hex(&inner(&r_id, &mac_r2i)),
            "identity_record_i2r": record_hex(&i_identity),
            "identity_record_r2i": record_hex(&r_identity),
            "identity_fingerprint": fp.to_string(),
        }
    });
    Handshake {
        json,
        schedule,
        initiator_public: i_pub,
        responder_public: r_pub,
        transcript_hash: th,
        initiator_private: i_priv,
        initiator_identity_private: i_id_priv,
    }
}

/// §4.7: first records of the responder that the initiator of `main` must refuse, each sealed
/// as record 0 of the responder's direction; each ends the chat with REJ HANDSHAKE_FAILED.
fn identity_failures(main: &Handshake, rng: &mut ChaCha20Rng) -> Vec<Value> {
    let (_, r2i) = main.schedule.dangerous_chain_keys();
    let ours = identity(rng);
    let theirs = identity(rng);
    let dh = EphemeralKeyPair::from_private_bytes(main.initiator_private)
        .diffie_hellman(ours.public())
        .unwrap();
    let good_mac = key_schedule::identity_mac(
        &main.transcript_hash,
        &dh,
        Direction::ResponderToInitiator,
        ours.public(),
    )
    .unwrap();
    let cases = [
        (
            "IDENTITY whose key was swapped for another; the MAC is the original key's (a relay in the middle cannot make the MAC of a key it does not hold)",
            InnerMessage::Identity {
                identity_key: *theirs.public(),
                mac: *good_mac,
            },
        ),
        (
            "IDENTITY with the last MAC byte changed",
            InnerMessage::Identity {
                identity_key: *ours.public(),
                mac: {
                    let mut m = *good_mac;
                    m[31] ^= 1;
                    m
                },
            },
        ),
        (
            "IDENTITY with the initiator-to-responder MAC (the wrong direction's label)",
            InnerMessage::Identity {
                identity_key: *ours.public(),
                mac: *key_schedule::identity_mac(
                    &main.transcript_hash,
                    &dh,
                    Direction::InitiatorToResponder,
                    ours.public(),
                )
                .unwrap(),
            },
        ),
        (
            "IDENTITY with a low-order identity key (the identity DH is zero)",
            InnerMessage::Identity {
                identity_key: [0; 32],
                mac: [0; 32],
            },
        ),
        (
            "a first record that is MSG, not IDENTITY",
            InnerMessage::Msg { text: "hi".into() },
        ),
    ];
    let rej = PeerMessage::Rej {
        reason: RejectReason::HandshakeFailed,
    };
    cases
        .into_iter()
        .map(|(desc, inner)| {
            let mut tx = SendChain::new(ChainKey::new(*r2i));
            let record = tx.seal(&inner.encode_padded()).unwrap();
            // Checked against a live initiator of the first handshake, waiting for it.
            let (mut a, _) = Session::initiate_with(
                nick("alice"),
                nick("bob"),
                Arc::new(IdentityKeyPair::from_private_bytes(
                    main.initiator_identity_private,
                )),
                EphemeralKeyPair::from_private_bytes(main.initiator_private),
            );
            let redy = PeerMessage::Redy {
                public_key: main.responder_public,
            };
            let _ = a.handle(redy, rng).unwrap();
            assert_eq!(a.state_name(), "ExpectIdentity");
            let step = a.handle(PeerMessage::Record(record.clone()), rng).unwrap();
            assert_eq!(step.send, vec![rej.clone()], "{desc}");
            assert_eq!(step.events, vec![Event::Ended(EndReason::HandshakeFailed)]);
            assert_eq!(a.send_message("x"), Err(SessionError::IdentityNotProven));
            json!({
                "description": desc,
                "side": "initiator",
                "inner_hex": inner_hex(&inner),
                "record": h(&PeerMessage::Record(record.clone()).to_bytes()),
                "error": "identity_not_proven",
                "reply": h(&rej.to_bytes()),
            })
        })
        .collect()
}

fn handshakes() -> (Value, Handshake) {
    let main = handshake(1, "alice", "bob", 101);
    let second = handshake(2, "Carol_1", "dave-the-2nd", 102);
    let third = handshake(3, "x", &"Y".repeat(32), 103);
    // §12.5: alice meets bob again; bob's device has another identity. Everything of the
    // ephemeral handshake is as in the first, the identity values and fingerprint are not.
    let mut changed = handshake(1, "alice", "bob", 104);
    changed.json["description"] =
        json!("alice opens a chat with bob again, and bob's identity changed since the first");

    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut negative = Vec::new();
    // §4.4: PUB_KEY that does not open the commitment.
    let mut committed = [0u8; 32];
    rng.fill_bytes(&mut committed);
    let committed = EphemeralKeyPair::from_private_bytes(committed);
    let mut other = [0u8; 32];
    rng.fill_bytes(&mut other);
    let other = EphemeralKeyPair::from_private_bytes(other);
    let helo = PeerMessage::Helo {
        version: PEER_VERSION,
        commitment: committed.commitment(),
    };
    let (mut b, _) = Session::respond(nick("bob"), nick("alice"), identity(&mut rng), &helo);
    let _ = b.accept(&mut rng).unwrap();
    let bad = PeerMessage::PubKey {
        public_key: *other.public(),
    };
    let rej = PeerMessage::Rej {
        reason: RejectReason::HandshakeFailed,
    };
    let step = b.handle(bad.clone(), &mut rng).unwrap();
    assert_eq!(step.send, vec![rej.clone()]);
    assert_eq!(b.send_message("x"), Err(SessionError::CommitmentMismatch));
    negative.push(json!({
        "description": "PUB_KEY does not open HELO's commitment: the responder aborts and answers REJ HANDSHAKE_FAILED (§4.4)",
        "side": "responder", "helo": h(&helo.to_bytes()), "pub_key": h(&bad.to_bytes()),
        "error": "commitment_mismatch", "reply": h(&rej.to_bytes()),
    }));
    // §4.4: low-order public keys in REDY.
    let low_order = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for point in low_order {
        let public_key: [u8; 32] = hex::decode(point).unwrap().try_into().unwrap();
        let (mut a, helo) =
            Session::initiate(nick("alice"), nick("bob"), identity(&mut rng), &mut rng);
        let redy = PeerMessage::Redy { public_key };
        let step = a.handle(redy.clone(), &mut rng).unwrap();
        assert_eq!(step.send, vec![rej.clone()], "{point}");
        assert_eq!(a.send_message("x"), Err(SessionError::LowOrderKey));
        negative.push(json!({
            "description": "REDY carries a low-order point: X25519 gives zero, the initiator aborts and answers REJ HANDSHAKE_FAILED instead of PUB_KEY (§4.4)",
            "side": "initiator", "helo": h(&helo.to_bytes()), "redy": h(&redy.to_bytes()),
            "error": "low_order_key", "reply": h(&rej.to_bytes()),
        }));
    }
    let json = json!({
        "section": "§4, §5",
        "handshakes": [main.json.clone(), second.json, third.json, changed.json],
        "invalid": negative,
        "invalid_identity": identity_failures(&main, &mut rng),
    });
    (json, main)
}

fn peer_messages(records_from: &[u8; 32]) -> Value {
    let mut tx = SendChain::new(ChainKey::new(*records_from));
    let record = tx.seal(&InnerMessage::End.encode_padded()).unwrap();
    let list = [
        (
            PeerMessage::Helo {
                version: PEER_VERSION,
                commitment: [0xc0; 32],
            },
            json!({ "version": PEER_VERSION, "commitment": h(&[0xc0; 32]) }),
        ),
        (
            PeerMessage::Redy {
                public_key: [0x52; 32],
            },
            json!({ "public_key": h(&[0x52; 32]) }),
        ),
        (
            PeerMessage::Rej {
                reason: RejectReason::Declined,
            },
            json!({ "reason": "DECLINED", "reason_value": 1 }),
        ),
        (
            PeerMessage::Rej {
                reason: RejectReason::Busy,
            },
            json!({ "reason": "BUSY", "reason_value": 2 }),
        ),
        (
            PeerMessage::Rej {
                reason: RejectReason::UnsupportedVersion,
            },
            json!({ "reason": "UNSUPPORTED_VERSION", "reason_value": 3 }),
        ),
        (
            PeerMessage::Rej {
                reason: RejectReason::HandshakeFailed,
            },
            json!({ "reason": "HANDSHAKE_FAILED", "reason_value": 4 }),
        ),
        (
            PeerMessage::PubKey {
                public_key: [0x49; 32],
            },
            json!({ "public_key": h(&[0x49; 32]) }),
        ),
        (
            PeerMessage::Record(record.clone()),
            json!({ "seq": record.seq, "ciphertext": h(&record.ciphertext), "tag": h(&record.tag) }),
        ),
    ];
    let messages: Vec<Value> = list
        .into_iter()
        .map(|(m, fields)| {
            assert_eq!(PeerMessage::decode(&m.to_bytes()), Ok(m.clone()));
            json!({ "name": m.name(), "fields": fields, "hex": h(&m.to_bytes()) })
        })
        .collect();
    let rec = |ct_len: usize| {
        let mut b = vec![0x20];
        b.extend_from_slice(&0u64.to_be_bytes());
        b.extend(std::iter::repeat_n(0xaa, ct_len + 32));
        b
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("unknown type 0x14", vec![0x14]),
        (
            "HELO truncated in the commitment",
            [&[0x10u8, 0, 2][..], &[0; 31]].concat(),
        ),
        (
            "REDY with a trailing byte",
            [&[0x11u8][..], &[0; 33]].concat(),
        ),
        ("REJ with unknown reason 0", vec![0x12, 0x00]),
        ("RECORD with ciphertext of 16 bytes (k = 0)", rec(16)),
        ("RECORD with ciphertext of 64 bytes (not 64k+16)", rec(64)),
        (
            "RECORD with ciphertext of 64·258+16 bytes (above MAX_PADDED_INNER)",
            rec(64 * 258 + 16),
        ),
        (
            "RECORD shorter than its tag",
            vec![0x20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2],
        ),
        // Two faults each: the first in reading order decides the kind (§2.2).
        (
            "REJ with reason 0 and a trailing byte",
            vec![0x12, 0x00, 0x01],
        ),
        ("RECORD ending inside its seq", vec![0x20, 0, 0, 0]),
    ];
    let invalid: Vec<Value> = bad
        .into_iter()
        .map(|(desc, bytes)| {
            let e = PeerMessage::decode(&bytes).unwrap_err();
            let shown = if bytes.len() > 200 { format!("{}…", h(&bytes[..64])) } else { h(&bytes) };
            json!({ "description": desc, "hex": shown, "length": bytes.len(), "error": decode_error(e) })
        })
        .collect();
    json!({ "section": "§4.1, §6.3", "messages": messages, "invalid": invalid })
}

/// A full SMP run with exponents drawn from `seed` (§8.5).
fn smp_run(seed: u64, hs: &Handshake, asker: &str, answerer: &str) -> (Value, Vec<InnerMessage>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let secret = |a: &str| {
        smp::secret(
            &hs.initiator_public,
            &hs.responder_public,
            hs.schedule.session_id(),
            a,
        )
    };
    let x = secret(asker);
    let y = secret(answerer);
    let (xv, yv) = (mpi(&x.dangerous_value()), mpi(&y.dangerous_value()));
    let r1 = smp::Step1Random::draw(&mut rng);
    let r1j = json!({ "a2": mpi(&r1.a2.dangerous_value()), "a3": mpi(&r1.a3.dangerous_value()), "r2": mpi(&r1.r2.dangerous_value()), "r3": mpi(&r1.r3.dangerous_value()) });
    let (a, m1) = smp::step1(x, r1);
    let checked = smp::check_smp1(&m1).unwrap();
    let r2 = smp::Step2Random::draw(&mut rng);
    let r2j = json!({
        "b2": mpi(&r2.b2.dangerous_value()), "b3": mpi(&r2.b3.dangerous_value()), "r2": mpi(&r2.r2.dangerous_value()),
        "r3": mpi(&r2.r3.dangerous_value()), "r4": mpi(&r2.r4.dangerous_value()), "r5": mpi(&r2.r5.dangerous_value()),
        "r6": mpi(&r2.r6.dangerous_value()),
    });
    let (b, m2) = smp::step2(&checked, y, r2);
    let r3 = smp::Step3Random::draw(&mut rng);
    let r3j = json!({ "r4": mpi(&r3.r4.dangerous_value()), "r5": mpi(&r3.r5.dangerous_value()), "r6": mpi(&r3.r6.dangerous_value()), "r7": mpi(&r3.r7.dangerous_value()) });
    let (a, m3) = smp::step3(a, &m2, r3).unwrap();
    let r4 = smp::Step4Random::draw(&mut rng);
    let r4j = json!({ "r7": mpi(&r4.r7.dangerous_value()) });
    let (answerer_matched, m4) = smp::step4(b, &m3, r4).unwrap();
    let asker_matched = smp::step5(a, &m4).unwrap();
    assert_eq!(asker_matched, answerer_matched);
    assert_eq!(asker_matched, asker.trim() == answerer.trim());

    let question = "Where did we first meet?";
    let smp0 = InnerMessage::Smp0 {
        question: question.into(),
    };
    let msg =
        |m: InnerMessage, fields: Value| json!({ "fields": fields, "inner_hex": inner_hex(&m) });
    let json = json!({
        "description": format!("asker answers {asker:?}, answerer answers {answerer:?}"),
        "binding": {
            "initiator_public": h(&hs.initiator_public),
            "responder_public": h(&hs.responder_public),
            "session_id": h(hs.schedule.session_id()),
        },
        "question": question,
        "asker_answer": asker,
        "answerer_answer": answerer,
        "x": xv,
        "y": yv,
        "smp0": { "inner_hex": inner_hex(&smp0) },
        "step1_random": r1j,
        "smp1": msg(InnerMessage::Smp1(m1.clone()), json!({ "g2a": mpi(&m1.g2a), "c2": mpi(&m1.c2), "d2": mpi(&m1.d2), "g3a": mpi(&m1.g3a), "c3": mpi(&m1.c3), "d3": mpi(&m1.d3) })),
        "step2_random": r2j,
        "smp2": msg(InnerMessage::Smp2(m2.clone()), json!({
            "g2b": mpi(&m2.g2b), "c2": mpi(&m2.c2), "d2": mpi(&m2.d2), "g3b": mpi(&m2.g3b), "c3": mpi(&m2.c3), "d3": mpi(&m2.d3),
            "pb": mpi(&m2.pb), "qb": mpi(&m2.qb), "cp": mpi(&m2.cp), "d5": mpi(&m2.d5), "d6": mpi(&m2.d6),
        })),
        "step3_random": r3j,
        "smp3": msg(InnerMessage::Smp3(m3.clone()), json!({
            "pa": mpi(&m3.pa), "qa": mpi(&m3.qa), "cp": mpi(&m3.cp), "d5": mpi(&m3.d5), "d6": mpi(&m3.d6),
            "ra": mpi(&m3.ra), "cr": mpi(&m3.cr), "d7": mpi(&m3.d7),
        })),
        "step4_random": r4j,
        "smp4": msg(InnerMessage::Smp4(m4.clone()), json!({ "rb": mpi(&m4.rb), "cr": mpi(&m4.cr), "d7": mpi(&m4.d7) })),
        "answerer_result": if answerer_matched { "matched" } else { "mismatched" },
        "asker_result": if asker_matched { "matched" } else { "mismatched" },
    });
    let messages = vec![
        smp0,
        InnerMessage::Smp1(m1),
        InnerMessage::Smp2(m2),
        InnerMessage::Smp3(m3),
        InnerMessage::Smp4(m4),
    ];
    (json, messages)
}

/// §8.2: answers that must give the same secret, and edges of `White_Space`.
fn answer_normalization(hs: &Handshake) -> Value {
    let cases = [
        ("Zürich, precomposed (U+00FC)", "Z\u{fc}rich"),
        (
            "Zürich, decomposed (u + U+0308): the same secret",
            "Zu\u{308}rich",
        ),
        (
            "U+0085 NEXT LINE around the answer is White_Space: trimmed",
            "\u{85}rex\u{85}",
        ),
        (
            "tab, ideographic space and no-break space are trimmed",
            "\t\u{3000}rex\u{a0}",
        ),
        (
            "U+001F UNIT SEPARATOR is not White_Space: kept",
            "\u{1f}rex",
        ),
        (
            "U+200B ZERO WIDTH SPACE is not White_Space: kept",
            "\u{200b}rex",
        ),
        ("case counts", "Rex"),
        ("inner spaces count", "r ex"),
    ];
    let secret = |answer: &str| {
        smp::secret(
            &hs.initiator_public,
            &hs.responder_public,
            hs.schedule.session_id(),
            answer,
        )
    };
    Value::Array(
        cases
            .iter()
            .map(|(description, answer)| {
                json!({
                    "description": description,
                    "answer_hex": hex::encode(answer.as_bytes()),
                    "normalized_hex": hex::encode(smp::normalize_answer(answer).as_bytes()),
                    "secret": mpi(&secret(answer).dangerous_value()),
                })
            })
            .collect(),
    )
}

fn smp_vectors(hs: &Handshake) -> (Value, Vec<InnerMessage>) {
    let (equal, messages) = smp_run(10, hs, "the lake", "  the lake ");
    let (different, _) = smp_run(11, hs, "the lake", "The Lake");
    // A forged proof: SMP1 with c2 + 1 must be refused by the answerer (§8.5 step 2).
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let x = smp::secret(
        &hs.initiator_public,
        &hs.responder_public,
        hs.schedule.session_id(),
        "a",
    );
    let (_, mut forged) = smp::step1(x, smp::Step1Random::draw(&mut rng));
    forged.c2 += 1u32;
    assert_eq!(
        smp::check_smp1(&forged).unwrap_err(),
        smp::SmpError::BadProof("c2")
    );
    let mut out_of_range = forged.clone();
    out_of_range.c2 -= 1u32;
    out_of_range.g3a = BigUint::from(1u32);
    assert!(smp::check_smp1(&out_of_range).is_err());
    // §8.1: g2a replaced by p - g2a, a quadratic non-residue; the proof still verifies because
    // c2 is even, so only the subgroup check refuses it.
    let non_residue = (13..)
        .map(|seed| {
            let x = smp::secret(
                &hs.initiator_public,
                &hs.responder_public,
                hs.schedule.session_id(),
                "a",
            );
            smp::step1(
                x,
                smp::Step1Random::draw(&mut ChaCha20Rng::seed_from_u64(seed)),
            )
            .1
        })
        .find(|m1| !m1.c2.bit(0))
        .map(|m1| smp::Smp1 {
            g2a: smp::prime() - &m1.g2a,
            ..m1
        })
        .unwrap();
    assert_eq!(
        smp::check_smp1(&non_residue).unwrap_err(),
        smp::SmpError::NotInSubgroup("g2a")
    );
    let json = json!({
        "section": "§8",
        "group": { "p": mpi(&smp::prime()), "q": mpi(&smp::subgroup_order()), "g": 2 },
        "runs": [equal, different],
        "invalid_smp1": [
            { "description": "c2 does not match its proof (forged)", "inner_hex": inner_hex(&InnerMessage::Smp1(forged)), "error": "bad_proof" },
            { "description": "g3a = 1 is not a group element", "inner_hex": inner_hex(&InnerMessage::Smp1(out_of_range)), "error": "invalid_group_element" },
            { "description": "g2a = p - g1^a2 is outside the subgroup of order q; its proof verifies (c2 is even)", "inner_hex": inner_hex(&InnerMessage::Smp1(non_residue)), "error": "not_in_subgroup" },
        ],
        "answer_normalization": answer_normalization(hs),
    });
    (json, messages)
}

fn inner_messages(smp_messages: &[InnerMessage]) -> Value {
    let mut list = vec![
        (
            InnerMessage::Msg {
                text: "hello".into(),
            },
            json!({ "text": "hello" }),
        ),
        (
            InnerMessage::Msg {
                text: "naïve ✓ 🙂".into(),
            },
            json!({ "text": "naïve ✓ 🙂" }),
        ),
        (
            InnerMessage::Typing(TypingState::Typing),
            json!({ "state": 0 }),
        ),
        (
            InnerMessage::Typing(TypingState::StoppedEmpty),
            json!({ "state": 1 }),
        ),
        (
            InnerMessage::Typing(TypingState::StoppedWithText),
            json!({ "state": 2 }),
        ),
        (InnerMessage::Ack { seq: 258 }, json!({ "seq": 258 })),
        (
            InnerMessage::Identity {
                identity_key: [0x1d; 32],
                mac: [0x3a; 32],
            },
            json!({ "identity_key": h(&[0x1d; 32]), "mac": h(&[0x3a; 32]) }),
        ),
        (InnerMessage::SmpAbort, json!({})),
        (InnerMessage::End, json!({})),
    ];
    list.extend(
        smp_messages
            .iter()
            .take(2)
            .map(|m| (m.clone(), json!({ "see": "smp.json" }))),
    );
    let messages: Vec<Value> = list
        .into_iter()
        .map(|(m, fields)| {
            let padded = m.encode_padded();
            assert_eq!(InnerMessage::decode_padded(&padded), Ok(m.clone()));
            json!({ "name": m.name(), "fields": fields, "hex": inner_hex(&m), "padded_hex": h(&padded) })
        })
        .collect();
    let pad = |b: &[u8]| {
        let mut v = b.to_vec();
        v.resize(b.len().next_multiple_of(64), 0);
        v
    };
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("MSG with empty text", pad(&[0x01, 0x00, 0x00])),
        (
            "MSG with 16385 bytes of text",
            pad(&[&[0x01u8, 0x40, 0x01][..], &vec![b'x'; 16385]].concat()),
        ),
        (
            "MSG with invalid UTF-8",
            pad(&[0x01, 0x00, 0x02, 0xc3, 0x28]),
        ),
        ("TYPING state 3", pad(&[0x02, 0x03])),
        ("unknown type 0x05", pad(&[0x05])),
        (
            "IDENTITY with 63 of its 64 bytes (the padding of a 64-byte plaintext is all there is)",
            pad(&[0x04]),
        ),
        ("non-zero padding byte", {
            let mut v = pad(&[0x20]);
            v[63] = 1;
            v
        }),
        (
            "64 bytes of padding (at most 63)",
            [&[0x20u8][..], &[0; 127]].concat(),
        ),
        ("length 63, not a multiple of 64", vec![0x20; 63]),
        (
            "SMP4 with an MPI count of 2",
            pad(&[0x14, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            "SMP4 with an MPI with a leading zero byte",
            pad(&[0x14, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ),
        (
            "SMP4 with an MPI of 193 bytes",
            pad(&[&[0x14u8, 0, 0, 0, 3, 0, 0, 0, 193][..], &[1; 193]].concat()),
        ),
        (
            "SMP0 with a 1025-byte question",
            pad(&[&[0x10u8, 0x04, 0x01][..], &[b'q'; 1025]].concat()),
        ),
        // Two faults each: the first in reading order decides the kind (§2.2).
        (
            "MSG announcing 16385 bytes with 61 present (a length is checked when read)",
            pad(&[0x01, 0x40, 0x01]),
        ),
        (
            "SMP4 with an MPI count of 2 and a first MPI announcing 100 bytes with 55 present (invalid value first)",
            pad(&[0x14, 0, 0, 0, 2, 0, 0, 0, 100]),
        ),
        (
            "SMP4 with an MPI length of 193 and 55 bytes present (invalid value first)",
            pad(&[&[0x14u8, 0, 0, 0, 3, 0, 0, 0, 193][..], &[1; 10]].concat()),
        ),
        (
            "SMP4 whose second MPI has a leading zero and whose third announces 100 bytes with 45 present (invalid value first)",
            pad(&[0x14, 0, 0, 0, 3, 0, 0, 0, 1, 5, 0, 0, 0, 1, 0, 0, 0, 0, 100]),
        ),
        (
            "MSG with invalid UTF-8 and a non-zero padding byte (invalid UTF-8 first)",
            {
                let mut v = pad(&[0x01, 0x00, 0x02, 0xc3, 0x28]);
                v[63] = 1;
                v
            },
        ),
    ];
    let invalid: Vec<Value> = bad
        .into_iter()
        .map(|(desc, bytes)| {
            let e = InnerMessage::decode_padded(&bytes).unwrap_err();
            json!({ "description": desc, "padded_hex": h(&bytes), "error": decode_error(e) })
        })
        .collect();
    json!({ "section": "§7, §8.4", "messages": messages, "invalid": invalid })
}

fn record_entry(chain_key: &[u8; 32], inner: &InnerMessage, record: &Record) -> Value {
    let km = records::dangerous_key_material(chain_key);
    json!({
        "seq": record.seq,
        "inner": inner.name(),
        "inner_padded_hex": h(&inner.encode_padded()),
        "chain_key": h(chain_key),
        "message_key": h(&km.message_key),
        "enc_key": h(&km.enc_key),
        "mac_key": h(&km.mac_key),
        "iv": h(&km.iv),
        "record_hex": h(&PeerMessage::Record(record.clone()).to_bytes()),
    })
}

/// Seals `inners` on a fresh chain, checks the receiver opens each, and lists them.
fn sequence(first_chain_key: &[u8; 32], inners: &[InnerMessage]) -> (Vec<Value>, Vec<Record>) {
    let mut tx = SendChain::new(ChainKey::new(*first_chain_key));
    let mut rx = ReceiveChain::new(ChainKey::new(*first_chain_key));
    let mut ck = *first_chain_key;
    let (mut out, mut recs) = (Vec::new(), Vec::new());
    for inner in inners {
        let record = tx.seal(&inner.encode_padded()).unwrap();
        let opened = rx.open(&record).unwrap();
        assert_eq!(
            InnerMessage::decode_padded(&opened.plaintext).unwrap(),
            *inner
        );
        out.push(record_entry(&ck, inner, &record));
        ck = records::dangerous_key_material(&ck).next_chain_key;
        recs.push(record);
    }
    (out, recs)
}

fn records_vectors(hs: &Handshake, smp_messages: &[InnerMessage]) -> Value {
    let (i2r, r2i) = hs.schedule.dangerous_chain_keys();
    let i2r_inners = vec![
        InnerMessage::Msg {
            text: "hello bob".into(),
        },
        InnerMessage::Typing(TypingState::Typing),
        InnerMessage::Ack { seq: 0 },
        smp_messages[0].clone(),
        smp_messages[1].clone(),
        smp_messages[3].clone(),
        InnerMessage::Msg {
            text: "a longer message: ".to_string() + &"0123456789".repeat(10),
        },
        InnerMessage::SmpAbort,
        InnerMessage::End,
    ];
    let r2i_inners = vec![
        InnerMessage::Msg {
            text: "hi alice ✓".into(),
        },
        InnerMessage::Ack { seq: 0 },
        InnerMessage::Typing(TypingState::StoppedWithText),
        smp_messages[2].clone(),
        smp_messages[4].clone(),
        InnerMessage::Typing(TypingState::StoppedEmpty),
    ];
    let (i2r_list, i2r_records) = sequence(i2r, &i2r_inners);
    let (r2i_list, _) = sequence(r2i, &r2i_inners);

    // Negative cases, each on a fresh receiver of the i2r direction.
    let rec_hex = |r: &Record| h(&PeerMessage::Record(r.clone()).to_bytes());
    let outcome = |rx: &mut ReceiveChain, r: &Record| match rx.open(r) {
        Ok(o) => {
            json!({ "opened": { "deleted": o.deleted, "inner": InnerMessage::decode_padded(&o.plaintext).unwrap().name() } })
        }
        Err(RecordError::Replayed { .. }) => json!({ "rejected": "replayed" }),
        Err(RecordError::BadTag { .. }) => json!({ "rejected": "tampered" }),
        Err(RecordError::TooFarAhead { .. }) => json!({ "rejected": "too_far_ahead" }),
        Err(e) => panic!("{e}"),
    };
    let case = |desc: &str, records: Vec<Record>| {
        let mut rx = ReceiveChain::new(ChainKey::new(*i2r));
        let expect: Vec<Value> = records.iter().map(|r| outcome(&mut rx, r)).collect();
        json!({ "description": desc, "records": records.iter().map(rec_hex).collect::<Vec<_>>(), "expect": expect })
    };
    let r = &i2r_records;
    let mut bad_tag = r[0].clone();
    bad_tag.tag[31] ^= 0x01;
    let mut bad_ct = r[0].clone();
    bad_ct.ciphertext[0] ^= 0x80;
    let mut bad_seq = r[1].clone();
    bad_seq.seq = 0;
    // Records 1000 and 1001 positions ahead of the start: the edge of MAX_SKIP (§6.4).
    let mut far = SendChain::new(ChainKey::new(*i2r));
    let mut far_records = Vec::new();
    for i in 0..=1001u64 {
        let rec = far
            .seal(&InnerMessage::Ack { seq: i }.encode_padded())
            .unwrap();
        if i >= 1000 {
            far_records.push(rec);
        }
    }
    let negative = vec![
        case(
            "tag with one bit flipped: tampered; the chain stays, the genuine record opens after",
            vec![bad_tag, r[0].clone()],
        ),
        case(
            "ciphertext with one bit flipped: tampered, checked before any decryption",
            vec![bad_ct, r[0].clone()],
        ),
        case(
            "record 1 relabelled as record 0: tampered (the tag covers seq)",
            vec![bad_seq],
        ),
        case(
            "replay of record 0 after records 0 and 1",
            vec![r[0].clone(), r[1].clone(), r[0].clone()],
        ),
        case(
            "gap: record 3 right after record 0 reports 2 deleted; record 1 later is a replay",
            vec![r[0].clone(), r[3].clone(), r[1].clone()],
        ),
        case(
            "record 1001 first: more than MAX_SKIP ahead, dropped unchecked",
            vec![far_records[1].clone()],
        ),
        case(
            "record 1000 first: exactly MAX_SKIP ahead, opens with 1000 deleted",
            vec![far_records[0].clone()],
        ),
    ];
    json!({
        "section": "§6",
        "chain_key_i2r": h(i2r),
        "chain_key_r2i": h(r2i),
        "note": "chain keys come from handshakes.json's first handshake",
        "initiator_to_responder": i2r_list,
        "responder_to_initiator": r2i_list,
        "invalid": negative,
    })
}

// ---------------------------------------------------------------------------------------------

fn all_vectors() -> Vec<(&'static str, Value)> {
    let (handshakes_json, main) = handshakes();
    let (smp_json, smp_messages) = smp_vectors(&main);
    let (i2r, _) = main.schedule.dangerous_chain_keys();
    vec![
        ("frames.json", frames()),
        ("nicknames.json", nicknames()),
        ("relay_messages.json", relay_messages()),
        ("peer_messages.json", peer_messages(i2r)),
        ("handshakes.json", handshakes_json),
        ("inner_messages.json", inner_messages(&smp_messages)),
        ("records.json", records_vectors(&main, &smp_messages)),
        ("smp.json", smp_json),
    ]
}

#[test]
fn vectors_in_spec_match_what_the_generator_writes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../spec/vectors");
    let update = std::env::var_os("UPDATE_VECTORS").is_some();
    let mut drifted = Vec::new();
    for (name, value) in all_vectors() {
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "spec/vectors differ from the generator: {drifted:?}. If the wire change is intended, run \
         `UPDATE_VECTORS=1 cargo test -p cryptully-protocol --test vectors` and commit spec, code \
         and vectors together."
    );
}
