#!/usr/bin/env bash
# The relay against ngIRCd (a C IRC server) with one load tool in one run (issue 13): the same
# pairs, window, payload size and timing, `cryptully-relay-bench` speaking Cryptully to the relay
# and IRC (NICK/USER, PRIVMSG to the partner) to ngIRCd. Installs ngircd with apt if missing.
# Usage: scripts/bench-irc.sh [rounds, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
if ! command -v ngircd >/dev/null 2>&1 && [ ! -x /usr/sbin/ngircd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ngircd >/dev/null
fi
export PATH="$PATH:/usr/sbin"
cargo build --release -p cryptully-relay --locked
RELAY=target/release/cryptully-relay
BENCH=target/release/cryptully-relay-bench
LIMITS="--rate-messages 1e9 --rate-burst 1e9 --rate-bytes 1e12 --rate-bytes-burst 1e12 --max-connections 100000"
RP=${PORT_RELAY:-9401}
IP=${PORT_IRC:-9402}
DIR=$(mktemp -d)
# No flood penalties (MaxPenaltyTime = 0), no connection limits, no DNS/ident lookups, nicknames
# as long as the tool's: ngIRCd at its fastest.
cat >"$DIR/ngircd.conf" <<CONF
[Global]
Name = bench.irc.local
Info = benchmark
Listen = 127.0.0.1
Ports = $IP
PidFile = $DIR/ngircd.pid
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxNickLength = 32
MaxPenaltyTime = 0
PingTimeout = 600
PongTimeout = 600
[Options]
DNS = no
Ident = no
PAM = no
CONF

$RELAY --listen 127.0.0.1:$RP $LIMITS >/dev/null 2>&1 & PR=$!
ngircd -n -f "$DIR/ngircd.conf" >"$DIR/ngircd.log" 2>&1 & PI=$!
trap 'kill $PR $PI 2>/dev/null || true; rm -rf "$DIR"' EXIT
sleep 1

for pairs in 10 100; do
  for r in $(seq 1 "$ROUNDS"); do
    echo -n "relay  pairs=$pairs r$r: "
    $BENCH --relay 127.0.0.1:$RP --pid $PR --pairs $pairs --messages $((2000000 / pairs)) --prefix c$pairs$r
    echo -n "ngircd pairs=$pairs r$r: "
    $BENCH --irc --relay 127.0.0.1:$IP --pid $PI --pairs $pairs --messages $((2000000 / pairs)) --prefix i$pairs$r
  done
done
