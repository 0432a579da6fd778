#!/usr/bin/env python3
"""Decode attention at head_dim 64: how the programs cover the kv heads.

    python3 kernels/bench/tune_decode_heads.py [--seqs 64] [--ctx 576]

The paged cache is [blocks, block_size, kv_heads, head_dim]: at head_dim 64 a program of
decode_attention_partial_kernel (one sequence, one kv head) reads 128 contiguous bytes a
token, 1 KB apart, and the eight programs of one sequence run far apart in launch order
(the sequence is the fastest grid axis). Variants, one partition (as tritium runs 64
sequences x 8 kv heads):
  heads_first  the kv head is the fastest grid axis: a sequence's programs run together
  HEADS = h    one program covers h kv heads: it reads h x 128 contiguous bytes a token and
               multiplies a block-diagonal q [h x q_per_kv rows, h x head_dim] with them (the
               zeros cost MMA work, not bytes)
Prints time and KV bytes / time against a device copy measured in the same run.
"""
import argparse
import os
import sys

import torch
import triton
import triton.language as tl
from triton.testing import do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import attention  # noqa: E402

BS, NH, NKV, HD = 16, 32, 8, 64


@triton.jit
def decode_heads_kernel(q_ptr, k_cache_ptr, v_cache_ptr, block_tables_ptr, seq_lens_ptr, out_ptr, scale, bt_stride,
                        HEADS: tl.constexpr, HEADS_FIRST: tl.constexpr, NUM_KV: tl.constexpr, QPK: tl.constexpr,
                        HEAD_DIM: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr, BLOCK_G: tl.constexpr,
                        BLOCK_N: tl.constexpr):
    if HEADS_FIRST:
        grp = tl.program_id(0)
        seq = tl.program_id(1)
    else:
        seq = tl.program_id(0)
        grp = tl.program_id(1)
    W: tl.constexpr = HEADS * HEAD_DIM
    r = tl.arange(0, BLOCK_G)  # q heads grp*HEADS*QPK + r
    c = tl.arange(0, W)  # kv columns of the group's heads
    rvalid = r < HEADS * QPK
    own = (c[None, :] // HEAD_DIM == r[:, None] // QPK) & rvalid[:, None]
    q_row = q_ptr + seq.to(tl.int64) * (NUM_KV * QPK * HEAD_DIM)
    q = tl.load(q_row + (grp * HEADS * QPK + r[:, None]) * HEAD_DIM + c[None, :] % HEAD_DIM, mask=own, other=0.0)
    seq_len = tl.load(seq_lens_ptr + seq)
    bt = block_tables_ptr + seq.to(tl.int64) * bt_stride
    kv_row = NUM_KV * HEAD_DIM
    qk_scale = scale * 1.4426950408889634
    m_i = tl.full([BLOCK_G], -1.0e30, tl.float32)
    l_i = tl.zeros([BLOCK_G], tl.float32)
    acc = tl.zeros([BLOCK_G, W], tl.float32)
    for start_n in range(0, seq_len, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        nmask = offs_n < seq_len
        blk = tl.load(bt + offs_n // KV_BLOCK_SIZE, mask=nmask, other=0).to(tl.int64)
        slot = blk * KV_BLOCK_SIZE + offs_n % KV_BLOCK_SIZE
        kv_off = slot[:, None] * kv_row + grp * W + c[None, :]
        k = tl.load(k_cache_ptr + kv_off, mask=nmask[:, None], other=0.0)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        qk = tl.where(nmask[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_cache_ptr + kv_off, mask=nmask[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    l_i = tl.where(l_i > 0.0, l_i, 1.0)
    o = (acc / l_i[:, None]).to(out_ptr.dtype.element_ty)
    o_row = out_ptr + seq.to(tl.int64) * (NUM_KV * QPK * HEAD_DIM)
    tl.store(o_row + (grp * HEADS * QPK + r[:, None]) * HEAD_DIM + c[None, :] % HEAD_DIM, o,
             mask=own)


def copy_bw():
    a = torch.empty(1 << 30, device="cuda", dtype=torch.uint8)
    b = torch.empty_like(a)
    t = do_bench_cudagraph(lambda: b.copy_(a), rep=20, return_mode="median") * 1e-3
    return 2 * a.numel() / t


def case(S, ctx, bw):
    per = triton.cdiv(ctx, BS)
    nb = S * per
    copies = max(2, (512 << 20) // (2 * nb * BS * NKV * HD * 2))  # more KV than L2 holds
    kcs = [torch.randn(nb, BS, NKV, HD, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
    vcs = [torch.randn_like(kcs[0]) for _ in range(copies)]
    bt = torch.randperm(nb, device="cuda").to(torch.int32).view(S, per)
    q = torch.randn(S, NH, HD, device="cuda", dtype=torch.bfloat16)
    lens = torch.full((S,), ctx, device="cuda", dtype=torch.int32)
    out = torch.empty_like(q)
    kv_bytes = 2 * S * ctx * NKV * HD * 2
    pacc = torch.empty(1, device="cuda", dtype=torch.float32)
    cx = attention.decode_constexprs(HD, BS)
    ref = None
    print(f"S={S} ctx={ctx} d{HD}, {copies} cache copies rotated", flush=True)

    def timed(label, launch):
        nonlocal ref

        def run():
            for i in range(copies):
                launch(kcs[i], vcs[i])
        try:
            run()
        except Exception as e:  # noqa: BLE001
            print(f"  {label}: failed {str(e)[:100]}")
            return
        torch.cuda.synchronize()
        if ref is None:
            ref = out.clone()
        err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
        t = do_bench_cudagraph(run, rep=30, return_mode="median") * 1e-3 / copies
        print(f"  {label:36s} {t * 1e6:7.1f} us {kv_bytes / t / 1e9:6.0f} GB/s = {100 * kv_bytes / t / bw:4.0f}% "
              f"of copy  diff {err:.1e}", flush=True)

    for bn, nw, ns in ((64, 4, 2), (64, 4, 3), (32, 4, 2)):
        timed(f"current kernel BN={bn} w{nw} s{ns}", lambda kc, vc: attention.decode_attention_partial_kernel[
            (S, NKV, 1)](q, kc, vc, bt, lens, pacc, pacc, out, pacc, HD ** -0.5, NH * HD, HD, NH * HD, HD, per,
                         NKV, NH // NKV, 0, per * BS, 0, **dict(cx, BLOCK_N=bn), num_warps=nw, num_stages=ns))
    for heads in (1, 2, 4, 8):
        for first in (0, 1):
            for bn, nw, ns in ((64, 4, 2), (32, 4, 2), (64, 4, 3), (64, 8, 2)):
                if heads >= 4 and bn == 64 and nw == 4 and ns == 3:
                    continue
                grid = (NKV // heads, S) if first else (S, NKV // heads)
                bg = max(16, heads * (NH // NKV))
                timed(f"HEADS={heads} first={first} BN={bn} w{nw} s{ns}",
                      lambda kc, vc, grid=grid, bg=bg, heads=heads, first=first, bn=bn, nw=nw, ns=ns:
                      decode_heads_kernel[grid](q, kc, vc, bt, lens, out, HD ** -0.5, per, HEADS=heads,
                                                HEADS_FIRST=first, NUM_KV=NKV, QPK=NH // NKV, HEAD_DIM=HD,
                                                KV_BLOCK_SIZE=BS, BLOCK_G=bg, BLOCK_N=bn, num_warps=nw,
                                                num_stages=ns))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seqs", type=int, default=64)
    ap.add_argument("--ctx", default="576")
    a = ap.parse_args()
    bw = copy_bw()
    print(f"device {torch.cuda.get_device_name()}, copy {bw / 1e12:.2f} TB/s (read + write)")
    for ctx in a.ctx.split(","):
        case(a.seqs, int(ctx), bw)


if __name__ == "__main__":
    main()
