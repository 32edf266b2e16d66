//! `vectors`: checks vector files in `spec/vectors`' schema (see its README) against the
//! reference crate, vector by vector. Run on the committed files it shows the reference agrees
//! with them; run on files another implementation wrote it shows where the two differ.

use crate::{Outcome, Selection, Verdict};
use cryptully_protocol::errors::{ErrorCode, RejectReason};
use cryptully_protocol::framing::{MAX_FRAME, check_frame, split_frame};
use cryptully_protocol::handshake::PeerMessage;
use cryptully_protocol::inner::InnerMessage;
use cryptully_protocol::key_schedule::{
    self, Direction, EphemeralKeyPair, IdentityFingerprint, IdentityKeyPair, KeySchedule,
    Transcript,
};
use cryptully_protocol::records::{self, ChainKey, ReceiveChain, Record, RecordError, SendChain};
use cryptully_protocol::relay::{ClientMessage, RelayMessage};
use cryptully_protocol::session::{Session, SessionError};
use cryptully_protocol::versioning::PEER_VERSION;
use cryptully_protocol::{DecodeError, Nick, smp};
use num_bigint::BigUint;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

type Result<T> = std::result::Result<T, String>;

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key).ok_or_else(|| format!("missing field `{key}`"))
}

fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| format!("`{key}` is not a string"))
}

fn bytes(v: &Value, key: &str) -> Result<Vec<u8>> {
    hex::decode(text(v, key)?).map_err(|e| format!("`{key}`: {e}"))
}

fn array32(v: &Value, key: &str) -> Result<[u8; 32]> {
    bytes(v, key)?
        .try_into()
        .map_err(|_| format!("`{key}` is not 32 bytes"))
}

fn list<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("`{key}` is not a list"))
}

fn number(v: &Value, key: &str) -> Result<u64> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("`{key}` is not a number"))
}

fn mpi(v: &Value, key: &str) -> Result<BigUint> {
    Ok(BigUint::from_bytes_be(&bytes(v, key)?))
}

fn nick(s: &str) -> Result<Nick> {
    Nick::new(s).map_err(|e| e.to_string())
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: expected {want:?}, got {got:?}"))
    }
}

fn inner_hex(m: &InnerMessage) -> String {
    let mut out = Vec::new();
    m.encode(&mut out);
    hex::encode(out)
}

/// One vector: an id, a description and its check.
struct Check {
    id: String,
    description: String,
    run: Box<dyn Fn() -> Result<()>>,
}

fn check(id: String, description: String, run: impl Fn() -> Result<()> + 'static) -> Check {
    Check {
        id,
        description,
        run: Box::new(run),
    }
}

fn load(dir: &Path, name: &str) -> Result<Value> {
    let text = std::fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))
}

fn frames(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, case) in list(v, "valid")?.iter().enumerate() {
        let case = case.clone();
        out.push(check(
            format!("VEC-2.1-FRAME-{}", i + 1),
            "a frame splits into its body".into(),
            move || {
                let frame = bytes(&case, "frame")?;
                let split = split_frame(&frame, MAX_FRAME).map_err(|e| e.to_string())?;
                same(
                    "body",
                    split.map(|(b, _)| b.to_vec()),
                    Some(bytes(&case, "body")?),
                )
            },
        ));
    }
    for (i, case) in list(v, "invalid_length_prefix")?.iter().enumerate() {
        let case = case.clone();
        out.push(check(
            format!("VEC-2.1-FRAME-BAD-PREFIX-{}", i + 1),
            "a bad length prefix is refused from the prefix alone".into(),
            move || match check_frame(&bytes(&case, "prefix")?, MAX_FRAME) {
                Err(_) => Ok(()),
                Ok(r) => Err(format!("accepted: {r:?}")),
            },
        ));
    }
    Ok(())
}

