#!/usr/bin/env python3
"""Prefill GEMM sweep: tritium's persistent tl.dot GEMM against its persistent TMA GEMM
(matmul_tma_persistent_kernel: tiles moved by tensor descriptors, sm90+) in several tile configs,
and cuBLAS, at the llama-1b / llama-8b projection shapes for prefill chunks of M tokens.

    python3 kernels/bench/tune_prefill_gemm.py [--m 2048,8192]

Prints TFLOP/s per shape and config, each checked against torch.
"""
import argparse
import math
import os
import sys

import torch
import triton
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402

SHAPES = {
    "llama-1b": [("qkv", 3072, 2048), ("o", 2048, 2048), ("gate_up", 16384, 2048), ("down", 2048, 8192)],
    "llama-8b": [("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 28672, 4096), ("down", 4096, 14336)],
}
SMS = torch.cuda.get_device_properties(0).multi_processor_count


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
                            gemm.matmul_tma_persistent_kernel[(progs,)](x, w, w, out, M, N, K, K, K, N, 0,
                                                                        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk,
                                                                        GROUP_M=8, num_warps=nw, num_stages=ns))
                rows.sort(reverse=True)
                print(f"{model} {name} M={M} N={N} K={K}")
                for tf, label in rows:
                    print(f"   {tf:7.1f} TFLOP/s  {label}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
