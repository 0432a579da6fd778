#include "model/gguf_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "model/gguf_dequant.h"
#include "model/model.h"

namespace tritium {

const std::vector<std::string>& gguf_supported_architectures() {
  static const std::vector<std::string> a = {"llama", "qwen2", "qwen3"};
  return a;
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string r;
  for (auto& s : v) r += (r.empty() ? "" : ", ") + s;
  return r;
}

// A per-layer count given as one number or as an array of equal numbers.
int64_t uniform_int(const GgufFile& f, const std::string& key, std::optional<int64_t> dflt) {
  const GgufValue* v = f.find(key);
  if (!v) {
    if (dflt) return *dflt;
    throw Error(str_cat(f.path(), ": missing metadata '", key, "'"));
  }
  int64_t r;
  if (v->type == GgufValueType::ARRAY) {
    auto all = f.get_ints(key).value();
    if (all.empty()) throw Error(str_cat(f.path(), ": metadata '", key, "' is an empty array"));
    for (auto x : all)
      if (x != all[0])
        throw Error(str_cat(f.path(), ": metadata '", key, "' differs between layers; tritium needs one value for all"));
    r = all[0];
  } else {
    r = f.get_int(key).value();
  }
  if (r <= 0) throw Error(str_cat(f.path(), ": metadata '", key, "' must be positive, got ", r));
  return r;
}

// Control tokens llama.cpp also treats as end of generation when the file names them.
const char* const kEndTokens[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                  "<|eom_id|>", "<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>"};

}  // namespace

