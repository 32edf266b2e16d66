#!/usr/bin/env bash
# The project's tests: installs what they need (scripts/install-deps.sh), then runs every test
# of the workspace. Arguments go to `cargo test` (e.g. --locked, or -p cryptully-relay).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Debian installs nats-server in /usr/sbin, which a normal user's PATH may lack.
export PATH="$PATH:/usr/sbin"
exec cargo test --workspace "$@"
