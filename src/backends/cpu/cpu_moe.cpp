// CPU mixture of experts (ops/moe.h): routing, and the experts' MLPs computed expert by expert.
//
// For each expert with tokens, each weight row is decoded once into f32 (MXFP4: its blocks and
// scales; bf16 / f16: converted) and dotted with the rows of every token routed there. Each
// token's k expert outputs go to their own slots, which are summed in slot order with the routing
// weights, so a token's result never depends on the rest of the batch.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/simd.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "ops/moe.h"

namespace tritium::cpu {

namespace {

constexpr const char* kRoute = "moe_route (cpu)";
constexpr const char* kExperts = "moe_experts (cpu)";

// e2m1 magnitudes by code; the sign is bit 3.
constexpr float kE2m1[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                             -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

void check_linear(const ops::ExpertLinear& l, int64_t E, int64_t N, int64_t K, const char* name) {
  TRITIUM_CHECK(l.w.defined() && l.w.is_contiguous(), kExperts, ": ", name, " weights must be contiguous");
  if (l.mxfp4()) {
    TRITIUM_CHECK(l.w.dtype() == DType::U8 && l.w.dim() == 4 && l.w.size(0) == E && l.w.size(1) == N &&
                      l.w.size(2) * 32 == K && l.w.size(3) == 16,
                  kExperts, ": ", name, " MXFP4 blocks ", l.w.str(), " should be U8 [", E, ", ", N, ", ", K / 32,
                  ", 16]");
    TRITIUM_CHECK(l.scales.dtype() == DType::U8 && l.scales.is_contiguous() && l.scales.dim() == 3 &&
                      l.scales.size(0) == E && l.scales.size(1) == N && l.scales.size(2) * 32 == K,
                  kExperts, ": ", name, " MXFP4 scales ", l.scales.str(), " should be U8 [", E, ", ", N, ", ", K / 32,
                  "]");
  } else {
    TRITIUM_CHECK((l.w.dtype() == DType::F32 || l.w.dtype() == DType::BF16 || l.w.dtype() == DType::F16) &&
                      l.w.dim() == 3 && l.w.size(0) == E && l.w.size(1) == N && l.w.size(2) == K,
                  kExperts, ": ", name, " weights ", l.w.str(), " should be F32, BF16 or F16 [", E, ", ", N, ", ", K,
                  "]");
  }
  if (l.bias.defined())
    TRITIUM_CHECK(l.bias.dtype() == DType::F32 && l.bias.is_contiguous() && l.bias.numel() == E * N, kExperts, ": ",
                  name, " bias ", l.bias.str(), " should be contiguous F32 [", E, ", ", N, "]");
}

// Row n of expert e of a linear as f32 (a pointer into the weights when they are F32, else buf).
const float* weight_row(const ops::ExpertLinear& l, int64_t e, int64_t n, int64_t K, float* buf) {
  const int64_t N = l.w.size(1), row = e * N + n;
  if (l.mxfp4()) {
    const uint8_t* blocks = l.w.data<uint8_t>() + row * (K / 2);
    const uint8_t* scales = l.scales.data<uint8_t>() + row * (K / 32);
    for (int64_t g = 0; g < K / 32; ++g) {
      const uint8_t s = scales[g];
      float* dst = buf + g * 32;
      const uint8_t* b = blocks + g * 16;
      if (s == 255) {  // 2^128: ldexp makes every non-zero value infinite
        for (int i = 0; i < 16; ++i) {
          dst[2 * i] = ops::mxfp4_value(b[i] & 15, s);
          dst[2 * i + 1] = ops::mxfp4_value(b[i] >> 4, s);
        }
        continue;
      }
      const float f = std::ldexp(1.0f, int(s) - 127);  // exact, denormal for s = 0
      for (int i = 0; i < 16; ++i) {
        dst[2 * i] = kE2m1[b[i] & 15] * f;
        dst[2 * i + 1] = kE2m1[b[i] >> 4] * f;
      }
    }
    return buf;
  }
  switch (l.w.dtype()) {
    case DType::F32: return l.w.data<float>() + row * K;
    case DType::BF16: {
      const uint16_t* p = l.w.data<uint16_t>() + row * K;
      for (int64_t k = 0; k < K; ++k) buf[k] = bf16_to_f32(p[k]);
      return buf;
    }
    default: {
      const uint16_t* p = l.w.data<uint16_t>() + row * K;
      for (int64_t k = 0; k < K; ++k) buf[k] = f16_to_f32(p[k]);
      return buf;
    }
  }
}

// y[s, :N] = in[s, :K] @ W_e^T (+ b_e) for every slot s of every expert e (slots[e]), rows of in
// `in_stride` apart (row_of(s) picks the input row of slot s), y rows N apart.
template <typename RowOf>
void expert_linear(const ops::ExpertLinear& l, const std::vector<std::vector<int32_t>>& slots, const float* in,
                   int64_t in_stride, RowOf row_of, float* y) {
  const int64_t N = l.w.size(1), K = l.in_features();
  const float* bias = l.bias.defined() ? l.bias.data<float>() : nullptr;
  // tasks: (expert, a range of its weight rows), about 64 KB of f32 weights each
  struct Task {
    int64_t e, n0, n1;
  };
  std::vector<Task> tasks;
  const int64_t rows = std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(K, 1));
  for (int64_t e = 0; e < int64_t(slots.size()); ++e)
    if (!slots[size_t(e)].empty())
      for (int64_t n0 = 0; n0 < N; n0 += rows) tasks.push_back({e, n0, std::min(N, n0 + rows)});
  parallel_for(int64_t(tasks.size()), 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> buf(static_cast<size_t>(K));
    for (int64_t t = t0; t < t1; ++t) {
      const Task& task = tasks[size_t(t)];
      for (int64_t n = task.n0; n < task.n1; ++n) {
        const float* w = weight_row(l, task.e, n, K, buf.data());
        const float b = bias ? bias[task.e * N + n] : 0.f;
        for (int32_t s : slots[size_t(task.e)]) y[int64_t(s) * N + n] = dot(in + row_of(s) * in_stride, w, K) + b;
      }
    }
  });
}

}  // namespace

