"""Linear layers: out[M, N] = x[M, K] @ W[N, K]^T (+ bias[N]), fp32 accumulate.

W is stored as in checkpoints (out_features x in_features, K contiguous). All kernels take
row strides so x/out may be views; has_bias is a runtime flag (bias_ptr is ignored when 0).

gemv_splitk_kernel     decode / skinny (M <= 256): each program streams a BLOCK_N x k_per_split slab
                       of W for one BLOCK_M row tile; with splits > 1 it writes fp32 partials to
                       ws [splits, M, N] and splitk_reduce_kernel (or the fused norm of norm.py)
                       sums them (+ bias), which keeps the result deterministic (no atomics).
gemv_tma_kernel        the same with TMA tile loads (sm90+), for 128 < M <= 256
gemv_act_mul_kernel    the gated MLP's gate|up linear with act(gate) * up in its epilogue.
gemv_argmax_kernel     the skinny GEMM with a greedy argmax in its epilogue instead of a store:
                       each tile's max and argmax per row (the lm_head of a greedy decode step,
                       whose logits are never written; sampling.argmax_reduce_kernel finishes).
matmul_kernel          tiled GEMM (prefill), grouped tile order for L2 reuse; on sm90 a plain
                       tl.dot with num_stages >= 3 lowers to wgmma.
matmul_persistent_kernel
                       the same tile loop run by a fixed number of programs (one per SM),
                       each walking tiles pid, pid + grid, ...
matmul_tma_persistent_kernel
                       the persistent loop with TMA tile loads / stores (sm90+)
matmul_act_mul_tma_kernel
                       the same for the gated MLP's gate|up, act(gate) * up in its epilogue
"""
import triton
import triton.language as tl

from _pdl import pdl_launch_dependents, pdl_wait


@triton.jit
def _store_split(acc, bias_ptr, out_ptr, ws_ptr, M, N, out_stride, has_bias, pid_k, splits, offs_m, offs_n):
    # The skinny GEMM's epilogue: with splits > 1 the fp32 partial of split pid_k goes to
    # ws [splits, M, N]; else acc (+ bias) is stored to out in its dtype.
    nmask = offs_n < N
    omask = (offs_m < M)[:, None] & nmask[None, :]
    if splits > 1:
        tl.store(ws_ptr + (pid_k * M + offs_m[:, None]).to(tl.int64) * N + offs_n[None, :], acc, mask=omask)
    else:
        if has_bias:
            acc += tl.load(bias_ptr + offs_n, mask=nmask, other=0.0).to(tl.float32)[None, :]
        tl.store(out_ptr + offs_m[:, None].to(tl.int64) * out_stride + offs_n[None, :],
                 acc.to(out_ptr.dtype.element_ty), mask=omask)


@triton.jit
def _gemv_tile(x_ptr, w_ptr, M, N, x_stride, w_stride, k_lo, k_hi, offs_m, offs_n,
               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    # The skinny GEMM's K loop: fp32 acc [BLOCK_M, BLOCK_N] of x[offs_m, k_lo:k_hi] @ W[offs_n, k_lo:k_hi]^T.
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * x_stride
    w_rows = w_ptr + offs_n[:, None].to(tl.int64) * w_stride
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(k_lo, k_hi, BLOCK_K):
        kk = k0 + offs_k
        kmask = kk < k_hi
        w = tl.load(w_rows + kk[None, :], mask=nmask[:, None] & kmask[None, :], other=0.0)
        x = tl.load(x_rows + kk[None, :], mask=mmask[:, None] & kmask[None, :], other=0.0)
        acc = tl.dot(x, tl.trans(w), acc)
    return acc


@triton.jit
def gemv_splitk_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, ws_ptr, M, N, K, x_stride, w_stride, out_stride,
                       k_per_split, has_bias,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       USE_PDL: tl.constexpr = False):
    # grid = (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N), splits); k_per_split is a multiple of BLOCK_K.
    # The row tiles of one W slab are neighbours in launch order, so the slab is read from DRAM once.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    splits = tl.num_programs(2)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    k_lo = pid_k * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, K)
    pdl_wait(USE_PDL)
    acc = _gemv_tile(x_ptr, w_ptr, M, N, x_stride, w_stride, k_lo, k_hi, offs_m, offs_n, BLOCK_M, BLOCK_N, BLOCK_K)
    pdl_launch_dependents(USE_PDL)
    _store_split(acc, bias_ptr, out_ptr, ws_ptr, M, N, out_stride, has_bias, pid_k, splits, offs_m, offs_n)


