#!/usr/bin/env python3
"""Sweep the split-K decode attention (partial + reduce) over BLOCK_N, warps, stages and the
number of partitions P, at the decode shapes of the engine benchmarks, on the GPU.

    python3 kernels/bench/tune_decode_attention.py [--kv fp8]

Prints time and KV bytes / time next to a device copy measured in the same run. The paged
cache holds rotating copies (more than L2) and block tables are shuffled, as in serving.
--kv fp8: an fp8 e4m3 cache (--kv-cache-dtype fp8) at the llama-8b / llama-1b serving shapes,
next to the bf16 cache's build in the pack.
"""
import argparse
import os
import sys

import torch
import triton
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import attention  # noqa: E402

BS, NH, NKV = 16, 32, 8


def copy_bw():
    a = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    b = torch.empty_like(a)
    t = do_bench_cudagraph(lambda: b.copy_(a), rep=20, return_mode="median") * 1e-3
    return 2 * a.numel() / t


def case(S, ctx, hd, configs, bw, kv=torch.bfloat16):
    per = triton.cdiv(ctx, BS)
    nb = S * per
    kc = torch.randn(nb, BS, NKV, hd, device="cuda", dtype=torch.bfloat16).to(kv)
    vc = torch.randn(nb, BS, NKV, hd, device="cuda", dtype=torch.bfloat16).to(kv)
    bt = torch.randperm(nb, device="cuda").to(torch.int32).view(S, per)
    q = torch.randn(S, NH, hd, device="cuda", dtype=torch.bfloat16)
    lens = torch.full((S,), ctx, device="cuda", dtype=torch.int32)
    out = torch.empty_like(q)
    kv_bytes = 2 * S * ctx * NKV * hd * kc.element_size()
    ref = None
    for P, bn, nw, ns in configs:
        psize = triton.cdiv(triton.cdiv(ctx, P), 64) * 64
        P = triton.cdiv(ctx, psize)
        pacc = torch.empty(S, NH, P, hd, device="cuda", dtype=torch.float32)
        pml = torch.empty(S, NH, P, 2, device="cuda", dtype=torch.float32)
        cx = attention.decode_constexprs(hd, BS, block_n=bn)

        def run():
            attention.decode_attention_partial_kernel[(S, NKV, P)](
                q, kc, vc, bt, lens, pacc, pml, out, pacc, hd ** -0.5, NH * hd, hd, NH * hd, hd, per, NKV, NH // NKV,
                0, psize, 0, **cx, num_warps=nw, num_stages=ns)
            if P > 1:
                attention.decode_attention_reduce_kernel[(S, NH)](pacc, pml, out, NH * hd, hd, NH, P,
                                                                  **attention.reduce_constexprs(hd), num_warps=4)
        try:
            run()
        except Exception as e:  # noqa: BLE001
            print(f"  P={P} BN={bn} w{nw} s{ns}: failed {str(e)[:80]}")
            continue
        if ref is None:
            ref = out.clone()
        err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
        t = do_bench_cudagraph(run, rep=30, return_mode="median") * 1e-3
        print(f"  {str(kv)[6:]:13s} S={S} ctx={ctx} d{hd} P={P:3d} BN={bn:3d} w{nw} s{ns}: {t * 1e6:7.1f} us "
              f"{kv_bytes / t / 1e9:7.0f} GB/s = {100 * kv_bytes / t / bw:4.0f}% of copy  diff {err:.1e}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kv", choices=["bf16", "fp8"], default="bf16")
    args = ap.parse_args()
    bw = copy_bw()
    print(f"device {torch.cuda.get_device_name()}, copy {bw / 1e12:.2f} TB/s (read + write)")
    if args.kv == "fp8":
        grid = [(P, bn, nw, ns) for P in (1, 2) for bn in (32, 64, 128) for nw, ns in
                ((4, 2), (4, 3), (4, 4), (8, 2), (8, 3))]
        for S, ctx, hd in ((256, 576, 128), (64, 640, 128), (64, 640, 64)):
            case(S, ctx, hd, [(1, 64, 4, 2)], bw)  # the bf16 cache, as the pack builds it
            case(S, ctx, hd, grid, bw, torch.float8_e4m3fn)
        return
    grid = [(P, bn, nw, ns) for P in (1, 2, 4, 8) for bn in (32, 64, 128) for nw, ns in ((4, 2), (4, 3), (8, 2))]
    for S, ctx, hd in ((64, 576, 64), (64, 576, 128), (32, 4096, 64)):
        case(S, ctx, hd, grid, bw)


if __name__ == "__main__":
    main()
