// The CUDA implementations of the ops (src/ops/ops.h), launched from the kernel pack
// (kernels/triton/*.py, docs/KERNELS.md) through KernelRunner. Free of cuda.h.
//
// Dtypes on CUDA: activations, KV cache, weights, norm weights and biases all share one
// dtype, BF16 or F16 (the kernels take one element type per launch; Model::build converts
// checkpoint tensors on the host before upload), except fp8 e4m3 KV caches and the fp8
// linears' F8E4M3 weights with their F32 scales. The RoPE cos/sin table is F32; metadata
// (ids, positions, slots, block tables, cu_seqlens, seq_lens) is I32. Work goes to the
// calling thread's current stream of the tensors' device (cuda::current_stream); nothing
// here synchronizes, so ops can be captured into CUDA graphs (TRITIUM_CUDA_LAUNCH_BLOCKING=1
// makes every launch wait, outside captures, to pin an asynchronous fault on its kernel).
//
// Differences from the CPU reference, by design:
//   - add_rms_norm rounds residual + x to the activation dtype before the norm (as a bf16
//     framework does); the CPU keeps it in F32.
//   - rope_write_kv rotates q in place and writes rotated k and v to the cache, but leaves
//     k inside qkv unrotated (nothing reads it afterwards); the CPU rotates it in qkv too.
//   - token ids, positions and slots are not range-checked on the device (the CPU checks).
#pragma once
#include "ops/moe.h"
#include "ops/ops.h"

namespace tritium::cuda {

// Initializes device `device_index` (cuda::init) and registers the CUDA op table. Idempotent.
void init_backend(int device_index = 0);
// Registers the CUDA op table with ops::register_op_table (idempotent).
void register_ops();
const ops::OpTable& op_table();
// Registers the CUDA RuntimeTable (graphs, staging memory, uploads: src/ops/runtime.h).
void register_runtime();

void embedding(const Tensor& ids, const Tensor& table, Tensor& out);
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out);
void add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out);
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out);
void silu_and_mul(const Tensor& gate_up, Tensor& out);
void rope_write_kv(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                   Tensor& k_cache, Tensor& v_cache, const ops::RopeArgs& args);
void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
               const Tensor& cu_seqlens_q, const Tensor& seq_lens, int64_t max_query_len,
               const ops::AttentionArgs& args, Tensor& out);
void sample(const Tensor& logits, const ops::SampleArgs& args, Tensor& out_ids);
void apply_token_bitmask(Tensor& logits, const Tensor& bitmask, const Tensor& rows);  // cuda_token_mask.cpp
void linear_add_rms_norm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& residual, const Tensor& norm_w,
                         float eps, Tensor& out, Tensor& scratch);
void linear_silu_mul(const Tensor& x, const Tensor& w_gate_up, Tensor& out, Tensor& scratch);
void linear_argmax(const Tensor& x, const Tensor& w, Tensor& out_ids);
// fp8 linears (cuda_linear_fp8.cpp; sm89+): activations quantized per row, F8E4M3 weights with
// F32 per-row scales, out in the activations' dtype.
void quantize_fp8_rows(const Tensor& x, Tensor& q, Tensor& scales);
void linear_fp8(const Tensor& xq, const Tensor& x_scales, const Tensor& w, const Tensor& w_scales, const Tensor* bias,
                Tensor& out);
void linear_fp8_silu_mul(const Tensor& xq, const Tensor& x_scales, const Tensor& w_gate_up, const Tensor& w_scales,
                         Tensor& out, Tensor& scratch);
void rms_norm_fp8(const Tensor* x, Tensor& residual, const Tensor& w, float eps, Tensor& q, Tensor& scales);
// Mixture of experts (cuda_moe.cpp; ops/moe.h).
void moe_route(const Tensor& x, const Tensor& router, const Tensor* bias, const ops::MoeRouteArgs& args, Tensor& ids,
               Tensor& weights);
void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const ops::MoeExperts& experts,
                 Tensor& out);
// Decode batches (one query token per sequence): one kernel (decode_rope_attention_kernel);
// anything else, or no such kernel in the pack: rope_write_kv then attention.
void rope_attention(Tensor& qkv, const Tensor& cos_sin, const Tensor& cos_sin_index, const Tensor& slot_mapping,
                    Tensor& k_cache, Tensor& v_cache, const Tensor& block_tables, const Tensor& cu_seqlens_q,
                    const Tensor& seq_lens, int64_t max_query_len, const ops::RopeArgs& rope,
                    const ops::AttentionArgs& args, Tensor& out);

}  // namespace tritium::cuda
