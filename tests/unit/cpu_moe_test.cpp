// CPU mixture-of-experts ops and attention sinks against direct double-precision formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/half.h"
#include "ops/moe.h"
#include "test_util.h"

using namespace tritium;

namespace {

// e2m1 from its bits: sign, 2 exponent bits (bias 1), 1 mantissa bit; exponent 0 is subnormal.
double e2m1(int code) {
  const int s = (code >> 3) & 1, e = (code >> 1) & 3, m = code & 1;
  const double mag = e == 0 ? 0.5 * m : std::pow(2.0, e - 1) * (1.0 + 0.5 * m);
  return s ? -mag : mag;
}

// Random MXFP4 expert weights [E, N, K]: blocks, scales, and their values as F32.
struct Mxfp4 {
  Tensor blocks, scales, values;
};
Mxfp4 random_mxfp4(int64_t E, int64_t N, int64_t K, uint64_t seed, int scale_lo, int scale_hi) {
  std::mt19937_64 g(seed);
  Mxfp4 r{Tensor::empty({E, N, K / 32, 16}, DType::U8), Tensor::empty({E, N, K / 32}, DType::U8),
          Tensor::empty({E, N, K}, DType::F32)};
  for (int64_t i = 0; i < r.blocks.numel(); ++i) r.blocks.data<uint8_t>()[i] = uint8_t(g());
  for (int64_t i = 0; i < r.scales.numel(); ++i)
    r.scales.data<uint8_t>()[i] = uint8_t(scale_lo + int(g() % uint64_t(scale_hi - scale_lo + 1)));
  for (int64_t row = 0; row < E * N; ++row)
    for (int64_t k = 0; k < K; ++k) {
      const uint8_t byte = r.blocks.data<uint8_t>()[row * K / 2 + k / 2];
      const int code = k % 2 ? byte >> 4 : byte & 15;
      const int sc = r.scales.data<uint8_t>()[row * K / 32 + k / 32];
      r.values.data<float>()[row * K + k] = float(e2m1(code) * std::pow(2.0, sc - 127));
    }
  return r;
}

// Naive double-precision MoE: for each token, sum_j w_j * down(act(gate_up(x))).
Tensor naive_moe(const Tensor& x, const std::vector<int32_t>& ids, const std::vector<float>& w, int64_t k,
                 const Tensor& gu /*F32 [E, 2I, H]*/, const Tensor& gu_b, const Tensor& down /*F32 [E, H, I]*/,
                 const Tensor& down_b, bool interleaved, ops::MoeActivation act) {
  const int64_t T = x.size(0), H = x.size(1), I = gu.size(1) / 2;
  Tensor out = Tensor::zeros({T, H}, DType::F32);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t e = ids[size_t(t * k + j)];
      std::vector<double> a(static_cast<size_t>(I));
      for (int64_t i = 0; i < I; ++i) {
        const int64_t gr = interleaved ? 2 * i : i, ur = interleaved ? 2 * i + 1 : I + i;
        double g = gu_b.defined() ? gu_b.data<float>()[e * 2 * I + gr] : 0, u = gu_b.defined() ? gu_b.data<float>()[e * 2 * I + ur] : 0;
        for (int64_t h = 0; h < H; ++h) {
          const double xv = x.data<float>()[t * H + h];
          g += xv * gu.data<float>()[(e * 2 * I + gr) * H + h];
          u += xv * gu.data<float>()[(e * 2 * I + ur) * H + h];
        }
        if (act == ops::MoeActivation::Silu) {
          a[size_t(i)] = g / (1 + std::exp(-g)) * u;
        } else {
          g = std::min(g, 7.0);
          u = std::clamp(u, -7.0, 7.0);
          a[size_t(i)] = (u + 1) * g / (1 + std::exp(-1.702 * g));
        }
      }
      for (int64_t h = 0; h < H; ++h) {
        double y = down_b.defined() ? down_b.data<float>()[e * H + h] : 0;
        for (int64_t i = 0; i < I; ++i) y += a[size_t(i)] * down.data<float>()[(e * H + h) * I + i];
        out.data<float>()[t * H + h] += float(w[size_t(t * k + j)] * y);
      }
    }
  return out;
}

