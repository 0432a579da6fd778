#!/usr/bin/env python3
"""Does re-reading x cost the skinny GEMM at M = 64? Each column tile of gemv_splitk_kernel reads
the whole x slab of its K range, so x is read cdiv(N, BLOCK_N) times (from L2): with BLOCK_N 32
that is 2x the weight bytes for llama-1b q|k|v, o and down, 1x for gate|up. This times the
llama-1b linears (split-K partials only, no reduce) over BLOCK_N at about the same program
count, next to M = 16 (a quarter of the x bytes) and cuBLAS.

    python3 kernels/bench/tune_x_traffic.py
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
from tune_skinny_gemm import copy_bw, time_graph, weights  # noqa: E402

DT = torch.bfloat16


def run_cfg(M, N, K, ws_list, bm, bn, bk, nw, ns, splits):
    x = torch.randn(M, K, device="cuda", dtype=DT)
    out = torch.empty(M, N, device="cuda", dtype=DT)
    kps = math.ceil(math.ceil(K / splits) / bk) * bk
    s2 = math.ceil(K / kps)
    part = torch.empty(s2, M, N, device="cuda", dtype=torch.float32)
    grid = (math.ceil(M / bm), math.ceil(N / bn), s2)

    def run(i):
        w = ws_list[i % len(ws_list)]
        gemm.gemv_splitk_kernel[grid](x, w, w, out, part, M, N, K, K, K, N, kps, 0, BLOCK_M=bm, BLOCK_N=bn,
                                      BLOCK_K=bk, num_warps=nw, num_stages=ns)
    try:
        t = time_graph(run, len(ws_list))
    except Exception as e:  # noqa: BLE001
        return None, s2, str(e)[:60]
    return t, s2, grid[0] * grid[1] * s2


def main():
    bw = copy_bw()
    print(f"copy bandwidth {bw / 1e9:.0f} GB/s")
    for name, N, K in (("down", 2048, 8192), ("qkv", 3072, 2048), ("o", 2048, 2048)):
        ws_list = weights(N, K)
        wb = N * K * 2
        x = torch.randn(64, K, device="cuda", dtype=DT)
        out = torch.empty(64, N, device="cuda", dtype=DT)
        tb = time_graph(lambda i, w=ws_list: torch.matmul(x, w[i % len(w)].T, out=out), len(ws_list))
        print(f"{name} N {N} K {K}: cuBLAS M=64 {tb * 1e6:.1f} us ({wb / tb / 1e9:.0f} GB/s)")
        rows = []
        for M, bm, bn, bk, nw, ns in ((64, 64, 32, 128, 4, 4), (64, 64, 32, 128, 4, 3), (64, 64, 64, 128, 4, 3),
                                      (64, 64, 64, 64, 4, 4), (64, 64, 128, 64, 4, 4), (64, 64, 128, 64, 8, 3),
                                      (64, 64, 128, 128, 8, 3), (64, 64, 256, 64, 8, 3), (16, 16, 32, 128, 4, 4),
                                      (16, 16, 64, 256, 4, 4)):
            tiles = math.ceil(M / bm) * math.ceil(N / bn)
            for target in (132, 200, 264, 396):
                splits = max(1, min(math.ceil(target / tiles), K // (2 * bk), 64))
                t, s2, progs = run_cfg(M, N, K, ws_list, bm, bn, bk, nw, ns, splits)
                if t is None:
                    continue
                xr = math.ceil(N / bn) * M * K * 2
                rows.append((t, f"M {M:3d} m{bm} n{bn} k{bk} w{nw} s{ns} x{s2:2d} ({progs:4} programs, x reads "
                                f"{xr / wb:.2f}x W)"))
        seen = set()
        for t, label in sorted(rows, key=lambda r: (r[1].split(" x")[0], r[0])):
            key = label.split(" x")[0]
            if key in seen:
                continue
            seen.add(key)
            print(f"  {t * 1e6:7.2f} us {wb / t / 1e9:6.0f} GB/s {100 * wb / t / bw:4.0f}%  {label}")
        del ws_list
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
