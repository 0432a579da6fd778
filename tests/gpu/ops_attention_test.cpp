// CUDA RoPE + KV-cache write and paged attention against the CPU reference, on fresh random
// inputs: every (head_dim, rotary_dim, layout) RoPE variant and every (head_dim, block size)
// attention variant the pack has for this GPU; ragged batches (several sequences of different
// query and context lengths, chunked prefill over cached context, partial blocks, shuffled
// block tables), GQA ratios 1/4/8, sliding windows, the decode split-K path and long contexts.
// Unused cache slots hold NaN on the GPU side, so reading a key that is not visible fails.
// RoPE + KV write + decode attention in one kernel (ops::rope_attention) against the CPU's
// two ops, for every variant of it in the pack.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/kernel_profile.h"
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

// (a, b, c) constexpr triples of the pack's variants of one kernel, for bf16 activations and a
// KV cache of dtype kv.
std::set<std::vector<int64_t>> variants_of(const char* kernel, const char* ptr, std::vector<const char*> keys,
                                           DType kv = DType::BF16) {
  std::set<std::vector<int64_t>> r;
  for (const auto* v : cuda::detail::Catalog::for_device(0).find(kernel, ptr, DType::BF16)) {
    if (!cuda::detail::kv_cache_is(*v, kv)) continue;
    std::vector<int64_t> k;
    for (const char* key : keys) k.push_back(v->cx(key));
    r.insert(k);
  }
  return r;
}

// ------------------------------------------------------------------ RoPE + KV write

// kv: the cache dtype (fp8 e4m3: the GPU rounds k to bf16 before fp8, the CPU rounds its f32
// k to fp8 once, so k may differ by one fp8 step; v is the same bf16 value rounded once).
void run_rope(int64_t hd, int64_t rot, bool neox, int64_t nh, int64_t nkv, DType kv = DType::BF16) {
  SCOPED_TRACE(::testing::Message() << "hd " << hd << " rot " << rot << (neox ? " neox" : " gptj") << " nh " << nh
                                    << " nkv " << nkv << " cache " << dtype_label(kv));
  const double k_tol = kv == DType::F8E4M3 ? 0.07 : kTol;
  const int64_t T = 45, block_size = 16, num_blocks = 8, slots_total = num_blocks * block_size, max_pos = 4096;
  const int64_t qkv_dim = (nh + 2 * nkv) * hd;
  auto x = rand_vals(size_t(T * qkv_dim), -2, 2);
  // A real RoPE table (theta 10000) at random positions.
  const std::vector<float> cs = rope_table(max_pos, rot);
  std::vector<int32_t> pos(static_cast<size_t>(T)), slots(static_cast<size_t>(slots_total));
  for (auto& p : pos) p = int32_t(rand_int(0, max_pos - 1));
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), rng());
  slots.resize(size_t(T));
  slots[3] = -1;  // skipped tokens (e.g. padding)
  slots[T - 1] = -1;

  Tensor dqkv = device_as(x, {T, qkv_dim}, DType::BF16);
  Tensor dk = poisoned({num_blocks, block_size, nkv, hd}, kv);
  Tensor dv = poisoned({num_blocks, block_size, nkv, hd}, kv);
  ops::RopeArgs ra{nh, nkv, hd, rot, neox};
  ops::rope_write_kv(dqkv, host_f32(cs, {max_pos, rot}).to(Device::cuda(0)), device_i32(pos, {T}),
                     device_i32(slots, {T}), dk, dv, ra);

  Tensor hqkv = host_f32(x, {T, qkv_dim});
  const DType hkv = kv == DType::F8E4M3 ? kv : DType::F32;
  Tensor hk = Tensor::zeros({num_blocks, block_size, nkv, hd}, hkv);
  Tensor hv = Tensor::zeros({num_blocks, block_size, nkv, hd}, hkv);
  Tensor pos_h = Tensor::from_blob(pos.data(), {T}, DType::I32, Device::cpu(), nullptr);
  Tensor slots_h = Tensor::from_blob(slots.data(), {T}, DType::I32, Device::cpu(), nullptr);
  ops::rope_write_kv(hqkv, host_f32(cs, {max_pos, rot}), pos_h, slots_h, hk, hv, ra);

  Tensor got = download(dqkv), gk = download(dk), gv = download(dv);
  hk = hk.to(DType::F32), hv = hv.to(DType::F32);
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
      EXPECT_LE(rel_err(gks, hks), k_tol) << "k at slot " << s;
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

