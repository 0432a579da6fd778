// CUDA RoPE + KV-cache write and paged attention against the CPU reference, on fresh random
// inputs: every (head_dim, rotary_dim, layout) RoPE variant and every (head_dim, block size)
// attention variant the pack has for this GPU; ragged batches (several sequences of different
// query and context lengths, chunked prefill over cached context, partial blocks, shuffled
// block tables), GQA ratios 1/4/8, sliding windows, the decode split-K path and long contexts.
// Unused cache slots hold NaN on the GPU side, so reading a key that is not visible fails.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "backends/cuda/cuda_ops_util.h"
#include "core/error.h"
#include "gpu_util.h"
#include "ops/ops.h"

using namespace tritium;
using namespace tritium::gputest;

namespace {

constexpr double kTol = 1e-2;

class CudaAttention : public ::testing::Test {
 protected:
  void SetUp() override { TRITIUM_REQUIRE_GPU(); }
};

// (a, b, c) constexpr triples of the pack's variants of one kernel, for bf16.
std::set<std::vector<int64_t>> variants_of(const char* kernel, const char* ptr, std::vector<const char*> keys) {
  std::set<std::vector<int64_t>> r;
  for (const auto* v : cuda::detail::Catalog::for_device(0).find(kernel, ptr, DType::BF16)) {
    std::vector<int64_t> k;
    for (const char* key : keys) k.push_back(v->cx(key));
    r.insert(k);
  }
  return r;
}

// ------------------------------------------------------------------ RoPE + KV write

void run_rope(int64_t hd, int64_t rot, bool neox, int64_t nh, int64_t nkv) {
  SCOPED_TRACE(::testing::Message() << "hd " << hd << " rot " << rot << (neox ? " neox" : " gptj") << " nh " << nh
                                    << " nkv " << nkv);
  const int64_t T = 45, block_size = 16, num_blocks = 8, slots_total = num_blocks * block_size, max_pos = 4096;
  const int64_t qkv_dim = (nh + 2 * nkv) * hd;
  auto x = rand_vals(size_t(T * qkv_dim), -2, 2);
  // A real RoPE table (theta 10000) at random positions.
  std::vector<float> cs(static_cast<size_t>(max_pos * rot));
  for (int64_t p = 0; p < max_pos; ++p)
    for (int64_t i = 0; i < rot / 2; ++i) {
      double f = double(p) * std::pow(10000.0, -2.0 * double(i) / double(rot));
      cs[size_t(p * rot + i)] = float(std::cos(f));
      cs[size_t(p * rot + rot / 2 + i)] = float(std::sin(f));
    }
  std::vector<int32_t> pos(static_cast<size_t>(T)), slots(static_cast<size_t>(slots_total));
  for (auto& p : pos) p = int32_t(rand_int(0, max_pos - 1));
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng());
  slots.resize(size_t(T));
  slots[3] = -1;  // skipped tokens (e.g. padding)
  slots[T - 1] = -1;

  Tensor dqkv = device_as(x, {T, qkv_dim}, DType::BF16);
  Tensor dk = poisoned({num_blocks, block_size, nkv, hd}, DType::BF16);
  Tensor dv = poisoned({num_blocks, block_size, nkv, hd}, DType::BF16);
  ops::RopeArgs ra{nh, nkv, hd, rot, neox};
  ops::rope_write_kv(dqkv, host_f32(cs, {max_pos, rot}).to(Device::cuda(0)), device_i32(pos, {T}),
                     device_i32(slots, {T}), dk, dv, ra);

  Tensor hqkv = host_f32(x, {T, qkv_dim});
  Tensor hk = Tensor::zeros({num_blocks, block_size, nkv, hd}, DType::F32);
  Tensor hv = Tensor::zeros({num_blocks, block_size, nkv, hd}, DType::F32);
  Tensor pos_h = Tensor::from_blob(pos.data(), {T}, DType::I32, Device::cpu(), nullptr);
  Tensor slots_h = Tensor::from_blob(slots.data(), {T}, DType::I32, Device::cpu(), nullptr);
  ops::rope_write_kv(hqkv, host_f32(cs, {max_pos, rot}), pos_h, slots_h, hk, hv, ra);

  Tensor got = download(dqkv), gk = download(dk), gv = download(dv);
  // q rotated in place
  EXPECT_LE(rel_err(got.narrow(1, 0, nh * hd).contiguous(), hqkv.narrow(1, 0, nh * hd).contiguous()), kTol);
  // v inside qkv untouched (k inside qkv is left unrotated by design: see cuda_ops.h)
  Tensor orig = host_f32(x, {T, qkv_dim});
  EXPECT_EQ(rel_err(got.narrow(1, (nh + nkv) * hd, nkv * hd).contiguous(),
                    orig.narrow(1, (nh + nkv) * hd, nkv * hd).contiguous()),
            0.0);
  // written slots match; the others kept their NaN poison
  std::set<int32_t> written(slots.begin(), slots.end());
  for (int64_t s = 0; s < slots_total; ++s) {
    Tensor gks = gk.view({slots_total, nkv * hd}).narrow(0, s, 1), gvs = gv.view({slots_total, nkv * hd}).narrow(0, s, 1);
    if (written.count(int32_t(s))) {
      Tensor hks = hk.view({slots_total, nkv * hd}).narrow(0, s, 1), hvs = hv.view({slots_total, nkv * hd}).narrow(0, s, 1);
      EXPECT_LE(rel_err(gks, hks), kTol) << "k at slot " << s;
      EXPECT_EQ(rel_err(gvs, hvs), 0.0) << "v at slot " << s;
    } else {
      bool nan = true;
      for (int64_t i = 0; i < nkv * hd; ++i) nan &= std::isnan(load_as_float(gks, i)) && std::isnan(load_as_float(gvs, i));
      EXPECT_TRUE(nan) << "slot " << s << " was written but no token maps to it";
    }
  }
}

