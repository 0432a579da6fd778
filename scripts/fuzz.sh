#!/usr/bin/env bash
# Runs every libFuzzer target of a TRITIUM_FUZZ build for N seconds each, one at a time, starting
# from its committed seed corpus (tests/fuzz/corpus/<name>; new inputs go to BUILD/fuzz-corpus, the
# committed corpus is not touched). A crash leaves its input in BUILD/fuzz-crashes and fails.
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
secs=${2:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$build"/tests/fuzz/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
mkdir -p "$build/fuzz-crashes"
status=0
printf '%-12s %10s %8s %8s %s\n' target execs cov ft result
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/fuzz_$t"
  work="$build/fuzz-corpus/$t"
  mkdir -p "$work"
  log="$build/fuzz-$t.log"
  rc=0
  "$bin" "$work" "tests/fuzz/corpus/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/fuzz-crashes/$t-" >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  if [ "$rc" -eq 0 ]; then res=ok; else res="CRASH (rc $rc, see $log)"; status=1; fi
  printf '%-12s %10s %8s %8s %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$res"
done
exit $status