fn nicknames(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, case) in list(v, "valid")?.iter().enumerate() {
        let case = case.clone();
        out.push(check(
            format!("VEC-3.2-NICK-VALID-{}", i + 1),
            "a valid nickname and its canonical form".into(),
            move || {
                let n = nick(text(&case, "nick")?)?;
                same(
                    "canonical",
                    n.canonical().as_str(),
                    text(&case, "canonical")?,
                )
            },
        ));
    }
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        out.push(check(
            format!("VEC-3.2-NICK-INVALID-{}", i + 1),
            "an invalid nickname is refused".into(),
            move || match Nick::from_bytes(&bytes(&case, "nick_hex")?) {
                Err(_) => Ok(()),
                Ok(n) => Err(format!("accepted {n:?}")),
            },
        ));
    }
    Ok(())
}

fn relay_from_fields(name: &str, f: &Value) -> Result<Vec<u8>> {
    let token = |f: &Value| -> Result<u64> {
        let b: [u8; 8] = bytes(f, "token")?
            .try_into()
            .map_err(|_| "token is not 8 bytes".to_string())?;
        Ok(u64::from_be_bytes(b))
    };
    Ok(match name {
        "HELLO" => ClientMessage::Hello {
            version: number(f, "version")? as u16,
        }
        .to_bytes(),
        "REGISTER" => ClientMessage::Register {
            nick: nick(text(f, "nick")?)?,
        }
        .to_bytes(),
        "RELAY" => ClientMessage::Relay {
            destination: nick(text(f, "destination")?)?,
            payload: bytes(f, "payload")?,
        }
        .to_bytes(),
        "PING" => ClientMessage::Ping { token: token(f)? }.to_bytes(),
        "BYE" => ClientMessage::Bye.to_bytes(),
        "REGISTERED" => RelayMessage::Registered {
            nick: nick(text(f, "nick")?)?,
        }
        .to_bytes(),
        "DELIVER" => RelayMessage::Deliver {
            source: nick(text(f, "source")?)?,
            payload: bytes(f, "payload")?,
        }
        .to_bytes(),
        "ERROR" => {
            let code =
                ErrorCode::from_u8(number(f, "code_value")? as u8).map_err(|e| e.to_string())?;
            let n = match field(f, "nick")? {
                Value::Null => None,
                other => Some(nick(other.as_str().unwrap_or_default())?),
            };
            RelayMessage::Error { code, nick: n }.to_bytes()
        }
        "PONG" => RelayMessage::Pong { token: token(f)? }.to_bytes(),
        "PEER_GONE" => RelayMessage::PeerGone {
            nick: nick(text(f, "nick")?)?,
        }
        .to_bytes(),
        "SHUTDOWN" => RelayMessage::Shutdown.to_bytes(),
        other => return Err(format!("unknown message {other}")),
    })
}

fn relay_messages(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, case) in list(v, "messages")?.iter().enumerate() {
        let case = case.clone();
        let name = text(&case, "name")?.to_string();
        out.push(check(
            format!("VEC-3-{}-{}", name, i + 1),
            format!("{name} encodes and decodes as listed"),
            move || {
                let want = bytes(&case, "hex")?;
                same(
                    "encoding from fields",
                    hex::encode(relay_from_fields(&name, field(&case, "fields")?)?),
                    hex::encode(&want),
                )?;
                let decoded_name = match text(&case, "direction")? {
                    "client_to_relay" => ClientMessage::decode(&want).map(|m| m.name()),
                    _ => RelayMessage::decode(&want).map(|m| m.name()),
                };
                same(
                    "decoded",
                    decoded_name.map_err(|e| e.to_string())?,
                    name.as_str(),
                )
            },
        ));
    }
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(format!("VEC-3-INVALID-{}", i + 1), desc, move || {
            let b = bytes(&case, "hex")?;
            let result = match text(&case, "direction")? {
                "client_to_relay" => ClientMessage::decode(&b).map(|_| ()),
                _ => RelayMessage::decode(&b).map(|_| ()),
            };
            refused_as(result, &case)
        }));
    }
    Ok(())
}

