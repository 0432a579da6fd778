#!/usr/bin/env python3
"""Decode layer without its two row-serial norm launches (prototype measurement).

Today o_proj / down_proj write split-K partials and rms_norm_residual_splitk_kernel (one
program per row: 64 programs at M = 64) sums them, adds the residual and norms the row. Here
the reduce kernel runs over (row, column chunk) programs: it writes the new residual,
h * norm_weight (not yet scaled by 1 / rms) and each chunk's sum of squares; the consumer GEMM
(q|k|v, gate|up + SiLU) scales its fp32 accumulator rows by rsqrt(sum / N + eps) in its epilogue,
which is the same function: (h * g * r) @ W^T = r * ((h * g) @ W^T).

    python3 kernels/bench/tune_norm_parts.py [--m 64]

Prints, for the llama-1b shapes: the norm launch alone (old, and new by chunk width / warps),
and 16 layers of q|k|v > o > norm > gate|up > down > norm replayed from one graph (every layer
its own weights), per layer, old against new. Attention is left out (unchanged by this).
"""
import argparse
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
import norm  # noqa: E402
from tune_skinny_gemm import time_graph  # noqa: E402

from decode_layer import EPS, H, I, QKV, Layer  # noqa: E402


@triton.jit
def add_norm_parts_kernel(ws_ptr, residual_ptr, w_ptr, out_ptr, ss_ptr, M, splits, N, BLOCK: tl.constexpr):
    # grid = (M, cdiv(N, BLOCK)): x = sum of the partials, h = residual + x (rounded, written back),
    # out = h * w (rounded), ss[row, chunk] = sum(h^2) over the chunk.
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1)
    cols = c * BLOCK + tl.arange(0, BLOCK)
    mask = cols < N
    r = tl.load(residual_ptr + row * N + cols, mask=mask, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    acc = tl.zeros([BLOCK], tl.float32)
    for s0 in range(0, splits, 4):
        for j in tl.static_range(4):
            s = s0 + j
            acc += tl.load(ws_ptr + (s * M + row) * N + cols, mask=mask & (s < splits), other=0.0)
    x = acc.to(residual_ptr.dtype.element_ty).to(tl.float32)
    h = (x + r).to(residual_ptr.dtype.element_ty)
    tl.store(residual_ptr + row * N + cols, h, mask=mask)
    hf = h.to(tl.float32)
    tl.store(ss_ptr + row * tl.num_programs(1) + c, tl.sum(hf * hf, 0))
    tl.store(out_ptr + row * N + cols, (hf * w).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _row_scale(ss_ptr, offs_m, M, chunks, inv_n, eps, CHUNKS: tl.constexpr):
    cj = tl.arange(0, CHUNKS)
    ss = tl.load(ss_ptr + offs_m[:, None] * chunks + cj[None, :], mask=(offs_m < M)[:, None] & (cj < chunks)[None, :],
                 other=0.0)
    return tl.rsqrt(tl.sum(ss, 1) * inv_n + eps)


@triton.jit
def gemv_scaled_kernel(x_ptr, w_ptr, out_ptr, ss_ptr, M, N, K, chunks, inv_n, eps,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, CHUNKS: tl.constexpr):
    offs_m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = gemm._gemv_tile(x_ptr, w_ptr, M, N, K, K, 0, K, offs_m, offs_n, BLOCK_M, BLOCK_N, BLOCK_K)
    acc = acc * _row_scale(ss_ptr, offs_m, M, chunks, inv_n, eps, CHUNKS)[:, None]
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * N + offs_n[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=(offs_m < M)[:, None] & (offs_n < N)[None, :])


@triton.jit
def act_mul_scaled_kernel(x_ptr, wg_ptr, wu_ptr, out_ptr, ss_ptr, M, N, K, chunks, inv_n, eps,
                          BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, CHUNKS: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * K
    g_rows = wg_ptr + offs_n[:, None].to(tl.int64) * K
    u_rows = wu_ptr + offs_n[:, None].to(tl.int64) * K
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + offs_k
        x = tl.load(x_rows + kk[None, :], mask=mmask[:, None], other=0.0)
        wg = tl.load(g_rows + kk[None, :], mask=nmask[:, None], other=0.0)
        wu = tl.load(u_rows + kk[None, :], mask=nmask[:, None], other=0.0)
        acc_g = tl.dot(x, tl.trans(wg), acc_g)
        acc_u = tl.dot(x, tl.trans(wu), acc_u)
    sc = _row_scale(ss_ptr, offs_m, M, chunks, inv_n, eps, CHUNKS)[:, None]
    g = (acc_g * sc).to(out_ptr.dtype.element_ty).to(tl.float32)
    u = (acc_u * sc).to(out_ptr.dtype.element_ty).to(tl.float32)
    a = g / (1.0 + tl.exp(-g))
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * N + offs_n[None, :], (a * u).to(out_ptr.dtype.element_ty),
             mask=mmask[:, None] & nmask[None, :])


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

    def old_norm(s):
        norm.rms_norm_residual_splitk_kernel[(M,)](part, g1[0], residual, g1[0], normed, M, s, H, H, H, EPS, 0,
                                                    BLOCK_N=2048, num_warps=8)

    def new_norm(s, bc, nw, ss):
        add_norm_parts_kernel[(M, H // bc)](part, residual, g1[0], normed, ss, M, s, H, BLOCK=bc, num_warps=nw)

    part.normal_()
    print(f"M {M}: the norm launch alone (16 in a graph, partials L2-hot)")
    for s in (s_o, s_d):
        t = time_graph(lambda i: old_norm(s), 16)
        print(f"  old, {s} splits: {t * 1e6:6.2f} us")
        for bc in (128, 256, 512, 1024):
            for nw in (1, 2, 4):
                ss = torch.empty(M, H // bc, device="cuda", dtype=torch.float32)
                t = time_graph(lambda i: new_norm(s, bc, nw, ss), 16)
                print(f"  new, {s} splits, chunk {bc}, {nw} warps: {t * 1e6:6.2f} us")

    def make_new(bc, nw):
        C = H // bc
        ss = torch.ones(M, C, device="cuda", dtype=torch.float32)
        cp = triton.next_power_of_2(C)

        def layer_new(l):
            gemv_scaled_kernel[(1, QKV // 32)](normed, Wqkv[l], qkv, ss, M, QKV, H, C, 1.0 / H, EPS, BLOCK_M=64,
                                               BLOCK_N=32, BLOCK_K=128, CHUNKS=cp, num_warps=4, num_stages=4)
            gemm.gemv_splitk_kernel[(1, H // 32, s_o)](attn, Wo[l], Wo[l], normed, part, M, H, H, H, H, H, kps_o, 0,
                                                       BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, num_warps=4,
                                                       num_stages=4)
            add_norm_parts_kernel[(M, C)](part, residual, g2[l], normed, ss, M, s_o, H, BLOCK=bc, num_warps=nw)
            act_mul_scaled_kernel[(1, I // 32)](normed, Wgu[l], Wgu[l][I:], mlp, ss, M, I, H, C, 1.0 / H, EPS,
                                                BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, CHUNKS=cp, num_warps=4,
                                                num_stages=3)
            gemm.gemv_splitk_kernel[(1, H // 32, s_d)](mlp, Wd[l], Wd[l], normed, part, M, H, I, I, I, H, kps_d, 0,
                                                       BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, num_warps=4,
                                                       num_stages=4)
            add_norm_parts_kernel[(M, C)](part, residual, g1[l], normed, ss, M, s_d, H, BLOCK=bc, num_warps=nw)
        return layer_new

    # plain GEMM vs scaled GEMM alone (consumers), rotating weights
    ss = torch.ones(M, 8, device="cuda", dtype=torch.float32)
    t0 = time_graph(lambda l: gemm.gemv_splitk_kernel[(1, QKV // 32, 1)](
        normed, Wqkv[l], Wqkv[l], qkv, part, M, QKV, H, H, H, QKV, H, 0, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128,
        num_warps=4, num_stages=4), L)
    t1 = time_graph(lambda l: gemv_scaled_kernel[(1, QKV // 32)](
        normed, Wqkv[l], qkv, ss, M, QKV, H, 8, 1.0 / H, EPS, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, CHUNKS=8,
        num_warps=4, num_stages=4), L)
    t2 = time_graph(lambda l: gemm.gemv_act_mul_kernel[(1, I // 32)](
        normed, Wgu[l], Wgu[l][I:], mlp, M, I, H, H, H, I, ACT=0, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128, num_warps=4,
        num_stages=3), L)
    t3 = time_graph(lambda l: act_mul_scaled_kernel[(1, I // 32)](
        normed, Wgu[l], Wgu[l][I:], mlp, ss, M, I, H, 8, 1.0 / H, EPS, BLOCK_M=64, BLOCK_N=32, BLOCK_K=128,
        CHUNKS=8, num_warps=4, num_stages=3), L)
    print(f"consumers: q|k|v {t0 * 1e6:.2f} us plain, {t1 * 1e6:.2f} scaled; gate|up {t2 * 1e6:.2f} plain, "
          f"{t3 * 1e6:.2f} scaled")

    results = []
    for rep in range(2):
        t = time_graph(lay.run_pack, L)
        results.append((f"old (rep {rep})", t))
        for bc, nw in ((256, 2), (256, 4), (512, 4), (128, 1), (128, 2)):
            t = time_graph(make_new(bc, nw), L)
            results.append((f"new chunk {bc} w{nw} (rep {rep})", t))
    print(f"M {M}: one layer without attention (q|k|v, o, norm, gate|up, down, norm), {L} layers in a graph")
    for name, t in results:
        print(f"  {name:28s} {t * 1e6:7.2f} us / layer")

    # numerics: old normed vs new scaled path, one layer's q|k|v from the same residual and partials
    part.normal_()
    residual.normal_()
    r0 = residual.clone()
    norm.rms_norm_residual_splitk_kernel[(M,)](part, g1[0], residual, g1[0], normed, M, s_d, H, H, H, EPS, 0,
                                                BLOCK_N=2048, num_warps=8)
    ref = normed.float() @ Wqkv[0].float().T
    residual.copy_(r0)
    ss = torch.empty(M, 8, device="cuda", dtype=torch.float32)
    add_norm_parts_kernel[(M, 8)](part, residual, g1[0], normed, ss, M, s_d, H, BLOCK=256, num_warps=2)
    gemv_scaled_kernel[(1, QKV // 32)](normed, Wqkv[0], qkv, ss, M, QKV, H, 8, 1.0 / H, EPS, BLOCK_M=64, BLOCK_N=32,
                                       BLOCK_K=128, CHUNKS=8, num_warps=4, num_stages=4)
    err = (qkv.float() - ref).norm() / ref.norm()
    print(f"q|k|v through the new path against the old: relative error {err.item():.2e}")


if __name__ == "__main__":
    main()
