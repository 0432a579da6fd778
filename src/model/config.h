// config.json (+ generation_config.json) -> ModelSpec: everything the forward pass needs
// to know about an architecture, validated with errors naming the field.
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tritium {

enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn };
enum class RopeLayout { Neox, GptJ };  // rotate halves vs interleaved pairs

struct RopeSpec {
  RopeType type = RopeType::Default;
  RopeLayout layout = RopeLayout::Neox;
  double theta = 10000.0;
  double factor = 1.0;
  double partial_rotary_factor = 1.0;
  // llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  // llama3, yarn
  int64_t original_max_position_embeddings = 0;
  // yarn
  double beta_fast = 32.0, beta_slow = 1.0;
  double attention_factor = 1.0;  // multiplies cos/sin (yarn mscale)
  bool truncate = true;
  // Divisors of each inverse frequency (rotary_dim / 2 of them), applied after the scaling
  // above; empty = none. GGUF files carry llama 3's smoothed frequencies this way (rope_freqs).
  std::vector<float> freq_factors;
};

// Mixture-of-experts MLPs (Mixtral, Qwen3-MoE, gpt-oss): which layers have experts and how the
// router picks them. num_experts == 0: a dense model.
enum class RouterKind {
  SoftmaxTopK,  // softmax over all experts, then the top k (renormalised when renormalize)
  TopKSoftmax,  // the top k logits, then a softmax over those k (gpt-oss)
};
enum class ExpertActivation {
  Silu,        // silu(gate) * up, gate rows then up rows
  SwigluClamp  // gpt-oss: gate <= limit, |up| <= limit, (up + 1) * gate * sigmoid(alpha * gate)
};
struct MoeSpec {
  int64_t num_experts = 0;
  int64_t top_k = 0;
  int64_t intermediate_size = 0;  // of each expert
  RouterKind router = RouterKind::SoftmaxTopK;
  bool renormalize = true;  // SoftmaxTopK: the k chosen probabilities divided by their sum
  bool router_bias = false;
  bool expert_bias = false;           // gpt-oss: gate_up_proj_bias, down_proj_bias
  bool interleaved_gate_up = false;   // gpt-oss: gate = even rows of gate_up, up = odd rows
  ExpertActivation activation = ExpertActivation::Silu;
  double swiglu_alpha = 1.702, swiglu_limit = 7.0;
  std::vector<bool> layers;  // per layer: experts (true) or a dense MLP (false)
  std::vector<bool> mxfp4;   // per layer: experts stored as MXFP4 blocks + e8m0 scales
  bool any_mxfp4() const {
    for (bool b : mxfp4)
      if (b) return true;
    return false;
  }
};

struct ModelSpec {
  std::string architecture;  // e.g. LlamaForCausalLM
  std::string model_type;    // e.g. llama
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t rotary_dim = 0;  // head_dim * partial_rotary_factor
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 0;
  RopeSpec rope;
  bool qkv_bias = false;     // Qwen2, Llama attention_bias
  bool o_bias = false;       // Llama attention_bias
  bool mlp_bias = false;     // Llama mlp_bias
  bool qk_norm = false;      // Qwen3
  std::vector<int64_t> sliding_window;  // per layer; 0 = full attention
  bool attention_sinks = false;         // gpt-oss: one learned logit per head joins each softmax
  MoeSpec moe;                          // num_experts 0: dense
  bool is_moe() const { return moe.num_experts > 0; }
  bool moe_layer(int64_t l) const { return is_moe() && moe.layers[size_t(l)]; }
  DType weight_dtype = DType::BF16;     // torch_dtype / dtype in config.json
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;

  // Parses <dir>/config.json and, if present, <dir>/generation_config.json.
  static ModelSpec from_dir(const std::string& dir);
  // Parses config.json text; `where` names the source in errors.
  static ModelSpec from_json_text(const std::string& text, const std::string& where);
  std::string summary() const;
};

const std::vector<std::string>& supported_architectures();

}  // namespace tritium
