// CUDA linear: out[M, N] = x[M, K] @ W[N, K]^T (+ bias[N]), fp32 accumulate; and the two
// decode fusions built on it: linear + residual add + RMSNorm (o_proj, down_proj) and the gated
// MLP's gate|up linear with SiLU-and-mul in its epilogue; and greedy decoding's lm_head, which
// keeps only each row's argmax (gemv_argmax_kernel + argmax_reduce_kernel).
//
// Dispatch (from kernels/bench/tune_skinny_gemm.py on the H100, docs/KERNELS.md):
//   M <= 256    skinny GEMM (gemv_splitk_kernel): row tiles of BLOCK_M (16, 32, 64 up to M = 128,
//               then 128) by column tiles; "wide" problems (>= 2 column tiles of 32 per SM) take
//               wider tiles. Above M = 128, narrow problems (and wide ones up to 8192 columns)
//               take gemv_tma_kernel (TMA tile loads) where the pack has it (sm90) and the
//               arguments suit it. K is split when the tiles cannot occupy the SMs: fp32
//               partials in a workspace, then splitk_reduce (deterministic, no atomics). When
//               the linear is followed by add & norm, the reduce is fused into the norm kernel,
//               which makes a split cheap: then K is split until there are two programs per SM.
//   M > 256     tiled GEMM: 128x64 tiles for N <= 3072, 128x128 otherwise; for M >= 1024 the
//               persistent 128x256 kernel where the pack has it (sm90), its TMA version first.
//               The gate|up + SiLU of linear_silu_mul takes the TMA kernel's fused form
//               (matmul_act_mul_tma_kernel, sm90) at every M > 256.
//               The GEMM needs out's row stride % 16; when it is not (odd N), the skinny kernel
//               runs instead (still correct, slower).
// Every path honours the row strides of x and out (column slices of a fused output).
#include <algorithm>
#include <cstdlib>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/driver.h"