ModelSpec gguf_model_spec(const GgufFile& f) {
  const std::string& path = f.path();
  auto arch_opt = f.get_string("general.architecture");
  if (!arch_opt) throw Error(path + ": missing metadata 'general.architecture'");
  const std::string arch = *arch_opt;
  const auto& ok = gguf_supported_architectures();
  if (std::find(ok.begin(), ok.end(), arch) == ok.end())
    throw Error(str_cat(path, ": general.architecture '", arch, "' is not supported (supported: ", join(ok), ")"));
  const std::string k = arch + ".";
  ModelSpec s;
  s.model_type = arch;
  s.architecture = arch == "llama" ? "LlamaForCausalLM" : arch == "qwen2" ? "Qwen2ForCausalLM" : "Qwen3ForCausalLM";
  s.num_layers = uniform_int(f, k + "block_count", std::nullopt);
  s.hidden_size = uniform_int(f, k + "embedding_length", std::nullopt);
  s.intermediate_size = uniform_int(f, k + "feed_forward_length", std::nullopt);
  s.num_heads = uniform_int(f, k + "attention.head_count", std::nullopt);
  s.num_kv_heads = uniform_int(f, k + "attention.head_count_kv", s.num_heads);
  if (s.num_heads % s.num_kv_heads != 0)
    throw Error(str_cat(path, ": ", k, "attention.head_count (", s.num_heads, ") must be a multiple of ", k,
                        "attention.head_count_kv (", s.num_kv_heads, ")"));
  if (!f.has(k + "attention.key_length") && s.hidden_size % s.num_heads != 0)
    throw Error(str_cat(path, ": ", k, "embedding_length (", s.hidden_size, ") is not divisible by ", k,
                        "attention.head_count (", s.num_heads, ") and no ", k, "attention.key_length is given"));
  s.head_dim = uniform_int(f, k + "attention.key_length", s.hidden_size / s.num_heads);
  int64_t vlen = uniform_int(f, k + "attention.value_length", s.head_dim);
  if (vlen != s.head_dim)
    throw Error(str_cat(path, ": ", k, "attention.value_length (", vlen, ") differs from the key length (", s.head_dim,
                        "); tritium needs them equal"));
  s.rotary_dim = uniform_int(f, k + "rope.dimension_count", s.head_dim);
  if (s.rotary_dim % 2 || s.rotary_dim > s.head_dim)
    throw Error(str_cat(path, ": ", k, "rope.dimension_count ", s.rotary_dim, " must be even and at most the head dim ",
                        s.head_dim));
  s.rope.partial_rotary_factor = double(s.rotary_dim) / double(s.head_dim);
  s.max_position_embeddings = uniform_int(f, k + "context_length", int64_t(4096));
  s.rms_norm_eps = f.get_float(k + "attention.layer_norm_rms_epsilon").value_or(1e-5);
  if (!(s.rms_norm_eps > 0))
    throw Error(str_cat(path, ": ", k, "attention.layer_norm_rms_epsilon must be positive, got ", s.rms_norm_eps));
  s.rope.theta = f.get_float(k + "rope.freq_base").value_or(10000.0);
  if (!(s.rope.theta > 1)) throw Error(str_cat(path, ": ", k, "rope.freq_base must be above 1, got ", s.rope.theta));

  // RoPE scaling: rope.scaling.* (or the older rope.scale_linear); llama 3's smoothed
  // frequencies come as the rope_freqs tensor (factors that divide each frequency).
  std::string scaling = f.get_string(k + "rope.scaling.type").value_or("none");
  double factor = f.get_float(k + "rope.scaling.factor").value_or(f.get_float(k + "rope.scale_linear").value_or(1.0));
  if (scaling == "none" && f.has(k + "rope.scale_linear") && factor != 1.0) scaling = "linear";
  s.rope.original_max_position_embeddings =
      f.get_int(k + "rope.scaling.original_context_length").value_or(s.max_position_embeddings);
  if (scaling == "linear") {
    if (!(factor >= 1)) throw Error(str_cat(path, ": ", k, "rope.scaling.factor must be >= 1, got ", factor));
    if (factor != 1.0) {
      s.rope.type = RopeType::Linear;
      s.rope.factor = factor;
    }
  } else if (scaling == "yarn") {
    if (!(factor >= 1)) throw Error(str_cat(path, ": ", k, "rope.scaling.factor must be >= 1, got ", factor));
    s.rope.type = RopeType::Yarn;
    s.rope.factor = factor;
    s.rope.beta_fast = f.get_float(k + "rope.scaling.yarn_beta_fast").value_or(32.0);
    s.rope.beta_slow = f.get_float(k + "rope.scaling.yarn_beta_slow").value_or(1.0);
    double mscale = factor <= 1 ? 1.0 : 0.1 * std::log(factor) + 1.0;
    s.rope.attention_factor = f.get_float(k + "rope.scaling.attn_factor").value_or(1.0) * mscale;
  } else if (scaling != "none") {
    throw Error(str_cat(path, ": ", k, "rope.scaling.type '", scaling, "' is not supported (none, linear, yarn)"));
  }
  if (const GgufTensorInfo* rf = f.tensor("rope_freqs.weight")) {
    if (rf->numel() != s.rotary_dim / 2 || rf->ne.size() != 1)
      throw Error(str_cat(path, ": tensor 'rope_freqs.weight' has shape ", shape_str(rf->shape()), ", expected [",
                          s.rotary_dim / 2, "] (half the rope dimension)"));
    if (rf->type != ggml_type::F32)
      throw Error(str_cat(path, ": tensor 'rope_freqs.weight' has type ", ggml_type_name(rf->type), ", expected F32"));
    s.rope.freq_factors.resize(size_t(rf->numel()));
    dequantize_row(rf->type, rf->data, s.rope.freq_factors.data(), rf->numel());
    for (float x : s.rope.freq_factors)
      if (!(x > 0)) throw Error(str_cat(path, ": tensor 'rope_freqs.weight' holds a factor that is not positive"));
  }

  const GgufTensorInfo* emb = f.tensor("token_embd.weight");
  if (!emb) throw Error(path + ": missing tensor 'token_embd.weight'");
  int64_t vocab = emb->ne.size() == 2 ? emb->ne[1] : 0;
  if (auto v = f.get_int(k + "vocab_size")) vocab = *v;
  s.vocab_size = vocab;
  if (s.vocab_size <= 0) throw Error(path + ": cannot tell the vocabulary size");
  s.tie_word_embeddings = f.tensor("output.weight") == nullptr;
  s.qkv_bias = f.tensor("blk.0.attn_q.bias") != nullptr;
  s.o_bias = f.tensor("blk.0.attn_output.bias") != nullptr;
  s.mlp_bias = f.tensor("blk.0.ffn_gate.bias") != nullptr;
  s.qk_norm = f.tensor("blk.0.attn_q_norm.weight") != nullptr;
  if (arch == "qwen2" && !s.qkv_bias) throw Error(path + ": qwen2 needs q/k/v biases, but 'blk.0.attn_q.bias' is missing");
  if (arch == "qwen3" && !s.qk_norm)
    throw Error(path + ": qwen3 needs q/k norms, but 'blk.0.attn_q_norm.weight' is missing");
  if (arch != "qwen3" && s.qk_norm) throw Error(str_cat(path, ": unexpected tensor 'blk.0.attn_q_norm.weight' for ", arch));
  s.sliding_window.assign(size_t(s.num_layers), 0);
  s.weight_dtype = emb->type == ggml_type::BF16 ? DType::BF16 : emb->type == ggml_type::F16 ? DType::F16 : DType::F32;

  if (auto b = f.get_int("tokenizer.ggml.bos_token_id")) s.bos_token_id = int32_t(*b);
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"})
    if (auto e = f.get_int(key))
      if (std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), int32_t(*e)) == s.eos_token_ids.end())
        s.eos_token_ids.push_back(int32_t(*e));
  auto tokens = f.get_strings("tokenizer.ggml.tokens");
  auto types = f.get_ints("tokenizer.ggml.token_type");
  if (tokens && types && types->size() == tokens->size()) {
    for (size_t id = 0; id < tokens->size(); ++id) {
      if ((*types)[id] != 3) continue;  // control tokens only
      for (const char* t : kEndTokens)
        if ((*tokens)[id] == t && std::find(s.eos_token_ids.begin(), s.eos_token_ids.end(), int32_t(id)) == s.eos_token_ids.end())
          s.eos_token_ids.push_back(int32_t(id));
    }
  }
  return s;
}

