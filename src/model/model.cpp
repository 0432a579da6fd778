// Loading: checkpoint validation against the architecture, weight placement, synthetic models.
#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <unistd.h>

#include "core/thread_pool.h"
#include "core/half.h"
#include "model/gguf_model.h"
#include "model/moe.h"
#include "model/rope.h"
#include "model/safetensors.h"
#include "ops/ops.h"

namespace tritium {

int64_t ForwardBatch::max_query_len() const {
  int64_t m = 0;
  for (size_t s = 0; s + 1 < cu_seqlens_q.size(); ++s) m = std::max<int64_t>(m, cu_seqlens_q[s + 1] - cu_seqlens_q[s]);
  return m;
}

int64_t Linear::out_features() const {
  int64_t n = 0;
  for (auto& w : weights) n += w.size(0);
  return n;
}

std::vector<std::pair<std::string, Shape>> Model::expected_tensors(const ModelSpec& s) {
  std::vector<std::pair<std::string, Shape>> e;
  const int64_t H = s.hidden_size, hd = s.head_dim, qd = s.num_heads * hd, kvd = s.num_kv_heads * hd,
                I = s.intermediate_size;
  e.push_back({"model.embed_tokens.weight", {s.vocab_size, H}});
  for (int64_t l = 0; l < s.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    e.push_back({p + "input_layernorm.weight", {H}});
    e.push_back({p + "post_attention_layernorm.weight", {H}});
    e.push_back({p + "self_attn.q_proj.weight", {qd, H}});
    e.push_back({p + "self_attn.k_proj.weight", {kvd, H}});
    e.push_back({p + "self_attn.v_proj.weight", {kvd, H}});
    e.push_back({p + "self_attn.o_proj.weight", {H, qd}});
    if (s.qkv_bias) {
      e.push_back({p + "self_attn.q_proj.bias", {qd}});
      e.push_back({p + "self_attn.k_proj.bias", {kvd}});
      e.push_back({p + "self_attn.v_proj.bias", {kvd}});
    }
    if (s.o_bias) e.push_back({p + "self_attn.o_proj.bias", {H}});
    if (s.qk_norm) {
      e.push_back({p + "self_attn.q_norm.weight", {hd}});
      e.push_back({p + "self_attn.k_norm.weight", {hd}});
    }
    if (s.attention_sinks) e.push_back({p + "self_attn.sinks", {s.num_heads}});
    if (s.moe_layer(l)) {
      moe_expected_tensors(s, l, e);
      continue;
    }
    e.push_back({p + "mlp.gate_proj.weight", {I, H}});
    e.push_back({p + "mlp.up_proj.weight", {I, H}});
    e.push_back({p + "mlp.down_proj.weight", {H, I}});
    if (s.mlp_bias) {
      e.push_back({p + "mlp.gate_proj.bias", {I}});
      e.push_back({p + "mlp.up_proj.bias", {I}});
      e.push_back({p + "mlp.down_proj.bias", {H}});
    }
  }
  e.push_back({"model.norm.weight", {H}});
  if (!s.tie_word_embeddings) e.push_back({"lm_head.weight", {s.vocab_size, H}});
  return e;
}

// Tensors a checkpoint may carry that the forward pass does not use.
static bool ignorable(const std::string& name, const ModelSpec& s) {
  if (name.find("rotary_emb.inv_freq") != std::string::npos) return true;
  if (s.tie_word_embeddings && name == "lm_head.weight") return true;  // transformers ties it anyway
  return false;
}

std::unique_ptr<Model> Model::load(const std::string& path, const LoadOptions& opts) {
  ModelSource src = model_source(path);
  if (src.gguf) return load_gguf(src.path, opts);
  const std::string& dir = src.path;
  ModelSpec spec = ModelSpec::from_dir(dir);
  Checkpoint ck = Checkpoint::open(dir);
  auto expected = expected_tensors(spec);
  std::set<std::string> want;
  for (auto& [name, shape] : expected) {
    want.insert(name);
    if (!ck.has(name))
      throw Error(str_cat(dir, ": checkpoint is missing tensor '", name, "' required by ", spec.architecture));
    const TensorInfo& info = ck.info(name);
    if (info.shape != shape)
      throw Error(str_cat(ck.file_of(name), ": tensor '", name, "' has shape ", shape_str(info.shape),
                          " but config.json implies ", shape_str(shape)));
    if (is_mxfp4_tensor(name)) {
      if (info.dtype != DType::U8)
        throw Error(str_cat(ck.file_of(name), ": tensor '", name, "' has dtype ", dtype_name(info.dtype),
                            " (expected U8: MXFP4 blocks or e8m0 scales)"));
    } else if (info.dtype != DType::F32 && info.dtype != DType::BF16 && info.dtype != DType::F16) {
      throw Error(str_cat(ck.file_of(name), ": tensor '", name, "' has dtype ", dtype_name(info.dtype),
                          " (expected F32, BF16 or F16)"));
    }
  }
  for (auto& name : ck.names())
    if (!want.count(name) && !ignorable(name, spec))
      throw Error(str_cat(ck.file_of(name), ": unexpected tensor '", name, "' for ", spec.architecture,
                          " with this config.json"));
  return build(spec, [&](const std::string& name, const Shape&) { return ck.get(name); }, opts);
}

static Tensor to_f32_host(const Tensor& t) { return t.dtype() == DType::F32 ? t : t.to(DType::F32); }


static bool cpu_or_bf16(Device d, DType compute) { return d.is_cpu() || compute == DType::BF16; }

std::unique_ptr<Model> Model::build(const ModelSpec& spec, const WeightFn& get, const LoadOptions& opts) {
  std::unique_ptr<Model> m(new Model());
  m->spec_ = spec;
  m->device_ = opts.device;
  m->compute_dtype_ = opts.compute_dtype.value_or(opts.device.is_cpu() ? DType::F32 : DType::BF16);
  TRITIUM_CHECK(!opts.device.is_cpu() || m->compute_dtype_ == DType::F32, "the CPU backend computes in float32");
  TRITIUM_CHECK(opts.device.is_cpu() || m->compute_dtype_ == DType::BF16 || m->compute_dtype_ == DType::F16,
                "the ", opts.device.str(), " backend computes in bfloat16 or float16, not ", dtype_name(m->compute_dtype_));
  m->kv_dtype_ = opts.kv_cache_dtype.value_or(m->compute_dtype_);
  TRITIUM_CHECK(m->kv_dtype_ == m->compute_dtype_ || m->kv_dtype_ == DType::F8E4M3,
                "the KV cache holds the compute dtype (", dtype_name(m->compute_dtype_), ") or fp8 e4m3, not ",
                dtype_name(m->kv_dtype_));
  TRITIUM_CHECK(m->kv_dtype_ != DType::F8E4M3 || cpu_or_bf16(opts.device, m->compute_dtype_),
                "an fp8 KV cache on ", opts.device.str(), " needs bfloat16 compute, not ", dtype_name(m->compute_dtype_));
  m->quantization_ = opts.quantization;
  TRITIUM_CHECK(!m->quantization_ || *m->quantization_ == DType::F8E4M3, "weight quantization ",
                dtype_name(*m->quantization_), " is not supported (fp8 only)");
  TRITIUM_CHECK(!m->quantization_ || !spec.is_moe(), "--quantization fp8 is not supported for ", spec.architecture,
                " (mixture-of-experts models run their experts in the checkpoint's format: bf16, or MXFP4 for gpt-oss)");
  const bool cpu = opts.device.is_cpu();
  auto expected = expected_tensors(spec);
  std::map<std::string, Shape> shapes(expected.begin(), expected.end());
  size_t done = 0;
  int last_pct = -1;
  const bool progress = opts.progress && isatty(2);
  auto fetch = [&](const std::string& name) {
    Tensor t = get(name, shapes.at(name));
    TRITIUM_CHECK(t.shape() == shapes.at(name), "weight '", name, "' has shape ", shape_str(t.shape()), ", expected ",
                  shape_str(shapes.at(name)));
    ++done;
    if (progress) {
      int pct = int(100 * done / expected.size());
      if (pct != last_pct) {
        last_pct = pct;
        std::fprintf(stderr, "\rloading weights [%-40s] %3d%% (%zu/%zu tensors)", std::string(size_t(pct * 40 / 100), '#').c_str(),
                     pct, done, expected.size());
        if (done == expected.size()) std::fprintf(stderr, "\n");
      }
    }
    return t;
  };
  // CPU: small vectors (norms, biases) are kept in F32; matrices stay zero-copy in their
  // checkpoint dtype. GPU: every weight, 1-D ones included, is converted on the host to the
  // compute dtype (BF16/F16) before upload: the CUDA kernels take one element type for
  // activations, weights, norm weights and biases (src/backends/cuda/cuda_ops.h).
  auto vec = [&](const std::string& name) {
    Tensor t = fetch(name);
    if (cpu) return to_f32_host(t);
    return t.to(m->compute_dtype_).to(opts.device);
  };
  auto mat = [&](const std::string& name) {
    Tensor t = fetch(name);
    return cpu ? t : t.to(m->compute_dtype_).to(opts.device);
  };
  // fp8 weights: each weight (host, any float dtype) is quantized per output row on the host
  // (ops::quantize_fp8_rows on the CPU), then the codes and scales go to the device.
  auto add_weight = [&](Linear& lin, const Tensor& host) {
    if (!m->quantization_) {
      lin.weights.push_back(cpu ? host : host.to(m->compute_dtype_).to(opts.device));
      return;
    }
    // the GPU kernels take rows and strides of whole 16-byte units (docs/KERNELS.md)
    TRITIUM_CHECK(cpu || (host.size(0) % 16 == 0 && host.size(1) % 16 == 0), "fp8 weights on ", opts.device.str(),
                  " need linears whose dimensions are multiples of 16; this model has one of ",
                  shape_str(host.shape()));
    Tensor f = host.dtype() == DType::F32 ? host.contiguous() : host.to(DType::F32);
    Tensor q = Tensor::empty(f.shape(), DType::F8E4M3), sc = Tensor::empty({f.size(0)}, DType::F32);
    ops::quantize_fp8_rows(f, q, sc);
    lin.weights.push_back(cpu ? q : q.to(opts.device));
    lin.scales.push_back(cpu ? sc : sc.to(opts.device));
  };
  // GPU: q|k|v and gate|up are concatenated into one weight each (rows in that order), so
  // each is one GEMV / GEMM launch over the wider N instead of three or two narrow ones.
  // The CPU keeps the checkpoint's tensors (zero-copy) and writes column slices.
  auto fused_host = [&](const std::vector<std::string>& names) {
    std::vector<Tensor> parts;
    int64_t rows = 0;
    for (auto& n : names) {
      parts.push_back(fetch(n).to(m->compute_dtype_));
      rows += parts.back().size(0);
    }
    Shape shape = parts[0].shape();
    shape[0] = rows;
    Tensor all = Tensor::empty(shape, m->compute_dtype_);
    char* dst = static_cast<char*>(all.data());
    for (auto& t : parts) {
      Tensor c = t.contiguous();
      std::memcpy(dst, c.data(), c.nbytes());
      dst += c.nbytes();
    }
    return all;
  };
  auto linear_parts = [&](Linear& lin, const std::string& prefix, const std::vector<std::string>& projs, bool bias) {
    if (cpu) {
      for (auto& n : projs) {
        add_weight(lin, fetch(prefix + n + ".weight"));
        if (bias) lin.biases.push_back(vec(prefix + n + ".bias"));
      }
      return;
    }
    std::vector<std::string> w, b;
    for (auto& n : projs) {
      w.push_back(prefix + n + ".weight");
      b.push_back(prefix + n + ".bias");
    }
    add_weight(lin, fused_host(w));
    if (bias) lin.biases.push_back(fused_host(b).to(opts.device));
  };
  m->embed_ = mat("model.embed_tokens.weight");
  for (int64_t l = 0; l < spec.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights L;
    L.input_norm = vec(p + "input_layernorm.weight");
    L.post_norm = vec(p + "post_attention_layernorm.weight");
    linear_parts(L.qkv, p + "self_attn.", {"q_proj", "k_proj", "v_proj"}, spec.qkv_bias);
    add_weight(L.o, fetch(p + "self_attn.o_proj.weight"));
    if (spec.o_bias) L.o.biases.push_back(vec(p + "self_attn.o_proj.bias"));
    if (spec.qk_norm) {
      L.q_norm = vec(p + "self_attn.q_norm.weight");
      L.k_norm = vec(p + "self_attn.k_norm.weight");
    }
    // sinks: F32 on every device (the attention kernels read them as fp32)
    if (spec.attention_sinks) L.sinks = to_f32_host(fetch(p + "self_attn.sinks")).to(opts.device);
    if (spec.moe_layer(l)) {
      load_moe_layer(spec, l, fetch, opts.device, m->compute_dtype_, L);
    } else {
      linear_parts(L.gate_up, p + "mlp.", {"gate_proj", "up_proj"}, spec.mlp_bias);
      add_weight(L.down, fetch(p + "mlp.down_proj.weight"));
      if (spec.mlp_bias) L.down.biases.push_back(vec(p + "mlp.down_proj.bias"));
    }
    m->layers_.push_back(std::move(L));
  }
  m->final_norm_ = vec("model.norm.weight");
  m->lm_head_ = spec.tie_word_embeddings ? m->embed_ : mat("lm_head.weight");
  m->rope_table_ = rope_table(spec, std::max<int64_t>(spec.max_position_embeddings, 1)).to(opts.device);
  // the bytes as held (the checkpoint's on the CPU, which maps it; converted or quantized on a GPU)
  int64_t held = int64_t(m->embed_.nbytes() + m->final_norm_.nbytes());
  if (!spec.tie_word_embeddings) held += int64_t(m->lm_head_.nbytes());
  for (const LayerWeights& L : m->layers_) {
    for (const Tensor* t : {&L.input_norm, &L.post_norm, &L.q_norm, &L.k_norm, &L.sinks})
      if (t->defined()) held += int64_t(t->nbytes());
    for (const Linear* lin : {&L.qkv, &L.o, &L.gate_up, &L.down, &L.router})
      for (const auto* list : {&lin->weights, &lin->biases, &lin->scales})
        for (const Tensor& t : *list) held += int64_t(t.nbytes());
    const int64_t experts = expert_bytes(L) * L.experts.num_experts();
    held += experts;
    m->expert_bytes_ += experts;
  }
  m->weight_bytes_ = held;
  return m;
}

double Model::decode_weight_bytes(int64_t batch) const {
  double b = double(weight_bytes_ - expert_bytes_);
  if (!spec_.tie_word_embeddings)  // the step reads `batch` rows of the table, not all of it
    b -= double(embed_.nbytes()) * (1.0 - std::min(1.0, double(batch) / double(std::max<int64_t>(1, spec_.vocab_size))));
  for (int64_t l = 0; l < spec_.num_layers; ++l) {
    const LayerWeights& L = layers_[size_t(l)];
    if (L.experts.num_experts() > 0)
      b += expected_active_experts(L.experts.num_experts(), spec_.moe.top_k, batch) * double(expert_bytes(L));
  }
  return b;
}

int64_t Model::kv_bytes_per_block(int64_t block_size) const {
  return 2 * spec_.num_layers * block_size * spec_.num_kv_heads * spec_.head_dim * int64_t(dtype_size(kv_dtype_));
}

KVCache Model::allocate_kv_cache(int64_t num_blocks, int64_t block_size) const {
  return KVCache::allocate(spec_.num_layers, num_blocks, block_size, spec_.num_kv_heads, spec_.head_dim,
                           kv_dtype_, device_);
}

// ---------------------------------------------------------------- synthetic models

ModelSpec synthetic_spec(const std::string& name) {
  ModelSpec s;
  s.architecture = "LlamaForCausalLM";
  s.model_type = "llama";
  s.rms_norm_eps = 1e-5;
  s.max_position_embeddings = 8192;
  s.weight_dtype = DType::BF16;
  s.rope.theta = 500000.0;
  s.vocab_size = 128256;
  if (name == "llama-1b") {  // Llama 3.2 1B shape
    s.hidden_size = 2048; s.intermediate_size = 8192; s.num_layers = 16; s.num_heads = 32; s.num_kv_heads = 8;
    s.head_dim = 64; s.tie_word_embeddings = true;
  } else if (name == "llama-3b") {
    s.hidden_size = 3072; s.intermediate_size = 8192; s.num_layers = 28; s.num_heads = 24; s.num_kv_heads = 8;
    s.head_dim = 128; s.tie_word_embeddings = true;
  } else if (name == "llama-8b") {  // Llama 3.1 8B shape
    s.hidden_size = 4096; s.intermediate_size = 14336; s.num_layers = 32; s.num_heads = 32; s.num_kv_heads = 8;
    s.head_dim = 128;
  } else if (name == "qwen3-0.6b") {
    s.architecture = "Qwen3ForCausalLM"; s.model_type = "qwen3"; s.qk_norm = true; s.rope.theta = 1000000.0;
    s.vocab_size = 151936; s.hidden_size = 1024; s.intermediate_size = 3072; s.num_layers = 28; s.num_heads = 16;
    s.num_kv_heads = 8; s.head_dim = 128; s.tie_word_embeddings = true; s.rms_norm_eps = 1e-6;
  } else if (name == "tiny") {  // for tests and smoke runs
    s.vocab_size = 512; s.hidden_size = 128; s.intermediate_size = 256; s.num_layers = 2; s.num_heads = 4;
    s.num_kv_heads = 2; s.head_dim = 32; s.max_position_embeddings = 2048;
  } else if (moe_synthetic_spec(name, s)) {  // gpt-oss, Mixtral, Qwen3-MoE shapes (model/moe.cpp)
    return s;
  } else {
    std::string list;
    for (auto& n : Model::synthetic_names()) list += (list.empty() ? "" : ", ") + n;
    throw Error(str_cat("unknown synthetic model '", name, "' (available: ", list, ")"));
  }
  s.rotary_dim = s.head_dim;
  s.sliding_window.assign(size_t(s.num_layers), 0);
  return s;
}

std::vector<std::string> Model::synthetic_names() {
  std::vector<std::string> n = {"tiny", "llama-1b", "llama-3b", "llama-8b", "qwen3-0.6b"};
  for (auto& m : moe_synthetic_names()) n.push_back(m);
  return n;
}

std::unique_ptr<Model> Model::synthetic(const std::string& name, const LoadOptions& opts) {
  ModelSpec spec = synthetic_spec(name);
  uint64_t counter = 0;
  // Deterministic pseudo-random weights, scaled like a trained model's (unit-ish activations).
  auto get = [&](const std::string& wname, const Shape& shape) {
    if (is_mxfp4_tensor(wname)) return synthetic_mxfp4(wname, shape, ++counter);
    Tensor t = Tensor::empty(shape, DType::BF16);
    uint16_t* p = t.data<uint16_t>();
    const int64_t n = t.numel();
    const bool is_norm = shape.size() == 1;
    const float scale = is_norm ? 0.1f : 1.0f / std::sqrt(float(shape.back()));
    const uint64_t seed = 0x9e3779b97f4a7c15ull * (++counter);
    parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        uint64_t z = seed + uint64_t(i) * 0xbf58476d1ce4e5b9ull;  // splitmix64
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        float u = float(z >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f;  // uniform [-1, 1)
        float v = is_norm ? 1.0f + scale * u : scale * 1.7320508f * u;  // unit variance x scale
        p[i] = f32_to_bf16(v);
      }
    });
    return t;
  };
  return build(spec, get, opts);
}

}  // namespace tritium
