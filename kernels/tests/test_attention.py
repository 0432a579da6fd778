import numpy as np
import pytest

import attention
from hostbuf import make, poisoned, rel_err, rounded

DT = "bf16"
TOL = 1e-2


def _setup(rng, q_lens, seq_lens, nkv, hd, bs, dt=DT):
    """Random paged cache with shuffled physical blocks; returns cache (float32 numpy, values
    as a `dt` cache holds them: bf16, or fp8 e4m3) and tables."""
    S = len(seq_lens)
    max_blocks = max((n + bs - 1) // bs for n in seq_lens) + 1
    nblocks = S * max_blocks + 3
    perm = rng.permutation(nblocks)
    bt = perm[:S * max_blocks].reshape(S, max_blocks)
    kc = rounded(rng.standard_normal((nblocks, bs, nkv, hd)), dt)
    vc = rounded(rng.standard_normal((nblocks, bs, nkv, hd)), dt)
    return kc, vc, bt


def _ref_seq(q, kc, vc, bt_row, seq_len, scale, window, q_per_kv, sinks=None):
    """q [q_len, nh, hd] for the last q_len positions; float64 reference. sinks [nh]: one more
    logit per head in each softmax, with no value (gpt-oss)."""
    q_len, nh, hd = q.shape
    bs = kc.shape[1]
    j = np.arange(seq_len)
    k = kc[bt_row[j // bs], j % bs].astype(np.float64)  # [L, nkv, hd]
    v = vc[bt_row[j // bs], j % bs].astype(np.float64)
    pos = seq_len - q_len + np.arange(q_len)
    vis = j[None, :] <= pos[:, None]
    if window > 0:
        vis &= pos[:, None] - j[None, :] < window
    out = np.zeros((q_len, nh, hd))
    for h in range(nh):
        s = q[:, h].astype(np.float64) @ k[:, h // q_per_kv].T * scale
        s = np.where(vis, s, -np.inf)
        m = s.max(1, keepdims=True)
        if sinks is not None:
            m = np.maximum(m, sinks[h])
        p = np.exp(s - m)
        denom = p.sum(1, keepdims=True) + (np.exp(sinks[h] - m) if sinks is not None else 0.0)
        out[:, h] = (p / denom) @ v[:, h // q_per_kv]
    return out


def _with_kv(cases, fp8_cases, sink_cases=()):
    """Each case with a bf16 KV cache, the cases at indices fp8_cases with an fp8 e4m3 one, and
    those at sink_cases with attention sinks (bf16 and fp8 caches); (kv, sinks) end each case."""
    return ([c + ("bf16", False) for c in cases] + [cases[i] + ("fp8", False) for i in fp8_cases] +
            [cases[i] + (kv, True) for i in sink_cases for kv in ("bf16", "fp8")])


def _sinks(rng, nh, on):
    """Per-head sink logits (fp32) around the scale of the scores, and has_sinks; off: a stand-in
    buffer of NaNs the kernels must not read."""
    if on:
        return make(rng.uniform(-1.0, 3.0, nh).astype(np.float32), "fp32"), 1
    return poisoned((nh,), "fp32"), 0


@pytest.mark.parametrize("nh,nkv,hd,bs,window,q_lens,ctx_lens,first,kv,sinks", _with_kv([
    (4, 4, 64, 16, 0, [5, 17], [0, 0], 0),            # MHA, plain prefill, partial tiles
    (8, 2, 64, 16, 0, [20, 1, 9], [7, 40, 16], 0),    # GQA 4, chunked prefill after context
    (8, 1, 128, 32, 0, [33], [3], 0),                 # GQA 8, block size 32
    (4, 1, 64, 16, 8, [30, 12], [0, 21], 0),          # sliding window
    (2, 1, 80, 16, 0, [19], [6], 0),                  # head_dim 80 (padded to 128)
    (4, 2, 64, 16, 37, [50, 3], [30, 70], 0),         # window with masked edge, full and diagonal tiles
    (8, 2, 64, 16, 0, [1, 1, 20, 9], [30, 5, 7, 16], 2),  # first_seq 2: sequences 0, 1 left alone
    (8, 2, 64, 16, 8, [30, 12, 1], [0, 21, 40], 0),    # gpt-oss style: GQA 4, window 8
], [1, 6], [1, 3, 5, 7]))
def test_prefill(nh, nkv, hd, bs, window, q_lens, ctx_lens, first, kv, sinks):
    rng = np.random.default_rng(sum(q_lens) * hd + window)
    seq_lens = [a + b for a, b in zip(q_lens, ctx_lens)]
    kc, vc, bt = _setup(rng, q_lens, seq_lens, nkv, hd, bs, kv)
    T = sum(q_lens)
    cu = np.concatenate([[0], np.cumsum(q_lens)])
    q = rounded(rng.standard_normal((T, nh, hd)), DT)
    out = poisoned((T, nh, hd), DT)
    scale = hd ** -0.5
    BM, BN = 16, 16
    grid = ((max(q_lens) + BM - 1) // BM, nh, len(q_lens) - first)
    sk, has = _sinks(rng, nh, sinks)
    attention.prefill_attention_kernel[grid](
        make(q, DT), make(kc, kv), make(vc, kv), out, make(bt, "i32"), make(cu, "i32"), make(seq_lens, "i32"),
        sk, scale, nh * hd, hd, nh * hd, hd, bt.shape[1], nkv, nh // nkv, window, first, has,
        **attention.prefill_constexprs(hd, bs, BM, BN))
    ref = np.concatenate([_ref_seq(q[cu[s]:cu[s + 1]], kc, vc, bt[s], seq_lens[s], scale, window, nh // nkv,
                                   sk.numpy() if has else None)
                          for s in range(first, len(q_lens))])
    got = out.numpy()
    assert np.isnan(got[:cu[first]]).all()  # the rows of sequences before first_seq: never written
    assert rel_err(got[cu[first]:], ref) <= TOL


@pytest.mark.parametrize("nh,nkv,hd,bs,window,seq_lens,psize,kv,sinks", _with_kv([
    (4, 4, 64, 16, 0, [1, 37, 100], 32),        # MHA, several partitions, partition > seq
    (8, 2, 64, 16, 0, [70, 5], 16),             # GQA 4
    (16, 2, 128, 32, 0, [129, 64], 64),         # GQA 8, block size 32
    (8, 2, 64, 16, 20, [90, 15], 32),           # sliding window (empty partitions)
    (4, 2, 96, 16, 0, [41], 32),                # head_dim 96
    (8, 2, 64, 16, 0, [70, 5], 128),            # one partition: normalized output, no reduce
    (8, 2, 64, 16, 20, [90, 15], 96),           # one partition under a sliding window
], [0, 5], [0, 3, 5, 6]))
def test_decode(nh, nkv, hd, bs, window, seq_lens, psize, kv, sinks):
    rng = np.random.default_rng(sum(seq_lens) * hd + window)
    S = len(seq_lens)
    kc, vc, bt = _setup(rng, [1] * S, seq_lens, nkv, hd, bs, kv)
    q = rounded(rng.standard_normal((S, nh, hd)), DT)
    P = (max(seq_lens) + psize - 1) // psize
    pacc = poisoned((S, nh, P, hd), "fp32")
    pml = poisoned((S, nh, P, 2), "fp32")
    out = poisoned((S, nh, hd), DT)
    scale = hd ** -0.5
    sk, has = _sinks(rng, nh, sinks)
    attention.decode_attention_partial_kernel[(S, nkv, P)](
        make(q, DT), make(kc, kv), make(vc, kv), make(bt, "i32"), make(seq_lens, "i32"), pacc, pml, out, sk,
        scale, nh * hd, hd, nh * hd, hd, bt.shape[1], nkv, nh // nkv, window, psize, has,
        **attention.decode_constexprs(hd, bs, block_g=16, block_n=16))
    if P > 1:
        attention.decode_attention_reduce_kernel[(S, nh)](pacc, pml, out, nh * hd, hd, nh, P,
                                                          **attention.reduce_constexprs(hd, block_p=2))
    ref = np.concatenate([_ref_seq(q[s:s + 1], kc, vc, bt[s], seq_lens[s], scale, window, nh // nkv,
                                   sk.numpy() if has else None)
                          for s in range(S)])
    assert rel_err(out.numpy(), ref) <= TOL


@pytest.mark.parametrize("nh,nkv,hd,rot,neox,bs,window,seq_lens,psize,kv,sinks", _with_kv([
    (8, 2, 64, 64, True, 16, 0, [70, 5, 1], 128),      # one partition; a one-token sequence
    (8, 2, 64, 64, True, 16, 0, [70, 33, 1], 16),      # several partitions: only one holds the new token
    (4, 4, 64, 32, False, 16, 0, [37, 100], 32),       # GPT-J pairs, partial rotary, MHA
    (16, 2, 128, 64, True, 32, 0, [129, 64], 64),      # partial rotary, GQA 8, block size 32
    (8, 2, 64, 64, False, 16, 20, [90, 15], 32),       # sliding window (empty partitions)
    (4, 2, 96, 96, True, 16, 0, [41, 2], 64),          # head_dim 96 (padded dims)
    (8, 1, 64, 64, True, 16, 8, [40, 9, 3], 16),       # gpt-oss style: window 8, partitions outside it
], [1, 2], [0, 1, 4, 6]))
def test_decode_rope(nh, nkv, hd, rot, neox, bs, window, seq_lens, psize, kv, sinks):
    # rope_kv_write + decode attention in one kernel, against rotating in numpy, writing the
    # cache by hand and attending over it; the cache slot of the new token holds garbage
    # before the kernel (it must not read it), and a padding row (slot < 0) writes nothing.
    from test_rope import _cos_sin, _rope_ref
    rng = np.random.default_rng(sum(seq_lens) * hd + rot + window)
    S = len(seq_lens) + 1  # + a padding row: seq_len 1, slot -1
    lens = list(seq_lens) + [1]
    kc, vc, bt = _setup(rng, [1] * S, lens, nkv, hd, bs, kv)
    qkv = rounded(rng.standard_normal((S, (nh + 2 * nkv) * hd)), DT)
    cs = _cos_sin(256, rot)
    positions = rng.integers(0, 256, S)
    slots = np.array([bt[s, (n - 1) // bs] * bs + (n - 1) % bs for s, n in enumerate(lens)])
    slots[-1] = -1
    kc_in, vc_in = kc.copy(), vc.copy()
    for s in range(S - 1):
        kc_in[slots[s] // bs, slots[s] % bs] = 1.0e4
        vc_in[slots[s] // bs, slots[s] % bs] = -1.0e4
    P = (max(lens) + psize - 1) // psize
    pacc = poisoned((S, nh, P, hd), "fp32")
    pml = poisoned((S, nh, P, 2), "fp32")
    out = poisoned((S, nh, hd), DT)
    kbuf, vbuf = make(kc_in, kv), make(vc_in, kv)
    scale = hd ** -0.5
    sk, has = _sinks(rng, nh, sinks)
    attention.decode_rope_attention_kernel[(S, nkv, P)](
        make(qkv, DT), make(positions, "i32"), make(cs, "fp32"), make(slots, "i32"), kbuf, vbuf, make(bt, "i32"),
        make(lens, "i32"), pacc, pml, out, sk, scale, qkv.shape[1], nh * hd, hd, bt.shape[1], nkv, nh // nkv, window,
        psize, has, IS_NEOX=neox, ROT_DIM=rot, **attention.decode_constexprs(hd, bs, block_g=16, block_n=16))
    if P > 1:
        attention.decode_attention_reduce_kernel[(S, nh)](pacc, pml, out, nh * hd, hd, nh, P,
                                                          **attention.reduce_constexprs(hd, block_p=2))
    # reference: rotate, round as the model's activations, then as the cache stores them
    # (the new token is attended to as cached), write, attend
    x = qkv.astype(np.float64).reshape(S, nh + 2 * nkv, hd)
    xr = rounded(_rope_ref(x, cs[positions].astype(np.float64), rot, neox), DT)
    q, k_new, v_new = xr[:, :nh], rounded(xr[:, nh:nh + nkv], kv), rounded(x[:, nh + nkv:], kv)
    kc_ref, vc_ref = kc_in.copy(), vc_in.copy()
    for s in range(S - 1):
        kc_ref[slots[s] // bs, slots[s] % bs] = k_new[s]
        vc_ref[slots[s] // bs, slots[s] % bs] = v_new[s]
    # k: rotated in fp32 here, in float64 above; an fp8 rounding may then land one step apart
    tol = 1e-2 if kv == "bf16" else 0.13
    np.testing.assert_allclose(kbuf.numpy(), kc_ref, rtol=tol, atol=1e-2)
    assert np.array_equal(vbuf.numpy(), vc_ref)
    sv = sk.numpy() if has else None
    ref = [_ref_seq(q[s:s + 1], kc_ref, vc_ref, bt[s], lens[s], scale, window, nh // nkv, sv) for s in range(S - 1)]
    # the padding row attends to its own new token only (and the sinks)
    g = nh // nkv
    v_pad = np.repeat(v_new[-1], g, axis=0)  # [nh, hd]
    if has:  # weight 1 / (1 + exp(sink - score)) on its value
        score = np.einsum("hd,hd->h", q[-1].astype(np.float64), np.repeat(k_new[-1], g, axis=0)) * scale
        v_pad = v_pad / (1.0 + np.exp(sv.astype(np.float64) - score))[:, None]
    ref.append(v_pad.reshape(1, nh, hd))
    assert rel_err(out.numpy(), np.concatenate(ref)) <= TOL
