#!/usr/bin/env bash
# Tries the desktop client as two new users would, under Xvfb, and saves a screenshot of each
# screen in docs/screenshots/. Installs what it needs (Debian packages) and builds the client.
# Usage: scripts/screenshots.sh [path/to/cryptully]   (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/screenshots
mkdir -p "$OUT"

need=()
for tool in Xvfb xdotool import; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xdotool imagemagick
fi
BIN=${1:-}
if [ -z "$BIN" ]; then
  cargo build --release --locked -p cryptully-client-iced
  BIN=target/release/cryptully
fi

export DISPLAY=:97 ICED_BACKEND=tiny-skia
# Each copy is a new user: its own settings and data (the app remembers the last nickname).
PEOPLE=$(mktemp -d)
as_new_user() { # as_new_user NAME: runs the app with its own XDG directories
  XDG_CONFIG_HOME="$PEOPLE/$1/config" XDG_DATA_HOME="$PEOPLE/$1/data" XDG_STATE_HOME="$PEOPLE/$1/state" \
    XDG_CACHE_HOME="$PEOPLE/$1/cache" "$BIN" &
}
Xvfb "$DISPLAY" -screen 0 2000x700x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
PIDS=()
cleanup() { kill "${PIDS[@]}" "$XVFB" 2>/dev/null || true; rm -rf "$PEOPLE"; }
trap cleanup EXIT
sleep 1

# No window manager: focus each window explicitly before typing, or the keys never arrive.
type_in() { xdotool windowfocus --sync "$1"; xdotool type --delay 15 "$2"; }
key_in() { xdotool windowfocus --sync "$1"; xdotool key "$2"; }
shot() { sleep "${3:-1}"; import -window "$1" "$OUT/$2"; echo "saved $OUT/$2"; }
window_other_than() { xdotool search --name "^Cryptully" | grep -v "^$1\$" | head -1; }

as_new_user alice; PIDS+=($!)
sleep 3
A=$(xdotool search --sync --name "^Cryptully" | head -1)
xdotool windowmove --sync "$A" 0 0
type_in "$A" alice
shot "$A" 01-connect.png 0.5
key_in "$A" Return                       # nothing at 127.0.0.1:9000: the app starts a relay

sleep 2
as_new_user bob; PIDS+=($!)
sleep 3
B=$(window_other_than "$A")
xdotool windowmove --sync "$B" 1000 0
type_in "$B" bob
key_in "$B" Return
sleep 2
type_in "$A" bob                          # Ctrl+N's box has focus after connecting
key_in "$A" Return
shot "$B" 02-request.png 2
xdotool mousemove 1840 122 click 1        # bob: Accept
sleep 2
type_in "$B" "Hi alice, it is really me"
key_in "$B" Return
sleep 1
type_in "$A" "Hello bob! Let us compare the safety code."
key_in "$A" Return
shot root 03-chatting.png 2
xdotool mousemove 785 52 click 1          # alice: Ask a question
sleep 1
type_in "$A" "Where did we first meet?"
key_in "$A" Return                        # on to the answer field (focus moves after a frame)
sleep 0.5
type_in "$A" "the lake"
shot "$A" 04-ask.png 0.5
key_in "$A" Return
sleep 2
shot "$B" 05-question.png 1
# bob: the answer dialog opens by itself, its field focused (issue 15, item 3)
sleep 1
type_in "$B" "the lake"
key_in "$B" Return
shot root 06-verified.png 3
xdotool mousemove 950 10 click 1          # alice: Dark theme
shot "$A" 07-dark.png 1
