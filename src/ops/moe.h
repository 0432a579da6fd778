// Mixture-of-experts ops: routing (router logits -> the k experts of each token and their
// weights) and the experts' MLPs over a flat batch (ops.h's OpTable holds their entries).
//
// Expert weights are stacked per layer: one tensor for every expert's gate|up linear and one
// for every down linear, each [E, N, K] (out features N, in features K contiguous) in a float
// dtype, or MXFP4 as gpt-oss checkpoints store it: blocks U8 [E, N, K/32, 16] (two e2m1 codes a
// byte, element 2i in the low nibble of byte i of its block) and scales U8 [E, N, K/32] (e8m0:
// the block's values are e2m1 x 2^(scale - 127)). The CPU decodes MXFP4 one weight row at a time
// (its tile); the GPU keeps the blocks packed and decodes them in registers inside the GEMM.
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/ops.h"

namespace tritium::ops {

enum class MoeRouting {
  SoftmaxTopK,  // p = softmax(logits) over all experts; the k largest p (renormalised to sum 1
                // when MoeRouteArgs::renormalize): Mixtral, Qwen3-MoE
  TopKSoftmax,  // the k largest logits, then a softmax over those k: gpt-oss
};

struct MoeRouteArgs {
  int64_t top_k = 0;
  MoeRouting kind = MoeRouting::SoftmaxTopK;
  bool renormalize = true;  // SoftmaxTopK only
};

enum class MoeActivation {
  Silu,         // silu(gate) * up
  SwigluClamp,  // gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit), (u + 1) * g * sigmoid(alpha * g)
};

// One linear of every expert of a layer.
struct ExpertLinear {
  Tensor w;       // [E, N, K] (float dtypes), or MXFP4 blocks U8 [E, N, K/32, 16]
  Tensor scales;  // MXFP4: U8 [E, N, K/32]; undefined otherwise
  Tensor bias;    // [E, N] or undefined (CPU: F32; CUDA: the activations' dtype)
  bool mxfp4() const { return scales.defined(); }
  int64_t num_experts() const { return w.defined() ? w.size(0) : 0; }
  int64_t out_features() const { return w.defined() ? w.size(1) : 0; }
  int64_t in_features() const { return !w.defined() ? 0 : mxfp4() ? w.size(2) * 32 : w.size(2); }
};

struct MoeExperts {
  ExpertLinear gate_up;  // N = 2I: gate rows then up rows, or interleaved (gate = even rows)
  ExpertLinear down;     // N = hidden, K = I
  bool interleaved = false;
  MoeActivation activation = MoeActivation::Silu;
  float alpha = 1.702f, limit = 7.0f;  // SwigluClamp
  int64_t num_experts() const { return gate_up.num_experts(); }
  int64_t intermediate_size() const { return gate_up.out_features() / 2; }
};

// The router and the routing in one: logits = x [T, H] @ router [E, H]^T (+ bias [E]) with an
// f32 accumulator (not rounded to the activations' dtype), then ids I32 [T, k] (descending
// weight; on equal values the lower expert first) and weights F32 [T, k].
inline void moe_route(const Tensor& x, const Tensor& router, const Tensor* bias, const MoeRouteArgs& args,
                      Tensor& ids, Tensor& weights) {
  const OpTable& t = op_table(x.device());
  TRITIUM_CHECK(t.moe_route, "moe_route: not available on ", x.device().str());
  t.moe_route(x, router, bias, args, ids, weights);
}

// out [T, H] = sum over j < k of weights[t, j] * expert_{ids[t, j]}(x[t]) with
// expert_e(x) = down_e(act(gate_up_e(x))) (each linear + its bias when given); x [T, H] in the
// activations' dtype. Each token's result depends on its own row only (not on the batch).
inline void moe_experts(const Tensor& x, const Tensor& ids, const Tensor& weights, const MoeExperts& experts,
                        Tensor& out) {
  const OpTable& t = op_table(x.device());
  TRITIUM_CHECK(t.moe_experts, "moe_experts: not available on ", x.device().str());
  t.moe_experts(x, ids, weights, experts, out);
}

// The value of MXFP4 code `code` (4 bits: sign, 2 exponent bits, 1 mantissa bit) with e8m0 scale
// `scale`, as transformers dequantizes it: e2m1(code) * 2^(scale - 127) (ldexp: scale 255 makes
// non-zero values infinite).
inline float mxfp4_value(uint8_t code, uint8_t scale) {
  static constexpr float kValues[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                        -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
  return std::ldexp(kValues[code & 15], int(scale) - 127);
}

}  // namespace tritium::ops
