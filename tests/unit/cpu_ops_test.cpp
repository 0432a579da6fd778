// CPU ops against direct (naive, double precision) formulas on random inputs.
#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "ops/ops.h"
#include "test_util.h"

using namespace tritium;

namespace {
double naive_dot(const Tensor& x, int64_t m, const Tensor& w, int64_t n) {
  double s = 0;
  for (int64_t k = 0; k < x.size(1); ++k) s += double(load_as_float(x, m * x.size(1) + k)) * load_as_float(w, n * w.size(1) + k);
  return s;
}
}  // namespace

TEST(CpuOps, LinearAllWeightDtypesAndStridedOut) {
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t M : {1, 3, 5, 70})
    for (int64_t K : {37, 64}) {  // 64: the vectorised decode path
      const int64_t N = 29;
      Tensor x = test::random_tensor({M, K}, uint64_t(10 + M + K));
      Tensor w = test::random_tensor({N, K}, 20 + M).to(dt);
      Tensor bias = test::random_tensor({N}, 30);
      Tensor big = Tensor::zeros({M, N + 8}, DType::F32);
      Tensor out = big.narrow(1, 4, N);
      ops::linear(x, w, &bias, out);
      Tensor ref = Tensor::empty({M, N}, DType::F32);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) ref.data<float>()[m * N + n] = float(naive_dot(x, m, w, n) + bias.data<float>()[n]);
      EXPECT_LT(test::rel_error(out.contiguous(), ref), 1e-6) << dtype_name(dt) << " M=" << M;
      EXPECT_EQ(big.data<float>()[0], 0.0f);  // columns outside the slice untouched
      EXPECT_EQ(big.data<float>()[N + 7], 0.0f);
    }
  }
}

// Greedy lm_head: each row's argmax of x @ w^T, the lowest id on ties. Small integers make
// every logit exact and ties common.
TEST(CpuOps, LinearArgmaxIsTheFirstMaximum) {
  ASSERT_TRUE(ops::has_linear_argmax(Device::cpu()));
  for (int64_t M : {1, 7}) {
    const int64_t N = 300, K = 16;
    Tensor x = Tensor::empty({M, K}, DType::F32), w = Tensor::empty({N, K}, DType::F32);
    for (int64_t i = 0; i < M * K; ++i) x.data<float>()[i] = float(int64_t(i * 7919 % 5) - 2);
    for (int64_t i = 0; i < N * K; ++i) w.data<float>()[i] = float(int64_t(i * 104729 % 3) - 1);
    Tensor ids = Tensor::empty({M}, DType::I32);
    for (int64_t m = 0; m < M; ++m) ids.data<int32_t>()[m] = -1;
    ops::linear_argmax(x, w, ids);
    int tied_rows = 0;
    for (int64_t m = 0; m < M; ++m) {
      double best = -1e30;
      int32_t first = -1, at_max = 0;
      for (int64_t n = 0; n < N; ++n) {
        double v = naive_dot(x, m, w, n);
        at_max = v > best ? 1 : at_max + (v == best);
        if (v > best) best = v, first = int32_t(n);
      }
      EXPECT_EQ(ids.data<int32_t>()[m], first) << "row " << m;
      tied_rows += at_max > 1;
    }
    EXPECT_GT(tied_rows, 0) << "some row's maximum should be tied";
  }
}

TEST(CpuOps, RmsNormAndResidual) {
  Tensor x = test::random_tensor({5, 48}, 1), w = test::random_tensor({48}, 2);
  Tensor res = test::random_tensor({5, 48}, 3), res0 = res.contiguous();
  res0 = Tensor::empty(res.shape(), DType::F32);
  res0.copy_from(res);
  Tensor out = Tensor::empty({5, 48}, DType::F32);
  ops::add_rms_norm(x, res, w, 1e-5f, out);
  for (int64_t r = 0; r < 5; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < 48; ++i) {
      double v = double(res0.data<float>()[r * 48 + i]) + x.data<float>()[r * 48 + i];
      EXPECT_NEAR(res.data<float>()[r * 48 + i], v, 1e-6);
      ss += v * v;
    }
    double inv = 1.0 / std::sqrt(ss / 48 + 1e-5);
    for (int64_t i = 0; i < 48; ++i)
      EXPECT_NEAR(out.data<float>()[r * 48 + i], res.data<float>()[r * 48 + i] * inv * w.data<float>()[i], 1e-5);
  }
}

