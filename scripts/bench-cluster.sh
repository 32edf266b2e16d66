#!/usr/bin/env bash
# Cluster benchmark of BENCHMARKS.md (issue 16, spec §14): the same load through one node of a
# cluster and split across two nodes, interleaved in one run, with the CPU each process spent.
# Starts its own nats-server (scripts/install-deps.sh installs it) and two relay nodes.
# Usage: scripts/bench-cluster.sh [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
scripts/install-deps.sh
export PATH="$PATH:/usr/sbin"
cargo build --release -p cryptully-relay --locked
RELAY=target/release/cryptully-relay
BENCH=target/release/cryptully-relay-bench
LIMITS="--rate-messages 1e9 --rate-burst 1e9 --rate-bytes 1e12 --rate-bytes-burst 1e12 --max-connections 100000"
NATS_PORT=${NATS_PORT:-14333}
A=127.0.0.1:${PORT_A:-9201}
B=127.0.0.1:${PORT_B:-9202}
STORE=$(mktemp -d)

nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$STORE" >/dev/null 2>&1 & NATS=$!
trap 'kill $NATS $PA $PB 2>/dev/null || true; rm -rf "$STORE"' EXIT
sleep 0.5
$RELAY --listen $A --cluster nats://127.0.0.1:$NATS_PORT $LIMITS >/dev/null 2>&1 & PA=$!
$RELAY --listen $B --cluster nats://127.0.0.1:$NATS_PORT $LIMITS >/dev/null 2>&1 & PB=$!
sleep 1

# CPU seconds (user + system) a process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"; }

sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

run() { # name, extra bench args
  local name=$1; shift
  local a0 b0 n0 a1 b1 n1
  a0=$(cpu $PA); b0=$(cpu $PB); n0=$(cpu $NATS)
  echo -n "$name: "
  $BENCH --relay $A "$@"
  a1=$(cpu $PA); b1=$(cpu $PB); n1=$(cpu $NATS)
  echo "$name: cpu s: node A $(sub "$a1" "$a0"), node B $(sub "$b1" "$b0"), nats-server $(sub "$n1" "$n0")"
}

MSGS=100000   # per client per direction: 10 pairs x 2 directions x 100 000 = 2 000 000 messages
for r in $(seq 1 "$ROUNDS"); do
  run "one node   r$r" --pairs 10 --messages $MSGS --prefix s$r
  run "two nodes  r$r" --relay2 $B --pairs 10 --messages $MSGS --prefix x$r
  run "one node   latency r$r" --pairs 10 --messages 20000 --rate 20000 --prefix ls$r
  run "two nodes  latency r$r" --relay2 $B --pairs 10 --messages 20000 --rate 20000 --prefix lx$r
done
