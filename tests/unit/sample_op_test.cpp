// ops::sample on the CPU (the reference the CUDA kernel is tested against): Triton's Philox
// stream, greedy, the kept set of top-k / top-p / min-p, and the Gumbel-max draw following
// the kept softmax. The DeviceSampler packing on the CPU.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "ops/device_sampler.h"
#include "ops/ops.h"

using namespace tritium;

namespace {

Tensor f32(const std::vector<float>& v, Shape shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

struct Rows {
  std::vector<float> temp, top_p, min_p;
  std::vector<int32_t> top_k, steps;
  std::vector<int64_t> seeds;
  void add(float t, int32_t k, float p, float mp, int64_t seed, int32_t step) {
    temp.push_back(t);
    top_k.push_back(k);
    top_p.push_back(p);
    min_p.push_back(mp);
    seeds.push_back(seed);
    steps.push_back(step);
  }
  template <typename T>
  static Tensor make(const std::vector<T>& v, DType dt) {
    Tensor t = Tensor::empty({int64_t(v.size())}, dt);
    std::copy(v.begin(), v.end(), t.data<T>());
    return t;
  }
  ops::SampleArgs args() const {
    return {make(temp, DType::F32), make(top_k, DType::I32), make(top_p, DType::F32),
            make(min_p, DType::F32), make(seeds, DType::I64), make(steps, DType::I32)};
  }
};

std::vector<int32_t> run(const Tensor& logits, const Rows& r) {
  Tensor out = Tensor::empty({logits.size(0)}, DType::I32);
  ops::sample(logits, r.args(), out);
  return std::vector<int32_t>(out.data<int32_t>(), out.data<int32_t>() + out.numel());
}

}  // namespace

// Values printed by Triton 3.6's own tl.rand under TRITON_INTERPRET=1 for
// seed + (step << 32) with offsets 7 + 12345 * i.
TEST(SampleOp, PhiloxMatchesTritonRand) {
  const double want1[8] = {0.402087539434433,  0.1017560362815857, 0.47923195362091064, 0.9425851106643677,
                           0.0802672952413559, 0.5897594094276428, 0.5270741581916809,  0.12967948615550995};
  const double want2[8] = {0.14928627014160156, 0.6808168292045593,  0.7359740734100342,  0.7438326478004456,
                           0.7688628435134888,  0.13058675825595856, 0.08221753686666489, 0.3712082803249359};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(double(cpu::philox_uniform(987654321ull + (5ull << 32), uint32_t(7 + 12345 * i))), want1[i]) << i;
    EXPECT_EQ(double(cpu::philox_uniform(3ull, uint32_t(7 + 12345 * i))), want2[i]) << i;
  }
}

TEST(SampleOp, GreedyIsFirstMaximumAndTopK1IsGreedy) {
  Tensor l = f32({0.5f, 3.0f, 3.0f, -1.0f, 2.0f, 0.0f, 9.0f, 9.0f}, {2, 4});
  Rows r;
  r.add(0.0f, 0, 1.0f, 0.0f, 1, 0);
  r.add(0.8f, 1, 1.0f, 0.0f, 1, 0);  // top-k 1 leaves only the maximum (ties: both kept)
  auto ids = run(l, r);
  EXPECT_EQ(ids[0], 1);
  EXPECT_TRUE(ids[1] == 2 || ids[1] == 3);
}

