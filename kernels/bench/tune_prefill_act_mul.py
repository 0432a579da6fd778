#!/usr/bin/env python3
"""Prefill gate|up + SiLU: the TMA persistent GEMM into a [M, 2I] gate|up buffer followed by
the activation kernel (what tritium ran before), against matmul_act_mul_tma_kernel (SiLU * up
in the GEMM's epilogue) in a few tile configs, and cuBLAS + torch for reference, at the
llama-1b / llama-8b MLP shapes for prefill chunks of M tokens.

    python3 kernels/bench/tune_prefill_act_mul.py [--m 512,1024,2048,8192]

Prints microseconds and TFLOP/s (gate|up FLOPs) per config, each checked against torch.
"""
import argparse
import math
import os
import sys

import torch
import triton
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import activation  # noqa: E402
import gemm  # noqa: E402

SHAPES = {"llama-1b": (8192, 2048), "llama-8b": (14336, 4096)}  # (I, K)
SMS = torch.cuda.get_device_properties(0).multi_processor_count


def alloc(size, alignment, stream):
    return torch.empty(size, device="cuda", dtype=torch.int8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="512,1024,2048,8192")
    a = ap.parse_args()
    triton.set_allocator(alloc)
    print(f"device {torch.cuda.get_device_name()} ({SMS} SMs), triton {triton.__version__}")
    for model, (I, K) in SHAPES.items():
        for M in [int(v) for v in a.m.split(",")]:
            x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
            w = torch.randn(2 * I, K, device="cuda", dtype=torch.bfloat16) * 0.02
            gu = torch.empty(M, 2 * I, device="cuda", dtype=torch.bfloat16)
            out = torch.empty(M, I, device="cuda", dtype=torch.bfloat16)
            r = x @ w.T
            ref = (torch.nn.functional.silu(r[:, :I].float()) * r[:, I:].float())
            flop = 2 * M * 2 * I * K
            rows = []

            def measure(label, fn):
                try:
                    fn()
                    torch.cuda.synchronize()
                    err = ((out.float() - ref).norm() / ref.norm()).item()
                    if err > 1e-2:
                        rows.append((float("inf"), f"{label}: WRONG {err:.1e}"))
                        return
                    rows.append((do_bench_cudagraph(fn, rep=30, return_mode="median") * 1e-3, label))
                except Exception as e:  # noqa: BLE001
                    rows.append((float("inf"), f"{label}: failed {str(e)[:100]}"))

            def cublas():
                torch.matmul(x, w.T, out=gu)
                out.copy_(torch.nn.functional.silu(gu[:, :I]) * gu[:, I:])
            measure("cuBLAS + torch SiLU * up", cublas)
            tiles = math.ceil(M / 128) * math.ceil(2 * I / 256)

            def unfused():
                gemm.matmul_tma_persistent_kernel[(min(tiles, SMS),)](
                    x, w, w, gu, M, 2 * I, K, K, K, 2 * I, 0, BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, GROUP_M=8,
                    num_warps=8, num_stages=3)
                activation.act_and_mul_kernel[(M, math.ceil(I / 1024))](gu, out, 2 * I, I, I, ACT=0, BLOCK=1024,
                                                                         num_warps=4)
            measure("unfused: matmul_tma 128x256x64 w8 s3 + act_and_mul", unfused)
            for bm, bn, bk, nw, ns in ((128, 128, 64, 8, 3), (128, 128, 64, 8, 4), (128, 64, 64, 8, 4),
                                       (128, 128, 64, 4, 3), (64, 128, 64, 4, 4)):
                t = math.ceil(M / bm) * math.ceil(I / bn)
                measure(f"fused: matmul_act_mul_tma {bm}x{bn}x{bk} w{nw} s{ns}",
                        lambda bm=bm, bn=bn, bk=bk, nw=nw, ns=ns, t=t:
                        gemm.matmul_act_mul_tma_kernel[(min(t, SMS),)](
                            x, w, out, M, I, K, K, K, I, ACT=0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8,
                            num_warps=nw, num_stages=ns))
            rows.sort()
            print(f"{model} gate|up + SiLU M={M} I={I} K={K}")
            for t, label in rows:
                print(f"  {t * 1e6:9.1f} us {flop / t / 1e12:6.0f} TFLOP/s  {label}")


if __name__ == "__main__":
    main()
