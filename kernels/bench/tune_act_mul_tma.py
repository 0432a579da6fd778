#!/usr/bin/env python3
"""Sweep: the gated MLP's gate|up GEMM with SiLU * up in its epilogue, with TMA tile loads
(gemv_act_mul_tma_kernel below, an experiment not in the pack) in several tile configs, against gemv_act_mul_kernel with the
tile cuda_linear.cpp picks for it and against cuBLAS (torch.matmul, without the SiLU), at the
llama shapes for decode batches M = 128..256.

    python3 kernels/bench/tune_act_mul_tma.py [--m 160,256] [--models llama-1b,llama-8b]

Every launch reads a different copy of the weight (more bytes in all than L2 holds) and the
launches are replayed from one CUDA graph (tune_skinny_gemm.py's timing).

H100 (2026-11-23): no gain. llama-8b M = 256: best TMA tile (128x128x64 w8 s3) 122.5 us against
123.4 for the current kernel; M = 192: 120.7 against 124.5; M = 128: 95.2 against 93.5; llama-1b
M = 256: 38.1 against 36.2. cuBLAS takes 104 us for the llama-8b gate|up alone at M = 256.
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
from tune_skinny_gemm import SHAPES, copy_bw, time_graph, weights  # noqa: E402

# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages)
TMA_CONFIGS = [(64, 64, 64, 4, 4), (64, 64, 128, 4, 3), (64, 128, 64, 4, 3), (64, 128, 64, 8, 4),
               (128, 64, 64, 8, 4), (128, 64, 64, 4, 4), (128, 64, 128, 8, 3), (128, 128, 64, 8, 3),
               (256, 64, 64, 8, 3), (256, 32, 64, 8, 4), (256, 32, 128, 8, 3), (128, 32, 128, 4, 4)]


@triton.jit
def gemv_act_mul_tma_kernel(x_ptr, w_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # gemm.gemv_act_mul_kernel (SiLU) with its tiles loaded by TMA from descriptors built on the
    # device, for a gate|up weight w [2N, K] in one tensor (gate rows 0..N-1, up rows N..2N-1).
    # grid = (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N)): the row tiles of a column tile run together.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[2 * N, K], strides=[w_stride, 1],
                                       block_shape=[BLOCK_N, BLOCK_K])
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        a = x_desc.load([pid_m * BLOCK_M, k0])
        acc_g = tl.dot(a, w_desc.load([pid_n * BLOCK_N, k0]).T, acc_g)
        acc_u = tl.dot(a, w_desc.load([N + pid_n * BLOCK_N, k0]).T, acc_u)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    g = acc_g.to(out_ptr.dtype.element_ty).to(tl.float32)
    u = acc_u.to(out_ptr.dtype.element_ty).to(tl.float32)
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * out_stride + offs_n[None, :],
             (g / (1.0 + tl.exp(-g)) * u).to(out_ptr.dtype.element_ty),
             mask=(offs_m < M)[:, None] & (offs_n < N)[None, :])


def alloc(size, alignment, stream):
    return torch.empty(size, device="cuda", dtype=torch.int8)


def cur_tile(M):
    """gemv_act_mul_kernel's tile in cuda_linear.cpp for 64 < M <= 256."""
    return (128, 64, 128, 8, 3) if M <= 128 else (256, 64, 64, 8, 4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="160,256")
    ap.add_argument("--models", default="llama-1b,llama-8b")
    a = ap.parse_args()
    triton.set_allocator(alloc)
    bw = copy_bw()
    print(f"device {torch.cuda.get_device_name()}, copy {bw / 1e12:.2f} TB/s")
    for model in a.models.split(","):
        N2, K = [(n, k) for name, n, k in SHAPES[model] if name == "gate_up"][0]
        N = N2 // 2
        wl = weights(N2, K)
        nrot = len(wl)
        for M in [int(v) for v in a.m.split(",")]:
            x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
            out = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
            w = wl[-1]
            ref = torch.nn.functional.silu((x.float() @ w[:N].float().T).bfloat16().float()) * \
                (x.float() @ w[N:].float().T).bfloat16().float()
            wbytes, flops = N2 * K * 2, 2 * M * N2 * K
            rows = []

            def measure(label, fn):
                try:
                    fn(nrot - 1)
                    torch.cuda.synchronize()
                    err = ((out.float() - ref).abs().max() / ref.abs().max()).item()
                    t = time_graph(fn, nrot)
                except Exception as e:  # noqa: BLE001
                    print(f"    {label}: failed: {str(e)[:100]}")
                    return
                rows.append((t, label, err))

            bm, bn, bk, nw, ns = cur_tile(M)

            def cur(i):
                wi = wl[i % nrot]
                gemm.gemv_act_mul_kernel[(math.ceil(M / bm), math.ceil(N / bn))](
                    x, wi, wi[N:], out, M, N, K, K, K, N, ACT=0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk,
                    num_warps=nw, num_stages=ns)
            measure(f"current: gemv_act_mul m{bm} n{bn} k{bk} w{nw} s{ns}", cur)
            for bm2, bn2, bk2, nw2, ns2 in TMA_CONFIGS:
                def run(i, bm2=bm2, bn2=bn2, bk2=bk2, nw2=nw2, ns2=ns2):
                    wi = wl[i % nrot]
                    gemv_act_mul_tma_kernel[(math.ceil(M / bm2), math.ceil(N / bn2))](
                        x, wi, out, M, N, K, K, K, N, BLOCK_M=bm2, BLOCK_N=bn2, BLOCK_K=bk2,
                        num_warps=nw2, num_stages=ns2)
                measure(f"tma m{bm2} n{bn2} k{bk2} w{nw2} s{ns2}", run)
            gu = torch.empty(M, N2, device="cuda", dtype=torch.bfloat16)
            t_cublas = time_graph(lambda i: torch.matmul(x, wl[i % nrot].T, out=gu), nrot)
            rows.sort()
            print(f"  {model} gate|up + SiLU, M={M} N={N}x2 K={K}: cuBLAS gate|up alone {t_cublas * 1e6:.1f} us")
            for t, label, err in rows:
                print(f"    {t * 1e6:8.1f} us {100 * wbytes / t / bw:4.0f}% of copy {flops / t / 1e12:5.0f} TFLOP/s"
                      f"  err {err:.1e}  {label}")
        wl = None  # frees the copies before the next model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
