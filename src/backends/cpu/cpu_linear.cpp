// CPU linear: out[M, N] = x[M, K] @ w[N, K]^T (+ bias). Memory-bound at small M (decode),
// so the kernel streams each weight row once per 4 rows of x and converts bf16/f16 on
// the fly; threads split N.
#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/simd.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "ops/ops.h"

namespace tritium::cpu {

namespace {

constexpr int MR = 4;  // rows of x per tile

// acc[m] = sum_k x[m][k] * w[k] for up to MR rows; W element type chosen by Load.
template <typename WT>
inline void dot_rows(const float* const* xr, int mr, const WT* w, int64_t K, float* acc);

#ifdef TRITIUM_AVX2
template <typename LoadW>
inline void dot_rows_avx(const float* const* xr, int mr, int64_t K, float* acc, LoadW load_w, auto scalar_w) {
  __m256 a[MR][2];
  for (int m = 0; m < MR; ++m) a[m][0] = a[m][1] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    __m256 w0 = load_w(k), w1 = load_w(k + 8);
    for (int m = 0; m < MR; ++m) {
      if (m < mr) {
        a[m][0] = _mm256_fmadd_ps(_mm256_loadu_ps(xr[m] + k), w0, a[m][0]);
        a[m][1] = _mm256_fmadd_ps(_mm256_loadu_ps(xr[m] + k + 8), w1, a[m][1]);
      }
    }
  }
  for (int m = 0; m < mr; ++m) {
    float s = hsum(_mm256_add_ps(a[m][0], a[m][1]));
    for (int64_t kk = k; kk < K; ++kk) s += xr[m][kk] * scalar_w(kk);
    acc[m] = s;
  }
}
#endif

template <>
inline void dot_rows<float>(const float* const* xr, int mr, const float* w, int64_t K, float* acc) {
#ifdef TRITIUM_AVX2
  dot_rows_avx(xr, mr, K, acc, [w](int64_t k) { return _mm256_loadu_ps(w + k); }, [w](int64_t k) { return w[k]; });
#else
  for (int m = 0; m < mr; ++m) {
    float s = 0;
    for (int64_t k = 0; k < K; ++k) s += xr[m][k] * w[k];
    acc[m] = s;
  }
#endif
}

struct BF16 { uint16_t v; };
struct F16 { uint16_t v; };

template <>
inline void dot_rows<BF16>(const float* const* xr, int mr, const BF16* wp, int64_t K, float* acc) {
  const uint16_t* w = reinterpret_cast<const uint16_t*>(wp);
#ifdef TRITIUM_AVX2
  dot_rows_avx(xr, mr, K, acc, [w](int64_t k) { return load_bf16x8(w + k); },
               [w](int64_t k) { return bf16_to_f32(w[k]); });
#else
  for (int m = 0; m < mr; ++m) {
    float s = 0;
    for (int64_t k = 0; k < K; ++k) s += xr[m][k] * bf16_to_f32(w[k]);
    acc[m] = s;
  }
#endif
}

template <>
inline void dot_rows<F16>(const float* const* xr, int mr, const F16* wp, int64_t K, float* acc) {
  const uint16_t* w = reinterpret_cast<const uint16_t*>(wp);
#ifdef TRITIUM_AVX2
  dot_rows_avx(xr, mr, K, acc, [w](int64_t k) { return load_f16x8(w + k); },
               [w](int64_t k) { return f16_to_f32(w[k]); });
#else
  for (int m = 0; m < mr; ++m) {
    float s = 0;
    for (int64_t k = 0; k < K; ++k) s += xr[m][k] * f16_to_f32(w[k]);
    acc[m] = s;
  }
#endif
}

struct FP8 { uint8_t v; };  // e4m3fn codes, decoded through a table

const float* fp8_table() {
  static const auto t = [] {
    std::array<float, 256> v{};
    for (int i = 0; i < 256; ++i) v[size_t(i)] = fp8e4m3_to_f32(uint8_t(i));
    return v;
  }();
  return t.data();
}

template <>
inline void dot_rows<FP8>(const float* const* xr, int mr, const FP8* wp, int64_t K, float* acc) {
  const uint8_t* w = reinterpret_cast<const uint8_t*>(wp);
  const float* lut = fp8_table();
  float s[MR] = {0, 0, 0, 0};
  for (int64_t k = 0; k < K; ++k) {
    const float wk = lut[w[k]];
    for (int m = 0; m < mr; ++m) s[m] += xr[m][k] * wk;
  }
  for (int m = 0; m < mr; ++m) acc[m] = s[m];
}

// Decode (M = 1): four weight rows at a time share each load of x; four independent
// accumulator chains keep the FMA units busy while the weights stream in.
#ifdef TRITIUM_AVX2
template <typename LoadW>
inline void gemv4(const float* x, int64_t K, LoadW load, float* acc) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 xv = _mm256_loadu_ps(x + k);
    a0 = _mm256_fmadd_ps(xv, load(0, k), a0);
    a1 = _mm256_fmadd_ps(xv, load(1, k), a1);
    a2 = _mm256_fmadd_ps(xv, load(2, k), a2);
    a3 = _mm256_fmadd_ps(xv, load(3, k), a3);
  }
  acc[0] = hsum(a0);
  acc[1] = hsum(a1);
  acc[2] = hsum(a2);
  acc[3] = hsum(a3);
}
#endif

