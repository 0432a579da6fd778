import numpy as np
import pytest

import sampling
import token_mask
from hostbuf import make


def _bits(allowed):
    """bool [M, V] -> i32 words [M, cdiv(V, 32)], bit v % 32 of word v // 32 (llguidance's layout)."""
    M, V = allowed.shape
    W = (V + 31) // 32
    padded = np.zeros((M, W * 32), bool)
    padded[:, :V] = allowed
    w = (padded.reshape(M, W, 32).astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(2)
    return w.astype(np.uint32).view(np.int32)


@pytest.mark.parametrize("dt", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("V,block", [(300, 64), (4096, 1024), (97, 32)])
def test_apply_token_bitmask(dt, V, block):
    rng = np.random.default_rng(V)
    R = 6
    logits = rng.standard_normal((R, V + 8)).astype(np.float32)  # row stride V + 8
    rows = np.array([4, 0, 2], np.int32)  # rows 1, 3, 5 have no mask
    allowed = rng.random((len(rows), V)) < 0.3
    allowed[0, :] = True  # a row with every token allowed
    allowed[2, 31] = allowed[2, 32] = True  # word edges, the sign bit
    buf = make(logits, dt)
    before = buf.numpy().copy()
    M = len(rows)
    token_mask.apply_token_bitmask_kernel[(M, (V + block - 1) // block)](
        buf, V + 8, V, make(_bits(allowed), "i32"), (V + 31) // 32, make(rows, "i32"), BLOCK=block)
    ref = before.copy()
    for m, r in enumerate(rows):
        ref[r, :V][~allowed[m]] = -np.inf
    assert np.array_equal(buf.numpy(), ref)  # masked entries -inf, the rest (and the padding) untouched


def test_sampling_over_masked_logits():
    # -inf logits (masked tokens) never drawn, and top-k / top-p still act on the allowed ones
    rng = np.random.default_rng(2)
    V, N = 64, 24
    row = (rng.standard_normal(V) * 0.5).astype(np.float32)
    allowed = np.zeros(V, bool)
    allowed[rng.permutation(V)[:10]] = True
    masked = np.where(allowed, row, -np.inf).astype(np.float32)
    logits = np.tile(masked, (N, 1))
    for k, p in [(3, 1.0), (0, 0.5), (0, 1.0)]:
        out = make(np.full(N, -7), "i32")
        part = make(np.zeros((N, 1, 2)), "fp32")
        pid = make(np.zeros((N, 1)), "i32")
        sampling.sample_kernel[(N,)](make(logits, "fp32"), V, V, make(np.ones(N), "fp32"), make(np.full(N, k), "i32"),
                                     make(np.full(N, p), "fp32"), make(np.zeros(N), "fp32"),
                                     make(rng.integers(0, 2 ** 40, N), "i64"), make(np.arange(N), "i32"), out, part,
                                     pid, 0, BLOCK_V=32, BLOCK_S=32, NT=8, SEARCH_PASSES=8, BLOCK_P=8)
        ids = out.arr
        assert allowed[ids].all(), (k, p)
        y = np.where(allowed, row.astype(np.float64), -np.inf)
        order = np.argsort(-y)
        if k:
            assert set(ids.tolist()) <= set(order[:k].tolist())
        if p < 1.0:
            e = np.exp(y - y.max())
            cs = np.cumsum(e[order] / e.sum())
            n = int(np.searchsorted(cs, p * (1 - 1e-6))) + 1
            assert set(ids.tolist()) <= set(order[:n].tolist())