TEST(SampleOp, DrawsFollowTheKeptSoftmax) {
  const std::vector<float> row = {1.0f, 0.2f, -0.5f, 2.0f, 0.7f, -3.0f, 1.5f, 0.0f};
  const int V = 8, N = 4000;
  struct Case {
    float temp;
    int32_t k;
    float p, mp;
  };
  for (Case c : {Case{1.0f, 0, 1.0f, 0.0f}, Case{0.7f, 3, 1.0f, 0.0f}, Case{1.3f, 0, 0.8f, 0.0f},
                 Case{1.0f, 0, 1.0f, 0.3f}, Case{1.0f, 5, 0.9f, 0.1f}}) {
    // The exact kept set and its probabilities.
    std::vector<float> y(row);
    for (float& v : y) v /= c.temp;
    std::vector<float> sorted(y);
    std::sort(sorted.begin(), sorted.end(), std::greater<float>());
    float m = sorted[0], t = sorted[V - 1];
    if (c.k > 0) t = sorted[size_t(c.k - 1)];
    if (c.p < 1.0f) {
      double tot = 0, cum = 0;
      for (float v : sorted)
        if (v >= t) tot += std::exp(double(v - m));
      for (float v : sorted)
        if (v >= t && (cum += std::exp(double(v - m))) >= c.p * tot) {
          t = v;
          break;
        }
    }
    if (c.mp > 0) t = std::max(t, m + std::log(c.mp));
    std::vector<double> prob(V, 0.0);
    double z = 0;
    for (int i = 0; i < V; ++i)
      if (y[size_t(i)] >= t) z += prob[size_t(i)] = std::exp(double(y[size_t(i)] - m));
    for (double& p : prob) p /= z;

    std::vector<float> many;
    Rows r;
    for (int n = 0; n < N; ++n) {
      many.insert(many.end(), row.begin(), row.end());
      r.add(c.temp, c.k, c.p, c.mp, 42, n);  // one stream, successive steps
    }
    auto ids = run(f32(many, {N, V}), r);
    std::vector<int> h(V, 0);
    for (int32_t id : ids) {
      ASSERT_GE(id, 0);
      ASSERT_LT(id, V);
      ASSERT_GT(prob[size_t(id)], 0.0) << "token " << id << " is outside the kept set";
      ++h[size_t(id)];
    }
    for (int i = 0; i < V; ++i) {
      double sd = std::sqrt(prob[size_t(i)] * (1 - prob[size_t(i)]) / N);
      EXPECT_NEAR(double(h[size_t(i)]) / N, prob[size_t(i)], 5 * sd + 1e-9) << "token " << i << ", temp " << c.temp;
    }
  }
}

TEST(SampleOp, SameSeedAndStepSameTokenWhateverTheBatch) {
  std::vector<float> row;
  for (int i = 0; i < 50; ++i) row.push_back(std::sin(float(i)));
  Rows one;
  one.add(1.0f, 0, 1.0f, 0.0f, 7, 3);
  auto alone = run(f32(row, {1, 50}), one);
  std::vector<float> many;
  Rows r;
  for (int n = 0; n < 5; ++n) {
    many.insert(many.end(), row.begin(), row.end());
    r.add(1.0f, 0, 1.0f, 0.0f, n == 3 ? 7 : 100 + n, n == 3 ? 3 : n);
  }
  EXPECT_EQ(run(f32(many, {5, 50}), r)[3], alone[0]);
}

TEST(SampleOp, DeviceSamplerOnTheCpuPacksTheRows) {
  std::vector<float> v;
  for (int i = 0; i < 6 * 20; ++i) v.push_back(std::cos(float(i) * 0.37f));
  Tensor l = f32(v, {6, 20});
  std::vector<RowSampling> rows(6);
  Rows r;
  for (int i = 0; i < 6; ++i) {
    rows[size_t(i)] = RowSampling{i % 2 ? 0.9f : 0.0f, i == 3 ? 4 : 0, i == 5 ? 0.7f : 1.0f, 0.0f, uint64_t(11 + i), i};
    r.add(rows[size_t(i)].temperature, rows[size_t(i)].top_k, rows[size_t(i)].top_p, 0.0f, 11 + i, i);
  }
  DeviceSampler ds;
  EXPECT_EQ(ds.sample(l, rows), run(l, r));
  EXPECT_EQ(ds.sample(l, rows), run(l, r));  // the buffers are reused
}

TEST(SampleOp, DeviceSamplingEligibility) {
  SamplingParams p;
  EXPECT_TRUE(device_can_sample(p, 0));
  p.min_tokens = 2;
  EXPECT_FALSE(device_can_sample(p, 1));  // eos must still be masked: the host does it
  EXPECT_TRUE(device_can_sample(p, 2));
  p.presence_penalty = 0.5f;
  EXPECT_FALSE(device_can_sample(p, 2));
  p.presence_penalty = 0;
  p.logprobs = 2;
  EXPECT_FALSE(device_can_sample(p, 2));
}
