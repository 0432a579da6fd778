#!/usr/bin/env python3
"""L2 prefetch of the next weights on a second stream, under a decode step's kernels.

    python3 kernels/bench/tune_l2_prefetch.py [--m 64] [--layers 16]

A llama-1b decode layer at batch M as tritium launches its kernels (q|k|v, decode attention
over 576 cached tokens per sequence, o_proj split-K + reduce, gate|up, down_proj split-K +
reduce; the norms' work stands in the reduces), 16 layers with their own weights and KV,
replayed from one CUDA graph. The small linears (q|k|v 12.6 MB, o 8.4 MB) run at about half
of copy bandwidth at M = 64: too few bytes to hide the ramp. In the prefetch modes a forked
branch of the graph asks L2 for them (prefetch.global.L2::evict_last, or
cp.async.bulk.prefetch.L2) while the MLP or the attention of the layer before streams from
HBM, so that they read from L2 when their turn comes. Prints microseconds per layer.
"""
import argparse
import math
import os
import sys

import torch
import triton
import triton.language as tl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import attention  # noqa: E402
import gemm  # noqa: E402
from tune_skinny_gemm import SMS, current_dispatch, time_graph  # noqa: E402

DT = torch.bfloat16
BS, NH, NKV, HD, CTX = 16, 32, 8, 64, 576


@triton.jit
def l2_prefetch_kernel(ptr, n_chunks, CHUNK: tl.constexpr, BULK: tl.constexpr):
    # ptr: bytes; n_chunks chunks of CHUNK bytes, strided over the programs
    pid = tl.program_id(0)
    nprog = tl.num_programs(0)
    if BULK:  # one thread asks the copy engine for the whole chunk
        for c in range(pid, n_chunks, nprog):
            p = ptr + c.to(tl.int64) * CHUNK + tl.arange(0, 1)
            tl.inline_asm_elementwise(
                "{ .reg .pred p; .reg .b64 pol; .reg .b32 t; mov.u32 t, %tid.x; setp.eq.u32 p, t, 0; "
                "createpolicy.fractional.L2::evict_last.b64 pol, 1.0; "
                f"@p cp.async.bulk.prefetch.L2.global.L2::cache_hint [$1], {CHUNK}, pol; }}",
                "=r,l", [p], dtype=tl.int32, is_pure=False, pack=1)
    else:  # one prefetch per 128-byte line
        lines = tl.arange(0, CHUNK // 128) * 128
        for c in range(pid, n_chunks, nprog):
            p = ptr + c.to(tl.int64) * CHUNK + lines
            tl.inline_asm_elementwise("prefetch.global.L2::evict_last [$1];", "=r,l", [p], dtype=tl.int32,
                                      is_pure=False, pack=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--m", type=int, default=64)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--modes", default="base,hot,mlp_qkvo,mlp_qkv,attn_o,mlp_qkvo_bulk,both,both_bulk,base")
    ap.add_argument("--programs", type=int, default=8, help="programs of each prefetch launch")
    a = ap.parse_args()
    M, L = a.m, a.layers
    shapes = {"qkv": (3072, 2048), "o": (2048, 2048), "gate": (16384, 2048), "down": (2048, 8192)}
    W = {n: [torch.randn(N, K, device="cuda", dtype=DT) * 0.02 for _ in range(L)] for n, (N, K) in shapes.items()}
    x = {K: torch.randn(M, K, device="cuda", dtype=DT) for K in (2048, 8192)}
    out = {n: torch.empty(M, N, device="cuda", dtype=DT) for n, (N, K) in shapes.items()}
    part = torch.empty(8, M, 16384, device="cuda", dtype=torch.float32)
    per = triton.cdiv(CTX, BS)
    kv = [(torch.randn(M * per, BS, NKV, HD, device="cuda", dtype=DT),
           torch.randn(M * per, BS, NKV, HD, device="cuda", dtype=DT)) for _ in range(L)]
    bt = torch.randperm(M * per, device="cuda").to(torch.int32).view(M, per)
    q = torch.randn(M, NH, HD, device="cuda", dtype=DT)
    lens = torch.full((M,), CTX, device="cuda", dtype=torch.int32)
    aout = torch.empty_like(q)
    pacc = torch.empty(M, NH, 1, HD, device="cuda", dtype=torch.float32)
    pml = torch.empty(M, NH, 1, 2, device="cuda", dtype=torch.float32)
    cx = attention.decode_constexprs(HD, BS)

    def linear(name, w):
        N, K = shapes[name]
        _, bm, bn, bk, nw, ns, splits = current_dispatch(M, N, K)
        kps = math.ceil(math.ceil(K / splits) / bk) * bk
        splits = math.ceil(K / kps)
        gemm.gemv_splitk_kernel[(math.ceil(M / bm), math.ceil(N / bn), splits)](
            x[K], w, w, out[name], part, M, N, K, K, K, N, kps, 0, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk,
            num_warps=nw, num_stages=ns)
        if splits > 1:
            gemm.splitk_reduce_kernel[(M, math.ceil(N / 1024))](part, w, out[name], M, N, splits, N, 0, BLOCK=1024,
                                                               num_warps=4)

    def attn(layer):
        kc, vc = kv[layer]
        attention.decode_attention_partial_kernel[(M, NKV, 1)](
            q, kc, vc, bt, lens, pacc, pml, aout, pacc, HD ** -0.5, NH * HD, HD, NH * HD, HD, per, NKV, NH // NKV,
            0, per * BS, 0, **cx, num_warps=4, num_stages=2)

    def prefetch(tensors, bulk):
        for t in tensors:
            chunk = 1 << 16 if bulk else 1 << 14
            nbytes = t.numel() * t.element_size()
            assert nbytes % chunk == 0
            l2_prefetch_kernel[(a.programs,)](t.view(torch.uint8), nbytes // chunk, CHUNK=chunk, BULK=bulk,
                                              num_warps=4)

    side = torch.cuda.Stream()

    def runner(mode):
        bulk = mode.endswith("_bulk")
        m = mode.removesuffix("_bulk")

        def fork(tensors):
            main_s = torch.cuda.current_stream()
            side.wait_stream(main_s)
            with torch.cuda.stream(side):
                prefetch(tensors, bulk)

        def run(i):
            main_s = torch.cuda.current_stream()
            for layer in range(L):
                wl = 0 if m == "hot" else layer
                nxt = (layer + 1) % L
                linear("qkv", W["qkv"][wl])
                if m in ("attn_o", "both"):
                    fork([W["o"][layer]])
                attn(layer)
                linear("o", W["o"][wl])
                if m in ("mlp_qkvo", "both"):
                    fork([W["qkv"][nxt]] + ([] if m == "both" else [W["o"][nxt]]))
                elif m == "mlp_qkv":
                    fork([W["qkv"][nxt]])
                linear("gate", W["gate"][layer])
                linear("down", W["down"][layer])
            if m not in ("base", "hot"):  # join the forked branch (capture needs it)
                main_s.wait_stream(side)
        return run

    print(f"{torch.cuda.get_device_name()} ({SMS} SMs), llama-1b decode layer at M = {M}, {L} layers, "
          f"{a.programs} prefetch programs: microseconds per layer")
    for mode in a.modes.split(","):
        t = time_graph(runner(mode), 1)
        print(f"  {mode:14s} {t * 1e6 / L:7.2f}", flush=True)


if __name__ == "__main__":
    main()
