#!/usr/bin/env python3
"""Reference figures for the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) from Hugging Face
transformers loading the same GGUF file (`from_pretrained(dir, gguf_file=...)`, dequantized to
fp32), for the real-model tests (tests/conformance/gguf_smollm2_test.cpp and
tests/conformance/gguf_tokenizer_conformance.py).

Writes, under tests/fixtures/gguf/:
  smollm2_golden.json     the file's sha256; chat conversations with their rendered prompt
                          (apply_chat_template), prompt ids, greedy continuation ids, and a
                          compact subset of the prompt logits (per position: the top 16 ids and a
                          fixed sample of 48 ids, with their fp32 logits); template renderings
  smollm2_tokenizer.json  ids of every string of tests/conformance/corpus.jsonl (special tokens
                          parsed; unparsed where that differs) and the decodes of those ids
                          (where they differ from the string)

The tokenizer reference. transformers converts a GGUF tokenizer by architecture, not by its
`tokenizer.ggml.pre` name: for an `llama` file with a byte-level vocabulary it builds GPT-2's
ByteLevel pre-tokenizer, which drops the individual-digit split of SmolLM2's own tokenizer.json
(Sequence[Digits(individual_digits), ByteLevel]; llama.cpp's `smollm` pre-tokenizer). The ids
therefore come from transformers' converted tokenizer (vocabulary, merges, added tokens, decoder)
run by the Rust `tokenizers` library with SmolLM2's own pre-tokenizer put back; the ids
transformers' AutoTokenizer gives are kept as `ids_transformers` where they differ, for
information (the test prints how many lines they are).

Needs torch + transformers + gguf (not in CI: the outputs are committed). Run it in a venv of its
own, e.g.  python3 -m venv /tmp/golden && /tmp/golden/bin/pip install torch transformers==5.17.0 gguf==0.19.0
Usage: make_gguf_golden.py --gguf PATH [--out tests/fixtures/gguf]
"""
import argparse
import hashlib
import json
import os
import random

import torch
import transformers
from tokenizers import Tokenizer, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a terse assistant. Answer in one sentence."},
     {"role": "user", "content": "Why is the sky blue?"}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "user", "content": "What is 12 + 30?"},
     {"role": "assistant", "content": "12 + 30 = 42."},
     {"role": "user", "content": "And 42 times 2?"}],
    [{"role": "user", "content": "Name three primary colors, comma separated."}],
]
# Renderings only (no generation): no generation prompt, and a conversation ending in an answer.
TEMPLATE_ONLY = [
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"}], False),
    ([{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi\nthere  "}], True),
    ([{"role": "user", "content": "  spaces, tabs\tand\nnewlines  "}], True),
]
GEN_TOKENS = 32
TOPK = 16
SAMPLE = 48


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def tokenizers_version():
    import tokenizers
    return tokenizers.__version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/gguf"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    d, name = os.path.split(os.path.abspath(a.gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)
    model.eval()
    eos = 2  # <|im_end|>: the file's tokenizer.ggml.eos_token_id
    vocab = model.config.vocab_size
    rng = random.Random(1234)
    sample_ids = sorted(rng.sample(range(vocab), SAMPLE))

    ref_tok = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    ref_tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    chats = []
    for conv in CONVERSATIONS:
        text = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        if ids != ref_tok.encode(text, add_special_tokens=False).ids:
            raise SystemExit(f"the prompt {text!r} tokenizes differently without the digit split: pick another")
        x = torch.tensor([ids])
        with torch.no_grad():
            logits = model(x).logits[0].float()
            out = model.generate(x, max_new_tokens=GEN_TOKENS, do_sample=False, eos_token_id=eos, pad_token_id=eos)
        gen = out[0, len(ids):].tolist()
        rows = []
        for p in range(len(ids)):
            top = torch.topk(logits[p], TOPK)
            want = sorted(set(top.indices.tolist()) | set(sample_ids))
            rows.append({"ids": want, "logits": [round(float(logits[p, i]), 6) for i in want]})
        # the margin between the two best logits at each generated step (how robust greedy is)
        with torch.no_grad():
            full = model(out).logits[0, len(ids) - 1:-1].float()
        top2 = torch.topk(full, 2).values
        margins = [round(float(t[0] - t[1]), 5) for t in top2]
        chats.append({"messages": conv, "prompt": text, "prompt_ids": ids, "gen_ids": gen,
                      "gen_margins": margins, "prompt_logits": rows})
        print(f"prompt {len(ids)} tokens -> {tok.decode(gen)!r}")
    templates = []
    for conv, gp in TEMPLATE_ONLY:
        templates.append({"messages": conv, "add_generation_prompt": gp,
                          "text": tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=gp)})
    golden = {"gguf": name, "gguf_sha256": sha256(a.gguf), "transformers": transformers.__version__,
              "torch": torch.__version__, "eos_token_id": eos, "chats": chats, "templates": templates}
    with open(os.path.join(a.out, "smollm2_golden.json"), "w") as f:
        json.dump(golden, f, ensure_ascii=True, separators=(",", ":"))

    corpus = [json.loads(l) for l in open(os.path.join(ROOT, "tests/conformance/corpus.jsonl"), encoding="utf-8")]
    ref = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    ref.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    ref_noparse = Tokenizer.from_str(ref.to_str())
    ref_noparse.encode_special_tokens = True
    lines = []
    differ = 0
    for s in corpus:
        ids = ref.encode(s, add_special_tokens=True).ids
        e = {"ids": ids}
        nop = ref_noparse.encode(s, add_special_tokens=True).ids
        if nop != ids:
            e["ids_no_parse"] = nop
        auto = tok(s, add_special_tokens=True)["input_ids"]
        if auto != ids:
            e["ids_transformers"] = auto
            differ += 1
        dec, dec_skip = tok.decode(ids, skip_special_tokens=False), tok.decode(ids, skip_special_tokens=True)
        if dec != s:
            e["decode"] = dec
        if dec_skip != dec:
            e["decode_skip"] = dec_skip
        lines.append(e)
    with open(os.path.join(a.out, "smollm2_tokenizer.json"), "w") as f:
        json.dump({"gguf_sha256": golden["gguf_sha256"], "transformers": transformers.__version__,
                   "reference": "transformers' GGUF tokenizer with SmolLM2's pre-tokenizer "
                                "(Digits(individual_digits) + ByteLevel), run by tokenizers " + tokenizers_version(),
                   "corpus": "tests/conformance/corpus.jsonl", "lines": lines}, f, ensure_ascii=True,
                  separators=(",", ":"))
    print(f"wrote {a.out}: {len(chats)} chats, {len(templates)} templates, {len(lines)} corpus lines "
          f"({differ} where AutoTokenizer's GGUF conversion, without the digit split, differs)")


if __name__ == "__main__":
    main()
