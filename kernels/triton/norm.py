"""RMSNorm kernels.

    out = x * rsqrt(mean(x^2) + eps) * w            (over the last dim, math in fp32)

Four kernels:
  rms_norm_kernel           one row per program, whole row held in registers (N <= BLOCK_N)
  rms_norm_residual_kernel  residual += x (rounded to the storage dtype, written back in
                            place), then out = rmsnorm(residual) * w -- the usual pre-norm
                            "add & norm" of a decoder layer
  rms_norm_residual_splitk_kernel
                            the same, where x is the sum of a split-K linear's fp32 partials
                            (the reduce of the linear before it, fused in)
  rms_norm_heads_kernel     per-head norm (Qwen3 q_norm / k_norm): rows of HEAD_DIM inside a
                            token row with an arbitrary token stride, in place allowed
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait


@triton.jit
def rms_norm_kernel(x_ptr, w_ptr, out_ptr, x_stride, out_stride, N, eps, BLOCK_N: tl.constexpr,
                    USE_PDL: tl.constexpr = False):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    pdl_wait(USE_PDL)
    x = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=0.0).to(tl.float32)
    pdl_launch_dependents(USE_PDL)
    inv_rms = tl.rsqrt(tl.sum(x * x, axis=0) / N + eps)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = x * inv_rms * w
    tl.store(out_ptr + row * out_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _load_row(ptr, row, stride, cols, mask):
    return tl.load(ptr + row * stride + cols, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _add_norm_store(x, r, w, residual_ptr, out_ptr, row, res_stride, out_stride, cols, mask, N, eps):
    # residual row r += x (fp32 x, r and w loaded by the caller, ahead of its other loads), written
    # back; out row = rmsnorm(residual) * w. The sum is added in fp32, rounded once to the storage
    # dtype, and the norm is taken of the rounded value: the same numbers a framework computing in
    # bf16 tensors would see.
    h = (x + r).to(residual_ptr.dtype.element_ty)
    tl.store(residual_ptr + row * res_stride + cols, h, mask=mask)
    h = h.to(tl.float32)
    inv_rms = tl.rsqrt(tl.sum(h * h, axis=0) / N + eps)
    y = h * inv_rms * w
    tl.store(out_ptr + row * out_stride + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def rms_norm_residual_kernel(x_ptr, residual_ptr, w_ptr, out_ptr, x_stride, res_stride, out_stride, N, eps,
                             BLOCK_N: tl.constexpr, USE_PDL: tl.constexpr = False):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    pdl_wait(USE_PDL)
    r = _load_row(residual_ptr, row, res_stride, cols, mask)
    w = _load_row(w_ptr, 0, 0, cols, mask)
    x = _load_row(x_ptr, row, x_stride, cols, mask)
    pdl_launch_dependents(USE_PDL)
    _add_norm_store(x, r, w, residual_ptr, out_ptr, row, res_stride, out_stride, cols, mask, N, eps)


@triton.jit
def rms_norm_residual_splitk_kernel(ws_ptr, bias_ptr, residual_ptr, w_ptr, out_ptr, M, splits, res_stride,
                                    out_stride, N, eps, has_bias, BLOCK_N: tl.constexpr,
                                    USE_PDL: tl.constexpr = False):
    # The split-K linear's epilogue fused with the add & norm that follows it: x = sum of the
    # fp32 partials ws [splits, M, N] (+ bias), rounded to the storage dtype as the linear
    # would store it; then residual += x and out = rmsnorm(residual) * w as above. grid = (M,)
    # The row is latency-bound (one program a row): residual, weight and four partials at a
    # time are loaded before any of them is used, so their reads overlap.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    pdl_wait(USE_PDL)
    r = _load_row(residual_ptr, row, res_stride, cols, mask)
    w = _load_row(w_ptr, 0, 0, cols, mask)
    acc = tl.zeros([BLOCK_N], tl.float32)
    for s0 in range(0, splits, 4):
        for j in tl.static_range(4):
            s = s0 + j
            acc += tl.load(ws_ptr + (s * M + row) * N + cols, mask=mask & (s < splits), other=0.0)
    if has_bias:
        acc += tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    pdl_launch_dependents(USE_PDL)
    x = acc.to(residual_ptr.dtype.element_ty).to(tl.float32)
    _add_norm_store(x, r, w, residual_ptr, out_ptr, row, res_stride, out_stride, cols, mask, N, eps)


@triton.jit
def rms_norm_heads_kernel(x_ptr, w_ptr, out_ptr, x_stride, out_stride, num_heads, eps,
                          HEAD_DIM: tl.constexpr, BLOCK_HEADS: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (tokens, cdiv(num_heads, BLOCK_HEADS)); head h of token t starts at
    # x_ptr + t * x_stride + h * HEAD_DIM.
    tok = tl.program_id(0).to(tl.int64)
    heads = tl.program_id(1) * BLOCK_HEADS + tl.arange(0, BLOCK_HEADS)
    dims = tl.arange(0, HEAD_DIM)
    mask = (heads < num_heads)[:, None]
    offs = heads[:, None] * HEAD_DIM + dims[None, :]
    pdl_wait(USE_PDL)
    x = tl.load(x_ptr + tok * x_stride + offs, mask=mask, other=0.0).to(tl.float32)
    inv_rms = tl.rsqrt(tl.sum(x * x, axis=1) / HEAD_DIM + eps)
    w = tl.load(w_ptr + dims).to(tl.float32)
    pdl_launch_dependents(USE_PDL)
    y = x * inv_rms[:, None] * w[None, :]
    tl.store(out_ptr + tok * out_stride + offs, y.to(out_ptr.dtype.element_ty), mask=mask)


# ---------------------------------------------------------------------------------------
# AOT specializations. Pointers are assumed 16-byte aligned; ints listed in "div16" are
# promised to be multiples of 16 (the C++ launcher checks and falls back otherwise).
_DT = {"bf16": "*bf16", "fp16": "*fp16"}
SPECS = []
for _dt, _p in _DT.items():
    for _bn, _nw in ((1024, 4), (2048, 8), (4096, 8), (8192, 16), (16384, 16)):
        SPECS.append({
            "name": f"rms_norm_{_dt}_n{_bn}", "fn": rms_norm_kernel,
            "signature": {"x_ptr": _p, "w_ptr": _p, "out_ptr": _p, "x_stride": "i32", "out_stride": "i32",
                          "N": "i32", "eps": "fp32", "BLOCK_N": "constexpr"},
            "constexprs": {"BLOCK_N": _bn}, "num_warps": _nw, "num_stages": 1,
            "div16": ["x_stride", "out_stride", "N"], "pdl": True,
        })
        SPECS.append({
            "name": f"rms_norm_residual_{_dt}_n{_bn}", "fn": rms_norm_residual_kernel,
            "signature": {"x_ptr": _p, "residual_ptr": _p, "w_ptr": _p, "out_ptr": _p, "x_stride": "i32",
                          "res_stride": "i32", "out_stride": "i32", "N": "i32", "eps": "fp32",
                          "BLOCK_N": "constexpr"},
            "constexprs": {"BLOCK_N": _bn}, "num_warps": _nw, "num_stages": 1,
            "div16": ["x_stride", "res_stride", "out_stride", "N"], "pdl": True,
        })
        SPECS.append({
            "name": f"rms_norm_residual_splitk_{_dt}_n{_bn}", "fn": rms_norm_residual_splitk_kernel,
            "signature": {"ws_ptr": "*fp32", "bias_ptr": _p, "residual_ptr": _p, "w_ptr": _p, "out_ptr": _p,
                          "M": "i32", "splits": "i32", "res_stride": "i32", "out_stride": "i32", "N": "i32",
                          "eps": "fp32", "has_bias": "i32", "BLOCK_N": "constexpr"},
            "constexprs": {"BLOCK_N": _bn}, "num_warps": _nw, "num_stages": 1,
            "div16": ["res_stride", "out_stride", "N"], "pdl": True,
        })
    for _hd in (64, 128, 256):
        SPECS.append({
            "name": f"rms_norm_heads_{_dt}_d{_hd}", "fn": rms_norm_heads_kernel,
            "signature": {"x_ptr": _p, "w_ptr": _p, "out_ptr": _p, "x_stride": "i32", "out_stride": "i32",
                          "num_heads": "i32", "eps": "fp32", "HEAD_DIM": "constexpr", "BLOCK_HEADS": "constexpr"},
            "constexprs": {"HEAD_DIM": _hd, "BLOCK_HEADS": 8}, "num_warps": 4, "num_stages": 1,
            "div16": ["x_stride", "out_stride"], "pdl": True,
        })
