#!/usr/bin/env python3
"""GGUF tokenizer conformance: tritium's tokenizer built from a GGUF file's metadata against
Hugging Face transformers' GGUF tokenizer (AutoTokenizer.from_pretrained(dir, gguf_file=...)) on
tests/conformance/corpus.jsonl.

transformers needs torch to read a GGUF file, which CI does not install, so its ids and decodes
are committed (tools/golden/make_gguf_golden.py -> tests/fixtures/gguf/smollm2_tokenizer.json).
transformers converts a GGUF tokenizer by architecture and for this `llama` file drops the
individual-digit split of SmolLM2's own pre-tokenizer (tokenizer.ggml.pre = smollm); the reference
ids are those of its converted tokenizer with that pre-tokenizer put back, run by the Rust
`tokenizers` library (AutoTokenizer's own ids, where they differ, are printed for information);
this script checks that the file is the one they were made from (sha256), then requires, for
100% of the corpus:
  * encode (special tokens parsed) == the reference ids, with and without add_special_tokens
    (the file adds no BOS), and with special-token parsing off == the reference's
    split_special_tokens ids;
  * decode of the reference ids (skip_special_tokens off and on) == the reference decode, and the
    incremental detokenizer's concatenation == the full decode.
Usage: gguf_tokenizer_conformance.py --tritium BIN [--gguf FILE] [--fixture JSON] [--corpus FILE]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def fail(msg):
    print(f"gguf_tokenizer_conformance: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def default_gguf():
    if os.environ.get("TRITIUM_SMOLLM2_GGUF"):
        return os.environ["TRITIUM_SMOLLM2_GGUF"]
    cache = os.environ.get("TRITIUM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tritium")
    return os.path.join(cache, "SmolLM2-135M-Instruct.Q4_1.gguf")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def run(cmd, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for x in lines:
            f.write(json.dumps(x, ensure_ascii=True) + "\n")
        path = f.name
    try:
        p = subprocess.run(cmd + ["--jsonl", path], capture_output=True, timeout=600)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        fail(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.decode(errors='replace')[-2000:]}")
    out = [json.loads(l) for l in p.stdout.decode("utf-8").split("\n") if l]
    if len(out) != len(lines):
        fail(f"{' '.join(cmd)} printed {len(out)} lines for {len(lines)} inputs")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True)
    ap.add_argument("--gguf", default=default_gguf(),
                    help="default: TRITIUM_SMOLLM2_GGUF, else the file scripts/fetch-default-model.sh caches")
    ap.add_argument("--fixture", default=os.path.join(ROOT, "tests/fixtures/gguf/smollm2_tokenizer.json"))
    ap.add_argument("--corpus", default=os.path.join(ROOT, "tests/conformance/corpus.jsonl"))
    a = ap.parse_args()
    if not os.path.exists(a.gguf):
        fail(f"{a.gguf} is missing: run scripts/fetch-default-model.sh")
    ref = json.load(open(a.fixture))
    got_sha = sha256(a.gguf)
    if got_sha != ref["gguf_sha256"]:
        fail(f"{a.gguf} has sha256 {got_sha}, the fixture was made from {ref['gguf_sha256']}")
    corpus = [json.loads(l) for l in open(a.corpus, encoding="utf-8")]
    lines = ref["lines"]
    if len(lines) != len(corpus):
        fail(f"the fixture has {len(lines)} lines, the corpus {len(corpus)}: rerun tools/golden/make_gguf_golden.py")

    enc = run([a.tritium, "tokenize", "--model", a.gguf, "--all-modes"], corpus)
    bad = 0
    for i, (s, r, g) in enumerate(zip(corpus, lines, enc)):
        for mode, want, have in [("ids", r["ids"], g["ids"]), ("ids (no special)", r["ids"], g["ids_no_special"]),
                                 ("ids (no parse)", r.get("ids_no_parse", r["ids"]), g["ids_no_parse"])]:
            if want != have:
                bad += 1
                if bad <= 10:
                    print(f"line {i + 1} {mode} {s!r}:\n  transformers {want}\n  tritium      {have}", file=sys.stderr)
    dec = run([a.tritium, "detokenize", "--model", a.gguf, "--all-modes"], [r["ids"] for r in lines])
    for i, (s, r, g) in enumerate(zip(corpus, lines, dec)):
        want = r.get("decode", s)
        want_skip = r.get("decode_skip", want)
        for mode, w, h in [("decode", want, g["text"]), ("decode (skip special)", want_skip, g["text_skip"]),
                           ("stream", want, g["stream"]), ("stream (skip special)", want_skip, g["stream_skip"])]:
            if w != h:
                bad += 1
                if bad <= 10:
                    print(f"line {i + 1} {mode}:\n  transformers {w!r}\n  tritium      {h!r}", file=sys.stderr)
    checks = len(corpus) * 7
    auto_differs = sum(1 for r in lines if "ids_transformers" in r)
    print(f"for information: AutoTokenizer's GGUF conversion (no digit split) gives other ids on {auto_differs} of "
          f"{len(lines)} strings (whitespace before a digit)")
    if bad:
        fail(f"{bad} of {checks} checks differ from transformers")
    print(f"gguf_tokenizer_conformance: {len(corpus)} strings x 7 checks ({checks}) identical to the reference "
          f"({ref['reference']}, transformers {ref['transformers']})")


if __name__ == "__main__":
    main()
