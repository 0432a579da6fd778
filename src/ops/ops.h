// The op interface: one function per op, dispatched on the tensors' device. Backends
// provide an OpTable; the CPU table is the reference that the GPU is tested against.
//
// Layout conventions (T = tokens of the flattened batch, S = sequences):
//   activations      [T, D], last dim contiguous, row stride may be larger (column slices)
//   qkv              [T, (nh + 2*nkv) * hd]: q heads, then k heads, then v heads
//   k_cache/v_cache  [num_blocks, block_size, nkv, hd], the activations' dtype or F8E4M3 (fp8
//                    e4m3, scale 1: writes round to nearest even and saturate at +-448)
//   block_tables     I32 [S, max_blocks_per_seq]
//   cu_seqlens_q     I32 [S+1]: sequence s owns query tokens [cu[s], cu[s+1])
//   seq_lens         I32 [S]: context length after this step (its queries are the last
//                    cu[s+1]-cu[s] positions of the sequence)
//   slot_mapping     I32 [T]: block * block_size + offset where token t's K/V goes (<0: skip)
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace tritium::ops {

struct RopeArgs {
  int64_t num_heads = 0, num_kv_heads = 0, head_dim = 0, rotary_dim = 0;
  bool neox = true;  // rotate halves (Llama) vs interleaved pairs (GPT-J)
};

struct AttentionArgs {
  float scale = 1.0f;
  int64_t sliding_window = 0;  // keys with pos > q_pos - window are visible; 0 = all
  // The caller's promise that the first decode_seqs sequences have one query token each (rows
  // 0..decode_seqs-1). A backend may give them a decode kernel in a mixed batch (CUDA does);
  // the result is the same either way. 0: no promise.
  int64_t decode_seqs = 0;
  // Attention sinks (gpt-oss): F32 [num_heads] on q's device, one logit per query head that
  // joins each softmax as a score with no value (p_j = exp(s_j) / (exp(sink) + sum_i exp(s_i)));
  // null: none.
  const Tensor* sinks = nullptr;
};

// Per-row sampling controls for ops::sample, on the logits' device, [R] each.
struct SampleArgs {
  Tensor temperature;  // F32: <= 0 greedy (argmax, lowest id on ties)
  Tensor top_k;        // I32: <= 0 or >= V: off
  Tensor top_p;        // F32: >= 1: off
  Tensor min_p;        // F32: <= 0: off
  Tensor seeds;        // I64: the row's random stream ...
  Tensor steps;        // I32: ... and its position in it (uniforms = Philox(seed + step << 32, token id))
};

struct MoeRouteArgs;  // ops/moe.h
struct MoeExperts;

struct OpTable {
  void (*embedding)(const Tensor& ids, const Tensor& table, Tensor& out);
  void (*rms_norm)(const Tensor& x, const Tensor& w, float eps, Tensor& out);
  void (*add_rms_norm)(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out);
  void (*linear)(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out);
  void (*silu_and_mul)(const Tensor& gate_up, Tensor& out);
  void (*rope_write_kv)(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                        Tensor& k_cache, Tensor& v_cache, const RopeArgs& args);
  void (*attention)(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                    const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
                    const AttentionArgs& args, Tensor& out);
  void (*sample)(const Tensor& logits, const SampleArgs& args, Tensor& out_ids);
  // Fusions; a backend may leave them null, and the wrappers below compose them from the ops above.
  void (*linear_add_rms_norm)(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& residual,
                              const Tensor& norm_w, float eps, Tensor& out, Tensor& scratch);
  void (*linear_silu_mul)(const Tensor& x, const Tensor& w_gate_up, Tensor& out, Tensor& scratch);
  void (*rope_attention)(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                         Tensor& k_cache, Tensor& v_cache, const Tensor& block_tables, const Tensor& cu_seqlens_q,
                         const Tensor& seq_lens, int64_t max_query_len, const RopeArgs& rope,
                         const AttentionArgs& args, Tensor& out);
  // Greedy decoding's lm_head: out_ids I32 [M] = argmax over n of (x @ w^T)[m, n] as the linear
  // would store it in x's dtype, lowest id on ties; the logits need not be written anywhere.
  // Optional (has_linear_argmax).
  void (*linear_argmax)(const Tensor& x, const Tensor& w, Tensor& out_ids);
  // fp8 e4m3 linears (W8A8, --quantization fp8): see quantize_fp8_rows / linear_fp8 below.
  void (*quantize_fp8_rows)(const Tensor& x, Tensor& q, Tensor& scales);
  void (*linear_fp8)(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales,
                     const Tensor* bias, Tensor& out);
  // Optional fusion (else composed from linear_fp8 and silu_and_mul).
  void (*linear_fp8_silu_mul)(const Tensor& xq, const Tensor& x_scales, const Tensor& w_gate_up,
                              const Tensor& w_scales, Tensor& out, Tensor& scratch);
  void (*rms_norm_fp8)(const Tensor* x, Tensor& residual, const Tensor& w, float eps, Tensor& q, Tensor& scales);
  // Structured output's token masks (see apply_token_bitmask below).
  void (*apply_token_bitmask)(Tensor& logits, const Tensor& bitmask, const Tensor& rows);
  // Mixture of experts (ops/moe.h).
  void (*moe_route)(const Tensor& x, const Tensor& router, const Tensor* bias, const MoeRouteArgs& args, Tensor& ids,
                    Tensor& weights);
  void (*moe_experts)(const Tensor& x, const Tensor& ids, const Tensor& weights, const MoeExperts& experts,
                      Tensor& out);
};

void register_op_table(DeviceType type, const OpTable* table);
const OpTable& op_table(Device device);

// x [T, D] -> out [T, D] = x * rsqrt(mean(x^2) + eps) * w. x may be 3-D [T, H, D] (per-head norm).
inline void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  op_table(x.device()).rms_norm(x, w, eps, out);
}
// residual += x; out = rms_norm(residual) * w
inline void add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out) {
  op_table(x.device()).add_rms_norm(x, residual, w, eps, out);
}
// ids I32 [T], table [V, H] -> out [T, H]
inline void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  op_table(table.device()).embedding(ids, table, out);
}
// out [M, N] = x [M, K] @ w[N, K]^T (+ bias [N]); f32 accumulate
inline void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) {
  op_table(x.device()).linear(x, w, bias, out);
}
// residual += x @ w^T (+ bias); out = rms_norm(residual) * norm_w. scratch [M, N] may receive
// x @ w^T (+ bias) on the way (its contents afterwards are unspecified).
inline void linear_add_rms_norm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& residual,
                                const Tensor& norm_w, float eps, Tensor& out, Tensor& scratch) {
  const OpTable& t = op_table(x.device());
  if (t.linear_add_rms_norm) return t.linear_add_rms_norm(x, w, bias, residual, norm_w, eps, out, scratch);
  t.linear(x, w, bias, scratch);
  t.add_rms_norm(scratch, residual, norm_w, eps, out);
}
// w_gate_up [2I, K] (gate rows, then up rows) -> out [M, I] = silu(x @ gate^T) * (x @ up^T).
// scratch [M, 2I] may receive x @ w_gate_up^T on the way.
inline void linear_silu_mul(const Tensor& x, const Tensor& w_gate_up, Tensor& out, Tensor& scratch) {
  const OpTable& t = op_table(x.device());
  if (t.linear_silu_mul) return t.linear_silu_mul(x, w_gate_up, out, scratch);
  t.linear(x, w_gate_up, nullptr, scratch);
  t.silu_and_mul(scratch, out);
}
// out_ids I32 [M]: each row's greedy token, argmax of linear(x, w) (see OpTable::linear_argmax).
inline bool has_linear_argmax(Device device) { return op_table(device).linear_argmax != nullptr; }
inline void linear_argmax(const Tensor& x, const Tensor& w, Tensor& out_ids) {
  const OpTable& t = op_table(x.device());
  TRITIUM_CHECK(t.linear_argmax, "linear_argmax: not available on ", x.device().str());
  t.linear_argmax(x, w, out_ids);
}
// Per-row dynamic fp8 quantization: x [M, K] (the activations' dtype; on the CPU also the
// weights at load) -> q [M, K] F8E4M3, scales F32 [M], with scales[m] = max|x[m, :]| / 448
// (1 for a row of zeros) and q[m, k] = x[m, k] / scales[m] rounded to nearest even.
constexpr float kFp8Max = 448.0f;
inline void quantize_fp8_rows(const Tensor& x, Tensor& q, Tensor& scales) {
  op_table(x.device()).quantize_fp8_rows(x, q, scales);
}
// out [M, N] = (xq [M, K] @ w [N, K]^T) * x_scales [M] * w_scales [N] (+ bias [N]), with xq and w
// F8E4M3 (quantize_fp8_rows), an f32 accumulator, out and bias in the activations' dtype.
inline void linear_fp8(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales,
                       const Tensor* bias, Tensor& out) {
  op_table(xq.device()).linear_fp8(xq, x_scales, w, w_scales, bias, out);
}
// linear_silu_mul over fp8 operands: w_gate_up [2I, K] F8E4M3 with w_scales [2I]; out [M, I] =
// silu(gate) * up of linear_fp8's result. scratch [M, 2I] may receive that result on the way.
inline void linear_fp8_silu_mul(const Tensor& xq, const Tensor& x_scales, const Tensor& w_gate_up,
                                const Tensor& w_scales, Tensor& out, Tensor& scratch) {
  const OpTable& t = op_table(xq.device());
  if (t.linear_fp8_silu_mul) return t.linear_fp8_silu_mul(xq, x_scales, w_gate_up, w_scales, out, scratch);
  t.linear_fp8(xq, x_scales, w_gate_up, w_scales, nullptr, scratch);
  t.silu_and_mul(scratch, out);
}
// A layer's norm into the next fp8 linear's input: with x, residual += x and n = add_rms_norm's
// output; without, n = rms_norm(residual); then q, scales = quantize_fp8_rows(n). The normed
// activations need not be written anywhere (CUDA fuses it all; elsewhere it is composed).
inline void rms_norm_fp8(const Tensor* x, Tensor& residual, const Tensor& w, float eps, Tensor& q, Tensor& scales) {
  const OpTable& t = op_table(residual.device());
  if (t.rms_norm_fp8) return t.rms_norm_fp8(x, residual, w, eps, q, scales);
  Tensor n = Tensor::empty(residual.shape(), residual.dtype(), residual.device());
  if (x)
    t.add_rms_norm(*x, residual, w, eps, n);
  else
    t.rms_norm(residual, w, eps, n);
  t.quantize_fp8_rows(n, q, scales);
}
// gate_up [T, 2I] (gate | up) -> out [T, I] = silu(gate) * up
inline void silu_and_mul(const Tensor& gate_up, Tensor& out) { op_table(out.device()).silu_and_mul(gate_up, out); }
// Rotates q and k of qkv in place (cos_sin [N, rotary_dim]: cos half then sin half, row
// cos_sin_index[t] for token t) and writes k, v to their cache slots.
inline void rope_write_kv(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                          Tensor& k_cache, Tensor& v_cache, const RopeArgs& args) {
  op_table(qkv.device()).rope_write_kv(qkv, cos_sin, cos_sin_index, slot_mapping, k_cache, v_cache, args);
}
// Causal (optionally sliding-window) attention of q [T, nh, hd] over the paged cache.
inline void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                      const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
                      const AttentionArgs& args, Tensor& out) {
  op_table(q.device()).attention(q, k_cache, v_cache, block_tables, cu_seqlens_q, seq_lens, max_query_len, args, out);
}
// rope_write_kv, then attention of qkv's q heads: out [T, nh * hd]. qkv's contents afterwards
// are unspecified (q may be rotated in place or not).
inline void rope_attention(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                           Tensor& k_cache, Tensor& v_cache, const Tensor& block_tables, const Tensor& cu_seqlens_q,
                           const Tensor& seq_lens, int64_t max_query_len, const RopeArgs& rope,
                           const AttentionArgs& args, Tensor& out) {
  const OpTable& t = op_table(qkv.device());
  if (t.rope_attention)
    return t.rope_attention(qkv, cos_sin, cos_sin_index, slot_mapping, k_cache, v_cache, block_tables, cu_seqlens_q,
                            seq_lens, max_query_len, rope, args, out);
  t.rope_write_kv(qkv, cos_sin, cos_sin_index, slot_mapping, k_cache, v_cache, rope);
  const int64_t nh = rope.num_heads, hd = rope.head_dim;
  Tensor q = qkv.narrow(1, 0, nh * hd).view_strided({qkv.size(0), nh, hd}, {qkv.stride(0), hd, 1});
  t.attention(q, k_cache, v_cache, block_tables, cu_seqlens_q, seq_lens, max_query_len, args, out);
}

