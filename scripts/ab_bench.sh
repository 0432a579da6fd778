#!/usr/bin/env bash
# Back-to-back comparison of tritium builds on one machine, runs interleaved (A B C A B C ...)
# so that clock and thermal drift hit every build alike:
#   BUILDS="NAME=BIN[:PACK_DIR] NAME=BIN[:PACK_DIR] ..." [REPS=2] scripts/ab_bench.sh 'BENCH ARGS' ...
# The first build is the baseline. Each argument is a `tritium bench` command line without the
# binary (it must print --json). PACK_DIR, when given, is that build's kernel pack
# (TRITIUM_KERNEL_DIR). Prints one line per benchmark and build: the best of REPS runs (tok/s:
# decode_tokens_per_s or output_tokens_per_s) and its ratio to the baseline's.
set -uo pipefail
read -r -a builds <<<"${BUILDS:?set BUILDS=\"NAME=BIN[:PACK] NAME=BIN[:PACK] ...\"}"
REPS=${REPS:-2}
run_one() {  # spec args...
  local spec=${1#*=}; shift
  local bin=${spec%%:*} pack=""
  [ "$bin" != "$spec" ] && pack=${spec#*:}
  if [ -n "$pack" ]; then TRITIUM_KERNEL_DIR=$pack "$bin" "$@" 2>/dev/null | tail -1
  else "$bin" "$@" 2>/dev/null | tail -1; fi
}
figure() {  # json line -> tok/s (0 when the run failed)
  python3 -c 'import json,sys
try:
    j = json.loads(sys.stdin.read()); print(j.get("decode_tokens_per_s", j.get("output_tokens_per_s", 0)))
except Exception:
    print(0)'
}
lines=()
for cmd in "$@"; do
  declare -A best=()
  for ((r = 0; r < REPS; r++)); do
    for b in "${builds[@]}"; do
      # shellcheck disable=SC2086
      f=$(run_one "$b" $cmd | figure)
      echo "ab: [$cmd] ${b%%=*} run $r: $f tok/s"
      best[${b%%=*}]=$(python3 -c "print(max(${best[${b%%=*}]:-0}, $f))")
    done
  done
  base=${best[${builds[0]%%=*}]}
  for b in "${builds[@]}"; do
    n=${b%%=*}
    lines+=("$(python3 -c "b, x = $base, ${best[$n]}; print(f'ab: {\"$cmd\"[:80]:80s} {\"$n\":>10s} {x:10.1f} tok/s  x{x / b:.3f}' if b > 0 else f'ab: {\"$cmd\"[:80]:80s} {\"$n\":>10s} {x:10.1f} tok/s')")")
  done
  unset best
done
printf '%s\n' "${lines[@]}"
