#!/usr/bin/env bash
# `make run`: the first-run demo. Everything it uses is in the repository (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/tritium}
MODEL=tests/fixtures/golden/llama

cat <<MSG
== tritium first-run demo ==
Model: $MODEL
  A tiny Llama (3 layers, hidden 64, vocab 256) with RANDOM weights, made by
  tools/golden/make_golden.py with Hugging Face transformers for the golden tests.
  Its tokens are meaningless; it shows the pipeline (safetensors -> paged KV cache ->
  sampling) running on this machine's CPU, with no download.
  For a real model: $BIN generate --model /path/to/hf-model-dir --prompt-ids 1,2,3

MSG
echo "\$ tritium generate --model $MODEL --prompt-ids 5,17,42,99 --max-tokens 16"
"$BIN" generate --model "$MODEL" --prompt-ids 5,17,42,99 --max-tokens 16
echo
echo "\$ tritium generate ... --temperature 0.8 --top-p 0.9 --seed 7 --json"
"$BIN" generate --model "$MODEL" --prompt-ids 5,17,42,99 --max-tokens 16 --temperature 0.8 --top-p 0.9 --seed 7 --json
echo
echo "\$ tritium bench decode --synthetic tiny --batch 4 --prompt-len 64 --gen-len 32"
"$BIN" bench decode --synthetic tiny --batch 4 --prompt-len 64 --gen-len 32
echo
echo "\$ tritium serve --model $MODEL    (OpenAI-compatible server; Ctrl-C stops it)"
echo "  This fixture has no tokenizer, so it takes token ids on /v1/completions; with a model that has"
echo "  tokenizer.json and a chat template, /v1/chat/completions and the chat page at / work too."
exec "$BIN" serve --model "$MODEL" --port "${TRITIUM_DEMO_PORT:-8000}"
