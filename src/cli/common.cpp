#include "cli/common.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "tritium/model_files.h"
#include "core/file.h"
#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/cuda_ops.h"
#endif

namespace tritium::cli {

SamplingParams SamplingArgs::params() const {
  SamplingParams p;
  p.max_tokens = max_tokens;
  p.temperature = temperature;
  p.top_p = top_p;
  p.top_k = top_k;
  p.min_p = min_p;
  p.repetition_penalty = repetition_penalty;
  p.presence_penalty = presence_penalty;
  p.frequency_penalty = frequency_penalty;
  if (seed >= 0) p.seed = uint64_t(seed);
  p.ignore_eos = ignore_eos;
  p.validate();
  return p;
}

Constraint ConstraintArgs::constraint() const {
  const int given = !json_schema_file.empty() + json_object + !regex.empty() + !grammar_file.empty() + !choices.empty();
  if (given > 1) throw Error("give one of --json-schema, --json-object, --regex, --grammar, --choice");
  Constraint c;
  if (!json_schema_file.empty()) {
    c = Constraint::json_schema(read_file(json_schema_file));
    c.field = "--json-schema " + json_schema_file;
  } else if (json_object) {
    c = Constraint::json_object();
  } else if (!regex.empty()) {
    c = Constraint::regex(regex);
    c.field = "--regex";
  } else if (!grammar_file.empty()) {
    c = Constraint::grammar(read_file(grammar_file));
    c.field = "--grammar " + grammar_file;
  } else if (!choices.empty()) {
    c = Constraint::choice(choices);
    c.field = "--choice";
  }
  return c;
}

void add_constraint_options(CLI::App* c, ConstraintArgs& a) {
  c->add_option("--json-schema", a.json_schema_file,
                "Structured output: the output is JSON valid for the JSON schema in this file (llguidance; at most "
                "20 whitespace characters between JSON tokens unless the schema's \"x-guidance\" says otherwise)");
  c->add_flag("--json-object", a.json_object, "Structured output: the output is a JSON object");
  c->add_option("--regex", a.regex, "Structured output: the output matches this regular expression (Rust regex syntax)");
  c->add_option("--grammar", a.grammar_file, "Structured output: the output follows the Lark grammar in this file "
                                             "(llguidance's Lark; %json{...} embeds a JSON schema)");
  c->add_option("--choice", a.choices, "Structured output: the output is exactly one of these strings (repeatable)");
}

void prepare_device(const std::string& device) {
  Device d = Device::parse(device);
  if (d.is_cpu()) return;
#ifdef TRITIUM_HAVE_CUDA
  cuda::init_backend(d.index);
#else
  throw Error("--device " + device + ": this tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)");
#endif
}

const char* const kModelHelp =
    "Model: a Hugging Face checkpoint directory (config.json + *.safetensors), a .gguf file, or ORG/NAME[@REV] "
    "(ORG/NAME/FILE.gguf) from the Hugging Face hub: found in its cache (HF_HUB_CACHE / HF_HOME), else downloaded "
    "from HF_ENDPOINT with HF_TOKEN";

void add_model_options(CLI::App* c, ModelArgs& a, bool allow_synthetic, const std::string& kv_cache_help) {
  auto* m = c->add_option("--model", a.model, kModelHelp);
  if (allow_synthetic) {
    std::string names;
    for (auto& n : Model::synthetic_names()) names += (names.empty() ? "" : ", ") + n;
    auto* s = c->add_option("--synthetic", a.synthetic, "Random weights of a named shape: " + names);
    m->excludes(s);
  } else {
    m->required();
  }
  c->add_option("--device", a.device, "cpu, cuda or cuda:N")->capture_default_str();
  c->add_option("--dtype", a.dtype, "Compute dtype: float32 (CPU), bfloat16 or float16 (GPU)");
  c->add_option("--block-size", a.block_size, "KV cache block size in tokens")->capture_default_str()->check(CLI::Range(1, 1024));
  c->add_option("--kv-cache-gb", a.kv_cache_gb, kv_cache_help)->check(CLI::NonNegativeNumber);
  c->add_option("--kv-cache-dtype", a.kv_cache_dtype,
                "KV cache dtype: auto (the compute dtype) or fp8 (e4m3, scale 1: half the memory and faster decode "
                "attention, slightly less accurate; GPU: bfloat16 compute on sm89 or newer)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp8", "fp8_e4m3"}));
  c->add_option("--quantization,-q", a.quantization,
                "Weight quantization: none, or fp8 (the layers' linear weights as fp8 e4m3 with per-row scales, "
                "made at load, and activations quantized per token: half the weight memory and fp8 tensor cores, "
                "slightly less accurate; GPU: sm89 or newer)")
      ->capture_default_str()
      ->check(CLI::IsMember({"none", "fp8"}));
  c->add_flag("--enforce-eager", a.enforce_eager,
              "GPU: launch every decode step's kernels one by one instead of replaying CUDA graphs");
}

