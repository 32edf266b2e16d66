#!/usr/bin/env python3
"""An independent check of the golden vectors, written from spec/ alone (not from the Rust code).

It re-derives every handshake (§4, §5) with its identity proofs (IDENTITY, peer version 3),
re-seals every record (§6), re-runs every SMP step (§8) from the listed exponents, and re-encodes
the relay and peer messages (§3, §4), then compares byte for byte. It shows that the spec is
enough to build the same bytes, and it is a starting point for implementers in other languages.

Usage: python3 spec/vectors/check_vectors.py   (needs the `cryptography` package)
Exit status 0 when every vector matches; 1 with a list of mismatches otherwise.
"""

import hashlib
import hmac
import json
import pathlib
import re
import sys
import unicodedata

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives import padding, serialization

HERE = pathlib.Path(__file__).parent
FAILURES = []
CHECKS = 0


def check(what, got, want):
    global CHECKS
    CHECKS += 1
    if got != want:
        FAILURES.append(f"{what}: got {got!r}, want {want!r}")


def load(name):
    return json.loads((HERE / name).read_text())


# §2 conventions -----------------------------------------------------------------------------
def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def hmac_sha256(key, *parts):
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def hkdf_extract(salt, ikm):
    return hmac_sha256(salt, ikm)


def hkdf_expand(prk, info, length):
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac_sha256(prk, block, info, bytes([i]))
        out += block
        i += 1
    return out[:length]


def len8(b):
    return bytes([len(b)]) + b


# §11: the peer protocol version (HELO) and the prefix of every label of §5 and §6. The relay
# protocol version (HELLO, §3.3) is separate and comes from the vectors' fields.
PEER_VERSION = 3


def label(name):
    return f"cryptully/{PEER_VERSION} {name}".encode()


def pad(inner):
    """§7.1: zeros up to a multiple of 64 bytes."""
    return inner + bytes(-len(inner) % 64)


# §3.2 nicknames ----------------------------------------------------------------------------
NICK = re.compile(rb"[A-Za-z0-9_-]{1,32}")


def nick_ok(b):
    return NICK.fullmatch(b) is not None


def check_nicknames():
    v = load("nicknames.json")
    for case in v["valid"]:
        check(f"nick {case['nick']}", nick_ok(case["nick"].encode()), True)
        check(f"canonical {case['nick']}", case["nick"].lower(), case["canonical"])
    for case in v["invalid"]:
        check(f"invalid nick {case['nick_hex']}", nick_ok(bytes.fromhex(case["nick_hex"])), False)


# §3 relay messages -------------------------------------------------------------------------
def encode_relay(name, f):
    nick = lambda s: len8(s.encode())
    return {
        "HELLO": lambda: b"\x01" + f.get("version", 0).to_bytes(2, "big"),
        "REGISTER": lambda: b"\x02" + nick(f["nick"]),
        "RELAY": lambda: b"\x03" + nick(f["destination"]) + bytes.fromhex(f["payload"]),
        "PING": lambda: b"\x04" + bytes.fromhex(f["token"]),
        "BYE": lambda: b"\x05",
        "REGISTERED": lambda: b"\x81" + nick(f["nick"]),
        "DELIVER": lambda: b"\x82" + nick(f["source"]) + bytes.fromhex(f["payload"]),
        "ERROR": lambda: b"\x83" + bytes([f["code_value"]]) + (nick(f["nick"]) if f["nick"] else b"\x00"),
        "PONG": lambda: b"\x84" + bytes.fromhex(f["token"]),
        "PEER_GONE": lambda: b"\x85" + nick(f["nick"]),
        "SHUTDOWN": lambda: b"\x86",
    }[name]()


def check_relay_messages():
    for m in load("relay_messages.json")["messages"]:
        check(f"relay {m['name']}", encode_relay(m["name"], m["fields"]).hex(), m["hex"])


# §4.1, §6.3 peer messages, §7 inner messages -------------------------------------------------
def encode_peer(name, f):
    h = bytes.fromhex
    return {
        "HELO": lambda: b"\x10" + f["version"].to_bytes(2, "big") + h(f["commitment"]),
        "REDY": lambda: b"\x11" + h(f["public_key"]),
        "REJ": lambda: b"\x12" + bytes([f["reason_value"]]),
        "PUB_KEY": lambda: b"\x13" + h(f["public_key"]),
        "RECORD": lambda: b"\x20" + f["seq"].to_bytes(8, "big") + h(f["ciphertext"]) + h(f["tag"]),
    }[name]()