void moe_route(const Tensor& x, const Tensor& router, const Tensor* bias, const ops::MoeRouteArgs& a, Tensor& ids,
               Tensor& weights) {
  TRITIUM_CHECK(router.dim() == 2 && x.dim() == 2 && router.size(1) == x.size(1), kRoute, ": router ", router.str(),
                " does not match x ", x.str());
  Tensor logits = Tensor::empty({x.size(0), router.size(0)}, DType::F32);
  linear(x, router, bias, logits);
  const int64_t T = logits.size(0), E = logits.size(1), k = a.top_k;
  TRITIUM_CHECK(k >= 1 && k <= E, kRoute, ": top_k ", k, " must be between 1 and the number of experts (", E, ")");
  TRITIUM_CHECK(ids.dtype() == DType::I32 && ids.is_contiguous() && ids.numel() == T * k, kRoute, ": ids ", ids.str(),
                " should be contiguous I32 [", T, ", ", k, "]");
  TRITIUM_CHECK(weights.dtype() == DType::F32 && weights.is_contiguous() && weights.numel() == T * k, kRoute,
                ": weights ", weights.str(), " should be contiguous F32 [", T, ", ", k, "]");
  parallel_for(T, 16, [&](int64_t t0, int64_t t1) {
    std::vector<float> v(static_cast<size_t>(E));
    std::vector<int32_t> order(static_cast<size_t>(E));
    for (int64_t t = t0; t < t1; ++t) {
      const float* row = logits.data<float>() + t * logits.stride(0);
      std::copy(row, row + E, v.begin());
      if (a.kind == ops::MoeRouting::SoftmaxTopK) {  // probabilities first (float32, as torch)
        const float mx = *std::max_element(v.begin(), v.end());
        float sum = 0;
        for (auto& x : v) sum += (x = std::exp(x - mx));
        for (auto& x : v) x /= sum;
      }
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t i, int32_t j) {
        return v[size_t(i)] > v[size_t(j)] || (v[size_t(i)] == v[size_t(j)] && i < j);
      });
      int32_t* id = ids.data<int32_t>() + t * k;
      float* w = weights.data<float>() + t * k;
      for (int64_t j = 0; j < k; ++j) {
        id[j] = order[size_t(j)];
        w[j] = v[size_t(order[size_t(j)])];
      }
      if (a.kind == ops::MoeRouting::TopKSoftmax) {  // softmax over the k chosen logits
        const float mx = w[0];
        float sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += (w[j] = std::exp(w[j] - mx));
        for (int64_t j = 0; j < k; ++j) w[j] /= sum;
      } else if (a.renormalize) {
        float sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += w[j];
        for (int64_t j = 0; j < k; ++j) w[j] /= sum;
      }
    }
  });
}

