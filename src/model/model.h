// A decoder-only transformer (Llama family: Llama, Mistral, Qwen2, Qwen3; with experts: Mixtral,
// Qwen3-MoE, gpt-oss) written with ops.
// forward() takes a flattened batch: prefill chunks and decodes of many sequences together.
#pragma once
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kv/block_pool.h"
#include "model/config.h"
#include "ops/moe.h"
#include "ops/runtime.h"

namespace tritium {

struct LoadOptions {
  Device device = Device::cpu();
  // Activation / KV dtype. CPU computes in F32; CUDA in BF16 (or F16).
  std::optional<DType> compute_dtype;
  // KV cache dtype: nullopt = the compute dtype; F8E4M3 = fp8 e4m3 (scale 1: values rounded to
  // nearest, saturating at +-448), half the bytes of a bf16 cache, as vLLM's
  // --kv-cache-dtype fp8 without calibrated scales. CUDA: bf16 compute on sm89+.
  std::optional<DType> kv_cache_dtype;
  // Weight quantization of the decoder layers' linears (q|k|v, o, gate|up, down): nullopt =
  // none; F8E4M3 = fp8 e4m3 with one F32 scale per output row, made at load from the
  // checkpoint's weights, and activations quantized per token before each of those linears
  // (W8A8, as vLLM's --quantization fp8). Embeddings, norms and the lm_head keep the compute
  // dtype. CUDA: sm89+.
  std::optional<DType> quantization;
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
  // When defined: [T] I32 on the model's device, the token ids this step reads (in stream
  // order, so a step can be enqueued before the ids the previous one draws are known on the
  // host); token_ids then only gives T.
  Tensor device_token_ids;
  // Every wanted row is drawn greedily: forward_device may return their greedy token ids ([R]
  // I32 on the device, argmax of the logits, lowest id on ties) instead of the logits, which it
  // then never writes (ops::linear_argmax, where the backend has it). Callers tell the two
  // apart by the dtype of what comes back.
  bool argmax_only = false;
  int64_t num_tokens() const { return int64_t(token_ids.size()); }
  int64_t num_seqs() const { return int64_t(seq_lens.size()); }
  int64_t max_query_len() const;
};

struct Linear {
  // Output column ranges in order (fused q|k|v or gate|up on the GPU is one part).
  std::vector<Tensor> weights;  // each [N_i, K]
  std::vector<Tensor> biases;   // empty, or one per weight
  std::vector<Tensor> scales;   // fp8 weights (F8E4M3): F32 [N_i], one per weight; else empty
  int64_t out_features() const;
  bool fp8() const { return !scales.empty(); }
};

struct LayerWeights {
  Tensor input_norm, post_norm, q_norm, k_norm;
  Linear qkv, o, gate_up, down;  // gate_up / down: dense MLP layers only
  Tensor sinks;                  // attention sinks (gpt-oss): F32 [num_heads]
  Linear router;                 // MoE layers (model/moe.h): [E, H] (+ bias)
  ops::MoeExperts experts;       // MoE layers
};

class Model {
 public:
  // Loads a Hugging Face checkpoint directory (config.json + safetensors) or a GGUF file (a
  // path ending in .gguf, or a directory holding one and no config.json): model_source().
  static std::unique_ptr<Model> load(const std::string& path, const LoadOptions& opts = {});
  // A GGUF file: metadata -> spec, tensors dequantized at load (gguf_model.cpp).
  static std::unique_ptr<Model> load_gguf(const std::string& path, const LoadOptions& opts = {});
  // Random weights of a named shape (llama-1b, llama-8b, qwen3-0.6b, ...), made in memory.
  static std::unique_ptr<Model> synthetic(const std::string& name, const LoadOptions& opts = {});
  static std::vector<std::string> synthetic_names();
  // Builds weights from a provider: get(name, expected shape) -> tensor (any float dtype).
  using WeightFn = std::function<Tensor(const std::string& name, const Shape& shape)>;
  static std::unique_ptr<Model> build(const ModelSpec& spec, const WeightFn& get, const LoadOptions& opts);

