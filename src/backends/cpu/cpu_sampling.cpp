// CPU reference of ops::sample: the same rule as kernels/triton/sampling.py, with exact
// thresholds (the kernel searches for them) and the same Philox uniforms as tl.rand.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace tritium::cpu {

// tl.rand(seed, offset) for a 64-bit seed and a 32-bit offset: Philox-4x32 with 10 rounds,
// counter (offset, 0, 0, 0), key (seed low, seed high); the first word to a float in [0, 1).
float philox_uniform(uint64_t seed, uint32_t offset) {
  uint32_t c0 = offset, c1 = 0, c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    const uint64_t pa = uint64_t(0xD2511F53u) * c0, pb = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(pb >> 32) ^ c1 ^ k0, n2 = uint32_t(pa >> 32) ^ c3 ^ k1;
    c1 = uint32_t(pb);
    c3 = uint32_t(pa);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const int32_t x = int32_t(c0);
  const int64_t v = x < 0 ? -int64_t(x) - 1 : int64_t(x);
  return float(v) * 4.6566127342e-10f;
}

namespace {

void row_as_f32(const Tensor& logits, int64_t r, std::vector<float>& y) {
  const int64_t V = logits.size(1);
  y.resize(size_t(V));
  const char* base = static_cast<const char*>(logits.data()) + r * logits.stride(0) * int64_t(dtype_size(logits.dtype()));
  switch (logits.dtype()) {
    case DType::F32: std::copy_n(reinterpret_cast<const float*>(base), V, y.begin()); break;
    case DType::BF16:
      for (int64_t i = 0; i < V; ++i) y[size_t(i)] = bf16_to_f32(reinterpret_cast<const uint16_t*>(base)[i]);
      break;
    case DType::F16:
      for (int64_t i = 0; i < V; ++i) y[size_t(i)] = f16_to_f32(reinterpret_cast<const uint16_t*>(base)[i]);
      break;
    default: throw Error(str_cat("sample: logits ", logits.str(), " must be F32, BF16 or F16"));
  }
}

template <typename T>
T at(const Tensor& t, int64_t i) {
  return t.data<T>()[i];
}

void check_arg(const Tensor& t, DType dt, int64_t R, const char* name) {
  TRITIUM_CHECK(t.device().is_cpu() && t.dtype() == dt && t.numel() == R && t.is_contiguous(), "sample (cpu): ", name,
                " ", t.str(), " must be contiguous ", dtype_name(dt), "[", R, "] on the CPU");
}

}  // namespace

