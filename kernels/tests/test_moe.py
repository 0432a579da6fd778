import numpy as np
import pytest

import moe
from hostbuf import Buf, make, poisoned, rel_err, rounded

E2M1 = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6], np.float64)


def _route_ref(x, w, b, k, kind, renorm):
    logits = x.astype(np.float64) @ w.astype(np.float64).T + (b if b is not None else 0)
    v = logits
    if kind == 0:
        p = np.exp(v - v.max(1, keepdims=True))
        v = p / p.sum(1, keepdims=True)
    ids = np.argsort(-v, axis=1, kind="stable")[:, :k]
    sel = np.take_along_axis(v, ids, 1)
    if kind == 1:
        p = np.exp(sel - sel.max(1, keepdims=True))
        sel = p / p.sum(1, keepdims=True)
    elif renorm:
        sel = sel / sel.sum(1, keepdims=True)
    return ids, sel, np.sort(v, 1)[:, ::-1]


@pytest.mark.parametrize("E,k,kind,renorm,bias,BE", [(8, 2, 0, 1, False, 32), (32, 4, 1, 0, True, 32),
                                                      (128, 8, 0, 0, False, 128), (128, 4, 1, 0, True, 128),
                                                      (60, 8, 0, 1, True, 128)])
def test_route(E, k, kind, renorm, bias, BE):
    rng = np.random.default_rng(E * k + kind)
    T, H = 7, 200
    x = rounded(rng.standard_normal((T, H)), "bf16")
    w = rounded(rng.standard_normal((E, H)) * 0.2, "bf16")
    b = rounded(rng.standard_normal(E), "bf16") if bias else None
    ids = make(np.full((T, k), -7), "i32")
    wts = poisoned((T, k), "fp32")
    moe.moe_route_kernel[(T,)](make(x, "bf16"), make(w, "bf16"), make(b if bias else np.zeros(1), "bf16"), ids, wts,
                               H, E, H, k, int(bias), renorm, KIND=kind, BLOCK_E=BE, BLOCK_H=64, K_MAX=8)
    ref_ids, ref_w, sorted_v = _route_ref(x, w, b, k, kind, renorm)
    decisive = (sorted_v[:, k - 1] - sorted_v[:, k]) > 1e-4  # the k-th choice clear of the next
    assert decisive.sum() >= T - 1
    got = ids.numpy()
    assert np.array_equal(np.sort(got[decisive], 1), np.sort(ref_ids[decisive], 1))
    assert np.allclose(wts.numpy()[decisive], ref_w[decisive], atol=1e-5)


