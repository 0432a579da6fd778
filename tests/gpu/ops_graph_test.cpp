// The CUDA ops are graph-safe: one decode step of a layer (norm, qkv GEMV, RoPE + KV write,
// split-K decode attention with its workspaces, o-proj with split-K) captured into a CUDA
// graph and replayed gives bit-identical results to running the ops eagerly.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/graph.h"
#include "backends/cuda/stream.h"
#include "gpu_util.h"
#include "ops/ops.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

TEST(CudaOpsGraph, DecodeStepReplayIsBitIdenticalToEager) {
  TRITIUM_REQUIRE_GPU();
  // Pick a (head_dim, block size) the pack has decode kernels for.
  int64_t hd = 0, bs = 0;
  for (const auto* v : cuda::detail::Catalog::for_device(0).find("decode_attention_partial_kernel", "q_ptr", DType::BF16)) {
    hd = v->cx("HEAD_DIM");
    bs = v->cx("KV_BLOCK_SIZE");
    if (hd == 128 || hd == 64) break;
  }
  ASSERT_GT(hd, 0) << "no decode attention kernels in the pack";
  const DType dt = DType::BF16;
  const int64_t S = 4, H = 512, nh = 8, nkv = 2, qkv_dim = (nh + 2 * nkv) * hd, max_blocks = 8;
  const int64_t num_blocks = S * max_blocks, max_pos = 256;
  const float ws = std::sqrt(3.0f / float(H)), wo = std::sqrt(3.0f / float(nh * hd));
  Tensor x = device_as(rand_vals(size_t(S * H), -1, 1), {S, H}, dt);
  Tensor norm_w = device_as(rand_vals(size_t(H), 0.5f, 1.5f), {H}, dt);
  Tensor w_qkv = device_as(rand_vals(size_t(qkv_dim * H), -ws, ws), {qkv_dim, H}, dt);
  Tensor w_o = device_as(rand_vals(size_t(H * nh * hd), -wo, wo), {H, nh * hd}, dt);
  Tensor k_cache = device_as(rand_vals(size_t(num_blocks * bs * nkv * hd), -1, 1), {num_blocks, bs, nkv, hd}, dt);
  Tensor v_cache = device_as(rand_vals(size_t(num_blocks * bs * nkv * hd), -1, 1), {num_blocks, bs, nkv, hd}, dt);
  Tensor cos_sin = host_f32(rope_table(max_pos, hd), {max_pos, hd}).to(Device::cuda(0));
  std::vector<int32_t> lens, pos, slots, bt, cu{0};
  for (int64_t s = 0; s < S; ++s) {
    int64_t len = rand_int(1, max_blocks * bs);
    lens.push_back(int32_t(len));
    pos.push_back(int32_t(len - 1));
    for (int64_t j = 0; j < max_blocks; ++j) bt.push_back(int32_t(s * max_blocks + j));
    slots.push_back(int32_t((s * max_blocks + (len - 1) / bs) * bs + (len - 1) % bs));
    cu.push_back(int32_t(s + 1));
  }
  Tensor d_lens = device_i32(lens, {S}), d_pos = device_i32(pos, {S}), d_slots = device_i32(slots, {S});
  Tensor d_bt = device_i32(bt, {S, max_blocks}), d_cu = device_i32(cu, {S + 1});
  Tensor normed = Tensor::empty({S, H}, dt, Device::cuda(0)), qkv = Tensor::empty({S, qkv_dim}, dt, Device::cuda(0));
  Tensor attn = Tensor::empty({S, nh * hd}, dt, Device::cuda(0));

  auto step = [&](Tensor& out) {
    ops::rms_norm(x, norm_w, 1e-5f, normed);
    ops::linear(normed, w_qkv, nullptr, qkv);
    ops::rope_write_kv(qkv, cos_sin, d_pos, d_slots, k_cache, v_cache, ops::RopeArgs{nh, nkv, hd, hd, true});
    Tensor q3 = qkv.narrow(1, 0, nh * hd).view_strided({S, nh, hd}, {qkv_dim, hd, 1});
    ops::attention(q3, k_cache, v_cache, d_bt, d_cu, d_lens, 1, ops::AttentionArgs{float(1.0 / std::sqrt(double(hd))), 0},
                   attn);
    ops::linear(attn, w_o, nullptr, out);
  };

  cuda::Stream stream(0);
  Tensor eager = poisoned({S, H}, dt), replayed = poisoned({S, H}, dt);
  {
    cuda::StreamGuard guard(0, stream.handle());
    step(eager);  // also loads every module before the capture
  }
  stream.synchronize();
  cuda::CudaGraph g = cuda::CudaGraph::capture(0, stream.handle(), [&] { step(replayed); });
  ASSERT_TRUE(g.valid());
  g.replay(stream.handle());
  g.replay(stream.handle());
  stream.synchronize();
  Tensor a = download(eager), b = download(replayed);
  ASSERT_EQ(a.numel(), b.numel());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << "graph replay differs from the eager run";
  EXPECT_TRUE(std::isfinite(rel_err(a, b))) << "NaN in the output";
}

}  // namespace

#else

TEST(CudaOpsGraph, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
