#!/usr/bin/env python3
"""Sweep the skinny GEMM (gemv_splitk_kernel: row tiles x column tiles x K-splits, plus the
split-K reduce) and the fused gate/up GEMM (gemv_act_mul_kernel) at decode batch sizes, on the GPU.

    python3 kernels/bench/tune_skinny_gemm.py [--models llama-1b,llama-8b] [--m 1,32,64,128,256]
                                              [--json FILE]

Every launch reads a different copy of the weight (more bytes in all than L2 holds), as the
layers of a model do, and the launches of one measurement are replayed from one CUDA graph, so
the figures include the gaps between kernels a decode graph has. For each (shape, M) it prints
the best configurations found (a tile sweep with the default split rule, then a split sweep of the
best tiles) next to what tritium's dispatch picks today, our tiled GEMM and cuBLAS
(torch.matmul), as time and weight bytes / time against a device copy measured in the same run.
"""
import argparse
import json
import math
import os
import sys

import torch
import triton

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import activation  # noqa: E402
import gemm  # noqa: E402

SHAPES = {  # (name, N, K) of each linear
    "llama-1b": [("qkv", 3072, 2048), ("o", 2048, 2048), ("gate_up", 16384, 2048), ("down", 2048, 8192),
                 ("lm_head", 128256, 2048)],
    "llama-8b": [("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 28672, 4096), ("down", 4096, 14336),
                 ("lm_head", 128256, 4096)],
}
DT = torch.bfloat16
SMS = torch.cuda.get_device_properties(0).multi_processor_count
L2_DEFEAT = 256 << 20  # bytes of weight copies per measurement at least


def copy_bw():
    a = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    b = torch.empty_like(a)
    return 2 * a.numel() / time_graph(lambda i: b.copy_(a), 1)


def time_graph(fn, n, reps=10):
    """Seconds per fn(i) call, fn(0..n-1) captured in one graph and replayed."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(n):
            fn(i)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for i in range(n):
            fn(i)
    g.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ts = []
    for _ in range(reps):
        start.record()
        g.replay()
        end.record()
        end.synchronize()
        ts.append(start.elapsed_time(end) * 1e-3 / n)
    ts.sort()
    return ts[len(ts) // 2]


def auto_splits(M, N, K, bm, bn, bk, target):
    tiles = math.ceil(M / bm) * math.ceil(N / bn)
    if target <= 0 or tiles >= target:
        return 1
    return max(1, min(math.ceil(target / tiles), K // (2 * bk), 16))


class Gemv:
    def __init__(self, bm, bn, bk, nw, ns):
        self.cfg = (bm, bn, bk, nw, ns)

    def name(self, splits):
        bm, bn, bk, nw, ns = self.cfg
        return f"gemv m{bm} n{bn} k{bk} w{nw} s{ns} x{splits}"

    def launcher(self, x, ws_list, out, splits, reduce=True):
        bm, bn, bk, nw, ns = self.cfg
        M, K = x.shape
        N = ws_list[0].shape[0]
        kps = math.ceil(math.ceil(K / splits) / bk) * bk
        splits = math.ceil(K / kps)
        part = torch.empty(splits, M, N, device="cuda", dtype=torch.float32)
        grid = (math.ceil(M / bm), math.ceil(N / bn), splits)

        def run(i):
            w = ws_list[i % len(ws_list)]
            gemm.gemv_splitk_kernel[grid](x, w, w, out, part, M, N, K, K, K, N, kps, 0, BLOCK_M=bm, BLOCK_N=bn,
                                          BLOCK_K=bk, num_warps=nw, num_stages=ns)
            if splits > 1 and reduce:
                gemm.splitk_reduce_kernel[(M, math.ceil(N / 1024))](part, w, out, M, N, splits, N, 0, BLOCK=1024,
                                                                   num_warps=4)
        return run, splits


def matmul_launcher(x, ws_list, out, bm, bn, nw, ns):
    M, K = x.shape
    N = ws_list[0].shape[0]
    grid = (math.ceil(M / bm) * math.ceil(N / bn),)

    def run(i):
        w = ws_list[i % len(ws_list)]
        gemm.matmul_kernel[grid](x, w, w, out, M, N, K, K, K, N, 0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=64, GROUP_M=8,
                                 num_warps=nw, num_stages=ns)
    return run


def current_dispatch(M, N, K):
    """What src/backends/cuda/cuda_linear.cpp picks for a plain linear: the tiled GEMM above
    M = 256, else the skinny GEMM's measured tile and K-splits. (For 128 < M <= 256 it takes the
    TMA skinny GEMM instead where the output is narrow or N <= 8192: tune_skinny_tma.py times it.)"""
    if M > 256:
        return ("matmul", 128, 64, 4, 4) if N <= 3072 else ("matmul", 128, 128, 4, 3)
    bm = 16 if M <= 16 else 32 if M <= 32 else 64 if M <= 128 else 128
    wide = math.ceil(M / bm) * math.ceil(N / 32) >= 2 * SMS
    tile = {16: ((16, 32, 128, 4, 4), (16, 64, 256, 4, 4)), 32: ((32, 32, 128, 4, 4), (32, 64, 128, 4, 3)),
            64: ((64, 32, 128, 4, 4), (64, 64, 128, 4, 3)),
            128: ((128, 64, 64, 4, 4), (128, 256, 64, 8, 4))}[bm][int(wide)]
    tiles = math.ceil(M / bm) * math.ceil(N / tile[1])
    splits = 1 if 2 * tiles >= SMS else min(math.ceil(SMS / tiles), max(1, K // (2 * tile[2])), 8)
    return ("gemv",) + tile + (splits,)


def tile_configs(M):
    bms = [16] if M <= 16 else [32] if M <= 32 else [64] if M <= 64 else [64, 128] if M <= 128 else [128, 256]
    out = []
    for bm in bms:
        for bn in (32, 64, 128, 256):
            for bk in ((128, 256) if bm <= 32 else (64, 128)):
                for nw, ns in ((4, 3), (4, 4), (8, 3), (8, 4)):
                    if ns * (bm + bn) * bk * 2 > 220 * 1024 or bm * bn > 256 * 128 or bn > 2 * max(bm, 64):
                        continue
                    if bm * bn >= 128 * 128 and nw == 4:
                        continue
                    if bm * bn <= 64 * 64 and nw == 8:
                        continue
                    out.append((bm, bn, bk, nw, ns))
    return out


def weights(N, K):
    per = N * K * 2
    n = max(2, math.ceil(L2_DEFEAT / per))
    return [torch.randn(N, K, device="cuda", dtype=DT) * 0.02 for _ in range(n)]


def measurer(rows, out, ref, nrot):
    """measure(label, run): seconds per run(i) (None when the config fails to compile or launch,
    or gives a wrong out against ref); appends (seconds, label) to rows."""
    def measure(label, run):
        try:
            t = time_graph(run, nrot)
        except Exception:  # noqa: BLE001  (a config the compiler or the SM cannot take)
            return None
        run(nrot - 1)
        torch.cuda.synchronize()
        err = ((out.float() - ref).norm() / ref.norm()).item()
        if err > 2e-2:
            print(f"    {label}: WRONG (rel err {err:.2e})")
            return None
        rows.append((t, label))
        return t
    return measure


def sweep_linear(model, name, N, K, M, bw, results):
    ws_list = weights(N, K)
    x = torch.randn(M, K, device="cuda", dtype=DT)
    out = torch.empty(M, N, device="cuda", dtype=DT)
    ref = (x.float() @ ws_list[-1].float().T)
    nrot = len(ws_list)
    wbytes = N * K * 2
    rows = []

    measure = measurer(rows, out, ref, nrot)

    # today's dispatch, our tiled GEMM, cuBLAS
    cur = current_dispatch(M, N, K)
    if cur[0] == "matmul":
        t_cur = measure("current: matmul %dx%d w%d s%d" % cur[1:], matmul_launcher(x, ws_list, out, *cur[1:]))
    else:
        run, sp = Gemv(*cur[1:6]).launcher(x, ws_list, out, cur[6])
        t_cur = measure("current: " + Gemv(*cur[1:6]).name(sp), run)
    t_blas = measure("cublas", lambda i: torch.matmul(x, ws_list[i % nrot].T, out=out))
    if M >= 64:
        for bm, bn, nw, ns in ((64, 64, 4, 4), (128, 64, 4, 4), (128, 128, 4, 3)):
            measure(f"matmul {bm}x{bn} w{nw} s{ns}", matmul_launcher(x, ws_list, out, bm, bn, nw, ns))
    # tiles with the default split target (one program per SM), then splits for the best tiles
    tiles = []
    for cfg in tile_configs(M):
        g = Gemv(*cfg)
        sp = auto_splits(M, N, K, cfg[0], cfg[1], cfg[2], SMS)
        run, sp = g.launcher(x, ws_list, out, sp)
        t = measure(g.name(sp), run)
        if t:
            tiles.append((t, cfg))
    tiles.sort()
    for _, cfg in tiles[:4]:
        g = Gemv(*cfg)
        seen = {auto_splits(M, N, K, cfg[0], cfg[1], cfg[2], SMS)}
        for target in (0, 2 * SMS, 4 * SMS):
            sp = auto_splits(M, N, K, cfg[0], cfg[1], cfg[2], target)
            if sp in seen:
                continue
            seen.add(sp)
            run, sp = g.launcher(x, ws_list, out, sp)
            measure(g.name(sp), run)
    # the best split configurations once more without their reduce (what they cost when the
    # reduce is fused into the op that follows: the norm after o_proj and down_proj)
    for t, label in sorted(rows)[:6]:
        if " x" in label and not label.endswith(" x1") and label.startswith("gemv"):
            p = label.split()
            cfg = (int(p[1][1:]), int(p[2][1:]), int(p[3][1:]), int(p[4][1:]), int(p[5][1:]))
            run, sp = Gemv(*cfg).launcher(x, ws_list, out, int(p[6][1:]), reduce=False)
            try:
                t2 = time_graph(run, nrot)
                rows.append((t2, label + " (partials only)"))
            except Exception:  # noqa: BLE001
                pass
    rows.sort()
    print(f"  {model} {name} N={N} K={K} M={M}: current {t_cur * 1e6:.1f} us, cublas {t_blas * 1e6:.1f} us")
    for t, label in rows[:8]:
        print(f"    {t * 1e6:8.1f} us {wbytes / t / 1e9:6.0f} GB/s {100 * wbytes / t / bw:4.0f}% of copy  {label}")
    results.append({"model": model, "linear": name, "N": N, "K": K, "M": M, "current_us": t_cur * 1e6,
                    "cublas_us": t_blas * 1e6, "best": [(t * 1e6, label) for t, label in rows[:8]]})
    del ws_list
    torch.cuda.empty_cache()


def sweep_act_mul(model, I, K, M, bw, results):
    wl = weights(2 * I, K)
    nrot = len(wl)
    x = torch.randn(M, K, device="cuda", dtype=DT)
    gu = torch.empty(M, 2 * I, device="cuda", dtype=DT)
    out = torch.empty(M, I, device="cuda", dtype=DT)
    g32 = x.float() @ wl[-1][:I].float().T
    u32 = x.float() @ wl[-1][I:].float().T
    ref = torch.nn.functional.silu(g32) * u32
    wbytes = 2 * I * K * 2
    rows = []

    measure = measurer(rows, out, ref, nrot)

    cur = current_dispatch(M, 2 * I, K)

    def unfused(i):
        w = wl[i % nrot]
        if cur[0] == "matmul":
            _, bm, bn, nw, ns = cur
            gemm.matmul_kernel[(math.ceil(M / bm) * math.ceil(2 * I / bn),)](
                x, w, w, gu, M, 2 * I, K, K, K, 2 * I, 0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=64, GROUP_M=8,
                num_warps=nw, num_stages=ns)
        else:
            _, bm, bn, bk, nw, ns, _ = cur
            gemm.gemv_splitk_kernel[(math.ceil(M / bm), math.ceil(2 * I / bn), 1)](
                x, w, w, gu, gu, M, 2 * I, K, K, K, 2 * I, K, 0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk,
                num_warps=nw, num_stages=ns)
        activation.act_and_mul_kernel[(M, math.ceil(I / 1024))](gu, out, 2 * I, I, I, ACT=0, BLOCK=1024,
                                                                 num_warps=4)
    t_cur = measure("unfused: linear + silu_and_mul", unfused)
    for cfg in tile_configs(M):
        bm, bn, bk, nw, ns = cfg
        if ns * (bm + 2 * bn) * bk * 2 > 200 * 1024 or bn > 64:
            continue
        grid = (math.ceil(M / bm), math.ceil(I / bn))

        def run(i, bm=bm, bn=bn, bk=bk, nw=nw, ns=ns, grid=grid):
            w = wl[i % nrot]
            gemm.gemv_act_mul_kernel[grid](x, w, w[I:], out, M, I, K, K, K, I, ACT=0, BLOCK_M=bm, BLOCK_N=bn,
                                           BLOCK_K=bk, num_warps=nw, num_stages=ns)
        measure(f"fused act_mul m{bm} n{bn} k{bk} w{nw} s{ns}", run)
    rows.sort()
    print(f"  {model} gate_up+silu I={I} K={K} M={M}: unfused {t_cur * 1e6:.1f} us")
    for t, label in rows[:5]:
        print(f"    {t * 1e6:8.1f} us {wbytes / t / 1e9:6.0f} GB/s {100 * wbytes / t / bw:4.0f}% of copy  {label}")
    results.append({"model": model, "linear": "gate_up_act_mul", "N": I, "K": K, "M": M, "current_us": t_cur * 1e6,
                    "best": [(t * 1e6, label) for t, label in rows[:8]]})
    del wl
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="llama-1b,llama-8b")
    ap.add_argument("--m", default="1,32,64,128,256")
    ap.add_argument("--linears", default="qkv,o,gate_up,down,lm_head,act_mul")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    bw = copy_bw()
    print(f"device {torch.cuda.get_device_name()} ({SMS} SMs), copy {bw / 1e12:.2f} TB/s (read + write), "
          f"triton {triton.__version__}, torch {torch.__version__}", flush=True)
    results = []
    lin = a.linears.split(",")
    for model in a.models.split(","):
        for M in [int(m) for m in a.m.split(",")]:
            for name, N, K in SHAPES[model]:
                if name in lin and (name != "lm_head" or M in (1, 64, 256)):
                    sweep_linear(model, name, N, K, M, bw, results)
            if "act_mul" in lin:
                gu = dict((n, (N, K)) for n, N, K in SHAPES[model])["gate_up"]
                sweep_act_mul(model, gu[0] // 2, gu[1], M, bw, results)
            sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "copy_bw": bw, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