TEST(CpuOps, RopeLayoutsAndKvWrite) {
  const int64_t T = 3, nh = 2, nkv = 1, hd = 8, rot = 6;
  for (bool neox : {true, false}) {
    Tensor qkv = test::random_tensor({T, (nh + 2 * nkv) * hd}, neox ? 5 : 6);
    Tensor orig = Tensor::empty(qkv.shape(), DType::F32);
    orig.copy_from(qkv);
    Tensor cs = test::random_tensor({10, rot}, 7);
    std::vector<int32_t> pos = {4, 0, 9}, slots = {5, -1, 2};
    Tensor p = Tensor::from_blob(pos.data(), {T}, DType::I32, Device::cpu(), nullptr);
    Tensor s = Tensor::from_blob(slots.data(), {T}, DType::I32, Device::cpu(), nullptr);
    Tensor kc = Tensor::zeros({2, 4, nkv, hd}, DType::F32), vc = Tensor::zeros({2, 4, nkv, hd}, DType::F32);
    ops::rope_write_kv(qkv, cs, p, s, kc, vc, {nh, nkv, hd, rot, neox});
    for (int64_t t = 0; t < T; ++t) {
      const float* c = cs.data<float>() + pos[size_t(t)] * rot;
      for (int64_t h = 0; h < nh + nkv; ++h) {
        const float* o = orig.data<float>() + t * qkv.size(1) + h * hd;
        const float* r = qkv.data<float>() + t * qkv.size(1) + h * hd;
        for (int64_t i = 0; i < rot / 2; ++i) {
          int64_t a = neox ? i : 2 * i, b = neox ? i + rot / 2 : 2 * i + 1;
          EXPECT_NEAR(r[a], o[a] * c[i] - o[b] * c[rot / 2 + i], 1e-6);
          EXPECT_NEAR(r[b], o[b] * c[i] + o[a] * c[rot / 2 + i], 1e-6);
        }
        for (int64_t i = rot; i < hd; ++i) EXPECT_EQ(r[i], o[i]);  // past the rotary dims: untouched
      }
      if (slots[size_t(t)] < 0) continue;
      for (int64_t i = 0; i < hd; ++i) {
        EXPECT_EQ(kc.data<float>()[slots[size_t(t)] * hd + i], qkv.data<float>()[t * qkv.size(1) + nh * hd + i]);
        EXPECT_EQ(vc.data<float>()[slots[size_t(t)] * hd + i], orig.data<float>()[t * qkv.size(1) + (nh + 1) * hd + i]);
      }
    }
  }
}

TEST(CpuOps, PagedAttentionMatchesDenseReference) {
  // Two sequences: one prefill chunk of 5 queries after 3 cached tokens, one decode.
  const int64_t nh = 4, nkv = 2, hd = 8, bs = 4, nblocks = 8;
  std::vector<int32_t> lens = {8, 6}, cu = {0, 5, 6};
  std::vector<int32_t> tables = {3, 0, 5, 1, 2, 7, 4, 6};  // [2, 4]
  Tensor kc = test::random_tensor({nblocks, bs, nkv, hd}, 1), vc = test::random_tensor({nblocks, bs, nkv, hd}, 2);
  Tensor q = test::random_tensor({6, nh, hd}, 3);
  Tensor L = Tensor::from_blob(lens.data(), {2}, DType::I32, Device::cpu(), nullptr);
  Tensor C = Tensor::from_blob(cu.data(), {3}, DType::I32, Device::cpu(), nullptr);
  Tensor B = Tensor::from_blob(tables.data(), {2, 4}, DType::I32, Device::cpu(), nullptr);
  for (int64_t window : {0, 3}) {
    Tensor out = Tensor::empty({6, nh * hd}, DType::F32);
    ops::attention(q, kc, vc, B, C, L, 5, {0.35f, window}, out);
    for (int64_t t = 0; t < 6; ++t) {
      int64_t s = t < 5 ? 0 : 1;
      int64_t pos = lens[size_t(s)] - (cu[size_t(s) + 1] - cu[size_t(s)]) + (t - cu[size_t(s)]);
      for (int64_t h = 0; h < nh; ++h) {
        int64_t kvh = h / (nh / nkv);
        std::vector<double> sc;
        double mx = -1e30;
        int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        for (int64_t j = lo; j <= pos; ++j) {
          int64_t slot = tables[size_t(s * 4 + j / bs)] * bs + j % bs;
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += double(q.data<float>()[(t * nh + h) * hd + i]) * kc.data<float>()[(slot * nkv + kvh) * hd + i];
          sc.push_back(d * 0.35);
          mx = std::max(mx, d * 0.35);
        }
        double sum = 0;
        for (auto& v : sc) sum += (v = std::exp(v - mx));
        for (int64_t i = 0; i < hd; ++i) {
          double acc = 0;
          for (int64_t j = lo; j <= pos; ++j) {
            int64_t slot = tables[size_t(s * 4 + j / bs)] * bs + j % bs;
            acc += sc[size_t(j - lo)] / sum * vc.data<float>()[(slot * nkv + kvh) * hd + i];
          }
          EXPECT_NEAR(out.data<float>()[t * nh * hd + h * hd + i], acc, 1e-5) << "t=" << t << " h=" << h;
        }
      }
    }
  }
}