void sample(const Tensor& logits, const ops::SampleArgs& a, Tensor& out_ids) {
  TRITIUM_CHECK(logits.device().is_cpu() && logits.dim() == 2 && logits.stride(1) == 1, "sample (cpu): logits ",
                logits.str(), " must be [R, V] on the CPU with a contiguous last dim");
  const int64_t R = logits.size(0), V = logits.size(1);
  check_arg(a.temperature, DType::F32, R, "temperature");
  check_arg(a.top_k, DType::I32, R, "top_k");
  check_arg(a.top_p, DType::F32, R, "top_p");
  check_arg(a.min_p, DType::F32, R, "min_p");
  check_arg(a.seeds, DType::I64, R, "seeds");
  check_arg(a.steps, DType::I32, R, "steps");
  check_arg(out_ids, DType::I32, R, "out_ids");
  TRITIUM_CHECK(V > 0, "sample (cpu): empty vocabulary");
  parallel_for(R, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> y, sorted;
    for (int64_t r = r0; r < r1; ++r) {
      row_as_f32(logits, r, y);
      const float temp = at<float>(a.temperature, r);
      const int64_t best = std::max_element(y.begin(), y.end()) - y.begin();  // first maximum
      if (temp <= 0.0f) {
        out_ids.data<int32_t>()[r] = int32_t(best);
        continue;
      }
      const float inv_t = 1.0f / temp;
      for (float& v : y) v *= inv_t;
      const float m = y[size_t(best)];
      float thresh = *std::min_element(y.begin(), y.end());
      const int32_t top_k = at<int32_t>(a.top_k, r);
      if (top_k > 0 && top_k < V) {
        sorted = y;
        std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<float>());
        thresh = sorted[size_t(top_k - 1)];
      }
      const float top_p = at<float>(a.top_p, r);
      if (top_p < 1.0f) {
        sorted.clear();
        for (float v : y)
          if (v >= thresh) sorted.push_back(v);
        std::sort(sorted.begin(), sorted.end(), std::greater<float>());
        double total = 0;
        for (float v : sorted) total += std::exp(double(v) - m);
        const double target = double(top_p) * total;
        double cum = 0;
        for (float v : sorted) {
          cum += std::exp(double(v) - m);
          if (cum >= target) {
            thresh = v;
            break;
          }
        }
      }
      const float min_p = at<float>(a.min_p, r);
      if (min_p > 0.0f) thresh = std::max(thresh, m + std::log(min_p));
      const uint64_t seed = uint64_t(at<int64_t>(a.seeds, r)) + (uint64_t(uint32_t(at<int32_t>(a.steps, r))) << 32);
      float g_best = -INFINITY;
      int64_t g_id = best;
      for (int64_t i = 0; i < V; ++i) {
        if (!(y[size_t(i)] >= thresh)) continue;
        const float u = philox_uniform(seed, uint32_t(i));
        const float score = y[size_t(i)] - std::log(-std::log(u));
        if (score > g_best) {
          g_best = score;
          g_id = i;
        }
      }
      out_ids.data<int32_t>()[r] = int32_t(g_id);
    }
  });
}

}  // namespace tritium::cpu

namespace tritium::cpu {

void apply_token_bitmask(Tensor& logits, const Tensor& bitmask, const Tensor& rows) {
  TRITIUM_CHECK(logits.device().is_cpu() && logits.dim() == 2 && logits.stride(1) == 1, "apply_token_bitmask (cpu): logits ",
                logits.str(), " must be [R, V] on the CPU with a contiguous last dim");
  const int64_t R = logits.size(0), V = logits.size(1), M = rows.numel();
  TRITIUM_CHECK(rows.device().is_cpu() && rows.dtype() == DType::I32 && rows.is_contiguous(),
                "apply_token_bitmask (cpu): rows ", rows.str(), " must be contiguous I32 on the CPU");
  TRITIUM_CHECK(bitmask.device().is_cpu() && bitmask.dtype() == DType::I32 && bitmask.is_contiguous() &&
                    bitmask.dim() == 2 && bitmask.size(0) == M && bitmask.size(1) * 32 >= V,
                "apply_token_bitmask (cpu): bitmask ", bitmask.str(), " must be contiguous I32 [", M, ", >= ",
                (V + 31) / 32, "]");
  const int64_t W = bitmask.size(1);
  const size_t es = dtype_size(logits.dtype());
  TRITIUM_CHECK(logits.dtype() == DType::F32 || logits.dtype() == DType::BF16 || logits.dtype() == DType::F16,
                "apply_token_bitmask (cpu): logits ", logits.str(), " must be F32, BF16 or F16");
  const uint16_t neg_inf16 = logits.dtype() == DType::BF16 ? uint16_t(0xFF80) : uint16_t(0xFC00);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t r = rows.data<int32_t>()[m];
    TRITIUM_CHECK(r >= 0 && r < R, "apply_token_bitmask (cpu): row ", r, " is outside the logits' ", R, " rows");
    char* base = static_cast<char*>(logits.data()) + r * logits.stride(0) * int64_t(es);
    const uint32_t* words = reinterpret_cast<const uint32_t*>(bitmask.data<int32_t>()) + m * W;
    for (int64_t v = 0; v < V; ++v) {
      if ((words[v / 32] >> (v % 32)) & 1) continue;
      if (es == 4) reinterpret_cast<float*>(base)[v] = -INFINITY;
      else reinterpret_cast<uint16_t*>(base)[v] = neg_inf16;
    }
  }
}

}  // namespace tritium::cpu