Tensor from(const std::vector<int32_t>& v, const Shape& s) {
  Tensor t = Tensor::empty(s, DType::I32);
  std::copy(v.begin(), v.end(), t.data<int32_t>());
  return t;
}
Tensor from(const std::vector<float>& v, const Shape& s) {
  Tensor t = Tensor::empty(s, DType::F32);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

}  // namespace

TEST(CpuMoe, Mxfp4EveryCodeAndScale) {
  // mxfp4_value against the e2m1 bit layout for all 16 codes x 256 scales (255 = 2^128: infinite
  // unless the code is a zero, as torch.ldexp gives), and the experts op decoding them packed.
  for (int c = 0; c < 16; ++c)
    for (int s = 0; s < 256; ++s) {
      const double want = e2m1(c) * std::pow(2.0, s - 127);
      const float got = ops::mxfp4_value(uint8_t(c), uint8_t(s));
      if (std::isinf(float(want)))
        EXPECT_TRUE(std::isinf(got) && std::signbit(got) == std::signbit(want)) << c << " " << s;
      else
        EXPECT_EQ(double(got), want) << "code " << c << " scale " << s;
    }
  // Through the experts op: down_proj MXFP4 with row n at scale n (all 256) holding code i % 16 at
  // element i; gate / up biases make the activation 1 at element c only (silu(30) * (1/30)), so
  // out[n] = value(code c % 16, scale n) * that activation, element for element.
  const int64_t H = 256, I = 32;
  ops::MoeExperts ex;
  ex.gate_up.w = Tensor::zeros({1, 2 * I, H}, DType::F32);
  ex.gate_up.bias = Tensor::zeros({1, 2 * I}, DType::F32);
  ex.down.w = Tensor::empty({1, H, 1, 16}, DType::U8);
  ex.down.scales = Tensor::empty({1, H, 1}, DType::U8);
  for (int64_t n = 0; n < H; ++n) {
    ex.down.scales.data<uint8_t>()[n] = uint8_t(n);
    for (int b = 0; b < 16; ++b) ex.down.w.data<uint8_t>()[n * 16 + b] = uint8_t(((2 * b + 1) % 16) << 4 | (2 * b) % 16);
  }
  Tensor x = Tensor::zeros({1, H}, DType::F32), out = Tensor::empty({1, H}, DType::F32);
  Tensor ids = Tensor::zeros({1, 1}, DType::I32), w = Tensor::empty({1, 1}, DType::F32);
  w.data<float>()[0] = 1.0f;
  float* bias = ex.gate_up.bias.data<float>();
  for (int64_t c = 0; c < I; ++c) {
    std::fill(bias, bias + 2 * I, 0.0f);
    for (int64_t i = 0; i < I; ++i) bias[i] = 30.0f;
    bias[I + c] = 1.0f / 30.0f;
    const float a = 30.0f / (1.0f + std::exp(-30.0f)) * (1.0f / 30.0f);
    ops::moe_experts(x, ids, w, ex, out);
    for (int64_t n = 0; n < H; ++n) {
      const float want = ops::mxfp4_value(uint8_t(c % 16), uint8_t(n)) * a;
      const float got = out.data<float>()[n];
      if (std::isinf(ops::mxfp4_value(7, uint8_t(n))))  // the row holds infinities: 0 * inf
        EXPECT_TRUE(std::isnan(got)) << "code " << c % 16 << " scale " << n;
      else
        EXPECT_EQ(got, want) << "code " << c % 16 << " scale " << n;
    }
  }
}