/// A negative vector is refused with the `error.kind` it names: the first failure in the
/// reading order of §2.2 [2.2-3].
fn refused_as(result: core::result::Result<(), DecodeError>, case: &Value) -> Result<()> {
    let want = field(case, "error")?
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("the vector has no error.kind")?;
    match result {
        Ok(()) => Err("accepted".into()),
        Err(e) if e.kind() == want => Ok(()),
        Err(e) => Err(format!(
            "refused as {} ({e}), the vector says {want}",
            e.kind()
        )),
    }
}

fn peer_messages(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, case) in list(v, "messages")?.iter().enumerate() {
        let case = case.clone();
        let name = text(&case, "name")?.to_string();
        out.push(check(
            format!("VEC-4.1-{}-{}", name, i + 1),
            format!("{name} encodes and decodes as listed"),
            move || {
                let f = field(&case, "fields")?;
                let msg = match name.as_str() {
                    "HELO" => PeerMessage::Helo {
                        version: number(f, "version")? as u16,
                        commitment: array32(f, "commitment")?,
                    },
                    "REDY" => PeerMessage::Redy {
                        public_key: array32(f, "public_key")?,
                    },
                    "PUB_KEY" => PeerMessage::PubKey {
                        public_key: array32(f, "public_key")?,
                    },
                    "REJ" => PeerMessage::Rej {
                        reason: RejectReason::from_u8(number(f, "reason_value")? as u8)
                            .map_err(|e| e.to_string())?,
                    },
                    "RECORD" => PeerMessage::Record(Record {
                        seq: number(f, "seq")?,
                        ciphertext: bytes(f, "ciphertext")?,
                        tag: array32(f, "tag")?,
                    }),
                    other => return Err(format!("unknown message {other}")),
                };
                let want = bytes(&case, "hex")?;
                same(
                    "encoding from fields",
                    hex::encode(msg.to_bytes()),
                    hex::encode(&want),
                )?;
                same(
                    "decoded",
                    PeerMessage::decode(&want).map_err(|e| e.to_string())?,
                    msg,
                )
            },
        ));
    }
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(
            format!("VEC-4.1-INVALID-{}", i + 1),
            desc,
            move || {
                let h = text(&case, "hex")?;
                let b = if h.ends_with('…') {
                    // Shortened (README): 0x20, a zero seq, then 0xaa up to `length`.
                    let length = field(&case, "length")?
                        .as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or("`length` is not a number")?;
                    let mut b = vec![0x20u8];
                    b.resize(9, 0);
                    b.resize(length.max(9), 0xaa);
                    b
                } else {
                    hex::decode(h).map_err(|e| e.to_string())?
                };
                refused_as(PeerMessage::decode(&b).map(|_| ()), &case)
            },
        ));
    }
    Ok(())
}

