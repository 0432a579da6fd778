import numpy as np
import pytest

import gemm_fp8
from hostbuf import FP8_VALUES, TOL, make, poisoned, rel_err, rounded, to_fp8_bits


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("one_pass", [0, 1])
@pytest.mark.parametrize("M,K", [(5, 96), (3, 2100)])
def test_quant_fp8_rows(dt, one_pass, M, K):
    # rows of very different magnitudes, one of zeros; x is a column slice (row stride K + 16)
    rng = np.random.default_rng(M + K)
    x = rng.standard_normal((M, K + 16)) * (10.0 ** rng.integers(-3, 4, (M, 1)))
    x[1] = 0.0
    x = rounded(x, dt)
    q = make(np.full((M, K + 8), np.nan), "fp8")  # q row stride K + 8
    s = poisoned((M,), "fp32")
    block = 4096 if one_pass else 64
    gemm_fp8.quant_fp8_rows_kernel[(M,)](make(x, dt), q, s, K, K + 16, K + 8, ONE_PASS=one_pass, BLOCK_K=block)
    xs = x[:, :K].astype(np.float32)
    amax = np.abs(xs).max(axis=1)
    want_s = np.where(amax > 0, amax / np.float32(448.0), np.float32(1.0)).astype(np.float32)
    np.testing.assert_array_equal(s.numpy(), want_s)
    want_q = to_fp8_bits(np.clip(xs / want_s[:, None], -448, 448))
    np.testing.assert_array_equal(q.arr[:, :K], want_q)
    assert (q.arr[:, K:] == to_fp8_bits(np.nan)).all()  # nothing written past K
    # the largest magnitude of each nonzero row lands on +-448
    assert (np.abs(FP8_VALUES[q.arr[[0, 2], :K]]).max(axis=1) == 448).all()


def _operands(rng, M, N, K, rows_w):
    # fp8 codes of unit-ish values and positive scales of varied size
    xq = to_fp8_bits(rng.standard_normal((M, K)) * 40)
    wq = to_fp8_bits(rng.standard_normal((rows_w, K)) * 40)
    xs = (rng.uniform(0.5, 2, M) * 1e-2).astype(np.float32)
    ws = (rng.uniform(0.5, 2, rows_w) * 1e-2).astype(np.float32)
    return xq, wq, xs, ws


def _fp8(codes):
    from hostbuf import Buf
    return Buf(np.ascontiguousarray(codes), fp8=True)


def _ref(xq, wq, xs, ws):
    return (FP8_VALUES[xq].astype(np.float64) @ FP8_VALUES[wq].T.astype(np.float64)) * xs[:, None] * ws[None, :]


def _silu_mul_ref(g, u, dt):
    g = rounded(g, dt).astype(np.float64)
    u = rounded(u, dt).astype(np.float64)
    return g / (1 + np.exp(-g)) * u


