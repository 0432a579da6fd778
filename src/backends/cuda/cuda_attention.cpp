// CUDA paged attention over the KV cache [num_blocks, block_size, nkv, hd].
//
//   max_query_len > 1 (prefill, chunked prefill over cached context, mixed batches):
//       prefill_attention_kernel, grid (cdiv(max_query_len, BLOCK_M), nh, S). When the caller
//       says the first D sequences are decodes (AttentionArgs::decode_seqs), those go to the
//       decode kernels below and the prefill grid covers sequences D.. only (first_seq = D):
//       the prefill kernel would give each decode row a 64-row tile per query head and read
//       its K/V once per query head (H100, llama-8b serving with about 128 decodes in each
//       2048-token step: 400 us a layer against 65 us without the decodes).
//   max_query_len == 1 and one query per sequence (decode): split-K flash decoding,
//       decode_attention_partial_kernel over (S, nkv, P) then decode_attention_reduce_kernel
//       over (S, nh). The partials live in F32 workspaces from the caching allocator. P aims at
//       two programs per SM; with P = 1 (large batches) the partial kernel writes the output
//       itself and no reduce runs.
//       The host does not know the context lengths (seq_lens is on the device), so P and the
//       partition size are derived from the block table's width, an upper bound of every
//       context: partitions past a sequence's end write empty partials (max -1e30, sum 0)
//       that the reduce ignores. Same shapes give the same launch, so decode can be captured
//       into a CUDA graph.
//   GQA groups larger than the decode kernel's BLOCK_G go through the prefill kernel.
//
// Attention sinks (AttentionArgs::sinks, gpt-oss) are a runtime argument of every variant
// (has_sinks; kernels/triton/attention.py), so each kernel above takes them.
//
// fp8 e4m3 caches (F8E4M3) take the pack's `..._kvfp8_...` builds of the same kernels (bf16
// activations, block size 16, sm89+); the variant is picked by its k_cache_ptr type.
//
// rope_attention on a decode batch: decode_rope_attention_kernel, the partial kernel with the
// RoPE + KV write folded in (same partitions, same reduce); otherwise rope_write_kv, then the
// above.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/driver.h"

