#!/usr/bin/env bash
# Relay benchmarks of BENCHMARKS.md: throughput, latency at a given rate, memory per idle
# connection. Builds in release, starts a relay with limits above the load, runs the load tool.
# Usage: scripts/bench-relay.sh [idle connections, default 50000]
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-50000}
PORT=${PORT:-9100}

# Two processes hold IDLE sockets each: raise the limit where the machine allows it.
ulimit -n $((IDLE + 1000)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -n)"
LIMIT=$(ulimit -n)
if [ "$IDLE" -gt $((LIMIT - 500)) ]; then
  echo "note: this machine allows $LIMIT open files per process (hard limit); idle test capped at $((LIMIT - 500)) connections instead of $IDLE"
  IDLE=$((LIMIT - 500))
fi

cargo build --release -p cryptully-relay --locked
RELAY=target/release/cryptully-relay
BENCH=target/release/cryptully-relay-bench
LIMITS="--rate-messages 1e9 --rate-burst 1e9 --rate-bytes 1e12 --rate-bytes-burst 1e12 --max-connections 1000000"

start() { $RELAY --listen 127.0.0.1:$PORT $LIMITS >/dev/null 2>&1 & PID=$!; sleep 0.5; }
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
trap 'kill $PID 2>/dev/null || true' EXIT

start
for pairs in 10 100; do
  $BENCH --relay 127.0.0.1:$PORT --pid "$PID" --pairs $pairs --messages $((4000000 / pairs)) --prefix t$pairs
done
for pairs in 10 100; do
  $BENCH --relay 127.0.0.1:$PORT --pid "$PID" --pairs $pairs --messages $((3000000 / pairs)) --rate 650000 --prefix l$pairs
done
stop

# The same latency runs with the relay on a core of its own (one worker thread on CPU 0) and the
# load tool on the other, so that neither process preempts the other.
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  taskset -c 0 $RELAY --listen 127.0.0.1:$PORT $LIMITS --threads 1 >/dev/null 2>&1 & PID=$!; sleep 0.5
  for pairs in 10 100; do
    echo -n "pinned: "
    taskset -c 1 $BENCH --relay 127.0.0.1:$PORT --pid "$PID" --pairs $pairs --messages $((3000000 / pairs)) --rate 650000 --prefix p$pairs
  done
  for pairs in 10 100; do
    echo -n "pinned: "
    taskset -c 1 $BENCH --relay 127.0.0.1:$PORT --pid "$PID" --pairs $pairs --messages $((4000000 / pairs)) --prefix q$pairs
  done
  stop
fi

for idle in 10000 "$IDLE"; do
  start
  $BENCH --relay 127.0.0.1:$PORT --pid "$PID" --idle "$idle" --prefix i$idle
  stop
done