@triton.jit
def gemv_argmax_kernel(x_ptr, w_ptr, part_val_ptr, part_idx_ptr, M, N, K, x_stride, w_stride,
                       BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       USE_PDL: tl.constexpr = False):
    # Greedy decoding's lm_head without its logits: grid = (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N)).
    # Each program takes its tile of x @ W^T, rounded to x's dtype (the logits as the plain linear
    # would store them), and writes, per row, the tile's max and the lowest column holding it to
    # part_val / part_idx [M, cdiv(N, BLOCK_N)] (fp32 / i32); sampling.argmax_reduce_kernel
    # finishes each row.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    pdl_wait(USE_PDL)
    acc = _gemv_tile(x_ptr, w_ptr, M, N, x_stride, w_stride, 0, K, offs_m, offs_n, BLOCK_M, BLOCK_N, BLOCK_K)
    pdl_launch_dependents(USE_PDL)
    v = acc.to(x_ptr.dtype.element_ty).to(tl.float32)
    v = tl.where((offs_n < N)[None, :], v, float("-inf"))
    best = tl.max(v, 1)
    idx = tl.min(tl.where(v == best[:, None], offs_n[None, :], 2147483647), 1)
    parts = tl.num_programs(1)
    dst = offs_m.to(tl.int64) * parts + pid_n
    mmask = offs_m < M
    tl.store(part_val_ptr + dst, best, mask=mmask)
    tl.store(part_idx_ptr + dst, idx, mask=mmask)


