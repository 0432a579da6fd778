// Runs one or more sequences through the model the simple way (no scheduler): prefill
// each prompt (in chunks if asked), then decode all of them together, one token a step.
// Every token goes through block tables and the paged KV cache.
#pragma once
#include <string>
#include <vector>

#include "kv/block_pool.h"
#include "model/model.h"
#include <optional>

#include "ops/device_sampler.h"
#include "ops/sampling.h"
#include "tritium/sampling_params.h"

namespace tritium {

struct GenerationResult {
  std::vector<int32_t> output_ids;
  std::string finish_reason;  // "stop" (eos / stop id) or "length"
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0, decode_seconds = 0;
  int64_t decode_steps = 0;
};

class Generator {
 public:
  // KV pool of num_blocks blocks of block_size tokens.
  Generator(Model& model, int64_t num_blocks, int64_t block_size);

  // Greedy/sampled generation for each prompt; sequences decode together in one batch.
  // prefill_chunk > 0 feeds prompts in chunks of that many tokens.
  std::vector<GenerationResult> generate(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params,
                                         int64_t prefill_chunk = 0);

  // Logits of every prompt position [P, V], fed in chunks of `chunk` tokens (0 = at once).
  Tensor prompt_logits(const std::vector<int32_t>& prompt, int64_t chunk = 0);

  BlockPool& pool() { return pool_; }
  // Draw tokens with ops::sample on the model's device (default: on unless the device is the
  // CPU) when the params allow it (device_can_sample); else on the host.
  void set_device_sampling(bool on) { device_sampling_ = on; }
  // With device sampling, enqueue each decode step before waiting for the ids the step
  // before it draws (the step reads them on the device), so that the device does not idle
  // while the host takes them (default on). A sequence that finishes leaves a wasted row in
  // the step already enqueued.
  void set_pipelining(bool on) { pipelining_ = on; }
  int64_t pipelined_steps() const { return pipelined_steps_; }  // steps enqueued that way so far

 private:
  struct Seq {
    std::vector<int32_t> tokens;  // prompt + generated
    int64_t computed = 0;         // tokens whose K/V are in the cache
    BlockTable table;
  };
  // One forward over `n` new tokens of each listed sequence; returns logits of the last
  // token of each (or of every new token when all_logits).
  // The logits are on the model's device (possibly its workspace: read them before the next step).
  // device_ids: the step's token ids on the device (one per sequence), read in stream order.
  // argmax_only: every sequence draws greedily on the device; the step may then return their
  // tokens (I32 [seqs]) instead of logits (ForwardBatch::argmax_only).
  Tensor step(std::vector<Seq*>& seqs, const std::vector<int64_t>& n, bool all_logits,
              const Tensor* device_ids = nullptr, bool argmax_only = false);

  Model& model_;
  BlockPool pool_;
  KVCache kv_;
  std::optional<bool> device_sampling_;
  bool pipelining_ = true;
  int64_t pipelined_steps_ = 0;
  DeviceSampler sampler_;
};

}  // namespace tritium
