#!/usr/bin/env python3
"""fp8 W8A8 GEMM sweep (kernels/triton/gemm_fp8.py) at the llama-8b / llama-1b projection shapes:
matmul_fp8_kernel (pointer loads, one program a tile) in a sweep of tile configs, and for
prefill chunks (M > 256, where cuda_linear_fp8.cpp switches on sm90) the persistent TMA form
matmul_fp8_tma_kernel, against torch._scaled_mm with rowwise scales (cuBLAS / CUTLASS fp8) and
bf16 cuBLAS (torch.matmul); plus the per-token activation quantizer quant_fp8_rows_kernel.

    python3 kernels/bench/tune_fp8_gemm.py [--shapes llama-8b,llama-1b] [--m 64,128,256,2048,8192]
                                          [--linears qkv,o,gate_up,down] [--top 3]

Operands: x = randn [M, K] bf16 and W = 0.02 * randn [N, K] bf16, each quantized per row to e4m3
with scale = max|row| / 448 (fp32). gate_up is the fused gate|up + SiLU(gate) * up form (ACT_MUL:
W [2N, K] with N the gate width, out [M, N]); its peers run into [M, 2N] and then torch's silu * mul,
and its TFLOP/s count the gate|up FLOPs (2 * M * 2N * K). Every kernel is checked once against an
fp32 torch reference (a wrong or failing config is listed, not fatal). Times are
triton.testing.do_bench medians, L2 flushed before each launch (weights come from HBM, as in a
model's layer loop; launch gaps are not included). For each (shape, M) it prints the best configs,
what tritium picks today ("<- current", cuda_linear_fp8.cpp's rule over the shipped configs,
marked *), the peers and the quantizer's GB/s, then a summary table. The default sweep (33 JIT
configs) took 44 s on an H100 with a cold Triton cache.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "triton"))

SHAPES = {  # (name, N, K); gate_up's N is the gate width (its weight is [2N, K])
    "llama-8b": [("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 14336, 4096), ("down", 4096, 14336)],
    "llama-1b": [("qkv", 3072, 2048), ("o", 2048, 2048), ("gate_up", 8192, 2048), ("down", 2048, 8192)],
}
# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) for matmul_fp8_kernel, besides the shipped
# gemm_fp8.FP8_*_CONFIGS (ptr_configs picks those for each M).
CONFIGS = [(16, 32, 128, 4, 4), (16, 64, 128, 4, 4), (32, 32, 128, 4, 4), (32, 64, 128, 4, 4),
           (32, 128, 128, 4, 3), (64, 32, 128, 4, 4), (64, 64, 128, 4, 4), (64, 128, 128, 4, 4),
           (64, 128, 128, 8, 3), (64, 256, 128, 8, 3), (128, 64, 128, 4, 4), (128, 128, 128, 8, 3),
           (128, 128, 128, 8, 4), (128, 256, 128, 8, 3)]
# matmul_fp8_tma_kernel (M > 256), besides the shipped one of each form
TMA_CONFIGS = {0: [(128, 256, 128, 8, 3), (128, 128, 128, 8, 4), (256, 128, 128, 8, 3)],
               1: [(128, 128, 128, 8, 3), (128, 64, 128, 8, 4), (64, 128, 128, 4, 4)]}
TOL = 2e-2  # relative Frobenius error against the fp32 reference
SMEM = 200 * 1024  # skip pointer-load configs whose staged tiles need more shared memory


def cdiv(a, b):
    return (a + b - 1) // b


def bench(fn):
    """Seconds per fn() launch: do_bench's median, L2 flushed before each launch."""
    return triton.testing.do_bench(fn, warmup=10, rep=30, return_mode="median") * 1e-3


def quant_rows(t):
    """torch's per-row e4m3 quantization: (q, s) with s = max|row| / 448 (1 for a zero row)."""
    s = t.float().abs().amax(1) / 448.0
    s = torch.where(s > 0, s, torch.ones_like(s))
    return (t.float() / s[:, None]).clamp(-448.0, 448.0).to(torch.float8_e4m3fn), s


