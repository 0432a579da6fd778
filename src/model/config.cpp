#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/file.h"

namespace tritium {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> a = {"LlamaForCausalLM",    "MistralForCausalLM",  "Qwen2ForCausalLM",
                                             "Qwen3ForCausalLM",    "MixtralForCausalLM",  "Qwen3MoeForCausalLM",
                                             "GptOssForCausalLM"};
  return a;
}

namespace {

struct Reader {
  const json& j;
  std::string where;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int64_t req_int(const char* k) const {
    if (!has(k)) throw Error(str_cat(where, ": missing required field '", k, "'"));
    if (!j[k].is_number_integer()) throw Error(str_cat(where, ": field '", k, "' must be an integer"));
    int64_t v = j[k].get<int64_t>();
    if (v <= 0) throw Error(str_cat(where, ": field '", k, "' must be positive, got ", v));
    return v;
  }
  int64_t opt_int(const char* k, int64_t dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_number_integer()) throw Error(str_cat(where, ": field '", k, "' must be an integer"));
    return j[k].get<int64_t>();
  }
  double opt_num(const json& o, const char* k, double dflt, const std::string& ctx) const {
    if (!o.contains(k) || o[k].is_null()) return dflt;
    if (!o[k].is_number()) throw Error(str_cat(where, ": field '", ctx, k, "' must be a number"));
    return o[k].get<double>();
  }
  bool opt_bool(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) throw Error(str_cat(where, ": field '", k, "' must be true or false"));
    return j[k].get<bool>();
  }
};

void parse_ids(const json& v, std::vector<int32_t>& out, const std::string& where, const char* field) {
  if (v.is_null()) return;
  if (v.is_number_integer()) {
    out.push_back(v.get<int32_t>());
  } else if (v.is_array()) {
    for (auto& e : v) {
      if (!e.is_number_integer()) throw Error(str_cat(where, ": '", field, "' must hold integers"));
      out.push_back(e.get<int32_t>());
    }
  } else {
    throw Error(str_cat(where, ": '", field, "' must be an integer or a list of integers"));
  }
}