TEST(CpuOps, Fp8KvCacheHoldsRoundedValues) {
  // rope_write_kv into fp8 e4m3 caches stores what it would store in F32 ones, rounded to
  // nearest even and saturated; attention over them equals attention over F32 caches holding
  // the same rounded values.
  const int64_t T = 3, nh = 4, nkv = 2, hd = 8, bs = 4, nblocks = 4;
  Tensor qkv = test::random_tensor({T, (nh + 2 * nkv) * hd}, 11);
  qkv.data<float>()[nh * hd] = 1000.f;  // a key element past fp8's range
  Tensor qkv2 = Tensor::empty(qkv.shape(), DType::F32);
  qkv2.copy_from(qkv);
  Tensor cs = test::random_tensor({10, hd}, 12);
  std::vector<int32_t> pos = {1, 2, 3}, slots = {9, 2, -1};
  Tensor p = Tensor::from_blob(pos.data(), {T}, DType::I32, Device::cpu(), nullptr);
  Tensor s = Tensor::from_blob(slots.data(), {T}, DType::I32, Device::cpu(), nullptr);
  Tensor kc = Tensor::zeros({nblocks, bs, nkv, hd}, DType::F32), vc = Tensor::zeros({nblocks, bs, nkv, hd}, DType::F32);
  Tensor k8 = Tensor::zeros({nblocks, bs, nkv, hd}, DType::F8E4M3), v8 = Tensor::zeros({nblocks, bs, nkv, hd}, DType::F8E4M3);
  ops::rope_write_kv(qkv, cs, p, s, kc, vc, {nh, nkv, hd, hd, true});
  ops::rope_write_kv(qkv2, cs, p, s, k8, v8, {nh, nkv, hd, hd, true});
  EXPECT_EQ(test::rel_error(qkv2, qkv), 0.0);  // q rotated the same
  for (int64_t i = 0; i < kc.numel(); ++i) {
    EXPECT_EQ(k8.data<uint8_t>()[i], f32_to_fp8e4m3(kc.data<float>()[i])) << i;
    EXPECT_EQ(v8.data<uint8_t>()[i], f32_to_fp8e4m3(vc.data<float>()[i])) << i;
  }
  EXPECT_GT(std::fabs(kc.data<float>()[9 * nkv * hd]), 448.f);
  EXPECT_EQ(std::fabs(k8.to(DType::F32).data<float>()[9 * nkv * hd]), 448.f);

  Tensor kr = k8.to(DType::F32), vr = v8.to(DType::F32);
  for (int64_t i = 0; i < kr.numel(); ++i) EXPECT_FALSE(std::isnan(kr.data<float>()[i]));
  std::vector<int32_t> lens = {7, 5}, cu = {0, 4, 5}, tables = {2, 0, 3, 1};
  Tensor L = Tensor::from_blob(lens.data(), {2}, DType::I32, Device::cpu(), nullptr);
  Tensor C = Tensor::from_blob(cu.data(), {3}, DType::I32, Device::cpu(), nullptr);
  Tensor B = Tensor::from_blob(tables.data(), {2, 2}, DType::I32, Device::cpu(), nullptr);
  Tensor q = test::random_tensor({5, nh, hd}, 13);
  for (int64_t window : {0, 3}) {
    Tensor out8 = Tensor::empty({5, nh * hd}, DType::F32), outr = Tensor::empty({5, nh * hd}, DType::F32);
    ops::attention(q, k8, v8, B, C, L, 4, {0.35f, window}, out8);
    ops::attention(q, kr, vr, B, C, L, 4, {0.35f, window}, outr);
    EXPECT_EQ(test::rel_error(out8, outr), 0.0) << "window " << window;
  }
  Tensor out = Tensor::empty({5, nh * hd}, DType::F32);
  EXPECT_THROW(ops::attention(q, k8, vc, B, C, L, 4, {0.35f, 0}, out), Error);  // mixed K/V dtypes
}

