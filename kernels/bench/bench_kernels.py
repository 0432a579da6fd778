#!/usr/bin/env python3
"""Time tritium's Triton kernels on a GPU next to PyTorch eager / cuBLAS / SDPA.

    python3 kernels/bench/bench_kernels.py [--models llama-1b,llama-8b] [--m 1,8,32,256,4096] [--quick]

Needs torch + triton on a CUDA machine; kernels are JIT-compiled from kernels/triton/*.py
with exactly the constexprs / num_warps / num_stages of their SPECS entries. Every kernel
result is also checked against the torch result (column err = |out - ref| / |ref|).
Prints one table: kernel, shape, time (median of triton.testing.do_bench), achieved GB/s
or TFLOP/s, that as % of the measured device-to-device copy bandwidth (memory-bound
kernels) or of the measured cuBLAS bf16 matmul rate (GEMM / prefill attention), and
torch's time and figure. For GEMMs the best spec (and split count) per shape is named:
that is the row for the C++ dispatch table.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
import triton
from triton.testing import do_bench, do_bench_cudagraph

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))
import activation  # noqa: E402
import attention  # noqa: E402
import embedding  # noqa: E402
import gemm  # noqa: E402
import norm  # noqa: E402
import rope  # noqa: E402
import sampling  # noqa: E402

MODELS = {
    "llama-1b": dict(hidden=2048, heads=32, kv_heads=8, head_dim=64, inter=8192, vocab=128256),
    "llama-8b": dict(hidden=4096, heads=32, kv_heads=8, head_dim=128, inter=14336, vocab=128256),
}
SPECS = {s["name"]: s for m in (activation, attention, embedding, gemm, norm, rope, sampling) for s in m.SPECS}
DEV = "cuda"
BF = torch.bfloat16
ROWS = []
WARM, REP = 10, 50


def launch(name, grid, *args):
    s = SPECS[name]
    s["fn"][grid](*args, **s["constexprs"], num_warps=s["num_warps"], num_stages=s["num_stages"])


def bench(fn):
    """Median seconds per call. Replayed from a CUDA graph (as tritium runs a decode step), so
    Python launch overhead is not counted; falls back to plain do_bench if capture fails."""
    try:
        return do_bench_cudagraph(fn, rep=REP, return_mode="median") * 1e-3
    except Exception:  # noqa: BLE001
        torch.cuda.synchronize()
        return do_bench(fn, warmup=WARM, rep=REP, return_mode="median") * 1e-3


def rotating(make_set, nbytes, budget=256 << 20):
    """Enough copies of an input set to exceed L2, and a function returning the next one:
    a graph captured with k calls then reads k different buffers (weights are not L2-hot)."""
    n = max(1, min(32, budget // max(nbytes, 1)))
    sets = [make_set() for _ in range(n)]
    state = [0]

    def nxt():
        state[0] = (state[0] + 1) % n
        return sets[state[0]]
    return sets[0], nxt


def err(out, ref):
    out, ref = out.float(), ref.float()
    return (out - ref).norm().item() / max(ref.norm().item(), 1e-30)


def row(kernel, shape, t, work, kind, t_ref, e, note=""):
    """kind 'bw': work = bytes; kind 'flop': work = flops."""
    ROWS.append((kernel, shape, t, work, kind, t_ref, e, note))


def peak_numbers():
    n = 1 << 29  # 1 GiB of bytes
    a = torch.empty(n, dtype=torch.uint8, device=DEV)
    b = torch.empty_like(a)
    t = do_bench(lambda: b.copy_(a), warmup=WARM, rep=REP, return_mode="median") * 1e-3
    bw = 2 * n / t
    x = torch.randn(8192, 8192, device=DEV, dtype=BF)
    y = torch.randn(8192, 8192, device=DEV, dtype=BF)
    t = bench(lambda: torch.matmul(x, y))
    return bw, 2 * 8192 ** 3 / t


def n_sm():
    return torch.cuda.get_device_properties(0).multi_processor_count


# ------------------------------------------------------------------------------ norm, act, embed
def bench_norm(cfg, M):
    H = cfg["hidden"]
    x = torch.randn(M, H, device=DEV, dtype=BF)
    r = torch.randn(M, H, device=DEV, dtype=BF)
    w = torch.randn(H, device=DEV, dtype=BF)
    out = torch.empty_like(x)
    bn = 1 << (H - 1).bit_length()
    name = f"rms_norm_residual_bf16_n{bn}"
    r_k = r.clone()
    launch(name, (M,), x, r_k, w, out, H, H, H, H, 1e-6)

    def ref():
        h = (x.float() + r.float()).to(BF)
        hf = h.float()
        return h, (hf * torch.rsqrt(hf.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()).to(BF)
    h_ref, o_ref = ref()
    e = max(err(r_k, h_ref), err(out, o_ref))
    t = bench(lambda: launch(name, (M,), x, r_k, w, out, H, H, H, H, 1e-6))
    t_ref = bench(ref)
    row(name, f"{M}x{H}", t, 5 * M * H * 2, "bw", t_ref, e)


def bench_act(cfg, M):
    I = cfg["inter"]
    x = torch.randn(M, 2 * I, device=DEV, dtype=BF)
    out = torch.empty(M, I, device=DEV, dtype=BF)
    grid = (M, triton.cdiv(I, 1024))
    launch("silu_and_mul_bf16", grid, x, out, 2 * I, I, I)

    def ref():
        return F.silu(x[:, :I]) * x[:, I:]
    e = err(out, ref())
    t = bench(lambda: launch("silu_and_mul_bf16", grid, x, out, 2 * I, I, I))
    row("silu_and_mul_bf16", f"{M}x{2 * I}", t, 3 * M * I * 2, "bw", bench(ref), e)


def bench_embed(cfg, M):
    H, V = cfg["hidden"], cfg["vocab"]
    table = torch.randn(V, H, device=DEV, dtype=BF)
    ids = torch.randint(0, V, (M,), device=DEV, dtype=torch.int32)
    out = torch.empty(M, H, device=DEV, dtype=BF)
    grid = (M, triton.cdiv(H, 1024))
    launch("embedding_bf16", grid, ids, table, out, H, H, H)
    e = err(out, F.embedding(ids.long(), table))
    t = bench(lambda: launch("embedding_bf16", grid, ids, table, out, H, H, H))
    row("embedding_bf16", f"{M}x{H}", t, 2 * M * H * 2, "bw", bench(lambda: F.embedding(ids, table)), e)


# ------------------------------------------------------------------------------ rope + kv write
def bench_rope(cfg, M):
    nh, nkv, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    W = (nh + 2 * nkv) * hd
    qkv = torch.randn(M, W, device=DEV, dtype=BF)
    pos = torch.randint(0, 4096, (M,), device=DEV, dtype=torch.int32)
    inv = 1.0 / 500000 ** (torch.arange(0, hd, 2, device=DEV).float() / hd)
    f = torch.arange(8192, device=DEV).float()[:, None] * inv[None]
    cos_sin = torch.cat([f.cos(), f.sin()], 1).contiguous()
    bs = 16
    nblocks = triton.cdiv(M, bs) + 4
    slots = torch.randperm(nblocks * bs, device=DEV)[:M].to(torch.int32)
    kc = torch.zeros(nblocks, bs, nkv, hd, device=DEV, dtype=BF)
    vc = torch.zeros_like(kc)
    q_out = torch.empty(M, nh * hd, device=DEV, dtype=BF)
    name = f"rope_kv_write_bf16_d{hd}_neox"
    args = (qkv, q_out, pos, cos_sin, slots, kc, vc, W, nh * hd, nh, nkv)
    launch(name, (M,), *args)

    kc_r, vc_r = torch.zeros_like(kc), torch.zeros_like(vc)

    def ref():
        q = qkv[:, :nh * hd].view(M, nh, hd).float()
        k = qkv[:, nh * hd:(nh + nkv) * hd].view(M, nkv, hd).float()
        v = qkv[:, (nh + nkv) * hd:].view(M, nkv, hd)
        cs = cos_sin[pos.long()]
        c, s = cs[:, None, :hd // 2], cs[:, None, hd // 2:]

        def rot(x):
            a, b = x[..., :hd // 2], x[..., hd // 2:]
            return torch.cat([a * c - b * s, b * c + a * s], -1)
        qo = rot(q).to(BF)
        kc_r.view(-1, nkv, hd)[slots.long()] = rot(k).to(BF)
        vc_r.view(-1, nkv, hd)[slots.long()] = v
        return qo
    qo = ref()
    e = max(err(q_out.view(M, nh, hd), qo), err(kc, kc_r), err(vc, vc_r))
    t = bench(lambda: launch(name, (M,), *args))
    byts = M * (W + nh * hd + 2 * nkv * hd) * 2 + M * hd * 4
    row(name, f"T={M} {nh}/{nkv}x{hd}", t, byts, "bw", bench(ref), e)


# ------------------------------------------------------------------------------ GEMM
def gemv_launch(cfgname, x, w, out, ws, M, N, K, splits):
    s = SPECS[cfgname]
    bn, bk = s["constexprs"]["BLOCK_N"], s["constexprs"]["BLOCK_K"]
    kps = triton.cdiv(triton.cdiv(K, splits), bk) * bk
    splits = triton.cdiv(K, kps)
    launch(cfgname, (triton.cdiv(N, bn), splits), x, w, w, out, ws, M, N, K, K, K, N, kps, 0)
    if splits > 1:
        launch("splitk_reduce_bf16", (M, triton.cdiv(N, 1024)), ws, w, out, M, N, splits, N, 0)


def bench_linear(label, M, N, K, quick):
    (x, w), nxt = rotating(lambda: (torch.randn(M, K, device=DEV, dtype=BF),
                                    torch.randn(N, K, device=DEV, dtype=BF) / math.sqrt(K)), (M + N) * K * 2)
    out = torch.empty(M, N, device=DEV, dtype=BF)
    ref = torch.matmul(x, w.t())
    t_ref = bench(lambda: torch.matmul(*(lambda a: (a[0], a[1].t()))(nxt())))
    best = None
    if M <= 64:
        ws = torch.empty(32 * M * N, device=DEV, dtype=torch.float32)
        names = [n for n in SPECS if n.startswith("gemv_splitk_bf16") and SPECS[n]["constexprs"]["BLOCK_M"] >= M]
        for n in (names[:2] if quick else names):
            for splits in (1, 2, 4, 8, 16):
                out.fill_(float("nan"))
                gemv_launch(n, x, w, out, ws, M, N, K, splits)
                e = err(out, ref)
                t = bench(lambda n=n, s=splits: gemv_launch(n, *nxt(), out, ws, M, N, K, s))
                if best is None or t < best[0]:
                    best = (t, f"{n} splits={splits}", e)
    if M > 16:
        nsm = n_sm()
        cap = torch.cuda.get_device_capability()[0] * 10
        names = [n for n, s in SPECS.items() if n.startswith("matmul") and "_bf16_" in n
                 and cap in s.get("archs", [cap])]
        for n in (names[:4] if quick else names):
            c = SPECS[n]["constexprs"]
            tiles = triton.cdiv(M, c["BLOCK_M"]) * triton.cdiv(N, c["BLOCK_N"])
            grid = (min(tiles, nsm),) if "persistent" in n else (tiles,)
            try:
                out.fill_(float("nan"))
                launch(n, grid, x, w, w, out, M, N, K, K, K, N, 0)
                e = err(out, ref)
                t = bench(lambda n=n, grid=grid: launch(n, grid, *(lambda a: (a[0], a[1], a[1]))(nxt()), out, M, N, K,
                                                        K, K, N, 0))
            except Exception as ex:  # noqa: BLE001  (e.g. out of shared memory on this GPU)
                print(f"  {n}: {str(ex).splitlines()[0][:100]}")
                continue
            if best is None or t < best[0]:
                best = (t, n, e)
    kind, work = ("bw", N * K * 2 + M * K * 2 + M * N * 2) if M <= 16 else ("flop", 2 * M * N * K)
    row(f"linear {label}", f"M={M} N={N} K={K}", best[0], work, kind, t_ref, best[2], best[1])


# ------------------------------------------------------------------------------ attention
def paged_cache(S, ctx, nkv, hd, bs=16):
    per = triton.cdiv(ctx, bs)
    nblocks = S * per
    kc = torch.randn(nblocks, bs, nkv, hd, device=DEV, dtype=BF)
    vc = torch.randn_like(kc)
    bt = torch.randperm(nblocks, device=DEV).view(S, per).to(torch.int32)
    return kc, vc, bt


def gather_kv(kc, bt, S, ctx):
    # [S, nkv, ctx, hd] contiguous view of the paged cache, for the torch reference
    bs = kc.shape[1]
    g = kc[bt.long()]  # [S, per, bs, nkv, hd]
    return g.flatten(1, 2)[:, :ctx].permute(0, 2, 1, 3).contiguous()


def bench_decode(cfg, S, ctx):
    nh, nkv, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    (kc, vc, bt), nxt = rotating(lambda: paged_cache(S, ctx, nkv, hd), 2 * S * ctx * nkv * hd * 2)
    q = torch.randn(S, nh, hd, device=DEV, dtype=BF)
    seq_lens = torch.full((S,), ctx, device=DEV, dtype=torch.int32)
    out = torch.empty_like(q)
    target = 4 * n_sm()
    P = max(1, min(triton.cdiv(ctx, 64), triton.cdiv(target, S * nkv)))
    psize = triton.cdiv(triton.cdiv(ctx, P), 64) * 64
    P = triton.cdiv(ctx, psize)
    pacc = torch.empty(S, nh, P, hd, device=DEV, dtype=torch.float32)
    pml = torch.empty(S, nh, P, 2, device=DEV, dtype=torch.float32)
    scale = hd ** -0.5

    def run(kv=(kc, vc, bt)):
        kc_, vc_, bt_ = kv
        launch(f"decode_attention_partial_bf16_d{hd}_bs16", (S, nkv, P), q, kc_, vc_, bt_, seq_lens, pacc, pml, out,
               pacc, scale, nh * hd, hd, nh * hd, hd, bt_.shape[1], nkv, nh // nkv, 0, psize, 0)
        launch(f"decode_attention_reduce_bf16_d{hd}", (S, nh), pacc, pml, out, nh * hd, hd, nh, P)
    run()
    k = gather_kv(kc, bt, S, ctx)
    v = gather_kv(vc, bt, S, ctx)
    qq = q.view(S, nh, 1, hd)

    def ref():
        return F.scaled_dot_product_attention(qq, k, v, scale=scale, enable_gqa=True)
    e = err(out, ref().view(S, nh, hd))
    t = bench(lambda: run(nxt()))
    row(f"decode_attention d{hd}", f"S={S} ctx={ctx} P={P}", t, 2 * S * ctx * nkv * hd * 2, "bw", bench(ref), e)


def bench_prefill(cfg, T):
    nh, nkv, hd = cfg["heads"], cfg["kv_heads"], cfg["head_dim"]
    kc, vc, bt = paged_cache(1, T, nkv, hd)
    q = torch.randn(T, nh, hd, device=DEV, dtype=BF)
    cu = torch.tensor([0, T], device=DEV, dtype=torch.int32)
    seq_lens = torch.tensor([T], device=DEV, dtype=torch.int32)
    out = torch.empty_like(q)
    name = f"prefill_attention_bf16_d{hd}_bs16"
    bm = SPECS[name]["constexprs"]["BLOCK_M"]
    scale = hd ** -0.5
    grid = (triton.cdiv(T, bm), nh, 1)

    def run():
        launch(name, grid, q, kc, vc, out, bt, cu, seq_lens, q, scale, nh * hd, hd, nh * hd, hd, bt.shape[1], nkv,
               nh // nkv, 0, 0, 0)
    run()
    k = gather_kv(kc, bt, 1, T)
    v = gather_kv(vc, bt, 1, T)
    qq = q.permute(1, 0, 2).unsqueeze(0).contiguous()

    def ref():
        return F.scaled_dot_product_attention(qq, k, v, is_causal=True, scale=scale, enable_gqa=True)
    e = err(out, ref()[0].permute(1, 0, 2))
    t = bench(run)
    row(name, f"T={T} causal", t, 2 * T * T * nh * hd, "flop", bench(ref), e)  # 4*T^2/2 * nh * hd


# ------------------------------------------------------------------------------ sampling
def bench_sampling(cfg, S):
    V = cfg["vocab"]
    logits = torch.randn(S, V, device=DEV, dtype=torch.float32) * 3
    out = torch.empty(S, device=DEV, dtype=torch.int32)
    seeds = torch.randint(0, 2 ** 40, (S,), device=DEV, dtype=torch.int64)
    steps = torch.zeros(S, device=DEV, dtype=torch.int32)
    for mode in ("greedy", "topk50_topp0.9"):
        temp = torch.full((S,), 0.0 if mode == "greedy" else 0.8, device=DEV)
        top_k = torch.full((S,), 0 if mode == "greedy" else 50, device=DEV, dtype=torch.int32)
        top_p = torch.full((S,), 1.0 if mode == "greedy" else 0.9, device=DEV)
        min_p = torch.zeros(S, device=DEV)

        def run():
            launch("sample_fp32", (S,), logits, V, V, temp, top_k, top_p, min_p, seeds, steps, out)
        run()
        if mode == "greedy":
            e = float((out.long() != logits.argmax(1)).sum().item())

            def ref():
                return logits.argmax(1)
        else:
            # every draw must be inside the top-50 set
            top = logits.topk(50, dim=1).indices
            e = float((~(top == out.long()[:, None]).any(1)).sum().item())

            def ref():
                y = logits / 0.8
                vals, idx = y.topk(50, dim=1)
                p = vals.softmax(1)
                cs = p.cumsum(1)
                p = torch.where(cs - p > 0.9, 0.0, p)
                return idx.gather(1, torch.multinomial(p, 1))
        t = bench(run)
        row(f"sample {mode}", f"S={S} V={V}", t, S * V * 4, "bw", bench(ref), e, "err = #wrong ids")


# ------------------------------------------------------------------------------ main
def main():
    global WARM, REP
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="llama-1b,llama-8b")
    ap.add_argument("--m", default="1,8,32,256,4096")
    ap.add_argument("--ctx", default="1024,4096", help="decode context lengths")
    ap.add_argument("--quick", action="store_true", help="fewer GEMM configs, shorter timing")
    ap.add_argument("--only", default="", help="comma list of: norm,act,embed,rope,linear,decode,prefill,sample")
    args = ap.parse_args()
    if args.quick:
        WARM, REP = 5, 20
    only = set(args.only.split(",")) if args.only else None
    want = (lambda k: only is None or k in only)
    torch.manual_seed(0)
    bw, mm = peak_numbers()
    dev = torch.cuda.get_device_name(0)
    print(f"# {dev}: copy bandwidth {bw / 1e9:.0f} GB/s (read+write), cuBLAS bf16 8192^3 {mm / 1e12:.0f} TFLOP/s; "
          f"torch {torch.__version__}, triton {triton.__version__}", flush=True)
    Ms = [int(m) for m in args.m.split(",")]
    for mname in args.models.split(","):
        cfg = MODELS[mname]
        H, nh, nkv, hd, I, V = (cfg[k] for k in ("hidden", "heads", "kv_heads", "head_dim", "inter", "vocab"))
        for M in Ms:
            print(f"# {mname} M={M}", flush=True)
            if want("norm"):
                bench_norm(cfg, M)
            if want("act"):
                bench_act(cfg, M)
            if want("embed"):
                bench_embed(cfg, M)
            if want("rope"):
                bench_rope(cfg, M)
            if want("linear"):
                for label, N, K in (("qkv", (nh + 2 * nkv) * hd, H), ("o", H, nh * hd), ("gate_up", 2 * I, H),
                                    ("down", H, I), ("lm_head", V, H)):
                    if label == "lm_head" and M > 256:
                        continue
                    bench_linear(f"{mname} {label}", M, N, K, args.quick)
            if want("decode") and M <= 256:
                for ctx in [int(c) for c in args.ctx.split(",")]:
                    if M * ctx <= 256 * 4096:
                        bench_decode(cfg, M, ctx)
            if want("prefill") and M >= 256:
                bench_prefill(cfg, M)
            if want("sample") and M <= 256:
                bench_sampling(cfg, M)
    print()
    hdr = f"{'kernel':34} {'shape':26} {'us':>9} {'figure':>14} {'%peak':>6} {'torch us':>9} {'torch fig':>14} {'err':>8}  note"
    print(hdr)
    print("-" * len(hdr))
    for kernel, shape, t, work, kind, t_ref, e, note in ROWS:
        if kind == "bw":
            fig, ref_fig, pct = f"{work / t / 1e9:.0f} GB/s", f"{work / t_ref / 1e9:.0f} GB/s", work / t / bw * 100
        else:
            fig, ref_fig, pct = f"{work / t / 1e12:.1f} TFLOP/s", f"{work / t_ref / 1e12:.1f} TFLOP/s", work / t / mm * 100
        print(f"{kernel:34} {shape:26} {t * 1e6:9.1f} {fig:>14} {pct:5.0f}% {t_ref * 1e6:9.1f} {ref_fig:>14} "
              f"{e:8.1e}  {note}")
    print(f"\n%peak: GB/s over the measured copy bandwidth ({bw / 1e9:.0f} GB/s), TFLOP/s over cuBLAS "
          f"({mm / 1e12:.0f} TFLOP/s)")


if __name__ == "__main__":
    main()