TEST(CpuMoe, RoutingVariantsMatchFormulas) {
  const int64_t T = 9, H = 24, E = 8;
  Tensor x = test::random_tensor({T, H}, 1), r = test::random_tensor({E, H}, 2, 1.0f), bias = test::random_tensor({E}, 3);
  for (int variant = 0; variant < 3; ++variant) {
    const int64_t k = variant == 2 ? 4 : 2;
    ops::MoeRouteArgs a;
    a.top_k = k;
    a.kind = variant == 2 ? ops::MoeRouting::TopKSoftmax : ops::MoeRouting::SoftmaxTopK;
    a.renormalize = variant == 0;
    const Tensor* b = variant == 2 ? &bias : nullptr;
    Tensor ids = Tensor::empty({T, k}, DType::I32), w = Tensor::empty({T, k}, DType::F32);
    ops::moe_route(x, r, b, a, ids, w);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> lg(static_cast<size_t>(E));
      for (int64_t e = 0; e < E; ++e) {
        double s = b ? bias.data<float>()[e] : 0;
        for (int64_t h = 0; h < H; ++h) s += double(x.data<float>()[t * H + h]) * r.data<float>()[e * H + h];
        lg[size_t(e)] = s;
      }
      std::vector<int> order(static_cast<size_t>(E));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return lg[size_t(i)] > lg[size_t(j)]; });
      const double mx = lg[size_t(order[0])];
      double all = 0, top = 0;
      for (double v : lg) all += std::exp(v - mx);
      for (int64_t j = 0; j < k; ++j) top += std::exp(lg[size_t(order[size_t(j)])] - mx);
      for (int64_t j = 0; j < k; ++j) {
        const double p = std::exp(lg[size_t(order[size_t(j)])] - mx);
        const double want = variant == 1 ? p / all : p / top;  // renormalised = softmax over the k
        EXPECT_EQ(ids.data<int32_t>()[t * k + j], order[size_t(j)]) << "variant " << variant << " token " << t;
        EXPECT_NEAR(w.data<float>()[t * k + j], want, 1e-6) << "variant " << variant << " token " << t;
      }
    }
  }
  // equal logits: the lower expert first
  Tensor zx = Tensor::zeros({1, H}, DType::F32);
  ops::MoeRouteArgs a;
  a.top_k = 3;
  Tensor ids = Tensor::empty({1, 3}, DType::I32), w = Tensor::empty({1, 3}, DType::F32);
  ops::moe_route(zx, r, nullptr, a, ids, w);
  EXPECT_EQ(std::vector<int32_t>(ids.data<int32_t>(), ids.data<int32_t>() + 3), (std::vector<int32_t>{0, 1, 2}));
  EXPECT_NEAR(w.data<float>()[0], 1.0 / 3, 1e-7);
}

