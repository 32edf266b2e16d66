#!/usr/bin/env bash
# TLS benchmark of BENCHMARKS.md (issue 13, spec §15): the same relay binary serving plain TCP and
# TLS 1.3, loaded alternately by the same tool in one run, with the relay's CPU per run.
# Usage: scripts/bench-tls.sh [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
cargo build --release -p cryptully-relay --locked
RELAY=target/release/cryptully-relay
BENCH=target/release/cryptully-relay-bench
LIMITS="--rate-messages 1e9 --rate-burst 1e9 --rate-bytes 1e12 --rate-bytes-burst 1e12 --max-connections 100000"
PLAIN=${PORT_PLAIN:-9301}
TLS=${PORT_TLS:-9302}
DIR=$(mktemp -d)
LOG=$DIR/tls.log

$RELAY --listen 127.0.0.1:$PLAIN $LIMITS >/dev/null 2>&1 & PP=$!
# Off loopback the relay serves TLS, with a self-signed certificate made in $DIR.
RUST_LOG=info $RELAY --listen 0.0.0.0:$TLS --tls-dir "$DIR" $LIMITS >"$LOG" 2>&1 & PT=$!
trap 'kill $PP $PT 2>/dev/null || true; rm -rf "$DIR"' EXIT
sleep 1
PIN=$(sed -n 's/.*#sha256=\([0-9a-f]*\).*/\1/p' "$LOG" | head -1)
[ -n "$PIN" ] || { echo "the TLS relay printed no fingerprint"; cat "$LOG"; exit 1; }

cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
run() { # name, pid, bench args
  local name=$1 pid=$2; shift 2
  local c0 c1
  c0=$(cpu "$pid")
  echo -n "$name: "
  $BENCH --pid "$pid" "$@"
  c1=$(cpu "$pid")
  echo "$name: relay cpu s: $(sub "$c1" "$c0")"
}

for r in $(seq 1 "$ROUNDS"); do
  run "plain r$r" $PP --relay 127.0.0.1:$PLAIN --pairs 10 --messages 100000 --prefix p$r
  run "tls   r$r" $PT --relay 127.0.0.1:$TLS --pin "$PIN" --pairs 10 --messages 100000 --prefix t$r
done
