// Reading the fields of an OpenAI request body with the checks a client's mistake deserves:
// each getter returns nothing for an absent (or null) field and throws ApiError 400 naming the
// field for a wrong type or a value out of range. Unknown fields are ignored.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/http.h"
#include "tritium/sampling_params.h"

namespace tritium::server {

using ojson = nlohmann::ordered_json;

// The body as a JSON object: 415 for a content type that is not JSON, 400 for text that is not
// JSON or not an object.
ojson parse_json_body(const HttpRequest& req);

// A JSON type's name as the error messages say it ("string", "number", "array", ...).
std::string json_type(const ojson& v);

class Fields {
 public:
  // prefix names the object in messages ("messages[2]." ...).
  explicit Fields(const ojson& obj, std::string prefix = "") : o_(obj), prefix_(std::move(prefix)) {}
  const ojson* get(const char* name) const;  // nullptr when absent or null
  std::optional<double> number(const char* name, double lo, double hi) const;
  std::optional<int64_t> integer(const char* name, int64_t lo, int64_t hi) const;
  std::optional<bool> boolean(const char* name) const;
  std::optional<std::string> string(const char* name) const;
  const ojson* object(const char* name) const;
  const ojson* array(const char* name) const;
  std::string param(const char* name) const { return prefix_ + name; }
  [[noreturn]] void wrong_type(const char* name, const char* want, const ojson& got) const;

 private:
  const ojson& o_;
  std::string prefix_;
};

// The sampling fields common to chat and completions (temperature, top_p, n, seed, stop,
// penalties, logit_bias and vLLM's top_k, min_p, repetition_penalty, min_tokens, ignore_eos,
// stop_token_ids, skip_special_tokens). max_tokens is left to the caller.
SamplingParams parse_sampling(const Fields& f, int max_n);

// The prompt + max_tokens check against the context: 400 context_length_exceeded. Returns
// max_tokens (the rest of the context when not given).
int resolve_max_tokens(std::optional<int64_t> requested, const char* field, int64_t prompt_tokens, int64_t max_model_len);

}  // namespace tritium::server
