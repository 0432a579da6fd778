"""Mixture of experts: routing, sorting tokens by expert, the experts' grouped GEMMs.

A layer's MoE MLP over T tokens with top-k routing is four launches, none needing the host:

  moe_route_kernel   logits = x @ router^T (+ bias) in fp32, then the top k (KIND 0: softmax over
                     all experts first, renormalised over the k when RENORM; KIND 1, gpt-oss: the
                     k largest logits, then a softmax over those k). ids [T, k], weights [T, k].
  moe_align_kernel   one program: tokens' slots (s = t * k + j) counted per expert, each expert's
                     run padded to a multiple of BLOCK_M, slots written in expert order (padding =
                     num_slots), and each BLOCK_M block's expert (-1 past the end). Sizes depend
                     only on T, so a decode step stays one CUDA graph.
  moe_gemm_kernel    one BLOCK_M block of one expert x BLOCK_N output columns: A rows gathered by
                     slot (GATE_UP: row slot // k of x, else row slot of the activations), weights
                     bf16 [E, N, K] or MXFP4 blocks [E, N, K/32, 16] + e8m0 scales [E, N, K/32]
                     decoded in registers. GATE_UP: gate rows n and up rows I + n in two
                     accumulators, bias, activation (ACT 0: silu(g) * u; 1: gpt-oss's clamped
                     SwiGLU), stored to act [slots, I]. Else: bias, times the slot's routing weight,
                     stored to y [slots, N] (fp32).
  moe_sum_kernel     out[t] = sum over j < k of y[t * k + j] (in slot order: each token's result
                     depends on its own row only).
"""
import triton
import triton.language as tl


@triton.jit
def moe_route_kernel(x_ptr, w_ptr, b_ptr, ids_ptr, weights_ptr, H, E, x_stride, top_k, has_bias, renorm,
                     KIND: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_H: tl.constexpr, K_MAX: tl.constexpr):
    # grid = (T,)
    t = tl.program_id(0).to(tl.int64)
    e = tl.arange(0, BLOCK_E)
    em = e < E
    acc = tl.zeros([BLOCK_E], tl.float32)
    for h0 in range(0, H, BLOCK_H):
        h = h0 + tl.arange(0, BLOCK_H)
        hm = h < H
        x = tl.load(x_ptr + t * x_stride + h, mask=hm, other=0.0).to(tl.float32)
        w = tl.load(w_ptr + e[:, None] * H + h[None, :], mask=em[:, None] & hm[None, :], other=0.0).to(tl.float32)
        acc += tl.sum(w * x[None, :], axis=1)
    if has_bias != 0:
        acc += tl.load(b_ptr + e, mask=em, other=0.0).to(tl.float32)
    v = tl.where(em, acc, float("-inf"))
    if KIND == 0:
        p = tl.exp(v - tl.max(v, 0))
        p = tl.where(em, p, 0.0)
        v = tl.where(em, p / tl.sum(p, 0), -1.0)
    kk = tl.arange(0, K_MAX)
    sel_id = tl.zeros([K_MAX], tl.int32)
    sel_w = tl.zeros([K_MAX], tl.float32)
    for j in range(0, top_k):
        m = tl.max(v, 0)
        idx = tl.min(tl.where(v == m, e, BLOCK_E), 0)  # on equal values the lower expert
        sel_id = tl.where(kk == j, idx, sel_id)
        sel_w = tl.where(kk == j, m, sel_w)
        v = tl.where(e == idx, float("-inf"), v)
    km = kk < top_k
    if KIND == 1:
        p = tl.where(km, tl.exp(sel_w - tl.max(tl.where(km, sel_w, float("-inf")), 0)), 0.0)
        sel_w = p / tl.sum(p, 0)
    else:
        if renorm != 0:
            sel_w = sel_w / tl.sum(tl.where(km, sel_w, 0.0), 0)
    tl.store(ids_ptr + t * top_k + kk, sel_id, mask=km)
    tl.store(weights_ptr + t * top_k + kk, sel_w, mask=km)