def _check(out, xq, wq, xs, ws, bias, N, dt, act_mul):
    # out [M, N + 16] against the float64 products (+ bias), or SiLU(gate) * up of them;
    # nothing written right of column N
    full = _ref(xq, wq, xs, ws)
    if act_mul:
        ref, tol = _silu_mul_ref(full[:, :N], full[:, N:], dt), (2.5e-2 if dt == "bf16" else TOL[dt])
    else:
        ref, tol = full + bias, TOL[dt]
    got = out.numpy()
    assert rel_err(got[:, :N], ref) <= tol
    assert np.isnan(got[:, N:]).all()


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("act_mul", [0, 1])
@pytest.mark.parametrize("M,N,K,bias", [(1, 96, 256, True), (70, 40, 96, False), (33, 64, 160, True)])
def test_matmul_fp8(dt, act_mul, M, N, K, bias):
    # x has row stride K + 16, out N + 16; with act_mul w is the [2N, K] gate|up (ws [2N])
    rng = np.random.default_rng(M * N + K + act_mul)
    BM, BN, BK = 32, 32, 32
    xq, wq, xs, ws = _operands(rng, M, N, K, 2 * N if act_mul else N)
    xbuf = np.zeros((M, K + 16), np.uint8)
    xbuf[:, :K] = xq
    b = rounded(rng.standard_normal(N), dt)
    out = poisoned((M, N + 16), dt)
    tiles = ((M + BM - 1) // BM) * ((N + BN - 1) // BN)
    gemm_fp8.matmul_fp8_kernel[(tiles,)](_fp8(xbuf), _fp8(wq), make(xs, "fp32"), make(ws, "fp32"), make(b, dt), out,
                                         M, N, K, K + 16, K, N + 16, int(bias), ACT_MUL=act_mul, BLOCK_M=BM,
                                         BLOCK_N=BN, BLOCK_K=BK, GROUP_M=2)
    _check(out, xq, wq, xs, ws, b if bias else 0, N, dt, act_mul)


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("act_mul", [0, 1])
@pytest.mark.parametrize("M,N,K,bias", [(70, 40, 96, True), (33, 64, 64, False)])
def test_matmul_fp8_tma(dt, act_mul, M, N, K, bias):
    # persistent: 3 programs over every tile; loads past M, N, K zero-filled, stores clipped
    rng = np.random.default_rng(M * 5 + N + act_mul)
    BM, BN, BK = 32, 32, 32
    xq, wq, xs, ws = _operands(rng, M, N, K, 2 * N if act_mul else N)
    b = rounded(rng.standard_normal(N), dt)
    out = poisoned((M, N + 16), dt)
    tiles = ((M + BM - 1) // BM) * ((N + BN - 1) // BN)
    gemm_fp8.matmul_fp8_tma_kernel[(min(tiles, 3),)](_fp8(xq), _fp8(wq), make(xs, "fp32"), make(ws, "fp32"),
                                                     make(b, dt), out, M, N, K, K, K, N + 16, int(bias),
                                                     ACT_MUL=act_mul, BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, GROUP_M=2)
    _check(out, xq, wq, xs, ws, b if bias else 0, N, dt, act_mul)


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("add", [0, 1])
@pytest.mark.parametrize("M,N", [(3, 96), (2, 200)])
def test_rms_norm_quant_fp8(dt, add, M, N):
    # the fused norm + quantizer against the norm as the unfused path stores it (rounded to the
    # dtype), quantized by the same rule; residual updated when ADD. The interpreter truncates
    # fp32 -> bf16 casts (the GPU rounds to nearest), so bf16 is held to tolerances, fp16 to
    # exact scales and codes.
    rng = np.random.default_rng(M + N + add)
    BN = 256
    x = rounded(rng.standard_normal((M, N + 16)), dt)
    r = rounded(rng.standard_normal((M, N + 32)) * 3, dt)
    w = rounded(rng.uniform(0.5, 1.5, N), dt)
    rb = make(r, dt)
    q = make(np.full((M, N + 8), np.nan), "fp8")
    s = poisoned((M,), "fp32")
    eps = 1e-5
    gemm_fp8.rms_norm_quant_fp8_kernel[(M,)](make(x, dt), rb, make(w, dt), q, s, N + 16, N + 32, N + 8, N, eps,
                                             ADD=add, BLOCK_N=BN)
    h = r[:, :N].astype(np.float32)
    exact = dt == "fp16"
    if add:
        h = rounded(x[:, :N].astype(np.float32) + h, dt)
        assert rel_err(rb.numpy()[:, :N], h) <= (0 if exact else TOL[dt])
    else:
        np.testing.assert_array_equal(rb.numpy(), r)  # untouched
    inv = 1.0 / np.sqrt((h.astype(np.float64) ** 2).mean(axis=1) + eps)
    y = rounded(h * inv[:, None] * w[None, :N], dt)
    want_s = (np.abs(y).max(axis=1) / np.float32(448.0)).astype(np.float32)
    np.testing.assert_allclose(s.numpy(), want_s, rtol=1e-6 if exact else 2e-2)
    got = FP8_VALUES[q.arr[:, :N]] * s.numpy()[:, None]
    assert rel_err(got, y) < 0.05  # e4m3 keeps 3 mantissa bits
    if exact:  # the norm's own rounding (rsqrt) may move a code at a boundary
        assert (q.arr[:, :N] == to_fp8_bits(np.clip(y / want_s[:, None], -448, 448))).mean() > 0.98
    assert (q.arr[:, N:] == to_fp8_bits(np.nan)).all()
