// A GGUF file as a model: its metadata as a ModelSpec (architectures llama, qwen2, qwen3) and its
// tensors as the weights Model::build expects, under the Hugging Face names, with llama.cpp's
// q/k row permutation (llama only) undone so the forward pass equals transformers'.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/gguf.h"

namespace tritium {

// What a model path names: a checkpoint directory, or a GGUF file (a path ending in .gguf or
// starting with the GGUF magic, or a directory with no config.json and exactly one .gguf file).
// Throws naming the path when it is neither.
struct ModelSource {
  std::string path;  // the directory, or the .gguf file
  bool gguf = false;
};
ModelSource model_source(const std::string& path);

// The GGUF architectures tritium runs: llama (Llama, Mistral, SmolLM, ...), qwen2, qwen3.
const std::vector<std::string>& gguf_supported_architectures();

// Metadata (+ the tensor directory: biases, q/k norms, tied output, rope_freqs) -> ModelSpec.
// Errors name the file and the metadata key.
ModelSpec gguf_model_spec(const GgufFile& f);

// The GGUF tensor that holds a Hugging Face weight name ("model.layers.3.self_attn.q_proj.weight"
// -> "blk.3.attn_q.weight"); "" for names with no GGUF counterpart.
std::string gguf_tensor_name(const std::string& hf_name);

// Where each weight comes from: the checks Model::load_gguf runs before reading any data, and
// the reads it then does.
struct GgufWeights {
  std::shared_ptr<GgufFile> file;
  ModelSpec spec;
  // Validates the directory against the spec: every tensor present with the shape the spec
  // implies, of a type tritium dequantizes, nothing left over.
  GgufWeights(std::shared_ptr<GgufFile> f, ModelSpec s);
  // The weight as a host tensor: a zero-copy view of the mapping where its type is `keep`
  // (F32, F16 or BF16 data on the CPU, unpermuted), else dequantized (threaded) to `out`.
  Tensor get(const std::string& hf_name, DType out, bool zero_copy) const;
  // llama's attn_q / attn_k rows are stored rotated pairwise (convert_hf_to_gguf's permute);
  // for those, the source row of each output row, else empty.
  std::vector<int64_t> row_order(const std::string& hf_name, int64_t rows) const;
};

}  // namespace tritium
