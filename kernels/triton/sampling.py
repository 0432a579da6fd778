"""On-GPU sampling: logits [S, V] (fp32, bf16 or fp16; math in fp32) -> one token id per row [S] i32.

Three kernels, run in this order:

apply_penalties_kernel   (optional) edits logits in place for the tokens a sequence has seen.
                         The host passes, per row, the UNIQUE seen token ids (prompt and
                         output, padded with -1) and how often each occurred in the output:
                           repetition r (all listed ids): x > 0 ? x / r : x * r
                           frequency f, presence p (ids with count c > 0): x -= f*c + p
                         Unique ids make the scatter race-free.
sample_partial_kernel    (optional) max, argmax and min of pieces of each row, many programs a
                         row: the first pass of sample_kernel spread over the device.
sample_kernel            per row: temperature <= 0 -> greedy argmax (lowest id on ties).
                         Otherwise y = x / T, and with the row's top_k (<= 0 or >= V: off),
                         top_p (>= 1: off), min_p (<= 0: off) a logit threshold is found
                         by an NT-ary search over the values (SEARCH_PASSES passes over
                         the row each, NT candidate thresholds per pass):
                           top-k: largest t with #{y >= t} >= k
                           top-p: largest t with mass{y >= t, kept by top-k} >= top_p * mass{kept by top-k}
                           min-p: y >= max(y) + log(min_p)
                         and the token is the Gumbel-max argmax(y + g) over the kept set,
                         g = -log(-log(u)), u = tl.rand(seed + (step << 32), token id):
                         an exact sample of softmax(y) restricted to the kept set,
                         reproducible for a given (seed, step).
argmax_reduce_kernel     finishes gemm.gemv_argmax_kernel (greedy rows whose logits were never
                         written): the row's token from its per-tile maxima.
Tokens tied with the threshold value are all kept (so top-k may keep more than k when
logits tie exactly).
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait


@triton.jit
def apply_penalties_kernel(logits_ptr, logits_stride, pen_ids_ptr, pen_counts_ptr, pen_stride, num_ids,
                           repetition_ptr, presence_ptr, frequency_ptr, BLOCK_L: tl.constexpr):
    # grid = (S, cdiv(num_ids, BLOCK_L)); pen_ids / pen_counts are [S, pen_stride] i32
    row = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    lmask = offs < num_ids
    ids = tl.load(pen_ids_ptr + row * pen_stride + offs, mask=lmask, other=-1)
    cnt = tl.load(pen_counts_ptr + row * pen_stride + offs, mask=lmask, other=0).to(tl.float32)
    valid = ids >= 0
    rep = tl.load(repetition_ptr + row)
    pres = tl.load(presence_ptr + row)
    freq = tl.load(frequency_ptr + row)
    ptrs = logits_ptr + row * logits_stride + ids
    x = tl.load(ptrs, mask=valid, other=0.0)
    x = tl.where(x > 0, x / rep, x * rep)
    x = x - freq * cnt - tl.where(cnt > 0, pres, 0.0)
    tl.store(ptrs, x, mask=valid)


@triton.jit
def _search_pass(x_row, V, inv_t, m, lo, hi, need, MASS: tl.constexpr, NT: tl.constexpr, BLOCK_S: tl.constexpr):
    """One step of an NT-ary search for the largest t in (lo, hi) with f(t) >= need, where
    f(t) = #{y >= t} (MASS=False) or sum_{y >= t} exp(y - m) (MASS=True), f non-increasing.
    Evaluates NT interior thresholds in one pass over the row; returns the narrowed (lo, hi)."""
    j = tl.arange(0, NT)
    ts = lo + (hi - lo) * (j + 1).to(tl.float32) / (NT + 1)
    # accumulate per lane, reduce across the block once at the end (a cross-warp reduction
    # per chunk would dominate the pass)
    # values are loaded as a [BLOCK_S, 1] column so that broadcasting against the NT
    # thresholds needs no layout conversion inside the loop
    acc2 = tl.zeros([BLOCK_S, NT], tl.float32)
    col = tl.arange(0, BLOCK_S)[:, None]
    tsr = ts[None, :]
    for v0 in range(0, V, BLOCK_S):
        offs = v0 + col
        y = tl.load(x_row + offs, mask=offs < V, other=float("-inf")).to(tl.float32) * inv_t
        if MASS:
            w = tl.exp(y - m)
        else:
            w = tl.where(offs < V, 1.0, 0.0)
        acc2 += tl.where(y >= tsr, w, 0.0)
    acc = tl.sum(acc2, 0)
    ok = acc >= need
    new_lo = tl.max(tl.where(ok, ts, lo), 0)
    new_hi = tl.min(tl.where(ok, hi, ts), 0)
    return new_lo, new_hi


@triton.jit
def _mass_ge(x_row, V, inv_t, m, t, BLOCK_V: tl.constexpr):
    s = tl.zeros([BLOCK_V], tl.float32)
    for v0 in range(0, V, BLOCK_V):
        offs = v0 + tl.arange(0, BLOCK_V)
        y = tl.load(x_row + offs, mask=offs < V, other=float("-inf")).to(tl.float32) * inv_t
        s += tl.where(y >= t, tl.exp(y - m), 0.0)
    return tl.sum(s, 0)


@triton.jit
def _max_min_scan(x_row, lo, hi, inv_t, BLOCK_V: tl.constexpr):
    """max, its lowest index, and min of the finite y = x * inv_t over x_row[lo:hi]: per-lane running
    values, reduced once after the loop (the earliest chunk wins ties within a lane, the lowest
    id across lanes)."""
    lane = tl.arange(0, BLOCK_V)
    best_v = tl.full([BLOCK_V], float("-inf"), tl.float32)
    best_i = tl.zeros([BLOCK_V], tl.int32) + lo
    lo_vec = tl.full([BLOCK_V], float("inf"), tl.float32)
    for v0 in range(lo, hi, BLOCK_V):
        offs = v0 + lane
        vmask = offs < hi
        y = tl.load(x_row + offs, mask=vmask, other=float("-inf")).to(tl.float32) * inv_t
        better = y > best_v
        best_i = tl.where(better, offs, best_i)
        best_v = tl.where(better, y, best_v)
        # the min of the finite values: -inf entries (tokens masked out by structured output)
        # are never kept, and a threshold search from -inf would not narrow
        lo_vec = tl.minimum(lo_vec, tl.where(vmask & (y > float("-inf")), y, float("inf")))
    best = tl.max(best_v, 0)
    best_id = tl.min(tl.where(best_v == best, best_i, 2147483647), 0)
    return best, best_id, tl.min(lo_vec, 0)


@triton.jit
def sample_partial_kernel(logits_ptr, logits_stride, V, chunk, part_ptr, part_id_ptr, BLOCK_V: tl.constexpr):
    # grid = (S, P): program (row, j) scans the raw logits x_row[j * chunk, (j + 1) * chunk) and
    # writes part[row, j] = (max, min) (fp32) and part_id[row, j] = the lowest index of the max.
    # sample_kernel then starts from these P partials instead of its first pass over the row
    # (scaling by 1 / T > 0 keeps the order, so max and min of x / T are the partials' / T).
    row = tl.program_id(0).to(tl.int64)
    j = tl.program_id(1)
    lo = j * chunk
    hi = tl.minimum(lo + chunk, V)
    best, best_id, lo_v = _max_min_scan(logits_ptr + row * logits_stride, lo, hi, 1.0, BLOCK_V)
    k = row * tl.num_programs(1) + j
    tl.store(part_ptr + 2 * k, best)
    tl.store(part_ptr + 2 * k + 1, lo_v)
    tl.store(part_id_ptr + k, best_id)


@triton.jit
def sample_kernel(logits_ptr, logits_stride, V, temperature_ptr, top_k_ptr, top_p_ptr, min_p_ptr, seeds_ptr,
                  steps_ptr, out_ptr, part_ptr, part_id_ptr, num_parts, BLOCK_V: tl.constexpr,
                  BLOCK_S: tl.constexpr, NT: tl.constexpr, SEARCH_PASSES: tl.constexpr, BLOCK_P: tl.constexpr):
    # grid = (S,). num_parts > 0: sample_partial_kernel has written the row's max / argmax / min
    # in num_parts (<= BLOCK_P) pieces; else pass 1 scans the row here.
    row = tl.program_id(0).to(tl.int64)
    x_row = logits_ptr + row * logits_stride
    temp = tl.load(temperature_ptr + row)
    greedy = temp <= 0.0
    inv_t = tl.where(greedy, 1.0, 1.0 / tl.where(greedy, 1.0, temp))
    lane = tl.arange(0, BLOCK_V)

    # pass 1: max / min of y = x / T (and the greedy answer)
    if num_parts > 0:
        pj = tl.arange(0, BLOCK_P)
        pmask = pj < num_parts
        pk = row * num_parts + pj
        pv = tl.load(part_ptr + 2 * pk, mask=pmask, other=float("-inf"))
        pmin = tl.load(part_ptr + 2 * pk + 1, mask=pmask, other=float("inf"))
        pid = tl.load(part_id_ptr + pk, mask=pmask, other=2147483647)
        bx = tl.max(pv, 0)
        best_id = tl.min(tl.where(pv == bx, pid, 2147483647), 0)  # pieces are in id order
        best = bx * inv_t
        lo_v = tl.min(pmin, 0) * inv_t
    else:
        best, best_id, lo_v = _max_min_scan(x_row, 0, V, inv_t, BLOCK_V)

    if greedy:
        tl.store(out_ptr + row, best_id)
    else:
        m = best
        thresh = lo_v
        top_k = tl.load(top_k_ptr + row)
        if (top_k > 0) & (top_k < V):
            lo = lo_v
            hi = m + 1.0
            for _ in range(SEARCH_PASSES):
                lo, hi = _search_pass(x_row, V, inv_t, m, lo, hi, top_k.to(tl.float32), False, NT, BLOCK_S)
            thresh = lo
        top_p = tl.load(top_p_ptr + row)
        if top_p < 1.0:
            target = top_p * _mass_ge(x_row, V, inv_t, m, thresh, BLOCK_V)
            lo = thresh
            hi = m + 1.0
            for _ in range(SEARCH_PASSES):
                lo, hi = _search_pass(x_row, V, inv_t, m, lo, hi, target, True, NT, BLOCK_S)
            thresh = lo
        min_p = tl.load(min_p_ptr + row)
        if min_p > 0.0:
            thresh = tl.maximum(thresh, m + tl.log(min_p))

        # Gumbel-max over the kept tokens
        seed = tl.load(seeds_ptr + row) + (tl.load(steps_ptr + row).to(tl.int64) << 32)
        g_v = tl.full([BLOCK_V], float("-inf"), tl.float32)
        g_i = tl.zeros([BLOCK_V], tl.int32) + best_id
        for v0 in range(0, V, BLOCK_V):
            offs = v0 + lane
            y = tl.load(x_row + offs, mask=offs < V, other=float("-inf")).to(tl.float32) * inv_t
            u = tl.rand(seed, offs)
            score = tl.where(y >= thresh, y - tl.log(-tl.log(u)), float("-inf"))
            better = score > g_v
            g_i = tl.where(better, offs, g_i)
            g_v = tl.where(better, score, g_v)
        g_best = tl.max(g_v, 0)
        g_id = tl.min(tl.where(g_v == g_best, g_i, 2147483647), 0)
        tl.store(out_ptr + row, g_id)


@triton.jit
def argmax_reduce_kernel(part_val_ptr, part_idx_ptr, num_parts, out_ptr, BLOCK_P: tl.constexpr,
                         USE_PDL: tl.constexpr = False):
    # grid = (R,): row r's greedy token from the per-tile (max, lowest argmax) pairs that
    # gemm.gemv_argmax_kernel wrote, part_val / part_idx [R, num_parts] in column order: the
    # largest value, the lowest id on ties (the answer sample_kernel gives at temperature 0).
    # A row of NaNs only gives id 0.
    row = tl.program_id(0).to(tl.int64)
    lane = tl.arange(0, BLOCK_P)
    best_v = tl.full([BLOCK_P], float("-inf"), tl.float32)
    best_i = tl.full([BLOCK_P], 2147483647, tl.int32)
    pdl_wait(USE_PDL)
    for p0 in range(0, num_parts, BLOCK_P):
        p = p0 + lane
        pmask = p < num_parts
        v = tl.load(part_val_ptr + row * num_parts + p, mask=pmask, other=float("-inf"))
        i = tl.load(part_idx_ptr + row * num_parts + p, mask=pmask, other=2147483647)
        better = (v > best_v) | ((v == best_v) & (i < best_i))
        best_i = tl.where(better, i, best_i)
        best_v = tl.where(better, v, best_v)
    pdl_launch_dependents(USE_PDL)
    m = tl.max(best_v, 0)
    tok = tl.min(tl.where(best_v == m, best_i, 2147483647), 0)
    tl.store(out_ptr + row, tl.where(tok == 2147483647, 0, tok))


# 11 passes of a 5-ary search (NT = 4 thresholds per pass) narrow the threshold interval by
# 5^11 (~2^25.5). One program reads the whole row per pass, so the cost is a balance between
# passes (memory latency) and NT compares per value (ALU): NT = 4 measured best on H100.
SAMPLE_CONSTEXPRS = {"BLOCK_V": 4096, "BLOCK_S": 2048, "NT": 4, "SEARCH_PASSES": 11, "BLOCK_P": 64}
PARTIAL_CONSTEXPRS = {"BLOCK_V": 2048}

_SAMPLE_SIG = {"logits_stride": "i32", "V": "i32", "temperature_ptr": "*fp32", "top_k_ptr": "*i32",
               "top_p_ptr": "*fp32", "min_p_ptr": "*fp32", "seeds_ptr": "*i64", "steps_ptr": "*i32",
               "out_ptr": "*i32", "part_ptr": "*fp32", "part_id_ptr": "*i32", "num_parts": "i32",
               "BLOCK_V": "constexpr", "BLOCK_S": "constexpr", "NT": "constexpr", "SEARCH_PASSES": "constexpr",
               "BLOCK_P": "constexpr"}
_PARTIAL_SIG = {"logits_stride": "i32", "V": "i32", "chunk": "i32", "part_ptr": "*fp32", "part_id_ptr": "*i32",
                "BLOCK_V": "constexpr"}

SPECS = [
    {
        "name": "apply_penalties_fp32", "fn": apply_penalties_kernel,
        "signature": {"logits_ptr": "*fp32", "logits_stride": "i32", "pen_ids_ptr": "*i32", "pen_counts_ptr": "*i32",
                      "pen_stride": "i32", "num_ids": "i32", "repetition_ptr": "*fp32", "presence_ptr": "*fp32",
                      "frequency_ptr": "*fp32", "BLOCK_L": "constexpr"},
        "constexprs": {"BLOCK_L": 1024}, "num_warps": 4, "num_stages": 1,
    },
]
# one variant per logits dtype with the row stride and V multiples of 16 (vectorized loads),
# and one for any V (vocab not a multiple of 16: unvectorized loads)
for _dt in ("fp32", "bf16", "fp16"):
    _sig = {"logits_ptr": "*" + _dt, **_SAMPLE_SIG}
    SPECS.append({"name": f"sample_{_dt}", "fn": sample_kernel, "signature": _sig, "constexprs": SAMPLE_CONSTEXPRS,
                  "num_warps": 8, "num_stages": 1, "div16": ["logits_stride", "V"]})
    SPECS.append({"name": f"sample_{_dt}_anyv", "fn": sample_kernel, "signature": _sig,
                  "constexprs": SAMPLE_CONSTEXPRS, "num_warps": 8, "num_stages": 1})
    _psig = {"logits_ptr": "*" + _dt, **_PARTIAL_SIG}
    SPECS.append({"name": f"sample_partial_{_dt}", "fn": sample_partial_kernel, "signature": _psig,
                  "constexprs": PARTIAL_CONSTEXPRS, "num_warps": 4, "num_stages": 2,
                  "div16": ["logits_stride", "V", "chunk"]})
    SPECS.append({"name": f"sample_partial_{_dt}_anyv", "fn": sample_partial_kernel, "signature": _psig,
                  "constexprs": PARTIAL_CONSTEXPRS, "num_warps": 4, "num_stages": 2})
SPECS.append({"name": "argmax_reduce", "fn": argmax_reduce_kernel,
              "signature": {"part_val_ptr": "*fp32", "part_idx_ptr": "*i32", "num_parts": "i32", "out_ptr": "*i32",
                            "BLOCK_P": "constexpr"},
              "constexprs": {"BLOCK_P": 1024}, "num_warps": 4, "num_stages": 1, "pdl": True})