void parse_rope(const Reader& r, ModelSpec& s) {
  const json& j = r.j;
  // Two forms: rope_theta + rope_scaling (most checkpoints), or rope_parameters (transformers >= 5).
  json params = json::object();
  std::string ctx;
  if (j.contains("rope_parameters") && !j["rope_parameters"].is_null()) {
    if (!j["rope_parameters"].is_object()) throw Error(r.where + ": 'rope_parameters' must be an object");
    params = j["rope_parameters"];
    ctx = "rope_parameters.";
    if (params.contains("full_attention") || params.contains("sliding_attention"))
      throw Error(r.where + ": per-layer-type rope_parameters are not supported for " + s.architecture);
  } else if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    if (!j["rope_scaling"].is_object()) throw Error(r.where + ": 'rope_scaling' must be an object or null");
    params = j["rope_scaling"];
    ctx = "rope_scaling.";
  }
  double theta = 10000.0;
  if (params.contains("rope_theta") && !params["rope_theta"].is_null()) {
    theta = r.opt_num(params, "rope_theta", theta, ctx);
  } else if (r.has("rope_theta")) {
    theta = r.opt_num(j, "rope_theta", theta, "");
  }
  s.rope.theta = theta;
  s.rope.partial_rotary_factor = r.opt_num(params, "partial_rotary_factor", r.opt_num(j, "partial_rotary_factor", 1.0, ""), ctx);

  std::string type = "default";
  if (params.contains("rope_type") && params["rope_type"].is_string()) type = params["rope_type"].get<std::string>();
  else if (params.contains("type") && params["type"].is_string()) type = params["type"].get<std::string>();

  auto need_factor = [&] {
    if (!params.contains("factor") || !params["factor"].is_number())
      throw Error(str_cat(r.where, ": rope type '", type, "' needs a numeric '", ctx, "factor'"));
    double f = params["factor"].get<double>();
    if (!(f >= 1.0)) throw Error(str_cat(r.where, ": '", ctx, "factor' must be >= 1, got ", f));
    return f;
  };
  int64_t orig = r.opt_int("original_max_position_embeddings", s.max_position_embeddings);
  if (params.contains("original_max_position_embeddings") && params["original_max_position_embeddings"].is_number())
    orig = params["original_max_position_embeddings"].get<int64_t>();
  s.rope.original_max_position_embeddings = orig;

  if (type == "default") {
    s.rope.type = RopeType::Default;
  } else if (type == "linear") {
    s.rope.type = RopeType::Linear;
    s.rope.factor = need_factor();
  } else if (type == "dynamic") {
    s.rope.type = RopeType::Dynamic;
    s.rope.factor = need_factor();
  } else if (type == "llama3") {
    s.rope.type = RopeType::Llama3;
    s.rope.factor = need_factor();
    s.rope.low_freq_factor = r.opt_num(params, "low_freq_factor", 1.0, ctx);
    s.rope.high_freq_factor = r.opt_num(params, "high_freq_factor", 4.0, ctx);
    if (!(s.rope.high_freq_factor > s.rope.low_freq_factor))
      throw Error(r.where + ": llama3 rope needs high_freq_factor > low_freq_factor");
  } else if (type == "yarn") {
    s.rope.type = RopeType::Yarn;
    if (params.contains("factor") && params["factor"].is_number())
      s.rope.factor = params["factor"].get<double>();
    else
      s.rope.factor = double(s.max_position_embeddings) / double(orig);
    s.rope.beta_fast = r.opt_num(params, "beta_fast", 32.0, ctx);
    s.rope.beta_slow = r.opt_num(params, "beta_slow", 1.0, ctx);
    if (s.rope.beta_fast == 0) s.rope.beta_fast = 32.0;
    if (s.rope.beta_slow == 0) s.rope.beta_slow = 1.0;
    if (params.contains("truncate") && params["truncate"].is_boolean()) s.rope.truncate = params["truncate"].get<bool>();
    auto mscale_of = [](double scale, double m) { return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0; };
    if (params.contains("attention_factor") && params["attention_factor"].is_number()) {
      s.rope.attention_factor = params["attention_factor"].get<double>();
    } else {
      double ms = r.opt_num(params, "mscale", 0.0, ctx), msa = r.opt_num(params, "mscale_all_dim", 0.0, ctx);
      if (ms != 0 && msa != 0)
        s.rope.attention_factor = mscale_of(s.rope.factor, ms) / mscale_of(s.rope.factor, msa);
      else
        s.rope.attention_factor = mscale_of(s.rope.factor, 1.0);
    }
  } else {
    throw Error(str_cat(r.where, ": rope type '", type, "' is not supported (supported: default, linear, dynamic, llama3, yarn)"));
  }
}

// Whether transformers' should_convert_module leaves module `name` unconverted: a pattern of
// quantization_config.modules_to_not_convert (a regex) matching at its start, or its suffix.
bool not_converted(const std::string& name, const std::vector<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (name.size() >= p.size() && name.compare(name.size() - p.size(), p.size(), p) == 0) return true;
    try {
      std::regex re(p);
      if (std::regex_search(name, re, std::regex_constants::match_continuous)) return true;
    } catch (const std::regex_error&) {
      // not a valid regex: only the suffix rule applies
    }
  }
  return false;
}