std::string gguf_tensor_name(const std::string& n) {
  static const std::map<std::string, std::string> top = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm", "attn_norm"},     {"post_attention_layernorm", "ffn_norm"},
      {"self_attn.q_proj", "attn_q"},       {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},       {"self_attn.o_proj", "attn_output"},
      {"self_attn.q_norm", "attn_q_norm"},  {"self_attn.k_norm", "attn_k_norm"},
      {"mlp.gate_proj", "ffn_gate"},        {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},
  };
  if (auto it = top.find(n); it != top.end()) return it->second;
  const std::string pre = "model.layers.";
  if (n.rfind(pre, 0) != 0) return "";
  size_t dot = n.find('.', pre.size());
  if (dot == std::string::npos) return "";
  std::string idx = n.substr(pre.size(), dot - pre.size());
  size_t last = n.rfind('.');
  if (last <= dot) return "";
  std::string mid = n.substr(dot + 1, last - dot - 1), suffix = n.substr(last);
  auto it = layer.find(mid);
  if (it == layer.end()) return "";
  return "blk." + idx + "." + it->second + suffix;
}

ModelSource model_source(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "config.json")) return {path, false};
    std::vector<std::string> ggufs;
    for (auto& e : fs::directory_iterator(path, ec))
      if (e.path().extension() == ".gguf") ggufs.push_back(e.path().filename().string());
    std::sort(ggufs.begin(), ggufs.end());
    if (ggufs.size() == 1) return {(fs::path(path) / ggufs[0]).string(), true};
    if (ggufs.size() > 1)
      throw Error(str_cat(path, ": no config.json, and ", ggufs.size(), " GGUF files (", join(ggufs),
                          "): name one of them"));
    return {path, false};  // Model::load reports what the directory lacks
  }
  if (!fs::exists(path, ec)) throw Error(str_cat(path, ": no such file or directory"));
  if (is_gguf_path(path)) return {path, true};
  throw Error(str_cat(path, ": neither a model directory nor a GGUF file"));
}

std::unique_ptr<Model> Model::load_gguf(const std::string& path, const LoadOptions& opts) {
  auto f = GgufFile::open(path);
  GgufWeights w(f, gguf_model_spec(*f));
  // The CPU reads F32/F16/BF16 tensors in place and computes in F32; a GPU takes the compute
  // dtype, so quantized blocks are decoded straight to it.
  const bool cpu = opts.device.is_cpu();
  const DType out = cpu ? DType::F32 : opts.compute_dtype.value_or(DType::BF16);
  return build(w.spec, [&](const std::string& name, const Shape&) { return w.get(name, out, cpu); }, opts);
}

