"""Rotary position embedding fused with the write of K and V into the paged KV cache.

qkv [T, (NQ + 2*NKV) * HEAD_DIM] is the fused projection output (row stride qkv_stride),
q heads first, then k heads, then v heads. For token t at position pos = positions[t]:

    cos = cos_sin[pos, 0:ROT/2], sin = cos_sin[pos, ROT/2:ROT]        (fp32 table)
    pair (a, b) = (i, i + ROT/2)   if IS_NEOX   (rotate halves)
                = (2i, 2i + 1)     otherwise    (GPT-J, interleaved)
    x'[a] = x[a] cos[i] - x[b] sin[i]
    x'[b] = x[b] cos[i] + x[a] sin[i]          for i < ROT/2; dims >= ROT pass through.

q' is written to q_out (row stride q_out_stride; pass q_out = qkv, q_out_stride = qkv_stride
to rotate in place). k' and v are written to k_cache / v_cache
[num_blocks, block_size, NKV, HEAD_DIM] at slot = slot_mapping[t]
(= block * block_size + offset; negative = do not write). k inside qkv is left as it was.
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait


@triton.jit
def _as_stored(x, src, dst):
    """fp32 x rounded to src's dtype (the model's activations), then stored as dst holds it:
    an fp8 e4m3 KV cache rounds once more, saturating at +-448 (attention.py's to_cache_dtype)."""
    x = x.to(src.dtype.element_ty)
    if dst.dtype.element_ty == tl.float8e4nv:
        x = tl.minimum(tl.maximum(x.to(tl.float32), -448.0), 448.0)
    return x.to(dst.dtype.element_ty)


@triton.jit
def _rotate_heads(src, dst, cos, sin, head0, num_heads, IS_NEOX: tl.constexpr, HEAD_DIM: tl.constexpr,
                  ROT_DIM: tl.constexpr, HALF_P2: tl.constexpr, PASS_P2: tl.constexpr, BLOCK_H: tl.constexpr):
    # src/dst point at head 0 of this token's group; rows are heads, HEAD_DIM apart.
    heads = head0 + tl.arange(0, BLOCK_H)
    hmask = heads < num_heads
    i = tl.arange(0, HALF_P2)
    imask = i < ROT_DIM // 2
    if IS_NEOX:
        ia = i
        ib = i + ROT_DIM // 2
    else:
        ia = 2 * i
        ib = 2 * i + 1
    m = hmask[:, None] & imask[None, :]
    base = heads[:, None] * HEAD_DIM
    xa = tl.load(src + base + ia[None, :], mask=m, other=0.0).to(tl.float32)
    xb = tl.load(src + base + ib[None, :], mask=m, other=0.0).to(tl.float32)
    ya = xa * cos[None, :] - xb * sin[None, :]
    yb = xb * cos[None, :] + xa * sin[None, :]
    tl.store(dst + base + ia[None, :], _as_stored(ya, src, dst), mask=m)
    tl.store(dst + base + ib[None, :], _as_stored(yb, src, dst), mask=m)
    if ROT_DIM < HEAD_DIM:
        p = ROT_DIM + tl.arange(0, PASS_P2)
        pm = hmask[:, None] & (p < HEAD_DIM)[None, :]
        xp = tl.load(src + base + p[None, :], mask=pm, other=0.0)
        tl.store(dst + base + p[None, :], _as_stored(xp, src, dst), mask=pm)


@triton.jit
def rope_kv_write_kernel(qkv_ptr, q_out_ptr, positions_ptr, cos_sin_ptr, slot_mapping_ptr, k_cache_ptr, v_cache_ptr,
                         qkv_stride, q_out_stride, num_q_heads, num_kv_heads,
                         IS_NEOX: tl.constexpr, HEAD_DIM: tl.constexpr, ROT_DIM: tl.constexpr,
                         HALF_P2: tl.constexpr, PASS_P2: tl.constexpr, HEAD_P2: tl.constexpr,
                         BLOCK_H: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (T,)
    tok = tl.program_id(0).to(tl.int64)
    pdl_wait(USE_PDL)
    pdl_launch_dependents(USE_PDL)  # a short kernel: let the next one launch at once
    pos = tl.load(positions_ptr + tok).to(tl.int64)
    i = tl.arange(0, HALF_P2)
    imask = i < ROT_DIM // 2
    cos = tl.load(cos_sin_ptr + pos * ROT_DIM + i, mask=imask, other=1.0)
    sin = tl.load(cos_sin_ptr + pos * ROT_DIM + ROT_DIM // 2 + i, mask=imask, other=0.0)

    row = qkv_ptr + tok * qkv_stride
    for h0 in range(0, num_q_heads, BLOCK_H):
        _rotate_heads(row, q_out_ptr + tok * q_out_stride, cos, sin, h0, num_q_heads, IS_NEOX, HEAD_DIM, ROT_DIM,
                      HALF_P2, PASS_P2, BLOCK_H)

    slot = tl.load(slot_mapping_ptr + tok).to(tl.int64)
    if slot >= 0:
        kv_row = num_kv_heads * HEAD_DIM
        k_src = row + num_q_heads * HEAD_DIM
        v_src = k_src + kv_row
        for h0 in range(0, num_kv_heads, BLOCK_H):
            _rotate_heads(k_src, k_cache_ptr + slot * kv_row, cos, sin, h0, num_kv_heads, IS_NEOX, HEAD_DIM,
                          ROT_DIM, HALF_P2, PASS_P2, BLOCK_H)
        d = tl.arange(0, HEAD_P2)
        for h0 in range(0, num_kv_heads, BLOCK_H):
            heads = h0 + tl.arange(0, BLOCK_H)
            m = (heads < num_kv_heads)[:, None] & (d < HEAD_DIM)[None, :]
            offs = heads[:, None] * HEAD_DIM + d[None, :]
            v = tl.load(v_src + offs, mask=m)
            tl.store(v_cache_ptr + slot * kv_row + offs, _as_stored(v, v_src, v_cache_ptr), mask=m)


def _p2(n):
    return 1 << (max(int(n), 1) - 1).bit_length()


def rope_constexprs(head_dim, rot_dim, is_neox, block_h=8):
    """The constexpr set for (head_dim, rot_dim, layout); also used by the tests and bench."""
    return {"IS_NEOX": bool(is_neox), "HEAD_DIM": head_dim, "ROT_DIM": rot_dim, "HALF_P2": _p2(rot_dim // 2),
            "PASS_P2": _p2(max(head_dim - rot_dim, 1)), "HEAD_P2": _p2(head_dim), "BLOCK_H": block_h}


SPECS = []
# (activation dtype, cache dtype, archs): the KV cache in the activations' dtype, and fp8 e4m3
# caches for bf16 activations (--kv-cache-dtype fp8; sm89+, which converts to fp8)
for _dt, _p, _kv, _archs in (("bf16", "*bf16", "*bf16", None), ("fp16", "*fp16", "*fp16", None),
                             ("bf16_kvfp8", "*bf16", "*fp8e4nv", [89, 90, 100, 120])):
    # 16 and 32: the small golden-test models (tests/fixtures/golden)
    for _hd, _rot in ((64, 64), (128, 128), (80, 80), (96, 96), (256, 256), (128, 64), (64, 32), (16, 16), (32, 32)):
        for _neox in (True, False):
            _lay = "neox" if _neox else "gptj"
            _rn = "" if _rot == _hd else f"_r{_rot}"
            SPECS.append({
                "name": f"rope_kv_write_{_dt}_d{_hd}{_rn}_{_lay}", "fn": rope_kv_write_kernel,
                "signature": {"qkv_ptr": _p, "q_out_ptr": _p, "positions_ptr": "*i32", "cos_sin_ptr": "*fp32",
                              "slot_mapping_ptr": "*i32", "k_cache_ptr": _kv, "v_cache_ptr": _kv, "qkv_stride": "i32",
                              "q_out_stride": "i32", "num_q_heads": "i32", "num_kv_heads": "i32",
                              "IS_NEOX": "constexpr", "HEAD_DIM": "constexpr", "ROT_DIM": "constexpr",
                              "HALF_P2": "constexpr", "PASS_P2": "constexpr", "HEAD_P2": "constexpr",
                              "BLOCK_H": "constexpr"},
                "constexprs": rope_constexprs(_hd, _rot, _neox), "num_warps": 4, "num_stages": 1,
                "div16": ["qkv_stride", "q_out_stride"], "pdl": True, **({"archs": _archs} if _archs else {}),
            })