TEST_F(CudaAttention, RopeWriteKvFp8Cache) {
  auto vars = variants_of("rope_kv_write_kernel", "qkv_ptr", {"HEAD_DIM", "ROT_DIM", "IS_NEOX"}, DType::F8E4M3);
  if (vars.empty())
    GTEST_SKIP() << "no fp8 KV cache kernels for this GPU (sm89 or newer)";
  for (const auto& v : vars) {
    run_rope(v[0], v[1], v[2] != 0, 8, 2, DType::F8E4M3);
    run_rope(v[0], v[1], v[2] != 0, 4, 4, DType::F8E4M3);
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
  int64_t decode_seqs = 0;  // AttentionArgs::decode_seqs: the leading one-query sequences
  std::optional<DType> kv;  // the cache dtype (default dt)
};

void run_attention(const AttnCase& c) {
  SCOPED_TRACE(::testing::Message() << c.what << ": hd " << c.hd << " bs " << c.block_size << " nh " << c.nh
                                    << " nkv " << c.nkv << " window " << c.window << " " << dtype_label(c.dt)
                                    << " cache " << dtype_label(c.kv.value_or(c.dt)));
  const DType kv = c.kv.value_or(c.dt);
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
      auto kr = rand_vals(size_t(row), -2, 2, kv), vr = rand_vals(size_t(row), -2, 2, kv);
      std::copy(kr.begin(), kr.end(), kvals.begin() + slot * row);
      std::copy(vr.begin(), vr.end(), vvals.begin() + slot * row);
    }
  auto to_dev_cache = [&](const std::vector<float>& vals) {
    std::vector<float> g = vals;
    for (int64_t sl = 0; sl < slots_total; ++sl)
      if (!used[size_t(sl)]) std::fill(g.begin() + sl * row, g.begin() + (sl + 1) * row, NAN);
    return device_as(g, {num_blocks, bs, nkv, hd}, kv);
  };
  Tensor dk = to_dev_cache(kvals), dv = to_dev_cache(vvals);
  Tensor hk = host_f32(kvals, {num_blocks, bs, nkv, hd}), hv = host_f32(vvals, {num_blocks, bs, nkv, hd});

  // q as a strided view of a qkv buffer, as in the forward pass.
  const int64_t qkv_dim = (nh + 2 * nkv) * hd;
  auto qv = rand_vals(size_t(T * qkv_dim), -2, 2, c.dt);
  Tensor dqkv = device_as(qv, {T, qkv_dim}, c.dt), hqkv = host_f32(qv, {T, qkv_dim});
  Tensor dq = dqkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
  Tensor hq = hqkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});

  ops::AttentionArgs aa{float(1.0 / std::sqrt(double(hd))), c.window, c.decode_seqs};
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

