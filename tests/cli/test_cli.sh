#!/usr/bin/env bash
# The command line: --help everywhere, bad flags and bad input fail with a message.
set -u
BIN=$1
ROOT=$2
fails=0; passes=0
expect() {  # expect <want-rc: 0|nonzero> <text that must appear> -- cmd...
  local want=$1 text=$2; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if { [ "$want" = 0 ] && [ $rc -ne 0 ]; } || { [ "$want" != 0 ] && [ $rc -eq 0 ]; } || ! grep -qF -- "$text" <<<"$out"; then
    echo "FAIL ($rc): $* -> ${out:0:300}"; fails=$((fails+1))
  else
    passes=$((passes+1))
  fi
}
for c in "" generate bench "bench decode" "bench throughput" "bench linear" tokenize detokenize chat; do
  expect 0 "Usage:" -- $BIN $c --help
done
expect nonzero "not expected" -- $BIN generate --bogus-flag
expect nonzero "subcommand is required" -- $BIN
expect nonzero "no config.json" -- $BIN generate --model "$ROOT/tests" --prompt-ids 1
expect nonzero "'x' is not a token id" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 1,x
expect nonzero "outside the vocabulary" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 1,999
expect nonzero "top_p" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 1 --top-p 0
expect nonzero "unknown synthetic model" -- $BIN bench decode --synthetic nope
# bench throughput times a warmed engine unless told not to
expect 0 "warm-up     " -- $BIN bench throughput --synthetic tiny --num-prompts 4 --input-len 8 --output-len 4
expect 0 '"warmup_seconds":0.0' -- $BIN bench throughput --synthetic tiny --num-prompts 4 --input-len 8 --output-len 4 --no-warmup --json
# the step budget: the CPU default, or what was asked for
expect 0 '"max_num_batched_tokens":2048' -- $BIN bench throughput --synthetic tiny --num-prompts 2 --input-len 8 --output-len 2 --no-warmup --json
expect 0 'at most 64 tokens a step' -- $BIN bench throughput --synthetic tiny --num-prompts 2 --input-len 8 --output-len 2 --no-warmup --max-num-batched-tokens 64
# fp8 weights (W8A8): named in bench output, an unknown scheme is refused by name
expect 0 '"quantization":"fp8"' -- $BIN bench throughput --synthetic tiny --num-prompts 2 --input-len 8 --output-len 2 --no-warmup --quantization fp8 --json
expect 0 'weight quantization fp8' -- $BIN bench decode --synthetic tiny --batch 2 --prompt-len 8 --gen-len 4 -q fp8
expect nonzero "quantization" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 1 --quantization int4
expect 0 "finish_reason" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 5,6,7 --max-tokens 3 --quantization fp8 --json
expect nonzero "exactly one of" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama"
expect 0 "finish_reason" -- $BIN generate --model "$ROOT/tests/fixtures/golden/llama" --prompt-ids 5,6,7 --max-tokens 3 --json
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
