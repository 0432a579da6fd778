#!/usr/bin/env python3
"""Sweep prefill-attention tile configs (BLOCK_M, BLOCK_N, warps, stages) on the GPU.

    python3 kernels/bench/tune_attention.py [T]
"""
import os
import sys

import torch
import triton
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import attention  # noqa: E402

T = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
nh, nkv, bs = 32, 8, 16
for hd in (64, 128):
    nb = triton.cdiv(T, bs)
    kc = torch.randn(nb, bs, nkv, hd, device="cuda", dtype=torch.bfloat16)
    vc = torch.randn_like(kc)
    bt = torch.randperm(nb, device="cuda").view(1, nb).to(torch.int32)
    q = torch.randn(T, nh, hd, device="cuda", dtype=torch.bfloat16)
    out = torch.empty_like(q)
    cu = torch.tensor([0, T], device="cuda", dtype=torch.int32)
    sl = torch.tensor([T], device="cuda", dtype=torch.int32)
    ref = None
    for bm, bn, nw, ns in ((128, 64, 8, 2), (128, 64, 8, 3), (128, 128, 8, 2), (128, 128, 8, 3), (128, 64, 4, 2),
                           (128, 32, 4, 2), (64, 64, 4, 2), (64, 64, 4, 3), (64, 128, 4, 2)):
        def run():
            attention.prefill_attention_kernel[(triton.cdiv(T, bm), nh, 1)](
                q, kc, vc, out, bt, cu, sl, q, hd ** -0.5, nh * hd, hd, nh * hd, hd, nb, nkv, nh // nkv, 0, 0, 0,
                **attention.prefill_constexprs(hd, bs, bm, bn), num_warps=nw, num_stages=ns)
        try:
            run()
        except Exception as e:  # noqa: BLE001
            print(hd, bm, bn, nw, ns, "failed", str(e)[:80])
            continue
        if ref is None:
            ref = out.clone()
        e = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
        t = do_bench_cudagraph(run, rep=30, return_mode="median") * 1e-3
        print(f"d{hd} BM={bm} BN={bn} w{nw} s{ns}: {t * 1e6:8.1f} us {2 * T * T * nh * hd / t / 1e12:6.1f} TFLOP/s "
              f"diff={e:.1e}", flush=True)