TEST(CpuOps, EmbeddingRejectsOutOfVocab) {
  Tensor table = test::random_tensor({10, 4}, 1).to(DType::BF16);
  std::vector<int32_t> ids = {3, 10};
  Tensor I = Tensor::from_blob(ids.data(), {2}, DType::I32, Device::cpu(), nullptr);
  Tensor out = Tensor::empty({2, 4}, DType::F32);
  EXPECT_THROW(ops::embedding(I, table, out), Error);
  ids[1] = 9;
  ops::embedding(I, table, out);
  EXPECT_EQ(out.data<float>()[4], load_as_float(table, 36));
}

TEST(CpuOps, Fp8QuantizeRowsAndLinear) {
  // quantize_fp8_rows: scale = max|row| / 448 (1 for zeros), codes = row / scale rounded to
  // nearest even; linear_fp8 = the products of those rounded values times both scales (+ bias),
  // checked against a double-precision sum over the decoded codes, and close to the f32 linear.
  const int64_t M = 6, K = 80, N = 21;
  Tensor x = test::random_tensor({M, K}, 41);
  for (int64_t k = 0; k < K; ++k) {
    x.data<float>()[1 * K + k] = 0.f;              // a row of zeros
    x.data<float>()[2 * K + k] *= 1e-3f;          // a small row
    x.data<float>()[3 * K + k] *= 5e3f;           // a large one
  }
  Tensor w = test::random_tensor({N, K}, 42);
  Tensor bias = test::random_tensor({N}, 43);
  Tensor xq = Tensor::empty({M, K}, DType::F8E4M3), xs = Tensor::empty({M}, DType::F32);
  Tensor wq = Tensor::empty({N, K}, DType::F8E4M3), wsc = Tensor::empty({N}, DType::F32);
  ops::quantize_fp8_rows(x, xq, xs);
  ops::quantize_fp8_rows(w, wq, wsc);
  for (int64_t m = 0; m < M; ++m) {
    float amax = 0;
    for (int64_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x.data<float>()[m * K + k]));
    const float s = amax > 0 ? amax / 448.f : 1.f;
    EXPECT_EQ(xs.data<float>()[m], s) << m;
    int at_max = 0;
    for (int64_t k = 0; k < K; ++k) {
      const uint8_t c = xq.data<uint8_t>()[m * K + k];
      EXPECT_EQ(c, f32_to_fp8e4m3(x.data<float>()[m * K + k] / s)) << m << "," << k;
      at_max += std::fabs(fp8e4m3_to_f32(c)) == 448.f;
    }
    EXPECT_EQ(at_max > 0, m != 1) << "the row's largest element should land on 448";
  }
  Tensor big = Tensor::zeros({M, N + 4}, DType::F32);
  Tensor out = big.narrow(1, 2, N);
  ops::linear_fp8(xq, xs, wq, wsc, &bias, out);
  Tensor ref = Tensor::empty({M, N}, DType::F32), exact = Tensor::empty({M, N}, DType::F32);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += double(fp8e4m3_to_f32(xq.data<uint8_t>()[m * K + k])) * fp8e4m3_to_f32(wq.data<uint8_t>()[n * K + k]);
      ref.data<float>()[m * N + n] = float(s * xs.data<float>()[m] * wsc.data<float>()[n] + bias.data<float>()[n]);
      exact.data<float>()[m * N + n] = float(naive_dot(x, m, w, n) + bias.data<float>()[n]);
    }
  EXPECT_LT(test::rel_error(out.contiguous(), ref), 1e-6);
  const double err = test::rel_error(out.contiguous(), exact);
  EXPECT_LT(err, 0.08) << "fp8 products far from the f32 linear";
  EXPECT_GT(err, 1e-4) << "no rounding at all: not fp8";
  EXPECT_EQ(big.data<float>()[0], 0.0f);
  EXPECT_EQ(big.data<float>()[N + 3], 0.0f);
  Tensor wrong = Tensor::empty({N, K}, DType::F32);
  EXPECT_THROW(ops::linear_fp8(xq, xs, wrong, wsc, nullptr, out), Error);
  EXPECT_THROW(ops::linear_fp8(xq, wsc, wq, wsc, nullptr, out), Error);  // scales of the wrong length
}
