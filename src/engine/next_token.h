// The per-token decision shared by the engine and the simple generator: penalise, mask
// eos before min_tokens, sample; then decide whether the sequence stops.
#pragma once
#include <span>
#include <string>
#include <vector>

#include "ops/sampling.h"
#include "tritium/sampling_params.h"

namespace tritium {

// `scratch` is reused between calls to avoid an allocation per token.
int32_t choose_next_token(std::span<const float> logits, const SamplingParams& p, std::span<const int32_t> prompt,
                          std::span<const int32_t> output, const std::vector<int32_t>& eos_ids, SamplerRng& rng,
                          std::vector<float>& scratch);

// After `tok` became output token number `num_generated`: "stop", "length" or "" (go on).
// `context_len` is prompt + output tokens; max_model_len <= 0 means no limit.
std::string stop_reason(int32_t tok, int64_t num_generated, int64_t context_len, const SamplingParams& p,
                        const std::vector<int32_t>& eos_ids, int64_t max_model_len);

}  // namespace tritium