def encode_inner(name, f):
    """The inner messages with fields of their own (SMP payloads are checked from smp.json)."""
    return {
        "MSG": lambda: b"\x01" + len(f["text"].encode()).to_bytes(2, "big") + f["text"].encode(),
        "TYPING": lambda: b"\x02" + bytes([f["state"]]),
        "ACK": lambda: b"\x03" + f["seq"].to_bytes(8, "big"),
        "IDENTITY": lambda: b"\x04" + bytes.fromhex(f["identity_key"]) + bytes.fromhex(f["mac"]),
        "SMP_ABORT": lambda: b"\x15",
        "END": lambda: b"\x20",
    }.get(name, lambda: None)()


def check_peer_and_inner_messages():
    for m in load("peer_messages.json")["messages"]:
        check(f"peer {m['name']}", encode_peer(m["name"], m["fields"]).hex(), m["hex"])
        if m["name"] == "HELO":
            check("peer HELO speaks this version", m["fields"]["version"], PEER_VERSION)
    for m in load("inner_messages.json")["messages"]:
        encoded = encode_inner(m["name"], m["fields"])
        if encoded is not None:
            check(f"inner {m['name']}", encoded.hex(), m["hex"])
        check(f"inner {m['name']} padded", pad(bytes.fromhex(m["hex"])).hex(), m["padded_hex"])


def check_cross_references():
    """records.json, smp.json and peer_messages.json build on the first handshake."""
    first = load("handshakes.json")["handshakes"][0]["output"]
    records = load("records.json")
    for key in ("chain_key_i2r", "chain_key_r2i"):
        check(f"records.json {key} is the first handshake's", records[key], first[key])
    # The RECORD of peer_messages.json is a record 0 of the first handshake's initiator -> responder
    # direction (an END, not the MSG of records.json): a fresh receiver opens it.
    for m in load("peer_messages.json")["messages"]:
        if m["name"] == "RECORD":
            outcome, _ = open_first_record(bytes.fromhex(first["chain_key_i2r"]), bytes.fromhex(m["hex"]))
            check("peer RECORD opens under the first handshake's chain_key_i2r", "opened" in outcome, True)
    for run in load("smp.json")["runs"]:
        for key in ("initiator_public", "responder_public", "session_id"):
            check(f"smp binding {key} is the first handshake's", run["binding"][key], first[key])


# §4, §5 handshake --------------------------------------------------------------------------
def x25519(private, public):
    key = X25519PrivateKey.from_private_bytes(private)
    return key.exchange(X25519PublicKey.from_public_bytes(public))


def public_of(private):
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def x25519_or_zero(private, public):
    """X25519, with the all-zero output that the library refuses (a low-order point) returned as zeros."""
    try:
        return x25519(private, public)
    except ValueError:
        return bytes(32)


IDENTITY = 0x04


def identity_key(th, dh, direction):
    """The key of an IDENTITY's MAC: HKDF(salt = TH, IKM = the identity DH), info "identity i2r|r2i"."""
    return hkdf_expand(hkdf_extract(th, dh), label(f"identity {direction}"), 32)


def identity_inner(th, dh, direction, identity_public):
    """IDENTITY, unpadded: 0x04 || identity key || HMAC-SHA256(K, identity key)."""
    return bytes([IDENTITY]) + identity_public + hmac_sha256(identity_key(th, dh, direction), identity_public)


def identity_refusal(plaintext, own_ephemeral_private, th, direction):
    """What a receiver does with the first (padded) inner message of `direction`: None when it proves
    an identity key, else why it is refused (each refusal is identity_not_proven, REJ HANDSHAKE_FAILED)."""
    if kind_of(decode_inner_padded, plaintext) is not None:
        return "malformed"
    if plaintext[0] != IDENTITY:
        return "not an IDENTITY"
    key, mac = plaintext[1:33], plaintext[33:65]
    dh = x25519_or_zero(own_ephemeral_private, key)
    if dh == bytes(32):
        return "low-order identity key"
    if not hmac.compare_digest(hmac_sha256(identity_key(th, dh, direction), key), mac):
        return "MAC does not match"
    return None