template <typename WT>
bool gemv_fast(const float* x, const WT* w, int64_t K, int64_t n0, int64_t n1, const float* bias, float* out) {
#ifdef TRITIUM_AVX2
  if constexpr (std::is_same_v<WT, FP8>) return false;
  if (K % 8 != 0) return false;
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) {
    const WT* r = w + n * K;
    float acc[4];
    if constexpr (std::is_same_v<WT, float>) {
      gemv4(x, K, [r, K](int i, int64_t k) { return _mm256_loadu_ps(r + i * K + k); }, acc);
    } else if constexpr (std::is_same_v<WT, BF16>) {
      const uint16_t* q = reinterpret_cast<const uint16_t*>(r);
      gemv4(x, K, [q, K](int i, int64_t k) { return load_bf16x8(q + i * K + k); }, acc);
    } else {
      const uint16_t* q = reinterpret_cast<const uint16_t*>(r);
      gemv4(x, K, [q, K](int i, int64_t k) { return load_f16x8(q + i * K + k); }, acc);
    }
    for (int i = 0; i < 4; ++i) out[n + i] = acc[i] + (bias ? bias[n + i] : 0.f);
  }
  for (; n < n1; ++n) {
    const float* xr[MR] = {x, x, x, x};
    float acc[MR];
    dot_rows<WT>(xr, 1, w + n * K, K, acc);
    out[n] = acc[0] + (bias ? bias[n] : 0.f);
  }
  return true;
#else
  return false;
#endif
}

template <typename WT>
void linear_impl(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  const float* xp = x.data<float>();
  const int64_t xs = x.stride(0), os = out.stride(0);
  const WT* wp = w.data<WT>();
  const float* bp = bias ? bias->data<float>() : nullptr;
  float* op = out.data<float>();
  // Weight rows per task: large enough to amortise scheduling, small enough to balance.
  int64_t grain = std::max<int64_t>(8, 4096 / std::max<int64_t>(1, K / 64));
  // For big M, block over rows of x too so a weight tile stays in cache across x rows.
  const int64_t MB = 64;
  parallel_for(N, grain, [&](int64_t n0, int64_t n1) {
    if (M == 1 && gemv_fast<WT>(xp, wp, K, n0, n1, bp, op)) return;
    for (int64_t mb = 0; mb < M; mb += MB) {
      int64_t me = std::min(M, mb + MB);
      for (int64_t n = n0; n < n1; ++n) {
        const WT* wr = wp + n * K;
        float b = bp ? bp[n] : 0.f;
        for (int64_t m = mb; m < me; m += MR) {
          int mr = int(std::min<int64_t>(MR, me - m));
          const float* xr[MR];
          for (int i = 0; i < MR; ++i) xr[i] = xp + (m + std::min(i, mr - 1)) * xs;
          float acc[MR];
          dot_rows<WT>(xr, mr, wr, K, acc);
          for (int i = 0; i < mr; ++i) op[(m + i) * os + n] = acc[i] + b;
        }
      }
    }
  });
}

}  // namespace

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  TRITIUM_CHECK(x.dim() == 2 && w.dim() == 2 && out.dim() == 2, "linear: expects 2-D x, w, out");
  TRITIUM_CHECK(x.dtype() == DType::F32 && out.dtype() == DType::F32, "linear (cpu): activations must be F32");
  TRITIUM_CHECK(x.size(1) == w.size(1), "linear: x ", x.str(), " and weight ", w.str(), " disagree on K");
  TRITIUM_CHECK(out.size(0) == x.size(0) && out.size(1) == w.size(0), "linear: out ", out.str(), " should be [",
                x.size(0), ", ", w.size(0), "]");
  TRITIUM_CHECK(x.stride(1) == 1 && out.stride(1) == 1 && w.is_contiguous(), "linear: last dims must be contiguous");
  if (bias) TRITIUM_CHECK(bias->dtype() == DType::F32 && bias->numel() == w.size(0), "linear: bias must be F32 [N]");
  switch (w.dtype()) {
    case DType::F32: linear_impl<float>(x, w, bias, out); break;
    case DType::BF16: linear_impl<BF16>(x, w, bias, out); break;
    case DType::F16: linear_impl<F16>(x, w, bias, out); break;
    default: throw Error(str_cat("linear (cpu): weight dtype ", dtype_name(w.dtype()), " is not supported"));
  }
}