// MoE fields of Mixtral, Qwen3-MoE and gpt-oss configs, and gpt-oss's quantization_config.
void parse_moe(const Reader& r, ModelSpec& s) {
  const json& j = r.j;
  const std::string& a = s.architecture;
  const std::string& where = r.where;
  MoeSpec& m = s.moe;
  if (a == "MixtralForCausalLM") {
    m.num_experts = r.req_int("num_local_experts");
    m.top_k = r.opt_int("num_experts_per_tok", 2);
    m.intermediate_size = s.intermediate_size;
    m.layers.assign(size_t(s.num_layers), true);
  } else if (a == "Qwen3MoeForCausalLM") {
    // the released configs say num_experts; transformers 5 writes num_local_experts
    m.num_experts = r.has("num_experts") ? r.opt_int("num_experts", 0) : r.opt_int("num_local_experts", 0);
    m.top_k = r.opt_int("num_experts_per_tok", 8);
    m.intermediate_size = r.req_int("moe_intermediate_size");
    m.renormalize = r.opt_bool("norm_topk_prob", false);
    const int64_t step = r.opt_int("decoder_sparse_step", 1);
    if (step <= 0) throw Error(str_cat(where, ": 'decoder_sparse_step' must be positive, got ", step));
    std::vector<int64_t> dense;
    if (r.has("mlp_only_layers")) {
      if (!j["mlp_only_layers"].is_array()) throw Error(where + ": 'mlp_only_layers' must be a list of layer indices");
      for (auto& e : j["mlp_only_layers"]) {
        if (!e.is_number_integer()) throw Error(where + ": 'mlp_only_layers' must hold integers");
        dense.push_back(e.get<int64_t>());
      }
    }
    m.layers.assign(size_t(s.num_layers), false);
    for (int64_t l = 0; l < s.num_layers; ++l)
      m.layers[size_t(l)] = m.num_experts > 0 && (l + 1) % step == 0 &&
                            std::find(dense.begin(), dense.end(), l) == dense.end();
  } else if (a == "GptOssForCausalLM") {
    m.num_experts = r.req_int("num_local_experts");
    m.top_k = r.has("num_experts_per_tok") ? r.opt_int("num_experts_per_tok", 4) : r.opt_int("experts_per_token", 4);
    m.intermediate_size = s.intermediate_size;
    m.router = RouterKind::TopKSoftmax;
    m.router_bias = m.expert_bias = m.interleaved_gate_up = true;
    m.activation = ExpertActivation::SwigluClamp;
    m.swiglu_limit = r.opt_num(j, "swiglu_limit", 7.0, "");
    if (!(m.swiglu_limit > 0)) throw Error(str_cat(where, ": 'swiglu_limit' must be positive, got ", m.swiglu_limit));
    m.layers.assign(size_t(s.num_layers), true);
  } else {
    if (r.has("quantization_config"))
      throw Error(str_cat(where, ": quantization_config is not supported for ", a,
                          " (supported: mxfp4 experts of GptOssForCausalLM; --quantization fp8 quantizes at load)"));
    return;
  }
  if (m.num_experts <= 0) {  // Qwen3-MoE with num_experts 0: dense
    m = MoeSpec();
    return;
  }
  if (m.top_k <= 0 || m.top_k > m.num_experts)
    throw Error(str_cat(where, ": num_experts_per_tok (", m.top_k, ") must be between 1 and the number of experts (",
                        m.num_experts, ")"));
  m.mxfp4.assign(size_t(s.num_layers), false);
  if (r.has("quantization_config")) {
    const json& q = j["quantization_config"];
    if (!q.is_object()) throw Error(where + ": 'quantization_config' must be an object");
    const std::string method = q.value("quant_method", "");
    if (method != "mxfp4" || a != "GptOssForCausalLM")
      throw Error(str_cat(where, ": quantization_config.quant_method '", method, "' is not supported for ", a,
                          " (supported: mxfp4 experts of GptOssForCausalLM)"));
    std::vector<std::string> skip;
    if (q.contains("modules_to_not_convert") && !q["modules_to_not_convert"].is_null()) {
      if (!q["modules_to_not_convert"].is_array())
        throw Error(where + ": 'quantization_config.modules_to_not_convert' must be a list of module names");
      for (auto& e : q["modules_to_not_convert"]) {
        if (!e.is_string()) throw Error(where + ": 'quantization_config.modules_to_not_convert' must hold strings");
        skip.push_back(e.get<std::string>());
      }
    }
    // transformers converts only the experts (GptOssExperts) to MXFP4, each layer's unless listed
    for (int64_t l = 0; l < s.num_layers; ++l)
      m.mxfp4[size_t(l)] = m.layers[size_t(l)] && !not_converted(str_cat("model.layers.", l, ".mlp.experts"), skip);
    const int64_t H = s.hidden_size, I = m.intermediate_size;
    if (m.any_mxfp4() && (H % 32 != 0 || I % 32 != 0))
      throw Error(str_cat(where, ": MXFP4 experts need hidden_size (", H, ") and intermediate_size (", I,
                          ") to be multiples of 32 (the block size)"));
  }
}

}  // namespace

