#!/usr/bin/env bash
# Issue 12: how strong are the conformance suites? cargo-mutants changes the code of the protocol's
# records, session, handshake, key schedule and SMP and the relay's connection code one mutation at
# a time, and runs ONLY the relay and peer conformance suites against each mutant
# (conformance/tests/runners.rs, `conformance_suites_alone`): not the unit tests and not the
# vectors, which an outside implementation does not have. A mutant that survives is a bug the
# suites would let through in another implementation.
#
# Slow: about 500 mutants at about a minute each on the 2-core machine, so not in CI. Run a
# representative sample with `--sharding round-robin --shard K/N` (K from 0; the default slice
# sharding takes consecutive mutants of one or two files), or one file with `-f FILE`. Results
# land in mutants.out/ (outcomes.json, caught.txt, missed.txt, unviable.txt, timeout.txt); record
# them in conformance/README.md.
#
# Usage: scripts/mutants.sh [cargo-mutants options...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
files=(
  protocol/src/records.rs protocol/src/session.rs protocol/src/handshake.rs
  protocol/src/key_schedule.rs protocol/src/smp.rs protocol/src/smp/group.rs
  relay/src/conn.rs relay/src/router.rs
)
# The baseline: the suites must pass on the unmutated tree. (cargo-mutants' own baseline would
# run the mutated packages' tests instead of --test-package's, so it is skipped below.)
cargo test -p cryptully-conformance --test runners conformance_suites_alone -- --ignored --exact
args=()
for f in "${files[@]}"; do args+=(-f "$f"); done
exec cargo mutants "${args[@]}" \
  --test-package=cryptully-conformance \
  --cargo-test-arg=--test --cargo-test-arg=runners \
  --baseline=skip --timeout 600 \
  "$@" \
  -- conformance_suites_alone -- --ignored --exact
