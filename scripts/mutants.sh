#!/usr/bin/env bash
# Issue 12: how strong are the conformance suites? cargo-mutants changes the code of the protocol's
# records, session, handshake, key schedule and SMP and the relay's connection code one mutation at
# a time, and runs ONLY the relay and peer conformance suites against each mutant
# (conformance/tests/runners.rs, `conformance_suites_alone`): not the unit tests and not the
# vectors, which an outside implementation does not have. A mutant that survives is a bug the
# suites would let through in another implementation. Mutants that cannot reach the wire (texts,
# erasure, accessors only applications call, equivalent mutants) are left out by
# .cargo/mutants.toml, each group with its reason; conformance/README.md scores both ways.
#
# Two runs: the client's protocol files judged by the peer suite alone (the relay never runs
# that code, so the relay suite cannot see those mutants: CRYPTULLY_SUITES=peer), then the relay's
# files judged by both suites. PART=protocol or PART=relay runs one of them.
#
# Slow: about 500 mutants at half a minute or more each on the 2-core machine, so not in CI. Run
# a representative sample with `--sharding round-robin --shard K/N` (K from 0; the default slice
# sharding takes consecutive mutants of one or two files). Results land in
# mutants.out/protocol/mutants.out/ and mutants.out/relay/mutants.out/ (outcomes.json,
# caught.txt, missed.txt, unviable.txt, timeout.txt); record them in conformance/README.md.
#
# Usage: [PART=protocol|relay] scripts/mutants.sh [cargo-mutants options...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
protocol_files=(
  protocol/src/records.rs protocol/src/session.rs protocol/src/handshake.rs
  protocol/src/key_schedule.rs protocol/src/smp.rs protocol/src/smp/group.rs
)
relay_files=(relay/src/conn.rs relay/src/router.rs)
# The baseline: the suites must pass on the unmutated tree. (cargo-mutants' own baseline would
# run the mutated packages' tests instead of --test-package's, so it is skipped below.)
cargo test -p cryptully-conformance --test runners conformance_suites_alone -- --ignored --exact
mutate() {
  local out=$1
  shift
  mkdir -p "$out"
  cargo mutants "$@" \
    --output "$out" \
    --test-package=cryptully-conformance \
    --cargo-test-arg=--test --cargo-test-arg=runners \
    --baseline=skip --timeout 600 \
    -- conformance_suites_alone -- --ignored --exact
}
part=${PART:-both}
status=0
if [[ $part != relay ]]; then
  args=()
  for f in "${protocol_files[@]}"; do args+=(-f "$f"); done
  CRYPTULLY_SUITES=peer mutate mutants.out/protocol "${args[@]}" "$@" || status=$?
fi
if [[ $part != protocol ]]; then
  args=()
  for f in "${relay_files[@]}"; do args+=(-f "$f"); done
  mutate mutants.out/relay "${args[@]}" "$@" || status=$?
fi
# cargo-mutants exits 2 when mutants were missed: a result, not a failure of this script.
exit "$status"