namespace tritium::cuda {

using namespace detail;

namespace {

constexpr const char* kOp = "attention";

// The variant for (activation dtype dt, head_dim, block size (< 0: any), KV cache dtype kv
// (nullopt: kernels that read no cache)).
const Variant* find_attn(const Catalog& cat, const char* kernel, const char* ptr_param, DType dt, int64_t hd,
                         int64_t block_size, std::optional<DType> kv) {
  for (const Variant* v : cat.find(kernel, ptr_param, dt))
    if (v->cx("HEAD_DIM") == hd && (block_size < 0 || v->cx("KV_BLOCK_SIZE") == block_size) &&
        (!kv || kv_cache_is(*v, *kv)))
      return v;
  return nullptr;
}

std::string no_kernel(const Catalog& cat, const char* kernel, const char* ptr_param, DType dt, int64_t hd,
                      int64_t block_size, DType kv) {
  std::set<int64_t> hds, bss;
  for (const Variant* v : cat.find(kernel, ptr_param, dt))
    if (kv_cache_is(*v, kv)) hds.insert(v->cx("HEAD_DIM")), bss.insert(v->cx("KV_BLOCK_SIZE"));
  auto list = [](const std::set<int64_t>& s) {
    std::string r;
    for (int64_t x : s) r += (r.empty() ? "" : ", ") + std::to_string(x);
    return r.empty() ? std::string("none") : r;
  };
  return str_cat("attention (cuda): the kernel pack ", cat.origin(), " has no ", kernel, " for ", triton_type(dt),
                 " with a ", triton_type(kv), " KV cache, head_dim ", hd, ", KV block size ", block_size,
                 " (head_dim available: ", list(hds), "; block sizes: ", list(bss),
                 kv == DType::F8E4M3 ? "; fp8 KV caches: bfloat16, block size 16, sm89 or newer" : "",
                 "; see docs/KERNELS.md)");
}

// Partitions of a decode launch over (S, nkv, P): P aims at TRITIUM_DECODE_PROGRAMS_PER_SM
// (default 2) programs per SM, the partition size a multiple of the kernel's key tile
// (BLOCK_N, at least 64 tokens).
struct DecodeSplit {
  int64_t parts = 1, partition = 64;
};

DecodeSplit decode_split(const Catalog& cat, int64_t S, int64_t nkv, const Tensor& block_tables, int64_t block_size,
                         const Variant& kernel) {
  const int64_t unit = std::max<int64_t>(64, kernel.cx_or("BLOCK_N", 64));
  const int64_t bound = std::max<int64_t>(1, block_tables.size(1) * block_size);  // >= every context
  static const int64_t per_sm = [] {
    const char* e = std::getenv("TRITIUM_DECODE_PROGRAMS_PER_SM");
    return e && *e ? std::max<int64_t>(1, std::atoll(e)) : int64_t(2);
  }();
  const int64_t want = cdiv(per_sm * int64_t(cat.sm_count()), S * nkv);
  const int64_t P0 = std::clamp<int64_t>(want, 1, cdiv(bound, unit));
  DecodeSplit d;
  d.partition = cdiv(cdiv(bound, P0), unit) * unit;
  d.parts = cdiv(bound, d.partition);
  return d;
}

// The partials of a decode launch (one partition: none; any aligned F32 pointer stands in).
struct DecodePartials {
  Tensor acc, ml;
  DecodePartials(int64_t S, int64_t nh, int64_t P, int64_t hd, Device dev)
      : acc(Tensor::empty({P > 1 ? S : 1, nh, P, hd}, DType::F32, dev)),
        ml(Tensor::empty({P > 1 ? S : 1, nh, P, 2}, DType::F32, dev)) {}
};

void launch_reduce(const Variant& red, Device dev, const DecodePartials& pa, Tensor& out, int64_t S, int64_t nh,
                   int64_t P, int64_t o_st, int64_t o_sh) {
  launch(dev, red, {grid_dim(S, kOp), grid_dim(nh, kOp)},
         {pa.acc, pa.ml, out, to_i32(o_st, kOp, "out token stride"), to_i32(o_sh, kOp, "out head stride"),
          to_i32(nh, kOp, "num_heads"), to_i32(P, kOp, "partitions")},
         kOp);
}

void check_block_tables(const Tensor& block_tables, Device dev, int64_t S) {
  check_device(block_tables, dev, kOp, "block_tables");
  TRITIUM_CHECK(block_tables.dtype() == DType::I32 && block_tables.dim() == 2 && block_tables.size(0) == S &&
                    block_tables.stride(1) == 1,
                "attention (cuda): block_tables ", describe(block_tables), " must be I32 [", S,
                ", max_blocks] with a contiguous last dim");
}

// out's token and head strides: [T, nh * hd] or [T, nh, hd].
// The sinks argument of the kernels (any aligned pointer when there are none) and has_sinks.
std::pair<const void*, int32_t> sinks_arg(const ops::AttentionArgs& args, const Tensor& any, Device dev, int64_t nh) {
  if (!args.sinks) return {any.data(), 0};
  const Tensor& s = *args.sinks;
  check_device(s, dev, kOp, "sinks");
  TRITIUM_CHECK(s.dtype() == DType::F32 && s.is_contiguous() && s.numel() == nh, "attention (cuda): sinks ",
                describe(s), " must be contiguous F32 [", nh, "] (one per query head)");
  return {s.data(), 1};
}

std::pair<int64_t, int64_t> out_strides(const Tensor& out, int64_t T, int64_t nh, int64_t hd) {
  if (out.dim() == 2) {
    TRITIUM_CHECK(out.size(0) == T && out.size(1) == nh * hd, "attention (cuda): out ", describe(out),
                  " should be [", T, ", ", nh * hd, "]");
    return {out.stride(0), hd};
  }
  TRITIUM_CHECK(out.dim() == 3 && out.size(0) == T && out.size(1) == nh && out.size(2) == hd,
                "attention (cuda): out ", describe(out), " should be [", T, ", ", nh * hd, "] or [", T, ", ", nh, ", ",
                hd, "]");
  return {out.stride(0), out.stride(1)};
}

}  // namespace

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
               const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
               const ops::AttentionArgs& args, Tensor& out) {
  const Device dev = q.device();
  check_act(q, dev, kOp, "q");
  TRITIUM_CHECK(q.dim() == 3, "attention (cuda): q ", describe(q), " must be [T, num_heads, head_dim]");
  const int64_t T = q.size(0), nh = q.size(1), hd = q.size(2);
  for (const Tensor* c : {&k_cache, &v_cache}) {
    check_kv_dtype(*c, q, dev, kOp);
    TRITIUM_CHECK(c->dim() == 4 && c->is_contiguous() && c->size(3) == hd, "attention (cuda): KV cache ",
                  describe(*c), " must be contiguous [blocks, block_size, num_kv_heads, ", hd, "]");
  }
  TRITIUM_CHECK(k_cache.shape() == v_cache.shape() && k_cache.dtype() == v_cache.dtype(),
                "attention (cuda): K cache ", describe(k_cache), " and V cache ", describe(v_cache), " differ");
  const DType kv = k_cache.dtype();
  const int64_t block_size = k_cache.size(1), nkv = k_cache.size(2);
  TRITIUM_CHECK(nkv > 0 && nh % nkv == 0, "attention (cuda): ", nh, " query heads are not a multiple of ", nkv,
                " KV heads");
  const int64_t S = seq_lens.numel();
  check_i32(seq_lens, dev, -1, kOp, "seq_lens");
  check_i32(cu_seqlens_q, dev, S + 1, kOp, "cu_seqlens_q");
  check_block_tables(block_tables, dev, S);
  check_act(out, dev, kOp, "out");
  check_same_dtype(out, q, kOp, "out");
  const auto [o_st, o_sh] = out_strides(out, T, nh, hd);
  if (T == 0 || S == 0) return;
  TRITIUM_CHECK(max_query_len >= 1 && max_query_len <= T, "attention (cuda): max_query_len ", max_query_len,
                " is impossible for ", T, " query tokens");
  const Catalog& cat = Catalog::for_device(dev.index);
  const DType dt = q.dtype();
  const int32_t window = to_i32(std::max<int64_t>(0, args.sliding_window), kOp, "sliding_window");
  const int32_t q_per_kv = to_i32(nh / nkv, kOp, "q_per_kv");
  const auto [sinks, has_sinks] = sinks_arg(args, q, dev, nh);

  // Sequences [0, D) go to the decode kernels: all of them in a decode batch, the leading
  // decodes the caller names in a mixed one.
  const int64_t D = max_query_len == 1 && T == S ? S : std::clamp<int64_t>(args.decode_seqs, 0, std::min(S, T));
  const Variant* part = nullptr;
  const Variant* red = nullptr;
  if (D > 0) {
    part = find_attn(cat, "decode_attention_partial_kernel", "q_ptr", dt, hd, block_size, kv);
    red = find_attn(cat, "decode_attention_reduce_kernel", "out_ptr", dt, hd, -1, std::nullopt);
    if (part && q_per_kv > part->cx("BLOCK_G")) part = nullptr;  // group too large: prefill kernel below
  }
  const bool decodes = part && red;
  if (decodes) {  // rows 0..D-1 are sequences 0..D-1, one query each
    const DecodeSplit sp = decode_split(cat, D, nkv, block_tables, block_size, *part);
    DecodePartials pa(D, nh, sp.parts, hd, dev);
    launch(dev, *part, {grid_dim(D, kOp), grid_dim(nkv, kOp), grid_dim(sp.parts, kOp)},
           {q, k_cache, v_cache, block_tables, seq_lens, pa.acc, pa.ml, out, sinks, args.scale,
            to_i32(q.stride(0), kOp, "q token stride"), to_i32(q.stride(1), kOp, "q head stride"),
            to_i32(o_st, kOp, "out token stride"), to_i32(o_sh, kOp, "out head stride"),
            to_i32(block_tables.stride(0), kOp, "block table stride"), to_i32(nkv, kOp, "num_kv_heads"), q_per_kv,
            window, to_i32(sp.partition, kOp, "partition size"), has_sinks},
           kOp);
    // one partition: the kernel wrote the normalized output
    if (sp.parts > 1) launch_reduce(*red, dev, pa, out, D, nh, sp.parts, o_st, o_sh);
  }
  const int64_t first = decodes ? D : 0;
  if (first == S) return;

  const Variant* pre = find_attn(cat, "prefill_attention_kernel", "q_ptr", dt, hd, block_size, kv);
  TRITIUM_CHECK(pre, no_kernel(cat, "prefill_attention_kernel", "q_ptr", dt, hd, block_size, kv));
  const int64_t bm = pre->cx("BLOCK_M");
  launch(dev, *pre, {grid_dim(cdiv(max_query_len, bm), kOp), grid_dim(nh, kOp), grid_dim(S - first, kOp)},
         {q, k_cache, v_cache, out, block_tables, cu_seqlens_q, seq_lens, sinks, args.scale,
          to_i32(q.stride(0), kOp, "q token stride"), to_i32(q.stride(1), kOp, "q head stride"),
          to_i32(o_st, kOp, "out token stride"), to_i32(o_sh, kOp, "out head stride"),
          to_i32(block_tables.stride(0), kOp, "block table stride"), to_i32(nkv, kOp, "num_kv_heads"), q_per_kv,
          window, to_i32(first, kOp, "first sequence"), has_sinks},
         kOp);
}

