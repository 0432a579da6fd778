#!/usr/bin/env python3
"""Sweep: the skinny (decode) GEMM with its x / W tiles loaded through TMA tensor descriptors
(gemm.gemv_tma_kernel) in several tile configs, against gemv_splitk_kernel with the tiles
cuda_linear.cpp picks for it, at the llama projections for M = 64, 128, 256. Split-K variants are timed without their reduce (it is
fused into the next op in tritium), as "partials".

    python3 kernels/bench/tune_skinny_tma.py [--m 64,128,256] [--models llama-1b,llama-8b]
"""
import argparse
import math
import os
import sys

import torch
import triton

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
from tune_skinny_gemm import SHAPES, SMS, copy_bw, time_graph, weights  # noqa: E402


def alloc(size, alignment, stream):
    return torch.empty(size, device="cuda", dtype=torch.int8)


def cur_tile(M, N):
    bm = 16 if M <= 16 else 32 if M <= 32 else 64 if M <= 128 else 128
    wide = math.ceil(M / bm) * math.ceil(N / 32) >= 2 * SMS
    return {16: ((16, 64, 256, 4, 4), (16, 32, 128, 4, 4)), 32: ((32, 64, 128, 4, 3), (32, 32, 128, 4, 4)),
            64: ((64, 64, 128, 4, 3), (64, 32, 128, 4, 4)), 128: ((128, 256, 64, 8, 4), (128, 64, 64, 4, 4))}[bm][
        0 if wide else 1]


def splits_for(M, N, K, bm, bn, bk, target):
    tiles = math.ceil(M / bm) * math.ceil(N / bn)
    if tiles >= target:
        return 1
    return max(1, min(math.ceil(target / tiles), K // (2 * bk), 8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--m", default="64,128,256")
    ap.add_argument("--models", default="llama-1b,llama-8b")
    a = ap.parse_args()
    triton.set_allocator(alloc)
    bw = copy_bw()
    print(f"device {torch.cuda.get_device_name()}, copy {bw / 1e12:.2f} TB/s")
    for model in a.models.split(","):
        for M in [int(v) for v in a.m.split(",")]:
            for name, N, K in SHAPES[model]:
                if name == "lm_head":
                    continue
                wl = weights(N, K)
                nrot = len(wl)
                x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
                out = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
                ref = x.float() @ wl[-1].float().T
                rows = []

                def measure(label, run, check):
                    try:
                        t = time_graph(run, nrot)
                    except Exception as e:  # noqa: BLE001
                        rows.append((1e9, f"{label}: failed {str(e)[:80]}"))
                        return
                    if check:
                        run(nrot - 1)
                        torch.cuda.synchronize()
                        err = ((out.float() - ref).norm() / ref.norm()).item()
                        if err > 2e-2:
                            rows.append((1e9, f"{label}: WRONG {err:.1e}"))
                            return
                    rows.append((t, label))

                for kind, fn in (("gemv", gemm.gemv_splitk_kernel), ("tma", gemm.gemv_tma_kernel)):
                    cfgs = [cur_tile(M, N)] if kind == "gemv" else [
                        (bm, bn, bk, nw, ns) for bm in ((64,) if M <= 64 else (64, 128))
                        for bn in (32, 64, 128) for bk in (64, 128) for nw, ns in ((4, 3), (4, 4), (8, 4))
                        if not (bm * bn >= 128 * 128 and nw == 4)]
                    for bm, bn, bk, nw, ns in cfgs:
                        for target in (0, SMS, 2 * SMS):
                            sp = splits_for(M, N, K, bm, bn, bk, target)
                            kps = math.ceil(math.ceil(K / sp) / bk) * bk
                            sp = math.ceil(K / kps)
                            part = torch.empty(sp, M, N, device="cuda", dtype=torch.float32)
                            grid = (math.ceil(M / bm), math.ceil(N / bn), sp)

                            def run(i, grid=grid, kps=kps, part=part, bm=bm, bn=bn, bk=bk, nw=nw, ns=ns, fn=fn):
                                w = wl[i % nrot]
                                fn[grid](x, w, w, out, part, M, N, K, K, K, N, kps, 0, BLOCK_M=bm, BLOCK_N=bn,
                                         BLOCK_K=bk, num_warps=nw, num_stages=ns)
                            label = f"{kind} m{bm} n{bn} k{bk} w{nw} s{ns} x{sp}" + (" (partials)" if sp > 1 else "")
                            if not any(label == r[1] for r in rows):
                                measure(label, run, sp == 1)
                rows.sort()
                wbytes = N * K * 2
                best_cur = min((t for t, lab in rows if lab.startswith("gemv")), default=float("nan"))
                print(f"{model} {name} M={M} N={N} K={K}: current tiles best {best_cur * 1e6:.1f} us")
                for t, label in rows[:6]:
                    print(f"    {t * 1e6:8.1f} us {wbytes / t / 1e9:6.0f} GB/s  {label}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