def identity_fingerprint(nick_1, key_1, nick_2, key_2):
    """SHA-256 over both (canonical nickname, identity key) pairs, smaller nickname first; six groups
    of five digits, each a 5-byte big-endian slice of the hash mod 100000."""
    (na, sa), (nb, sb) = sorted([(nick_1.lower().encode(), key_1), (nick_2.lower().encode(), key_2)],
                                key=lambda pair: pair[0])
    digest = sha256(label("identity fingerprint"), len8(na), sa, len8(nb), sb)
    return " ".join(f"{int.from_bytes(digest[5 * k:5 * k + 5], 'big') % 100000:05}" for k in range(6))


def open_first_record(chain_key, record):
    """A fresh receiver opens `record`: (outcome, padded plaintext or None)."""
    state = {"n": 0, "ck": chain_key}
    outcome = open_record(state, record)
    return outcome, state.get("plain")


def check_handshakes():
    v = load("handshakes.json")
    for hs in v["handshakes"]:
        i, o = hs["input"], hs["output"]
        ipriv, rpriv = bytes.fromhex(i["initiator_private"]), bytes.fromhex(i["responder_private"])
        ipub, rpub = public_of(ipriv), public_of(rpriv)
        iid_priv = bytes.fromhex(i["initiator_identity_private"])
        rid_priv = bytes.fromhex(i["responder_identity_private"])
        iid_pub, rid_pub = public_of(iid_priv), public_of(rid_priv)
        commitment = sha256(ipub)
        shared = x25519(ipriv, rpub)
        check("both sides agree", x25519(rpriv, ipub), shared)
        th = sha256(label("transcript"),
                    len8(i["initiator_nick"].lower().encode()), len8(i["responder_nick"].lower().encode()),
                    commitment, rpub, ipub)
        prk = hkdf_extract(th, shared)
        seed = int.from_bytes(hkdf_expand(prk, label("safety code"), 8), "big") % 1_000_000
        fp = hkdf_expand(prk, label("fingerprint"), 16).hex()
        ck_i2r, ck_r2i = hkdf_expand(prk, label("chain i2r"), 32), hkdf_expand(prk, label("chain r2i"), 32)
        # The identity DHs: each side's long-term key with the other side's ephemeral key.
        dh_i2r, dh_r2i = x25519(iid_priv, rpub), x25519(rid_priv, ipub)
        check(f"handshake {hs['description']}: identity_dh_i2r both ways", x25519(rpriv, iid_pub), dh_i2r)
        check(f"handshake {hs['description']}: identity_dh_r2i both ways", x25519(ipriv, rid_pub), dh_r2i)
        id_i2r = identity_inner(th, dh_i2r, "i2r", iid_pub)
        id_r2i = identity_inner(th, dh_r2i, "r2i", rid_pub)
        id_fp = identity_fingerprint(i["initiator_nick"], iid_pub, i["responder_nick"], rid_pub)
        got = {
            "initiator_public": ipub.hex(),
            "responder_public": rpub.hex(),
            "commitment": commitment.hex(),
            "helo": "10" + PEER_VERSION.to_bytes(2, "big").hex() + commitment.hex(),
            "redy": "11" + rpub.hex(),
            "pub_key": "13" + ipub.hex(),
            "shared_secret": shared.hex(),
            "transcript_hash": th.hex(),
            "prk": prk.hex(),
            "chain_key_i2r": ck_i2r.hex(),
            "chain_key_r2i": ck_r2i.hex(),
            "session_id": hkdf_expand(prk, label("session id"), 32).hex(),
            "safety_code": f"{seed:06}",
            "safety_code_display": f"{seed // 1000:03} {seed % 1000:03}",
            "fingerprint": " ".join(fp[k:k + 4] for k in range(0, 32, 4)),
            "initiator_identity_public": iid_pub.hex(),
            "responder_identity_public": rid_pub.hex(),
            "identity_dh_i2r": dh_i2r.hex(),
            "identity_dh_r2i": dh_r2i.hex(),
            "identity_mac_i2r": id_i2r[33:].hex(),
            "identity_mac_r2i": id_r2i[33:].hex(),
            "identity_inner_i2r": id_i2r.hex(),
            "identity_inner_r2i": id_r2i.hex(),
            # The first record of each direction (seq 0) carries that side's IDENTITY.
            "identity_record_i2r": seal(ck_i2r, 0, pad(id_i2r)).hex(),
            "identity_record_r2i": seal(ck_r2i, 0, pad(id_r2i)).hex(),
            "identity_fingerprint": id_fp,
        }
        check(f"handshake {hs['description']}: every output is re-derived", sorted(o), sorted(got))
        for key, value in got.items():
            check(f"handshake {hs['description']}: {key}", value, o.get(key))
        check(f"handshake {hs['description']}: IDENTITY is 65 bytes", (len(id_i2r), len(id_r2i)), (65, 65))
        # The other way: the receiver of each direction opens the listed record and accepts the proof.
        for direction, ck, inner, own_private in (("i2r", ck_i2r, id_i2r, rpriv), ("r2i", ck_r2i, id_r2i, ipriv)):
            what = f"handshake {hs['description']}: identity_record_{direction}"
            outcome, plain = open_first_record(ck, bytes.fromhex(o[f"identity_record_{direction}"]))
            check(f"{what} opens", outcome, {"opened": {"deleted": 0, "inner": "IDENTITY"}})
            check(f"{what} opens to the padded IDENTITY", plain, pad(inner))
            check(f"{what} decodes", kind_of(decode_inner_padded, plain or b""), None)
            listed = bytes.fromhex(o[f"identity_inner_{direction}"])
            refusal = identity_refusal(pad(listed), own_private, th, direction)
            check(f"{what} proves the identity key", refusal, None)
    # The 4th handshake repeats the 1st (same nicknames and ephemeral keys) with another responder
    # identity: the session is the same, the identity values and the identity fingerprint are not.
    first, again = v["handshakes"][0], v["handshakes"][3]
    same = ("initiator_nick", "responder_nick", "initiator_private", "responder_private",
            "initiator_identity_private")
    check("handshake 4 repeats handshake 1", [again["input"][k] for k in same], [first["input"][k] for k in same])
    check("handshake 4 has another responder identity",
          again["input"]["responder_identity_private"] != first["input"]["responder_identity_private"], True)
    for key in ("session_id", "chain_key_i2r", "chain_key_r2i", "identity_record_i2r"):
        check(f"handshake 4 keeps {key}", again["output"][key], first["output"][key])
    for key in ("responder_identity_public", "identity_dh_r2i", "identity_mac_r2i", "identity_record_r2i",
                "identity_fingerprint"):
        check(f"handshake 4 changes {key}", again["output"][key] != first["output"][key], True)
    for case in v["invalid"]:
        # §4.4 [4.4-4], §9.2: the side that finds the handshake bad answers REJ HANDSHAKE_FAILED.
        check("invalid handshake: reply is REJ HANDSHAKE_FAILED", case["reply"], "1204")
        if case["error"] == "low_order_key":
            point = bytes.fromhex(case["redy"])[1:]
            try:
                shared = x25519(bytes(range(32)), point)
                zero = shared == bytes(32)
            except ValueError:  # the library itself refuses an all-zero result
                zero = True
            check(f"low order {point.hex()[:16]}", zero, True)
        else:
            commitment = bytes.fromhex(case["helo"])[3:]
            check("commitment mismatch", sha256(bytes.fromhex(case["pub_key"])[1:]) == commitment, False)
        check("invalid handshake: HELO of this version", bytes.fromhex(case["helo"])[1:3],
              PEER_VERSION.to_bytes(2, "big"))
    # An initiator whose first record from the responder does not prove an identity key refuses it.
    # All are sealed as record 0 responder -> initiator of the first handshake.
    hs = v["handshakes"][0]
    ipriv = bytes.fromhex(hs["input"]["initiator_private"])
    th, ck_r2i = bytes.fromhex(hs["output"]["transcript_hash"]), bytes.fromhex(hs["output"]["chain_key_r2i"])
    for case in v["invalid_identity"]:
        what = f"invalid identity: {case['description']}"
        inner = bytes.fromhex(case["inner_hex"])
        check(f"{what}: side", case["side"], "initiator")
        check(f"{what}: error", case["error"], "identity_not_proven")
        check(f"{what}: sealed as record 0 r2i", seal(ck_r2i, 0, pad(inner)).hex(), case["record"])
        outcome, plain = open_first_record(ck_r2i, bytes.fromhex(case["record"]))
        check(f"{what}: record opens", "opened" in outcome, True)
        check(f"{what}: record opens to inner_hex", plain, pad(inner))
        reason = identity_refusal(plain or pad(inner), ipriv, th, "r2i")
        check(f"{what}: refused ({reason})", reason is not None, True)
        reply = bytes.fromhex(case["reply"])
        check(f"{what}: reply is REJ HANDSHAKE_FAILED", (reply, kind_of(decode_peer, reply)),
              (b"\x12\x04", None))


