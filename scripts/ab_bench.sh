#!/usr/bin/env bash
# Back-to-back comparison of two tritium builds on the same machine, runs interleaved
# (A B A B ...) so that clock and thermal drift hit both alike:
#   A=BIN[:PACK_DIR] B=BIN[:PACK_DIR] [REPS=2] scripts/ab_bench.sh 'BENCH ARGS' ['BENCH ARGS' ...]
# Each argument is a `tritium bench` command line without the binary (it must print --json).
# PACK_DIR, when given, is that build's kernel pack (TRITIUM_KERNEL_DIR). Prints one line per
# benchmark: the best of REPS runs of each build (tok/s: decode_tokens_per_s or
# output_tokens_per_s), and B / A.
set -uo pipefail
: "${A:?set A=BIN[:PACK]}" "${B:?set B=BIN[:PACK]}"
REPS=${REPS:-2}
run_one() {  # spec args...
  local spec=$1; shift
  local bin=${spec%%:*} pack=""
  [ "$bin" != "$spec" ] && pack=${spec#*:}
  if [ -n "$pack" ]; then
    TRITIUM_KERNEL_DIR=$pack "$bin" "$@" 2>/dev/null | tail -1
  else
    "$bin" "$@" 2>/dev/null | tail -1
  fi
}
figure() {  # json line -> tok/s
  python3 -c 'import json,sys
try:
    j = json.loads(sys.stdin.read())
    print(j.get("decode_tokens_per_s", j.get("output_tokens_per_s", 0)))
except Exception:
    print(0)'
}
lines=()
for cmd in "$@"; do
  a_best=0; b_best=0
  for ((r = 0; r < REPS; r++)); do
    # shellcheck disable=SC2086
    fa=$(run_one "$A" $cmd | figure); fb=$(run_one "$B" $cmd | figure)
    echo "ab: [$cmd] run $r: A $fa, B $fb"
    a_best=$(python3 -c "print(max($a_best, $fa))"); b_best=$(python3 -c "print(max($b_best, $fb))")
  done
  ratio=$(python3 -c "a, b = $a_best, $b_best; print(f'{b / a:.3f}' if a > 0 else 'n/a')")
  lines+=("$(printf 'ab: %-90s A %10.1f  B %10.1f  B/A %s' "$cmd" "$a_best" "$b_best" "$ratio")")
done
printf '%s\n' "${lines[@]}"
