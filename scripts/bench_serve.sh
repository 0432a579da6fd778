#!/usr/bin/env bash
# `tritium bench serve` against `tritium serve` on a synthetic model, on this machine (loopback):
#   scripts/bench_serve.sh SYNTHETIC [serve options --] [bench serve options]
#   scripts/bench_serve.sh llama-8b --device cuda -- --num-prompts 256 --input-len 512 --output-len 256 --json
# Starts the server, waits for /health, runs one untimed warm-up pass of the same workload (other
# random prompts, all at once: kernel loading and CUDA graph captures, as bench throughput's
# warm-up), then the measured pass, whose output is printed; stops the server.
set -euo pipefail
TRITIUM=${TRITIUM:-build/tritium}
model=$1; shift
serve_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do serve_args+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
port=${BENCH_SERVE_PORT:-18400}
log=$(mktemp -t bench_serve.XXXXXX.log)
"$TRITIUM" serve --synthetic "$model" --port "$port" "${serve_args[@]}" 2>"$log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; echo "bench_serve.sh: the server exited" >&2; exit 1; fi
  sleep 0.5
done
warm=()
skip=0
for a in "$@"; do  # the warm-up pass: the same workload at once, another seed, no --json
  if [ $skip = 1 ]; then skip=0; continue; fi
  case "$a" in --request-rate|--seed) skip=1 ;; --json) ;; *) warm+=("$a") ;; esac
done
"$TRITIUM" bench serve --port "$port" "${warm[@]}" --seed 99 >/dev/null
"$TRITIUM" bench serve --port "$port" "$@"
