// One sequence being generated: tokens, progress through the prompt, its KV blocks.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/test_script.h"
#include "kv/block_pool.h"
#include "ops/sampling.h"
#include "structured/seq_constraint.h"
#include "tritium/sampling_params.h"

namespace tritium {

enum class SeqStatus { Waiting, Running, Finished };

struct Sequence {
  uint64_t seq_id = 0;       // unique in the engine
  std::string request_id;    // the request this belongs to
  int index = 0;             // which of the request's n outputs
  int priority = 0;          // lower runs first (vLLM convention)
  uint64_t arrival = 0;      // admission order tie-break
  std::vector<int32_t> tokens;  // prompt + generated
  int64_t prompt_len = 0;
  int64_t num_computed = 0;  // tokens whose K/V are in the cache
  int64_t num_cached_prompt = 0;  // of those, served by the prefix cache at admission
  SeqStatus status = SeqStatus::Waiting;
  BlockTable table;
  std::vector<uint64_t> block_keys;  // prefix-cache keys of the full blocks so far
  SamplingParams params;
  SamplerRng rng;
  uint64_t seed = 0;  // of rng; also keys the device sampler's Philox stream
  // Structured output: the grammar's state and the next token's mask (params.constraint).
  std::unique_ptr<structured::SeqConstraint> constraint;
  int64_t num_preemptions = 0;
  std::string finish_reason;
  double t_arrival = 0, t_scheduled = 0, t_first_token = 0, t_last_token = 0;
  std::shared_ptr<const ScriptedReply> script;  // EngineConfig::test_script's reply for this prompt

  int64_t num_generated() const { return int64_t(tokens.size()) - prompt_len; }
  std::span<const int32_t> output_ids() const {
    return {tokens.data() + prompt_len, size_t(num_generated())};
  }
  bool prefill_done() const { return num_computed >= int64_t(tokens.size()) - 1 && num_computed >= prompt_len; }
};

}  // namespace tritium
