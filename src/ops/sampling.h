// Picking the next token from a row of logits (CPU): penalties, temperature, top-k,
// top-p, min-p, then a draw from a per-sequence seeded generator (or argmax when greedy).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tritium/sampling_params.h"

namespace tritium {

// The per-sequence random stream: same seed -> same tokens, whatever else is batched.
class SamplerRng {
 public:
  explicit SamplerRng(uint64_t seed = 0) : gen_(seed) {}
  double uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(gen_); }

 private:
  std::mt19937_64 gen_;
};

// Applies the penalties in place. prompt_ids feed the repetition penalty only;
// output_ids feed all three.
void apply_penalties(std::span<float> logits, const SamplingParams& p, std::span<const int32_t> prompt_ids,
                     std::span<const int32_t> output_ids);

// Chooses a token from (penalised) logits. Modifies `logits` (scratch).
int32_t sample_token(std::span<float> logits, const SamplingParams& p, SamplerRng& rng);

// log-softmax of a logits row (for logprobs).
void log_softmax(std::span<const float> logits, std::vector<float>& out);

}  // namespace tritium