fn handshakes(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, hs) in list(v, "handshakes")?.iter().enumerate() {
        let hs = hs.clone();
        out.push(check(
            format!("VEC-5-HANDSHAKE-{}", i + 1),
            "every value §4-§5 derives from the four private keys, IDENTITY included (§4.7, §5.7, §5.8)".into(),
            move || {
                let input = field(&hs, "input")?;
                let o = field(&hs, "output")?;
                let ik = EphemeralKeyPair::from_private_bytes(array32(input, "initiator_private")?);
                let rk = EphemeralKeyPair::from_private_bytes(array32(input, "responder_private")?);
                let transcript = Transcript {
                    initiator: nick(text(input, "initiator_nick")?)?,
                    responder: nick(text(input, "responder_nick")?)?,
                    commitment: ik.commitment(),
                    responder_public: *rk.public(),
                    initiator_public: *ik.public(),
                };
                let shared = ik.diffie_hellman(rk.public()).map_err(|e| e.to_string())?;
                let ks =
                    KeySchedule::derive(&transcript.hash(), &shared).map_err(|e| e.to_string())?;
                let (i2r, r2i) = ks.dangerous_chain_keys();
                let got = [
                    ("initiator_public", hex::encode(ik.public())),
                    ("responder_public", hex::encode(rk.public())),
                    ("commitment", hex::encode(ik.commitment())),
                    (
                        "helo",
                        hex::encode(
                            PeerMessage::Helo {
                                version: PEER_VERSION,
                                commitment: ik.commitment(),
                            }
                            .to_bytes(),
                        ),
                    ),
                    (
                        "redy",
                        hex::encode(
                            PeerMessage::Redy {
                                public_key: *rk.public(),
                            }
                            .to_bytes(),
                        ),
                    ),
                    (
                        "pub_key",
                        hex::encode(
                            PeerMessage::PubKey {
                                public_key: *ik.public(),
                            }
                            .to_bytes(),
                        ),
                    ),
                    ("shared_secret", hex::encode(*shared)),
                    ("transcript_hash", hex::encode(transcript.hash())),
                    (
                        "prk",
                        hex::encode(*KeySchedule::dangerous_prk(&transcript.hash(), &shared)),
                    ),
                    ("chain_key_i2r", hex::encode(i2r)),
                    ("chain_key_r2i", hex::encode(r2i)),
                    ("session_id", hex::encode(ks.session_id())),
                    ("safety_code", ks.safety_code().digits()),
                    ("safety_code_display", ks.safety_code().to_string()),
                    ("fingerprint", ks.fingerprint().to_string()),
                ];
                for (key, value) in got {
                    same(key, value.as_str(), text(o, key)?)?;
                }
                // §4.7, §5.7: each side's IDENTITY, computed by its receiver's side.
                let th = transcript.hash();
                let iid = IdentityKeyPair::from_private_bytes(array32(
                    input,
                    "initiator_identity_private",
                )?);
                let rid = IdentityKeyPair::from_private_bytes(array32(
                    input,
                    "responder_identity_private",
                )?);
                let fp = IdentityFingerprint::of(
                    (&transcript.initiator, iid.public()),
                    (&transcript.responder, rid.public()),
                );
                same("identity_fingerprint", fp.to_string().as_str(), text(o, "identity_fingerprint")?)?;
                for (dir, sender, receiver, direction, chain) in [
                    ("i2r", &iid, &rk, Direction::InitiatorToResponder, i2r),
                    ("r2i", &rid, &ik, Direction::ResponderToInitiator, r2i),
                ] {
                    let who = if dir == "i2r" { "initiator" } else { "responder" };
                    let key = format!("{who}_identity_public");
                    same(&key, hex::encode(sender.public()).as_str(), text(o, &key)?)?;
                    let dh = receiver
                        .diffie_hellman(sender.public())
                        .map_err(|e| e.to_string())?;
                    let mac = key_schedule::identity_mac(&th, &dh, direction, sender.public())
                        .map_err(|e| e.to_string())?;
                    let inner = InnerMessage::Identity {
                        identity_key: *sender.public(),
                        mac: *mac,
                    };
                    let record = SendChain::new(ChainKey::new(*chain))
                        .seal(&inner.encode_padded())
                        .map_err(|e| e.to_string())?;
                    let got = [
                        (format!("identity_dh_{dir}"), hex::encode(*dh)),
                        (format!("identity_mac_{dir}"), hex::encode(*mac)),
                        (format!("identity_inner_{dir}"), {
                            let mut b = Vec::new();
                            inner.encode(&mut b);
                            hex::encode(b)
                        }),
                        (
                            format!("identity_record_{dir}"),
                            hex::encode(PeerMessage::Record(record).to_bytes()),
                        ),
                    ];
                    for (key, value) in got {
                        same(&key, value.as_str(), text(o, &key)?)?;
                    }
                }
                Ok(())
            },
        ));
    }
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(
            format!("VEC-4.4-INVALID-{}", i + 1),
            desc,
            move || {
                let helo =
                    PeerMessage::decode(&bytes(&case, "helo")?).map_err(|e| e.to_string())?;
                let mut rng = crate::TestRng(7);
                match text(&case, "error")? {
                    "commitment_mismatch" => {
                        let id = Arc::new(IdentityKeyPair::generate(&mut rng));
                        let (mut b, _) = Session::respond(nick("bob")?, nick("alice")?, id, &helo);
                        let _ = b.accept(&mut rng).map_err(|e| e.to_string())?;
                        let pk = PeerMessage::decode(&bytes(&case, "pub_key")?)
                            .map_err(|e| e.to_string())?;
                        let reply = b.handle(pk, &mut rng).map_err(|e| e.to_string())?;
                        same("reply", reply.send, vec![reply_of(&case)?])?;
                        same(
                            "then",
                            b.send_message("x").err(),
                            Some(SessionError::CommitmentMismatch),
                        )
                    }
                    _ => {
                        let id = Arc::new(IdentityKeyPair::generate(&mut rng));
                        let (mut a, _) =
                            Session::initiate(nick("alice")?, nick("bob")?, id, &mut rng);
                        let redy = PeerMessage::decode(&bytes(&case, "redy")?)
                            .map_err(|e| e.to_string())?;
                        let reply = a.handle(redy, &mut rng).map_err(|e| e.to_string())?;
                        same("reply", reply.send, vec![reply_of(&case)?])?;
                        same(
                            "then",
                            a.send_message("x").err(),
                            Some(SessionError::LowOrderKey),
                        )
                    }
                }
            },
        ));
    }
    invalid_identities(v, out)
}

