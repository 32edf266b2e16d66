#!/usr/bin/env bash
# What the tests need beyond Rust: nats-server, for the relay cluster (spec §14). Installs it
# with apt (Debian, Ubuntu) when it is missing; elsewhere it says what to install.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -n "${NATS_SERVER:-}" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: nats-server is missing; install it (https://nats.io/download, or your package manager)" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  sudo=(sudo)
fi
echo "install-deps: installing nats-server (apt)" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nats-server >/dev/null
