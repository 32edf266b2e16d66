#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from spec/vectors: every message, record and SMP payload of the
golden vectors becomes a starting input, so the fuzzers begin deep inside valid messages.
Usage: python3 fuzz/seed_corpus.py   (rewrites fuzz/seeds/)"""

import hashlib
import json
import pathlib
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
SEEDS = ROOT / "fuzz" / "seeds"


def load(name):
    return json.loads((VECTORS / name).read_text())


def frame(body):
    return len(body).to_bytes(4, "big") + body


def main():
    seeds = {t: [] for t in ["frames", "relay_messages", "peer_messages", "inner_messages",
                             "round_trip", "record_open", "smp_steps", "session", "relay_stream"]}
    relay = [bytes.fromhex(m["hex"]) for m in load("relay_messages.json")["messages"]]
    relay += [bytes.fromhex(m["hex"]) for m in load("relay_messages.json")["invalid"]]
    peer = [bytes.fromhex(m["hex"]) for m in load("peer_messages.json")["messages"]]
    for hs in load("handshakes.json")["handshakes"]:
        peer += [bytes.fromhex(hs["output"][k]) for k in ("helo", "redy", "pub_key")]
    records = load("records.json")
    record_bytes = [bytes.fromhex(r["record_hex"]) for d in ("initiator_to_responder", "responder_to_initiator") for r in records[d]]
    inner = [bytes.fromhex(m["padded_hex"]) for m in load("inner_messages.json")["messages"]]
    inner += [bytes.fromhex(m["hex"]) for m in load("inner_messages.json")["messages"]]
    smp = load("smp.json")

    seeds["relay_messages"] = relay
    seeds["peer_messages"] = peer + record_bytes[:3]
    seeds["inner_messages"] = inner
    seeds["round_trip"] = relay + peer + inner
    seeds["frames"] = [bytes.fromhex(v["frame"]) for v in load("frames.json")["valid"]] + [b"".join(frame(m) for m in relay[:6])]
    # record_open: mode 0 + a RECORD payload, mode 1..3 + a plaintext.
    seeds["record_open"] = [b"\x00" + r for r in record_bytes[:4]] + [b"\x01" + p for p in inner[:6]]
    for run in smp["runs"]:
        for step, key in enumerate(("smp1", "smp2", "smp3", "smp4")):
            seeds["smp_steps"].append(bytes([step]) + bytes.fromhex(run[key]["inner_hex"])[1:])
    for m in inner[:8]:
        seeds["smp_steps"].append(b"\x05" + m)
    # session: arbitrary's raw bytes; a few patterns that drive handshakes and chat.
    seeds["session"] = [bytes(range(256)), b"\x00" * 64, b"\x01\x05\x00" * 40, bytes([i % 7 for i in range(300)])]
    # relay_stream: whole client sessions as byte streams.
    hello, register = frame(bytes.fromhex("010002")), frame(bytes.fromhex("0205616c696365"))
    relay_to_watch = frame(b"\x03\x09fuzzwatch" + peer[0])
    seeds["relay_stream"] = [hello + register + relay_to_watch + frame(b"\x04" + bytes(8)) + frame(b"\x05"),
                             hello + frame(b"\x04" + bytes(8)), hello + register + frame(b"\x77"), b"\x00\x01\x00\x01"]

    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    for target, inputs in seeds.items():
        d = SEEDS / target
        d.mkdir(parents=True)
        for data in inputs:
            (d / hashlib.sha1(data).hexdigest()).write_bytes(data)
    print({t: len(v) for t, v in seeds.items()})


if __name__ == "__main__":
    main()
