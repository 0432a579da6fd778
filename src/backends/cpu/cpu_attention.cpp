// CPU paged attention: each query token attends causally (optionally within a sliding
// window) to its sequence's keys, read from the block table, with an attention sink per head
// when given (ops::AttentionArgs::sinks). Parallel over (token, head).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backends/cpu/cpu_ops.h"
#include "backends/cpu/simd.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace tritium::cpu {

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
               const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
               const ops::AttentionArgs& args, Tensor& out) {
  TRITIUM_CHECK(q.dim() == 3 && q.dtype() == DType::F32 && q.stride(2) == 1, "attention (cpu): q must be F32 [T, nh, hd]");
  const DType kv_dt = k_cache.dtype();
  TRITIUM_CHECK((kv_dt == DType::F32 || kv_dt == DType::F8E4M3) && v_cache.dtype() == kv_dt &&
                    k_cache.is_contiguous() && v_cache.is_contiguous(),
                "attention (cpu): caches must be contiguous F32 or F8_E4M3, got ", k_cache.str(), " and ",
                v_cache.str());
  const int64_t T = q.size(0), nh = q.size(1), hd = q.size(2);
  const int64_t block_size = k_cache.size(1), nkv = k_cache.size(2), num_blocks = k_cache.size(0);
  TRITIUM_CHECK(k_cache.size(3) == hd && nh % nkv == 0, "attention: q ", q.str(), " vs cache ", k_cache.str());
  TRITIUM_CHECK(out.dtype() == DType::F32 && out.size(0) == T && out.stride(-1) == 1, "attention: bad out ", out.str());
  const int64_t S = seq_lens.numel(), max_blocks = block_tables.size(1);
  const int32_t* cu = cu_seqlens_q.data<int32_t>();
  const int32_t* lens = seq_lens.data<int32_t>();
  const int32_t* bt = block_tables.data<int32_t>();
  TRITIUM_CHECK(cu[S] == T, "attention: cu_seqlens_q ends at ", cu[S], " but there are ", T, " tokens");

  // Token -> sequence map.
  std::vector<int32_t> seq_of(static_cast<size_t>(T));
  for (int64_t s = 0; s < S; ++s) {
    TRITIUM_CHECK(cu[s + 1] >= cu[s] && cu[s + 1] - cu[s] <= lens[s], "attention: sequence ", s, " has ",
                  cu[s + 1] - cu[s], " queries but context ", lens[s]);
    TRITIUM_CHECK((lens[s] + block_size - 1) / block_size <= max_blocks, "attention: sequence ", s,
                  " context exceeds its block table");
    for (int32_t t = cu[s]; t < cu[s + 1]; ++t) seq_of[size_t(t)] = int32_t(s);
  }
  const int64_t group = nh / nkv;
  const float* sinks = nullptr;
  if (args.sinks) {
    TRITIUM_CHECK(args.sinks->dtype() == DType::F32 && args.sinks->is_contiguous() && args.sinks->numel() == nh,
                  "attention (cpu): sinks ", args.sinks->str(), " must be contiguous F32 [", nh, "]");
    sinks = args.sinks->data<float>();
  }
  // Row `slot` of kv head kvh of a cache, as F32 (an fp8 cache's row decoded into buf).
  const bool fp8 = kv_dt == DType::F8E4M3;
  static const std::vector<float> fp8_lut = [] {
    std::vector<float> t(256);
    for (int c = 0; c < 256; ++c) t[size_t(c)] = fp8e4m3_to_f32(uint8_t(c));
    return t;
  }();
  auto cache_row = [&](const Tensor& c, int64_t slot, int64_t kvh, float* buf) -> const float* {
    const int64_t off = (slot * nkv + kvh) * hd;
    if (!fp8) return c.data<float>() + off;
    const uint8_t* r = c.data<uint8_t>() + off;
    for (int64_t d = 0; d < hd; ++d) buf[d] = fp8_lut[r[d]];
    return buf;
  };
  parallel_for(T * nh, 4, [&](int64_t w0, int64_t w1) {
    std::vector<float> scores, row(static_cast<size_t>(hd));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / nh, h = w % nh, kvh = h / group;
      const int64_t s = seq_of[size_t(t)];
      const int64_t pos = lens[s] - (cu[s + 1] - cu[s]) + (t - cu[s]);  // absolute position of this query
      int64_t lo = 0;
      if (args.sliding_window > 0) lo = std::max<int64_t>(0, pos - args.sliding_window + 1);
      const float* qv = q.data<float>() + t * q.stride(0) + h * q.stride(1);
      scores.resize(size_t(pos + 1 - lo));
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = lo; j <= pos; ++j) {
        int64_t blk = bt[s * max_blocks + j / block_size];
        TRITIUM_CHECK(blk >= 0 && blk < num_blocks, "attention: block id ", blk, " out of range");
        const float* kv = cache_row(k_cache, blk * block_size + j % block_size, kvh, row.data());
        float sc = dot(qv, kv, hd) * args.scale;
        scores[size_t(j - lo)] = sc;
        mx = std::max(mx, sc);
      }
      // an attention sink joins the softmax as one more score with no value
      const float sink = sinks ? sinks[h] : 0.f;
      if (sinks) mx = std::max(mx, sink);
      double sum = sinks ? std::exp(double(sink - mx)) : 0.0;
      for (auto& sc : scores) {
        sc = std::exp(sc - mx);
        sum += sc;
      }
      float inv = float(1.0 / sum);
      float* o = out.data<float>() + t * out.stride(0) + h * hd;
      for (int64_t d = 0; d < hd; ++d) o[d] = 0.f;
      for (int64_t j = lo; j <= pos; ++j) {
        int64_t blk = bt[s * max_blocks + j / block_size];
        const float* vv = cache_row(v_cache, blk * block_size + j % block_size, kvh, row.data());
        axpy(scores[size_t(j - lo)] * inv, vv, o, hd);
      }
    }
  });
  (void)max_query_len;
}

}  // namespace tritium::cpu
