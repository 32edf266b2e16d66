#!/usr/bin/env bash
# The desktop client's memory with one live chat of N messages (default 10 000), measured on the
# real release binary in a real window under Xvfb: a relay, the GUI as "alice", and the terminal
# chat (cryptully-peer --nick bob) sending N messages to her, all acknowledged before measuring.
# Prints the GUI's resident memory connected and idle, after the messages, and after scrolling
# through them. Installs what it needs (Debian packages) and builds in release.
# Also measures the cold start: launch to the window being shown, five times.
# Usage: scripts/bench-client.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
PORT=9000 # the client's default relay address; nothing else may listen there

need=()
for tool in Xvfb xdotool; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xdotool
fi
cargo build --release --locked -p cryptully-client-iced -p cryptully-relay -p cryptully-conformance \
  --bin cryptully --bin cryptully-relay --bin cryptully-peer
T=target/release
WORK=$(mktemp -d)
export DISPLAY=:96 ICED_BACKEND=tiny-skia
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

rss() { awk -v k="$2" '$1 == k":" { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"; }
wait_for() { # wait_for FILE PATTERN SECONDS
  for _ in $(seq "$(($3 * 10))"); do grep -q "$2" "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1
}

Xvfb "$DISPLAY" -screen 0 1000x700x24 -nolisten tcp >/dev/null 2>&1 & PIDS+=($!)
sleep 1
# No rate limit: this measures the client, not the relay's flood protection.
"$T/cryptully-relay" --listen "127.0.0.1:$PORT" --rate-messages 1e9 --rate-burst 1e9 \
  --rate-bytes 1e12 --rate-bytes-burst 1e12 2>"$WORK/relay.log" & PIDS+=($!)
wait_for "$WORK/relay.log" "listening" 10

# A new user each time: its own settings (the app remembers the last nickname) and data.
as_new_user() { # as_new_user DIR ARGS...
  local dir=$1; shift
  XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" XDG_STATE_HOME="$dir/state" \
    XDG_CACHE_HOME="$dir/cache" "$T/cryptully" "$@" &
}

# Cold start (issue 15's target: under 0.2 s to the first frame): launch to the window being
# shown, polled every 5 ms. iced shows the window once its first interface is built, and draws
# the first frame right after (one frame is ~5 ms here, `cargo bench --bench view`).
printf "cold start to a shown window:"
for run in 1 2 3 4 5; do
  S=$(date +%s%N)
  as_new_user "$WORK/start$run"; P=$!
  for _ in $(seq 2000); do # at most about 10 s
    xdotool search --onlyvisible --name "^Cryptully" >/dev/null 2>&1 && break
    sleep 0.005
  done
  xdotool search --onlyvisible --name "^Cryptully" >/dev/null 2>&1 || { echo "the GUI did not start" >&2; exit 1; }
  E=$(date +%s%N)
  printf " %d ms" $(((E - S) / 1000000))
  [ "$run" = 1 ] && FIRST_RSS=$(rss $P VmRSS)
  kill "$P"; wait "$P" 2>/dev/null || true
  while xdotool search --name "^Cryptully" >/dev/null 2>&1; do sleep 0.05; done
done
echo "; RSS then: $FIRST_RSS"

as_new_user "$WORK/alice"; GUI=$!; PIDS+=($GUI)
A=$(xdotool search --sync --name "^Cryptully" | head -1)
xdotool windowfocus --sync "$A"; xdotool type --delay 15 alice; xdotool key Return
sleep 2
echo "connected, no chats:          RSS $(rss $GUI VmRSS)"

mkfifo "$WORK/in"
"$T/cryptully-peer" --nick bob --relay "127.0.0.1:$PORT" <"$WORK/in" >"$WORK/bob.out" & PIDS+=($!)
exec 3>"$WORK/in"
wait_for "$WORK/bob.out" "registered as bob" 10
xdotool windowfocus --sync "$A"; xdotool type --delay 15 bob; xdotool key Return  # alice opens
wait_for "$WORK/bob.out" "alice wants to chat" 10
echo "/accept alice" >&3
wait_for "$WORK/bob.out" "secure chat with alice" 10
sleep 1
echo "secure chat, no messages:     RSS $(rss $GUI VmRSS)   (heap and stacks $(rss $GUI RssAnon), mapped files $(rss $GUI RssFile))"

START=$(date +%s.%N)
# Messages of 20 to 120 characters, like a conversation's.
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) { printf "message %d:", i; for (j = 0; j < i % 10; j++) printf " lorem ipsum"; print "" } }' >&3
until echo "/status" >&3 && sleep 0.5 && tail -n 1 "$WORK/bob.out" | grep -q "$N delivered"; do :; done
END=$(date +%s.%N)
echo "$N messages received in $(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }') s (sent, shown, acknowledged)"
sleep 2
printf "%-30s" "chat of $N messages:"; echo "RSS $(rss $GUI VmRSS)   peak $(rss $GUI VmHWM)   (heap and stacks $(rss $GUI RssAnon), mapped files $(rss $GUI RssFile))"

# Scroll to the top of the drawn page and back: memory must not grow with scrolling.
xdotool windowfocus --sync "$A"; xdotool mousemove --window "$A" 500 350
xdotool click --repeat 60 --delay 10 4; xdotool click --repeat 60 --delay 10 5
sleep 1
echo "after scrolling:              RSS $(rss $GUI VmRSS)   peak $(rss $GUI VmHWM)"
grep -q "were not delivered" "$WORK/bob.out" && { echo "some messages were not delivered" >&2; exit 1; }
[ -n "${SHOT:-}" ] && import -window "$A" "$SHOT"
echo "/quit" >&3