void rope_attention(Tensor& qkv, const Tensor& cos_sin, const Tensor& cs_index, const Tensor& slot_mapping,
                    Tensor& k_cache, Tensor& v_cache, const Tensor& block_tables, const Tensor& cu_seqlens_q,
                    const Tensor& seq_lens, int64_t max_query_len, const ops::RopeArgs& rope,
                    const ops::AttentionArgs& args, Tensor& out) {
  const int64_t nh = rope.num_heads, nkv = rope.num_kv_heads, hd = rope.head_dim;
  auto composed = [&] {
    cuda::rope_write_kv(qkv, cos_sin, cs_index, slot_mapping, k_cache, v_cache, rope);
    Tensor q = qkv.narrow(1, 0, nh * hd).view_strided({qkv.size(0), nh, hd}, {qkv.stride(0), hd, 1});
    cuda::attention(q, k_cache, v_cache, block_tables, cu_seqlens_q, seq_lens, max_query_len, args, out);
  };
  const Device dev = qkv.device();
  check_act(qkv, dev, kOp, "qkv");
  const int64_t T = qkv.dim() == 2 ? qkv.size(0) : -1, S = seq_lens.numel();
  if (max_query_len != 1 || T != S || T == 0 || k_cache.dim() != 4 || nkv <= 0 || nh % nkv != 0) return composed();
  const Catalog& cat = Catalog::for_device(dev.index);
  const DType dt = qkv.dtype();
  const int64_t block_size = k_cache.size(1);
  // The pack's fused variant for this shape, and (head_dim 64) its 3-stage build, which runs
  // when one partition per (sequence, kv head) leaves every program resident at once (H100,
  // llama-1b batch 64: 1.776 -> 1.765 ms a step; 2 stages were faster at batch 256, at batch 1
  // (many partitions) and at head_dim 128). TRITIUM_DECODE_ATTN_STAGES=2 keeps 2 (for measuring).
  const Variant *fused = nullptr, *fused3 = nullptr;
  for (const Variant* v : cat.find("decode_rope_attention_kernel", "qkv_ptr", dt))
    if (v->cx("HEAD_DIM") == hd && v->cx("ROT_DIM") == rope.rotary_dim && v->cx("IS_NEOX") == (rope.neox ? 1 : 0) &&
        v->cx("KV_BLOCK_SIZE") == block_size && nh / nkv <= v->cx("BLOCK_G") && kv_cache_is(*v, k_cache.dtype())) {
      const bool s3 = v->name.size() > 3 && v->name.compare(v->name.size() - 3, 3, "_s3") == 0;
      (s3 ? fused3 : fused) = v;
    }
  const Variant* red = find_attn(cat, "decode_attention_reduce_kernel", "out_ptr", dt, hd, -1, std::nullopt);
  if (!fused || !red) return composed();

  // The checks of rope_write_kv and attention, on what the fused kernel reads.
  TRITIUM_CHECK(qkv.size(1) == (nh + 2 * nkv) * hd, kOp, " (cuda): qkv ", describe(qkv), " does not hold ", nh,
                "+2x", nkv, " heads of ", hd);
  check_device(cos_sin, dev, kOp, "cos_sin");
  TRITIUM_CHECK(cos_sin.dtype() == DType::F32 && cos_sin.is_contiguous() && cos_sin.dim() == 2 &&
                    cos_sin.size(1) == rope.rotary_dim,
                kOp, " (cuda): cos_sin ", describe(cos_sin), " must be contiguous F32 [N, ", rope.rotary_dim, "]");
  check_i32(cs_index, dev, T, kOp, "cos_sin_index");
  check_i32(slot_mapping, dev, T, kOp, "slot_mapping");
  check_i32(seq_lens, dev, S, kOp, "seq_lens");
  check_i32(cu_seqlens_q, dev, S + 1, kOp, "cu_seqlens_q");
  for (const Tensor* c : {&k_cache, &v_cache}) {
    check_kv_dtype(*c, qkv, dev, kOp);
    TRITIUM_CHECK(c->is_contiguous() && c->dim() == 4 && c->size(2) == nkv && c->size(3) == hd, kOp,
                  " (cuda): KV cache ", describe(*c), " must be contiguous [blocks, block_size, ", nkv, ", ", hd, "]");
  }
  TRITIUM_CHECK(k_cache.shape() == v_cache.shape() && k_cache.dtype() == v_cache.dtype(),
                "attention (cuda): K cache ", describe(k_cache), " and V cache ", describe(v_cache), " differ");
  check_block_tables(block_tables, dev, S);
  check_act(out, dev, kOp, "out");
  check_same_dtype(out, qkv, kOp, "out");
  const auto [o_st, o_sh] = out_strides(out, T, nh, hd);

  const DecodeSplit sp = decode_split(cat, S, nkv, block_tables, block_size, *fused);
  static const bool two_only = [] {
    const char* e = std::getenv("TRITIUM_DECODE_ATTN_STAGES");
    return e && std::string(e) == "2";
  }();
  if (fused3 && !two_only && sp.parts == 1 && S * nkv <= 4 * int64_t(cat.sm_count())) fused = fused3;
  DecodePartials pa(S, nh, sp.parts, hd, dev);
  const auto [sinks, has_sinks] = sinks_arg(args, qkv, dev, nh);
  launch(dev, *fused, {grid_dim(S, kOp), grid_dim(nkv, kOp), grid_dim(sp.parts, kOp)},
         {qkv, cs_index, cos_sin, slot_mapping, k_cache, v_cache, block_tables, seq_lens, pa.acc, pa.ml, out,
          sinks, args.scale, to_i32(qkv.stride(0), kOp, "qkv row stride"), to_i32(o_st, kOp, "out token stride"),
          to_i32(o_sh, kOp, "out head stride"), to_i32(block_tables.stride(0), kOp, "block table stride"),
          to_i32(nkv, kOp, "num_kv_heads"), to_i32(nh / nkv, kOp, "q_per_kv"),
          to_i32(std::max<int64_t>(0, args.sliding_window), kOp, "sliding_window"),
          to_i32(sp.partition, kOp, "partition size"), has_sinks},
         kOp);
  if (sp.parts > 1) launch_reduce(*red, dev, pa, out, S, nh, sp.parts, o_st, o_sh);
}

}  // namespace tritium::cuda
