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