def _align(ids, E, BE, T, k, bm=16):
    n = T * k
    max_blocks = min(n, -(-n // bm) + E)
    srt = make(np.full(max_blocks * bm, -5), "i32")
    be = make(np.full(max_blocks, -5), "i32")
    moe.moe_align_kernel[(1,)](make(ids.reshape(-1), "i32"), srt, be, n, E, max_blocks, BLOCK_M=bm, BLOCK_E=BE,
                               BLOCK=64)
    return srt.numpy().reshape(max_blocks, bm), be.numpy(), max_blocks


@pytest.mark.parametrize("case", ["random", "one_expert", "empty_experts", "many"])
def test_align(case):
    rng = np.random.default_rng(3)
    E, k = 32, 4
    T = {"random": 5, "one_expert": 9, "empty_experts": 6, "many": 70}[case]
    if case == "one_expert":
        ids = np.full((T, k), 0)
        ids[:, 1:] = rng.integers(1, E, (T, k - 1))
        ids[:, 0] = 17  # every token picks expert 17 (first), others random
    elif case == "empty_experts":
        ids = np.stack([rng.permutation([3, 9, 30, 31])[:k] for _ in range(T)])
    else:
        ids = np.stack([rng.permutation(E)[:k] for _ in range(T)])
    srt, be, max_blocks = _align(ids, E, 32, T, k)
    n = T * k
    flat = ids.reshape(-1)
    seen = []
    for b in range(max_blocks):
        row = srt[b]
        if be[b] < 0:
            assert np.all(row == n), "a block past the end holds slots"
            continue
        real = row[row < n]
        assert len(real) > 0, f"block {b} of expert {be[b]} is empty"
        assert np.all(flat[real] == be[b])
        assert np.all(row[len(real):] == n), "padding must follow the slots"
        seen += list(real)
    assert sorted(seen) == list(range(n))
    # expert order, each expert's slots ascending
    order = [s for b in range(max_blocks) if be[b] >= 0 for s in srt[b] if s < n]
    assert order == sorted(range(n), key=lambda s: (flat[s], s))


def _mxfp4(rng, E, N, K):
    blocks = rng.integers(0, 256, (E, N, K // 32, 16), dtype=np.uint8)
    scales = rng.integers(118, 126, (E, N, K // 32), dtype=np.uint8)
    lo, hi = E2M1[blocks & 15], E2M1[blocks >> 4]
    vals = np.stack([lo, hi], -1).reshape(E, N, K // 32, 32) * np.exp2(scales.astype(np.float64) - 127)[..., None]
    return blocks, scales, vals.reshape(E, N, K)


def _moe_ref(x, ids, wts, gu, gu_b, dn, dn_b, act, alpha, limit):
    T, H = x.shape
    I = gu.shape[1] // 2
    out = np.zeros((T, H))
    for t in range(T):
        for j in range(ids.shape[1]):
            e = ids[t, j]
            h = gu[e] @ x[t] + gu_b[e]
            g, u = h[:I], h[I:]
            if act == 0:
                a = g / (1 + np.exp(-g)) * u
            else:
                g = np.minimum(g, limit)
                u = np.clip(u, -limit, limit)
                a = (u + 1) * g / (1 + np.exp(-alpha * g))
            a = rounded(a, "bf16")  # the GPU stores the activations in bf16
            out[t] += wts[t, j] * (dn[e] @ a + dn_b[e])
    return out


@pytest.mark.parametrize("mx", [False, True])
@pytest.mark.parametrize("case,bm", [("random", 16), ("one_expert", 16), ("empty_experts", 16), ("random", 64)])
def test_experts(mx, case, bm):
    rng = np.random.default_rng(11 + mx)
    E, k, T, H, I = 8, 2 if not mx else 4, 5, 96, 64
    if case == "one_expert":
        ids = np.stack([np.r_[5, rng.permutation([e for e in range(E) if e != 5])[:k - 1]] for _ in range(T)])
    elif case == "empty_experts":
        ids = np.stack([rng.permutation([1, 6, 7, 2])[:k] for _ in range(T)])
    else:
        ids = np.stack([rng.permutation(E)[:k] for _ in range(T)])
    wts = rng.random((T, k)).astype(np.float32)
    x = rounded(rng.standard_normal((T, H)), "bf16")
    act, alpha, limit = (1, 1.702, 1.5) if mx else (0, 1.702, 7.0)
    if mx:
        gu_blocks, gu_scales, gu = _mxfp4(rng, E, 2 * I, H)
        dn_blocks, dn_scales, dn = _mxfp4(rng, E, H, I)
        gu_w, dn_w = Buf(gu_blocks), Buf(dn_blocks)
        gu_s, dn_s = Buf(gu_scales), Buf(dn_scales)
    else:
        gu = rounded(rng.standard_normal((E, 2 * I, H)) / np.sqrt(H), "bf16")
        dn = rounded(rng.standard_normal((E, H, I)) / np.sqrt(I), "bf16")
        gu_w, dn_w = make(gu, "bf16"), make(dn, "bf16")
        gu_s = dn_s = Buf(np.zeros(16, np.uint8))
    gu_b = rounded(rng.standard_normal((E, 2 * I)) * 0.5, "bf16")
    dn_b = rounded(rng.standard_normal((E, H)) * 0.5, "bf16")
    srt, be, max_blocks = _align(ids, E, 32, T, k, bm)
    n = T * k
    srt_b, be_b = make(srt.reshape(-1), "i32"), make(be, "i32")
    a = poisoned((n, I), "bf16")
    rw = make(wts.reshape(-1), "fp32")
    moe.moe_gemm_kernel[(max_blocks, -(-I // 64))](make(x, "bf16"), gu_w, gu_s, make(gu_b, "bf16"), srt_b, be_b, rw,
                                                   a, n, I, H, H, I, k, 1, act, alpha, limit, MXFP4=int(mx),
                                                   GATE_UP=1, BLOCK_M=bm, BLOCK_N=64, BLOCK_K=64 if not mx else 32)
    y = poisoned((n, H), "fp32")
    moe.moe_gemm_kernel[(max_blocks, -(-H // 64))](a, dn_w, dn_s, make(dn_b, "bf16"), srt_b, be_b, rw, y, n, H, I,
                                                   I, H, k, 1, act, alpha, limit, MXFP4=int(mx), GATE_UP=0,
                                                   BLOCK_M=bm, BLOCK_N=64, BLOCK_K=64)
    out = poisoned((T, H), "bf16")
    moe.moe_sum_kernel[(T, 1)](y, out, H, k, H, BLOCK=128)
    ref = _moe_ref(x.astype(np.float64), ids, wts, gu, gu_b, dn, dn_b, act, alpha, limit)
    assert rel_err(out.numpy(), ref) <= 1e-2
    if mx:  # the clamp decided some activations
        h = np.einsum("enh,th->ten", gu, x)
        assert (np.abs(h) > limit).mean() > 0.05