/// §4.7: first records an initiator must refuse, each against a live initiator of the first
/// handshake waiting for the responder's IDENTITY.
fn invalid_identities(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    let first = list(v, "handshakes")?
        .first()
        .ok_or("no handshake")?
        .clone();
    for (i, case) in list(v, "invalid_identity")?.iter().enumerate() {
        let (case, first) = (case.clone(), first.clone());
        let desc = text(&case, "description")?.to_string();
        out.push(check(
            format!("VEC-4.7-INVALID-IDENTITY-{}", i + 1),
            desc,
            move || {
                let input = field(&first, "input")?;
                let output = field(&first, "output")?;
                let mut rng = crate::TestRng(8);
                let (mut a, _) = Session::initiate_with(
                    nick(text(input, "initiator_nick")?)?,
                    nick(text(input, "responder_nick")?)?,
                    Arc::new(IdentityKeyPair::from_private_bytes(array32(
                        input,
                        "initiator_identity_private",
                    )?)),
                    EphemeralKeyPair::from_private_bytes(array32(input, "initiator_private")?),
                );
                let redy = PeerMessage::Redy {
                    public_key: array32(output, "responder_public")?,
                };
                let _ = a.handle(redy, &mut rng).map_err(|e| e.to_string())?;
                let record =
                    PeerMessage::decode(&bytes(&case, "record")?).map_err(|e| e.to_string())?;
                let reply = a.handle(record, &mut rng).map_err(|e| e.to_string())?;
                same("reply", reply.send, vec![reply_of(&case)?])?;
                same(
                    "then",
                    a.send_message("x").err(),
                    Some(SessionError::IdentityNotProven),
                )
            },
        ));
    }
    Ok(())
}

/// The peer message an invalid handshake vector says must be sent back (§4.4: REJ).
fn reply_of(case: &Value) -> Result<PeerMessage> {
    PeerMessage::decode(&bytes(case, "reply")?).map_err(|e| e.to_string())
}

fn inner_messages(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, case) in list(v, "messages")?.iter().enumerate() {
        let case = case.clone();
        let name = text(&case, "name")?.to_string();
        out.push(check(
            format!("VEC-7-{}-{}", name, i + 1),
            format!("{name} decodes from its padded form and re-encodes"),
            move || {
                let m = InnerMessage::decode_padded(&bytes(&case, "padded_hex")?)
                    .map_err(|e| e.to_string())?;
                same("name", m.name(), name.as_str())?;
                same("hex", inner_hex(&m).as_str(), text(&case, "hex")?)?;
                same(
                    "padded",
                    hex::encode(&*m.encode_padded()).as_str(),
                    text(&case, "padded_hex")?,
                )
            },
        ));
    }
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(format!("VEC-7-INVALID-{}", i + 1), desc, move || {
            let result = InnerMessage::decode_padded(&bytes(&case, "padded_hex")?).map(|_| ());
            refused_as(result, &case)
        }));
    }
    Ok(())
}