ModelSpec ModelSpec::from_json_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(str_cat(where, ": not valid JSON (", e.what(), ")"));
  }
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  Reader r{j, where};
  ModelSpec s;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string())
    throw Error(where + ": missing 'architectures' (a list naming the model class)");
  s.architecture = j["architectures"][0].get<std::string>();
  bool ok = false;
  for (auto& a : supported_architectures()) ok |= a == s.architecture;
  if (!ok) {
    std::string list;
    for (auto& a : supported_architectures()) list += (list.empty() ? "" : ", ") + a;
    throw Error(str_cat(where, ": architecture '", s.architecture, "' is not supported (supported: ", list, ")"));
  }
  s.model_type = j.value("model_type", "");
  s.vocab_size = r.req_int("vocab_size");
  s.hidden_size = r.req_int("hidden_size");
  s.intermediate_size = r.req_int("intermediate_size");
  s.num_layers = r.req_int("num_hidden_layers");
  s.num_heads = r.req_int("num_attention_heads");
  s.num_kv_heads = r.opt_int("num_key_value_heads", s.num_heads);
  if (s.num_kv_heads <= 0 || s.num_heads % s.num_kv_heads != 0)
    throw Error(str_cat(where, ": num_attention_heads (", s.num_heads, ") must be a multiple of num_key_value_heads (",
                        s.num_kv_heads, ")"));
  s.head_dim = r.opt_int("head_dim", 0);
  if (s.head_dim <= 0) {
    if (s.hidden_size % s.num_heads != 0)
      throw Error(str_cat(where, ": hidden_size (", s.hidden_size, ") is not divisible by num_attention_heads (",
                          s.num_heads, ") and no head_dim is given"));
    s.head_dim = s.hidden_size / s.num_heads;
  }
  s.rms_norm_eps = r.opt_num(j, "rms_norm_eps", 1e-6, "");
  s.tie_word_embeddings = r.opt_bool("tie_word_embeddings", false);
  s.max_position_embeddings = r.opt_int("max_position_embeddings", 4096);
  std::string act = j.value("hidden_act", "silu");
  if (act != "silu" && act != "swish")
    throw Error(str_cat(where, ": hidden_act '", act, "' is not supported (only silu)"));
  parse_rope(r, s);
  s.rotary_dim = int64_t(double(s.head_dim) * s.rope.partial_rotary_factor);
  if (s.rotary_dim <= 0 || s.rotary_dim % 2 || s.rotary_dim > s.head_dim)
    throw Error(str_cat(where, ": rotary dimension ", s.rotary_dim, " (head_dim x partial_rotary_factor) is invalid"));

  const std::string& a = s.architecture;
  if (a == "LlamaForCausalLM") {
    s.qkv_bias = s.o_bias = r.opt_bool("attention_bias", false);
    s.mlp_bias = r.opt_bool("mlp_bias", false);
  } else if (a == "Qwen2ForCausalLM") {
    s.qkv_bias = true;
  } else if (a == "Qwen3ForCausalLM" || a == "Qwen3MoeForCausalLM") {
    s.qkv_bias = s.o_bias = r.opt_bool("attention_bias", false);
    s.qk_norm = true;
  } else if (a == "GptOssForCausalLM") {
    s.qkv_bias = s.o_bias = r.opt_bool("attention_bias", true);
    s.attention_sinks = true;
  }
  parse_moe(r, s);

  // Sliding windows: an explicit layer_types list wins; else the architecture's rule.
  s.sliding_window.assign(size_t(s.num_layers), 0);
  int64_t window = r.opt_int("sliding_window", 0);
  if (r.has("layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || int64_t(lt.size()) != s.num_layers)
      throw Error(str_cat(where, ": 'layer_types' must list one type per layer (", s.num_layers, ")"));
    for (int64_t i = 0; i < s.num_layers; ++i) {
      std::string t = lt[size_t(i)].is_string() ? lt[size_t(i)].get<std::string>() : "";
      if (t == "sliding_attention") {
        if (window <= 0) throw Error(where + ": layer_types names sliding_attention but sliding_window is not set");
        s.sliding_window[size_t(i)] = window;
      } else if (t != "full_attention") {
        throw Error(str_cat(where, ": layer_types[", i, "] = '", t, "' is not supported"));
      }
    }
  } else if (a == "MistralForCausalLM" || a == "MixtralForCausalLM") {
    if (window > 0) s.sliding_window.assign(size_t(s.num_layers), window);
  } else if (a == "GptOssForCausalLM") {  // transformers' default: sliding, full, sliding, ...
    if (window > 0)
      for (int64_t i = 0; i < s.num_layers; i += 2) s.sliding_window[size_t(i)] = window;
  } else if (a == "Qwen2ForCausalLM" || a == "Qwen3ForCausalLM" || a == "Qwen3MoeForCausalLM") {
    if (r.opt_bool("use_sliding_window", false) && window > 0) {
      int64_t from = r.opt_int("max_window_layers", s.num_layers);
      for (int64_t i = from; i < s.num_layers; ++i) s.sliding_window[size_t(i)] = window;
    }
  }

  std::string dt = "";
  if (r.has("torch_dtype") && j["torch_dtype"].is_string()) dt = j["torch_dtype"].get<std::string>();
  if (r.has("dtype") && j["dtype"].is_string()) dt = j["dtype"].get<std::string>();
  if (!dt.empty()) {
    auto d = dtype_from_string(dt);
    if (!d) throw Error(str_cat(where, ": dtype '", dt, "' is not supported (float32, float16, bfloat16)"));
    s.weight_dtype = *d;
  }
  if (r.has("bos_token_id") && j["bos_token_id"].is_number_integer()) s.bos_token_id = j["bos_token_id"].get<int32_t>();
  if (r.has("eos_token_id")) parse_ids(j["eos_token_id"], s.eos_token_ids, where, "eos_token_id");
  return s;
}

