"""fp8 e4m3 linear layers (W8A8, `--quantization fp8`): out[M, N] = (xq @ Wq^T) * xs[m] * ws[n] (+ bias).

Weights are quantized once at load, one scale per output row (ws [N] fp32, ws[n] = max|W[n, :]| /
448); activations are quantized per token right before each linear (xs [M] fp32, the same rule
over x's row) by quant_fp8_rows_kernel. The products run on the fp8 tensor cores (sm89+) with an
fp32 accumulator; the two scales are applied in the epilogue, then the bias, then the store in
out's dtype. On sm90 the wgmma instructions accumulate fp8 products in a narrower format than
fp32 (Triton's default there lets them run the whole K loop so); every dot here passes
max_num_imprecise_acc=BLOCK_K, so each BLOCK_K-deep partial is added into the fp32 accumulator,
as cuBLAS does without its fast-accumulation mode.

quant_fp8_rows_kernel     x [M, K] (bf16 / fp16) -> q [M, K] e4m3, s [M] fp32: s = max|x[m, :]| / 448
                          (1 for a row of zeros), q = x / s rounded to nearest even. One program a
                          row, held in registers up to 16384 columns.
rms_norm_quant_fp8_kernel (residual += x, then) RMSNorm of the row straight into the next fp8 linear's
                          input: the codes and the scale, the normed row never written.
matmul_fp8_kernel         tiled GEMM with pointer loads, grid = (tiles,) in grouped order: the skinny
                          (decode) shapes and, off sm90, prefill. ACT_MUL: the gated MLP's gate|up
                          (w [2N, K], ws [2N]) with act(gate) * up in the epilogue.
matmul_fp8_tma_kernel     the persistent form with TMA tile loads (sm90), for prefill; ACT_MUL as above.
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait

FP8_MAX = tl.constexpr(448.0)


@triton.jit
def _fp8_scale(a):
    # a row's scale from its absolute max: a / 448, 1 for a row of zeros. IEEE division (Triton's
    # `/` on fp32 is an approximate one): the scales and codes equal the CPU reference's.
    return tl.where(a > 0, tl.math.div_rn(a, FP8_MAX), 1.0)


@triton.jit
def _fp8_codes(v, s):
    # v / s (IEEE division), kept within +-448 (the conversion rounds to nearest even)
    q = tl.math.div_rn(v, tl.zeros_like(v) + s)
    return tl.minimum(tl.maximum(q, -FP8_MAX), FP8_MAX)


@triton.jit
def quant_fp8_rows_kernel(x_ptr, q_ptr, s_ptr, K, x_stride, q_stride, ONE_PASS: tl.constexpr,
                          BLOCK_K: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (M,). ONE_PASS (K <= BLOCK_K): the row is held in registers, read once. Otherwise
    # two passes over it: its absolute max, then the scaled, rounded values (the row comes back
    # from L2).
    m = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_K)
    row = x_ptr + m * x_stride
    dst = q_ptr + m * q_stride
    pdl_wait(USE_PDL)
    if ONE_PASS:
        mask = offs < K
        v = tl.load(row + offs, mask=mask, other=0.0).to(tl.float32)
        a = tl.max(tl.abs(v), 0)
        s = _fp8_scale(a)
        tl.store(s_ptr + m, s)
        qv = _fp8_codes(v, s)
        tl.store(dst + offs, qv.to(q_ptr.dtype.element_ty), mask=mask)
    else:
        amax = tl.zeros([BLOCK_K], tl.float32)
        for k0 in range(0, K, BLOCK_K):
            v = tl.load(row + k0 + offs, mask=k0 + offs < K, other=0.0).to(tl.float32)
            amax = tl.maximum(amax, tl.abs(v))
        a = tl.max(amax, 0)
        s = _fp8_scale(a)
        tl.store(s_ptr + m, s)
        for k0 in range(0, K, BLOCK_K):
            mask = k0 + offs < K
            v = tl.load(row + k0 + offs, mask=mask, other=0.0).to(tl.float32)
            qv = _fp8_codes(v, s)
            tl.store(dst + k0 + offs, qv.to(q_ptr.dtype.element_ty), mask=mask)
    pdl_launch_dependents(USE_PDL)


@triton.jit
def rms_norm_quant_fp8_kernel(x_ptr, residual_ptr, w_ptr, q_ptr, s_ptr, x_stride, res_stride, q_stride, N, eps,
                              ADD: tl.constexpr, BLOCK_N: tl.constexpr, USE_PDL: tl.constexpr = False):
    # A decoder layer's norm straight into the next fp8 linear's input: grid = (M,), the row in
    # registers (N <= BLOCK_N). ADD: residual += x first (rounded to the storage dtype, written
    # back), as norm.py's rms_norm_residual_kernel; else the norm of residual itself. The normed
    # row is rounded to the storage dtype (what the unfused path stores), then quantized as
    # quant_fp8_rows_kernel does; the normed activations are never written.
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    dt = residual_ptr.dtype.element_ty
    pdl_wait(USE_PDL)
    h = tl.load(residual_ptr + row * res_stride + cols, mask=mask, other=0.0).to(tl.float32)
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    if ADD:
        x = tl.load(x_ptr + row * x_stride + cols, mask=mask, other=0.0).to(tl.float32)
        hs = (x + h).to(dt)
        tl.store(residual_ptr + row * res_stride + cols, hs, mask=mask)
        h = hs.to(tl.float32)
    pdl_launch_dependents(USE_PDL)
    inv_rms = tl.rsqrt(tl.sum(h * h, axis=0) / N + eps)
    y = (h * inv_rms * w).to(dt).to(tl.float32)
    a = tl.max(tl.abs(y), 0)
    s = _fp8_scale(a)
    tl.store(s_ptr + row, s)
    qv = _fp8_codes(y, s)
    tl.store(q_ptr + row * q_stride + cols, qv.to(q_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _tile_coords(tile, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    # grouped order: GROUP_M row tiles share each column slab of W while it is hot in L2. (The
    # same as gemm.py's: kernel modules import only _*.py helpers, whose hash build.py tracks,
    # and moving it into one would recompile every GEMM in the pack.)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * num_n
    group = tile // per_group
    first_m = group * GROUP_M
    group_size = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (tile % per_group) % group_size
    pid_n = (tile % per_group) // group_size
    return pid_m, pid_n


@triton.jit
def _epilogue(acc_g, acc_u, xs_ptr, ws_ptr, bias_ptr, out_ptr, M, N, has_bias, offs_m, offs_n,
              ACT_MUL: tl.constexpr):
    # The scaled result in out's dtype: acc * xs[m] * ws[n] (+ bias); with ACT_MUL, SiLU(gate) *
    # up, each rounded to out's dtype first (as the unquantized path stores them).
    dtype = out_ptr.dtype.element_ty
    mmask = offs_m < M
    nmask = offs_n < N
    xs = tl.load(xs_ptr + offs_m, mask=mmask, other=0.0)
    wg = tl.load(ws_ptr + offs_n, mask=nmask, other=0.0)
    g = acc_g * xs[:, None] * wg[None, :]
    if ACT_MUL:
        wu = tl.load(ws_ptr + N + offs_n, mask=nmask, other=0.0)
        u = (acc_u * xs[:, None] * wu[None, :]).to(dtype).to(tl.float32)
        g = g.to(dtype).to(tl.float32)
        return (g / (1.0 + tl.exp(-g)) * u).to(dtype)
    if has_bias:
        g += tl.load(bias_ptr + offs_n, mask=nmask, other=0.0).to(tl.float32)[None, :]
    return g.to(dtype)


@triton.jit
def matmul_fp8_kernel(x_ptr, w_ptr, xs_ptr, ws_ptr, bias_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                      has_bias, ACT_MUL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                      BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr, USE_PDL: tl.constexpr = False):
    # grid = (cdiv(M, BLOCK_M) * cdiv(N, BLOCK_N),). With ACT_MUL, N is the gate's width and the
    # up rows of w (and of ws) start at N.
    pid_m, pid_n = _tile_coords(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # clamp rows instead of masking them: out-of-range rows are computed but never stored
    rm = tl.where(offs_m < M, offs_m, 0).to(tl.int64)
    rn = tl.where(offs_n < N, offs_n, 0).to(tl.int64)
    x_ptrs = x_ptr + rm[:, None] * x_stride + offs_k[None, :]
    g_ptrs = w_ptr + rn[:, None] * w_stride + offs_k[None, :]
    u_ptrs = w_ptr + (rn + N)[:, None] * w_stride + offs_k[None, :]
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    pdl_wait(USE_PDL)
    for k0 in range(0, K, BLOCK_K):
        kmask = (k0 + offs_k) < K
        x = tl.load(x_ptrs, mask=kmask[None, :], other=0.0)
        wg = tl.load(g_ptrs, mask=kmask[None, :], other=0.0)
        acc_g = tl.dot(x, tl.trans(wg), acc_g, max_num_imprecise_acc=BLOCK_K)
        if ACT_MUL:
            wu = tl.load(u_ptrs, mask=kmask[None, :], other=0.0)
            acc_u = tl.dot(x, tl.trans(wu), acc_u, max_num_imprecise_acc=BLOCK_K)
        x_ptrs += BLOCK_K
        g_ptrs += BLOCK_K
        u_ptrs += BLOCK_K
    pdl_launch_dependents(USE_PDL)
    res = _epilogue(acc_g, acc_u, xs_ptr, ws_ptr, bias_ptr, out_ptr, M, N, has_bias, offs_m, offs_n, ACT_MUL)
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * out_stride + offs_n[None, :], res,
             mask=(offs_m < M)[:, None] & (offs_n < N)[None, :])


@triton.jit
def matmul_fp8_tma_kernel(x_ptr, w_ptr, xs_ptr, ws_ptr, bias_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                          has_bias, ACT_MUL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                          BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # The persistent form: grid = (min(num_SMs, num_tiles),), each program walking tiles pid,
    # pid + grid, ...; x / W tiles by TMA (zero-filled past M, N, K), the result by TMA (clipped).
    # With ACT_MUL a gate tile past column N reads up rows; those columns are clipped on store.
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    if ACT_MUL:
        w_desc = tl.make_tensor_descriptor(w_ptr, shape=[2 * N, K], strides=[w_stride, 1],
                                           block_shape=[BLOCK_N, BLOCK_K])
    else:
        w_desc = tl.make_tensor_descriptor(w_ptr, shape=[N, K], strides=[w_stride, 1],
                                           block_shape=[BLOCK_N, BLOCK_K])
    o_desc = tl.make_tensor_descriptor(out_ptr, shape=[M, N], strides=[out_stride, 1],
                                       block_shape=[BLOCK_M, BLOCK_N])
    num_tiles = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    k_tiles = tl.cdiv(K, BLOCK_K)
    for tile in tl.range(tl.program_id(0), num_tiles, tl.num_programs(0), flatten=True):
        pid_m, pid_n = _tile_coords(tile, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        for kk in range(k_tiles):
            a = x_desc.load([pid_m * BLOCK_M, kk * BLOCK_K])
            wg = w_desc.load([pid_n * BLOCK_N, kk * BLOCK_K])
            acc_g = tl.dot(a, wg.T, acc_g, max_num_imprecise_acc=BLOCK_K)
            if ACT_MUL:
                wu = w_desc.load([N + pid_n * BLOCK_N, kk * BLOCK_K])
                acc_u = tl.dot(a, wu.T, acc_u, max_num_imprecise_acc=BLOCK_K)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        res = _epilogue(acc_g, acc_u, xs_ptr, ws_ptr, bias_ptr, out_ptr, M, N, has_bias, offs_m, offs_n, ACT_MUL)
        o_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], res)


def _mm_sig(act):
    return {"x_ptr": "*fp8e4nv", "w_ptr": "*fp8e4nv", "xs_ptr": "*fp32", "ws_ptr": "*fp32", "bias_ptr": act,
            "out_ptr": act, "M": "i32", "N": "i32", "K": "i32", "x_stride": "i32", "w_stride": "i32",
            "out_stride": "i32", "has_bias": "i32", "ACT_MUL": "constexpr", "BLOCK_M": "constexpr",
            "BLOCK_N": "constexpr", "BLOCK_K": "constexpr", "GROUP_M": "constexpr"}


# Archs with fp8 tensor cores (sm89 Ada, sm90 Hopper, sm100 / sm120 Blackwell).
FP8_ARCHS = [89, 90, 100, 120]
# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) of matmul_fp8_kernel: per BLOCK_M a narrow
# tile (columns enough to fill the SMs at small N) and a wide one; src/backends/cuda/
# cuda_linear_fp8.cpp picks among them.
FP8_GEMM_CONFIGS = [(16, 64, 128, 4, 4), (32, 64, 128, 4, 4), (64, 64, 128, 4, 4), (64, 128, 128, 4, 4),
                    (128, 128, 128, 8, 3)]
# the gate|up form: two weight tiles a step
FP8_ACT_MUL_CONFIGS = [(16, 64, 128, 4, 4), (32, 64, 128, 4, 4), (64, 64, 128, 4, 4), (128, 64, 128, 8, 3)]

SPECS = []
for _dt, _p in (("bf16", "*bf16"), ("fp16", "*fp16")):
    # rows of up to 4096 / 16384 in registers (one read), longer ones in two passes
    for _one, _bk, _nw in ((1, 4096, 4), (1, 16384, 8), (0, 1024, 4)):
        SPECS.append({
            "name": f"quant_fp8_rows_{_dt}_k{_bk}" + ("" if _one else "_loop"), "fn": quant_fp8_rows_kernel,
            "signature": {"x_ptr": _p, "q_ptr": "*fp8e4nv", "s_ptr": "*fp32", "K": "i32", "x_stride": "i32",
                          "q_stride": "i32", "ONE_PASS": "constexpr", "BLOCK_K": "constexpr"},
            "constexprs": {"ONE_PASS": _one, "BLOCK_K": _bk}, "num_warps": _nw, "num_stages": 1,
            "archs": FP8_ARCHS, "div16": ["K", "x_stride", "q_stride"], "pdl": True,
        })
    for _add in (0, 1):
        for _bn, _nw in ((4096, 8), (8192, 16), (16384, 16)):
            SPECS.append({
                "name": f"{'add_' if _add else ''}rms_norm_quant_fp8_{_dt}_n{_bn}", "fn": rms_norm_quant_fp8_kernel,
                "signature": {"x_ptr": _p, "residual_ptr": _p, "w_ptr": _p, "q_ptr": "*fp8e4nv", "s_ptr": "*fp32",
                              "x_stride": "i32", "res_stride": "i32", "q_stride": "i32", "N": "i32", "eps": "fp32",
                              "ADD": "constexpr", "BLOCK_N": "constexpr"},
                "constexprs": {"ADD": _add, "BLOCK_N": _bn}, "num_warps": _nw, "num_stages": 1,
                "archs": FP8_ARCHS, "div16": ["x_stride", "res_stride", "q_stride", "N"], "pdl": True,
            })
    for _act, _configs in ((0, FP8_GEMM_CONFIGS), (1, FP8_ACT_MUL_CONFIGS)):
        _kind = "matmul_fp8_silu_mul" if _act else "matmul_fp8"
        for _bm, _bn, _bk, _nw, _ns in _configs:
            SPECS.append({
                "name": f"{_kind}_{_dt}_{_bm}x{_bn}x{_bk}_w{_nw}_s{_ns}", "fn": matmul_fp8_kernel,
                "signature": _mm_sig(_p),
                "constexprs": {"ACT_MUL": _act, "BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": _bk, "GROUP_M": 8},
                "num_warps": _nw, "num_stages": _ns, "archs": FP8_ARCHS,
                "div16": ["K", "x_stride", "w_stride", "out_stride"], "pdl": True,
            })
    # prefill on sm90 (kernels/bench/tune_fp8_gemm.py, H100, llama-8b at M = 8192: 256x128 tiles
    # 1.09-1.12 PFLOP/s, 128x256 ones 0.60-0.66 once each 128-deep partial is added in fp32; the
    # gate|up form 128 gate + 128 up columns a tile, 1.10 PFLOP/s)
    for _act, _bm, _bn in ((0, 256, 128), (1, 128, 128)):
        _kind = "matmul_fp8_silu_mul_tma" if _act else "matmul_fp8_tma"
        SPECS.append({
            "name": f"{_kind}_{_dt}_{_bm}x{_bn}x128_w8_s3", "fn": matmul_fp8_tma_kernel, "signature": _mm_sig(_p),
            "constexprs": {"ACT_MUL": _act, "BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": 128, "GROUP_M": 8},
            "num_warps": 8, "num_stages": 3, "archs": [90],
            "div16": ["K", "x_stride", "w_stride", "out_stride"],
        })