fn records_vectors(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (direction, key, tag) in [
        ("initiator_to_responder", "chain_key_i2r", "I2R"),
        ("responder_to_initiator", "chain_key_r2i", "R2I"),
    ] {
        let first = array32(v, key)?;
        let recs = list(v, direction)?.clone();
        out.push(check(
            format!("VEC-6-RECORDS-{tag}"),
            format!("sealing the {direction} plaintexts gives exactly the listed records and keys"),
            move || {
                let mut tx = SendChain::new(ChainKey::new(first));
                let mut ck = first;
                for r in &recs {
                    let seq = number(r, "seq")?;
                    same(
                        &format!("record {seq} chain key"),
                        hex::encode(ck).as_str(),
                        text(r, "chain_key")?,
                    )?;
                    let km = records::dangerous_key_material(&ck);
                    same(
                        &format!("record {seq} message key"),
                        hex::encode(km.message_key).as_str(),
                        text(r, "message_key")?,
                    )?;
                    same(
                        &format!("record {seq} enc key"),
                        hex::encode(km.enc_key).as_str(),
                        text(r, "enc_key")?,
                    )?;
                    same(
                        &format!("record {seq} mac key"),
                        hex::encode(km.mac_key).as_str(),
                        text(r, "mac_key")?,
                    )?;
                    same(
                        &format!("record {seq} iv"),
                        hex::encode(km.iv).as_str(),
                        text(r, "iv")?,
                    )?;
                    let rec = tx
                        .seal(&bytes(r, "inner_padded_hex")?)
                        .map_err(|e| e.to_string())?;
                    same(
                        &format!("record {seq}"),
                        hex::encode(PeerMessage::Record(rec).to_bytes()).as_str(),
                        text(r, "record_hex")?,
                    )?;
                    ck = km.next_chain_key;
                }
                Ok(())
            },
        ));
    }
    let i2r = array32(v, "chain_key_i2r")?;
    for (i, case) in list(v, "invalid")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(format!("VEC-6.4-{}", i + 1), desc, move || {
            let mut rx = ReceiveChain::new(ChainKey::new(i2r));
            let records = list(&case, "records")?;
            let expect = list(&case, "expect")?;
            for (n, (r, want)) in records.iter().zip(expect).enumerate() {
                let b = hex::decode(r.as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
                let PeerMessage::Record(rec) = PeerMessage::decode(&b).map_err(|e| e.to_string())? else {
                    return Err("not a RECORD".into());
                };
                let got = match rx.open(&rec) {
                    Ok(o) => {
                        let inner = InnerMessage::decode_padded(&o.plaintext).map_err(|e| e.to_string())?;
                        serde_json::json!({ "opened": { "deleted": o.deleted, "inner": inner.name() } })
                    }
                    Err(RecordError::Replayed { .. }) => serde_json::json!({ "rejected": "replayed" }),
                    Err(RecordError::BadTag { .. }) => serde_json::json!({ "rejected": "tampered" }),
                    Err(RecordError::TooFarAhead { .. }) => serde_json::json!({ "rejected": "too_far_ahead" }),
                    Err(e) => serde_json::json!({ "error": e.to_string() }),
                };
                same(&format!("record #{n}"), &got, want)?;
            }
            Ok(())
        }));
    }
    Ok(())
}

fn secret_int(v: &Value, key: &str) -> Result<smp::SecretInt> {
    Ok(smp::SecretInt::new(mpi(v, key)?))
}