ModelSpec ModelSpec::from_dir(const std::string& dir) {
  fs::path d(dir);
  fs::path cfg = d / "config.json";
  if (!fs::exists(cfg)) throw Error(str_cat(dir, ": no config.json (is this a Hugging Face model directory?)"));
  ModelSpec s = from_json_text(read_file(cfg.string(), kMaxConfigJsonBytes, "config.json"), cfg.string());
  fs::path gen = d / "generation_config.json";
  if (fs::exists(gen)) {
    std::string where = gen.string();
    json g;
    try {
      g = json::parse(read_file(gen.string(), kMaxConfigJsonBytes, "generation_config.json"));
    } catch (const json::exception& e) {
      throw Error(str_cat(where, ": not valid JSON (", e.what(), ")"));
    }
    if (g.contains("eos_token_id") && !g["eos_token_id"].is_null()) {
      s.eos_token_ids.clear();
      parse_ids(g["eos_token_id"], s.eos_token_ids, where, "eos_token_id");
    }
    if (g.contains("bos_token_id") && g["bos_token_id"].is_number_integer()) s.bos_token_id = g["bos_token_id"].get<int32_t>();
  }
  return s;
}

std::string ModelSpec::summary() const {
  std::string ffn = str_cat("ffn ", intermediate_size);
  if (is_moe()) {
    int64_t n = 0;
    for (bool b : moe.layers) n += b;
    ffn = str_cat(moe.num_experts, " experts (top ", moe.top_k, ", ffn ", moe.intermediate_size,
                  moe.any_mxfp4() ? ", MXFP4" : "", ") in ", n, " layers");
    if (n < num_layers) ffn += str_cat(", dense ffn ", intermediate_size);
  }
  return str_cat(architecture, ": ", num_layers, " layers, hidden ", hidden_size, ", heads ", num_heads, "/",
                 num_kv_heads, " (head_dim ", head_dim, "), ", ffn, ", vocab ", vocab_size);
}

}  // namespace tritium
