#!/usr/bin/env python3
"""Sweep the sample_kernel search constexprs (NT thresholds per pass, passes, chunk) on the GPU.

    python3 kernels/bench/tune_sampling.py
"""
import os
import sys

import torch
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import sampling  # noqa: E402

V = 128256
for S in (1, 32, 256):
    logits = torch.randn(S, V, device="cuda") * 3
    out = torch.empty(S, device="cuda", dtype=torch.int32)
    seeds = torch.arange(S, device="cuda", dtype=torch.int64)
    steps = torch.zeros(S, device="cuda", dtype=torch.int32)
    temp = torch.full((S,), 0.8, device="cuda")
    top_k = torch.full((S,), 50, device="cuda", dtype=torch.int32)
    top_p = torch.full((S,), 0.9, device="cuda")
    min_p = torch.zeros(S, device="cuda")
    for nt, passes in ((1, 25), (2, 16), (4, 11), (8, 8), (16, 6)):
        for bs, nw in ((1024, 4), (2048, 8), (4096, 8)):
            def run():
                sampling.sample_kernel[(S,)](logits, V, V, temp, top_k, top_p, min_p, seeds, steps, out, BLOCK_V=4096,
                                            BLOCK_S=bs, NT=nt, SEARCH_PASSES=passes, num_warps=nw)
            run()
            top = logits.topk(50, dim=1).indices
            bad = int((~(top == out.long()[:, None]).any(1)).sum())
            t = do_bench_cudagraph(run, rep=30, return_mode="median") * 1e3
            print(f"S={S:4} NT={nt:2} passes={passes:2} BLOCK_S={bs:5} warps={nw}: {t:8.1f} us  bad={bad}", flush=True)
