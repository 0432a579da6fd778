#!/usr/bin/env python3
"""Generates tests/unit/tokenizer_cases.json: small hand-written tokenizer.json files (one per
pipeline feature) with the ids and decodes the Rust `tokenizers` library gives for them.
tests/unit/tokenizer_cases_test.cpp checks tritium against it.

Run with the venv that has `tokenizers` (scripts/install-deps.sh --test):
  build/.venv/bin/python tests/conformance/make_unit_cases.py
The unit test needs no Python: the expected values are in the JSON file.
"""
import json
import os

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "unit", "tokenizer_cases.json")


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def build_bpe(alphabet, words, pair_merges=False, prefix=None, suffix=None, extra=()):
    """Vocab = alphabet + tokens made by merging each word left to right."""
    vocab = {}
    for a in alphabet:
        vocab.setdefault(a, len(vocab))
    for e in extra:
        vocab.setdefault(e, len(vocab))
    merges = []
    for w in words:
        syms = list(w)
        if prefix:
            syms = [syms[0]] + [prefix + c for c in syms[1:]]
        if suffix:
            syms[-1] = syms[-1] + suffix
        for s in syms:
            vocab.setdefault(s, len(vocab))
        cur = syms[0]
        for s in syms[1:]:
            m = (cur, s)
            new = cur + (s[len(prefix):] if prefix else s)
            if new not in vocab:
                vocab[new] = len(vocab)
            if m not in merges:
                merges.append(m)
            cur = new
    return vocab, [list(m) if pair_merges else f"{m[0]} {m[1]}" for m in merges]


def model(vocab, merges, **kw):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
         "vocab": vocab, "merges": merges}
    m.update(kw)
    return m


def added(id_, content, special=True, lstrip=False, rstrip=False, single_word=False, normalized=None):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


def tok(model_, normalizer=None, pre=None, post=None, decoder=None, added_tokens=()):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": list(added_tokens),
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post, "decoder": decoder,
            "model": model_}


BYTE_ALPHA = [B2U[b] for b in range(256)]
BL_WORDS = ["hello", "Ġhello", "Ġworld", "world", "Ġthe", "Ġ123", "12", "ĠĠ", "ĠĠĠ", "'s", "Ġit", "ing", "Ġtest",
            "ÃĹ", "ä½łå¥½", "Ċ", "ĊĊ", "Ġ<", "Ġ-", "--"]

META_WORDS = ["▁hello", "▁world", "▁the", "▁a", "hello", "▁▁", "▁▁▁", "ab", "▁test", "ing", "▁hell", "12"]
META_ALPHA = list("▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'-") + ["é", "你"]
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]

CASES = []


def case(name, t, inputs, config=None):
    CASES.append((name, t, inputs, config))


STD_INPUTS = ["", " ", "hello world", " hello  world", "Hello World!", "the test's testing 12345",
              "a\n\nb\r\nc\td", "héllo wörld ×", "你好 world", "   leading and trailing   ", "12 123 1234",
              "<|endoftext|>hello<|endoftext|>", "x <tag> y", "x<tag>y", "word words sword word.", "<unk>",
              "emoji 👍🏽 ok", "\u00a0nbsp\u3000", "ǅ İ ﬁ Ⅻ ①", "e\u0301 é", "ＡＢＣ", "<s>hi</s>", "<<tag>>"]

# 1. GPT-2 style byte level, string merges, added tokens with every flag.
v, m = build_bpe(BYTE_ALPHA, BL_WORDS)
n = len(v)
specials = [added(n, "<|endoftext|>"), added(n + 1, "<tag>", special=False, lstrip=True, rstrip=True),
            added(n + 2, "word", special=False, single_word=True), added(n + 3, "<s>", special=True),
            added(n + 4, "</s>", special=True, rstrip=True)]