// One token per row of logits [R, V] (F32, BF16 or F16) -> out_ids I32 [R]. With y = x / T the
// kept set is {y >= t}: t is the k-th largest y (top-k; ties kept), then the largest t whose
// kept softmax mass is >= top_p of the top-k mass, then at least max(y) + log(min_p); the token
// is argmax over the kept set of y - log(-log(u)) (Gumbel-max: an exact draw from the kept
// softmax), u the uniform Triton's tl.rand gives for (seed + (step << 32), token id).
inline void sample(const Tensor& logits, const SampleArgs& args, Tensor& out_ids) {
  op_table(logits.device()).sample(logits, args, out_ids);
}
// Structured output: logits [R, V] (F32, BF16 or F16; last dim contiguous) in place, for each m
// of rows I32 [M] (distinct rows): logits[rows[m], v] = -inf where bit v % 32 of word
// bitmask[m, v / 32] is 0 (bitmask I32 [M, W], contiguous, W >= cdiv(V, 32)).
inline void apply_token_bitmask(Tensor& logits, const Tensor& bitmask, const Tensor& rows) {
  const OpTable& t = op_table(logits.device());
  TRITIUM_CHECK(t.apply_token_bitmask, "apply_token_bitmask: not available on ", logits.device().str());
  t.apply_token_bitmask(logits, bitmask, rows);
}

}  // namespace tritium::ops
