#!/usr/bin/env python3
"""Programmatic dependent launch over a whole decode layer (less its attention), as the decode
graph runs it: q|k|v > o (split-K) > reduce + add & norm > gate|up + SiLU > down (split-K) >
reduce + add & norm, 16 layers with their own weights replayed from one CUDA graph, every
kernel launched with PDL: griddepcontrol.wait before its first load, launch_dependents after
its main loop (before the epilogue's stores), so the next kernel's programs launch while this
one's finish. tune_pdl.py timed GEMM chains alone (fifth session: -2.5% with the late trigger).

    python3 kernels/bench/tune_pdl_layer.py [--m 64]
"""
import argparse
import os
import sys

import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
import norm  # noqa: E402
from tune_skinny_gemm import time_graph  # noqa: E402

from decode_layer import EPS, H, I, QKV, Layer  # noqa: E402


@triton.jit
def gemv_pdl_kernel(x_ptr, w_ptr, out_ptr, ws_ptr, M, N, K, k_per_split, BLOCK_M: tl.constexpr,
                    BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, PDL: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    k_lo = pid_k * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, K)
    if PDL:
        tl.extra.cuda.gdc_wait()
    acc = gemm._gemv_tile(x_ptr, w_ptr, M, N, K, K, k_lo, k_hi, offs_m, offs_n, BLOCK_M, BLOCK_N, BLOCK_K)
    if PDL:
        tl.extra.cuda.gdc_launch_dependents()
    gemm._store_split(acc, w_ptr, out_ptr, ws_ptr, M, N, N, 0, pid_k, tl.num_programs(2), offs_m, offs_n)


@triton.jit
def act_mul_pdl_kernel(x_ptr, wg_ptr, wu_ptr, out_ptr, M, N, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_K: tl.constexpr, PDL: tl.constexpr):
    pid_n = tl.program_id(1)
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    if PDL:
        tl.extra.cuda.gdc_wait()
    offs_k = tl.arange(0, BLOCK_K)
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * K
    g_rows = wg_ptr + offs_n[:, None].to(tl.int64) * K
    u_rows = wu_ptr + offs_n[:, None].to(tl.int64) * K
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):  # gemm.gemv_act_mul_kernel's loop (M <= BLOCK_M, N % BLOCK_N == 0)
        kk = k0 + offs_k
        x = tl.load(x_rows + kk[None, :], mask=(offs_m < M)[:, None], other=0.0)
        acc_g = tl.dot(x, tl.trans(tl.load(g_rows + kk[None, :])), acc_g)
        acc_u = tl.dot(x, tl.trans(tl.load(u_rows + kk[None, :])), acc_u)
    if PDL:
        tl.extra.cuda.gdc_launch_dependents()
    g = acc_g.to(out_ptr.dtype.element_ty).to(tl.float32)
    u = acc_u.to(out_ptr.dtype.element_ty).to(tl.float32)
    a = g / (1.0 + tl.exp(-g))
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * N + offs_n[None, :], (a * u).to(out_ptr.dtype.element_ty),
             mask=(offs_m < M)[:, None] & (offs_n < N)[None, :])


@triton.jit
def norm_pdl_kernel(ws_ptr, residual_ptr, w_ptr, out_ptr, M, splits, N, eps, BLOCK_N: tl.constexpr,
                    PDL: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    if PDL:
        tl.extra.cuda.gdc_wait()
    r = norm._load_row(residual_ptr, row, N, cols, mask)
    w = norm._load_row(w_ptr, 0, 0, cols, mask)
    acc = tl.zeros([BLOCK_N], tl.float32)
    for s0 in range(0, splits, 4):
        for j in tl.static_range(4):
            s = s0 + j
            acc += tl.load(ws_ptr + (s * M + row) * N + cols, mask=mask & (s < splits), other=0.0)
    if PDL:
        tl.extra.cuda.gdc_launch_dependents()
    x = acc.to(residual_ptr.dtype.element_ty).to(tl.float32)
    norm._add_norm_store(x, r, w, residual_ptr, out_ptr, row, N, N, cols, mask, N, eps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--layers", type=int, default=16)
    a = ap.parse_args()
    M, L = a.m, a.layers
    lay = Layer(M, L)
    Wqkv, Wo, Wgu, Wd, g1, g2 = lay.Wqkv, lay.Wo, lay.Wgu, lay.Wd, lay.g1, lay.g2
    attn, residual, normed, qkv, mlp, part = lay.attn, lay.residual, lay.normed, lay.qkv, lay.mlp, lay.part
    kps_o, s_o, kps_d, s_d = lay.kps_o, lay.s_o, lay.kps_d, lay.s_d

    def layer(pdl):
        def run(l):
            kw = dict(PDL=pdl, launch_pdl=pdl)
            gemv_pdl_kernel[(1, QKV // 32, 1)](normed, Wqkv[l], qkv, part, M, QKV, H, H, BLOCK_M=64, BLOCK_N=32,
                                               BLOCK_K=128, num_warps=4, num_stages=4, **kw)
            gemv_pdl_kernel[(1, H // 32, s_o)](attn, Wo[l], normed, part, M, H, H, kps_o, BLOCK_M=64, BLOCK_N=32,
                                               BLOCK_K=128, num_warps=4, num_stages=4, **kw)
            norm_pdl_kernel[(M,)](part, residual, g2[l], normed, M, s_o, H, EPS, BLOCK_N=2048, num_warps=8, **kw)
            act_mul_pdl_kernel[(1, I // 32)](normed, Wgu[l], Wgu[l][I:], mlp, M, I, H, BLOCK_M=64, BLOCK_N=32,
                                             BLOCK_K=128, num_warps=4, num_stages=3, **kw)
            gemv_pdl_kernel[(1, H // 32, s_d)](mlp, Wd[l], normed, part, M, H, I, kps_d, BLOCK_M=64, BLOCK_N=32,
                                               BLOCK_K=128, num_warps=4, num_stages=4, **kw)
            norm_pdl_kernel[(M,)](part, residual, g1[l], normed, M, s_d, H, EPS, BLOCK_N=2048, num_warps=8, **kw)
        return run

    rows = []
    for rep in range(3):
        rows.append((f"pack kernels (rep {rep})", time_graph(lay.run_pack, L)))
        rows.append((f"no PDL (rep {rep})", time_graph(layer(False), L)))
        rows.append((f"PDL, late trigger (rep {rep})", time_graph(layer(True), L)))
    print(f"M {M}: one decode layer without attention, {L} layers in a graph")
    for name, t in rows:
        print(f"  {name:32s} {t * 1e6:7.2f} us / layer")


if __name__ == "__main__":
    main()
