import numpy as np
import pytest

import gemm
from hostbuf import TOL, make, poisoned, rel_err, rounded


@pytest.mark.parametrize("kernel", ["gemv_splitk_kernel", "gemv_tma_kernel"])
@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("M,N,K,splits,bias", [(1, 96, 256, 1, True), (5, 80, 320, 3, False), (16, 64, 192, 2, True),
                                                (40, 70, 128, 2, True), (37, 64, 64, 1, False), (37, 64, 96, 1, False),
                                                (5, 80, 320, 3, True)])
def test_gemv_splitk(kernel, dt, M, N, K, splits, bias):
    # BLOCK_M 16: M > 16 runs several row tiles (grid dim 0), the last one partial. gemv_tma_kernel
    # loads the same tiles through tensor descriptors (zero-filled past M, N, K).
    rng = np.random.default_rng(M * N + K)
    BM, BN, BK = 16, 32, 64
    x = rounded(rng.standard_normal((M, K + 16)), dt)  # row stride K + 16
    w = rounded(rng.standard_normal((N, K)), dt)
    b = rounded(rng.standard_normal(N), dt)
    out = poisoned((M, N), dt)
    ws = poisoned((splits, M, N), "fp32")
    kps = ((K + splits - 1) // splits + BK - 1) // BK * BK
    grid = ((M + BM - 1) // BM, (N + BN - 1) // BN, splits)
    getattr(gemm, kernel)[grid](make(x, dt), make(w, dt), make(b, dt), out, ws, M, N, K, K + 16, K, N, kps,
                                int(bias), BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK)
    if splits > 1:
        gemm.splitk_reduce_kernel[(M, 1)](ws, make(b, dt), out, M, N, splits, N, int(bias), BLOCK=128)
    ref = x[:, :K].astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    assert rel_err(out.numpy(), ref) <= TOL[dt]


def _act_ref(g, u, act, dt):
    g = rounded(g, dt).astype(np.float64)
    u = rounded(u, dt).astype(np.float64)
    if act == 0:
        a = g / (1 + np.exp(-g))
    else:
        a = 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g ** 3)))
    return a * u


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("act", [0, 1])
@pytest.mark.parametrize("M,N,K", [(1, 96, 256), (20, 70, 192)])
def test_gemv_act_mul(dt, act, M, N, K):
    # gate and up are separate pointers into one [2N, K] weight (the layout of a fused gate|up)
    rng = np.random.default_rng(M + N + K + act)
    BM, BN, BK = 16, 32, 64
    x = rounded(rng.standard_normal((M, K)) * 0.3, dt)
    w = rounded(rng.standard_normal((2 * N, K)) * 0.3, dt)
    out = poisoned((M, N + 16), dt)  # out row stride N + 16
    wb = make(w, dt)
    up = make(np.ascontiguousarray(w[N:]), dt)
    grid = ((M + BM - 1) // BM, (N + BN - 1) // BN)
    gemm.gemv_act_mul_kernel[grid](make(x, dt), wb, up, out, M, N, K, K, K, N + 16, ACT=act,
                                   BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK)
    xd = x.astype(np.float64)
    ref = _act_ref(xd @ w[:N].T.astype(np.float64), xd @ w[N:].T.astype(np.float64), act, dt)
    # The interpreter truncates fp32 -> bf16 casts (the GPU rounds to nearest); gate, up and the
    # output are each cast once, so bf16 gets two more units of rounding than one cast does.
    tol = 2.5e-2 if dt == "bf16" else TOL[dt]
    assert rel_err(out.numpy()[:, :N], ref) <= tol


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("M,N,K,bias", [(70, 96, 100, True), (33, 64, 64, False)])
def test_matmul(dt, persistent, M, N, K, bias):
    rng = np.random.default_rng(M + N + K)
    BM, BN, BK = 32, 32, 32
    x = rounded(rng.standard_normal((M, K)), dt)
    w = rounded(rng.standard_normal((N, K)), dt)
    b = rounded(rng.standard_normal(N), dt)
    out = poisoned((M, N), dt)
    tiles = ((M + BM - 1) // BM) * ((N + BN - 1) // BN)
    fn = gemm.matmul_persistent_kernel if persistent else gemm.matmul_kernel
    grid = (min(tiles, 3),) if persistent else (tiles,)
    fn[grid](make(x, dt), make(w, dt), make(b, dt), out, M, N, K, K, K, N, int(bias),
             BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, GROUP_M=2)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    assert rel_err(out.numpy(), ref) <= TOL[dt]


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("M,N,K,bias", [(70, 96, 100 // 16 * 16 + 16, True), (33, 40, 64, False)])
def test_matmul_tma_persistent(dt, M, N, K, bias):
    # tiles past M, N and K: TMA zero-fills the loads and clips the stores; out is a column slice
    rng = np.random.default_rng(M * 7 + N)
    BM, BN, BK = 32, 32, 32
    x = rounded(rng.standard_normal((M, K)), dt)
    w = rounded(rng.standard_normal((N, K)), dt)
    b = rounded(rng.standard_normal(N), dt)
    outbuf = poisoned((M, N + 16), dt)
    tiles = ((M + BM - 1) // BM) * ((N + BN - 1) // BN)
    gemm.matmul_tma_persistent_kernel[(min(tiles, 3),)](make(x, dt), make(w, dt), make(b, dt), outbuf, M, N, K, K,
                                                        K, N + 16, int(bias), BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK,
                                                        GROUP_M=2)
    ref = x.astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    got = outbuf.numpy()
    assert rel_err(got[:, :N], ref) <= TOL[dt]
    assert np.isnan(got[:, N:]).all()  # nothing stored right of the N columns


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("act", [0, 1])
@pytest.mark.parametrize("M,N,K", [(70, 40, 80), (33, 64, 64)])
def test_matmul_act_mul_tma(dt, act, M, N, K):
    # the gate|up weight as one [2N, K] tensor; N = 40: the last gate tile reads up rows, whose
    # columns are clipped on store; out is a column slice of a wider buffer
    rng = np.random.default_rng(M + N * 3 + act)
    BM, BN, BK = 32, 32, 32
    x = rounded(rng.standard_normal((M, K)) * 0.3, dt)
    w = rounded(rng.standard_normal((2 * N, K)) * 0.3, dt)
    outbuf = poisoned((M, N + 16), dt)
    tiles = ((M + BM - 1) // BM) * ((N + BN - 1) // BN)
    gemm.matmul_act_mul_tma_kernel[(min(tiles, 3),)](make(x, dt), make(w, dt), outbuf, M, N, K, K, K, N + 16,
                                                     ACT=act, BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, GROUP_M=2)
    xd = x.astype(np.float64)
    ref = _act_ref(xd @ w[:N].T.astype(np.float64), xd @ w[N:].T.astype(np.float64), act, dt)
    got = outbuf.numpy()
    tol = 2.5e-2 if dt == "bf16" else TOL[dt]  # see test_gemv_act_mul
    assert rel_err(got[:, :N], ref) <= tol
    assert np.isnan(got[:, N:]).all()
