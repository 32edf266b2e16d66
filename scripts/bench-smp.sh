#!/usr/bin/env bash
# Side-by-side SMP benchmark: one full OTRv3 SMP exchange (both sides, steps 1..5, equal secrets)
# with our Rust code (protocol's `smp_run` example) against python-potr's SMP with its modular
# exponentiation in GMP through gmpy2 (scripts/smp_potr.py says why that needs a nudge).
# Fresh processes of the two alternate, so drift of the machine hits both alike:
#   - ROUNDS (default 15) pairs with --runs 1: "first run in a fresh process";
#   - ROUNDS2 (default 5) pairs with --runs 30, runs 2..30 of each: "later runs".
# Prints a markdown table of medians (min-max) and ours/potr from the medians of this same run.
# Installs what it needs (PyPI, into target/bench-smp-venv) and builds in release.
# Set SMP_RUN=/path/to/binary to time that binary instead of building the example.
# Usage: [ROUNDS=15] [ROUNDS2=5] scripts/bench-smp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-15}
ROUNDS2=${ROUNDS2:-5}
LATER_RUNS=30

VENV=target/bench-smp-venv
PY=$VENV/bin/python
[ -x "$PY" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
# python-potr declares pycrypto, which no longer builds on Python 3.11 (its C code includes
# longintrepr.h). pycryptodome provides the same `Crypto` package with every name potr's SMP
# uses, so potr goes in with --no-deps next to it. gmpy2 ships manylinux wheels with GMP inside.
"${PIP[@]}" pycryptodome gmpy2
"${PIP[@]}" --no-deps python-potr==1.0.2

if [ -z "${SMP_RUN:-}" ]; then
  cargo build --release -p cryptully-protocol --example smp_run
  SMP_RUN=target/release/examples/smp_run
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# measure WHO RUNS FIRST_FILE LATER_FILE: one fresh process; its run 1 goes to FIRST_FILE (if
# any), runs 2.. to LATER_FILE (if any). Fails unless the process printed exactly RUNS runs.
measure() {
  local out
  case $1 in
    ours) out=$("$SMP_RUN" --runs "$2") ;;
    potr) out=$("$PY" scripts/smp_potr.py --runs "$2") ;;
  esac
  [ "$(grep -c '^run ' <<<"$out")" -eq "$2" ] || { echo "$1 did not print $2 runs:" >&2; echo "$out" >&2; exit 1; }
  [ -z "$3" ] || awk '$1 == "run" && $2 == 1 { print $3 }' <<<"$out" >>"$3"
  [ -z "$4" ] || awk '$1 == "run" && $2 > 1 { print $3 }' <<<"$out" >>"$4"
}

echo "first runs: $ROUNDS rounds of one fresh process each..." >&2
for r in $(seq "$ROUNDS"); do
  if ((r % 2)); then order=(ours potr); else order=(potr ours); fi
  for who in "${order[@]}"; do measure "$who" 1 "$WORK/$who.first" ""; done
done
echo "later runs: $ROUNDS2 rounds of one process with $LATER_RUNS runs each..." >&2
for r in $(seq "$ROUNDS2"); do
  if ((r % 2)); then order=(ours potr); else order=(potr ours); fi
  for who in "${order[@]}"; do measure "$who" "$LATER_RUNS" "" "$WORK/$who.later"; done
done

echo "machine: $(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - <<'EOF'
import sys, gmpy2, Crypto, importlib.metadata as md
print(f"python {sys.version.split()[0]}, gmpy2 {gmpy2.version()} ({gmpy2.mp_version()}), "
      f"python-potr {md.version('python-potr')}, pycryptodome {Crypto.__version__}")
EOF
echo
"$PY" - "$WORK" <<'EOF'
import statistics, sys
work = sys.argv[1]
def load(name):
    with open(f"{work}/{name}") as f:
        return [float(x) for x in f]
def cell(xs):
    return f"{statistics.median(xs):.3f} ({min(xs):.3f}-{max(xs):.3f})"
print("| one SMP exchange, ms | ours: median (min-max) | potr+gmpy2: median (min-max) | ours/potr |")
print("| --- | --- | --- | --- |")
for label, kind in (("first run in a fresh process", "first"), ("later runs", "later")):
    ours, potr = load(f"ours.{kind}"), load(f"potr.{kind}")
    ratio = statistics.median(ours) / statistics.median(potr)
    print(f"| {label} (n={len(ours)}/{len(potr)}) | {cell(ours)} | {cell(potr)} | {ratio:.3f} |")
EOF
