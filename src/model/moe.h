// Mixture-of-experts layers (Mixtral, Qwen3-MoE, gpt-oss): their checkpoint tensors, how they
// are held for the ops (ops/moe.h), and their MLP in the forward pass.
//
// Checkpoint layouts:
//   Mixtral     model.layers.L.block_sparse_moe.gate.weight [E, H];
//               ...block_sparse_moe.experts.e.{w1 (gate), w3 (up)}.weight [I, H], w2 (down) [H, I]
//   Qwen3-MoE   model.layers.L.mlp.gate.weight [E, H]; ...mlp.experts.e.{gate,up}_proj.weight [I, H],
//               down_proj.weight [H, I]; layers without experts have the dense mlp.*_proj
//   gpt-oss     model.layers.L.mlp.router.{weight [E, H], bias [E]};
//               ...mlp.experts.gate_up_proj_bias [E, 2I] (gate = even rows), down_proj_bias [E, H];
//               MXFP4: ...gate_up_proj_{blocks [E, 2I, H/32, 16], scales [E, 2I, H/32]},
//                      ...down_proj_{blocks [E, H, I/32, 16], scales [E, H, I/32]}
//               bf16:  ...gate_up_proj [E, H, 2I], down_proj [E, I, H] (transformers' layout)
//               model.layers.L.self_attn.sinks [num_heads]
// Held: gate|up stacked [E, 2I, H] and down [E, H, I] (or the MXFP4 blocks as they are). The CPU
// keeps gpt-oss's interleaved gate/up rows and its MXFP4 tensors zero-copy; a GPU gets the rows
// reordered to gate rows then up rows (blocks, scales and bias alike), the one layout its
// kernels take.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "ops/moe.h"

namespace tritium {

struct LayerWeights;

// Names and shapes of layer l's MoE tensors (router, experts; MoE layers only).
void moe_expected_tensors(const ModelSpec& s, int64_t l, std::vector<std::pair<std::string, Shape>>& out);
// Whether a checkpoint tensor holds MXFP4 bytes (U8): *_blocks and *_scales.
bool is_mxfp4_tensor(const std::string& name);

// Fills L's router and experts for MoE layer l from fetch(name) (host tensors in the
// checkpoint's dtype), placed on `device` with activations / biases in `compute`.
void load_moe_layer(const ModelSpec& s, int64_t l, const std::function<Tensor(const std::string&)>& fetch,
                    Device device, DType compute, LayerWeights& L);

// out [T, H] = the layer's MoE MLP of x [T, H] (router linear, routing, experts).
void run_moe_mlp(const ModelSpec& s, const LayerWeights& L, const Tensor& x, Tensor& out);

// Synthetic shapes of MoE models for benchmarks (random weights, model/model.cpp):
// gpt-oss-20b, gpt-oss-120b (MXFP4 experts, as released), mixtral-8x7b, qwen3-30b-a3b (bf16), and
// tiny-moe (a small gpt-oss for tests). False for other names.
bool moe_synthetic_spec(const std::string& name, ModelSpec& s);
std::vector<std::string> moe_synthetic_names();
// Random MXFP4 tensor `name` (*_blocks: uniform codes; *_scales: the e8m0 scale that gives the
// weights a standard deviation of about 1/sqrt(K)), deterministic in seed.
Tensor synthetic_mxfp4(const std::string& name, const Shape& shape, uint64_t seed);

// Bytes of one expert of layer l as held (gate|up + down + their biases).
int64_t expert_bytes(const LayerWeights& L);
// Expected number of distinct experts a decode step of `tokens` tokens reads when each token
// picks k of E uniformly: E * (1 - (1 - k/E)^tokens) (k for one token).
double expected_active_experts(int64_t num_experts, int64_t top_k, int64_t tokens);

}  // namespace tritium
