#!/usr/bin/env bash
# Installs what tritium needs to build and test on Debian 12 / Ubuntu 24.04, when missing.
# Idempotent: a second run installs nothing. Works as root; uses sudo otherwise.
#   scripts/install-deps.sh          build dependencies (apt)
#   scripts/install-deps.sh --test   also the test references (pip, npm)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps.sh: not root and no sudo; install the packages below by hand" >&2
  fi
fi

APT_PKGS=(build-essential cmake ninja-build pkg-config python3 python3-pip python3-venv
  nlohmann-json3-dev libboost-dev libpcre2-dev libutf8proc-dev libcli11-dev libspdlog-dev
  libfmt-dev libxxhash-dev libgtest-dev libbenchmark-dev libcurl4-openssl-dev)
# clang + compiler-rt: the libFuzzer targets (make fuzz).
[ "$want_test" = 1 ] && APT_PKGS+=(nodejs npm clang libclang-rt-dev)

missing=()
for p in "${APT_PKGS[@]}"; do
  # nodejs/npm may come from elsewhere (nvm, a tarball): a working command is enough.
  case "$p" in nodejs) command -v node >/dev/null && continue ;; npm) command -v npm >/dev/null && continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want_test" = 1 ]; then
  # Python references live in a venv of their own (build/.venv) so the system stays clean.
  VENV=build/.venv
  if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p build
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import sys; sys.exit(0)" 2>/dev/null; then
    echo "install-deps: broken venv $VENV" >&2; exit 1
  fi
  stamp="$VENV/.requirements.sha"
  want=$(sha256sum requirements-test.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "install-deps: pip install -r requirements-test.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-test.txt
    echo "$want" > "$stamp"
  fi
  if [ -f tests/conformance/package.json ]; then
    stamp=build/.npm.sha
    want=$(sha256sum tests/conformance/package.json | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -d tests/conformance/node_modules ]; then
      echo "install-deps: npm install (tests/conformance)"
      (cd tests/conformance && npm install --no-audit --no-fund --loglevel=error)
      echo "$want" > "$stamp"
    fi
  fi
fi
