#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600), two at a time, each on its own corpus seeded
# from fuzz/seeds/, and prints libFuzzer's final statistics per target (logs in fuzz/logs/).
# Exits 1 when any target fails.
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_PER=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(frames relay_messages peer_messages inner_messages round_trip record_open smp_steps session relay_stream cluster_wire)
mkdir -p logs corpus
cargo fuzz build --sanitizer none -O >/dev/null 2>&1 || { echo "build failed"; exit 1; }
run() {
  local t=$1
  mkdir -p "corpus/$t"
  cargo fuzz run --sanitizer none -O "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$SECONDS_PER" -print_final_stats=1 -rss_limit_mb=4096 -timeout=20 \
    >"logs/$t.log" 2>&1
  local rc=$?
  echo "$rc" >"logs/$t.rc"
  local done_line
  done_line=$(grep -E "^#[0-9]+.*DONE" "logs/$t.log" | tail -1)
  local execs
  execs=$(grep -E "stat::number_of_executed_units" "logs/$t.log" | awk '{print $2}')
  echo "$t: exit=$rc execs=${execs:-?} ${done_line}"
}
rm -f logs/*.rc
i=0
for t in "${TARGETS[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
# Any target that crashed, hung or leaked fails the run (CI calls this script).
failed=0
for t in "${TARGETS[@]}"; do
  rc=$(cat "logs/$t.rc" 2>/dev/null || echo missing)
  if [ "$rc" != "0" ]; then
    echo "FAILED: $t (exit $rc); see fuzz/logs/$t.log and fuzz/artifacts/$t/"
    failed=1
  fi
done
exit $failed