@triton.jit
def gemv_tma_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, ws_ptr, M, N, K, x_stride, w_stride, out_stride, k_per_split,
                    has_bias, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                    USE_PDL: tl.constexpr = False):
    # gemv_splitk_kernel with its x / W tiles loaded by TMA (tensor descriptors built on the
    # device, in the launch's global scratch; reads past M, N or K are zero-filled). sm90+.
    # grid = (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N), splits); k_per_split is a multiple of BLOCK_K.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_k = tl.program_id(2)
    splits = tl.num_programs(2)
    pdl_wait(USE_PDL)  # before the descriptors: their scratch may be the previous launch's
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[N, K], strides=[w_stride, 1], block_shape=[BLOCK_N, BLOCK_K])
    k_lo = pid_k * k_per_split
    k_hi = tl.minimum(k_lo + k_per_split, K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(k_lo, k_hi, BLOCK_K):
        a = x_desc.load([pid_m * BLOCK_M, k0])
        b = w_desc.load([pid_n * BLOCK_N, k0])
        acc = tl.dot(a, b.T, acc)
    pdl_launch_dependents(USE_PDL)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    _store_split(acc, bias_ptr, out_ptr, ws_ptr, M, N, out_stride, has_bias, pid_k, splits, offs_m, offs_n)


@triton.jit
def gemv_act_mul_kernel(x_ptr, wg_ptr, wu_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                        ACT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        USE_PDL: tl.constexpr = False):
    # out[M, N] = act(x @ Wg^T) * (x @ Wu^T), the gated MLP's first half in one pass (no gate|up
    # intermediate, no separate activation launch). grid = (cdiv(M, BLOCK_M), cdiv(N, BLOCK_N)).
    # ACT 0: SiLU, 1: GELU (tanh approximation); the product is taken of the fp32 accumulators.
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    mmask = offs_m < M
    nmask = offs_n < N
    x_rows = x_ptr + offs_m[:, None].to(tl.int64) * x_stride
    g_rows = wg_ptr + offs_n[:, None].to(tl.int64) * w_stride
    u_rows = wu_ptr + offs_n[:, None].to(tl.int64) * w_stride
    acc_g = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    acc_u = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    pdl_wait(USE_PDL)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + offs_k
        kmask = kk < K
        x = tl.load(x_rows + kk[None, :], mask=mmask[:, None] & kmask[None, :], other=0.0)
        wg = tl.load(g_rows + kk[None, :], mask=nmask[:, None] & kmask[None, :], other=0.0)
        wu = tl.load(u_rows + kk[None, :], mask=nmask[:, None] & kmask[None, :], other=0.0)
        acc_g = tl.dot(x, tl.trans(wg), acc_g)
        acc_u = tl.dot(x, tl.trans(wu), acc_u)
    pdl_launch_dependents(USE_PDL)
    tl.store(out_ptr + offs_m[:, None].to(tl.int64) * out_stride + offs_n[None, :],
             _act_mul(acc_g, acc_u, out_ptr, ACT), mask=mmask[:, None] & nmask[None, :])


@triton.jit
def _act_mul(acc_g, acc_u, out_ptr, ACT: tl.constexpr):
    # act(gate) * up in out's dtype; gate and up are rounded to it first, as the unfused path
    # stores them. ACT 0: SiLU, 1: GELU (tanh approximation).
    dtype = out_ptr.dtype.element_ty
    g = acc_g.to(dtype).to(tl.float32)
    u = acc_u.to(dtype).to(tl.float32)
    if ACT == 0:
        a = g / (1.0 + tl.exp(-g))
    else:
        z = 0.7978845608028654 * (g + 0.044715 * g * g * g)
        a = 0.5 * g * (2.0 / (1.0 + tl.exp(-2.0 * z)))
    return (a * u).to(dtype)


@triton.jit
def splitk_reduce_kernel(ws_ptr, bias_ptr, out_ptr, M, N, splits, out_stride, has_bias, BLOCK: tl.constexpr,
                         USE_PDL: tl.constexpr = False):
    # grid = (M, cdiv(N, BLOCK))
    m = tl.program_id(0)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    pdl_wait(USE_PDL)
    acc = tl.zeros([BLOCK], tl.float32)
    for s in range(0, splits):
        acc += tl.load(ws_ptr + (s * M + m).to(tl.int64) * N + offs, mask=mask, other=0.0)
    if has_bias:
        acc += tl.load(bias_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    pdl_launch_dependents(USE_PDL)
    tl.store(out_ptr + m.to(tl.int64) * out_stride + offs, acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _tile_mma(x_ptr, w_ptr, M, N, K, x_stride, w_stride, pid_m, pid_n,
              BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    # clamp rows instead of masking them: out-of-range rows are computed but never stored
    rm = tl.where(offs_m < M, offs_m, 0).to(tl.int64)
    rn = tl.where(offs_n < N, offs_n, 0).to(tl.int64)
    x_ptrs = x_ptr + rm[:, None] * x_stride + offs_k[None, :]
    w_ptrs = w_ptr + rn[:, None] * w_stride + offs_k[None, :]
    acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kmask = (k0 + offs_k) < K
        x = tl.load(x_ptrs, mask=kmask[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=kmask[None, :], other=0.0)
        acc = tl.dot(x, tl.trans(w), acc)
        x_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    return acc


@triton.jit
def _store_tile(acc, bias_ptr, out_ptr, M, N, out_stride, has_bias, pid_m, pid_n,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = offs_n < N
    if has_bias:
        acc += tl.load(bias_ptr + offs_n, mask=nmask, other=0.0).to(tl.float32)[None, :]
    ptrs = out_ptr + offs_m[:, None].to(tl.int64) * out_stride + offs_n[None, :]
    tl.store(ptrs, acc.to(out_ptr.dtype.element_ty), mask=(offs_m < M)[:, None] & nmask[None, :])


@triton.jit
def _tile_coords(tile, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    # grouped order: GROUP_M row-tiles share each column of W while it is hot in L2
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
def matmul_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride, has_bias,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # grid = (cdiv(M, BLOCK_M) * cdiv(N, BLOCK_N),)
    pid_m, pid_n = _tile_coords(tl.program_id(0), M, N, BLOCK_M, BLOCK_N, GROUP_M)
    acc = _tile_mma(x_ptr, w_ptr, M, N, K, x_stride, w_stride, pid_m, pid_n, BLOCK_M, BLOCK_N, BLOCK_K)
    _store_tile(acc, bias_ptr, out_ptr, M, N, out_stride, has_bias, pid_m, pid_n, BLOCK_M, BLOCK_N)


@triton.jit
def matmul_persistent_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride, has_bias,
                             BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                             GROUP_M: tl.constexpr):
    # grid = (min(num_SMs, num_tiles),)
    num_tiles = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    for tile in range(tl.program_id(0), num_tiles, tl.num_programs(0)):
        pid_m, pid_n = _tile_coords(tile, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        acc = _tile_mma(x_ptr, w_ptr, M, N, K, x_stride, w_stride, pid_m, pid_n, BLOCK_M, BLOCK_N, BLOCK_K)
        _store_tile(acc, bias_ptr, out_ptr, M, N, out_stride, has_bias, pid_m, pid_n, BLOCK_M, BLOCK_N)


@triton.jit
def matmul_tma_persistent_kernel(x_ptr, w_ptr, bias_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                                 has_bias, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                                 GROUP_M: tl.constexpr):
    # The persistent GEMM with its tiles moved by TMA (tensor descriptors built on the device,
    # in the launch's global scratch): out-of-range rows / columns / K are zero-filled on load
    # and clipped on store. grid = (min(num_SMs, num_tiles),). sm90+.
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[N, K], strides=[w_stride, 1], block_shape=[BLOCK_N, BLOCK_K])
    o_desc = tl.make_tensor_descriptor(out_ptr, shape=[M, N], strides=[out_stride, 1],
                                       block_shape=[BLOCK_M, BLOCK_N])
    num_tiles = tl.cdiv(M, BLOCK_M) * tl.cdiv(N, BLOCK_N)
    k_tiles = tl.cdiv(K, BLOCK_K)
    for tile in tl.range(tl.program_id(0), num_tiles, tl.num_programs(0), flatten=True):
        pid_m, pid_n = _tile_coords(tile, M, N, BLOCK_M, BLOCK_N, GROUP_M)
        acc = tl.zeros([BLOCK_M, BLOCK_N], tl.float32)
        for kk in range(k_tiles):
            a = x_desc.load([pid_m * BLOCK_M, kk * BLOCK_K])
            b = w_desc.load([pid_n * BLOCK_N, kk * BLOCK_K])
            acc = tl.dot(a, b.T, acc)
        if has_bias:
            offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
            acc += tl.load(bias_ptr + offs_n, mask=offs_n < N, other=0.0).to(tl.float32)[None, :]
        o_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], acc.to(out_ptr.dtype.element_ty))


@triton.jit
def matmul_act_mul_tma_kernel(x_ptr, w_ptr, out_ptr, M, N, K, x_stride, w_stride, out_stride,
                              ACT: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                              BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # The gated MLP's first half for prefill: out[M, N] = act(x @ Wg^T) * (x @ Wu^T) for a
    # gate|up weight w [2N, K] in one tensor (gate rows 0..N-1, up rows N..2N-1), as the TMA
    # persistent GEMM with a gate and an up accumulator per tile: the [M, 2N] gate|up
    # intermediate is never written and no activation kernel runs. A gate tile past column N
    # reads up rows; those columns are clipped on store. grid = (min(num_SMs, num_tiles),). sm90+.
    x_desc = tl.make_tensor_descriptor(x_ptr, shape=[M, K], strides=[x_stride, 1], block_shape=[BLOCK_M, BLOCK_K])
    w_desc = tl.make_tensor_descriptor(w_ptr, shape=[2 * N, K], strides=[w_stride, 1],
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
            wu = w_desc.load([N + pid_n * BLOCK_N, kk * BLOCK_K])
            acc_g = tl.dot(a, wg.T, acc_g)
            acc_u = tl.dot(a, wu.T, acc_u)
        o_desc.store([pid_m * BLOCK_M, pid_n * BLOCK_N], _act_mul(acc_g, acc_u, out_ptr, ACT))


_GEMV_SIG = ["x_ptr", "w_ptr", "bias_ptr", "out_ptr", "ws_ptr", "M", "N", "K", "x_stride", "w_stride", "out_stride",
             "k_per_split", "has_bias", "BLOCK_M", "BLOCK_N", "BLOCK_K"]
_MM_SIG = ["x_ptr", "w_ptr", "bias_ptr", "out_ptr", "M", "N", "K", "x_stride", "w_stride", "out_stride", "has_bias",
           "BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M"]


def _sig(names, act):
    s = {}
    for n in names:
        if n == "ws_ptr":
            s[n] = "*fp32"
        elif n.endswith("_ptr"):
            s[n] = act
        elif n.startswith("BLOCK_") or n == "GROUP_M":
            s[n] = "constexpr"
        else:
            s[n] = "i32"
    return s


# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages) for the skinny GEMM, the tiles that
# src/backends/cuda/cuda_linear.cpp picks (kernels/bench/tune_skinny_gemm.py on the H100): per
# BLOCK_M, one for narrow outputs (few column tiles: split K) and one for wide ones.
GEMV_CONFIGS = [(16, 32, 128, 4, 4), (16, 64, 256, 4, 4), (32, 32, 128, 4, 4), (32, 64, 128, 4, 3),
                (64, 32, 128, 4, 4), (64, 64, 128, 4, 3), (128, 64, 64, 4, 4), (128, 256, 64, 8, 4)]
# the same for gemv_act_mul_kernel (two weight tiles per step: narrower columns); the 128-row
# tile for 64 < M <= 128 (H100: llama-8b gate|up at M = 72-128 93.5-95.0 us against 110.6-112.8
# on two 64-row tiles, llama-1b 29.7-30.5 against 32.7-33.7)
ACT_MUL_CONFIGS = [(16, 64, 128, 4, 3), (32, 64, 128, 4, 3), (64, 32, 128, 4, 3), (128, 64, 128, 8, 3),
                   (256, 64, 64, 8, 4)]
# (BLOCK_M, BLOCK_N, BLOCK_K, num_warps, num_stages, archs)
MATMUL_CONFIGS = [
    (128, 256, 64, 8, 3, [90]),
    (128, 128, 64, 8, 4, [90]),
    (128, 128, 64, 4, 3, None),
    (128, 128, 32, 4, 4, None),
    (64, 128, 64, 4, 4, None),
    (128, 64, 64, 4, 4, None),
    (64, 64, 64, 4, 4, None),
]

SPECS = []
for _dt, _p in (("bf16", "*bf16"), ("fp16", "*fp16")):
    for _bm, _bn, _bk, _nw, _ns in GEMV_CONFIGS:
        SPECS.append({
            "name": f"gemv_splitk_{_dt}_m{_bm}_n{_bn}_k{_bk}_w{_nw}_s{_ns}", "fn": gemv_splitk_kernel,
            "signature": _sig(_GEMV_SIG, _p),
            "constexprs": {"BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": _bk}, "num_warps": _nw, "num_stages": _ns,
            "div16": ["K", "x_stride", "w_stride", "k_per_split"], "pdl": True,
        })
    # the wide tiles (what the lm_head takes) with the greedy argmax epilogue
    for _bm, _bn, _bk, _nw, _ns in GEMV_CONFIGS:
        if _bn < 64:
            continue
        SPECS.append({
            "name": f"gemv_argmax_{_dt}_m{_bm}_n{_bn}_k{_bk}_w{_nw}_s{_ns}", "fn": gemv_argmax_kernel,
            "signature": {"x_ptr": _p, "w_ptr": _p, "part_val_ptr": "*fp32", "part_idx_ptr": "*i32", "M": "i32",
                          "N": "i32", "K": "i32", "x_stride": "i32", "w_stride": "i32", "BLOCK_M": "constexpr",
                          "BLOCK_N": "constexpr", "BLOCK_K": "constexpr"},
            "constexprs": {"BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": _bk}, "num_warps": _nw, "num_stages": _ns,
            "div16": ["K", "x_stride", "w_stride"], "pdl": True,
        })
    # TMA skinny GEMM for 128 < M <= 256 on sm90 (kernels/bench/tune_skinny_tma.py, H100:
    # llama-8b qkv / o / down at M = 256 in 32 / 21 / 59 us against 46 / 24 / 69 us)
    SPECS.append({
        "name": f"gemv_tma_{_dt}_m64_n128_k128_w4_s4", "fn": gemv_tma_kernel, "signature": _sig(_GEMV_SIG, _p),
        "constexprs": {"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 128}, "num_warps": 4, "num_stages": 4,
        "archs": [90], "div16": ["K", "x_stride", "w_stride", "k_per_split"], "pdl": True,
    })
    for _bm, _bn, _bk, _nw, _ns in ACT_MUL_CONFIGS:
        SPECS.append({
            "name": f"gemv_silu_mul_{_dt}_m{_bm}_n{_bn}_k{_bk}_w{_nw}_s{_ns}", "fn": gemv_act_mul_kernel,
            "signature": {"x_ptr": _p, "wg_ptr": _p, "wu_ptr": _p, "out_ptr": _p, "M": "i32", "N": "i32", "K": "i32",
                          "x_stride": "i32", "w_stride": "i32", "out_stride": "i32", "ACT": "constexpr",
                          "BLOCK_M": "constexpr", "BLOCK_N": "constexpr", "BLOCK_K": "constexpr"},
            "constexprs": {"ACT": 0, "BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": _bk}, "num_warps": _nw,
            "num_stages": _ns, "div16": ["K", "x_stride", "w_stride", "out_stride"], "pdl": True,
        })
    SPECS.append({
        "name": f"splitk_reduce_{_dt}", "fn": splitk_reduce_kernel,
        "signature": {"ws_ptr": "*fp32", "bias_ptr": _p, "out_ptr": _p, "M": "i32", "N": "i32", "splits": "i32",
                      "out_stride": "i32", "has_bias": "i32", "BLOCK": "constexpr"},
        "constexprs": {"BLOCK": 1024}, "num_warps": 4, "num_stages": 1, "div16": ["N", "out_stride"], "pdl": True,
    })
    for _bm, _bn, _bk, _nw, _ns, _archs in MATMUL_CONFIGS:
        for _kind, _fn in (("matmul", matmul_kernel), ("matmul_persistent", matmul_persistent_kernel)):
            _s = {
                "name": f"{_kind}_{_dt}_{_bm}x{_bn}x{_bk}_w{_nw}_s{_ns}", "fn": _fn,
                "signature": _sig(_MM_SIG, _p),
                "constexprs": {"BLOCK_M": _bm, "BLOCK_N": _bn, "BLOCK_K": _bk, "GROUP_M": 8},
                "num_warps": _nw, "num_stages": _ns,
                "div16": ["K", "x_stride", "w_stride", "out_stride"],
            }
            if _archs:
                _s["archs"] = _archs
            SPECS.append(_s)
    # TMA persistent GEMM for prefill (kernels/bench/tune_prefill_gemm.py, H100: 1.0-1.17x the
    # tl.dot persistent kernel, at or above cuBLAS on the llama projections at M = 2048 / 8192)
    SPECS.append({
        "name": f"matmul_tma_{_dt}_128x256x64_w8_s3", "fn": matmul_tma_persistent_kernel,
        "signature": _sig(_MM_SIG, _p),
        "constexprs": {"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8},
        "num_warps": 8, "num_stages": 3, "archs": [90],
        "div16": ["K", "x_stride", "w_stride", "out_stride"],
    })
    # its gate|up + SiLU form: 128 gate and 128 up columns a tile, the work of a 128x256 tile
    SPECS.append({
        "name": f"matmul_silu_mul_tma_{_dt}_128x128x64_w8_s3", "fn": matmul_act_mul_tma_kernel,
        "signature": {"x_ptr": _p, "w_ptr": _p, "out_ptr": _p, "M": "i32", "N": "i32", "K": "i32",
                      "x_stride": "i32", "w_stride": "i32", "out_stride": "i32", "ACT": "constexpr",
                      "BLOCK_M": "constexpr", "BLOCK_N": "constexpr", "BLOCK_K": "constexpr", "GROUP_M": "constexpr"},
        "constexprs": {"ACT": 0, "BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8},
        "num_warps": 8, "num_stages": 3, "archs": [90],
        "div16": ["K", "x_stride", "w_stride", "out_stride"],
    })
