// CUDA linear: out[M, N] = x[M, K] @ W[N, K]^T (+ bias[N]), fp32 accumulate.
//
// Dispatch (from the H100 measurements in docs/KERNELS.md), as a few rules rather than a table:
//   M <= 64     skinny GEMV/split-K kernel with the smallest BLOCK_M >= M (16, 32, 64): each
//               program streams a BLOCK_N x k_per_split slab of W once. When cdiv(N, BLOCK_N)
//               tiles cannot fill the SMs, K is split (fp32 partials in a workspace from the
//               caching allocator, then splitk_reduce adds them and the bias: deterministic).
//   M > 64      tiled GEMM: 128x64 tiles for N <= 3072 or M <= 128, 128x128 otherwise; for
//               M >= 1024 the persistent 128x256 kernel where the pack has it (sm90).
//               The GEMM needs out's row stride % 16; when it is not (odd N), the GEMV kernel
//               runs over chunks of its BLOCK_M rows instead (still correct, slower).
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

struct GemvChoice {
  const Variant* v = nullptr;
  int64_t bm = 0, bn = 0, bk = 0;
};

// The GEMV variant for up to m rows: smallest BLOCK_M >= m, then the preferred tile shape
// (BLOCK_N 32 x BLOCK_K 256 at BLOCK_M 16, BLOCK_N 64 x BLOCK_K 128 above), then the fewest warps.
GemvChoice pick_gemv(const Catalog& cat, DType dt, int64_t m) {
  GemvChoice best;
  auto score = [](const Variant* v, int64_t bm) {
    int64_t bn = v->cx("BLOCK_N"), bk = v->cx("BLOCK_K");
    bool preferred = bm <= 16 ? (bn == 32 && bk == 256) : (bn == 64 && bk == 128);
    return (preferred ? 0 : 1000) + (bn == 64 ? 0 : 10) + (v->name.find("_w4_") != std::string::npos ? 0 : 1);
  };
  for (const Variant* v : cat.find("gemv_splitk_kernel", "x_ptr", dt)) {
    int64_t bm = v->cx("BLOCK_M");
    if (bm < m) continue;
    if (!best.v || bm < best.bm || (bm == best.bm && score(v, bm) < score(best.v, best.bm)))
      best = {v, bm, v->cx("BLOCK_N"), v->cx("BLOCK_K")};
  }
  return best;
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

struct Problem {
  Device dev;
  DType dt;
  int64_t M, N, K;
  const Tensor& x;
  const Tensor& w;
  const Tensor* bias;
  Tensor& out;
};

// GEMV over rows [m0, m0 + m) (m <= BLOCK_M) with `splits` K-splits.
void run_gemv(const Problem& p, const GemvChoice& g, int64_t m0, int64_t m, int64_t splits) {
  const int64_t K = p.K, N = p.N;
  int64_t kps = cdiv(cdiv(K, splits), g.bk) * g.bk;
  splits = cdiv(K, kps);
  const void* x = offset_ptr(p.x, m0 * p.x.stride(0));
  const void* out = offset_ptr(p.out, m0 * p.out.stride(0));
  const void* bias = p.bias ? p.bias->data() : p.w.data();  // any aligned pointer when has_bias = 0
  const int32_t has_bias = p.bias ? 1 : 0;
  const uint32_t tiles_n = grid_dim(cdiv(N, g.bn), kOp);
  if (splits == 1) {
    launch(p.dev, *g.v, {tiles_n, 1},
           {x, p.w, bias, out, p.w.data(), to_i32(m, kOp, "M"), to_i32(N, kOp, "N"), to_i32(K, kOp, "K"),
            to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
            to_i32(p.out.stride(0), kOp, "out row stride"), to_i32(kps, kOp, "k_per_split"), has_bias},
           kOp);
    return;
  }
  const Catalog& cat = Catalog::for_device(p.dev.index);
  auto reds = cat.find("splitk_reduce_kernel", "out_ptr", p.dt);
  TRITIUM_CHECK(!reds.empty(), "linear (cuda): split-K needs splitk_reduce for ", triton_type(p.dt),
                ", which the kernel pack ", cat.origin(), " lacks");
  const Variant& red = *reds.front();
  Tensor ws = Tensor::empty({splits, m, N}, DType::F32, p.dev);
  launch(p.dev, *g.v, {tiles_n, grid_dim(splits, kOp)},
         {x, p.w, bias, out, ws, to_i32(m, kOp, "M"), to_i32(N, kOp, "N"), to_i32(K, kOp, "K"),
          to_i32(p.x.stride(0), kOp, "x row stride"), to_i32(p.w.stride(0), kOp, "weight row stride"),
          to_i32(p.out.stride(0), kOp, "out row stride"), to_i32(kps, kOp, "k_per_split"), has_bias},
         kOp);
  launch(p.dev, red, {grid_dim(m, kOp), grid_dim(cdiv(N, red.cx("BLOCK")), kOp)},
         {ws, bias, out, to_i32(m, kOp, "M"), to_i32(N, kOp, "N"), to_i32(splits, kOp, "splits"),
          to_i32(p.out.stride(0), kOp, "out row stride"), has_bias},
         kOp);
}

// K-splits for a GEMV launch: enough programs to cover the SMs, each split >= 2 BLOCK_K deep.
int64_t gemv_splits(const Problem& p, const GemvChoice& g, int sm_count) {
  const int64_t tiles = cdiv(p.N, g.bn);
  if (tiles >= sm_count) return 1;
  // split-K's reduce needs N and out's row stride % 16
  if (p.N % 16 != 0 || p.out.stride(0) % 16 != 0) return 1;
  int64_t s = std::max<int64_t>(1, sm_count / tiles);
  s = std::min<int64_t>(s, std::max<int64_t>(1, p.K / (2 * g.bk)));
  // TRITIUM_GEMV_MAX_SPLITS=n caps the K-splits (1: never split), for measuring the choice.
  static const int64_t cap = [] {
    const char* e = std::getenv("TRITIUM_GEMV_MAX_SPLITS");
    return e && *e ? std::max<int64_t>(1, std::atoll(e)) : int64_t(8);
  }();
  return std::min<int64_t>(s, cap);
}

void linear_gemv(const Problem& p, int sm_count) {
  const Catalog& cat = Catalog::for_device(p.dev.index);
  GemvChoice g = pick_gemv(cat, p.dt, std::min<int64_t>(p.M, 64));
  if (!g.v) g = pick_gemv(cat, p.dt, 1);  // the largest BLOCK_M there is is found by chunking below
  TRITIUM_CHECK(g.v, "linear (cuda): the kernel pack ", cat.origin(), " has no gemv_splitk kernel for ",
                triton_type(p.dt));
  if (p.M > g.bm) {  // chunks of the largest BLOCK_M available
    for (const Variant* v : cat.find("gemv_splitk_kernel", "x_ptr", p.dt))
      if (v->cx("BLOCK_M") > g.bm) g = {v, v->cx("BLOCK_M"), v->cx("BLOCK_N"), v->cx("BLOCK_K")};
  }
  if (p.M <= g.bm) {
    run_gemv(p, g, 0, p.M, gemv_splits(p, g, sm_count));
    return;
  }
  for (int64_t m0 = 0; m0 < p.M; m0 += g.bm) run_gemv(p, g, m0, std::min(g.bm, p.M - m0), 1);
}

bool linear_matmul(const Problem& p, int sm_count) {
  const Catalog& cat = Catalog::for_device(p.dev.index);
  const Variant* v = nullptr;
  bool persistent = false;
  if (p.M >= 1024) {
    v = find_matmul(cat, p.dt, true, 128, 256);
    persistent = v != nullptr;
  }
  if (!v) v = (p.N <= 3072 || p.M <= 128) ? find_matmul(cat, p.dt, false, 128, 64) : find_matmul(cat, p.dt, false, 128, 128);
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

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  const Device dev = x.device();
  check_act(x, dev, kOp, "x");
  check_act(out, dev, kOp, "out");
  check_device(w, dev, kOp, "weight");
  check_same_dtype(w, x, kOp, "weight");
  check_same_dtype(out, x, kOp, "out");
  TRITIUM_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, "linear (cuda): expects 2-D x, weight, out; got ",
                describe(x), ", ", describe(w), ", ", describe(out));
  TRITIUM_CHECK(w.stride(1) == 1, "linear (cuda): weight ", describe(w), " must have a contiguous last dim");
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  TRITIUM_CHECK(w.size(1) == K, "linear (cuda): x ", describe(x), " and weight ", describe(w), " disagree on K");
  TRITIUM_CHECK(out.size(0) == M && out.size(1) == N, "linear (cuda): out ", describe(out), " should be [", M, ", ",
                N, "]");
  if (bias) {
    check_device(*bias, dev, kOp, "bias");
    check_same_dtype(*bias, x, kOp, "bias");
    TRITIUM_CHECK(bias->is_contiguous() && bias->numel() == N, "linear (cuda): bias ", describe(*bias),
                  " must be contiguous with ", N, " elements");
  }
  if (M == 0 || N == 0) return;
  TRITIUM_CHECK(K % 16 == 0, "linear (cuda): K = ", K,
                " is not a multiple of 16; every GEMV/GEMM kernel in the pack assumes it (docs/KERNELS.md)");
  const Catalog& cat = Catalog::for_device(dev.index);
  Problem p{dev, x.dtype(), M, N, K, x, w, bias, out};
  if (M > 64 && linear_matmul(p, cat.sm_count())) return;
  linear_gemv(p, cat.sm_count());
}

}  // namespace tritium::cuda
