import numpy as np
import pytest

import gemm
from hostbuf import TOL, make, poisoned, rel_err, rounded


@pytest.mark.parametrize("dt", ["bf16", "fp16"])
@pytest.mark.parametrize("M,N,K,splits,bias", [(1, 96, 256, 1, True), (5, 80, 320, 3, False), (16, 64, 192, 2, True)])
def test_gemv_splitk(dt, M, N, K, splits, bias):
    rng = np.random.default_rng(M * N + K)
    BN, BK = 32, 64
    x = rounded(rng.standard_normal((M, K + 16)), dt)  # row stride K + 16
    w = rounded(rng.standard_normal((N, K)), dt)
    b = rounded(rng.standard_normal(N), dt)
    out = poisoned((M, N), dt)
    ws = poisoned((splits, M, N), "fp32")
    kps = ((K + splits - 1) // splits + BK - 1) // BK * BK
    grid = ((N + BN - 1) // BN, splits)
    gemm.gemv_splitk_kernel[grid](make(x, dt), make(w, dt), make(b, dt), out, ws, M, N, K, K + 16, K, N, kps,
                                  int(bias), BLOCK_M=16, BLOCK_N=BN, BLOCK_K=BK)
    if splits > 1:
        gemm.splitk_reduce_kernel[(M, 1)](ws, make(b, dt), out, M, N, splits, N, int(bias), BLOCK=128)
    ref = x[:, :K].astype(np.float64) @ w.T.astype(np.float64) + (b if bias else 0)
    assert rel_err(out.numpy(), ref) <= TOL[dt]


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
