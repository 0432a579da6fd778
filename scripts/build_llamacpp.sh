#!/usr/bin/env bash
# Builds llama.cpp (the peer of scripts/peer_llamacpp.sh) with CUDA for sm90 from a source tree
# or a .tar.gz of one (a snapshot fetched on the dev machine and carried to the GPU machine):
#   scripts/build_llamacpp.sh SRC [WORK_DIR]      (WORK_DIR default /tmp/llamacpp-peer)
# Builds only llama-bench and llama-batched-bench. Prints LLAMA_CPP_BIN=<dir> last on success.
# About 100 s on the 16-core H200 machine.
set -euo pipefail
src=${1:?usage: scripts/build_llamacpp.sh SRC_DIR_OR_TARBALL [WORK_DIR]}
work=${2:-/tmp/llamacpp-peer}
mkdir -p "$work"
if [ -f "$src" ]; then
  tar -xzf "$src" -C "$work"
  src=$(find "$work" -maxdepth 2 -name CMakeLists.txt -path '*/CMakeLists.txt' -printf '%h\n' | head -1)
fi
[ -f "$src/CMakeLists.txt" ] || { echo "build_llamacpp: no CMakeLists.txt in $src" >&2; exit 2; }
arch=${CUDA_ARCH:-90}
t0=$(date +%s)
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_SERVER=OFF >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log"; exit 1; }
cmake --build "$work/build" -j "$(nproc)" --target llama-bench llama-batched-bench \
  >"$work/build.log" 2>&1 || { grep -m5 -B2 -A5 -i error "$work/build.log"; exit 1; }
echo "llama.cpp (sm$arch) built in $(( $(date +%s) - t0 )) s"
echo "LLAMA_CPP_BIN=$work/build/bin"