@triton.jit
def moe_align_kernel(ids_ptr, sorted_ptr, block_expert_ptr, num_slots, E, max_blocks,
                     BLOCK_M: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK: tl.constexpr):
    # grid = (1,); sorted: max_blocks * BLOCK_M int32. Within an expert the slots keep their
    # order (ranks counted, no atomics), so the layout is deterministic.
    e = tl.arange(0, BLOCK_E)
    em = e < E
    counts = tl.zeros([BLOCK_E], tl.int32)
    for s0 in range(0, num_slots, BLOCK):
        s = s0 + tl.arange(0, BLOCK)
        m = s < num_slots
        ids = tl.load(ids_ptr + s, mask=m, other=BLOCK_E)
        counts += tl.sum((ids[:, None] == e[None, :]).to(tl.int32), axis=0)
    padded = tl.where(em, (counts + BLOCK_M - 1) // BLOCK_M * BLOCK_M, 0)
    ends = tl.cumsum(padded, 0)
    total = tl.sum(padded, 0)
    for b0 in range(0, max_blocks, BLOCK):
        b = b0 + tl.arange(0, BLOCK)
        pos = b * BLOCK_M
        ex = tl.sum((ends[None, :] <= pos[:, None]).to(tl.int32), axis=1)
        tl.store(block_expert_ptr + b, tl.where(pos < total, ex, -1), mask=b < max_blocks)
    for r0 in range(0, max_blocks * BLOCK_M, BLOCK):
        r = r0 + tl.arange(0, BLOCK)
        tl.store(sorted_ptr + r, tl.zeros([BLOCK], tl.int32) + num_slots, mask=r < max_blocks * BLOCK_M)
    tl.debug_barrier()
    cursor = ends - padded
    i = tl.arange(0, BLOCK)
    for s0 in range(0, num_slots, BLOCK):
        s = s0 + i
        m = s < num_slots
        ids = tl.load(ids_ptr + s, mask=m, other=BLOCK_E)
        onehot = ids[:, None] == e[None, :]
        base = tl.sum(tl.where(onehot, cursor[None, :], 0), axis=1)
        same = (ids[:, None] == ids[None, :]) & (i[None, :] < i[:, None])
        rank = tl.sum(same.to(tl.int32), axis=1)
        tl.store(sorted_ptr + base + rank, s, mask=m)
        cursor += tl.sum(onehot.to(tl.int32), axis=0)


@triton.jit
def _weight_tile(w_ptr, scales_ptr, expert, rows, rm, k, km, K, MXFP4: tl.constexpr, DT: tl.constexpr):
    # [BLOCK_K, BLOCK_N] of expert `expert`'s weight rows `rows`, columns k, as DT
    mask = km[:, None] & rm[None, :]
    if MXFP4:
        row = rows.to(tl.int64)[None, :]
        byte = tl.load(w_ptr + row * (K // 2) + (k // 2)[:, None], mask=mask, other=0).to(tl.int32)
        code = tl.where((k % 2 == 0)[:, None], byte & 15, byte >> 4)
        ex = (code >> 1) & 3
        half = (code & 1).to(tl.float32) * 0.5
        mag = tl.where(ex == 0, half, tl.where(ex == 1, 1.0, tl.where(ex == 2, 2.0, 4.0)) * (1.0 + half))
        val = tl.where((code & 8) != 0, -mag, mag)
        sc = tl.load(scales_ptr + row * (K // 32) + (k // 32)[:, None], mask=mask, other=127).to(tl.uint32)
        val = val * (sc << 23).to(tl.float32, bitcast=True)  # 2^(scale - 127); 255: infinite
        return val.to(DT)
    else:
        return tl.load(w_ptr + rows.to(tl.int64)[None, :] * K + k[:, None], mask=mask, other=0.0)


@triton.jit
def moe_gemm_kernel(a_ptr, w_ptr, scales_ptr, bias_ptr, sorted_ptr, block_expert_ptr, rw_ptr, out_ptr,
                    num_slots, N, K, a_stride, out_stride, top_k, has_bias, act, alpha, limit,
                    MXFP4: tl.constexpr, GATE_UP: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # grid = (max_blocks, cdiv(N, BLOCK_N)); N: output columns (GATE_UP: the intermediate size,
    # the weights then hold 2N rows an expert)
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    expert = tl.load(block_expert_ptr + pid_m)
    if expert < 0:
        return
    slot = tl.load(sorted_ptr + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))
    valid = slot < num_slots
    if GATE_UP:
        a_row = slot // top_k
        w_rows = 2 * N
    else:
        a_row = slot
        w_rows = N
    a_row = tl.where(valid, a_row, 0).to(tl.int64)
    n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nm = n < N
    DT = a_ptr.dtype.element_ty
    row0 = expert.to(tl.int64) * w_rows
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        km = k < K
        a = tl.load(a_ptr + a_row[:, None] * a_stride + k[None, :], mask=valid[:, None] & km[None, :], other=0.0)
        wg = _weight_tile(w_ptr, scales_ptr, expert, row0 + n, nm, k, km, K, MXFP4, DT)
        acc_g = tl.dot(a, wg, acc_g)
        if GATE_UP:
            wu = _weight_tile(w_ptr, scales_ptr, expert, row0 + N + n, nm, k, km, K, MXFP4, DT)
            acc_u = tl.dot(a, wu, acc_u)
    om = valid[:, None] & nm[None, :]
    orow = tl.where(valid, slot, 0).to(tl.int64)
    if GATE_UP:
        g = acc_g
        u = acc_u
        if has_bias != 0:
            g += tl.load(bias_ptr + row0 + n, mask=nm, other=0.0).to(tl.float32)[None, :]
            u += tl.load(bias_ptr + row0 + N + n, mask=nm, other=0.0).to(tl.float32)[None, :]
        if act == 0:
            y = g / (1.0 + tl.exp(-g)) * u
        else:
            g = tl.minimum(g, limit)
            u = tl.minimum(tl.maximum(u, -limit), limit)
            y = (u + 1.0) * (g / (1.0 + tl.exp(-alpha * g)))
        tl.store(out_ptr + orow[:, None] * out_stride + n[None, :], y.to(out_ptr.dtype.element_ty), mask=om)
    else:
        y = acc_g
        if has_bias != 0:
            y += tl.load(bias_ptr + row0 + n, mask=nm, other=0.0).to(tl.float32)[None, :]
        rw = tl.load(rw_ptr + orow, mask=valid, other=0.0)
        y = y * rw[:, None]
        tl.store(out_ptr + orow[:, None] * out_stride + n[None, :], y.to(out_ptr.dtype.element_ty), mask=om)


@triton.jit
def moe_sum_kernel(y_ptr, out_ptr, H, top_k, out_stride, BLOCK: tl.constexpr):
    # grid = (T, cdiv(H, BLOCK)); y [T * top_k, H] fp32
    t = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    hm = h < H
    acc = tl.zeros([BLOCK], tl.float32)
    for j in range(0, top_k):
        acc += tl.load(y_ptr + (t * top_k + j) * H + h, mask=hm, other=0.0)
    tl.store(out_ptr + t * out_stride + h, acc.to(out_ptr.dtype.element_ty), mask=hm)


SPECS = []
for _be in (32, 128):
    for _kind, _kn in ((0, "softmax_topk"), (1, "topk_softmax")):
        SPECS.append({
            "name": f"moe_route_{_kn}_bf16_e{_be}", "fn": moe_route_kernel,
            "signature": {"x_ptr": "*bf16", "w_ptr": "*bf16", "b_ptr": "*bf16", "ids_ptr": "*i32",
                          "weights_ptr": "*fp32", "H": "i32", "E": "i32", "x_stride": "i32", "top_k": "i32",
                          "has_bias": "i32", "renorm": "i32", "KIND": "constexpr", "BLOCK_E": "constexpr",
                          "BLOCK_H": "constexpr", "K_MAX": "constexpr"},
            "constexprs": {"KIND": _kind, "BLOCK_E": _be, "BLOCK_H": 64 if _be == 128 else 128, "K_MAX": 8},
            "num_warps": 4, "num_stages": 1,
        })
    for _bm in (16, 64):
        SPECS.append({
            "name": f"moe_align_e{_be}_m{_bm}", "fn": moe_align_kernel,
            "signature": {"ids_ptr": "*i32", "sorted_ptr": "*i32", "block_expert_ptr": "*i32",
                          "num_slots": "i32", "E": "i32", "max_blocks": "i32", "BLOCK_M": "constexpr",
                          "BLOCK_E": "constexpr", "BLOCK": "constexpr"},
            "constexprs": {"BLOCK_M": _bm, "BLOCK_E": _be, "BLOCK": 64}, "num_warps": 4, "num_stages": 1,
        })
for _mx, _gu, _bm in ((m, g, b) for m in (0, 1) for g in (0, 1) for b in (16, 64)):
    SPECS.append({
        "name": f"moe_gemm_{'gate_up' if _gu else 'down'}_bf16{'_mxfp4' if _mx else ''}_m{_bm}",
        "fn": moe_gemm_kernel,
        "signature": {"a_ptr": "*bf16", "w_ptr": "*u8" if _mx else "*bf16", "scales_ptr": "*u8",
                      "bias_ptr": "*bf16", "sorted_ptr": "*i32", "block_expert_ptr": "*i32", "rw_ptr": "*fp32",
                      "out_ptr": "*bf16" if _gu else "*fp32", "num_slots": "i32", "N": "i32", "K": "i32",
                      "a_stride": "i32", "out_stride": "i32", "top_k": "i32", "has_bias": "i32", "act": "i32",
                      "alpha": "fp32", "limit": "fp32", "MXFP4": "constexpr", "GATE_UP": "constexpr",
                      "BLOCK_M": "constexpr", "BLOCK_N": "constexpr", "BLOCK_K": "constexpr"},
        "constexprs": {"MXFP4": _mx, "GATE_UP": _gu, "BLOCK_M": _bm, "BLOCK_N": 64, "BLOCK_K": 64},
        "num_warps": 4, "num_stages": 3, "divisibility": {"scales_ptr": 1, "bias_ptr": 1},
    })
SPECS.append({
    "name": "moe_sum_bf16", "fn": moe_sum_kernel,
    "signature": {"y_ptr": "*fp32", "out_ptr": "*bf16", "H": "i32", "top_k": "i32", "out_stride": "i32",
                  "BLOCK": "constexpr"},
    "constexprs": {"BLOCK": 1024}, "num_warps": 4, "num_stages": 1,
})
