#include "cli/engine_options.h"

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "model/model.h"

namespace tritium::cli {

EngineConfig EngineArgs::config() const {
  EngineConfig c;
  c.model = model.model;
  c.synthetic = model.synthetic;
  c.device = model.device;
  c.dtype = model.dtype;
  c.kv_cache_dtype = model.kv_cache_dtype;
  c.quantization = model.quantization;
  c.block_size = int(model.block_size);
  c.max_num_seqs = max_num_seqs;
  c.max_num_batched_tokens = max_num_batched_tokens;
  c.max_model_len = max_model_len;
  c.kv_cache_bytes = int64_t(model.kv_cache_gb * double(int64_t(1) << 30));
  c.gpu_memory_utilization = gpu_memory_utilization;
  c.enable_prefix_caching = !no_prefix_caching;
  c.seed = uint64_t(seed);
  c.max_graph_batch = model.enforce_eager ? 0 : -1;
  c.sampler = sampler;
  c.async_scheduling = !no_async_scheduling;
  c.test_script = test_script;
  c.tokenizer = tokenizer;
  if (c.model.empty() && c.synthetic.empty()) throw Error("give --model DIR or --synthetic NAME");
  prepare_device(c.device);
  return c;
}

void add_engine_options(CLI::App* c, EngineArgs& a, bool allow_synthetic) {
  add_model_options(c, a.model, allow_synthetic,
                    "KV cache size in GiB (default: what --gpu-memory-utilization leaves on a GPU; "
                    "on the CPU what --max-num-seqs full sequences need, at most 1 GiB)");
  c->add_option("--max-num-seqs", a.max_num_seqs, "Sequences in one batch at most")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--max-num-batched-tokens", a.max_num_batched_tokens,
                "Tokens in one step at most (prefill chunk size; default: 8192 on a GPU with at least 70 GiB of "
                "memory, else 2048)")
      ->check(CLI::PositiveNumber);
  c->add_option("--max-model-len", a.max_model_len, "Context length: prompt + output (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--gpu-memory-utilization", a.gpu_memory_utilization, "Fraction of GPU memory to use")->capture_default_str();
  c->add_flag("--no-prefix-caching", a.no_prefix_caching, "Do not reuse KV blocks of shared prompt prefixes");
  c->add_option("--engine-seed", a.seed, "Seed for requests that give none")->capture_default_str();
  c->add_option("--sampler", a.sampler,
                "Where tokens are drawn: auto (on a GPU, on the device unless a request needs penalties or "
                "logprobs), device, or host")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "device", "host"}));
  c->add_option("--tokenizer", a.tokenizer,
                "Directory with the tokenizer.json (and tokenizer_config.json) to use instead of the model's own; "
                "gives a synthetic model text, stop strings and structured output");
  c->add_flag("--no-async-scheduling", a.no_async_scheduling,
              "Enqueue each decode step only once the previous step's tokens are on the host (default: when they "
              "are drawn on the device, enqueue it first and read them there)");
  c->add_option("--test-script", a.test_script,
                "Test fixture, not for real use: a JSON file of rules {\"when\": TEXT, \"reply\": TEXT, \"repeat\": "
                "false}; a prompt containing `when` gets the tokens of `reply` forced (a large logit bias each step), "
                "then end-of-sequence. Lets tests of tool calls, reasoning and stop strings run tiny random-weight "
                "models through the real engine")
      ->check(CLI::ExistingFile);
}

}  // namespace tritium::cli
