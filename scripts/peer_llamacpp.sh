#!/usr/bin/env bash
# Times llama.cpp (the peer) on the workloads `tritium bench decode` measures, on random-weight
# f16 GGUF files of the same synthetic shapes, written by scripts/write_synthetic_gguf.py:
#   LLAMA_CPP_BIN=DIR scripts/peer_llamacpp.sh [GGUF_DIR] [SHAPES]
# DIR holds llama-batched-bench (built with CUDA). GGUF_DIR (default /tmp/gguf) keeps the files
# between runs; SHAPES (default "llama-1b llama-8b"). Each line printed last is one figure:
#   peer llama.cpp <shape> batch B prompt P gen G: <decode tok/s> tok/s
# llama-batched-bench with flash attention and the whole batch in one context: its S_TG column is
# the decode throughput of B sequences after a P-token prompt each, as tritium's decode figure.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN to the directory holding llama-batched-bench}
DIR=${1:-/tmp/gguf}
SHAPES=${2:-"llama-1b llama-8b"}
mkdir -p "$DIR"
results=()
# (batch, prompt, gen) as in scripts/gpu-check.sh's decode benchmarks
WORKLOADS=("1 128 256" "32 512 256" "64 512 256")
for shape in $SHAPES; do
  f="$DIR/$shape-f16.gguf"
  [ -f "$f" ] || python3 scripts/write_synthetic_gguf.py --shape "$shape" --type f16 --out "$f" || exit 1
  for w in "${WORKLOADS[@]}"; do
    read -r b p g <<<"$w"
    ctx=$(( b * (p + g) + 256 ))
    out=$("$BIN/llama-batched-bench" -m "$f" -c "$ctx" -b 2048 -ub 512 -npp "$p" -ntg "$g" -npl "$b" -ngl 99 -fa 2>/dev/null)
    # | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
    tg=$(echo "$out" | awk -F'|' -v b="$b" '$4+0 == b && $2+0 > 0 { gsub(/ /, "", $9); print $9 }' | tail -1)
    results+=("peer llama.cpp $shape batch $b prompt $p gen $g: ${tg:-FAILED} tok/s")
  done
done
printf '%s\n' "${results[@]}"