// A mixed batch whose leading decodes go to the decode kernels (decode_seqs), the rest to
// the prefill kernel from sequence decode_seqs on: every row written once, each right.
TEST_F(CudaAttention, MixedBatchWithLeadingDecodes) {
  for (auto [hd, bs] : attention_dims())
    for (auto [nh, nkv] : kGqa)
      for (int64_t window : {0, 24}) {
        AttnCase c{hd, bs, nh, nkv, window, {{1, 9}, {1, 100}, {1, 333}, {17, 17}, {40, 63}, {1, 5}}, DType::BF16,
                   "mixed, 3 leading decodes"};
        c.decode_seqs = 3;
        run_attention(c);
        c.seqs = {{1, 1}, {1, 64}, {200, 300}};
        c.decode_seqs = 2;
        c.what = "mixed, 2 leading decodes, long chunk";
        run_attention(c);
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

// fp8 e4m3 caches (--kv-cache-dtype fp8): the CPU attends over the same rounded values in F32.
TEST_F(CudaAttention, Fp8KvCache) {
  auto vars = variants_of("prefill_attention_kernel", "q_ptr", {"HEAD_DIM", "KV_BLOCK_SIZE"}, DType::F8E4M3);
  if (vars.empty()) GTEST_SKIP() << "no fp8 KV cache kernels for this GPU (sm89 or newer)";
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (const auto& v : vars) {
    const int64_t hd = v[0], bs = v[1];
    std::printf("  fp8 KV attention variant: head_dim %lld, block size %lld\n", (long long)hd, (long long)bs);
    for (auto [nh, nkv] : kGqa) {
      AttnCase c{hd, bs, nh, nkv, 0, {{17, 17}, {1, 9}, {40, 63}, {5, 100}}, DType::BF16, "fp8 ragged"};
      c.kv = DType::F8E4M3;
      run_attention(c);
      c.window = 24;
      c.seqs = {{1, 9}, {1, 100}, {1, 333}, {17, 17}, {40, 63}, {1, 5}};
      c.decode_seqs = 3;
      c.what = "fp8 mixed, 3 leading decodes, window";
      run_attention(c);
      c.window = 0;
      c.decode_seqs = 0;
      c.seqs = {{1, 1}, {1, 16}, {1, 17}, {1, 100}, {1, 333}};
      c.what = "fp8 decode";
      run_attention(c);
    }
    AttnCase c{hd, bs, 32, 8, 0, {{1, 1500}, {1, 2100}}, DType::BF16, "fp8 long decode"};
    c.kv = DType::F8E4M3;
    run_attention(c);
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_NE(rep.find("prefill_attention_bf16_kvfp8"), std::string::npos) << rep;
  EXPECT_NE(rep.find("decode_attention_partial_bf16_kvfp8"), std::string::npos) << rep;
}

TEST_F(CudaAttention, F16) {
  for (auto [hd, bs] : attention_dims()) {
    run_attention({hd, bs, 8, 2, 0, {{17, 17}, {3, 50}}, DType::F16, "fp16 prefill"});
    run_attention({hd, bs, 8, 2, 0, {{1, 17}, {1, 200}}, DType::F16, "fp16 decode"});
  }
}

// ------------------------------------------------------------------ RoPE + KV write + decode attention

// ops::rope_attention on a decode batch (the fused kernel on the GPU) against the CPU's
// rope_write_kv then attention. Unused cache slots, the new tokens' slots included, hold NaN
// on the GPU side: the fused kernel must write the new K/V and never read a slot before.
void run_rope_attention(int64_t hd, int64_t rot, bool neox, int64_t bs, int64_t nh, int64_t nkv, int64_t window,
                        const std::vector<int64_t>& ctx, DType kv = DType::BF16) {
  SCOPED_TRACE(::testing::Message() << "hd " << hd << " rot " << rot << (neox ? " neox" : " gptj") << " bs " << bs
                                    << " nh " << nh << " nkv " << nkv << " window " << window << " cache "
                                    << dtype_label(kv));
  // fp8: see run_rope; the new k's one-step differences also move the outputs a little (up to
  // 1.2% at head_dim 16 and 32, where one element is a large part of a score)
  const double k_tol = kv == DType::F8E4M3 ? 0.07 : kTol, out_tol = kv == DType::F8E4M3 ? 0.025 : kTol;
  const int64_t S = int64_t(ctx.size()) + 1, max_pos = 4096;  // + a padding row (slot -1, length 1)
  std::vector<int64_t> lens64 = ctx;
  lens64.push_back(1);
  int64_t max_blocks = 0, total = 0;
  for (int64_t n : lens64) {
    max_blocks = std::max(max_blocks, (n + bs - 1) / bs);
    total += (n + bs - 1) / bs;
  }
  const int64_t num_blocks = total + 2, slots_total = num_blocks * bs, row = nkv * hd;
  std::vector<int32_t> phys(static_cast<size_t>(num_blocks));
  std::iota(phys.begin(), phys.end(), 0);
  std::shuffle(phys.begin(), phys.end(), rng());
  std::vector<int32_t> bt(size_t(S * max_blocks), 0), lens, cu{0}, slots, pos;
  size_t next = 0;
  std::vector<char> cached(size_t(slots_total), 0);
  for (int64_t s = 0; s < S; ++s) {
    const int64_t n = lens64[size_t(s)], need = (n + bs - 1) / bs;
    for (int64_t j = 0; j < need; ++j) bt[size_t(s * max_blocks + j)] = phys[next++];
    for (int64_t j = 0; j + 1 < n; ++j) cached[size_t(int64_t(bt[size_t(s * max_blocks + j / bs)]) * bs + j % bs)] = 1;
    lens.push_back(int32_t(n));
    cu.push_back(int32_t(s + 1));
    slots.push_back(s + 1 < S ? int32_t(int64_t(bt[size_t(s * max_blocks + (n - 1) / bs)]) * bs + (n - 1) % bs) : -1);
    pos.push_back(int32_t(rand_int(0, max_pos - 1)));
  }
  const std::vector<float> cs = rope_table(max_pos, rot);
  auto kvals = rand_vals(size_t(slots_total * row), -2, 2, kv), vvals = rand_vals(size_t(slots_total * row), -2, 2, kv);
  auto dev_cache = [&](std::vector<float> g) {
    for (int64_t sl = 0; sl < slots_total; ++sl)
      if (!cached[size_t(sl)]) std::fill(g.begin() + sl * row, g.begin() + (sl + 1) * row, NAN);
    return device_as(g, {num_blocks, bs, nkv, hd}, kv);
  };
  Tensor dk = dev_cache(kvals), dv = dev_cache(vvals);
  const DType hkv = kv == DType::F8E4M3 ? kv : DType::F32;
  Tensor hk = host_as(kvals, {num_blocks, bs, nkv, hd}, hkv), hv = host_as(vvals, {num_blocks, bs, nkv, hd}, hkv);
  const int64_t qkv_dim = (nh + 2 * nkv) * hd;
  auto x = rand_vals(size_t(S * qkv_dim), -2, 2);
  Tensor dqkv = device_as(x, {S, qkv_dim}, DType::BF16), hqkv = host_f32(x, {S, qkv_dim});

  ops::RopeArgs ra{nh, nkv, hd, rot, neox};
  ops::AttentionArgs aa{float(1.0 / std::sqrt(double(hd))), window};
  Tensor out = poisoned({S, nh * hd}, DType::BF16), ref = Tensor::empty({S, nh * hd}, DType::F32);
  auto host_i32 = [](std::vector<int32_t>& v, Shape shape) {
    return Tensor::from_blob(v.data(), shape, DType::I32, Device::cpu(), nullptr);
  };
  ops::rope_attention(dqkv, host_f32(cs, {max_pos, rot}).to(Device::cuda(0)), device_i32(pos, {S}),
                      device_i32(slots, {S}), dk, dv, device_i32(bt, {S, max_blocks}), device_i32(cu, {S + 1}),
                      device_i32(lens, {S}), 1, ra, aa, out);
  ops::rope_attention(hqkv, host_f32(cs, {max_pos, rot}), host_i32(pos, {S}), host_i32(slots, {S}), hk, hv,
                      host_i32(bt, {S, max_blocks}), host_i32(cu, {S + 1}), host_i32(lens, {S}), 1, ra, aa, ref);
  Tensor got = download(out);
  for (int64_t s = 0; s + 1 < S; ++s)
    EXPECT_LE(rel_err(got.narrow(0, s, 1).contiguous(), ref.narrow(0, s, 1).contiguous()), out_tol)
        << "sequence " << s << " (context " << lens[size_t(s)] << ")";
  // The padding row (whose slot the CPU never writes, so its reference reads garbage) attends
  // to its own new token only: finite, never the NaN of its cache slot.
  for (int64_t i = 0; i < nh * hd; ++i)
    ASSERT_TRUE(std::isfinite(load_as_float(got, (S - 1) * nh * hd + i))) << "padding row, element " << i;
  Tensor gk = download(dk).view({slots_total, row}), gv = download(dv).view({slots_total, row});
  Tensor rk = hk.to(DType::F32).view({slots_total, row}), rv = hv.to(DType::F32).view({slots_total, row});
  for (int64_t s = 0; s + 1 < S; ++s) {
    const int64_t sl = slots[size_t(s)];
    EXPECT_LE(rel_err(gk.narrow(0, sl, 1).contiguous(), rk.narrow(0, sl, 1).contiguous()), k_tol) << "new k, seq " << s;
    EXPECT_EQ(rel_err(gv.narrow(0, sl, 1).contiguous(), rv.narrow(0, sl, 1).contiguous()), 0.0) << "new v, seq " << s;
  }
}

TEST_F(CudaAttention, RopeAttentionDecodeEveryVariant) {
  auto vars = variants_of("decode_rope_attention_kernel", "qkv_ptr", {"HEAD_DIM", "ROT_DIM", "IS_NEOX", "KV_BLOCK_SIZE"});
  ASSERT_FALSE(vars.empty()) << "no fused RoPE + decode attention kernels in the pack for this GPU";
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (const auto& v : vars) {
    for (auto [nh, nkv] : kGqa) {
      run_rope_attention(v[0], v[1], v[2] != 0, v[3], nh, nkv, 0, {1, 16, 17, 100, 333});
      run_rope_attention(v[0], v[1], v[2] != 0, v[3], nh, nkv, 24, {2, 40, 333});
    }
    run_rope_attention(v[0], v[1], v[2] != 0, v[3], 8, 2, 0, {2100});  // several partitions
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_NE(rep.find("decode_rope_attention"), std::string::npos) << "the fused kernel never ran:\n" << rep;
  EXPECT_NE(rep.find("decode_attention_reduce"), std::string::npos) << "no case took several partitions:\n" << rep;
  EXPECT_EQ(rep.find("rope_kv_write"), std::string::npos) << "a decode batch took the composed path:\n" << rep;
}

TEST_F(CudaAttention, RopeAttentionDecodeFp8Cache) {
  auto vars = variants_of("decode_rope_attention_kernel", "qkv_ptr", {"HEAD_DIM", "ROT_DIM", "IS_NEOX", "KV_BLOCK_SIZE"},
                          DType::F8E4M3);
  if (vars.empty()) GTEST_SKIP() << "no fp8 KV cache kernels for this GPU (sm89 or newer)";
  cuda::kernel_profile_enable(true);
  cuda::kernel_profile_reset();
  for (const auto& v : vars) {
    for (auto [nh, nkv] : kGqa) run_rope_attention(v[0], v[1], v[2] != 0, v[3], nh, nkv, 0, {1, 16, 17, 100, 333}, DType::F8E4M3);
    run_rope_attention(v[0], v[1], v[2] != 0, v[3], 8, 2, 24, {2100, 40}, DType::F8E4M3);
  }
  std::string rep = cuda::kernel_profile_report();
  cuda::kernel_profile_enable(false);
  EXPECT_NE(rep.find("decode_rope_attention_bf16_kvfp8"), std::string::npos) << "the fused kernel never ran:\n" << rep;
  EXPECT_EQ(rep.find("rope_kv_write"), std::string::npos) << "a decode batch took the composed path:\n" << rep;
}

}  // namespace

#else  // built without the CUDA backend

TEST(CudaAttention, SkippedWithoutCudaBuild) {
  std::printf("SKIPPED: tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)\n");
  GTEST_SKIP() << "built without CUDA";
}

#endif