GgufWeights::GgufWeights(std::shared_ptr<GgufFile> f, ModelSpec s) : file(std::move(f)), spec(std::move(s)) {
  const std::string& path = file->path();
  std::set<std::string> used;
  for (auto& [hf, shape] : Model::expected_tensors(spec)) {
    std::string g = gguf_tensor_name(hf);
    const GgufTensorInfo* t = file->tensor(g);
    if (!t) throw Error(str_cat(path, ": missing tensor '", g, "' (", hf, ") required by ", spec.model_type));
    if (t->shape() != shape)
      throw Error(str_cat(path, ": tensor '", g, "' has shape ", shape_str(t->shape()), " but the metadata implies ",
                          shape_str(shape), " (", hf, ")"));
    const GgmlTypeInfo* ti = ggml_type_info(t->type);
    if (!ti->dequantizable)
      throw Error(str_cat(path, ": tensor '", g, "' has type ", ti->name, ", which tritium does not read (supported: ",
                          ggml_dequantizable_types(), ")"));
    used.insert(g);
  }
  used.insert("rope_freqs.weight");  // read into the spec
  for (auto& t : file->tensors()) {
    if (used.count(t.name)) continue;
    // llama.cpp writes these for older models; the forward pass computes rotary tables itself.
    if (t.name.size() > 14 && t.name.compare(t.name.size() - 14, 14, ".attn_rot_embd") == 0) continue;
    throw Error(str_cat(path, ": unexpected tensor '", t.name, "' for ", spec.model_type, " with this metadata"));
  }
}

std::vector<int64_t> GgufWeights::row_order(const std::string& hf, int64_t rows) const {
  if (spec.model_type != "llama") return {};
  const bool q = hf.find(".self_attn.q_proj.") != std::string::npos;
  const bool k = hf.find(".self_attn.k_proj.") != std::string::npos;
  if (!q && !k) return {};
  // convert_hf_to_gguf stores each head's rows as (hd/2, 2) where transformers has (2, hd/2):
  // HF row h*hd + a*hd/2 + b is GGUF row h*hd + 2b + a.
  const int64_t heads = q ? spec.num_heads : spec.num_kv_heads, hd = rows / heads, half = hd / 2;
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t h = r / hd, rem = r % hd, a = rem / half, b = rem % half;
    order[size_t(r)] = h * hd + 2 * b + a;
  }
  return order;
}

Tensor GgufWeights::get(const std::string& hf, DType out, bool zero_copy) const {
  const GgufTensorInfo* t = file->tensor(gguf_tensor_name(hf));
  TRITIUM_CHECK(t, file->path(), ": no tensor for '", hf, "'");
  const Shape shape = t->shape();
  const int64_t cols = t->ne[0], rows = t->numel() / cols;
  std::vector<int64_t> order = row_order(hf, shape[0]);
  DType native = t->type == ggml_type::F32 ? DType::F32 : t->type == ggml_type::F16 ? DType::F16
                 : t->type == ggml_type::BF16 ? DType::BF16 : DType::U8;
  if (zero_copy && order.empty() && native != DType::U8)
    return Tensor::from_blob(const_cast<char*>(t->data), shape, native, Device::cpu(), file->holder());
  Tensor r = Tensor::empty(shape, out);
  if (shape.size() == 1 && !order.empty()) {  // a q/k bias: permute its elements
    std::vector<float> tmp(static_cast<size_t>(cols));
    dequantize_row(t->type, t->data, tmp.data(), cols);
    Tensor f = Tensor::empty(shape, DType::F32);
    for (int64_t i = 0; i < cols; ++i) f.data<float>()[i] = tmp[size_t(order[size_t(i)])];
    return f.to(out);
  }
  dequantize_matrix(t->type, t->data, rows, cols, out, r.data(), order.empty() ? nullptr : &order);
  return r;
}

}  // namespace tritium