fn smp_vectors(v: &Value, out: &mut Vec<Check>) -> Result<()> {
    for (i, run) in list(v, "runs")?.iter().enumerate() {
        let run = run.clone();
        let desc = format!("SMP run: {}", text(&run, "description")?);
        out.push(check(format!("VEC-8-SMP-RUN-{}", i + 1), desc, move || {
            let b = field(&run, "binding")?;
            let secret = |answer: &str| -> Result<smp::SecretInt> {
                Ok(smp::secret(
                    &array32(b, "initiator_public")?,
                    &array32(b, "responder_public")?,
                    &array32(b, "session_id")?,
                    answer,
                ))
            };
            let (x, y) = (
                secret(text(&run, "asker_answer")?)?,
                secret(text(&run, "answerer_answer")?)?,
            );
            same("x", x.dangerous_value().clone(), mpi(&run, "x")?)?;
            same("y", y.dangerous_value().clone(), mpi(&run, "y")?)?;
            let r1 = field(&run, "step1_random")?;
            let (a, m1) = smp::step1(
                x,
                smp::Step1Random {
                    a2: secret_int(r1, "a2")?,
                    a3: secret_int(r1, "a3")?,
                    r2: secret_int(r1, "r2")?,
                    r3: secret_int(r1, "r3")?,
                },
            );
            same(
                "smp1",
                inner_hex(&InnerMessage::Smp1(m1.clone())).as_str(),
                text(field(&run, "smp1")?, "inner_hex")?,
            )?;
            let checked = smp::check_smp1(&m1).map_err(|e| e.to_string())?;
            let r2 = field(&run, "step2_random")?;
            let rand2 = smp::Step2Random {
                b2: secret_int(r2, "b2")?,
                b3: secret_int(r2, "b3")?,
                r2: secret_int(r2, "r2")?,
                r3: secret_int(r2, "r3")?,
                r4: secret_int(r2, "r4")?,
                r5: secret_int(r2, "r5")?,
                r6: secret_int(r2, "r6")?,
            };
            let (bstate, m2) = smp::step2(&checked, y, rand2);
            same(
                "smp2",
                inner_hex(&InnerMessage::Smp2(m2.clone())).as_str(),
                text(field(&run, "smp2")?, "inner_hex")?,
            )?;
            let r3 = field(&run, "step3_random")?;
            let rand3 = smp::Step3Random {
                r4: secret_int(r3, "r4")?,
                r5: secret_int(r3, "r5")?,
                r6: secret_int(r3, "r6")?,
                r7: secret_int(r3, "r7")?,
            };
            let (a, m3) = smp::step3(a, &m2, rand3).map_err(|e| e.to_string())?;
            same(
                "smp3",
                inner_hex(&InnerMessage::Smp3(m3.clone())).as_str(),
                text(field(&run, "smp3")?, "inner_hex")?,
            )?;
            let r4 = field(&run, "step4_random")?;
            let (bm, m4) = smp::step4(
                bstate,
                &m3,
                smp::Step4Random {
                    r7: secret_int(r4, "r7")?,
                },
            )
            .map_err(|e| e.to_string())?;
            same(
                "smp4",
                inner_hex(&InnerMessage::Smp4(m4.clone())).as_str(),
                text(field(&run, "smp4")?, "inner_hex")?,
            )?;
            let am = smp::step5(a, &m4).map_err(|e| e.to_string())?;
            let word = |m: bool| if m { "matched" } else { "mismatched" };
            same("answerer result", word(bm), text(&run, "answerer_result")?)?;
            same("asker result", word(am), text(&run, "asker_result")?)
        }));
    }
    let first_run = list(v, "runs")?.first().ok_or("no SMP run")?;
    let binding = field(first_run, "binding")?.clone();
    for (i, case) in list(v, "answer_normalization")?.iter().enumerate() {
        let (case, b) = (case.clone(), binding.clone());
        let desc = format!("answer normalization: {}", text(&case, "description")?);
        out.push(check(
            format!("VEC-8.2-ANSWER-{}", i + 1),
            desc,
            move || {
                let raw =
                    String::from_utf8(bytes(&case, "answer_hex")?).map_err(|e| e.to_string())?;
                let normalized = String::from_utf8(bytes(&case, "normalized_hex")?)
                    .map_err(|e| e.to_string())?;
                same(
                    "normalized",
                    smp::normalize_answer(&raw).as_str(),
                    normalized.as_str(),
                )?;
                let secret = smp::secret(
                    &array32(&b, "initiator_public")?,
                    &array32(&b, "responder_public")?,
                    &array32(&b, "session_id")?,
                    &raw,
                );
                same("secret", secret.dangerous_value(), mpi(&case, "secret")?)
            },
        ));
    }
    for (i, case) in list(v, "invalid_smp1")?.iter().enumerate() {
        let case = case.clone();
        let desc = text(&case, "description")?.to_string();
        out.push(check(
            format!("VEC-8.5-INVALID-SMP1-{}", i + 1),
            desc,
            move || match InnerMessage::decode(&bytes(&case, "inner_hex")?) {
                Ok(InnerMessage::Smp1(m)) => {
                    let want = text(&case, "error")?;
                    match smp::check_smp1(&m) {
                        Ok(_) => Err("accepted".into()),
                        Err(e) if smp_error_kind(&e) == want => Ok(()),
                        Err(e) => Err(format!(
                            "refused as {}, expected {want}",
                            smp_error_kind(&e)
                        )),
                    }
                }
                Ok(other) => Err(format!("not SMP1: {}", other.name())),
                Err(e) => Err(e.to_string()),
            },
        ));
    }
    Ok(())
}