void quantize_fp8_rows(const Tensor& x, Tensor& q, Tensor& scales) {
  const char* op = "quantize_fp8_rows (cpu)";
  TRITIUM_CHECK(x.dim() == 2 && x.dtype() == DType::F32 && x.stride(1) == 1, op, ": x ", x.str(),
                " should be 2-D F32 with a contiguous last dim");
  const int64_t M = x.size(0), K = x.size(1);
  TRITIUM_CHECK(q.dtype() == DType::F8E4M3 && q.dim() == 2 && q.size(0) == M && q.size(1) == K && q.stride(1) == 1,
                op, ": q ", q.str(), " should be F8E4M3 [", M, ", ", K, "]");
  TRITIUM_CHECK(scales.dtype() == DType::F32 && scales.is_contiguous() && scales.numel() == M, op, ": scales ",
                scales.str(), " should be contiguous F32 [", M, "]");
  const float* xp = x.data<float>();
  uint8_t* qp = q.data<uint8_t>();
  float* sp = scales.data<float>();
  parallel_for(M, std::max<int64_t>(1, 65536 / std::max<int64_t>(K, 1)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const float* row = xp + m * x.stride(0);
      float amax = 0;
      for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::abs(row[k]));
      const float s = amax > 0 ? amax / ops::kFp8Max : 1.0f;
      sp[m] = s;
      uint8_t* dst = qp + m * q.stride(0);
      for (int64_t k = 0; k < K; ++k) dst[k] = f32_to_fp8e4m3(std::clamp(row[k] / s, -ops::kFp8Max, ops::kFp8Max));
    }
  });
}

void linear_fp8(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales, const Tensor* bias,
                Tensor& out) {
  const char* op = "linear_fp8 (cpu)";
  TRITIUM_CHECK(xq.dim() == 2 && w.dim() == 2 && out.dim() == 2, op, ": expects 2-D x, w, out");
  TRITIUM_CHECK(xq.dtype() == DType::F8E4M3 && w.dtype() == DType::F8E4M3, op, ": x ", xq.str(), " and weight ",
                w.str(), " should be F8E4M3");
  const int64_t M = xq.size(0), K = xq.size(1), N = w.size(0);
  TRITIUM_CHECK(w.size(1) == K && w.is_contiguous() && xq.stride(1) == 1, op, ": x ", xq.str(), " and weight ",
                w.str(), " disagree on K (or are not contiguous rows)");
  TRITIUM_CHECK(out.dtype() == DType::F32 && out.size(0) == M && out.size(1) == N && out.stride(1) == 1, op,
                ": out ", out.str(), " should be F32 [", M, ", ", N, "]");
  TRITIUM_CHECK(x_scales.dtype() == DType::F32 && x_scales.is_contiguous() && x_scales.numel() == M, op,
                ": x scales ", x_scales.str(), " should be F32 [", M, "]");
  TRITIUM_CHECK(w_scales.dtype() == DType::F32 && w_scales.is_contiguous() && w_scales.numel() == N, op,
                ": weight scales ", w_scales.str(), " should be F32 [", N, "]");
  if (bias) TRITIUM_CHECK(bias->dtype() == DType::F32 && bias->numel() == N, op, ": bias must be F32 [", N, "]");
  // the rounded activations as floats, then the products over the weights' codes
  Tensor xf = Tensor::empty({M, K}, DType::F32);
  const float* lut = fp8_table();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) xf.data<float>()[m * K + k] = lut[xq.data<uint8_t>()[m * xq.stride(0) + k]];
  linear_impl<FP8>(xf, w, nullptr, out);
  const float* xs = x_scales.data<float>();
  const float* ws = w_scales.data<float>();
  const float* b = bias ? bias->data<float>() : nullptr;
  for (int64_t m = 0; m < M; ++m) {
    float* row = out.data<float>() + m * out.stride(0);
    for (int64_t n = 0; n < N; ++n) row[n] = row[n] * xs[m] * ws[n] + (b ? b[n] : 0.f);
  }
}

void linear_argmax(const Tensor& x, const Tensor& w, Tensor& out_ids) {
  TRITIUM_CHECK(out_ids.dtype() == DType::I32 && out_ids.is_contiguous() && out_ids.numel() == x.size(0),
                "linear_argmax (cpu): out_ids ", out_ids.str(), " should be contiguous I32 [", x.size(0), "]");
  const int64_t M = x.size(0), N = w.size(0);
  TRITIUM_CHECK(N > 0, "linear_argmax (cpu): empty weight");
  Tensor logits = Tensor::empty({M, N}, DType::F32);
  linear(x, w, nullptr, logits);
  int32_t* ids = out_ids.data<int32_t>();
  for (int64_t m = 0; m < M; ++m) {
    const float* row = logits.data<float>() + m * N;
    ids[m] = int32_t(std::max_element(row, row + N) - row);  // the first maximum: the lowest id on ties
  }
}

}  // namespace tritium::cpu
