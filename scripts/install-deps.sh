#!/usr/bin/env bash
# Installs what tritium needs to build and test on Debian 12 / Ubuntu 24.04, when missing.
# Idempotent: a second run installs nothing. Works as root; uses sudo otherwise.
#   scripts/install-deps.sh          build dependencies (apt)
#   scripts/install-deps.sh --test   also the test references (pip, npm)
#   scripts/install-deps.sh --fuzz   also clang for the libFuzzer targets (implies --test)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_fuzz=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1 ;;
    --fuzz) want_test=1; want_fuzz=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
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
# chromium: the browser the web-page test drives with playwright-core.
[ "$want_test" = 1 ] && APT_PKGS+=(nodejs npm chromium)
# clang + compiler-rt: the libFuzzer targets (make fuzz, which passes --fuzz).
[ "$want_fuzz" = 1 ] && APT_PKGS+=(clang libclang-rt-dev)

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

# Rust >= 1.87 (llguidance, structured output, is built by cargo from CMake). Kept when cargo is on
# PATH or in ~/.cargo/bin (rustup) and new enough; else Debian 12's rustc-web + cargo-web (from
# bookworm-security: bookworm's own rustc is 1.63) or the newest versioned cargo-1.NN (Ubuntu).
rust_ok() {
  local c="$1" r
  [ -x "$(command -v "$c" 2>/dev/null)" ] || return 1
  r=$("$c" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+' | head -1) || return 1
  [ -n "$r" ] && [ "${r%%.*}" -ge 1 ] && [ "${r#*.}" -ge 87 ]
}
if ! rust_ok cargo && ! rust_ok "$HOME/.cargo/bin/cargo" && ! compgen -c cargo-1. | grep -qE '^cargo-1\.(8[7-9]|9[0-9]|1[0-9][0-9])$'; then
  $SUDO apt-get update -qq
  web=$(apt-cache policy cargo-web 2>/dev/null | sed -n 's/^ *Candidate: 1\.\([0-9]*\).*/\1/p')
  if [ -n "$web" ] && [ "$web" -ge 87 ]; then
    rust_pkgs=(rustc-web cargo-web)
  else
    v=$(apt-cache pkgnames cargo-1. 2>/dev/null | sed -n 's/^cargo-1\.\([0-9]*\)$/\1/p' | sort -n | tail -1)
    if [ -z "$v" ] || [ "$v" -lt 87 ]; then
      echo "install-deps.sh: no Rust >= 1.87 in apt; install it with rustup (https://rustup.rs)" >&2; exit 1
    fi
    rust_pkgs=("rustc-1.$v" "cargo-1.$v")
  fi
  echo "install-deps: apt-get install ${rust_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${rust_pkgs[@]}"
fi
# The llguidance crates (pinned with checksums in Cargo.lock) are downloaded here, once, into
# cargo's cache; configuring and building then need no network.
for c in cargo "$HOME/.cargo/bin/cargo" $(compgen -c cargo-1. | sort -t. -k2 -n -r); do
  if command -v "$c" >/dev/null 2>&1; then
    "$c" fetch --locked --quiet --manifest-path src/structured/llguidance/Cargo.toml
    break
  fi
done

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
  # npm packages of the test folders that have a package.json (tests/conformance, tests/server).
  for dir in tests/conformance tests/server; do
    [ -f "$dir/package.json" ] || continue
    stamp="build/.npm.$(basename "$dir").sha"
    want=$(sha256sum "$dir/package.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -d "$dir/node_modules" ]; then
      echo "install-deps: npm install ($dir)"
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
      echo "$want" > "$stamp"
    fi
  done
fi