/// The vectors' name for an SMP check failure (§8.1, §8.5).
fn smp_error_kind(e: &smp::SmpError) -> &'static str {
    match e {
        smp::SmpError::InvalidGroupElement(_) => "invalid_group_element",
        smp::SmpError::NotInSubgroup(_) => "not_in_subgroup",
        smp::SmpError::InvalidExponent(_) => "invalid_exponent",
        smp::SmpError::BadProof(_) => "bad_proof",
        _ => "other",
    }
}

fn all_checks(dir: &Path) -> (Vec<Check>, Vec<Outcome>) {
    type Loader = fn(&Value, &mut Vec<Check>) -> Result<()>;
    let files: [(&str, Loader); 8] = [
        ("frames.json", frames),
        ("nicknames.json", nicknames),
        ("relay_messages.json", relay_messages),
        ("peer_messages.json", peer_messages),
        ("handshakes.json", handshakes),
        ("inner_messages.json", inner_messages),
        ("records.json", records_vectors),
        ("smp.json", smp_vectors),
    ];
    let mut checks = Vec::new();
    let mut broken = Vec::new();
    for (name, loader) in files {
        let result = load(dir, name).and_then(|v| loader(&v, &mut checks));
        if let Err(e) = result {
            broken.push(Outcome {
                id: format!("VEC-FILE-{name}"),
                description: format!("{name} can be read in the schema of spec/vectors/README.md"),
                verdict: Verdict::Fail(e),
                duration: Default::default(),
            });
        }
    }
    (checks, broken)
}

/// Every vector's id and description.
pub fn case_ids(dir: &Path) -> Vec<(String, String)> {
    all_checks(dir)
        .0
        .into_iter()
        .map(|c| (c.id, c.description))
        .collect()
}

/// Checks every selected vector in `dir`.
pub fn run(dir: &Path, selection: &Selection) -> Vec<Outcome> {
    let (checks, mut outcomes) = all_checks(dir);
    for c in checks.into_iter().filter(|c| selection.selects(&c.id)) {
        let start = Instant::now();
        let verdict = match (c.run)() {
            Ok(()) => Verdict::Pass,
            Err(e) => Verdict::Fail(e),
        };
        outcomes.push(Outcome {
            id: c.id,
            description: c.description,
            verdict,
            duration: start.elapsed(),
        });
    }
    outcomes
}