def first_line(e):
    return f"{type(e).__name__}: {(str(e).splitlines() or [''])[0][:100]}"


def rel_err(out, ref):
    return ((out.float() - ref).norm() / ref.norm()).item()


def ptr_configs(M, act):
    """The matmul_fp8_kernel configs timed at M: BLOCK_M from the one that holds M (16..128) down to
    M / 4 (at least 16, at most 64); for the gate|up form (two weight tiles, two accumulators) none
    wider than 128 x 128 or over SMEM (the shipped ones are always kept)."""
    shipped = gemm_fp8.FP8_ACT_MUL_CONFIGS if act else gemm_fp8.FP8_GEMM_CONFIGS
    lo, hi = min(64, max(16, M // 4)), min(128, max(16, 1 << (M - 1).bit_length()))
    out = []
    for c in sorted(set(CONFIGS) | set(shipped)):
        bm, bn, bk, _, ns = c
        too_big = ns * (bm + (2 if act else 1) * bn) * bk > SMEM or (act and bm * bn > 128 * 128)
        if lo <= bm <= hi and (c in shipped or not too_big):
            out.append(c)
    return out


def current_pick(act, M, N):
    """What src/backends/cuda/cuda_linear_fp8.cpp launches: the TMA kernel above 256 rows (sm90),
    else pick_tile's choice among the shipped matmul_fp8_kernel configs."""
    if M > 256:
        return ("tma",) + SHIPPED_TMA[act]
    vs = gemm_fp8.FP8_ACT_MUL_CONFIGS if act else gemm_fp8.FP8_GEMM_CONFIGS
    max_bm = max(v[0] for v in vs)
    bm = min([v[0] for v in vs if v[0] >= min(M, max_bm)])

    def tiles(v):
        return cdiv(M, v[0]) * cdiv(N, v[1])

    def consider(want):
        pick = None
        for v in (v for v in vs if v[0] == want):
            fills = tiles(v) >= SMS
            if pick is None or (fills and (tiles(pick) < SMS or v[1] > pick[1])) or (
                    not fills and tiles(pick) < SMS and v[1] < pick[1]):
                pick = v
        return pick
    best = consider(bm)
    if best and tiles(best) < SMS and bm > 64:
        half = consider(64)
        if half and tiles(half) > tiles(best):
            best = half
    return ("ptr",) + best


def label(kind, c, act):
    shipped = c in ((gemm_fp8.FP8_ACT_MUL_CONFIGS if act else gemm_fp8.FP8_GEMM_CONFIGS) if kind == "ptr"
                    else [SHIPPED_TMA[act]])
    name = "fp8" if kind == "ptr" else "fp8_tma"
    return f"{name} {c[0]}x{c[1]}x{c[2]} w{c[3]} s{c[4]}" + (" *" if shipped else "")


def time_quant(M, K):
    """quant_fp8_rows_kernel on x [M, K] bf16: (seconds, GB/s of x read once + q / s written, note)."""
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
    q = torch.empty(M, K, device="cuda", dtype=torch.float8_e4m3fn)
    s = torch.empty(M, device="cuda", dtype=torch.float32)

    # what cuda_linear_fp8.cpp launches: the smallest one-pass build that holds the row
    one = [(c["BLOCK_K"], sp["num_warps"]) for sp in gemm_fp8.SPECS if sp["fn"] is gemm_fp8.quant_fp8_rows_kernel
           for c in [sp["constexprs"]] if c["ONE_PASS"] and c["BLOCK_K"] >= K]
    bk, nw = min(one) if one else (1024, 4)

    def fn():
        gemm_fp8.quant_fp8_rows_kernel[(M,)](x, q, s, K, K, K, ONE_PASS=int(bool(one)), BLOCK_K=bk, num_warps=nw)
    try:
        fn()
        torch.cuda.synchronize()
        rq, rs = quant_rows(x)
        same = (q.view(torch.uint8) == rq.view(torch.uint8)).float().mean().item()
        s_err = ((s - rs).abs() / rs).max().item()
        t = bench(fn)
    except Exception as e:  # noqa: BLE001
        return None, 0.0, f"failed ({first_line(e)})"
    return t, (3 * M * K + 4 * M) / t / 1e9, f"q codes equal torch's {100 * same:.3f}%, scales max rel diff {s_err:.1e}"


def run_case(model, name, N, K, M, top, quant, summary):
    act = int(name == "gate_up")
    rows_w = 2 * N if act else N
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(rows_w, K, device="cuda", dtype=torch.bfloat16) * 0.02
    xq, xs = quant_rows(x)
    wq, ws = quant_rows(w)
    out = torch.empty(M, N, device="cuda", dtype=torch.bfloat16)
    # reference: the dequantized product in fp32 (no TF32: fp8 values and their products are exact)
    ref = (xq.float() @ wq.float().T) * xs[:, None] * ws[None, :]
    if act:  # gate and up rounded to bf16 first, as the kernel's epilogue (and the bf16 path) does
        ref = torch.nn.functional.silu(ref[:, :N].bfloat16().float()) * ref[:, N:].bfloat16().float()
    flop = 2 * M * rows_w * K
    rows, bad = [], []

    def measure(lbl, fn):
        try:
            out.fill_(float("nan"))  # an unwritten tile shows as NaN
            fn()
            torch.cuda.synchronize()
            err = rel_err(out, ref)
            if not err <= TOL:
                bad.append(f"{lbl}: WRONG (rel err {err:.2e})")
                return
            rows.append((bench(fn), lbl))
        except Exception as e:  # noqa: BLE001  (a config the compiler or the SM cannot take)
            bad.append(f"{lbl}: failed ({first_line(e)})")

    for c in ptr_configs(M, act):
        bm, bn, bk, nw, ns = c
        measure(label("ptr", c, act), lambda bm=bm, bn=bn, bk=bk, nw=nw, ns=ns: gemm_fp8.matmul_fp8_kernel[
            (cdiv(M, bm) * cdiv(N, bn),)](xq, wq, xs, ws, x, out, M, N, K, K, K, N, 0, ACT_MUL=act, BLOCK_M=bm,
                                          BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8, num_warps=nw, num_stages=ns))
    if M > 256:
        for c in sorted(set(TMA_CONFIGS[act]) | {SHIPPED_TMA[act]}):
            bm, bn, bk, nw, ns = c
            measure(label("tma", c, act), lambda bm=bm, bn=bn, bk=bk, nw=nw, ns=ns: gemm_fp8.matmul_fp8_tma_kernel[
                (min(SMS, cdiv(M, bm) * cdiv(N, bn)),)](xq, wq, xs, ws, x, out, M, N, K, K, K, N, 0, ACT_MUL=act,
                                                        BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, GROUP_M=8,
                                                        num_warps=nw, num_stages=ns))
    rows.sort()
    cur = current_pick(act, M, N)
    cur_lbl = label(cur[0], cur[1:], act)
    cur_t = next((t for t, lbl in rows if lbl == cur_lbl), None)

    # peers: fp8 rowwise-scaled _scaled_mm, bf16 cuBLAS (each + torch's silu * mul for gate_up)
    xs_a, ws_b = xs[:, None].contiguous(), ws[None, :].contiguous()

    def epi(r):
        return torch.nn.functional.silu(r[:, :N]) * r[:, N:] if act else r
    peers = {}
    for pname, fn in (("_scaled_mm", lambda: epi(torch._scaled_mm(xq, wq.t(), scale_a=xs_a, scale_b=ws_b,
                                                                   out_dtype=torch.bfloat16))),
                      ("bf16 matmul", lambda: epi(torch.matmul(x, w.t())))):
        try:
            err = rel_err(fn(), ref)
            peers[pname] = (bench(fn), "" if pname != "_scaled_mm" or err <= TOL else f" WRONG {err:.1e}")
        except Exception as e:  # noqa: BLE001  (no rowwise fp8 in this torch / GPU)
            peers[pname] = (None, f" ({first_line(e)})")

    print(f"{model} {name}{' (gate|up + SiLU)' if act else ''} M={M} N={N} K={K}  "
          f"[{flop / 1e9:.1f} GFLOP, {len(rows) + len(bad)} configs]")
    for i, (t, lbl) in enumerate(rows):
        if i < top or lbl == cur_lbl:
            mark = "  <- current" if lbl == cur_lbl else ""
            print(f"  {t * 1e6:9.1f} us {flop / t / 1e12:6.0f} TFLOP/s  {lbl}{mark}")
    for pname, (t, note) in peers.items():
        print(f"  {'%9.1f us %6.0f TFLOP/s' % (t * 1e6, flop / t / 1e12) if t else '      n/a':27s}  "
              f"peer: {pname}{' + silu*up' if act else ''}{note}")
    qt, qbw, qnote = quant
    print(f"  quant_fp8_rows x[{M}, {K}]: " + (f"{qt * 1e6:.1f} us {qbw:.0f} GB/s; {qnote}" if qt else qnote))
    for b in bad:
        print(f"    {b}")
    if cur_t is None:
        print(f"    current pick {cur_lbl} not timed")
    sys.stdout.flush()
    summary.append((model, name, M, flop, rows[0] if rows else (None, "-"), cur_t, peers["_scaled_mm"][0],
                    peers["bf16 matmul"][0], qt, qbw))


def fmt(t):
    return f"{t * 1e6:9.1f}" if t else "      n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="llama-8b,llama-1b")
    ap.add_argument("--m", default="64,128,256,2048,8192")
    ap.add_argument("--linears", default="qkv,o,gate_up,down")
    ap.add_argument("--top", type=int, default=3, help="configs printed per (shape, M)")
    a = ap.parse_args()
    global torch, triton, gemm_fp8, SMS, SHIPPED_TMA  # imported here so that --help needs neither
    import torch
    import triton
    import triton.testing
    import gemm_fp8
    SMS = torch.cuda.get_device_properties(0).multi_processor_count
    SHIPPED_TMA = {s["constexprs"]["ACT_MUL"]: tuple(s["constexprs"][k] for k in ("BLOCK_M", "BLOCK_N", "BLOCK_K"))
                   + (s["num_warps"], s["num_stages"]) for s in gemm_fp8.SPECS
                   if s["fn"] is gemm_fp8.matmul_fp8_tma_kernel}
    # scratch for the tensor descriptors the TMA kernel makes on the device
    triton.set_allocator(lambda size, alignment, stream: torch.empty(size, device="cuda", dtype=torch.int8))
    print(f"device {torch.cuda.get_device_name()} ({SMS} SMs, sm{''.join(map(str, torch.cuda.get_device_capability()))}"
          f"), triton {triton.__version__}, torch {torch.__version__}", flush=True)
    t0 = time.time()
    summary, quants = [], {}
    for model in a.shapes.split(","):
        for M in [int(v) for v in a.m.split(",")]:
            for name, N, K in SHAPES[model]:
                if name not in a.linears.split(","):
                    continue
                if (M, K) not in quants:
                    quants[(M, K)] = time_quant(M, K)
                run_case(model, name, N, K, M, a.top, quants[(M, K)], summary)
                torch.cuda.empty_cache()  # the case's tensors are gone with its frame
    print(f"\nsummary ({torch.cuda.get_device_name()}): us per launch; TFLOP/s of the best config; "
          f"ratio = best / _scaled_mm time")
    print(f"{'model':9s} {'linear':8s} {'M':>5s} {'best':>9s} {'TF/s':>5s} {'current':>9s} {'scaled_mm':>9s} "
          f"{'bf16':>9s} {'ratio':>5s} {'quant':>9s} {'GB/s':>5s}  best config")
    for model, name, M, flop, (bt, blbl), ct, st, ft, qt, qbw in summary:
        print(f"{model:9s} {name:8s} {M:5d} {fmt(bt)} {flop / bt / 1e12 if bt else 0:5.0f} {fmt(ct)} {fmt(st)} "
              f"{fmt(ft)} {bt / st if bt and st else 0:5.2f} {fmt(qt)} {qbw:5.0f}  {blbl}")
    print(f"total {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