TEST_F(CudaAttention, RopeWriteKvEveryVariant) {
  auto vars = variants_of("rope_kv_write_kernel", "qkv_ptr", {"HEAD_DIM", "ROT_DIM", "IS_NEOX"});
  ASSERT_FALSE(vars.empty()) << "no RoPE kernels in the pack for this GPU";
  for (const auto& v : vars) {
    std::printf("  rope variant: head_dim %lld rotary_dim %lld %s\n", (long long)v[0], (long long)v[1],
                v[2] ? "neox" : "gptj");
    run_rope(v[0], v[1], v[2] != 0, 8, 2);
    run_rope(v[0], v[1], v[2] != 0, 4, 4);
  }
}

// ------------------------------------------------------------------ attention

struct SeqSpec {
  int64_t q_len, ctx;  // ctx: context length after this step (the queries are its last q_len positions)
};

struct AttnCase {
  int64_t hd, block_size, nh, nkv, window;
  std::vector<SeqSpec> seqs;
  DType dt = DType::BF16;
  const char* what = "";
};

void run_attention(const AttnCase& c) {
  SCOPED_TRACE(::testing::Message() << c.what << ": hd " << c.hd << " bs " << c.block_size << " nh " << c.nh
                                    << " nkv " << c.nkv << " window " << c.window << " " << dtype_label(c.dt));
  const int64_t S = int64_t(c.seqs.size()), hd = c.hd, bs = c.block_size, nh = c.nh, nkv = c.nkv;
  std::vector<int32_t> cu{0}, lens;
  int64_t max_q = 0, max_blocks = 0, total_blocks = 0;
  for (auto& s : c.seqs) {
    cu.push_back(cu.back() + int32_t(s.q_len));
    lens.push_back(int32_t(s.ctx));
    max_q = std::max(max_q, s.q_len);
    max_blocks = std::max(max_blocks, (s.ctx + bs - 1) / bs);
    total_blocks += (s.ctx + bs - 1) / bs;
  }
  max_blocks += 2;  // padding columns, as a batch whose table is wider than its longest sequence
  const int64_t T = cu.back(), num_blocks = total_blocks + 3;
  // Shuffled physical blocks; padding entries point at real (unrelated) blocks.
  std::vector<int32_t> phys(static_cast<size_t>(num_blocks));
  std::iota(phys.begin(), phys.end(), 0);
  std::shuffle(phys.begin(), phys.end(), rng());
  std::vector<int32_t> bt(static_cast<size_t>(S * max_blocks));
  size_t next = 0;
  for (int64_t s = 0; s < S; ++s) {
    int64_t need = (c.seqs[size_t(s)].ctx + bs - 1) / bs;
    for (int64_t j = 0; j < max_blocks; ++j)
      bt[size_t(s * max_blocks + j)] = j < need ? phys[next++] : phys[size_t(rand_int(0, num_blocks - 1))];
  }
  // Caches: the sequences' tokens hold random values; every other slot is NaN on the GPU side
  // (0 on the CPU side, which never reads them).
  const int64_t row = nkv * hd, slots_total = num_blocks * bs;
  std::vector<float> kvals(size_t(slots_total * row), 0.f), vvals(size_t(slots_total * row), 0.f);
  std::vector<char> used(size_t(slots_total), 0);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t j = 0; j < c.seqs[size_t(s)].ctx; ++j) {
      int64_t slot = int64_t(bt[size_t(s * max_blocks + j / bs)]) * bs + j % bs;
      used[size_t(slot)] = 1;
      auto kr = rand_vals(size_t(row), -2, 2, c.dt), vr = rand_vals(size_t(row), -2, 2, c.dt);
      std::copy(kr.begin(), kr.end(), kvals.begin() + slot * row);
      std::copy(vr.begin(), vr.end(), vvals.begin() + slot * row);
    }
  auto to_dev_cache = [&](const std::vector<float>& vals) {
    std::vector<float> g = vals;
    for (int64_t sl = 0; sl < slots_total; ++sl)
      if (!used[size_t(sl)]) std::fill(g.begin() + sl * row, g.begin() + (sl + 1) * row, NAN);
    return device_as(g, {num_blocks, bs, nkv, hd}, c.dt);
  };
  Tensor dk = to_dev_cache(kvals), dv = to_dev_cache(vvals);
  Tensor hk = host_f32(kvals, {num_blocks, bs, nkv, hd}), hv = host_f32(vvals, {num_blocks, bs, nkv, hd});

  // q as a strided view of a qkv buffer, as in the forward pass.
  const int64_t qkv_dim = (nh + 2 * nkv) * hd;
  auto qv = rand_vals(size_t(T * qkv_dim), -2, 2, c.dt);
  Tensor dqkv = device_as(qv, {T, qkv_dim}, c.dt), hqkv = host_f32(qv, {T, qkv_dim});
  Tensor dq = dqkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
  Tensor hq = hqkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});

  ops::AttentionArgs aa{float(1.0 / std::sqrt(double(hd))), c.window};
  Tensor out = poisoned({T, nh * hd}, c.dt);
  ops::attention(dq, dk, dv, device_i32(bt, {S, max_blocks}), device_i32(cu, {S + 1}), device_i32(lens, {S}), max_q,
                 aa, out);
  Tensor ref = Tensor::empty({T, nh * hd}, DType::F32);
  Tensor bt_h = Tensor::from_blob(bt.data(), {S, max_blocks}, DType::I32, Device::cpu(), nullptr);
  Tensor cu_h = Tensor::from_blob(cu.data(), {S + 1}, DType::I32, Device::cpu(), nullptr);
  Tensor lens_h = Tensor::from_blob(lens.data(), {S}, DType::I32, Device::cpu(), nullptr);
  ops::attention(hq, hk, hv, bt_h, cu_h, lens_h, max_q, aa, ref);
  Tensor got = download(out);
  double e = rel_err(got, ref);
  EXPECT_LE(e, kTol);
  // Per sequence too, so one short sequence's error is not hidden by a long one.
  for (int64_t s = 0; s < S; ++s) {
    int64_t n = cu[size_t(s) + 1] - cu[size_t(s)];
    if (n == 0) continue;
    EXPECT_LE(rel_err(got.narrow(0, cu[size_t(s)], n).contiguous(), ref.narrow(0, cu[size_t(s)], n).contiguous()), kTol)
        << "sequence " << s << " (q_len " << n << ", ctx " << lens[size_t(s)] << ")";
  }
}

