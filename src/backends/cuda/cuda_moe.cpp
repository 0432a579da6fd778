// CUDA mixture of experts (ops/moe.h; kernels/triton/moe.py): routing in one kernel, then the
// tokens' slots sorted by expert on the device (moe_align), the gate|up grouped GEMM gathering
// rows of x by slot with the activation in its epilogue, the down GEMM scaling each slot by its
// routing weight, and a sum over each token's k slots. No host round trip, so a decode step with
// experts is captured in one CUDA graph like a dense one. bf16 activations; bf16 or MXFP4
// experts (the blocks decoded in registers); gate rows then up rows (model/moe.cpp reorders
// gpt-oss's interleaved rows at load).
#include <algorithm>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"

namespace tritium::cuda {

using namespace detail;

namespace {

constexpr const char* kRoute = "moe_route";
constexpr const char* kExperts = "moe_experts";

// The variant of `kernel` (pointer parameter ptr of dtype dt) with the smallest BLOCK_E >= E
// whose other constexprs equal `want`.
const Variant& pick(const Catalog& cat, const char* kernel, const char* ptr, DType dt, int64_t E,
                    std::initializer_list<std::pair<const char*, int64_t>> want, const char* op) {
  const Variant* best = nullptr;
  for (const Variant* v : cat.find(kernel, ptr, dt)) {
    bool ok = true;
    for (auto& [k, val] : want) ok = ok && v->cx(k) == val;
    if (!ok) continue;
    if (E > 0) {
      const int64_t be = v->cx("BLOCK_E");
      if (be < E || (best && best->cx("BLOCK_E") <= be)) continue;
    } else if (best) {
      continue;
    }
    best = v;
  }
  std::string what;
  for (auto& [k, val] : want) what += str_cat(" ", k, "=", val);
  TRITIUM_CHECK(best, op, " (cuda): no ", kernel, " variant in the kernel pack ", cat.origin(), " for", what,
                E > 0 ? str_cat(" and ", E, " experts (at most 128 are built)") : std::string(),
                " (kernels/triton/moe.py)");
  return *best;
}

void check_bf16(const Tensor& t, Device dev, const char* op, const char* name) {
  check_device(t, dev, op, name);
  TRITIUM_CHECK(t.dtype() == DType::BF16, op, " (cuda): ", name, " ", describe(t),
                " must be BF16 (the MoE kernels are built for bf16 activations)");
}

void check_linear(const ops::ExpertLinear& l, Device dev, int64_t E, int64_t N, int64_t K, const char* name) {
  check_device(l.w, dev, kExperts, name);
  TRITIUM_CHECK(l.w.is_contiguous(), kExperts, " (cuda): ", name, " weights ", describe(l.w), " must be contiguous");
  if (l.mxfp4()) {
    TRITIUM_CHECK(l.w.dtype() == DType::U8 && l.w.dim() == 4 && l.w.size(0) == E && l.w.size(1) == N &&
                      l.w.size(2) * 32 == K && l.w.size(3) == 16,
                  kExperts, " (cuda): ", name, " MXFP4 blocks ", describe(l.w), " should be U8 [", E, ", ", N, ", ",
                  K / 32, ", 16]");
    check_device(l.scales, dev, kExperts, name);
    TRITIUM_CHECK(l.scales.dtype() == DType::U8 && l.scales.is_contiguous() && l.scales.numel() == E * N * (K / 32),
                  kExperts, " (cuda): ", name, " MXFP4 scales ", describe(l.scales), " should be U8 [", E, ", ", N,
                  ", ", K / 32, "]");
  } else {
    check_bf16(l.w, dev, kExperts, name);
    TRITIUM_CHECK(l.w.dim() == 3 && l.w.size(0) == E && l.w.size(1) == N && l.w.size(2) == K, kExperts, " (cuda): ",
                  name, " weights ", describe(l.w), " should be [", E, ", ", N, ", ", K, "]");
  }
  if (l.bias.defined()) {
    check_bf16(l.bias, dev, kExperts, name);
    TRITIUM_CHECK(l.bias.is_contiguous() && l.bias.numel() == E * N, kExperts, " (cuda): ", name, " bias ",
                  describe(l.bias), " should be contiguous [", E, ", ", N, "]");
  }
}

}  // namespace

void moe_route(const Tensor& x, const Tensor& router, const Tensor* bias, const ops::MoeRouteArgs& a, Tensor& ids,
               Tensor& weights) {
  const Device dev = x.device();
  check_bf16(x, dev, kRoute, "x");
  check_bf16(router, dev, kRoute, "router");
  TRITIUM_CHECK(x.dim() == 2 && x.stride(1) == 1 && router.dim() == 2 && router.is_contiguous() &&
                    router.size(1) == x.size(1),
                kRoute, " (cuda): router ", describe(router), " does not match x ", describe(x));
  const int64_t T = x.size(0), E = router.size(0), H = x.size(1), k = a.top_k;
  TRITIUM_CHECK(k >= 1 && k <= E && k <= 8, kRoute, " (cuda): top_k ", k,
                " must be between 1 and min(8, the number of experts ", E, ")");
  if (bias) {
    check_bf16(*bias, dev, kRoute, "router bias");
    TRITIUM_CHECK(bias->numel() == E && bias->is_contiguous(), kRoute, " (cuda): router bias ", describe(*bias),
                  " should have ", E, " elements");
  }
  check_i32(ids, dev, T * k, kRoute, "ids");
  check_device(weights, dev, kRoute, "weights");
  TRITIUM_CHECK(weights.dtype() == DType::F32 && weights.is_contiguous() && weights.numel() == T * k, kRoute,
                " (cuda): weights ", describe(weights), " should be contiguous F32 [", T, ", ", k, "]");
  if (T == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  const int64_t kind = a.kind == ops::MoeRouting::TopKSoftmax ? 1 : 0;
  const Variant& v = pick(cat, "moe_route_kernel", "x_ptr", DType::BF16, E, {{"KIND", kind}}, kRoute);
  launch(dev, v, {grid_dim(T, kRoute)},
         {x, router, bias ? bias->data() : router.data(), ids, weights, to_i32(H, kRoute, "hidden"),
          to_i32(E, kRoute, "experts"), to_i32(x.stride(0), kRoute, "x row stride"), to_i32(k, kRoute, "top_k"),
          int32_t(bias ? 1 : 0), int32_t(a.renormalize ? 1 : 0)},
         kRoute);
}

void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const ops::MoeExperts& ex, Tensor& out) {
  const char* op = kExperts;
  const Device dev = x.device();
  check_bf16(x, dev, op, "x");
  check_bf16(out, dev, op, "out");
  TRITIUM_CHECK(x.dim() == 2 && x.stride(1) == 1 && out.dim() == 2 && out.stride(1) == 1 && out.size(0) == x.size(0) &&
                    out.size(1) == x.size(1),
                op, " (cuda): x ", describe(x), " and out ", describe(out), " should both be [T, hidden]");
  const int64_t T = x.size(0), H = x.size(1), E = ex.num_experts(), I = ex.intermediate_size();
  TRITIUM_CHECK(!ex.interleaved, op, " (cuda): interleaved gate/up rows are not supported (load reorders them)");
  TRITIUM_CHECK(E > 0 && I > 0 && ex.gate_up.out_features() == 2 * I, op, " (cuda): gate_up weights ",
                describe(ex.gate_up.w), " should hold 2 x intermediate rows per expert");
  check_linear(ex.gate_up, dev, E, 2 * I, H, "gate_up");
  check_linear(ex.down, dev, E, H, I, "down");
  TRITIUM_CHECK(ids.dim() == 2 && ids.size(0) == T, op, " (cuda): ids ", describe(ids), " should be [", T, ", k]");
  const int64_t k = ids.size(1), n = T * k;
  check_i32(ids, dev, n, op, "ids");
  check_device(weights, dev, op, "weights");
  TRITIUM_CHECK(weights.dtype() == DType::F32 && weights.is_contiguous() && weights.numel() == n, op,
                " (cuda): weights ", describe(weights), " should be contiguous F32 [", T, ", ", k, "]");
  if (T == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  // Blocks of 64 slots once experts average 64 tokens (prefill), else 16 (decode).
  const int64_t bm = n >= 64 * E ? 64 : 16;
  const Variant& align = pick(cat, "moe_align_kernel", "ids_ptr", DType::I32, E, {{"BLOCK_M", bm}}, op);
  const int64_t max_blocks = std::min(n, cdiv(n, bm) + E);
  Tensor sorted = Tensor::empty({max_blocks * bm}, DType::I32, dev);
  Tensor block_expert = Tensor::empty({max_blocks}, DType::I32, dev);
  launch(dev, align, {1},
         {ids, sorted, block_expert, to_i32(n, op, "slots"), to_i32(E, op, "experts"),
          to_i32(max_blocks, op, "blocks")},
         op);
  const int64_t mx = ex.gate_up.mxfp4() ? 1 : 0;
  TRITIUM_CHECK(ex.down.mxfp4() == ex.gate_up.mxfp4(), op, " (cuda): gate_up and down must both be MXFP4 or neither");
  const int32_t act = ex.activation == ops::MoeActivation::Silu ? 0 : 1;
  auto gemm = [&](const ops::ExpertLinear& l, int64_t gate_up, const Tensor& a, Tensor& y, int64_t N, int64_t K) {
    const Variant& v = pick(cat, "moe_gemm_kernel", "a_ptr", DType::BF16, 0,
                            {{"MXFP4", mx}, {"GATE_UP", gate_up}, {"BLOCK_M", bm}}, op);
    launch(dev, v, {grid_dim(max_blocks, op), grid_dim(cdiv(N, v.cx("BLOCK_N")), op)},
           {a, l.w, l.mxfp4() ? l.scales.data() : l.w.data(), l.bias.defined() ? l.bias.data() : a.data(), sorted,
            block_expert, weights, y, to_i32(n, op, "slots"), to_i32(N, op, "N"), to_i32(K, op, "K"),
            to_i32(a.stride(0), op, "A row stride"), to_i32(y.stride(0), op, "out row stride"), to_i32(k, op, "top_k"),
            int32_t(l.bias.defined() ? 1 : 0), act, ex.alpha, ex.limit},
           op);
  };
  Tensor mid = Tensor::empty({n, I}, DType::BF16, dev);
  gemm(ex.gate_up, 1, x, mid, I, H);
  Tensor y = Tensor::empty({n, H}, DType::F32, dev);
  gemm(ex.down, 0, mid, y, H, I);
  auto sums = cat.find("moe_sum_kernel", "out_ptr", DType::BF16);
  TRITIUM_CHECK(!sums.empty(), op, " (cuda): no moe_sum_kernel in the kernel pack ", cat.origin());
  const Variant& s = *sums.front();
  launch(dev, s, {grid_dim(T, op), grid_dim(cdiv(H, s.cx("BLOCK")), op)},
         {y, out, to_i32(H, op, "hidden"), to_i32(k, op, "top_k"), to_i32(out.stride(0), op, "out row stride")}, op);
}

}  // namespace tritium::cuda
