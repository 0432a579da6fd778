#include "engine/next_token.h"

#include <algorithm>
#include <cmath>

namespace tritium {

int32_t choose_next_token(std::span<const float> logits, const SamplingParams& p, std::span<const int32_t> prompt,
                          std::span<const int32_t> output, const std::vector<int32_t>& eos_ids, SamplerRng& rng,
                          std::vector<float>& scratch) {
  const bool plain = p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f &&
                     p.logit_bias.empty() && int64_t(output.size()) >= p.min_tokens;
  if (plain && p.greedy())  // nothing to adjust: argmax in place (first maximum, as torch.argmax)
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  scratch.assign(logits.begin(), logits.end());
  apply_penalties(scratch, p, prompt, output);
  const int64_t V = int64_t(scratch.size());
  for (auto& [tok, bias] : p.logit_bias)
    if (tok >= 0 && tok < V) scratch[size_t(tok)] += bias;
  if (int64_t(output.size()) < p.min_tokens)
    for (auto e : eos_ids)
      if (e >= 0 && e < V) scratch[size_t(e)] = -INFINITY;
  return sample_token(scratch, p, rng);
}

std::string stop_reason(int32_t tok, int64_t num_generated, int64_t context_len, const SamplingParams& p,
                        const std::vector<int32_t>& eos_ids, int64_t max_model_len) {
  const bool is_eos = std::find(eos_ids.begin(), eos_ids.end(), tok) != eos_ids.end();
  const bool is_stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), tok) != p.stop_token_ids.end();
  if (num_generated >= p.min_tokens && ((is_eos && !p.ignore_eos) || is_stop_id)) return "stop";
  if (num_generated >= p.max_tokens || (max_model_len > 0 && context_len >= max_model_len)) return "length";
  return "";
}

}  // namespace tritium
