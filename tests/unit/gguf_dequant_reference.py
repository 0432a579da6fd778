#!/usr/bin/env python3
"""Random GGUF blocks of every type tritium dequantizes, with the gguf package's own dequantize
(gguf-py, pinned in requirements-test.txt) as the reference, for tests/unit/gguf_dequant_test.cpp.

Writes OUT/<TYPE>.q (raw blocks), OUT/<TYPE>.f32 (reference floats) and OUT/manifest.json.
The half-precision scale fields get finite values of assorted magnitudes (subnormal to large,
both signs); every other byte is random.
Usage: gguf_dequant_reference.py OUT
"""
import json
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

# byte offsets of the f16 fields in each block
HALF_FIELDS = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0], T.Q2_K: [80, 82],
               T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}
BLOCKS = 64


def halves(rng, n):
    mag = np.exp(rng.uniform(np.log(1e-7), np.log(4.0), n))
    return (mag * rng.choice([-1, 1], n)).astype(np.float16)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240601)
    manifest = {}
    for t in [T.F32, T.F16, T.BF16, *HALF_FIELDS]:
        block, nbytes = GGML_QUANT_SIZES[t]
        n = BLOCKS * 256 if block == 1 else BLOCKS * block
        if t == T.F32:
            raw = rng.standard_normal(n).astype(np.float32).view(np.uint8)
        elif t == T.F16:
            raw = halves(rng, n).view(np.uint8)
        elif t == T.BF16:
            f = (rng.standard_normal(n) * 10.0 ** rng.uniform(-30, 30, n)).astype(np.float32)
            raw = (f.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
        else:
            raw = rng.integers(0, 256, (BLOCKS, nbytes), dtype=np.uint8)
            for off in HALF_FIELDS[t]:
                raw[:, off:off + 2] = halves(rng, BLOCKS).view(np.uint8).reshape(BLOCKS, 2)
            raw = raw.reshape(-1)
        ref = dequantize(raw.reshape(1, -1), t).astype(np.float32).reshape(-1)
        assert ref.size == n and np.all(np.isfinite(ref)), t.name
        raw.tofile(os.path.join(out, t.name + ".q"))
        ref.tofile(os.path.join(out, t.name + ".f32"))
        manifest[t.name] = {"type": int(t), "n": n}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()
