// Helpers for the GPU tests (ops_test.cpp, model_test.cpp): device set-up with a visible skip,
// fresh random inputs (seed printed), bf16-rounded values shared by the CPU and GPU sides,
// NaN poisoning of outputs, downloads.
#pragma once
#ifdef TRITIUM_HAVE_CUDA
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/driver.h"
#include "core/half.h"
#include "core/tensor.h"

namespace tritium::gputest {

// Initializes device 0 and the CUDA ops once; false (with the reason) when there is no GPU.
inline bool gpu_ready(std::string* why) {
  if (!cuda::cuda_available()) {
    *why = cuda::unavailable_reason();
    return false;
  }
  static bool once = [] {
    cuda::init_backend(0);
    cuda::DeviceInfo d = cuda::device_info(0);
    std::printf("device: %s, sm_%d%d, %d SMs\n", d.name.c_str(), d.cc_major, d.cc_minor, d.sm_count);
    return true;
  }();
  (void)once;
  return true;
}

#define TRITIUM_REQUIRE_GPU()                                                   \
  do {                                                                          \
    std::string why_;                                                           \
    if (!::tritium::gputest::gpu_ready(&why_)) {                                \
      std::printf("SKIPPED: no CUDA device (%s)\n", why_.c_str());              \
      GTEST_SKIP() << "no CUDA device (" << why_ << ")";                        \
    }                                                                           \
  } while (0)

inline std::mt19937_64& rng() {
  static std::mt19937_64 g = [] {
    uint64_t seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    if (const char* s = std::getenv("TRITIUM_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
    std::printf("random seed: %llu (TRITIUM_TEST_SEED=%llu reproduces it)\n", (unsigned long long)seed,
                (unsigned long long)seed);
    return std::mt19937_64(seed);
  }();
  return g;
}

// Uniform values in [lo, hi), rounded to what `dt` can hold (so both sides see the same numbers).
inline std::vector<float> rand_vals(size_t n, float lo, float hi, DType dt = DType::BF16) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) {
    float f = d(rng());
    x = dt == DType::BF16     ? bf16_to_f32(f32_to_bf16(f))
        : dt == DType::F16    ? f16_to_f32(f32_to_f16(f))
        : dt == DType::F8E4M3 ? fp8e4m3_to_f32(f32_to_fp8e4m3(f))
                              : f;
  }
  return v;
}

inline int64_t rand_int(int64_t lo, int64_t hi) {  // [lo, hi]
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng());
}

inline Tensor host_f32(const std::vector<float>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  EXPECT_EQ(size_t(t.numel()), v.size());
  std::memcpy(t.data(), v.data(), v.size() * 4);
  return t;
}

// A host tensor of dtype dt holding v.
inline Tensor host_as(const std::vector<float>& v, const Shape& shape, DType dt) {
  return host_f32(v, shape).to(dt);
}

inline Tensor device_as(const std::vector<float>& v, const Shape& shape, DType dt) {
  return host_as(v, shape, dt).to(Device::cuda(0));
}

inline Tensor device_i32(const std::vector<int32_t>& v, const Shape& shape) {
  Tensor h = Tensor::empty(shape, DType::I32);
  std::memcpy(h.data(), v.data(), v.size() * 4);
  return h.to(Device::cuda(0));
}

// Every byte 0xFF: NaN in F32, BF16, F16 and fp8 e4m3.
inline void poison(Tensor& t) {
  ASSERT_TRUE(t.device().is_cuda() && t.is_contiguous());
  cuda::memset_d8_async(t.data(), 0xFF, t.nbytes(), cuda::current_stream(0));
  cuda::synchronize(0);
}

// A device tensor of shape/dtype, poisoned.
inline Tensor poisoned(const Shape& shape, DType dt) {
  Tensor t = Tensor::empty(shape, dt, Device::cuda(0));
  poison(t);
  return t;
}

// Waits for the GPU (surfacing asynchronous kernel faults here) and downloads as F32.
inline Tensor download(const Tensor& t) {
  cuda::synchronize(0);
  return t.to(Device::cpu()).to(DType::F32);
}

// ||a - b|| / ||b||; infinity when a holds a NaN/Inf or shapes differ.
inline double rel_err(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return INFINITY;
  double num = 0, den = 0;
  for (int64_t i = 0; i < b.numel(); ++i) {
    double x = load_as_float(a, i), y = load_as_float(b, i);
    if (!std::isfinite(x) || !std::isfinite(y)) return INFINITY;
    num += (x - y) * (x - y);
    den += y * y;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

inline const char* dtype_label(DType dt) {
  return dt == DType::BF16 ? "bf16" : dt == DType::F16 ? "fp16" : dt == DType::F8E4M3 ? "fp8" : "f32";
}

// A RoPE table (theta 10000) as ops::rope_write_kv takes it: [max_pos, rot], cos half then sin half.
inline std::vector<float> rope_table(int64_t max_pos, int64_t rot) {
  std::vector<float> cs(static_cast<size_t>(max_pos * rot));
  for (int64_t p = 0; p < max_pos; ++p)
    for (int64_t i = 0; i < rot / 2; ++i) {
      double f = double(p) * std::pow(10000.0, -2.0 * double(i) / double(rot));
      cs[size_t(p * rot + i)] = float(std::cos(f));
      cs[size_t(p * rot + rot / 2 + i)] = float(std::sin(f));
    }
  return cs;
}

}  // namespace tritium::gputest
#endif  // TRITIUM_HAVE_CUDA
