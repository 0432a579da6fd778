// CPU reference implementations of the ops (f32 activations; f32/bf16/f16 weights, or fp8 e4m3 ones
// with per-row scales).
#pragma once
#include "ops/moe.h"
#include "ops/ops.h"

namespace tritium::cpu {

const ops::OpTable& op_table();

void embedding(const Tensor& ids, const Tensor& table, Tensor& out);
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out);
void add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out);
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out);
void linear_argmax(const Tensor& x, const Tensor& w, Tensor& out_ids);  // greedy lm_head (ops.h)
// fp8 linears (ops.h): the products of the rounded values in f32.
void quantize_fp8_rows(const Tensor& x, Tensor& q, Tensor& scales);
void linear_fp8(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales, const Tensor* bias,
                Tensor& out);
void silu_and_mul(const Tensor& gate_up, Tensor& out);
void rope_write_kv(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                   Tensor& k_cache, Tensor& v_cache, const ops::RopeArgs& args);
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
               const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
               const ops::AttentionArgs& args, Tensor& out);
void sample(const Tensor& logits, const ops::SampleArgs& args, Tensor& out_ids);
void apply_token_bitmask(Tensor& logits, const Tensor& bitmask, const Tensor& rows);
// Mixture of experts (ops/moe.h).
void moe_route(const Tensor& x, const Tensor& router, const Tensor* bias, const ops::MoeRouteArgs& args, Tensor& ids,
               Tensor& weights);
void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const ops::MoeExperts& experts,
                 Tensor& out);
// The uniform in [0, 1) Triton's tl.rand(seed, offset) gives (Philox-4x32-10).
float philox_uniform(uint64_t seed, uint32_t offset);

}  // namespace tritium::cpu
