// CUDA fp8 linears (W8A8, --quantization fp8; kernels/triton/gemm_fp8.py): the per-row
// activation quantizer and out = (xq @ w^T) * x_scales[m] * w_scales[n] (+ bias), plain or with
// the gated MLP's SiLU(gate) * up in the epilogue. fp8 tensor cores: sm89 and newer.
//
// Dispatch: M > kFp8SkinnyMaxM on sm90 takes the persistent TMA kernel (matmul_fp8_tma_kernel),
// one program per SM; everything else the tiled kernel with pointer loads (matmul_fp8_kernel),
// whose tile is chosen by M and the number of column tiles (pick_tile below).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"

namespace tritium::cuda {

using namespace detail;

namespace {

constexpr int64_t kFp8SkinnyMaxM = 256;

void check_scales(const Tensor& s, Device dev, int64_t n, const char* op, const char* name) {
  check_device(s, dev, op, name);
  TRITIUM_CHECK(s.dtype() == DType::F32 && s.is_contiguous() && s.numel() == n, op, " (cuda): ", name, " ",
                describe(s), " should be contiguous F32 [", n, "]");
}

void check_fp8(const Tensor& t, Device dev, const char* op, const char* name) {
  check_device(t, dev, op, name);
  TRITIUM_CHECK(t.dtype() == DType::F8E4M3 && t.dim() == 2 && t.stride(1) == 1, op, " (cuda): ", name, " ",
                describe(t), " should be 2-D F8E4M3 with a contiguous last dim");
}

std::string pack_lacks(const Catalog& cat, const char* kernel, DType dt) {
  return str_cat("the kernel pack ", cat.origin(), " has no ", kernel, " for ", triton_type(dt),
                 " (fp8 linears need sm89 or newer and bf16 / fp16 activations)");
}

// The tiled kernel's variant for an M x N problem: the smallest BLOCK_M that holds M (up to the
// largest there is; above 128 rows the 64-row tiles when the 128-row ones leave SMs idle), then
// the widest BLOCK_N that still gives every SM a tile, else the narrowest.
// TRITIUM_FP8_TILE=BMxBN forces a tile (for measuring).
const Variant* pick_tile(const Catalog& cat, bool act_mul, DType dt, int64_t M, int64_t N) {
  std::vector<const Variant*> vs;
  for (const Variant* v : cat.find("matmul_fp8_kernel", "out_ptr", dt))
    if (v->cx("ACT_MUL") == (act_mul ? 1 : 0)) vs.push_back(v);
  if (vs.empty()) return nullptr;
  static const std::string forced = [] {  // read once, as the other knobs
    const char* e = std::getenv("TRITIUM_FP8_TILE");
    return std::string(e ? e : "");
  }();
  if (!forced.empty())
    for (const Variant* v : vs)
      if (std::to_string(v->cx("BLOCK_M")) + "x" + std::to_string(v->cx("BLOCK_N")) == forced) return v;
  const int64_t sms = cat.sm_count();
  int64_t max_bm = 0;
  for (const Variant* v : vs) max_bm = std::max(max_bm, v->cx("BLOCK_M"));
  auto tiles = [&](const Variant* v) { return cdiv(M, v->cx("BLOCK_M")) * cdiv(N, v->cx("BLOCK_N")); };
  int64_t bm = max_bm;
  for (const Variant* v : vs)
    if (v->cx("BLOCK_M") >= std::min(M, max_bm) && v->cx("BLOCK_M") < bm) bm = v->cx("BLOCK_M");
  auto consider = [&](int64_t want_bm) {
    const Variant* pick = nullptr;
    for (const Variant* v : vs) {
      if (v->cx("BLOCK_M") != want_bm) continue;
      const bool fills = tiles(v) >= sms;
      if (!pick) pick = v;
      else if (fills && (tiles(pick) < sms || v->cx("BLOCK_N") > pick->cx("BLOCK_N"))) pick = v;
      else if (!fills && tiles(pick) < sms && v->cx("BLOCK_N") < pick->cx("BLOCK_N")) pick = v;
    }
    return pick;
  };
  const Variant* best = consider(bm);
  if (best && tiles(best) < sms && bm > 64) {
    const Variant* half = consider(64);
    if (half && tiles(half) > tiles(best)) best = half;
  }
  return best;
}

void run_fp8(const char* op, const Tensor& xq, const Tensor& xs, const Tensor& w, const Tensor& ws,
             const Tensor* bias, Tensor& out, bool act_mul) {
  const Device dev = xq.device();
  check_fp8(xq, dev, op, "x");
  check_fp8(w, dev, op, "weight");
  check_act(out, dev, op, "out");
  TRITIUM_CHECK(out.dim() == 2, op, " (cuda): out ", describe(out), " should be 2-D");
  const int64_t M = xq.size(0), K = xq.size(1), N = act_mul ? w.size(0) / 2 : w.size(0);
  TRITIUM_CHECK(!act_mul || w.size(0) % 2 == 0, op, " (cuda): expects a [2I, K] gate|up weight; got ", describe(w));
  TRITIUM_CHECK(w.size(1) == K, op, " (cuda): x ", describe(xq), " and weight ", describe(w), " disagree on K");
  TRITIUM_CHECK(out.size(0) == M && out.size(1) == N, op, " (cuda): out ", describe(out), " should be [", M, ", ",
                N, "]");
  check_scales(xs, dev, M, op, "x scales");
  check_scales(ws, dev, w.size(0), op, "weight scales");
  if (bias) {
    TRITIUM_CHECK(!act_mul, op, " (cuda): no bias with the gate|up form");
    check_device(*bias, dev, op, "bias");
    check_same_dtype(*bias, out, op, "bias");
    TRITIUM_CHECK(bias->is_contiguous() && bias->numel() == N, op, " (cuda): bias ", describe(*bias),
                  " must be contiguous with ", N, " elements");
  }
  TRITIUM_CHECK(M == 0 || N == 0 || K % 16 == 0, op, " (cuda): K = ", K, " is not a multiple of 16");
  if (M == 0 || N == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  const DType dt = out.dtype();
  const void* bias_ptr = bias ? bias->data() : ws.data();  // any aligned pointer when has_bias = 0
  std::initializer_list<KernelArg> args = {
      xq, w, xs, ws, bias_ptr, out, to_i32(M, op, "M"), to_i32(N, op, "N"), to_i32(K, op, "K"),
      to_i32(xq.stride(0), op, "x row stride"), to_i32(w.stride(0), op, "weight row stride"),
      to_i32(out.stride(0), op, "out row stride"), int32_t(bias ? 1 : 0)};
  if (M > kFp8SkinnyMaxM) {
    for (const Variant* v : cat.find("matmul_fp8_tma_kernel", "out_ptr", dt)) {
      if (v->cx("ACT_MUL") != (act_mul ? 1 : 0) || !check_launch(dev, *v, args).empty()) continue;
      const int64_t tiles = cdiv(M, v->cx("BLOCK_M")) * cdiv(N, v->cx("BLOCK_N"));
      launch(dev, *v, {grid_dim(std::min<int64_t>(tiles, cat.sm_count()), op)}, args, op);
      return;
    }
  }
  const Variant* v = pick_tile(cat, act_mul, dt, M, N);
  TRITIUM_CHECK(v, op, " (cuda): ", pack_lacks(cat, act_mul ? "matmul_fp8_silu_mul" : "matmul_fp8", dt));
  const int64_t tiles = cdiv(M, v->cx("BLOCK_M")) * cdiv(N, v->cx("BLOCK_N"));
  launch(dev, *v, {grid_dim(tiles, op)}, args, op);
}

}  // namespace

void quantize_fp8_rows(const Tensor& x, Tensor& q, Tensor& scales) {
  const char* op = "quantize_fp8_rows";
  const Device dev = x.device();
  check_act(x, dev, op, "x");
  TRITIUM_CHECK(x.dim() == 2, op, " (cuda): x ", describe(x), " should be 2-D");
  const int64_t M = x.size(0), K = x.size(1);
  check_fp8(q, dev, op, "q");
  TRITIUM_CHECK(q.size(0) == M && q.size(1) == K, op, " (cuda): q ", describe(q), " should be [", M, ", ", K, "]");
  check_scales(scales, dev, M, op, "scales");
  if (M == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  // the smallest one-pass variant that holds the row, else the two-pass loop
  const Variant* v = nullptr;
  for (const Variant* c : cat.find("quant_fp8_rows_kernel", "x_ptr", x.dtype())) {
    auto rank = [](const Variant* u) { return u->cx("ONE_PASS") ? u->cx("BLOCK_K") : INT64_MAX; };
    if (!c->cx("ONE_PASS") || c->cx("BLOCK_K") >= K)
      if (!v || rank(c) < rank(v)) v = c;
  }
  TRITIUM_CHECK(v, op, " (cuda): ", pack_lacks(cat, "quant_fp8_rows_kernel", x.dtype()));
  launch(dev, *v, {grid_dim(M, op)},
         {x, q, scales, to_i32(K, op, "K"), to_i32(x.stride(0), op, "x row stride"),
          to_i32(q.stride(0), op, "q row stride")},
         op);
}

void rms_norm_fp8(const Tensor* x, Tensor& residual, const Tensor& w, float eps, Tensor& q, Tensor& scales) {
  const char* op = "rms_norm_fp8";
  const Device dev = residual.device();
  check_act(residual, dev, op, "residual");
  TRITIUM_CHECK(residual.dim() == 2, op, " (cuda): residual ", describe(residual), " should be 2-D");
  const int64_t M = residual.size(0), N = residual.size(1);
  if (x) {
    check_act(*x, dev, op, "x");
    check_same_dtype(*x, residual, op, "x");
    TRITIUM_CHECK(x->shape() == residual.shape(), op, " (cuda): x ", describe(*x), " and residual ",
                  describe(residual), " differ in shape");
  }
  check_device(w, dev, op, "weight");
  check_same_dtype(w, residual, op, "weight");
  TRITIUM_CHECK(w.is_contiguous() && w.numel() == N, op, " (cuda): weight ", describe(w), " should be contiguous with ",
                N, " elements");
  check_fp8(q, dev, op, "q");
  TRITIUM_CHECK(q.size(0) == M && q.size(1) == N, op, " (cuda): q ", describe(q), " should be [", M, ", ", N, "]");
  check_scales(scales, dev, M, op, "scales");
  if (M == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  const Variant* v = nullptr;  // the smallest row build that holds N
  for (const Variant* c : cat.find("rms_norm_quant_fp8_kernel", "residual_ptr", residual.dtype()))
    if (c->cx("ADD") == (x ? 1 : 0) && c->cx("BLOCK_N") >= N && (!v || c->cx("BLOCK_N") < v->cx("BLOCK_N"))) v = c;
  if (!v) {  // composed: the norm, then the quantizer
    Tensor n = Tensor::empty(residual.shape(), residual.dtype(), dev);
    if (x)
      add_rms_norm(*x, residual, w, eps, n);
    else
      rms_norm(residual, w, eps, n);
    quantize_fp8_rows(n, q, scales);
    return;
  }
  const Tensor& xin = x ? *x : residual;
  launch(dev, *v, {grid_dim(M, op)},
         {xin, residual, w, q, scales, to_i32(xin.stride(0), op, "x row stride"),
          to_i32(residual.stride(0), op, "residual row stride"), to_i32(q.stride(0), op, "q row stride"),
          to_i32(N, op, "row length"), eps},
         op);
}

void linear_fp8(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales, const Tensor* bias,
                Tensor& out) {
  run_fp8("linear_fp8", xq, x_scales, w, w_scales, bias, out, false);
}

void linear_fp8_silu_mul(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales,
                         Tensor& out, Tensor& /*scratch*/) {
  run_fp8("linear_fp8_silu_mul", xq, x_scales, w, w_scales, nullptr, out, true);
}

}  // namespace tritium::cuda
