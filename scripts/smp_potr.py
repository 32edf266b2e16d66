#!/usr/bin/env python3
"""One full OTRv3 SMP exchange per run with python-potr's own SMP code (potr.crypt.SMPHandler),
both sides on one thread with equal secrets, for the side-by-side benchmark of scripts/bench-smp.sh.

Usage: smp_potr.py --runs N [--stock]
Prints `run <i> <ms>` per run: steps 1..5 (SMP1, SMP2, SMP3, SMP4 and the final check), every
proof and group check of potr included, each message encoded and parsed by potr's TLV code as on
the wire. Only the SMP work is timed: imports and the fake OTR contexts come before the clock.

python-potr 1.0.2 (the last release) never imports gmpy2: its SMP calls the builtin pow() on
Python ints, so installing gmpy2 next to it changes nothing. To measure "potr with GMP" we shadow
the name `pow` in potr.crypt with gmpy2.powmod: every one of potr's modular exponentiations (all
are 3-argument pow calls in that module) then runs in GMP, and since their results are mpz the
products and reductions after them do too. The code path is otherwise potr's own, line for line.
Without that (or with --stock, which measures potr as shipped) the script says so; a run that
should use gmpy2 but did not exits non-zero.
"""
import argparse
import sys
import time

import potr.crypt as crypt
from potr import proto

try:
    import gmpy2
except ImportError:
    gmpy2 = None

SECRET = b"the shared secret"


class FakeKey:
    """Stands in for a DSA key: the SMP only asks a key for its fingerprint (SHA-1, 20 bytes)."""

    def __init__(self, fingerprint):
        self._fp = fingerprint

    def fingerprint(self):
        return self._fp


class FakeSide:
    """The parts of potr's Context and CryptEngine that SMPHandler touches, without the AKE,
    encryption or network: sendInternal queues the TLV, encoded to bytes by potr, for the peer."""

    def __init__(self, ours, theirs, session_id):
        # CryptEngine-like: SMPHandler(crypto) reads crypto.ctx, crypto.theirPubkey, crypto.sessionId
        self.ctx = self
        self.theirPubkey = theirs
        self.sessionId = session_id
        self.user = self  # ctx.user.getPrivkey()
        self._ours = ours
        self.outbox = []
        self.trust = None
        self.smp = crypt.SMPHandler(self)

    def getPrivkey(self):
        return self._ours

    def sendInternal(self, msg, tlvs=(), appdata=None):
        self.outbox.extend(bytes(t) for t in tlvs)

    def setCurrentTrust(self, level):
        self.trust = level


def deliver(sender, receiver):
    """Moves the one message the sender just produced to the receiver, parsed by potr's TLV code."""
    assert len(sender.outbox) == 1, f"expected one message, got {len(sender.outbox)}"
    (tlv,) = proto.TLV.parse(sender.outbox.pop())
    receiver.smp.handle(tlv)
    return tlv


def one_run():
    """Returns (milliseconds, alice, bob) for one fresh SMP exchange."""
    fp_a, fp_b = bytes(range(20)), bytes(range(20, 40))
    sid = bytes(range(8))
    alice = FakeSide(FakeKey(fp_a), FakeKey(fp_b), sid)  # the asker
    bob = FakeSide(FakeKey(fp_b), FakeKey(fp_a), sid)  # the answerer

    t0 = time.perf_counter()
    alice.smp.gotSecret(SECRET)  # step 1: a2, a3 and their proofs -> SMP1
    m = deliver(alice, bob)  # bob checks SMP1, draws b2, b3, waits for his secret
    assert isinstance(m, proto.SMP1TLV) and bob.smp.state == 0
    bob.smp.gotSecret(SECRET)  # step 2: -> SMP2 (Pb, Qb, proofs)
    assert isinstance(deliver(bob, alice), proto.SMP2TLV)  # step 3: alice checks, -> SMP3
    assert isinstance(deliver(alice, bob), proto.SMP3TLV)  # step 4: bob checks, learns, -> SMP4
    assert isinstance(deliver(bob, alice), proto.SMP4TLV)  # step 5: alice checks, learns
    ms = (time.perf_counter() - t0) * 1000.0

    for side in (alice, bob):
        assert side.smp.prog == crypt.SMPPROG_SUCCEEDED, "SMP did not match"
        assert side.trust == "smp", "potr did not mark the key as SMP-verified"
        assert not side.outbox
    return ms, alice, bob


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--stock", action="store_true",
                    help="potr as shipped: builtin pow on Python ints, no gmpy2")
    args = ap.parse_args()

    if not args.stock:
        if gmpy2 is None:
            sys.exit("error: gmpy2 is not installed, so potr would use Python's builtin pow")
        crypt.pow = gmpy2.powmod  # module global shadows the builtin for every pow() in crypt.py
    uses_gmp = getattr(crypt, "pow", pow) is not pow
    if args.stock:
        print("note: --stock: potr with the builtin pow, gmpy2 not used", file=sys.stderr)

    for i in range(1, args.runs + 1):
        ms, alice, bob = one_run()
        if not args.stock:
            # Proof that the exponentiations really ran in GMP: potr's values came back as mpz.
            if not (uses_gmp and all(isinstance(s.smp.pab, gmpy2.mpz) for s in (alice, bob))):
                sys.exit("error: potr's SMP did not use gmpy2 for pow")
        print(f"run {i} {ms:.3f}", flush=True)


if __name__ == "__main__":
    main()
