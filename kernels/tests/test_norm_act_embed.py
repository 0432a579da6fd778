import numpy as np
import pytest

import activation
import embedding
import norm
from hostbuf import TOL, make, poisoned, rel_err, rounded


def _rms_ref(x, w, eps):
    x = x.astype(np.float64)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


@pytest.mark.parametrize("dt", ["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("T,N,BN", [(1, 64, 64), (5, 1000, 1024), (3, 2048, 2048)])
def test_rms_norm(dt, T, N, BN):
    rng = np.random.default_rng(T * N)
    x = rounded(rng.standard_normal((T, N)) * 3, dt)
    w = rounded(rng.standard_normal(N), dt)
    out = poisoned((T, N), dt)
    norm.rms_norm_kernel[(T,)](make(x, dt), make(w, dt), out, N, N, N, 1e-6, BLOCK_N=BN)
    assert rel_err(out.numpy(), _rms_ref(x, w, 1e-6)) <= TOL[dt]


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("T,N,BN", [(1, 128, 128), (4, 1000, 1024)])
def test_rms_norm_residual(dt, T, N, BN):
    rng = np.random.default_rng(N)
    # x lives in a wider buffer (row stride > N) to exercise strides
    xs = rounded(rng.standard_normal((T, N + 16)), dt)
    r = rounded(rng.standard_normal((T, N)), dt)
    w = rounded(rng.standard_normal(N), dt)
    res = make(r, dt)
    out = poisoned((T, N), dt)
    norm.rms_norm_residual_kernel[(T,)](make(xs, dt), res, make(w, dt), out, N + 16, N, N, N, 1e-5, BLOCK_N=BN)
    h = xs[:, :N].astype(np.float64) + r
    assert rel_err(res.numpy(), h) <= TOL[dt]
    assert rel_err(out.numpy(), _rms_ref(rounded(h, dt), w, 1e-5)) <= TOL[dt]


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("splits,bias", [(1, False), (3, True), (4, False), (6, True)])
def test_rms_norm_residual_splitk(dt, splits, bias):
    # x = the fp32 partials' sum (+ bias), rounded to the storage dtype, then add & norm
    rng = np.random.default_rng(splits)
    T, N = 3, 200
    parts = rng.standard_normal((splits, T, N)).astype(np.float32)
    b = rounded(rng.standard_normal(N), dt)
    r = rounded(rng.standard_normal((T, N + 16)), dt)  # residual row stride N + 16
    w = rounded(rng.standard_normal(N), dt)
    res = make(r, dt)
    out = poisoned((T, N), dt)
    norm.rms_norm_residual_splitk_kernel[(T,)](make(parts, "fp32"), make(b, dt), res, make(w, dt), out, T, splits,
                                               N + 16, N, N, 1e-5, int(bias), BLOCK_N=256)
    x = rounded(parts.astype(np.float64).sum(0) + (b if bias else 0), dt)
    h = x + r[:, :N]
    assert rel_err(res.numpy()[:, :N], h) <= TOL[dt]
    assert np.array_equal(res.numpy()[:, N:], r[:, N:])  # the residual's padding is untouched
    assert rel_err(out.numpy(), _rms_ref(rounded(h, dt), w, 1e-5)) <= TOL[dt]


@pytest.mark.parametrize("dt", ["bf16", "fp32"])
@pytest.mark.parametrize("nh,hd", [(5, 64), (8, 128), (9, 128)])
def test_rms_norm_heads_in_place(dt, nh, hd):
    # q-norm on the q heads inside a fused qkv row (row stride = (nh + 2) * hd)
    rng = np.random.default_rng(nh * hd)
    T, width = 3, (nh + 2) * hd
    qkv = rounded(rng.standard_normal((T, width)), dt)
    w = rounded(rng.standard_normal(hd), dt)
    buf = make(qkv, dt)
    norm.rms_norm_heads_kernel[(T, (nh + 7) // 8)](buf, make(w, dt), buf, width, width, nh, 1e-6,
                                                    HEAD_DIM=hd, BLOCK_HEADS=8)
    got = buf.numpy()
    ref = _rms_ref(qkv[:, :nh * hd].reshape(T, nh, hd), w, 1e-6).reshape(T, nh * hd)
    assert rel_err(got[:, :nh * hd], ref) <= TOL[dt]
    assert np.array_equal(got[:, nh * hd:], qkv[:, nh * hd:])  # k, v untouched


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("act", [0, 1])
@pytest.mark.parametrize("T,I", [(1, 256), (3, 1000)])
def test_act_and_mul(dt, act, T, I):
    rng = np.random.default_rng(I + act)
    x = rounded(rng.standard_normal((T, 2 * I)) * 2, dt)
    out = poisoned((T, I), dt)
    activation.act_and_mul_kernel[(T, (I + 255) // 256)](make(x, dt), out, 2 * I, I, I, ACT=act, BLOCK=256)
    g, u = x[:, :I].astype(np.float64), x[:, I:].astype(np.float64)
    if act == 0:
        a = g / (1 + np.exp(-g))
    else:
        a = 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g ** 3)))
    assert rel_err(out.numpy(), a * u) <= TOL[dt]


@pytest.mark.parametrize("dt", ["bf16", "fp32"])
def test_embedding(dt):
    rng = np.random.default_rng(7)
    V, H, T = 50, 300, 9
    table = rounded(rng.standard_normal((V, H)), dt)
    ids = rng.integers(0, V, T)
    out = poisoned((T, H), dt)
    embedding.embedding_kernel[(T, 3)](make(ids, "i32"), make(table, dt), out, H, H, H, BLOCK=128)
    assert np.array_equal(out.numpy(), table[ids])