TEST(CpuMoe, ExpertsMatchNaiveForEveryLayout) {
  // bf16, f32 and MXFP4 experts; gate|up halves and interleaved rows; SiLU and the clamped
  // SwiGLU (gate_up scaled so the clamp bites); routings with an idle expert, and all tokens on
  // one expert.
  const int64_t T = 7, H = 64, I = 32, E = 5;
  Tensor x = test::random_tensor({T, H}, 11);
  for (int fmt = 0; fmt < 3; ++fmt)
    for (bool inter : {false, true})
      for (auto act : {ops::MoeActivation::Silu, ops::MoeActivation::SwigluClamp})
        for (int routing = 0; routing < 2; ++routing) {
          const int64_t k = routing == 0 ? 2 : 3;
          std::vector<int32_t> ids;
          std::vector<float> w;
          std::mt19937 g(uint32_t(fmt * 100 + routing));
          for (int64_t t = 0; t < T; ++t) {
            // expert 2 never gets a token; routing 1: every token's first expert is 4
            std::vector<int32_t> pick = routing == 0 ? std::vector<int32_t>{0, 1, 3, 4} : std::vector<int32_t>{0, 1, 3};
            std::shuffle(pick.begin(), pick.end(), g);
            if (routing == 1) pick.insert(pick.begin(), 4);
            for (int64_t j = 0; j < k; ++j) {
              ids.push_back(pick[size_t(j)]);
              w.push_back(0.2f + 0.1f * float(j + t % 3));
            }
          }
          if (routing == 1)  // every token on expert 4 (first slot)
            for (int64_t t = 0; t < T; ++t) ASSERT_EQ(ids[size_t(t * k)], 4);
          ops::MoeExperts ex;
          Tensor gu_f, down_f;
          if (fmt == 2) {
            Mxfp4 a = random_mxfp4(E, 2 * I, H, 21, 124, 126), b = random_mxfp4(E, H, I, 22, 122, 124);
            ex.gate_up.w = a.blocks;
            ex.gate_up.scales = a.scales;
            ex.down.w = b.blocks;
            ex.down.scales = b.scales;
            gu_f = a.values;
            down_f = b.values;
          } else {
            gu_f = test::random_tensor({E, 2 * I, H}, 31, act == ops::MoeActivation::Silu ? 0.2f : 1.5f);
            down_f = test::random_tensor({E, H, I}, 32, 0.2f);
            if (fmt == 1) {  // as bf16 weights hold them
              gu_f = gu_f.to(DType::BF16).to(DType::F32);
              down_f = down_f.to(DType::BF16).to(DType::F32);
            }
            ex.gate_up.w = fmt == 1 ? gu_f.to(DType::BF16) : gu_f;
            ex.down.w = fmt == 1 ? down_f.to(DType::BF16) : down_f;
          }
          Tensor gb, db;
          if (act == ops::MoeActivation::SwigluClamp) {
            gb = test::random_tensor({E, 2 * I}, 41);
            db = test::random_tensor({E, H}, 42);
            ex.gate_up.bias = gb;
            ex.down.bias = db;
          }
          ex.interleaved = inter;
          ex.activation = act;
          Tensor out = Tensor::empty({T, H}, DType::F32);
          ops::moe_experts(x, from(ids, {T, k}), from(w, {T, k}), ex, out);
          Tensor ref = naive_moe(x, ids, w, k, gu_f, gb, down_f, db, inter, act);
          EXPECT_LT(test::rel_error(out, ref), 2e-6)
              << "format " << fmt << " interleaved " << inter << " act " << int(act) << " routing " << routing;
        }
}

TEST(CpuMoe, TokenResultsDoNotDependOnTheBatch) {
  const int64_t T = 6, H = 64, I = 32, E = 4, k = 2;
  Tensor x = test::random_tensor({T, H}, 3);
  ops::MoeExperts ex;
  ex.gate_up.w = test::random_tensor({E, 2 * I, H}, 4, 0.3f).to(DType::BF16);
  ex.down.w = test::random_tensor({E, H, I}, 5, 0.3f).to(DType::BF16);
  std::vector<int32_t> ids = {0, 1, 1, 2, 3, 0, 2, 3, 1, 3, 0, 2};
  std::vector<float> w = {0.6f, 0.4f, 0.7f, 0.3f, 0.5f, 0.5f, 0.9f, 0.1f, 0.2f, 0.8f, 0.55f, 0.45f};
  Tensor all = Tensor::empty({T, H}, DType::F32);
  ops::moe_experts(x, from(ids, {T, k}), from(w, {T, k}), ex, all);
  for (int64_t t = 0; t < T; ++t) {
    Tensor one = Tensor::empty({1, H}, DType::F32);
    ops::moe_experts(x.narrow(0, t, 1), from(std::vector<int32_t>{ids[size_t(2 * t)], ids[size_t(2 * t + 1)]}, {1, k}),
                     from(std::vector<float>{w[size_t(2 * t)], w[size_t(2 * t + 1)]}, {1, k}), ex, one);
    for (int64_t h = 0; h < H; ++h) ASSERT_EQ(one.data<float>()[h], all.data<float>()[t * H + h]) << t;
  }
}

