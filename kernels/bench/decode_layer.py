"""A llama-1b decode layer less its attention, as the decode graph runs it, for the layer
benches (tune_norm_parts.py, tune_pdl_layer.py): weights for L layers (each its own, more bytes
than L2 holds), the activations at M rows, and the pack's kernels in the order of a step:
q|k|v > o (split-K) > reduce + add & norm > gate|up + SiLU > down (split-K) > reduce + add & norm.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
import norm  # noqa: E402

DT = torch.bfloat16
H, QKV, I = 2048, 3072, 8192
EPS = 1e-5


def splits_for(K, bk, sp):
    """(k_per_split, splits) for about sp K-splits of BLOCK_K bk."""
    kps = math.ceil(math.ceil(K / sp) / bk) * bk
    return kps, math.ceil(K / kps)


class Layer:
    def __init__(self, M, L):
        torch.manual_seed(0)
        mk = lambda *s: torch.randn(*s, device="cuda", dtype=DT) * 0.02  # noqa: E731
        self.M, self.L = M, L
        self.Wqkv = [mk(QKV, H) for _ in range(L)]
        self.Wo = [mk(H, H) for _ in range(L)]
        self.Wgu = [mk(2 * I, H) for _ in range(L)]
        self.Wd = [mk(H, I) for _ in range(L)]
        self.g1 = [1 + mk(H) for _ in range(L)]
        self.g2 = [1 + mk(H) for _ in range(L)]
        self.attn = mk(M, H)
        self.residual = torch.randn(M, H, device="cuda", dtype=DT)
        self.normed = torch.empty(M, H, device="cuda", dtype=DT)
        self.qkv = torch.empty(M, QKV, device="cuda", dtype=DT)
        self.mlp = torch.empty(M, I, device="cuda", dtype=DT)
        self.kps_o, self.s_o = splits_for(H, 128, 5)  # as cuda_linear.cpp splits them at M = 64
        self.kps_d, self.s_d = splits_for(I, 128, 5)
        self.part = torch.empty(max(self.s_o, self.s_d), M, H, device="cuda", dtype=torch.float32)

    def run_pack(self, l):
        """Layer l with the pack's kernels (the tiles cuda_linear.cpp takes at M = 64)."""
        M, part, normed, residual = self.M, self.part, self.normed, self.residual
        gemm.gemv_splitk_kernel[(1, QKV // 32, 1)](normed, self.Wqkv[l], self.Wqkv[l], self.qkv, part, M, QKV, H, H,
                                                   H, QKV, H, 0, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, num_warps=4,
                                                   num_stages=4)
        gemm.gemv_splitk_kernel[(1, H // 32, self.s_o)](self.attn, self.Wo[l], self.Wo[l], normed, part, M, H, H, H,
                                                        H, H, self.kps_o, 0, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128,
                                                        num_warps=4, num_stages=4)
        norm.rms_norm_residual_splitk_kernel[(M,)](part, self.g2[l], residual, self.g2[l], normed, M, self.s_o, H, H,
                                                    H, EPS, 0, BLOCK_N=2048, num_warps=8)
        gemm.gemv_act_mul_kernel[(1, I // 32)](normed, self.Wgu[l], self.Wgu[l][I:], self.mlp, M, I, H, H, H, I, ACT=0,
                                               BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, num_warps=4, num_stages=3)
        gemm.gemv_splitk_kernel[(1, H // 32, self.s_d)](self.mlp, self.Wd[l], self.Wd[l], normed, part, M, H, I, I,
                                                        I, H, self.kps_d, 0, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128,
                                                        num_warps=4, num_stages=4)
        norm.rms_norm_residual_splitk_kernel[(M,)](part, self.g1[l], residual, self.g1[l], normed, M, self.s_d, H, H,
                                                    H, EPS, 0, BLOCK_N=2048, num_warps=8)
