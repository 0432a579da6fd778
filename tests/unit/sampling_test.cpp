// Sampling: greedy, temperature, top-k/top-p/min-p filters, penalties, seeded reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "ops/sampling.h"

using namespace tritium;

namespace {
std::map<int32_t, int> histogram(const std::vector<float>& logits, const SamplingParams& p, int draws, uint64_t seed) {
  SamplerRng rng(seed);
  std::map<int32_t, int> h;
  for (int i = 0; i < draws; ++i) {
    auto row = logits;
    ++h[sample_token(row, p, rng)];
  }
  return h;
}
}  // namespace

TEST(Sampling, GreedyTakesFirstMaximum) {
  std::vector<float> l = {0.1f, 2.0f, 2.0f, -1.0f};
  SamplingParams p;
  p.temperature = 0;
  SamplerRng rng(1);
  EXPECT_EQ(sample_token(l, p, rng), 1);
}

TEST(Sampling, TemperatureMatchesSoftmax) {
  std::vector<float> l = {0.0f, std::log(3.0f)};  // p = 1/4, 3/4 at T = 1
  SamplingParams p;
  auto h = histogram(l, p, 20000, 7);
  EXPECT_NEAR(h[1] / 20000.0, 0.75, 0.02);
  p.temperature = 0.5f;  // p1 = 9/10
  h = histogram(l, p, 20000, 8);
  EXPECT_NEAR(h[1] / 20000.0, 0.9, 0.02);
}

TEST(Sampling, TopKTopPMinPFilter) {
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  SamplingParams p;
  p.top_k = 2;
  auto h = histogram(l, p, 5000, 1);
  EXPECT_EQ(h.count(2) + h.count(3), 0u);
  EXPECT_NEAR(h[0] / 5000.0, 0.5 / 0.8, 0.03);
  p = SamplingParams();
  p.top_p = 0.75f;  // 0.5 is short of 0.75, 0.5 + 0.3 reaches it: two tokens
  h = histogram(l, p, 5000, 2);
  EXPECT_EQ(h.count(2) + h.count(3), 0u);
  p = SamplingParams();
  p.min_p = 0.25f;  // threshold 0.125: drops only 0.05
  h = histogram(l, p, 5000, 3);
  EXPECT_EQ(h.count(3), 0u);
  EXPECT_GT(h[2], 0);
}

TEST(Sampling, SameSeedSameTokens) {
  std::vector<float> l(50);
  for (size_t i = 0; i < l.size(); ++i) l[i] = float(std::sin(double(i)));
  SamplingParams p;
  p.temperature = 1.3f;
  SamplerRng a(42), b(42), c(43);
  std::vector<int32_t> x, y, z;
  for (int i = 0; i < 100; ++i) {
    auto r1 = l, r2 = l, r3 = l;
    x.push_back(sample_token(r1, p, a));
    y.push_back(sample_token(r2, p, b));
    z.push_back(sample_token(r3, p, c));
  }
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(Sampling, Penalties) {
  std::vector<float> l = {2.0f, -2.0f, 1.0f, 1.0f};
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  std::vector<int32_t> prompt = {0}, out = {1, 2, 2};
  auto r = l;
  apply_penalties(r, p, prompt, out);
  EXPECT_FLOAT_EQ(r[0], 1.0f);   // positive: divided
  EXPECT_FLOAT_EQ(r[1], -4.0f);  // negative: multiplied
  EXPECT_FLOAT_EQ(r[2], 0.5f);
  EXPECT_FLOAT_EQ(r[3], 1.0f);   // unseen
  p = SamplingParams();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  r = l;
  apply_penalties(r, p, prompt, out);
  EXPECT_FLOAT_EQ(r[0], 2.0f);              // prompt tokens are not penalised by these
  EXPECT_FLOAT_EQ(r[1], -2.0f - 0.75f);
  EXPECT_FLOAT_EQ(r[2], 1.0f - 1.0f);       // 0.5 + 2 x 0.25
}

TEST(Sampling, ValidateNamesField) {
  SamplingParams p;
  p.top_p = 0;
  try {
    p.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos);
  }
}
