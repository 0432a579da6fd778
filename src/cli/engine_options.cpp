#include "cli/engine_options.h"

#include <CLI/CLI.hpp>

#include "core/error.h"
#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/cuda_ops.h"
#endif
#include "model/model.h"

namespace tritium::cli {

EngineConfig EngineArgs::config() const {
  EngineConfig c;
  c.model_dir = model_dir;
  c.synthetic = synthetic;
  c.device = device;
  c.dtype = dtype;
  c.block_size = block_size;
  c.max_num_seqs = max_num_seqs;
  c.max_num_batched_tokens = max_num_batched_tokens;
  c.max_model_len = max_model_len;
  c.kv_cache_bytes = int64_t(kv_cache_gb * double(int64_t(1) << 30));
  c.gpu_memory_utilization = gpu_memory_utilization;
  c.enable_prefix_caching = !no_prefix_caching;
  c.seed = uint64_t(seed);
  if (c.model_dir.empty() && c.synthetic.empty()) throw Error("give --model DIR or --synthetic NAME");
  if (Device dev = Device::parse(c.device); dev.is_cuda()) {
#ifdef TRITIUM_HAVE_CUDA
    cuda::init_backend(dev.index);
#else
    throw Error("--device " + c.device + ": this tritium was built without the CUDA backend (cmake -DTRITIUM_CUDA=ON)");
#endif
  }
  return c;
}

void add_engine_options(CLI::App* c, EngineArgs& a, bool allow_synthetic) {
  auto* m = c->add_option("--model", a.model_dir, "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)");
  if (allow_synthetic) {
    std::string names;
    for (auto& n : Model::synthetic_names()) names += (names.empty() ? "" : ", ") + n;
    m->excludes(c->add_option("--synthetic", a.synthetic, "Random weights of a named shape: " + names));
  }
  c->add_option("--device", a.device, "cpu (cuda: see docs/PERF.md for the GPU path's state)")->capture_default_str();
  c->add_option("--dtype", a.dtype, "Compute dtype (the CPU computes in float32)");
  c->add_option("--block-size", a.block_size, "KV cache block size in tokens")->capture_default_str()->check(CLI::Range(1, 1024));
  c->add_option("--max-num-seqs", a.max_num_seqs, "Sequences in one batch at most")->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--max-num-batched-tokens", a.max_num_batched_tokens, "Tokens in one step at most (prefill chunk size)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--max-model-len", a.max_model_len, "Context length: prompt + output (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--kv-cache-gb", a.kv_cache_gb, "KV cache size in GiB (default: 1 GiB at most on the CPU)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--gpu-memory-utilization", a.gpu_memory_utilization, "Fraction of GPU memory to use")->capture_default_str();
  c->add_flag("--no-prefix-caching", a.no_prefix_caching, "Do not reuse KV blocks of shared prompt prefixes");
  c->add_option("--engine-seed", a.seed, "Seed for requests that give none")->capture_default_str();
}

}  // namespace tritium::cli
