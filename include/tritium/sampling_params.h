// How to pick each next token. Defaults follow the OpenAI API / vLLM.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tritium {

// Structured output: what the generated text must be, enforced while decoding (each step's
// tokens are masked to those the grammar allows; llguidance compiles and runs it). Engine::submit
// compiles it and throws tritium::Error naming the problem when it does not compile; the
// request then never runs unconstrained. A constrained sequence finishes ("stop") as soon as
// the grammar can take no more text, or when it draws eos where the grammar may end.
struct Constraint {
  enum class Kind {
    None,
    JsonSchema,  // spec: a JSON schema (JSON text), e.g. {"type":"object","properties":{...}}
    JsonObject,  // any JSON object (OpenAI's response_format json_object)
    Regex,       // spec: a regular expression (Rust regex syntax) the whole output matches
    Choice,      // choices: the output is exactly one of these strings
    Grammar,     // spec: a Lark grammar (llguidance's dialect; may embed %json{...} schemas)
  };
  Kind kind = Kind::None;
  std::string spec;
  std::vector<std::string> choices;
  // Where it came from, named in errors ("response_format.json_schema.schema"); "" = its kind.
  std::string field;

  bool active() const { return kind != Kind::None; }
  static Constraint json_schema(std::string schema) { return {Kind::JsonSchema, std::move(schema), {}, ""}; }
  static Constraint json_object() { return {Kind::JsonObject, "", {}, ""}; }
  static Constraint regex(std::string re) { return {Kind::Regex, std::move(re), {}, ""}; }
  static Constraint choice(std::vector<std::string> c) { return {Kind::Choice, "", std::move(c), ""}; }
  static Constraint grammar(std::string lark) { return {Kind::Grammar, std::move(lark), {}, ""}; }
};

// "json_schema", "json_object", "regex", "choice", "grammar" ("none" for Kind::None).
const char* constraint_kind_name(Constraint::Kind k);

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
  Constraint constraint;  // structured output (none by default)

  bool greedy() const { return temperature <= 0.0f; }
  // Throws tritium::Error naming the first invalid field.
  void validate() const;
};

}  // namespace tritium
