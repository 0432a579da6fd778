// Options and helpers shared by the CLI commands.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "tritium/sampling_params.h"

namespace CLI {
class App;
}

namespace tritium::cli {

struct ModelArgs {
  std::string model;  // --model: a checkpoint directory, a .gguf file or ORG/NAME[@REV]
  std::string synthetic;
  std::string device = "cpu";
  std::string dtype;
  int64_t block_size = 16;
  double kv_cache_gb = 0;  // 0 = the command's default
  std::string kv_cache_dtype = "auto";
  std::string quantization = "none";
  bool enforce_eager = false;  // no CUDA graphs for decode steps
};

struct SamplingArgs {
  int max_tokens = 32;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
  int64_t seed = -1;
  bool ignore_eos = false;
  SamplingParams params() const;
};

// Structured output: --json-schema FILE, --json-object, --regex RE, --grammar FILE, --choice S (one at most).
struct ConstraintArgs {
  std::string json_schema_file, regex, grammar_file;
  std::vector<std::string> choices;
  bool json_object = false;
  Constraint constraint() const;  // reads the files; Error naming the option
};
void add_constraint_options(CLI::App* c, ConstraintArgs& a);

// --model/--synthetic/--device/--dtype/--block-size/--kv-cache-gb/--kv-cache-dtype
void add_model_options(CLI::App* c, ModelArgs& a, bool allow_synthetic = false,
                       const std::string& kv_cache_help = "KV cache size in GiB (default: what the request needs)");
// Parses --device and brings up its backend (CUDA); a clear error where there is none.
void prepare_device(const std::string& device);
void add_sampling_options(CLI::App* c, SamplingArgs& a);
std::unique_ptr<Model> load_model(const ModelArgs& a);
// The help text of --model.
extern const char* const kModelHelp;
// KV blocks for the request (at least `tokens` tokens), or as many as --kv-cache-gb holds.
int64_t kv_blocks_for(const Model& m, const ModelArgs& a, int64_t tokens);
// "1,2,3" -> {1,2,3}; error names the flag.
std::vector<int32_t> parse_id_list(const std::string& s, const char* flag);

}  // namespace tritium::cli