TEST(CpuMoe, BadArgumentsAreNamed) {
  ops::MoeExperts ex;
  ex.gate_up.w = Tensor::zeros({2, 8, 16}, DType::F32);
  ex.down.w = Tensor::zeros({2, 16, 4}, DType::F32);
  Tensor x = Tensor::zeros({1, 16}, DType::F32), out = Tensor::empty({1, 16}, DType::F32);
  try {
    ops::moe_experts(x, from(std::vector<int32_t>{2}, {1, 1}), from(std::vector<float>{1}, {1, 1}), ex, out);
    ADD_FAILURE() << "expert id 2 of 2 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expert id 2"), std::string::npos) << e.what();
  }
  ex.down.w = Tensor::zeros({2, 16, 5}, DType::F32);
  EXPECT_THROW(ops::moe_experts(x, from(std::vector<int32_t>{1}, {1, 1}), from(std::vector<float>{1}, {1, 1}), ex, out),
               Error);
  ops::MoeRouteArgs a;
  a.top_k = 3;
  Tensor ids = Tensor::empty({1, 3}, DType::I32), w = Tensor::empty({1, 3}, DType::F32);
  EXPECT_THROW(ops::moe_route(x, Tensor::zeros({2, 16}, DType::F32), nullptr, a, ids, w), Error);
}

TEST(CpuOps, AttentionSinksJoinTheSoftmax) {
  // Paged attention with sinks (and a window) against softmax([scores, sink]) without the sink's column.
  const int64_t nh = 4, nkv = 2, hd = 16, bs = 4, L = 11, window = 5;
  Tensor q = test::random_tensor({L, nh, hd}, 7), kc = test::random_tensor({4, bs, nkv, hd}, 8),
         vc = test::random_tensor({4, bs, nkv, hd}, 9);
  Tensor sinks = from(std::vector<float>{-1.0f, 0.5f, 2.0f, 4.0f}, {nh});
  std::vector<int32_t> table = {2, 0, 3, 1};
  Tensor bt = from(table, {1, 4}), cu = from(std::vector<int32_t>{0, int32_t(L)}, {2}),
         lens = from(std::vector<int32_t>{int32_t(L)}, {1});
  for (int64_t win : {int64_t(0), window}) {
    Tensor out = Tensor::empty({L, nh * hd}, DType::F32);
    ops::AttentionArgs a;
    a.scale = 0.25f;
    a.sliding_window = win;
    a.sinks = &sinks;
    ops::attention(q, kc, vc, bt, cu, lens, L, a, out);
    for (int64_t t = 0; t < L; ++t)
      for (int64_t h = 0; h < nh; ++h) {
        auto kv = [&](const Tensor& c, int64_t j, int64_t d) {
          return double(c.data<float>()[((table[size_t(j / bs)] * bs + j % bs) * nkv + h / 2) * hd + d]);
        };
        std::vector<double> s;
        const int64_t lo = win ? std::max<int64_t>(0, t - win + 1) : 0;
        for (int64_t j = lo; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += double(q.data<float>()[(t * nh + h) * hd + i]) * kv(kc, j, i);
          s.push_back(d * 0.25);
        }
        double mx = sinks.data<float>()[h];
        for (double v : s) mx = std::max(mx, v);
        double den = std::exp(sinks.data<float>()[h] - mx);
        for (double v : s) den += std::exp(v - mx);
        for (int64_t i = 0; i < hd; ++i) {
          double o = 0;
          for (int64_t j = lo; j <= t; ++j) o += std::exp(s[size_t(j - lo)] - mx) / den * kv(vc, j, i);
          EXPECT_NEAR(out.data<float>()[t * nh * hd + h * hd + i], o, 1e-5) << t << " " << h;
        }
      }
  }
}