void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const ops::MoeExperts& ex, Tensor& out) {
  TRITIUM_CHECK(x.dim() == 2 && x.dtype() == DType::F32 && x.stride(1) == 1, kExperts, ": x ", x.str(),
                " should be F32 [T, hidden] with a contiguous last dim");
  const int64_t T = x.size(0), H = x.size(1), E = ex.num_experts(), I = ex.intermediate_size();
  TRITIUM_CHECK(E > 0 && I > 0 && ex.gate_up.out_features() == 2 * I, kExperts, ": gate_up weights ",
                ex.gate_up.w.str(), " should hold 2 x intermediate rows per expert");
  check_linear(ex.gate_up, E, 2 * I, H, "gate_up");
  check_linear(ex.down, E, H, I, "down");
  TRITIUM_CHECK(ids.dtype() == DType::I32 && ids.is_contiguous() && ids.dim() == 2 && ids.size(0) == T, kExperts,
                ": ids ", ids.str(), " should be contiguous I32 [", T, ", k]");
  const int64_t k = ids.size(1);
  TRITIUM_CHECK(weights.dtype() == DType::F32 && weights.is_contiguous() && weights.numel() == T * k, kExperts,
                ": weights ", weights.str(), " should be contiguous F32 [", T, ", ", k, "]");
  TRITIUM_CHECK(out.dtype() == DType::F32 && out.dim() == 2 && out.size(0) == T && out.size(1) == H &&
                    out.stride(1) == 1,
                kExperts, ": out ", out.str(), " should be F32 [", T, ", ", H, "]");
  if (T == 0) return;
  // the slots (t * k + j) of each expert, in slot order
  std::vector<std::vector<int32_t>> slots(static_cast<size_t>(E));
  const int32_t* id = ids.data<int32_t>();
  for (int64_t s = 0; s < T * k; ++s) {
    TRITIUM_CHECK(id[s] >= 0 && id[s] < E, kExperts, ": expert id ", id[s], " (token ", s / k, ") outside [0, ", E,
                  ")");
    slots[size_t(id[s])].push_back(int32_t(s));
  }
  std::vector<float> gu(size_t(T * k * 2 * I)), act(size_t(T * k * I)), y(size_t(T * k * H));
  expert_linear(ex.gate_up, slots, x.data<float>(), x.stride(0), [k](int32_t s) { return int64_t(s / k); }, gu.data());
  const bool inter = ex.interleaved;
  const float alpha = ex.alpha, limit = ex.limit;
  parallel_for(T * k, 16, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      const float* g = gu.data() + s * 2 * I;
      float* o = act.data() + s * I;
      for (int64_t i = 0; i < I; ++i) {
        float gate = inter ? g[2 * i] : g[i], up = inter ? g[2 * i + 1] : g[I + i];
        if (ex.activation == ops::MoeActivation::Silu) {
          o[i] = gate / (1.0f + std::exp(-gate)) * up;
        } else {
          gate = std::min(gate, limit);
          up = std::clamp(up, -limit, limit);
          o[i] = (up + 1.0f) * (gate / (1.0f + std::exp(-gate * alpha)));
        }
      }
    }
  });
  expert_linear(ex.down, slots, act.data(), I, [](int32_t s) { return int64_t(s); }, y.data());
  const float* w = weights.data<float>();
  parallel_for(T, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out.data<float>() + t * out.stride(0);
      std::fill(o, o + H, 0.f);
      for (int64_t j = 0; j < k; ++j) axpy(w[t * k + j], y.data() + (t * k + j) * H, o, H);
    }
  });
}

}  // namespace tritium::cpu