# §6 records --------------------------------------------------------------------------------
def record_keys(ck):
    mk = hmac_sha256(ck, b"\x01")
    keys = hkdf_expand(mk, label("record keys"), 80)
    return mk, hmac_sha256(ck, b"\x02"), keys[:32], keys[32:64], keys[64:]


def seal(ck, seq, padded):
    _, _, enc, mac, iv = record_keys(ck)
    padder = padding.PKCS7(128).padder()
    data = padder.update(padded) + padder.finalize()
    e = Cipher(algorithms.AES(enc), modes.CBC(iv)).encryptor()
    ct = e.update(data) + e.finalize()
    seq_b = seq.to_bytes(8, "big")
    return b"\x20" + seq_b + ct + hmac_sha256(mac, b"\x20", seq_b, ct)


def open_record(state, record):
    """§6.4 with a receiver state {'n': next seq, 'ck': chain key}; returns the outcome dict."""
    seq = int.from_bytes(record[1:9], "big")
    ct, tag = record[9:-32], record[-32:]
    if seq < state["n"]:
        return {"rejected": "replayed"}
    if seq - state["n"] > 1000:
        return {"rejected": "too_far_ahead"}
    ck = state["ck"]
    for _ in range(seq - state["n"]):
        ck = record_keys(ck)[1]
    _, nxt, enc, mac, iv = record_keys(ck)
    if not hmac.compare_digest(hmac_sha256(mac, b"\x20", record[1:9], ct), tag):
        return {"rejected": "tampered"}
    d = Cipher(algorithms.AES(enc), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = unpadder.update(d.update(ct) + d.finalize()) + unpadder.finalize()
    deleted = seq - state["n"]
    state["n"], state["ck"], state["plain"] = seq + 1, nxt, plain
    names = {0x01: "MSG", 0x02: "TYPING", 0x03: "ACK", 0x04: "IDENTITY", 0x10: "SMP0", 0x11: "SMP1",
             0x12: "SMP2", 0x13: "SMP3", 0x14: "SMP4", 0x15: "SMP_ABORT", 0x20: "END"}
    return {"opened": {"deleted": deleted, "inner": names[plain[0]]}}


def check_records():
    v = load("records.json")
    for direction, key in (("initiator_to_responder", "chain_key_i2r"), ("responder_to_initiator", "chain_key_r2i")):
        ck = bytes.fromhex(v[key])
        for rec in v[direction]:
            check(f"{direction} {rec['seq']} chain key", ck.hex(), rec["chain_key"])
            mk, nxt, enc, mac, iv = record_keys(ck)
            for name, value in (("message_key", mk), ("enc_key", enc), ("mac_key", mac), ("iv", iv)):
                check(f"{direction} {rec['seq']} {name}", value.hex(), rec[name])
            padded = bytes.fromhex(rec["inner_padded_hex"])
            check(f"{direction} {rec['seq']} padding", len(padded) % 64, 0)
            check(f"{direction} {rec['seq']} record", seal(ck, rec["seq"], padded).hex(), rec["record_hex"])
            ck = nxt
    for case in v["invalid"]:
        state = {"n": 0, "ck": bytes.fromhex(v["chain_key_i2r"])}
        got = [open_record(state, bytes.fromhex(r)) for r in case["records"]]
        check(f"records: {case['description']}", got, case["expect"])


# §8 SMP ------------------------------------------------------------------------------------
P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327FFFFFFFFFFFFFFFF", 16)
Q = (P - 1) // 2
G = 2


def mpi_bytes(v):
    b = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
    return len(b).to_bytes(4, "big") + b


def h(version, a, b=None):
    data = bytes([version]) + mpi_bytes(a) + (mpi_bytes(b) if b is not None else b"")
    return int.from_bytes(sha256(data), "big")


def num(s):
    return int(s, 16) if s else 0


def inner_smp(type_byte, values):
    return (bytes([type_byte]) + len(values).to_bytes(4, "big") + b"".join(mpi_bytes(v) for v in values)).hex()


def check_smp():
    v = load("smp.json")
    for run in v["runs"]:
        b = run["binding"]
        secret = lambda answer: int.from_bytes(sha256(
            b"\x01", sha256(bytes.fromhex(b["initiator_public"])), sha256(bytes.fromhex(b["responder_public"])),
            bytes.fromhex(b["session_id"]), normalize_answer(answer).encode()), "big")
        x, y = secret(run["asker_answer"]), secret(run["answerer_answer"])
        check("smp x", x, num(run["x"]))
        check("smp y", y, num(run["y"]))
        r = {k: num(val) for k, val in run["step1_random"].items()}
        g2a, g3a = pow(G, r["a2"], P), pow(G, r["a3"], P)
        c2, c3 = h(1, pow(G, r["r2"], P)), h(2, pow(G, r["r3"], P))
        d2, d3 = (r["r2"] - r["a2"] * c2) % Q, (r["r3"] - r["a3"] * c3) % Q
        check("smp1", inner_smp(0x11, [g2a, c2, d2, g3a, c3, d3]), run["smp1"]["inner_hex"])
        # Step 2: the answerer checks, then answers.
        check("smp1 proof c2", h(1, pow(G, d2, P) * pow(g2a, c2, P) % P), c2)
        s = {k: num(val) for k, val in run["step2_random"].items()}
        g2b, g3b = pow(G, s["b2"], P), pow(G, s["b3"], P)
        c2b, c3b = h(3, pow(G, s["r2"], P)), h(4, pow(G, s["r3"], P))
        d2b, d3b = (s["r2"] - s["b2"] * c2b) % Q, (s["r3"] - s["b3"] * c3b) % Q
        g2, g3 = pow(g2a, s["b2"], P), pow(g3a, s["b3"], P)
        pb, qb = pow(g3, s["r4"], P), pow(G, s["r4"], P) * pow(g2, y, P) % P
        cp = h(5, pow(g3, s["r5"], P), pow(G, s["r5"], P) * pow(g2, s["r6"], P) % P)
        d5, d6 = (s["r5"] - s["r4"] * cp) % Q, (s["r6"] - y * cp) % Q
        check("smp2", inner_smp(0x12, [g2b, c2b, d2b, g3b, c3b, d3b, pb, qb, cp, d5, d6]), run["smp2"]["inner_hex"])
        # Step 3: the asker.
        t = {k: num(val) for k, val in run["step3_random"].items()}
        g2_, g3_ = pow(g2b, r["a2"], P), pow(g3b, r["a3"], P)
        check("shared g2", g2_, g2)
        check("smp2 proof cP", h(5, pow(g3_, d5, P) * pow(pb, cp, P) % P,
                                 pow(G, d5, P) * pow(g2_, d6, P) * pow(qb, cp, P) % P), cp)
        pa, qa = pow(g3_, t["r4"], P), pow(G, t["r4"], P) * pow(g2_, x, P) % P
        cp3 = h(6, pow(g3_, t["r5"], P), pow(G, t["r5"], P) * pow(g2_, t["r6"], P) % P)
        d5_3, d6_3 = (t["r5"] - t["r4"] * cp3) % Q, (t["r6"] - x * cp3) % Q
        qa_qb = qa * pow(qb, -1, P) % P
        ra = pow(qa_qb, r["a3"], P)
        cr = h(7, pow(G, t["r7"], P), pow(qa_qb, t["r7"], P))
        d7 = (t["r7"] - r["a3"] * cr) % Q
        check("smp3", inner_smp(0x13, [pa, qa, cp3, d5_3, d6_3, ra, cr, d7]), run["smp3"]["inner_hex"])
        # Step 4: the answerer.
        u = {k: num(val) for k, val in run["step4_random"].items()}
        rb = pow(qa_qb, s["b3"], P)
        cr4 = h(8, pow(G, u["r7"], P), pow(qa_qb, u["r7"], P))
        d7_4 = (u["r7"] - s["b3"] * cr4) % Q
        check("smp4", inner_smp(0x14, [rb, cr4, d7_4]), run["smp4"]["inner_hex"])
        pa_pb = pa * pow(pb, -1, P) % P
        check("answerer result", "matched" if pow(ra, s["b3"], P) == pa_pb else "mismatched", run["answerer_result"])
        check("asker result", "matched" if pow(rb, r["a3"], P) == pa_pb else "mismatched", run["asker_result"])


def smp1_error(inner_hex):
    """§8.1 and §8.5 step 2, from the spec: the first check an SMP1 fails, or None."""
    body = bytes.fromhex(inner_hex)
    if body[0] != 0x11 or int.from_bytes(body[1:5], "big") != 6:
        return "malformed"
    values, at = [], 5
    for _ in range(6):
        n = int.from_bytes(body[at:at + 4], "big")
        values.append(int.from_bytes(body[at + 4:at + 4 + n], "big"))
        at += 4 + n
    g2a, c2, d2, g3a, c3, d3 = values
    for x in (g2a, g3a):
        if not 2 <= x <= P - 2:
            return "invalid_group_element"
        if pow(x, Q, P) != 1:
            return "not_in_subgroup"
    for d in (d2, d3):
        if not 1 <= d < Q:
            return "invalid_exponent"
    if c2 != h(1, pow(G, d2, P) * pow(g2a, c2, P) % P) or c3 != h(2, pow(G, d3, P) * pow(g3a, c3, P) % P):
        return "bad_proof"
    return None


# §8.2: the 25 code points with the Unicode property White_Space (PropList.txt). Python's
# str.strip() uses a different set (it strips U+001C..U+001F, which are not White_Space).
WHITE_SPACE = set(map(chr, [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                            0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))


def normalize_answer(answer):
    """§8.2: trim White_Space at both ends, then NFC."""
    return unicodedata.normalize("NFC", answer.strip("".join(WHITE_SPACE)))


def check_smp_group_and_invalid():
    v = load("smp.json")
    check("smp group p", num(v["group"]["p"]), P)
    check("smp group q", num(v["group"]["q"]), Q)
    check("smp group g", v["group"]["g"], G)
    for case in v["invalid_smp1"]:
        check("invalid smp1: " + case["description"], smp1_error(case["inner_hex"]), case["error"])
    for run in v["runs"]:
        check("valid smp1 passes every check", smp1_error(run["smp1"]["inner_hex"]), None)
    b = v["runs"][0]["binding"]
    for case in v["answer_normalization"]:
        answer = bytes.fromhex(case["answer_hex"]).decode()
        normalized = normalize_answer(answer)
        check("answer normalized: " + case["description"], normalized.encode().hex(), case["normalized_hex"])
        secret = int.from_bytes(sha256(
            b"\x01", sha256(bytes.fromhex(b["initiator_public"])), sha256(bytes.fromhex(b["responder_public"])),
            bytes.fromhex(b["session_id"]), normalized.encode()), "big")
        check("answer secret: " + case["description"], secret, num(case["secret"]))


# §2.2 decoding, and which error a refused body gets ------------------------------------------
class Refused(Exception):
    """A body refused with a decode error `kind` (spec/vectors/README.md)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


class Reader:
    """Reads fields left to right; the first failure is the error (§2.2, "Which error")."""

    def __init__(self, body):
        self.body, self.at = body, 0

    def take(self, n):
        if self.at + n > len(self.body):
            raise Refused("truncated")
        self.at += n
        return self.body[self.at - n:self.at]

    def uint(self, size):
        return int.from_bytes(self.take(size), "big")

    def nick(self, optional=False):
        n = self.uint(1)
        if optional and n == 0:
            return None
        if not nick_ok(self.take(n)):
            raise Refused("invalid_nick")

    def text16(self, lo, hi):
        n = self.uint(2)
        if not lo <= n <= hi:  # a bounded length is checked as soon as it is read
            raise Refused("invalid_value")
        try:
            self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("invalid_utf8") from None

    def value(self, size, valid):
        if self.uint(size) not in valid:
            raise Refused("invalid_value")

    def rest(self):
        if self.at == len(self.body):
            raise Refused("truncated")
        self.at = len(self.body)

    def remaining(self):
        return len(self.body) - self.at

    def finish(self):
        if self.at != len(self.body):
            raise Refused("trailing_bytes")


def decode_type(r, layouts):
    if r.remaining() == 0:
        raise Refused("empty")
    t = r.uint(1)
    if t not in layouts:
        raise Refused("unknown_type")
    layouts[t](r)


def decode_relay(body, to_relay, codes):
    r = Reader(body)
    both = {
        "c": {0x01: lambda r: r.uint(2), 0x02: lambda r: r.nick(), 0x03: lambda r: (r.nick(), r.rest()),
              0x04: lambda r: r.uint(8), 0x05: lambda r: None},
        "r": {0x81: lambda r: r.nick(), 0x82: lambda r: (r.nick(), r.rest()),
              0x83: lambda r: (r.value(1, codes), r.nick(optional=True)), 0x84: lambda r: r.uint(8),
              0x85: lambda r: r.nick(), 0x86: lambda r: None},
    }
    decode_type(r, both["c" if to_relay else "r"])
    r.finish()


def record(r):
    r.uint(8)
    c = r.remaining() - 32
    if c < 0:
        raise Refused("truncated")
    if not (80 <= c <= 16448 + 16 and (c - 16) % 64 == 0):
        raise Refused("invalid_value")
    r.take(c + 32)


def decode_peer(body):
    r = Reader(body)
    decode_type(r, {0x10: lambda r: r.take(2 + 32), 0x11: lambda r: r.take(32),
                    0x12: lambda r: r.value(1, {1, 2, 3, 4}), 0x13: lambda r: r.take(32), 0x20: record})
    r.finish()


def mpis(count):
    def read(r):
        r.value(4, {count})
        for _ in range(count):
            n = r.uint(4)
            if n > 192:
                raise Refused("invalid_value")
            if r.take(n)[:1] == b"\x00":
                raise Refused("invalid_value")
    return read


INNER = {0x01: lambda r: r.text16(1, 16384), 0x02: lambda r: r.value(1, {0, 1, 2}), 0x03: lambda r: r.uint(8),
         0x04: lambda r: (r.take(32), r.take(32)),  # IDENTITY: identity key, MAC
         0x10: lambda r: r.text16(0, 1024), 0x11: mpis(6), 0x12: mpis(11), 0x13: mpis(8), 0x14: mpis(3),
         0x15: lambda r: None, 0x20: lambda r: None}


def decode_inner_padded(plaintext):
    if len(plaintext) == 0 or len(plaintext) % 64 or len(plaintext) > 16448:
        raise Refused("invalid_value")
    r = Reader(plaintext)
    decode_type(r, INNER)
    padding = plaintext[r.at:]
    if len(padding) >= 64 or any(padding):
        raise Refused("invalid_value")


def kind_of(decode, *args):
    try:
        decode(*args)
        return None
    except Refused as e:
        return e.kind


def check_decode_error_kinds():
    relay = load("relay_messages.json")
    codes = {c["value"] for c in relay["error_codes"]}
    for m in relay["messages"]:
        to_relay = m["hex"][:2] < "80"
        check(f"relay {m['name']} decodes", kind_of(decode_relay, bytes.fromhex(m["hex"]), to_relay, codes), None)
    for m in relay["invalid"]:
        body = bytes.fromhex(m["hex"])
        got = kind_of(decode_relay, body, m["direction"] == "client_to_relay", codes)
        check(f"relay invalid {m['description']}", got, m["error"]["kind"])
    peer = load("peer_messages.json")
    for m in peer["messages"]:
        check(f"peer {m.get('name', m['hex'][:2])} decodes", kind_of(decode_peer, bytes.fromhex(m["hex"])), None)
    for m in peer["invalid"]:
        body = bytes.fromhex(m["hex"].rstrip("…"))
        if m["hex"].endswith("…"):  # shortened: 0x20, a zero seq, then 0xaa up to `length` (README)
            body = b"\x20" + bytes(8) + b"\xaa" * (int(m["length"]) - 9)
        check(f"peer invalid {m['description']}", kind_of(decode_peer, body), m["error"]["kind"])
    inner = load("inner_messages.json")
    for m in inner["messages"]:
        got = kind_of(decode_inner_padded, bytes.fromhex(m["padded_hex"]))
        check(f"inner {m.get('name', '')} decodes", got, None)
    for m in inner["invalid"]:
        got = kind_of(decode_inner_padded, bytes.fromhex(m["padded_hex"]))
        check(f"inner invalid {m['description']}", got, m["error"]["kind"])


def main():
    for part in (check_nicknames, check_relay_messages, check_peer_and_inner_messages, check_handshakes,
                 check_records, check_smp, check_smp_group_and_invalid, check_decode_error_kinds,
                 check_cross_references):
        part()
    if FAILURES:
        print(f"{len(FAILURES)} failed, {CHECKS - len(FAILURES)} passed")
        print("\n".join(FAILURES))
        return 1
    print(f"{CHECKS} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
