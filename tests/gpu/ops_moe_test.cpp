// CUDA mixture-of-experts ops against the CPU reference on random inputs: the router (both
// routing kinds, with and without bias; the same experts where the k-th choice is clear of the
// next, the same weights), and the experts over random routings, routings that leave experts
// without tokens and routings that send every token to one expert, with bf16 and MXFP4 weights,
// both activations, decode-sized (16-slot blocks) and prefill-sized (64-slot blocks) batches.
// Outputs are poisoned first. The GPU stores the intermediate activations in bf16: 1e-2 relative.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <algorithm>
#include <numeric>
#include <vector>

#include "gpu_util.h"
#include "ops/moe.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

class CudaMoe : public ::testing::Test {
 protected:
  void SetUp() override { TRITIUM_REQUIRE_GPU(); }
};

TEST_F(CudaMoe, RouteMatchesCpu) {
  struct Case {
    int64_t T, E, k;
    ops::MoeRouting kind;
    bool renorm, bias;
  };
  for (const Case& c : {Case{5, 8, 2, ops::MoeRouting::SoftmaxTopK, true, false},
                        Case{33, 128, 8, ops::MoeRouting::SoftmaxTopK, false, false},
                        Case{17, 32, 4, ops::MoeRouting::TopKSoftmax, false, true},
                        Case{9, 128, 4, ops::MoeRouting::TopKSoftmax, false, true}}) {
    const int64_t H = 256;
    auto x = rand_vals(size_t(c.T * H), -1, 1), w = rand_vals(size_t(c.E * H), -0.2f, 0.2f),
         b = rand_vals(size_t(c.E), -1, 1);
    ops::MoeRouteArgs a;
    a.top_k = c.k;
    a.kind = c.kind;
    a.renormalize = c.renorm;
    Tensor xb = device_as(x, {c.T, H}, DType::BF16), wb = device_as(w, {c.E, H}, DType::BF16),
           bb = device_as(b, {c.E}, DType::BF16);
    Tensor ids = poisoned({c.T, c.k}, DType::I32), wts = poisoned({c.T, c.k}, DType::F32);
    ops::moe_route(xb, wb, c.bias ? &bb : nullptr, a, ids, wts);
    Tensor xh = host_f32(x, {c.T, H}), wh = host_f32(w, {c.E, H}), bh = host_f32(b, {c.E});
    Tensor hid = Tensor::empty({c.T, c.k}, DType::I32), hw = Tensor::empty({c.T, c.k}, DType::F32);
    ops::moe_route(xh, wh, c.bias ? &bh : nullptr, a, hid, hw);
    // how clear the k-th choice is: from the CPU's logits
    Tensor logits = Tensor::empty({c.T, c.E}, DType::F32);
    ops::linear(xh, wh, c.bias ? &bh : nullptr, logits);
    cuda::synchronize(0);
    Tensor gid = ids.to(Device::cpu()), gw = wts.to(Device::cpu());
    int decisive = 0;
    for (int64_t t = 0; t < c.T; ++t) {
      std::vector<float> l(logits.data<float>() + t * c.E, logits.data<float>() + (t + 1) * c.E);
      std::sort(l.rbegin(), l.rend());
      if (l[size_t(c.k - 1)] - l[size_t(c.k)] < 1e-2f) continue;
      ++decisive;
      for (int64_t j = 0; j < c.k; ++j) {
        EXPECT_EQ(gid.data<int32_t>()[t * c.k + j], hid.data<int32_t>()[t * c.k + j]) << "token " << t << " slot " << j;
        EXPECT_NEAR(gw.data<float>()[t * c.k + j], hw.data<float>()[t * c.k + j], 1e-3) << "token " << t;
      }
    }
    EXPECT_GE(decisive, c.T / 2) << "too few decisive tokens to test";
  }
}

// Random MXFP4 blocks and scales around 1/sqrt(K)
void mxfp4(int64_t E, int64_t N, int64_t K, Tensor& blocks, Tensor& scales) {
  blocks = Tensor::empty({E, N, K / 32, 16}, DType::U8);
  scales = Tensor::empty({E, N, K / 32}, DType::U8);
  const int base = 127 - 2 - int(std::lround(std::log2(std::sqrt(double(K)))));
  for (int64_t i = 0; i < blocks.numel(); ++i) blocks.data<uint8_t>()[i] = uint8_t(rand_int(0, 255));
  for (int64_t i = 0; i < scales.numel(); ++i) scales.data<uint8_t>()[i] = uint8_t(base + rand_int(-2, 2));
}

enum class Routing { Random, SkipExperts, OneExpert };

