#include "ops/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "core/error.h"

namespace tritium {

void SamplingParams::validate() const {
  auto bad = [](const char* f, auto v, const char* rule) {
    throw Error(str_cat("sampling parameter ", f, " = ", v, " is invalid: ", rule));
  };
  if (n < 1) bad("n", n, "must be >= 1");
  if (max_tokens < 1) bad("max_tokens", max_tokens, "must be >= 1");
  if (min_tokens < 0 || min_tokens > max_tokens) bad("min_tokens", min_tokens, "must be in [0, max_tokens]");
  if (!(temperature >= 0.0f) || !std::isfinite(temperature)) bad("temperature", temperature, "must be >= 0");
  if (!(top_p > 0.0f && top_p <= 1.0f)) bad("top_p", top_p, "must be in (0, 1]");
  if (top_k < -1) bad("top_k", top_k, "must be -1, 0 (off) or positive");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) bad("min_p", min_p, "must be in [0, 1]");
  if (!(repetition_penalty > 0.0f)) bad("repetition_penalty", repetition_penalty, "must be > 0");
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) bad("presence_penalty", presence_penalty, "must be in [-2, 2]");
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) bad("frequency_penalty", frequency_penalty, "must be in [-2, 2]");
  if (logprobs && (*logprobs < 0 || *logprobs > 20)) bad("logprobs", *logprobs, "must be in [0, 20]");
  for (auto& [tok, bias] : logit_bias) {
    if (tok < 0) bad("logit_bias token id", tok, "must be >= 0");
    if (!(bias >= -100.0f && bias <= 100.0f)) bad("logit_bias value", bias, "must be in [-100, 100]");
  }
  switch (constraint.kind) {  // structured output; the engine compiles it (and names what does not compile)
    case Constraint::Kind::JsonSchema:
    case Constraint::Kind::Regex:
    case Constraint::Kind::Grammar:
      if (constraint.spec.empty())
        throw Error(str_cat("sampling parameter constraint: the ", constraint_kind_name(constraint.kind), " is empty"));
      break;
    case Constraint::Kind::Choice:
      if (constraint.choices.empty()) throw Error("sampling parameter constraint: the choice list is empty");
      break;
    default: break;
  }
}

void apply_penalties(std::span<float> logits, const SamplingParams& p, std::span<const int32_t> prompt_ids,
                     std::span<const int32_t> output_ids) {
  const int64_t V = int64_t(logits.size());
  if (p.repetition_penalty != 1.0f) {
    std::vector<char> seen(size_t(V), 0);
    for (auto t : prompt_ids) if (t >= 0 && t < V) seen[size_t(t)] = 1;
    for (auto t : output_ids) if (t >= 0 && t < V) seen[size_t(t)] = 1;
    for (int64_t i = 0; i < V; ++i)
      if (seen[size_t(i)]) logits[size_t(i)] = logits[size_t(i)] > 0 ? logits[size_t(i)] / p.repetition_penalty
                                                                      : logits[size_t(i)] * p.repetition_penalty;
  }
  if (p.presence_penalty != 0.0f || p.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (auto t : output_ids) if (t >= 0 && t < V) ++counts[t];
    for (auto& [t, c] : counts) logits[size_t(t)] -= p.frequency_penalty * float(c) + p.presence_penalty;
  }
}

int32_t sample_token(std::span<float> logits, const SamplingParams& p, SamplerRng& rng) {
  const int64_t V = int64_t(logits.size());
  TRITIUM_CHECK(V > 0, "sample_token: empty logits");
  if (p.greedy()) {
    // First maximum wins ties, as torch.argmax does.
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  // Candidates sorted by logit, descending; top-k cuts the list first.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  int64_t k = (p.top_k > 0 && p.top_k < V) ? p.top_k : V;
  auto by_logit = [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b); };
  if (k < V) {
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), by_logit);
    idx.resize(size_t(k));
  } else {
    std::sort(idx.begin(), idx.end(), by_logit);
  }
  const float inv_t = 1.0f / p.temperature;
  const float mx = logits[size_t(idx[0])] * inv_t;
  std::vector<double> prob(idx.size());
  double sum = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    prob[i] = std::exp(double(logits[size_t(idx[i])] * inv_t - mx));
    sum += prob[i];
  }
  for (auto& x : prob) x /= sum;
  size_t keep = idx.size();
  if (p.top_p < 1.0f) {
    // Smallest prefix whose mass reaches top_p (at least one token).
    double acc = 0;
    for (size_t i = 0; i < keep; ++i) {
      acc += prob[i];
      if (acc >= double(p.top_p)) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    double thresh = double(p.min_p) * prob[0];
    size_t i = 1;
    while (i < keep && prob[i] >= thresh) ++i;
    keep = i;
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += prob[i];
  double u = rng.uniform() * total;
  double acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += prob[i];
    if (u < acc) return idx[i];
  }
  return idx[keep - 1];
}

void log_softmax(std::span<const float> logits, std::vector<float>& out) {
  out.resize(logits.size());
  float mx = -std::numeric_limits<float>::infinity();
  for (float x : logits) mx = std::max(mx, x);
  double s = 0;
  for (float x : logits) s += std::exp(double(x - mx));
  float lse = mx + float(std::log(s));
  for (size_t i = 0; i < logits.size(); ++i) out[i] = logits[i] - lse;
}

}  // namespace tritium
