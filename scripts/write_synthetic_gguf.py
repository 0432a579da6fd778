#!/usr/bin/env python3
"""Writes a random-weight GGUF file of one of tritium's synthetic shapes (llama layout), so that
GGUF readers (tritium's own, llama.cpp's) can be loaded and timed on the shapes `tritium bench
--synthetic NAME` uses, with no download.

  python3 scripts/write_synthetic_gguf.py --shape llama-8b --type f16 --out /tmp/llama-8b-f16.gguf

Needs the `gguf` package (PyPI) and numpy. The weights are random but not zero (zeros can run
faster than real data); they repeat one random buffer, which costs nothing in accuracy here and
keeps writing an 8B file I/O-bound. The vocabulary is a SentencePiece-style one (byte tokens and
placeholders) that llama.cpp accepts; its text is meaningless.
"""
import argparse
import os
import sys
import time

import numpy as np

try:
    import gguf
except ImportError:
    sys.exit("write_synthetic_gguf.py: needs the gguf package (pip install gguf)")

# The shapes of src/model/model.cpp's synthetic_spec().
SHAPES = {
    "tiny": dict(vocab=512, hidden=128, inter=256, layers=2, heads=4, kv_heads=2, head_dim=32, tied=False,
                 theta=500000.0, ctx=2048),
    "llama-1b": dict(vocab=128256, hidden=2048, inter=8192, layers=16, heads=32, kv_heads=8, head_dim=64,
                     tied=True, theta=500000.0, ctx=8192),
    "llama-3b": dict(vocab=128256, hidden=3072, inter=8192, layers=28, heads=24, kv_heads=8, head_dim=128,
                     tied=True, theta=500000.0, ctx=8192),
    "llama-8b": dict(vocab=128256, hidden=4096, inter=14336, layers=32, heads=32, kv_heads=8, head_dim=128,
                     tied=False, theta=500000.0, ctx=8192),
}

TYPES = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}


class RandomSource:
    """Slices of one random buffer, as the bytes of tensors of a given type."""

    def __init__(self, nbytes, seed=0):
        rng = np.random.default_rng(seed)
        # f16 values in +-[2^-9, 2^-5): exponent bits 6..9, random sign and mantissa.
        u = rng.integers(0, 1 << 16, size=nbytes // 2, dtype=np.uint16)
        self.f16 = ((u & 0x83FF) | (((u >> 10) & 0x3) + 6) << 10).astype(np.uint16).view(np.float16)
        self.pos = 0

    def take(self, count):
        if count > self.f16.size:
            raise ValueError("buffer too small")
        if self.pos + count > self.f16.size:
            self.pos = 0
        view = self.f16[self.pos:self.pos + count]
        self.pos = (self.pos + 4099) % (self.f16.size - 1)
        return view


def tensor(src, shape, qtype):
    n = int(np.prod(shape))
    vals = src.take(n).reshape(shape)
    if qtype == gguf.GGMLQuantizationType.F16 or len(shape) == 1:
        return vals, None
    # Q8_0 blocks of 32: an f16 scale and 32 int8 codes, made from the random f16 bits directly.
    rows, cols = shape
    assert cols % 32 == 0
    blocks = np.empty((rows, cols // 32, 34), dtype=np.uint8)
    blocks[:, :, 0:2] = np.frombuffer(np.float16(1.0 / 512).tobytes(), dtype=np.uint8)
    codes = vals.view(np.uint16).reshape(rows, cols // 32, 32)
    blocks[:, :, 2:] = (codes & 0xFF).astype(np.uint8)
    return blocks.reshape(rows, cols // 32 * 34), qtype


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--type", default="f16", choices=sorted(TYPES), help="matrix type (norms stay f32)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    s = SHAPES[a.shape]
    qtype = TYPES[a.type]
    t0 = time.time()
    H, I, hd = s["hidden"], s["inter"], s["head_dim"]
    w = gguf.GGUFWriter(a.out, "llama")
    w.add_name(f"synthetic {a.shape}")
    w.add_context_length(s["ctx"])
    w.add_embedding_length(H)
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(I)
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(s["theta"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(s["vocab"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if a.type == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0)
    # Vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then placeholders.
    V = s["vocab"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"t{i}" for i in range(V - len(tokens))]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    types += [gguf.TokenType.NORMAL] * (V - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * V)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)

    src = RandomSource(max(V * H, I * H, 1 << 20) * 2 + (1 << 20))
    ones = np.ones(H, dtype=np.float32)

    def mat(name, rows, cols):
        arr, raw = tensor(src, (rows, cols), qtype)
        if raw is None:
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=raw)

    mat("token_embd.weight", V, H)
    for layer in range(s["layers"]):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", ones)
        w.add_tensor(p + "ffn_norm.weight", ones)
        mat(p + "attn_q.weight", s["heads"] * hd, H)
        mat(p + "attn_k.weight", s["kv_heads"] * hd, H)
        mat(p + "attn_v.weight", s["kv_heads"] * hd, H)
        mat(p + "attn_output.weight", H, s["heads"] * hd)
        mat(p + "ffn_gate.weight", I, H)
        mat(p + "ffn_up.weight", I, H)
        mat(p + "ffn_down.weight", H, I)
    w.add_tensor("output_norm.weight", ones)
    if not s["tied"]:
        mat("output.weight", V, H)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    size = os.path.getsize(a.out)
    print(f"wrote {a.out}: {a.shape} {a.type}, {size / 1e9:.2f} GB in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
