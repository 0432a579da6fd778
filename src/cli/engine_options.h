// Engine options shared by generate, bench throughput (and later serve / chat).
#pragma once
#include <string>
#include <vector>

#include "cli/common.h"
#include "tritium/engine.h"

namespace CLI {
class App;
}

namespace tritium::cli {

struct EngineArgs {
  ModelArgs model;  // --model/--synthetic/--device/--dtype/--block-size/--kv-cache-gb
  int max_num_seqs = 256;
  int max_num_batched_tokens = 0;  // 0: the engine's default for the device
  int max_model_len = 0;
  double gpu_memory_utilization = 0.9;
  bool no_prefix_caching = false;
  int64_t seed = 0;
  std::string sampler = "auto";
  bool no_async_scheduling = false;
  std::string test_script;  // EngineConfig::test_script (a test fixture)
  std::string tokenizer;  // --tokenizer DIR
  EngineConfig config() const;
};

void add_engine_options(CLI::App* c, EngineArgs& a, bool allow_synthetic);

}  // namespace tritium::cli