namespace tritium::cuda {

using namespace detail;

namespace {

constexpr const char* kOp = "linear";
constexpr int64_t kSkinnyMaxM = 256;

struct Tile {
  int64_t bm, bn, bk, warps, stages;
};

struct GemvChoice {
  const Variant* v = nullptr;
  int64_t bm = 0, bn = 0, bk = 0;
  bool tma = false;  // gemv_tma_kernel
};

int64_t warps_of(const Variant* v) {
  auto at = v->name.find("_w");
  return at == std::string::npos ? 0 : std::atoll(v->name.c_str() + at + 2);
}
int64_t stages_of(const Variant* v) {
  auto at = v->name.rfind("_s");
  return at == std::string::npos ? 0 : std::atoll(v->name.c_str() + at + 2);
}

int64_t block_m_for(int64_t m) { return m <= 16 ? 16 : m <= 32 ? 32 : m <= 128 ? 64 : 128; }

// The measured best tiles of the skinny GEMM (H100, llama-1b/8b shapes).
Tile preferred_gemv_tile(int64_t M, int64_t N, int sms) {
  const int64_t bm = block_m_for(M);
  const bool wide = cdiv(M, bm) * cdiv(N, 32) >= 2 * int64_t(sms);
  switch (bm) {
    case 16: return wide ? Tile{16, 64, 256, 4, 4} : Tile{16, 32, 128, 4, 4};
    case 32: return wide ? Tile{32, 64, 128, 4, 3} : Tile{32, 32, 128, 4, 4};
    case 64: return wide ? Tile{64, 64, 128, 4, 3} : Tile{64, 32, 128, 4, 4};
    default: return wide ? Tile{128, 256, 64, 8, 4} : Tile{128, 64, 64, 4, 4};
  }
}

// The variant of `kernel` with exactly tile t, else the one with the smallest BLOCK_M >= min(M,
// largest BLOCK_M there is), preferring BLOCK_N 32-64; null when the pack has none.
GemvChoice pick_tile(const Catalog& cat, const char* kernel, DType dt, int64_t M, const Tile& t) {
  GemvChoice exact, any;
  int64_t max_bm = 0;
  auto vs = cat.find(kernel, "x_ptr", dt);
  for (const Variant* v : vs) max_bm = std::max(max_bm, v->cx("BLOCK_M"));
  const int64_t need = std::min(M, max_bm);
  for (const Variant* v : vs) {
    const int64_t bm = v->cx("BLOCK_M"), bn = v->cx("BLOCK_N"), bk = v->cx("BLOCK_K");
    GemvChoice c{v, bm, bn, bk};
    if (bm == t.bm && bn == t.bn && bk == t.bk && warps_of(v) == t.warps && stages_of(v) == t.stages) exact = c;
    if (bm < need) continue;
    auto rank = [](const GemvChoice& g) { return g.bm * 1000 + (g.bn == 32 || g.bn == 64 ? 0 : 100) + g.bn; };
    if (!any.v || rank(c) < rank(any)) any = c;
  }
  return exact.v ? exact : any;
}

GemvChoice pick_gemv(const Catalog& cat, DType dt, int64_t M, int64_t N) {
  return pick_tile(cat, "gemv_splitk_kernel", dt, M, preferred_gemv_tile(M, N, cat.sm_count()));
}

struct Problem {
  Device dev;
  DType dt;
  int64_t M, N, K;
  const Tensor& x;
  const Tensor& w;
  const Tensor* bias;
  Tensor& out;
};

// For 128 < M <= 256, the TMA skinny GEMM where the pack has it (sm90) and the arguments suit it
// (strides, alignment), for narrow outputs and for wide ones up to kTmaWideMaxN columns;
// otherwise the measured tile of pick_gemv. (H100, M = 256, kernels/bench/tune_skinny_tma.py:
// llama-8b q|k|v, N = 6144, 31.5-34 us on TMA against 65 us on the wide 128x256 tile in the
// decode step; the wide tile stays best for N in the tens of thousands: lm_head, gate|up.)
constexpr int64_t kTmaWideMaxN = 8192;

GemvChoice pick_gemv_for(const Problem& p, const Catalog& cat) {
  const int64_t sms = cat.sm_count();
  if (p.M > 128 && p.M <= kSkinnyMaxM && (cdiv(p.M, 128) * cdiv(p.N, 32) < 2 * sms || p.N <= kTmaWideMaxN)) {
    for (const Variant* v : cat.find("gemv_tma_kernel", "x_ptr", p.dt)) {
      GemvChoice c{v, v->cx("BLOCK_M"), v->cx("BLOCK_N"), v->cx("BLOCK_K"), true};
      std::initializer_list<KernelArg> args = {
          p.x, p.w, p.w, p.out, p.w, to_i32(p.M, kOp, "M"), to_i32(p.N, kOp, "N"), to_i32(p.K, kOp, "K"),
          to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
          to_i32(p.out.stride(0), kOp, "out row stride"), to_i32(c.bk, kOp, "k_per_split"), int32_t(0)};
      if (check_launch(p.dev, *v, args).empty()) return c;
    }
  }
  return pick_gemv(cat, p.dt, p.M, p.N);
}

int64_t max_splits_env() {
  // TRITIUM_GEMV_MAX_SPLITS=n caps the K-splits (1: never split), for measuring the choice.
  static const int64_t cap = [] {
    const char* e = std::getenv("TRITIUM_GEMV_MAX_SPLITS");
    return e && *e ? std::max<int64_t>(1, std::atoll(e)) : int64_t(8);
  }();
  return cap;
}

// K-splits for a skinny launch. A separate reduce costs a launch, so a plain linear splits only
// when fewer than half the SMs would have a tile; a linear whose reduce is fused into the next
// op splits until there are about two programs per SM. Each split stays >= 2 BLOCK_K deep.
int64_t gemv_splits(const Problem& p, const GemvChoice& g, int sms, bool fused_reduce) {
  const int64_t tiles = cdiv(p.M, g.bm) * cdiv(p.N, g.bn);
  // the TMA kernel at M = 256 measured best unsplit unless under half the SMs have a tile
  const bool eager = fused_reduce && !g.tma;
  const int64_t target = eager ? 2 * int64_t(sms) : int64_t(sms);
  if (eager ? tiles >= target : 2 * tiles >= target) return 1;
  if (!fused_reduce && (p.N % 16 != 0 || p.out.stride(0) % 16 != 0)) return 1;  // splitk_reduce's layout needs these
  int64_t s = cdiv(target, tiles);
  s = std::min<int64_t>(s, std::max<int64_t>(1, p.K / (2 * g.bk)));
  return std::min<int64_t>(s, max_splits_env());
}

// The skinny GEMM with `splits` K-splits. splits == 1 writes out (+ bias). splits > 1 writes fp32
// partials [splits, M, N] to *partials when given (the caller reduces them; returns the actual
// split count), else into a workspace that splitk_reduce sums into out (+ bias).
int64_t run_gemv(const Problem& p, const GemvChoice& g, int64_t splits, Tensor* partials) {
  const int64_t K = p.K, N = p.N, M = p.M;
  const int64_t kps = cdiv(cdiv(K, splits), g.bk) * g.bk;
  splits = cdiv(K, kps);
  const void* bias = p.bias ? p.bias->data() : p.w.data();  // any aligned pointer when has_bias = 0
  const int32_t has_bias = p.bias ? 1 : 0;
  const Grid grid{grid_dim(cdiv(M, g.bm), kOp), grid_dim(cdiv(N, g.bn), kOp), grid_dim(splits, kOp)};
  Tensor ws;
  if (splits > 1) {
    ws = Tensor::empty({splits, M, N}, DType::F32, p.dev);
    if (partials) *partials = ws;
  }
  const void* ws_ptr = splits > 1 ? ws.data() : p.w.data();
  launch(p.dev, *g.v, grid,
         {p.x, p.w, bias, p.out, ws_ptr, to_i32(M, kOp, "M"), to_i32(N, kOp, "N"), to_i32(K, kOp, "K"),
          to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
          to_i32(p.out.stride(0), kOp, "out row stride"), to_i32(kps, kOp, "k_per_split"), has_bias},
         kOp);
  if (splits == 1 || partials) return splits;
  const Catalog& cat = Catalog::for_device(p.dev.index);
  auto reds = cat.find("splitk_reduce_kernel", "out_ptr", p.dt);
  TRITIUM_CHECK(!reds.empty(), "linear (cuda): split-K needs splitk_reduce for ", triton_type(p.dt),
                ", which the kernel pack ", cat.origin(), " lacks");
  const Variant& red = *reds.front();
  launch(p.dev, red, {grid_dim(M, kOp), grid_dim(cdiv(N, red.cx("BLOCK")), kOp)},
         {ws, bias, p.out, to_i32(M, kOp, "M"), to_i32(N, kOp, "N"), to_i32(splits, kOp, "splits"),
          to_i32(p.out.stride(0), kOp, "out row stride"), has_bias},
         kOp);
  return splits;
}

void linear_gemv(const Problem& p, int sm_count) {
  const Catalog& cat = Catalog::for_device(p.dev.index);
  GemvChoice g = pick_gemv_for(p, cat);
  TRITIUM_CHECK(g.v, "linear (cuda): the kernel pack ", cat.origin(), " has no gemv_splitk kernel for ",
                triton_type(p.dt));
  run_gemv(p, g, gemv_splits(p, g, sm_count, false), nullptr);
}

const Variant* find_matmul(const Catalog& cat, DType dt, bool persistent, int64_t bm, int64_t bn) {
  const char* kernel = persistent ? "matmul_persistent_kernel" : "matmul_kernel";
  const Variant* best = nullptr;
  for (const Variant* v : cat.find(kernel, "x_ptr", dt)) {
    if (v->cx("BLOCK_M") != bm || v->cx("BLOCK_N") != bn) continue;
    // Prefer BLOCK_K 64 (the measured configs), then the 4-warp build.
    auto rank = [](const Variant* c) { return (c->cx("BLOCK_K") == 64 ? 0 : 10) + (c->name.find("_w4_") != std::string::npos ? 0 : 1); };
    if (!best || rank(v) < rank(best)) best = v;
  }
  return best;
}

bool linear_matmul(const Problem& p, int sm_count) {
  const Catalog& cat = Catalog::for_device(p.dev.index);
  const Variant* v = nullptr;
  bool persistent = false;
  if (p.M >= 1024) {
    // TMA persistent kernel where the pack has it (sm90), else the tl.dot persistent one
    for (const Variant* t : cat.find("matmul_tma_persistent_kernel", "x_ptr", p.dt))
      if (t->cx("BLOCK_M") == 128 && t->cx("BLOCK_N") == 256) v = t;
    if (v) {
      std::initializer_list<KernelArg> targs = {
          p.x, p.w, p.w, p.out, to_i32(p.M, kOp, "M"), to_i32(p.N, kOp, "N"), to_i32(p.K, kOp, "K"),
          to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
          to_i32(p.out.stride(0), kOp, "out row stride"), int32_t(0)};
      if (!check_launch(p.dev, *v, targs).empty()) v = nullptr;
    }
    if (!v) v = find_matmul(cat, p.dt, true, 128, 256);
    persistent = v != nullptr;
  }
  if (!v) v = p.N <= 3072 ? find_matmul(cat, p.dt, false, 128, 64) : find_matmul(cat, p.dt, false, 128, 128);
  if (!v) v = find_matmul(cat, p.dt, false, 64, 64);
  if (!v) {  // any matmul variant at all
    auto all = cat.find("matmul_kernel", "x_ptr", p.dt);
    if (!all.empty()) v = all.front();
  }
  if (!v) return false;
  const int64_t tiles = cdiv(p.M, v->cx("BLOCK_M")) * cdiv(p.N, v->cx("BLOCK_N"));
  const uint32_t grid = grid_dim(persistent ? std::min<int64_t>(tiles, sm_count) : tiles, kOp);
  const void* bias = p.bias ? p.bias->data() : p.w.data();
  std::initializer_list<KernelArg> args = {
      p.x, p.w, bias, p.out, to_i32(p.M, kOp, "M"), to_i32(p.N, kOp, "N"), to_i32(p.K, kOp, "K"),
      to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
      to_i32(p.out.stride(0), kOp, "out row stride"), int32_t(p.bias ? 1 : 0)};
  if (!check_launch(p.dev, *v, args).empty()) return false;  // e.g. odd out stride: the GEMV path takes it
  launch(p.dev, *v, {grid}, args, kOp);
  return true;
}

void check_linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& out, const char* op) {
  const Device dev = x.device();
  check_act(x, dev, op, "x");
  check_act(out, dev, op, "out");
  check_device(w, dev, op, "weight");
  check_same_dtype(w, x, op, "weight");
  check_same_dtype(out, x, op, "out");
  TRITIUM_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, op, " (cuda): expects 2-D x, weight, out; got ",
                describe(x), ", ", describe(w), ", ", describe(out));
  TRITIUM_CHECK(w.stride(1) == 1, op, " (cuda): weight ", describe(w), " must have a contiguous last dim");
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  TRITIUM_CHECK(w.size(1) == K, op, " (cuda): x ", describe(x), " and weight ", describe(w), " disagree on K");
  TRITIUM_CHECK(out.size(0) == M && out.size(1) == N, op, " (cuda): out ", describe(out), " should be [", M, ", ", N,
                "]");
  if (bias) {
    check_device(*bias, dev, op, "bias");
    check_same_dtype(*bias, x, op, "bias");
    TRITIUM_CHECK(bias->is_contiguous() && bias->numel() == N, op, " (cuda): bias ", describe(*bias),
                  " must be contiguous with ", N, " elements");
  }
  TRITIUM_CHECK(M == 0 || N == 0 || K % 16 == 0, op, " (cuda): K = ", K,
                " is not a multiple of 16; every GEMV/GEMM kernel in the pack assumes it (docs/KERNELS.md)");
}

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  check_linear(x, w, bias, out, kOp);
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  if (M == 0 || N == 0) return;
  const Catalog& cat = Catalog::for_device(x.device().index);
  Problem p{x.device(), x.dtype(), M, N, K, x, w, bias, out};
  if (M > kSkinnyMaxM && linear_matmul(p, cat.sm_count())) return;
  linear_gemv(p, cat.sm_count());
}

