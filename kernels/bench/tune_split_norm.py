#!/usr/bin/env python3
"""o_proj / down_proj at a decode M as tritium runs them: the skinny GEMM writing split-K
partials, then the fused reduce + residual add + RMSNorm (norm.rms_norm_residual_splitk_kernel),
timed together over tile widths 32-256, BLOCK_K 64 / 128, warps / stages and 2-16 K-splits;
and the gate|up + SiLU GEMM (gemm.gemv_act_mul_kernel) over its tiles.

    python3 kernels/bench/tune_split_norm.py [--m 64]

As tune_skinny_gemm.py: every launch reads a different weight copy, launches replayed from one
CUDA graph. Prints the eight fastest configurations of each. Fifth session, H100, M = 64
(docs/PERF.md): the best are within 0.4 us of what cuda_linear.cpp picks.
"""
import argparse
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import gemm  # noqa: E402
import norm  # noqa: E402
from tune_skinny_gemm import SMS, time_graph, weights  # noqa: E402

DT = torch.bfloat16


def timed(rows, run, n, label):
    """Appends (seconds per run, label) to rows, unless the config fails to compile or launch."""
    try:
        rows.append((time_graph(run, n), label))
    except Exception:  # noqa: BLE001  (a config the compiler or the SM cannot take)
        pass


def report(title, rows, nbytes):
    rows.sort()
    print(title)
    for t, label in rows[:8]:
        print(f"   {t * 1e6:7.1f} us  {nbytes / t / 1e9:6.0f} GB/s  {label}")


def split_norm(M, name, N, K):
    ws_list = weights(N, K)
    n = len(ws_list)
    x = torch.randn(M, K, device="cuda", dtype=DT)
    res = torch.randn(M, N, device="cuda", dtype=DT)
    out = torch.empty(M, N, device="cuda", dtype=DT)
    nw = torch.ones(N, device="cuda", dtype=DT)
    block_n = 1 << (N - 1).bit_length()
    rows = []
    for bn in (32, 64, 128, 256):
        for bk in (64, 128):
            for nwp, ns in ((4, 3), (4, 4), (8, 3), (8, 4)):
                if ns * (M + bn) * bk * 2 > 200 * 1024 or (bn * M <= 64 * 64 and nwp == 8):
                    continue
                tiles = math.ceil(M / 64) * math.ceil(N / bn)
                for sp in (2, 3, 4, 5, 6, 8, 10, 12, 16):
                    kps = math.ceil(math.ceil(K / sp) / bk) * bk
                    s2 = math.ceil(K / kps)
                    if kps < 2 * bk or tiles * s2 > 8 * SMS or tiles * s2 < SMS // 2:
                        continue
                    part = torch.empty(s2, M, N, device="cuda", dtype=torch.float32)

                    def run(i, bn=bn, bk=bk, nwp=nwp, ns=ns, kps=kps, s2=s2, part=part):
                        w = ws_list[i % n]
                        gemm.gemv_splitk_kernel[(math.ceil(M / 64), math.ceil(N / bn), s2)](
                            x, w, w, out, part, M, N, K, K, K, N, kps, 0, BLOCK_M=64, BLOCK_N=bn, BLOCK_K=bk,
                            num_warps=nwp, num_stages=ns)
                        norm.rms_norm_residual_splitk_kernel[(M,)](part, nw, res, nw, out, M, s2, N, N, N, 1e-5, 0,
                                                                    BLOCK_N=block_n, num_warps=8)
                    timed(rows, run, n, f"bn{bn} bk{bk} w{nwp} s{ns} x{s2} ({tiles * s2} programs)")
    report(f"{name} N {N} K {K} M {M}: GEMM + fused reduce, add & norm", rows, N * K * 2)


def act_mul(M, I, K):
    wl = weights(2 * I, K)
    n = len(wl)
    x = torch.randn(M, K, device="cuda", dtype=DT)
    out = torch.empty(M, I, device="cuda", dtype=DT)
    rows = []
    for bn in (32, 64, 128):
        for bk in (64, 128):
            for nwp, ns in ((4, 2), (4, 3), (4, 4), (8, 2), (8, 3), (8, 4)):
                if ns * (M + 2 * bn) * bk * 2 > 220 * 1024:
                    continue

                def run(i, bn=bn, bk=bk, nwp=nwp, ns=ns):
                    w = wl[i % n]
                    gemm.gemv_act_mul_kernel[(math.ceil(M / 64), math.ceil(I / bn))](
                        x, w, w[I:], out, M, I, K, K, K, I, ACT=0, BLOCK_M=64, BLOCK_N=bn, BLOCK_K=bk,
                        num_warps=nwp, num_stages=ns)
                timed(rows, run, n, f"bn{bn} bk{bk} w{nwp} s{ns}")
    report(f"gate_up + SiLU I {I} K {K} M {M}", rows, 2 * I * K * 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=64)
    a = ap.parse_args()
    split_norm(a.m, "down (llama-1b)", 2048, 8192)
    split_norm(a.m, "o (llama-1b)", 2048, 2048)
    act_mul(a.m, 8192, 2048)


if __name__ == "__main__":
    main()