TEST_F(CudaMoe, ExpertsMatchCpu) {
  for (bool mx : {false, true})
    for (Routing r : {Routing::Random, Routing::SkipExperts, Routing::OneExpert})
      for (int64_t T : {1, 7, 300}) {
        const int64_t E = 8, k = mx ? 4 : 2, H = 128, I = mx ? 96 : 80;
        SCOPED_TRACE(testing::Message() << (mx ? "mxfp4" : "bf16") << " routing " << int(r) << " T " << T);
        std::vector<int32_t> ids(size_t(T * k));
        std::vector<float> w(size_t(T * k));
        for (int64_t t = 0; t < T; ++t) {
          std::vector<int32_t> perm(static_cast<size_t>(E));
          std::iota(perm.begin(), perm.end(), 0);
          std::shuffle(perm.begin(), perm.end(), rng());
          if (r == Routing::SkipExperts) perm = {6, 1, 3, 4};  // experts 0, 2, 5, 7 get no tokens
          if (r == Routing::OneExpert) std::iter_swap(perm.begin(), std::find(perm.begin(), perm.end(), 5));
          for (int64_t j = 0; j < k; ++j) ids[size_t(t * k + j)] = perm[size_t(j)];
          for (int64_t j = 0; j < k; ++j) w[size_t(t * k + j)] = float(rand_int(1, 100)) / 100.f;
        }
        auto x = rand_vals(size_t(T * H), -1, 1);
        auto gub = rand_vals(size_t(E * 2 * I), -0.5f, 0.5f), dnb = rand_vals(size_t(E * H), -0.5f, 0.5f);
        ops::MoeExperts cpu, gpu;
        if (mx) {
          Tensor gb, gs, db, ds;
          mxfp4(E, 2 * I, H, gb, gs);
          mxfp4(E, H, I, db, ds);
          cpu.gate_up.w = gb, cpu.gate_up.scales = gs, cpu.down.w = db, cpu.down.scales = ds;
          gpu.gate_up.w = gb.to(Device::cuda(0)), gpu.gate_up.scales = gs.to(Device::cuda(0));
          gpu.down.w = db.to(Device::cuda(0)), gpu.down.scales = ds.to(Device::cuda(0));
          cpu.activation = gpu.activation = ops::MoeActivation::SwigluClamp;
          cpu.limit = gpu.limit = 1.0f;  // the clamp decides
        } else {
          auto gu = rand_vals(size_t(E * 2 * I * H), -0.1f, 0.1f), dn = rand_vals(size_t(E * H * I), -0.1f, 0.1f);
          cpu.gate_up.w = host_f32(gu, {E, 2 * I, H}), cpu.down.w = host_f32(dn, {E, H, I});
          gpu.gate_up.w = device_as(gu, {E, 2 * I, H}, DType::BF16), gpu.down.w = device_as(dn, {E, H, I}, DType::BF16);
        }
        cpu.gate_up.bias = host_f32(gub, {E, 2 * I}), cpu.down.bias = host_f32(dnb, {E, H});
        gpu.gate_up.bias = device_as(gub, {E, 2 * I}, DType::BF16), gpu.down.bias = device_as(dnb, {E, H}, DType::BF16);
        Tensor hid = Tensor::empty({T, k}, DType::I32);
        std::copy(ids.begin(), ids.end(), hid.data<int32_t>());
        Tensor hw = host_f32(w, {T, k}), ref = Tensor::empty({T, H}, DType::F32);
        ops::moe_experts(host_f32(x, {T, H}), hid, hw, cpu, ref);
        Tensor out = poisoned({T, H}, DType::BF16);
        ops::moe_experts(device_as(x, {T, H}, DType::BF16), device_i32(ids, {T, k}), hw.to(Device::cuda(0)), gpu, out);
        const double e = rel_err(download(out), ref);
        EXPECT_LE(e, 1e-2);
      }
}

TEST_F(CudaMoe, BadArgumentsAreNamed) {
  ops::MoeExperts ex;
  ex.gate_up.w = Tensor::empty({4, 64, 32}, DType::BF16, Device::cuda(0));
  ex.down.w = Tensor::empty({4, 32, 32}, DType::BF16, Device::cuda(0));
  ex.interleaved = true;
  Tensor x = Tensor::empty({2, 32}, DType::BF16, Device::cuda(0)), out = Tensor::empty({2, 32}, DType::BF16, Device::cuda(0));
  Tensor ids = Tensor::empty({2, 2}, DType::I32, Device::cuda(0)), w = Tensor::empty({2, 2}, DType::F32, Device::cuda(0));
  try {
    ops::moe_experts(x, ids, w, ex, out);
    ADD_FAILURE() << "interleaved rows accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("interleaved"), std::string::npos) << e.what();
  }
}

}  // namespace
#endif
