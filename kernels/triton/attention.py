"""Paged attention over a KV cache laid out [num_blocks, KV_BLOCK_SIZE, num_kv_heads, HEAD_DIM].

Key/value token j of sequence s lives in physical block block_tables[s, j // KV_BLOCK_SIZE]
at offset j % KV_BLOCK_SIZE. Every kernel gathers K/V one token row (HEAD_DIM contiguous
elements) at a time, so BLOCK_N need not match the cache block size.

prefill_attention_kernel   flash-attention forward (tiled, online softmax in base 2),
                           causal, GQA, variable-length batch, optional sliding window.
                           Queries of sequence s are rows cu_seqlens_q[s]..cu_seqlens_q[s+1]
                           of q and are the LAST q_len positions of the sequence
                           (ctx = seq_lens[s] - q_len earlier tokens are already cached),
                           so chunked prefill over earlier context works. Program z of
                           the grid's third axis handles sequence first_seq + z, so a mixed
                           batch can give its leading one-query sequences to the decode kernel.
decode_attention_partial_kernel + decode_attention_reduce_kernel
                           split-K flash decoding: one query token per sequence; the context
                           is cut into partitions of partition_size tokens, one program per
                           (sequence, kv head, partition) handles all q_per_kv query heads of
                           that kv head (K/V read once per kv head), writes unnormalized
                           partial (acc, max, sum); the reduce kernel merges partitions.
                           With one partition it writes the normalized output itself.
decode_rope_attention_kernel
                           the same with rope.py's rope_kv_write_kernel folded in: takes the
                           unrotated qkv rows, rotates q and the new k, writes the new k and v
                           to the cache and attends to them from registers (one launch less
                           per layer in decode steps).

Visibility: key j is seen by the query at position i iff j <= i and (window <= 0 or i - j < window).
Each layer passes its own window (gpt-oss alternates sliding and full attention).

Attention sinks (gpt-oss): with has_sinks != 0, sinks_ptr holds one fp32 logit per query head
that joins every softmax of that head as one more score with no value: out = sum_j p_j v_j with
p_j = exp(s_j) / (exp(sink) + sum_i exp(s_i)). The online softmax starts from the sink (running
max = sink, sum = 1, acc = 0) instead of (-inf, 0, 0); in split-K decoding only partition 0 does,
so the reduce counts it once. With has_sinks == 0 sinks_ptr is not read (any pointer will do).
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait

LOG2E = 1.4426950408889634


@triton.jit
def to_cache_dtype(x, cache_ptr):
    """x as the KV cache at cache_ptr stores it. fp8 e4m3 caches (vLLM's --kv-cache-dtype fp8,
    scale 1.0): rounded to nearest even, saturating at +-448 (e4m3 has no infinity). rope.py's
    _rotate_heads rounds the same way."""
    if cache_ptr.dtype.element_ty == tl.float8e4nv:
        x = tl.minimum(tl.maximum(x.to(tl.float32), -448.0), 448.0)
    return x.to(cache_ptr.dtype.element_ty)


@triton.jit
def dot_dtype(q, cache_ptr):
    """q in the dtype the dots run in: fp16 over an fp8 cache (e4m3 converts to fp16 in one
    instruction per pair, to bf16 only through fp16; q clamped to fp16's range), else q's own."""
    if cache_ptr.dtype.element_ty == tl.float8e4nv:
        return tl.minimum(tl.maximum(q.to(tl.float32), -65504.0), 65504.0).to(tl.float16)
    else:
        return q


@triton.jit
def _softmax_start(sinks_ptr, heads, with_sink):
    """The online softmax's (running max in log2 units, sum) before any key: the heads' sinks
    (exp2(sink * log2e - max) = 1) when with_sink, else (-1e30, 0)."""
    sink = tl.load(sinks_ptr + heads, mask=(heads >= 0) & with_sink, other=0.0).to(tl.float32)
    m = tl.where(with_sink, sink * 1.4426950408889634, -1.0e30)
    return m, tl.where(with_sink, 1.0, 0.0) + tl.zeros(heads.shape, tl.float32)


@triton.jit
def _prefill_tile(q, k_base, v_base, bt, kv_row, start_n, hi, pos_q, win, qk_scale, m_i, l_i, acc, MASKED: tl.constexpr,
                  HEAD_DIM: tl.constexpr, HEAD_P2: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr, BLOCK_N: tl.constexpr):
    """One BLOCK_N tile of keys: gather K/V rows through the block table, online-softmax update."""
    offs_n = start_n + tl.arange(0, BLOCK_N)
    d = tl.arange(0, HEAD_P2)
    dmask = d < HEAD_DIM
    if MASKED:
        nmask = offs_n < hi
        blk = tl.load(bt + offs_n // KV_BLOCK_SIZE, mask=nmask, other=0).to(tl.int64)
        kvmask = nmask[:, None] & dmask[None, :]
    else:
        blk = tl.load(bt + offs_n // KV_BLOCK_SIZE).to(tl.int64)
        kvmask = dmask[None, :]
    kv_off = (blk * KV_BLOCK_SIZE + offs_n % KV_BLOCK_SIZE)[:, None] * kv_row + d[None, :]
    k = tl.load(k_base + kv_off, mask=kvmask, other=0.0).to(q.dtype)
    qk = tl.dot(q, tl.trans(k)) * qk_scale
    if MASKED:
        vis = (offs_n[None, :] <= pos_q[:, None]) & (pos_q[:, None] - offs_n[None, :] < win) & nmask[None, :]
        qk = tl.where(vis, qk, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(qk, 1))
    p = tl.exp2(qk - m_new[:, None])
    alpha = tl.exp2(m_i - m_new)
    l_i = l_i * alpha + tl.sum(p, 1)
    v = tl.load(v_base + kv_off, mask=kvmask, other=0.0).to(q.dtype)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
    return m_new, l_i, acc


@triton.jit
def prefill_attention_kernel(q_ptr, k_cache_ptr, v_cache_ptr, out_ptr, block_tables_ptr, cu_seqlens_q_ptr,
                             seq_lens_ptr, sinks_ptr, scale, q_stride_t, q_stride_h, o_stride_t, o_stride_h,
                             bt_stride, num_kv_heads, q_per_kv, window, first_seq, has_sinks,
                             HEAD_DIM: tl.constexpr, HEAD_P2: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
                             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # grid = (cdiv(max_q_len, BLOCK_M), num_q_heads, num_seqs - first_seq)
    pid_m = tl.program_id(0)
    head = tl.program_id(1)
    seq = tl.program_id(2) + first_seq
    q_start = tl.load(cu_seqlens_q_ptr + seq)
    q_len = tl.load(cu_seqlens_q_ptr + seq + 1) - q_start
    if pid_m * BLOCK_M >= q_len:
        return
    seq_len = tl.load(seq_lens_ptr + seq)
    ctx = seq_len - q_len
    kv_head = head // q_per_kv

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    mmask = offs_m < q_len
    pos_q = ctx + offs_m
    d = tl.arange(0, HEAD_P2)
    dmask = d < HEAD_DIM
    tok = (q_start + offs_m).to(tl.int64)
    q = tl.load(q_ptr + tok[:, None] * q_stride_t + head * q_stride_h + d[None, :],
                mask=mmask[:, None] & dmask[None, :], other=0.0)
    q = dot_dtype(q, k_cache_ptr)

    # keys [lo, hi): causal upper end of this query tile, lower end from the sliding window
    hi = tl.minimum(seq_len, ctx + (pid_m + 1) * BLOCK_M)
    win = tl.where(window > 0, window, 1 << 30)
    lo = tl.maximum(ctx + pid_m * BLOCK_M - win + 1, 0)
    lo = (lo // BLOCK_N) * BLOCK_N

    # [lo, mid_lo): window edge (masked), [mid_lo, full_hi): every key visible to every query
    # of the tile (no mask math), [full_hi, hi): the causal diagonal (masked)
    full_hi = tl.maximum(((ctx + pid_m * BLOCK_M + 1) // BLOCK_N) * BLOCK_N, lo)
    mid_lo = tl.minimum(tl.maximum(tl.cdiv(ctx + (pid_m + 1) * BLOCK_M - win, BLOCK_N) * BLOCK_N, lo), full_hi)

    m_i, l_i = _softmax_start(sinks_ptr, head + tl.zeros([BLOCK_M], tl.int32), has_sinks != 0)
    acc = tl.zeros([BLOCK_M, HEAD_P2], tl.float32)
    qk_scale = scale * 1.4426950408889634
    kv_row = num_kv_heads * HEAD_DIM
    bt = block_tables_ptr + seq.to(tl.int64) * bt_stride
    kv_base_k = k_cache_ptr + kv_head * HEAD_DIM
    kv_base_v = v_cache_ptr + kv_head * HEAD_DIM
    for start_n in range(lo, mid_lo, BLOCK_N):
        m_i, l_i, acc = _prefill_tile(q, kv_base_k, kv_base_v, bt, kv_row, start_n, hi, pos_q, win, qk_scale, m_i,
                                      l_i, acc, True, HEAD_DIM, HEAD_P2, KV_BLOCK_SIZE, BLOCK_N)
    for start_n in range(mid_lo, full_hi, BLOCK_N):
        m_i, l_i, acc = _prefill_tile(q, kv_base_k, kv_base_v, bt, kv_row, start_n, hi, pos_q, win, qk_scale, m_i,
                                      l_i, acc, False, HEAD_DIM, HEAD_P2, KV_BLOCK_SIZE, BLOCK_N)
    for start_n in range(full_hi, hi, BLOCK_N):
        m_i, l_i, acc = _prefill_tile(q, kv_base_k, kv_base_v, bt, kv_row, start_n, hi, pos_q, win, qk_scale, m_i,
                                      l_i, acc, True, HEAD_DIM, HEAD_P2, KV_BLOCK_SIZE, BLOCK_N)
    l_i = tl.where(l_i > 0.0, l_i, 1.0)
    acc = acc / l_i[:, None]
    tl.store(out_ptr + tok[:, None] * o_stride_t + head * o_stride_h + d[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=mmask[:, None] & dmask[None, :])


@triton.jit
def _decode_range(seq_lens_ptr, seq, part, partition_size, window):
    """The sequence's length and the keys [start, end) partition `part` of it sees."""
    seq_len = tl.load(seq_lens_ptr + seq)
    start = part * partition_size
    end = tl.minimum(start + partition_size, seq_len)
    win = tl.where(window > 0, window, 1 << 30)
    return seq_len, tl.maximum(start, seq_len - win), end


@triton.jit
def _decode_attend(q, k_cache_ptr, v_cache_ptr, bt, kv_off0, d, dmask, start, end, qk_scale, kv_row, m_i, l_i,
                   BLOCK_G: tl.constexpr, HEAD_P2: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
                   BLOCK_N: tl.constexpr):
    """Online softmax of q [BLOCK_G, HEAD_P2] over cached tokens [start, end) of one sequence
    (block table bt) and one kv head (kv_off0 = kv_head * HEAD_DIM), from (m_i, l_i)
    (_softmax_start): (running max in log2 units, sum, unnormalized output)."""
    q = dot_dtype(q, k_cache_ptr)
    acc = tl.zeros([BLOCK_G, HEAD_P2], tl.float32)
    for start_n in range(start, end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        nmask = offs_n < end
        blk = tl.load(bt + offs_n // KV_BLOCK_SIZE, mask=nmask, other=0).to(tl.int64)
        slot = blk * KV_BLOCK_SIZE + offs_n % KV_BLOCK_SIZE
        kv_off = slot[:, None] * kv_row + kv_off0 + d[None, :]
        kvmask = nmask[:, None] & dmask[None, :]
        k = tl.load(k_cache_ptr + kv_off, mask=kvmask, other=0.0).to(q.dtype)
        qk = tl.dot(q, tl.trans(k)) * qk_scale
        qk = tl.where(nmask[None, :], qk, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.exp2(qk - m_new[:, None])
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_cache_ptr + kv_off, mask=kvmask, other=0.0).to(q.dtype)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    return m_i, l_i, acc


@triton.jit
def _decode_store(acc, m_i, l_i, seq, heads, gmask, d, dmask, part, num_parts, num_q_heads, part_acc_ptr,
                  part_ml_ptr, out_ptr, o_stride_t, o_stride_h, HEAD_DIM: tl.constexpr):
    """One partition: the normalized output to out; else the unnormalized partials."""
    if num_parts == 1:
        l_o = tl.where(l_i > 0.0, l_i, 1.0)
        o = (acc / l_o[:, None]).to(out_ptr.dtype.element_ty)
        tl.store(out_ptr + seq.to(tl.int64) * o_stride_t + heads[:, None] * o_stride_h + d[None, :], o,
                 mask=gmask[:, None] & dmask[None, :])
    else:
        row = (seq * num_q_heads + heads).to(tl.int64) * num_parts + part
        tl.store(part_acc_ptr + row[:, None] * HEAD_DIM + d[None, :], acc, mask=gmask[:, None] & dmask[None, :])
        tl.store(part_ml_ptr + row * 2, m_i, mask=gmask)
        tl.store(part_ml_ptr + row * 2 + 1, l_i, mask=gmask)


@triton.jit
def decode_attention_partial_kernel(q_ptr, k_cache_ptr, v_cache_ptr, block_tables_ptr, seq_lens_ptr, part_acc_ptr,
                                    part_ml_ptr, out_ptr, sinks_ptr, scale, q_stride_t, q_stride_h, o_stride_t,
                                    o_stride_h, bt_stride, num_kv_heads, q_per_kv, window, partition_size, has_sinks,
                                    HEAD_DIM: tl.constexpr, HEAD_P2: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
                                    BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (num_seqs, num_kv_heads, num_partitions)
    # part_acc [num_seqs, num_q_heads, num_partitions, HEAD_DIM] fp32 (unnormalized)
    # part_ml  [num_seqs, num_q_heads, num_partitions, 2] fp32 (running max in log2 units, sum)
    # With one partition the program writes the normalized output to out_ptr instead (no reduce).
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    part = tl.program_id(2)
    num_parts = tl.num_programs(2)
    pdl_wait(USE_PDL)
    seq_len, start, end = _decode_range(seq_lens_ptr, seq, part, partition_size, window)

    g = tl.arange(0, BLOCK_G)
    gmask = g < q_per_kv
    heads = kv_head * q_per_kv + g
    d = tl.arange(0, HEAD_P2)
    dmask = d < HEAD_DIM
    q = tl.load(q_ptr + seq.to(tl.int64) * q_stride_t + heads[:, None] * q_stride_h + d[None, :],
                mask=gmask[:, None] & dmask[None, :], other=0.0)

    bt = block_tables_ptr + seq.to(tl.int64) * bt_stride
    m_i, l_i = _softmax_start(sinks_ptr, tl.where(gmask, heads, 0), (has_sinks != 0) & (part == 0))
    m_i, l_i, acc = _decode_attend(q, k_cache_ptr, v_cache_ptr, bt, kv_head * HEAD_DIM, d, dmask, start, end,
                                   scale * 1.4426950408889634, num_kv_heads * HEAD_DIM, m_i, l_i, BLOCK_G, HEAD_P2,
                                   KV_BLOCK_SIZE, BLOCK_N)
    pdl_launch_dependents(USE_PDL)
    _decode_store(acc, m_i, l_i, seq, heads, gmask, d, dmask, part, num_parts, num_kv_heads * q_per_kv, part_acc_ptr,
                  part_ml_ptr, out_ptr, o_stride_t, o_stride_h, HEAD_DIM)


@triton.jit
def _rope_rows(src, rows, rmask, d, cos, sin, partner, HEAD_DIM: tl.constexpr):
    """Rows `rows` (HEAD_DIM apart from src) of a head-major tensor, rotated:
    x'[d] = x[d] * cos[d] + x[partner[d]] * sin[d] (sin carries the pair's sign; cos = 1,
    sin = 0 past the rotary dims), rounded to src's dtype as the cache stores it."""
    m = rmask[:, None] & (d < HEAD_DIM)[None, :]
    base = src + rows[:, None] * HEAD_DIM
    x = tl.load(base + d[None, :], mask=m, other=0.0).to(tl.float32)
    xp = tl.load(base + partner[None, :], mask=m, other=0.0).to(tl.float32)
    return (x * cos[None, :] + xp * sin[None, :]).to(src.dtype.element_ty)


@triton.jit
def decode_rope_attention_kernel(qkv_ptr, positions_ptr, cos_sin_ptr, slot_mapping_ptr, k_cache_ptr, v_cache_ptr,
                                 block_tables_ptr, seq_lens_ptr, part_acc_ptr, part_ml_ptr, out_ptr, sinks_ptr, scale,
                                 qkv_stride, o_stride_t, o_stride_h, bt_stride, num_kv_heads, q_per_kv, window,
                                 partition_size, has_sinks, IS_NEOX: tl.constexpr, ROT_DIM: tl.constexpr,
                                 HEAD_DIM: tl.constexpr, HEAD_P2: tl.constexpr, KV_BLOCK_SIZE: tl.constexpr,
                                 BLOCK_G: tl.constexpr, BLOCK_N: tl.constexpr, USE_PDL: tl.constexpr = False):
    # Decode attention with rope_kv_write_kernel folded in (rope.py's conventions): sequence
    # `seq` is token row `seq` of qkv [S, (NQ + 2 NKV) * HEAD_DIM] (not yet rotated), at
    # position seq_lens[seq] - 1 with cos/sin row positions[seq] and cache slot
    # slot_mapping[seq] (< 0: not written). Its new key and value are not read back from the
    # cache: the program whose partition holds the new token writes them there and adds them
    # to its softmax from registers; every other partition ends before it. grid and outputs
    # as decode_attention_partial_kernel.
    seq = tl.program_id(0)
    kv_head = tl.program_id(1)
    part = tl.program_id(2)
    num_parts = tl.num_programs(2)
    pdl_wait(USE_PDL)
    seq_len, start, end = _decode_range(seq_lens_ptr, seq, part, partition_size, window)
    holds_new = (seq_len - 1) // partition_size == part

    # cos / sin per head dim, and the dim each one pairs with
    d = tl.arange(0, HEAD_P2)
    dmask = d < HEAD_DIM
    rot = d < ROT_DIM
    if IS_NEOX:
        first = d < ROT_DIM // 2
        i = tl.where(first, d, d - ROT_DIM // 2)
        partner = tl.where(first, d + ROT_DIM // 2, d - ROT_DIM // 2)
    else:
        first = d % 2 == 0
        i = d // 2
        partner = tl.where(first, d + 1, d - 1)
    partner = tl.where(rot, partner, d)
    pos = tl.load(positions_ptr + seq).to(tl.int64)
    cs = cos_sin_ptr + pos * ROT_DIM
    cos = tl.where(rot, tl.load(cs + i, mask=rot, other=1.0), 1.0)
    sin = tl.load(cs + ROT_DIM // 2 + i, mask=rot, other=0.0)
    sin = tl.where(rot, tl.where(first, -sin, sin), 0.0)

    row = qkv_ptr + seq.to(tl.int64) * qkv_stride
    num_q_heads = num_kv_heads * q_per_kv
    g = tl.arange(0, BLOCK_G)
    gmask = g < q_per_kv
    heads = kv_head * q_per_kv + g
    q = _rope_rows(row, heads, gmask, d, cos, sin, partner, HEAD_DIM)

    qk_scale = scale * 1.4426950408889634
    kv_row = num_kv_heads * HEAD_DIM
    bt = block_tables_ptr + seq.to(tl.int64) * bt_stride
    m_i, l_i = _softmax_start(sinks_ptr, tl.where(gmask, heads, 0), (has_sinks != 0) & (part == 0))
    m_i, l_i, acc = _decode_attend(q, k_cache_ptr, v_cache_ptr, bt, kv_head * HEAD_DIM, d, dmask, start,
                                   tl.minimum(end, seq_len - 1), qk_scale, kv_row, m_i, l_i, BLOCK_G, HEAD_P2,
                                   KV_BLOCK_SIZE, BLOCK_N)
    pdl_launch_dependents(USE_PDL)
    if holds_new:
        one = tl.arange(0, 1)
        k_src = row + num_q_heads * HEAD_DIM
        k = _rope_rows(k_src, kv_head + one, one < 1, d, cos, sin, partner, HEAD_DIM)  # [1, HEAD_P2]
        v = tl.load(k_src + kv_row + kv_head * HEAD_DIM + one[:, None] * 0 + d[None, :], mask=dmask[None, :],
                    other=0.0)
        # as the cache holds them (fp8 caches: rounded once more)
        k_c = to_cache_dtype(k, k_cache_ptr)
        v_c = to_cache_dtype(v, v_cache_ptr)
        slot = tl.load(slot_mapping_ptr + seq).to(tl.int64)
        if slot >= 0:
            dst = slot * kv_row + kv_head * HEAD_DIM + one[:, None] * 0 + d[None, :]
            tl.store(k_cache_ptr + dst, k_c, mask=dmask[None, :])
            tl.store(v_cache_ptr + dst, v_c, mask=dmask[None, :])
        k = k_c.to(q.dtype)
        v = v_c.to(q.dtype)
        # the new token, as the loop would add it (same roundings)
        qk = tl.sum(q.to(tl.float32) * k.to(tl.float32), 1) * qk_scale  # [BLOCK_G]
        m_new = tl.maximum(m_i, qk)
        p = tl.exp2(qk - m_new)
        alpha = tl.exp2(m_i - m_new)
        l_i = l_i * alpha + p
        pv = p.to(v.dtype).to(tl.float32)[:, None] * v.to(tl.float32)
        acc = acc * alpha[:, None] + pv
        m_i = m_new
    _decode_store(acc, m_i, l_i, seq, heads, gmask, d, dmask, part, num_parts, num_q_heads, part_acc_ptr,
                  part_ml_ptr, out_ptr, o_stride_t, o_stride_h, HEAD_DIM)


@triton.jit
def decode_attention_reduce_kernel(part_acc_ptr, part_ml_ptr, out_ptr, o_stride_t, o_stride_h, num_q_heads,
                                   num_parts, HEAD_DIM: tl.constexpr, HEAD_P2: tl.constexpr,
                                   BLOCK_P: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (num_seqs, num_q_heads)
    seq = tl.program_id(0)
    head = tl.program_id(1)
    pdl_wait(USE_PDL)
    base = (seq * num_q_heads + head).to(tl.int64) * num_parts
    d = tl.arange(0, HEAD_P2)
    dmask = d < HEAD_DIM
    m_run = tl.max(tl.full([BLOCK_P], -1.0e30, tl.float32), 0)
    l_run = tl.sum(tl.zeros([BLOCK_P], tl.float32), 0)
    acc = tl.zeros([HEAD_P2], tl.float32)
    for p0 in range(0, num_parts, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        pmask = p < num_parts
        m = tl.load(part_ml_ptr + (base + p) * 2, mask=pmask, other=-1.0e30)
        l = tl.load(part_ml_ptr + (base + p) * 2 + 1, mask=pmask, other=0.0)
        a = tl.load(part_acc_ptr + (base + p)[:, None] * HEAD_DIM + d[None, :], mask=pmask[:, None] & dmask[None, :],
                    other=0.0)
        m_new = tl.maximum(m_run, tl.max(m, 0))
        alpha = tl.exp2(m_run - m_new)
        w = tl.exp2(m - m_new)
        l_run = l_run * alpha + tl.sum(w * l, 0)
        acc = acc * alpha + tl.sum(w[:, None] * a, 0)
        m_run = m_new
    pdl_launch_dependents(USE_PDL)
    l_run = tl.where(l_run > 0.0, l_run, 1.0)
    tl.store(out_ptr + seq.to(tl.int64) * o_stride_t + head * o_stride_h + d, (acc / l_run).to(out_ptr.dtype.element_ty),
             mask=dmask)


def _p2(n):
    return 1 << (max(int(n), 1) - 1).bit_length()


def prefill_constexprs(head_dim, kv_block_size, block_m, block_n):
    return {"HEAD_DIM": head_dim, "HEAD_P2": _p2(head_dim), "KV_BLOCK_SIZE": kv_block_size, "BLOCK_M": block_m,
            "BLOCK_N": block_n}


def decode_constexprs(head_dim, kv_block_size, block_g=16, block_n=64):
    return {"HEAD_DIM": head_dim, "HEAD_P2": _p2(head_dim), "KV_BLOCK_SIZE": kv_block_size, "BLOCK_G": block_g,
            "BLOCK_N": block_n}


def reduce_constexprs(head_dim, block_p=16):
    return {"HEAD_DIM": head_dim, "HEAD_P2": _p2(head_dim), "BLOCK_P": block_p}


_PREFILL_SIG = ["q_ptr", "k_cache_ptr", "v_cache_ptr", "out_ptr", "block_tables_ptr", "cu_seqlens_q_ptr",
                "seq_lens_ptr", "sinks_ptr", "scale", "q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h",
                "bt_stride", "num_kv_heads", "q_per_kv", "window", "first_seq", "has_sinks"]
_DECODE_SIG = ["q_ptr", "k_cache_ptr", "v_cache_ptr", "block_tables_ptr", "seq_lens_ptr", "part_acc_ptr",
               "part_ml_ptr", "out_ptr", "sinks_ptr", "scale", "q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h",
               "bt_stride", "num_kv_heads", "q_per_kv", "window", "partition_size", "has_sinks"]
_ROPE_DECODE_SIG = ["qkv_ptr", "positions_ptr", "cos_sin_ptr", "slot_mapping_ptr", "k_cache_ptr", "v_cache_ptr",
                    "block_tables_ptr", "seq_lens_ptr", "part_acc_ptr", "part_ml_ptr", "out_ptr", "sinks_ptr",
                    "scale", "qkv_stride", "o_stride_t", "o_stride_h", "bt_stride", "num_kv_heads", "q_per_kv",
                    "window", "partition_size", "has_sinks"]
_REDUCE_SIG = ["part_acc_ptr", "part_ml_ptr", "out_ptr", "o_stride_t", "o_stride_h", "num_q_heads", "num_parts"]
_INT = {"scale": "fp32"}


def _sig(names, act, extra, kv=None):
    s = {}
    for n in names:
        if n.endswith("_ptr"):
            s[n] = {"block_tables_ptr": "*i32", "cu_seqlens_q_ptr": "*i32", "seq_lens_ptr": "*i32",
                    "positions_ptr": "*i32", "slot_mapping_ptr": "*i32", "cos_sin_ptr": "*fp32",
                    "part_acc_ptr": "*fp32", "part_ml_ptr": "*fp32", "sinks_ptr": "*fp32", "k_cache_ptr": kv or act,
                    "v_cache_ptr": kv or act}.get(n, act)
        else:
            s[n] = _INT.get(n, "i32")
    for n in extra:
        s[n] = "constexpr"
    return s


SPECS = []
for _dt, _p in (("bf16", "*bf16"), ("fp16", "*fp16")):
    for _hd in (64, 128, 80, 96, 256, 16, 32):  # 16, 32: the small golden-test models
        for _bs in (16, 32):
            # prefill tiles (BLOCK_M, BLOCK_N, warps, stages), best of a sweep on H100 at T=4096
            # (kernels/bench/tune_attention.py): 64x64 for hd <= 128 (hd 128: 128x128 w8 s3 is 7%
            # faster on sm90 but spills on sm80), 64x32 for hd 256 (register budget)
            _bm, _bn, _nw, _ns = {64: (64, 64, 4, 2), 256: (64, 32, 4, 2)}.get(_hd, (64, 64, 4, 3))
            SPECS.append({
                "name": f"prefill_attention_{_dt}_d{_hd}_bs{_bs}", "fn": prefill_attention_kernel,
                "signature": _sig(_PREFILL_SIG, _p, ["HEAD_DIM", "HEAD_P2", "KV_BLOCK_SIZE", "BLOCK_M", "BLOCK_N"]),
                "constexprs": prefill_constexprs(_hd, _bs, _bm, _bn), "num_warps": _nw, "num_stages": _ns,
                "div16": ["q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h"],
            })
            SPECS.append({
                "name": f"decode_attention_partial_{_dt}_d{_hd}_bs{_bs}", "fn": decode_attention_partial_kernel,
                "signature": _sig(_DECODE_SIG, _p, ["HEAD_DIM", "HEAD_P2", "KV_BLOCK_SIZE", "BLOCK_G", "BLOCK_N"]),
                "constexprs": decode_constexprs(_hd, _bs), "num_warps": 4, "num_stages": 2,
                "div16": ["q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h"], "pdl": True,
            })
            # rope folded in, both layouts, for the common (head_dim, rotary_dim) pairs of rope.py
            # and the golden-test models, at the default block size; other shapes run
            # rope_kv_write_kernel and the partial kernel (cuda_attention.cpp)
            for _rot in {64: (64, 32), 128: (128, 64), 16: (16,), 32: (32,)}.get(_hd, ()) if _bs == 16 else ():
                # head_dim 64 also with 3 stages, which cuda_attention.cpp takes when every program
                # is resident at once (H100, llama-1b batch 64: replay 1.792 -> 1.783 ms; worse at
                # batch 256 and for llama-8b at head_dim 128)
                for _neox, _st in [(n, s) for n in (True, False) for s in ((2, 3) if _hd == 64 else (2,))]:
                    _rn = "" if _rot == _hd else f"_r{_rot}"
                    SPECS.append({
                        "name": f"decode_rope_attention_{_dt}_d{_hd}{_rn}_{'neox' if _neox else 'gptj'}_bs{_bs}"
                                + ("_s3" if _st == 3 else ""),
                        "fn": decode_rope_attention_kernel,
                        "signature": _sig(_ROPE_DECODE_SIG, _p, ["IS_NEOX", "ROT_DIM", "HEAD_DIM", "HEAD_P2",
                                                                 "KV_BLOCK_SIZE", "BLOCK_G", "BLOCK_N"]),
                        "constexprs": {"IS_NEOX": _neox, "ROT_DIM": _rot, **decode_constexprs(_hd, _bs)},
                        "num_warps": 4, "num_stages": _st,
                        "div16": ["qkv_stride", "o_stride_t", "o_stride_h"], "pdl": True,
                    })
        SPECS.append({
            "name": f"decode_attention_reduce_{_dt}_d{_hd}", "fn": decode_attention_reduce_kernel,
            "signature": _sig(_REDUCE_SIG, _p, ["HEAD_DIM", "HEAD_P2", "BLOCK_P"]),
            "constexprs": reduce_constexprs(_hd), "num_warps": 4, "num_stages": 1,
            "div16": ["o_stride_t", "o_stride_h"], "pdl": True,
        })

# fp8 e4m3 KV caches (--kv-cache-dtype fp8): bf16 activations, the default block size, archs
# with fp8 conversions (sm89+); the reduce kernel reads no cache. Prefill: the bf16 cache's
# tiles. Decode: 3 stages, BLOCK_N 128 at head_dim 128 (python3 kernels/bench/
# tune_decode_attention.py --kv fp8 on the H100, the partial kernel at one partition: llama-8b
# batch 256 153.8 -> 147.0 us, batch 64 58.6 -> 43.5 us (the bf16 cache: 210.1, 60.4); llama-1b
# batch 64 at head_dim 64 with BLOCK_N 64: 29.2 -> 25.9 us (bf16: 34.6)).
FP8_ARCHS = [89, 90, 100, 120]
for _hd in (64, 128, 80, 96, 256, 16, 32):
    _dcx = decode_constexprs(_hd, 16, block_n=128 if _hd == 128 else 64)
    _bm, _bn, _nw, _ns = {64: (64, 64, 4, 2), 256: (64, 32, 4, 2)}.get(_hd, (64, 64, 4, 3))
    SPECS.append({
        "name": f"prefill_attention_bf16_kvfp8_d{_hd}_bs16", "fn": prefill_attention_kernel,
        "signature": _sig(_PREFILL_SIG, "*bf16", ["HEAD_DIM", "HEAD_P2", "KV_BLOCK_SIZE", "BLOCK_M", "BLOCK_N"],
                          "*fp8e4nv"),
        "constexprs": prefill_constexprs(_hd, 16, _bm, _bn), "num_warps": _nw, "num_stages": _ns,
        "div16": ["q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h"], "archs": FP8_ARCHS,
    })
    SPECS.append({
        "name": f"decode_attention_partial_bf16_kvfp8_d{_hd}_bs16", "fn": decode_attention_partial_kernel,
        "signature": _sig(_DECODE_SIG, "*bf16", ["HEAD_DIM", "HEAD_P2", "KV_BLOCK_SIZE", "BLOCK_G", "BLOCK_N"],
                          "*fp8e4nv"),
        "constexprs": _dcx, "num_warps": 4, "num_stages": 3,
        "div16": ["q_stride_t", "q_stride_h", "o_stride_t", "o_stride_h"], "pdl": True, "archs": FP8_ARCHS,
    })
    for _rot in {64: (64, 32), 128: (128, 64), 16: (16,), 32: (32,)}.get(_hd, ()):
        for _neox in (True, False):
            _rn = "" if _rot == _hd else f"_r{_rot}"
            SPECS.append({
                "name": f"decode_rope_attention_bf16_kvfp8_d{_hd}{_rn}_{'neox' if _neox else 'gptj'}_bs16",
                "fn": decode_rope_attention_kernel,
                "signature": _sig(_ROPE_DECODE_SIG, "*bf16", ["IS_NEOX", "ROT_DIM", "HEAD_DIM", "HEAD_P2",
                                                              "KV_BLOCK_SIZE", "BLOCK_G", "BLOCK_N"], "*fp8e4nv"),
                "constexprs": {"IS_NEOX": _neox, "ROT_DIM": _rot, **_dcx},
                "num_warps": 4, "num_stages": 3,
                "div16": ["qkv_stride", "o_stride_t", "o_stride_h"], "pdl": True, "archs": FP8_ARCHS,
            })
