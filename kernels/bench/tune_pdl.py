#!/usr/bin/env python3
"""Programmatic dependent launch (PDL) for the decode GEMMs: chains of skinny GEMM launches
replayed from one CUDA graph, as a decode step's kernels run, with and without PDL.

    python3 kernels/bench/tune_pdl.py [--m 64] [--modes base,pdl,pdl_late,pdl_peel,pdl_prefetch]

Modes (each a variant of gemm.py's skinny GEMM loop, compiled here by Triton's JIT):
  base          gemm.gemv_splitk_kernel as tritium launches it
  nopdl         the variant below with PDL off (the same loop: a control)
  pdl           griddepcontrol.wait, then launch_dependents, at the start of every program
  pdl_late      wait at the start, launch_dependents after the K loop (before the store)
  pdl_peel      the first W tile loaded before the wait (W does not depend on the previous kernel)
  pdl_prefetch  the program's whole W slab prefetched to L2 (prefetch.global.L2) before the wait
Prints microseconds per chain step (one launch of each linear in the chain) per mode.
Fifth session, H100 (docs/PERF.md): pdl_late -2.5% on the qkv > o > gate > down chain, pdl +6%,
pdl_peel and pdl_prefetch slower; not adopted.
"""
import argparse
import math
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
from tune_skinny_gemm import SMS, time_graph, weights  # noqa: E402

DT = torch.bfloat16


@triton.jit
def gemv_pdl_kernel(x_ptr, w_ptr, out_ptr, M, N, K, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                    BLOCK_K: tl.constexpr, PDL: tl.constexpr, LATE: tl.constexpr, PEEL: tl.constexpr,
                    PREFETCH: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    w_rows = w_ptr + offs_n[:, None].to(tl.int64) * K
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * K
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    if PREFETCH:  # one prefetch per 128-byte line of the program's W rows
        lines = tl.arange(0, 8) * 64
        for k0 in range(0, K, 512):
            tl.inline_asm_elementwise("prefetch.global.L2 [$1];", "=r,l", [w_rows + k0 + lines[None, :]],
                                      dtype=tl.int32, is_pure=False, pack=1)
    k_start = 0
    if PEEL:
        w0 = tl.load(w_rows + offs_k[None, :], mask=nmask[:, None], other=0.0)
        tl.extra.cuda.gdc_wait()
        x0 = tl.load(x_rows + offs_k[None, :], mask=mmask[:, None], other=0.0)
        acc = tl.dot(x0, tl.trans(w0), acc)
        k_start = BLOCK_K
    elif PDL:
        tl.extra.cuda.gdc_wait()
        if not LATE:
            tl.extra.cuda.gdc_launch_dependents()
    for k0 in range(k_start, K, BLOCK_K):
        kk = k0 + offs_k
        w = tl.load(w_rows + kk[None, :], mask=nmask[:, None], other=0.0)
        x = tl.load(x_rows + kk[None, :], mask=mmask[:, None], other=0.0)
        acc = tl.dot(x, tl.trans(w), acc)
    if PDL and LATE:
        tl.extra.cuda.gdc_launch_dependents()
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * N + offs_n[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=mmask[:, None] & nmask[None, :])


def tile(M, N):  # the tile cuda_linear.cpp picks for M in 33..128 (narrow / wide)
    wide = math.ceil(M / 64) * math.ceil(N / 32) >= 2 * SMS
    return (64, 64, 128, 4, 3) if wide else (64, 32, 128, 4, 4)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--modes", default="base,nopdl,pdl,pdl_late,pdl_peel,pdl_prefetch")
    a = ap.parse_args()
    M = a.m
    # llama-1b's linears (down unsplit here: the chain times launches, not the split choice)
    shapes = {"qkv": (3072, 2048), "gate": (16384, 2048), "down": (2048, 8192), "o": (2048, 2048),
              "lm_head": (128256, 2048)}
    w = {name: weights(N, K) for name, (N, K) in shapes.items()}
    x = {K: torch.randn(M, K, device="cuda", dtype=DT) for K in (2048, 8192)}
    out = {N: torch.empty(M, N, device="cuda", dtype=DT) for N, _ in shapes.values()}

    def runner(chain, mode):
        def run(i):
            for name in chain:
                N, K = shapes[name]
                wt = w[name][i % len(w[name])]
                bm, bn, bk, nw, ns = tile(M, N)
                grid = (math.ceil(M / bm), math.ceil(N / bn))
                if mode == "base":
                    gemm.gemv_splitk_kernel[grid + (1,)](x[K], wt, wt, out[N], wt, M, N, K, K, K, N, K, 0,
                                                         BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, num_warps=nw,
                                                         num_stages=ns)
                else:
                    pdl = mode != "nopdl"
                    gemv_pdl_kernel[grid](x[K], wt, out[N], M, N, K, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, PDL=pdl,
                                          LATE=mode in ("pdl_late", "pdl_peel"), PEEL=mode == "pdl_peel",
                                          PREFETCH=mode == "pdl_prefetch", num_warps=nw, num_stages=ns,
                                          launch_pdl=pdl)
        return run

    print(f"{torch.cuda.get_device_name()}, M = {M}: microseconds per chain step")
    for chain in (["qkv"], ["o"], ["gate"], ["down"], ["qkv", "o", "gate", "down"], ["lm_head"]):
        n = max(len(w[s]) for s in chain)
        res = [f"{mode} {time_graph(runner(chain, mode), n) * 1e6:7.1f}" for mode in a.modes.split(",")]
        print(f"  {'+'.join(chain):18s} " + "  ".join(res), flush=True)


if __name__ == "__main__":
    main()