void add_sampling_options(CLI::App* c, SamplingArgs& a) {
  c->add_option("--max-tokens", a.max_tokens, "Tokens to generate")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--temperature", a.temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
  c->add_option("--top-p", a.top_p, "Nucleus sampling mass")->capture_default_str();
  c->add_option("--top-k", a.top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  c->add_option("--min-p", a.min_p, "Drop tokens below min_p x the top probability")->capture_default_str();
  c->add_option("--repetition-penalty", a.repetition_penalty, "Penalty for tokens already seen (1 = off)");
  c->add_option("--presence-penalty", a.presence_penalty, "OpenAI presence penalty");
  c->add_option("--frequency-penalty", a.frequency_penalty, "OpenAI frequency penalty");
  c->add_option("--seed", a.seed, "Random seed (same seed, same tokens)");
  c->add_flag("--ignore-eos", a.ignore_eos, "Keep generating past end-of-sequence tokens");
}

std::unique_ptr<Model> load_model(const ModelArgs& a) {
  LoadOptions o;
  o.device = Device::parse(a.device);
  o.progress = true;
  if (!a.dtype.empty()) {
    auto d = dtype_from_string(a.dtype);
    if (!d) throw Error("--dtype: unknown dtype '" + a.dtype + "' (float32, bfloat16, float16)");
    o.compute_dtype = *d;
  }
  o.kv_cache_dtype = kv_cache_dtype_from_string(a.kv_cache_dtype);
  o.quantization = quantization_from_string(a.quantization);
  prepare_device(a.device);
  if (!a.synthetic.empty()) return Model::synthetic(a.synthetic, o);
  if (a.model.empty()) throw Error("give --model DIR or --synthetic NAME");
  return Model::load(resolve_model(a.model), o);
}

int64_t kv_blocks_for(const Model& m, const ModelArgs& a, int64_t tokens) {
  int64_t need = (tokens + a.block_size - 1) / a.block_size + 1;
  if (a.kv_cache_gb > 0) {
    int64_t blocks = int64_t(a.kv_cache_gb * double(1ll << 30)) / m.kv_bytes_per_block(a.block_size);
    if (blocks < need)
      throw Error(str_cat("--kv-cache-gb ", a.kv_cache_gb, " holds ", blocks, " blocks but the request needs ", need));
    return blocks;
  }
  return need;
}

std::vector<int32_t> parse_id_list(const std::string& s, const char* flag) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string tok = s.substr(i, j - i);
    while (!tok.empty() && tok.front() == ' ') tok.erase(tok.begin());
    while (!tok.empty() && tok.back() == ' ') tok.pop_back();
    try {
      size_t used = 0;
      long long v = std::stoll(tok, &used);
      if (used != tok.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument("");
      ids.push_back(int32_t(v));
    } catch (...) {
      throw Error(str_cat(flag, ": '", tok, "' is not a token id (expected comma-separated non-negative integers)"));
    }
    i = j + 1;
  }
  if (ids.empty()) throw Error(str_cat(flag, ": no token ids given"));
  return ids;
}

}  // namespace tritium::cli