std::vector<std::pair<int64_t, int64_t>> attention_dims() {
  std::vector<std::pair<int64_t, int64_t>> r;
  for (const auto& v : variants_of("prefill_attention_kernel", "q_ptr", {"HEAD_DIM", "KV_BLOCK_SIZE"}))
    r.push_back({v[0], v[1]});
  return r;
}

const std::vector<std::pair<int64_t, int64_t>> kGqa = {{4, 4}, {8, 2}, {16, 2}};  // ratios 1, 4, 8

TEST_F(CudaAttention, PrefillRaggedBatches) {
  auto dims = attention_dims();
  ASSERT_FALSE(dims.empty()) << "no prefill attention kernels in the pack for this GPU";
  for (auto [hd, bs] : dims) {
    std::printf("  attention variant: head_dim %lld, block size %lld\n", (long long)hd, (long long)bs);
    for (auto [nh, nkv] : kGqa)
      for (int64_t window : {0, 24}) {
        // fresh prefill, a decode-like row, chunked prefill over cached context, partial blocks
        run_attention({hd, bs, nh, nkv, window, {{17, 17}, {1, 9}, {40, 63}, {5, 100}}, DType::BF16, "ragged"});
      }
  }
}

TEST_F(CudaAttention, PrefillLongChunks) {
  for (auto [hd, bs] : attention_dims()) {
    run_attention({hd, bs, 8, 2, 0, {{300, 377}}, DType::BF16, "long chunk"});
    run_attention({hd, bs, 8, 1, 100, {{300, 300}, {129, 1000}}, DType::BF16, "long chunk + window"});
  }
}

TEST_F(CudaAttention, DecodeBatches) {
  for (auto [hd, bs] : attention_dims()) {
    for (auto [nh, nkv] : kGqa)
      for (int64_t window : {0, 24})
        run_attention({hd, bs, nh, nkv, window, {{1, 1}, {1, 16}, {1, 17}, {1, 100}, {1, 333}}, DType::BF16, "decode"});
  }
}

TEST_F(CudaAttention, DecodeLongContexts) {
  for (auto [hd, bs] : attention_dims()) {
    run_attention({hd, bs, 32, 8, 0, {{1, 1500}, {1, 2100}}, DType::BF16, "long decode"});
    run_attention({hd, bs, 8, 1, 300, {{1, 2000}, {1, 301}, {1, 7}}, DType::BF16, "long decode + window"});
    run_attention({hd, bs, 16, 16, 0, {{1, 4096}}, DType::BF16, "one long sequence"});
  }
}

TEST_F(CudaAttention, F16) {
  for (auto [hd, bs] : attention_dims()) {
    run_attention({hd, bs, 8, 2, 0, {{17, 17}, {3, 50}}, DType::F16, "fp16 prefill"});
    run_attention({hd, bs, 8, 2, 0, {{1, 17}, {1, 200}}, DType::F16, "fp16 decode"});
  }
}

}  // namespace

#else  // built without the CUDA backend

TEST(CudaAttention, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