for aps in (False, True):
    case(f"bytelevel_prefix{int(aps)}",
         tok(model(v, m), pre={"type": "ByteLevel", "add_prefix_space": aps, "trim_offsets": True, "use_regex": True},
             post={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
             decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
             added_tokens=specials), STD_INPUTS)

# 2. llama3-style: Split regex + ByteLevel(use_regex false), pair merges, ignore_merges, template.
v, m = build_bpe(BYTE_ALPHA, BL_WORDS + ["helloworld"], pair_merges=True)
v["Ġworldhello"] = len(v)  # reachable only through ignore_merges
n = len(v)
for im in (False, True):
    case(f"split_bytelevel_ignore{int(im)}",
         tok(model(v, m, ignore_merges=im),
             pre={"type": "Sequence", "pretokenizers": [
                 {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
                  "behavior": "Isolated", "invert": False},
                 {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
             post={"type": "TemplateProcessing",
                   "single": [{"SpecialToken": {"id": "<|begin|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                              {"SpecialToken": {"id": "<|end|>", "type_id": 0}}],
                   "pair": [], "special_tokens": {"<|begin|>": {"id": "<|begin|>", "ids": [n], "tokens": ["<|begin|>"]},
                                                  "<|end|>": {"id": "<|end|>", "ids": [n + 1], "tokens": ["<|end|>"]}}},
             decoder={"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
             added_tokens=[added(n, "<|begin|>"), added(n + 1, "<|end|>"), added(n + 2, "<|endoftext|>")]),
         STD_INPUTS + ["helloworld", " worldhello", "It'S HELLO'll", "x<|begin|>y"])

# 3. llama2-style: Prepend+Replace normalizer, byte_fallback, fuse_unk, decoder chain with Strip.
v, m = build_bpe(["<unk>", "<s>", "</s>"] + BYTE_TOKENS + META_ALPHA, META_WORDS)
case("sentencepiece_bytefallback",
     tok(model(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True),
         normalizer={"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                          {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
         post={"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
               "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
         decoder={"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                   {"type": "ByteFallback"}, {"type": "Fuse"},
                                                   {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
         added_tokens=[added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]), STD_INPUTS)

# 4. unk without byte fallback, fuse on/off; Metaspace pre-tokenizer with each prepend scheme / split.
for fuse in (False, True):
    for scheme, split in (("always", True), ("first", True), ("never", True), ("always", False), ("first", False)):
        v, m = build_bpe(["<unk>", "<s>"] + META_ALPHA, META_WORDS)
        case(f"metaspace_{scheme}_split{int(split)}_fuse{int(fuse)}",
             tok(model(v, m, unk_token="<unk>", fuse_unk=fuse),
                 pre={"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split},
                 decoder={"type": "Metaspace", "replacement": "▁", "prepend_scheme": scheme, "split": split},
                 added_tokens=[added(0, "<unk>"), added(1, "<s>")]), STD_INPUTS)

# 5. Normalizers.
v, m = build_bpe(["<unk>"] + META_ALPHA + list(" \u0301\u0308"), META_WORDS + ["hello world"], pair_merges=True)
norms = {
    "nfkc_lower_strip": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                                              {"type": "Strip", "strip_left": True, "strip_right": True}]},
    "nfd_stripaccents": {"type": "Sequence", "normalizers": [{"type": "NFD"}, {"type": "StripAccents"}]},
    "nfc": {"type": "NFC"}, "nfkd": {"type": "NFKD"}, "nfd": {"type": "NFD"},
    "replace_regex": {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
    "replace_string_prepend": {"type": "Sequence", "normalizers": [{"type": "Replace", "pattern": {"String": "ll"}, "content": "LL"},
                                                                    {"type": "Prepend", "prepend": "▁"}]},
    "strip_left": {"type": "Strip", "strip_left": True, "strip_right": False},
}
for k, nz in norms.items():
    case(f"normalizer_{k}", tok(model(v, m, unk_token="<unk>", fuse_unk=True), normalizer=nz,
                                pre={"type": "WhitespaceSplit"},
                                added_tokens=[added(0, "<unk>"), added(len(v), "HELLO", special=False, normalized=True)]),
         STD_INPUTS + ["HELLO hello Hello", "  HeLLo  "])

# 6. Pre-tokenizers.
v, m = build_bpe(["<unk>"] + META_ALPHA + list(" \n\t"), META_WORDS + ["hello world", "12 3"], pair_merges=True)
pres = {
    "whitespace": {"type": "Whitespace"},
    "whitespacesplit": {"type": "WhitespaceSplit"},
    "punctuation": {"type": "Punctuation", "behavior": "Isolated"},
    "punctuation_next": {"type": "Punctuation", "behavior": "MergedWithNext"},
    "digits_individual": {"type": "Digits", "individual_digits": True},
    "digits_contiguous": {"type": "Digits", "individual_digits": False},
    "seq_ws_digits": {"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"}, {"type": "Digits", "individual_digits": True}]},
}
for beh in ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"):
    for inv in (False, True):
        pres[f"split_regex_{beh}_inv{int(inv)}"] = {"type": "Split", "pattern": {"Regex": "\\s+|l"}, "behavior": beh, "invert": inv}
    pres[f"split_string_{beh}"] = {"type": "Split", "pattern": {"String": " "}, "behavior": beh, "invert": False}
for k, p in pres.items():
    case(f"pre_{k}", tok(model(v, m, unk_token="<unk>", fuse_unk=False), pre=p, added_tokens=[added(0, "<unk>")]),
         STD_INPUTS + ["hello,world!!  ok", "a1b22c333", "l l ll  lll"])

# 7. Subword prefix / suffix with a BPEDecoder; Roberta post-processor.
v, m = build_bpe(["<unk>", "<s>", "</s>"] + META_ALPHA, ["hello", "world", "test", "ing"], prefix="##")
case("continuing_prefix", tok(model(v, m, unk_token="<unk>", continuing_subword_prefix="##"), pre={"type": "Whitespace"},
                              post={"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1], "trim_offsets": True,
                                    "add_prefix_space": False},
                              added_tokens=[added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")]), STD_INPUTS)
v, m = build_bpe(["<unk>"] + META_ALPHA, ["hello", "world", "test", "ing", "a"], suffix="</w>")
case("end_of_word_suffix", tok(model(v, m, unk_token="<unk>", end_of_word_suffix="</w>"), pre={"type": "Whitespace"},
                               decoder={"type": "BPEDecoder", "suffix": "</w>"}, added_tokens=[added(0, "<unk>")]), STD_INPUTS)


def main():
    cases = []
    total = 0
    for name, t, inputs, config in CASES:
        js = json.dumps(t, ensure_ascii=False)
        ref = Tokenizer.from_str(js)
        items = []
        for s in inputs:
            a = ref.encode(s, add_special_tokens=True).ids
            b = ref.encode(s, add_special_tokens=False).ids
            ref.encode_special_tokens = True
            c = ref.encode(s, add_special_tokens=True).ids
            ref.encode_special_tokens = False
            items.append({"text": s, "ids": a, "ids_no_special": b, "ids_no_parse": c,
                          "decoded": ref.decode(a, skip_special_tokens=False),
                          "decoded_skip": ref.decode(a, skip_special_tokens=True)})
            total += 1
        cases.append({"name": name, "tokenizer": t, "inputs": items})
    doc = {"generator": "tests/conformance/make_unit_cases.py",
           "reference": "tokenizers " + __import__("tokenizers").__version__, "cases": cases}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(CASES)} tokenizers, {total} inputs")


if __name__ == "__main__":
    main()