  const ModelSpec& spec() const { return spec_; }
  Device device() const { return device_; }
  DType compute_dtype() const { return compute_dtype_; }
  DType kv_cache_dtype() const { return kv_dtype_; }
  // The dtype of the decoder layers' linear weights: the compute dtype (or, on the CPU, the
  // checkpoint's) unless LoadOptions::quantization made them F8E4M3.
  std::optional<DType> quantization() const { return quantization_; }
  int64_t weight_bytes() const { return weight_bytes_; }  // bytes of the weights as held
  // The weight bytes a decode step of `batch` sequences must read at least: every weight but the
  // embedding table once (of the embedding only `batch` rows, unless it is tied to the lm_head),
  // and of each MoE layer only the experts its tokens pick (expected_active_experts, model/moe.h),
  // in the format they are held in (MXFP4: 4.25 bits a weight).
  double decode_weight_bytes(int64_t batch) const;
  int64_t kv_bytes_per_block(int64_t block_size) const;

  KVCache allocate_kv_cache(int64_t num_blocks, int64_t block_size) const;
  // Runs the batch; returns logits [logits_indices.size(), vocab] in the compute dtype on the
  // model's device (or, with batch.argmax_only, maybe the greedy ids [logits_indices.size()]
  // I32). They may live in a workspace: valid until the next forward.
  Tensor forward_device(const ForwardBatch& batch, KVCache& kv);
  // The same, as F32 logits on the host (a copy the caller owns).
  Tensor forward(const ForwardBatch& batch, KVCache& kv);

  // Decode steps of up to max_batch sequences (one query token each, logits for every one)
  // run padded to a batch bucket, in a workspace allocated now; on a device that captures
  // graphs (CUDA), as one graph per (batch bucket, block-table width bucket), captured on
  // first use and replayed after. On the CPU the padded path runs eagerly (tests use it).
  // 0 turns this off. capture = false runs the padded steps eagerly on any device (tests
  // compare it with the graphs' replays).
  void enable_decode_graphs(int64_t max_batch, bool capture = true);
  int64_t decode_graph_max_batch() const;  // the largest bucket (0: off)
  size_t num_decode_graphs() const;
  int64_t num_graph_captures() const;
  // Steps that returned greedy token ids instead of logits (ForwardBatch::argmax_only).
  int64_t num_argmax_steps() const { return argmax_steps_; }
  int64_t num_graph_steps() const;  // forward passes that took the bucketed decode path
  // Seconds a replay of the last replayed decode graph takes on the device when n replays run
  // back to back (no host work between them); 0 without one. Rewrites that step's K/V slots
  // with the same values, so only for benchmarks, once nothing else uses the cache: the step
  // time less this is what a step spends outside its graph (sampling, host work).
  // launch_s (optional): the host time of one replay call, measured on an idle device.
  double time_graph_replays(int n, double* launch_s = nullptr);
  // Bytes enable_decode_graphs(rows) allocates for its workspace.
  int64_t workspace_bytes(int64_t rows) const;

  ~Model();

  // Names and shapes every checkpoint of this spec must hold.
  static std::vector<std::pair<std::string, Shape>> expected_tensors(const ModelSpec& spec);

 private:
  struct MetaLayout;
  struct StepMeta;
  struct Workspace;
  struct DecodeGraphs;
  Model();
  // Columns of the fp8 activation buffer: the widest input of a quantized linear.
  int64_t fp8_act_cols() const {
    return std::max({spec_.hidden_size, spec_.num_heads * spec_.head_dim, spec_.intermediate_size});
  }
  static void pack_meta(const ForwardBatch& b, const MetaLayout& L, bool rope_rows, int32_t* host);
  StepMeta upload_meta(const ForwardBatch& b, const MetaLayout& L, bool rope_rows, Tensor* dst);
  // decode_seqs: the leading sequences with one query token each (ops::AttentionArgs).
  Tensor run_layers(const StepMeta& m, int64_t T, int64_t max_q, int64_t decode_seqs, const Tensor& cos_sin,
                    KVCache& kv, Workspace* ws, bool all_rows, bool argmax);

  ModelSpec spec_;
  Device device_;
  DType compute_dtype_ = DType::F32;
  DType kv_dtype_ = DType::F32;
  std::optional<DType> quantization_;
  int64_t weight_bytes_ = 0;
  int64_t expert_bytes_ = 0;  // of all MoE layers' experts (in weight_bytes_)
  Tensor embed_, final_norm_, lm_head_;
  std::vector<LayerWeights> layers_;
  Tensor rope_table_;  // [max positions, rotary_dim] F32 on the device
  ops::StagingBuffer staging_;  // the step metadata is uploaded from here
  std::unique_ptr<DecodeGraphs> graphs_;
  int64_t argmax_steps_ = 0;
};

// A host F32 copy of logits from forward_device (which may be a view of the model's workspace).
Tensor logits_to_host_f32(const Tensor& logits);

// Named synthetic shapes.
ModelSpec synthetic_spec(const std::string& name);

}  // namespace tritium
