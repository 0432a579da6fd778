// How to pick each next token. Defaults follow the OpenAI API / vLLM.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tritium {

struct SamplingParams {
  int n = 1;
  int max_tokens = 16;
  int min_tokens = 0;
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;        // nucleus mass kept, (0, 1]
  int top_k = 0;             // 0 or -1 = off
  float min_p = 0.0f;        // drop tokens with p < min_p * p_max
  float repetition_penalty = 1.0f;  // HF/vLLM style, over prompt + output tokens
  float presence_penalty = 0.0f;    // OpenAI style, over output tokens
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  // Added to the logits of these token ids before sampling (OpenAI's logit_bias: -100..100;
  // -100 in effect bans a token, 100 in effect forces it).
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool ignore_eos = false;
  std::optional<int> logprobs;  // top logprobs per token
  bool skip_special_tokens = true;

  bool greedy() const { return temperature <= 0.0f; }
  // Throws tritium::Error naming the first invalid field.
  void validate() const;
};

}  // namespace tritium
