// A decoder-only transformer (Llama family: Llama, Mistral, Qwen2, Qwen3) written with ops.
// forward() takes a flattened batch: prefill chunks and decodes of many sequences together.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kv/block_pool.h"
#include "model/config.h"

namespace tritium {

struct LoadOptions {
  Device device = Device::cpu();
  // Activation / KV dtype. CPU computes in F32; CUDA in BF16 (or F16).
  std::optional<DType> compute_dtype;
  bool progress = false;  // print a progress bar while loading / uploading
};

// Host-side description of one step. The model uploads what the device needs.
struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [T]
  std::vector<int32_t> positions;     // [T]
  std::vector<int32_t> slot_mapping;  // [T]
  std::vector<int32_t> cu_seqlens_q;  // [S+1]
  std::vector<int32_t> seq_lens;      // [S]
  std::vector<int32_t> block_tables;  // [S, max_blocks_per_seq]
  int64_t max_blocks_per_seq = 0;
  std::vector<int32_t> logits_indices;  // token rows whose logits are returned
  int64_t num_tokens() const { return int64_t(token_ids.size()); }
  int64_t num_seqs() const { return int64_t(seq_lens.size()); }
  int64_t max_query_len() const;
};

struct Linear {
  // Output column ranges in order (fused q|k|v or gate|up on the GPU is one part).
  std::vector<Tensor> weights;  // each [N_i, K]
  std::vector<Tensor> biases;   // empty, or one per weight
  int64_t out_features() const;
};

struct LayerWeights {
  Tensor input_norm, post_norm, q_norm, k_norm;
  Linear qkv, o, gate_up, down;
};

class Model {
 public:
  // Loads a Hugging Face checkpoint directory (config.json + safetensors).
  static std::unique_ptr<Model> load(const std::string& dir, const LoadOptions& opts = {});
  // Random weights of a named shape (llama-1b, llama-8b, qwen3-0.6b, ...), made in memory.
  static std::unique_ptr<Model> synthetic(const std::string& name, const LoadOptions& opts = {});
  static std::vector<std::string> synthetic_names();
  // Builds weights from a provider: get(name, expected shape) -> tensor (any float dtype).
  using WeightFn = std::function<Tensor(const std::string& name, const Shape& shape)>;
  static std::unique_ptr<Model> build(const ModelSpec& spec, const WeightFn& get, const LoadOptions& opts);

  const ModelSpec& spec() const { return spec_; }
  Device device() const { return device_; }
  DType compute_dtype() const { return compute_dtype_; }
  int64_t weight_bytes() const { return weight_bytes_; }
  int64_t kv_bytes_per_block(int64_t block_size) const;

  KVCache allocate_kv_cache(int64_t num_blocks, int64_t block_size) const;
  // Runs the batch; returns F32 logits [logits_indices.size(), vocab] on the host.
  Tensor forward(const ForwardBatch& batch, KVCache& kv);

  // Names and shapes every checkpoint of this spec must hold.
  static std::vector<std::pair<std::string, Shape>> expected_tensors(const ModelSpec& spec);

 private:
  Model() = default;
  ModelSpec spec_;
  Device device_;
  DType compute_dtype_ = DType::F32;
  int64_t weight_bytes_ = 0;
  Tensor embed_, final_norm_, lm_head_;
  std::vector<LayerWeights> layers_;
  Tensor rope_table_;  // [max positions, rotary_dim] F32 on the device
};

// Named synthetic shapes.
ModelSpec synthetic_spec(const std::string& name);

}  // namespace tritium
