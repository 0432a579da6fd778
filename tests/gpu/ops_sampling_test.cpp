// ops::sample on the GPU against the CPU reference (backends/cpu/cpu_sampling.cpp) on fresh
// random logits (seed printed): greedy rows exactly; sampled rows (temperature, top-k, top-p,
// min-p) must draw a token of the reference's kept set, and the same token as the reference
// for nearly every row (the kernel searches its thresholds and uses the GPU's log, so a row
// whose Gumbel scores nearly tie may differ). DeviceSampler on the GPU. Skips without a GPU.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "gpu_util.h"
#include "ops/device_sampler.h"
#include "ops/ops.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

struct Controls {
  std::vector<float> temp, top_p, min_p;
  std::vector<int32_t> top_k, steps;
  std::vector<int64_t> seeds;
};

template <typename T>
Tensor host_vec(const std::vector<T>& v, DType dt) {
  Tensor t = Tensor::empty({int64_t(v.size())}, dt);
  std::memcpy(t.data(), v.data(), v.size() * sizeof(T));
  return t;
}

ops::SampleArgs args_on(const Controls& c, Device dev) {
  auto put = [&](Tensor t) { return dev.is_cpu() ? t : t.to(dev); };
  return {put(host_vec(c.temp, DType::F32)),  put(host_vec(c.top_k, DType::I32)), put(host_vec(c.top_p, DType::F32)),
          put(host_vec(c.min_p, DType::F32)), put(host_vec(c.seeds, DType::I64)), put(host_vec(c.steps, DType::I32))};
}

TEST(CudaSample, MatchesCpuReference) {
  TRITIUM_REQUIRE_GPU();
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t V : {1000, 32000, 128256, 50257 /* not a multiple of 16 */}) {
      const int64_t R = 24;
      auto vals = rand_vals(size_t(R * V), -6, 6, dt);
      Controls c;
      for (int64_t r = 0; r < R; ++r) {
        const int kind = int(r % 6);
        c.temp.push_back(kind == 0 ? 0.0f : 0.5f + 0.1f * float(r % 7));
        c.top_k.push_back(kind == 2 ? int32_t(rand_int(1, 50)) : kind == 5 ? 20 : 0);
        c.top_p.push_back(kind == 3 ? 0.8f : kind == 5 ? 0.9f : 1.0f);
        c.min_p.push_back(kind == 4 ? 0.05f : 0.0f);
        c.seeds.push_back(int64_t(rand_int(0, 1 << 30)));
        c.steps.push_back(int32_t(rand_int(0, 1000)));
      }
      Tensor logits_h = host_as(vals, {R, V}, dt);
      Tensor ref = Tensor::empty({R}, DType::I32);
      ops::sample(logits_h, args_on(c, Device::cpu()), ref);
      Tensor out = poisoned({R}, DType::I32);
      ops::sample(logits_h.to(Device::cuda(0)), args_on(c, Device::cuda(0)), out);
      Tensor got = out.to(Device::cpu());
      int same = 0;
      for (int64_t r = 0; r < R; ++r) {
        const int32_t g = got.data<int32_t>()[r], w = ref.data<int32_t>()[r];
        ASSERT_TRUE(g >= 0 && g < V) << "row " << r << " token " << g;
        if (c.temp[size_t(r)] == 0.0f) {
          EXPECT_EQ(g, w) << dtype_label(dt) << " V " << V << " greedy row " << r;
        } else if (g != w) {
          // Must still be in the kept set: at least the k-th largest, at least max + log(min_p).
          const float inv_t = 1.0f / c.temp[size_t(r)];
          const float yg = load_as_float(logits_h, r * V + g) * inv_t;
          int64_t above = 0;
          float m = -INFINITY;
          for (int64_t i = 0; i < V; ++i) {
            float y = load_as_float(logits_h, r * V + i) * inv_t;
            above += y > yg;
            m = std::max(m, y);
          }
          if (c.top_k[size_t(r)] > 0) EXPECT_LT(above, c.top_k[size_t(r)]) << "row " << r << " outside top-k";
          if (c.min_p[size_t(r)] > 0) EXPECT_GE(yg, m + std::log(c.min_p[size_t(r)]) - 1e-4f) << "row " << r;
        }
        same += g == w;
      }
      std::printf("[sample] %s V %lld: %d/%lld rows equal to the CPU reference\n", dtype_label(dt), (long long)V, same,
                  (long long)R);
      EXPECT_GE(same, R - 2) << dtype_label(dt) << " V " << V;
    }
  }
}

TEST(CudaSample, DeviceSamplerReturnsTheKernelsTokens) {
  TRITIUM_REQUIRE_GPU();
  const int64_t R = 5, V = 4096;
  auto vals = rand_vals(size_t(R * V), -4, 4);
  Tensor logits = device_as(vals, {R, V}, DType::BF16);
  std::vector<RowSampling> rows;
  Controls c;
  for (int64_t r = 0; r < R; ++r) {
    rows.push_back(RowSampling{r == 0 ? 0.0f : 1.0f, 0, 1.0f, 0.0f, uint64_t(100 + r), int32_t(r)});
    c.temp.push_back(rows.back().temperature);
    c.top_k.push_back(0);
    c.top_p.push_back(1.0f);
    c.min_p.push_back(0.0f);
    c.seeds.push_back(100 + r);
    c.steps.push_back(int32_t(r));
  }
  Tensor out = poisoned({R}, DType::I32);
  ops::sample(logits, args_on(c, Device::cuda(0)), out);
  Tensor want = out.to(Device::cpu());
  DeviceSampler ds;
  for (int round = 0; round < 3; ++round) {  // buffers reused across calls
    auto got = ds.sample(logits, rows);
    for (int64_t r = 0; r < R; ++r) EXPECT_EQ(got[size_t(r)], want.data<int32_t>()[r]) << "row " << r;
  }
}

}  // namespace

#else

TEST(CudaSample, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
