#!/usr/bin/env python3
"""Prefill GEMM experiment: tritium's persistent tl.dot GEMM (kernels/triton/gemm.py) against a
persistent variant that loads its tiles through TMA tensor descriptors (tl.make_tensor_descriptor,
sm90+) and cuBLAS, at the llama-1b / llama-8b projection shapes for prefill chunks of M tokens.

    python3 kernels/bench/tune_prefill_gemm.py [--m 2048,8192]

Prints TFLOP/s per shape and config, each checked against torch.
"""
import argparse
import math
import os
import sys

import torch
import triton
import triton.language as tl
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402

SHAPES = {
    "llama-1b": [("qkv", 3072, 2048), ("o", 2048, 2048), ("gate_up", 16384, 2048), ("down", 2048, 8192)],
    "llama-8b": [("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 28672, 4096), ("down", 4096, 14336)],
}
SMS = torch.cuda.get_device_properties(0).multi_processor_count


@triton.jit
def matmul_tma_persistent_kernel(x_ptr, w_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                                 GROUP_M: tl.constexpr, NUM_PROGS: tl.constexpr):
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[N, K], strides=[w_stride, 1], block_shape=[BLOCK_N, BLOCK_K])
    o_desc = tl.make_tensor_descriptor(out_ptr, shape=[M, N], strides=[out_stride, 1],
                                       block_shape=[BLOCK_M, BLOCK_N])
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    num_tiles = num_m * num_n
    k_tiles = tl.cdiv(K, BLOCK_K)
    for tile in tl.range(tl.program_id(0), num_tiles, NUM_PROGS, flatten=True):
        per_group = GROUP_M * num_n
        group = tile // per_group
        first_m = group * GROUP_M
        gsize = tl.minimum(num_m - first_m, GROUP_M)
        pid_m = first_m + (tile % per_group) % gsize
        pid_n = (tile % per_group) // gsize
        acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        for kk in range(k_tiles):
            a = x_desc.load([pid_m * BLOCK_M, kk * BLOCK_K])
            b = w_desc.load([pid_n * BLOCK_N, kk * BLOCK_K])
            acc = tl.dot(a, b.T, acc)
        o_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(out_ptr.dtype.element_ty))


def alloc(size, alignment, stream):
    return torch.empty(size, device="cuda", dtype=torch.int8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="2048,8192")
    a = ap.parse_args()
    triton.set_allocator(alloc)
    print(f"device {torch.cuda.get_device_name()} ({SMS} SMs), triton {triton.__version__}")
    for model, shapes in SHAPES.items():
        for M in [int(v) for v in a.m.split(",")]:
            for name, N, K in shapes:
                x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
                w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16) * 0.02
                out = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
                ref = x @ w.T
                flop = 2 * M * N * K
                rows = []

                def measure(label, fn):
                    try:
                        fn()
                        torch.cuda.synchronize()
                        err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
                        if err > 1e-2:
                            rows.append((0, f"{label}: WRONG {err:.1e}"))
                            return
                        t = do_bench_cudagraph(fn, rep=30, return_mode="median") * 1e-3
                        rows.append((flop / t / 1e12, label))
                    except Exception as e:  # noqa: BLE001
                        rows.append((0, f"{label}: failed {str(e)[:100]}"))

                measure("cublas", lambda: torch.matmul(x, w.T, out=out))
                tiles = math.ceil(M / 128) * math.ceil(N / 256)
                measure("current persistent 128x256x64 w8 s3",
                        lambda: gemm.matmul_persistent_kernel[(min(tiles, SMS),)](
                            x, w, w, out, M, N, K, K, K, N, 0, BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, GROUP_M=8,
                            num_warps=8, num_stages=3))
                for bm, bn, bk, nw, ns in ((128, 256, 64, 8, 3), (128, 256, 64, 8, 4), (128, 128, 64, 8, 4),
                                           (128, 128, 64, 4, 4), (128, 256, 64, 4, 3), (128, 128, 128, 8, 3),
                                           (256, 128, 64, 8, 3)):
                    t = math.ceil(M / bm) * math.ceil(N / bn)
                    progs = min(t, SMS)
                    measure(f"tma persistent {bm}x{bn}x{bk} w{nw} s{ns}",
                            lambda bm=bm, bn=bn, bk=bk, nw=nw, ns=ns, progs=progs:
                            matmul_tma_persistent_kernel[(progs,)](x, w, out, M, N, K, K, K, N, BLOCK_M=bm,
                                                                   BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8,
                                                                   NUM_PROGS=progs, num_warps=nw, num_stages=ns))
                rows.sort(reverse=True)
                print(f"{model} {name} M={M} N={N} K={K}")
                for tf, label in rows:
                    print(f"   {tf:7.1f} TFLOP/s  {label}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