void linear_add_rms_norm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& residual, const Tensor& norm_w,
                         float eps, Tensor& out, Tensor& scratch) {
  const char* op = "linear_add_rms_norm";
  check_linear(x, w, bias, scratch, op);
  const Device dev = x.device();
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  TRITIUM_CHECK(residual.shape() == scratch.shape() && out.shape() == scratch.shape(), op, " (cuda): residual ",
                describe(residual), " and out ", describe(out), " should be [", M, ", ", N, "]");
  check_act(residual, dev, op, "residual");
  check_same_dtype(residual, x, op, "residual");
  check_act(out, dev, op, "out");
  check_same_dtype(out, x, op, "out");
  check_device(norm_w, dev, op, "norm weight");
  check_same_dtype(norm_w, x, op, "norm weight");
  TRITIUM_CHECK(norm_w.is_contiguous() && norm_w.numel() == N, op, " (cuda): norm weight ", describe(norm_w),
                " should be contiguous with ", N, " elements");
  if (M == 0 || N == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  Problem p{dev, x.dtype(), M, N, K, x, w, bias, scratch};
  if (M <= kSkinnyMaxM && N % 16 == 0 && residual.stride(0) % 16 == 0 && out.stride(0) % 16 == 0) {
    const Variant* norm = nullptr;  // the smallest row variant that holds N
    for (const Variant* v : cat.find("rms_norm_residual_splitk_kernel", "residual_ptr", x.dtype()))
      if (v->cx("BLOCK_N") >= N && (!norm || v->cx("BLOCK_N") < norm->cx("BLOCK_N"))) norm = v;
    GemvChoice g = pick_gemv_for(p, cat);
    const int64_t splits = g.v ? gemv_splits(p, g, cat.sm_count(), true) : 1;
    if (norm && splits > 1) {
      Tensor partials;
      const int64_t used = run_gemv(p, g, splits, &partials);
      const void* bias_ptr = bias ? bias->data() : norm_w.data();
      launch(dev, *norm, {grid_dim(M, op)},
             {partials, bias_ptr, residual, norm_w, out, to_i32(M, op, "M"), to_i32(used, op, "splits"),
              to_i32(residual.stride(0), op, "residual row stride"), to_i32(out.stride(0), op, "out row stride"),
              to_i32(N, op, "row length"), eps, int32_t(bias ? 1 : 0)},
             op);
      return;
    }
  }
  linear(x, w, bias, scratch);
  add_rms_norm(scratch, residual, norm_w, eps, out);
}

void linear_silu_mul(const Tensor& x, const Tensor& w, Tensor& out, Tensor& scratch) {
  const char* op = "linear_silu_mul";
  const Device dev = x.device();
  TRITIUM_CHECK(w.dim() == 2 && w.size(0) % 2 == 0, op, " (cuda): expects a [2I, K] gate|up weight; got ",
                describe(w));
  const int64_t I = w.size(0) / 2;
  check_linear(x, w.narrow(0, 0, I), nullptr, out, op);  // x [M, K] @ gate^T -> out [M, I]
  const int64_t M = x.size(0), K = x.size(1);
  if (M == 0 || I == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  if (M <= kSkinnyMaxM) {
    // measured tiles (tune_skinny_gemm.py, H100): one row tile up to M = 256 (the 128-row tile
    // for 64 < M <= 128: llama-8b gate|up at M = 96 94 us against 111 on two 64-row tiles)
    const int64_t bm = M <= 16 ? 16 : M <= 32 ? 32 : M <= 64 ? 64 : M <= 128 ? 128 : 256;
    const Tile t = bm == 16 ? Tile{16, 64, 128, 4, 3}
                 : bm == 32 ? Tile{32, 64, 128, 4, 3}
                 : bm == 64 ? Tile{64, 32, 128, 4, 3}
                 : bm == 128 ? Tile{128, 64, 128, 8, 3}
                             : Tile{256, 64, 64, 8, 4};
    GemvChoice g = pick_tile(cat, "gemv_act_mul_kernel", x.dtype(), M, t);
    if (g.v && g.v->cx("ACT") != 0) g = {};
    if (g.v) {
      const Tensor up = w.narrow(0, I, I);
      launch(dev, *g.v, {grid_dim(cdiv(M, g.bm), op), grid_dim(cdiv(I, g.bn), op)},
             {x, w, up, out, to_i32(M, op, "M"), to_i32(I, op, "N"), to_i32(K, op, "K"),
              to_i32(x.stride(0), op, "x row stride"), to_i32(w.stride(0), op, "weight row stride"),
              to_i32(out.stride(0), op, "out row stride")},
             op);
      return;
    }
  }
  if (M > kSkinnyMaxM) {
    // prefill: the TMA persistent GEMM with SiLU * up in its epilogue (sm90), which never
    // writes the [M, 2I] gate|up (kernels/bench/tune_prefill_act_mul.py, H100: llama-8b at
    // M = 2048 877 us against 937 for the GEMM + activation kernel, llama-1b 263 against 285)
    for (const Variant* v : cat.find("matmul_act_mul_tma_kernel", "x_ptr", x.dtype())) {
      if (v->cx("ACT") != 0) continue;
      const int64_t tiles = cdiv(M, v->cx("BLOCK_M")) * cdiv(I, v->cx("BLOCK_N"));
      std::initializer_list<KernelArg> args = {
          x, w, out, to_i32(M, op, "M"), to_i32(I, op, "N"), to_i32(K, op, "K"),
          to_i32(x.stride(0), op, "x row stride"), to_i32(w.stride(0), op, "weight row stride"),
          to_i32(out.stride(0), op, "out row stride")};
      if (!check_launch(dev, *v, args).empty()) continue;  // e.g. a stride the TMA build cannot take
      launch(dev, *v, {grid_dim(std::min<int64_t>(tiles, cat.sm_count()), op)}, args, op);
      return;
    }
  }
  TRITIUM_CHECK(scratch.dim() == 2 && scratch.size(0) == M && scratch.size(1) == 2 * I, op, " (cuda): scratch ",
                describe(scratch), " should be [", M, ", ", 2 * I, "]");
  linear(x, w, nullptr, scratch);
  silu_and_mul(scratch, out);
}

void linear_argmax(const Tensor& x, const Tensor& w, Tensor& out_ids) {
  const char* op = "linear_argmax";
  const Device dev = x.device();
  check_act(x, dev, op, "x");
  check_device(w, dev, op, "weight");
  check_same_dtype(w, x, op, "weight");
  TRITIUM_CHECK(x.dim() == 2 && w.dim() == 2 && w.stride(1) == 1 && w.size(1) == x.size(1), op,
                " (cuda): expects x [M, K] and a weight [N, K] with a contiguous last dim; got ", describe(x), ", ",
                describe(w));
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  check_i32(out_ids, dev, M, op, "out_ids");
  TRITIUM_CHECK(N > 0, op, " (cuda): empty weight");
  TRITIUM_CHECK(K % 16 == 0, op, " (cuda): K = ", K, " is not a multiple of 16 (docs/KERNELS.md)");
  if (M == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  // the wide tile the plain linear takes for an lm_head-sized output at this M
  const int64_t bm = block_m_for(M);
  const Tile t = bm == 16 ? Tile{16, 64, 256, 4, 4}
               : bm == 32 ? Tile{32, 64, 128, 4, 3}
               : bm == 64 ? Tile{64, 64, 128, 4, 3}
                          : Tile{128, 256, 64, 8, 4};
  GemvChoice g = pick_tile(cat, "gemv_argmax_kernel", x.dtype(), M, t);
  TRITIUM_CHECK(g.v, op, " (cuda): the kernel pack ", cat.origin(), " has no gemv_argmax kernel for ",
                triton_type(x.dtype()));
  auto reds = cat.find("argmax_reduce_kernel", "out_ptr", DType::I32);
  TRITIUM_CHECK(!reds.empty(), op, " (cuda): the kernel pack ", cat.origin(), " has no argmax_reduce kernel");
  const int64_t parts = cdiv(N, g.bn);
  Tensor part_val = Tensor::empty({M, parts}, DType::F32, dev), part_idx = Tensor::empty({M, parts}, DType::I32, dev);
  launch(dev, *g.v, {grid_dim(cdiv(M, g.bm), op), grid_dim(parts, op)},
         {x, w, part_val, part_idx, to_i32(M, op, "M"), to_i32(N, op, "N"), to_i32(K, op, "K"),
          to_i32(x.stride(0), op, "x row stride"), to_i32(w.stride(0), op, "weight row stride")},
         op);
  launch(dev, *reds.front(), {grid_dim(M, op)}, {part_val, part_idx, to_i32(parts, op, "tiles"), out_ids}, op);
}

}  // namespace tritium::cuda
