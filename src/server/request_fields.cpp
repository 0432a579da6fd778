#include "server/request_fields.h"

#include <cmath>

#include "core/error.h"
#include "server/api_error.h"

namespace tritium::server {

ojson parse_json_body(const HttpRequest& req) {
  std::string ct = req.header("content-type");
  if (!ct.empty()) {
    std::string media = ct.substr(0, ct.find(';'));
    for (auto& c : media) c = char(std::tolower(static_cast<unsigned char>(c)));
    while (!media.empty() && media.back() == ' ') media.pop_back();
    if (media != "application/json" && !(media.size() > 5 && media.compare(media.size() - 5, 5, "+json") == 0))
      throw ApiError(415, "Content-Type must be application/json, got '" + ct + "'", "", "unsupported_media_type");
  }
  if (req.body.empty()) throw ApiError(400, "the request body is empty; expected a JSON object");
  ojson j;
  try {
    j = ojson::parse(req.body);
  } catch (const nlohmann::json::exception& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what(), "", "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object, got " + json_type(j));
  return j;
}

std::string json_type(const ojson& v) {
  switch (v.type()) {
    case ojson::value_t::null: return "null";
    case ojson::value_t::boolean: return "boolean";
    case ojson::value_t::string: return "string";
    case ojson::value_t::array: return "array";
    case ojson::value_t::object: return "object";
    case ojson::value_t::number_float: return "number";
    default: return "integer";
  }
}

void Fields::wrong_type(const char* name, const char* want, const ojson& got) const {
  throw bad_field(param(name), "'" + param(name) + "' must be " + want + ", got " + json_type(got));
}

const ojson* Fields::get(const char* name) const {
  auto it = o_.find(name);
  if (it == o_.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<double> Fields::number(const char* name, double lo, double hi) const {
  const ojson* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "a number", *v);
  double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    throw bad_field(param(name), str_cat("'", param(name), "' is ", v->dump(), "; it must be between ", lo, " and ", hi));
  return x;
}

std::optional<int64_t> Fields::integer(const char* name, int64_t lo, int64_t hi) const {
  const ojson* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(name, "an integer", *v);
  int64_t x;
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9e15)
      throw bad_field(param(name), "'" + param(name) + "' must be an integer, got " + v->dump());
    x = int64_t(d);
  } else if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t(INT64_MAX)) {
    x = INT64_MAX;
  } else {
    x = v->get<int64_t>();
  }
  if (x < lo || x > hi)
    throw bad_field(param(name), str_cat("'", param(name), "' is ", v->dump(), "; it must be between ", lo, " and ", hi));
  return x;
}

std::optional<bool> Fields::boolean(const char* name) const {
  const ojson* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(name, "a boolean", *v);
  return v->get<bool>();
}

std::optional<std::string> Fields::string(const char* name) const {
  const ojson* v = get(name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(name, "a string", *v);
  return v->get<std::string>();
}

const ojson* Fields::object(const char* name) const {
  const ojson* v = get(name);
  if (v && !v->is_object()) wrong_type(name, "an object", *v);
  return v;
}

const ojson* Fields::array(const char* name) const {
  const ojson* v = get(name);
  if (v && !v->is_array()) wrong_type(name, "an array", *v);
  return v;
}

SamplingParams parse_sampling(const Fields& f, int max_n) {
  SamplingParams p;
  p.temperature = 1.0f;
  if (auto v = f.number("temperature", 0, 2)) p.temperature = float(*v);
  if (auto v = f.number("top_p", 0, 1)) {
    if (*v <= 0) throw bad_field("top_p", "'top_p' must be greater than 0 and at most 1, got 0");
    p.top_p = float(*v);
  }
  if (auto v = f.integer("n", 1, max_n)) p.n = int(*v);
  if (auto v = f.integer("seed", INT64_MIN, INT64_MAX)) p.seed = uint64_t(*v);
  if (auto v = f.number("presence_penalty", -2, 2)) p.presence_penalty = float(*v);
  if (auto v = f.number("frequency_penalty", -2, 2)) p.frequency_penalty = float(*v);
  if (auto v = f.integer("top_k", -1, INT32_MAX)) p.top_k = int(*v);
  if (auto v = f.number("min_p", 0, 1)) p.min_p = float(*v);
  if (auto v = f.number("repetition_penalty", 0, 1e6)) {
    if (*v <= 0) throw bad_field("repetition_penalty", "'repetition_penalty' must be greater than 0");
    p.repetition_penalty = float(*v);
  }
  if (auto v = f.integer("min_tokens", 0, INT32_MAX)) p.min_tokens = int(*v);
  if (auto v = f.boolean("ignore_eos")) p.ignore_eos = *v;
  if (auto v = f.boolean("skip_special_tokens")) p.skip_special_tokens = *v;
  if (const ojson* s = f.get("stop")) {
    if (s->is_string()) {
      p.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      if (s->size() > 16) throw bad_field("stop", str_cat("'stop' has ", s->size(), " strings; at most 16 are allowed"));
      for (size_t i = 0; i < s->size(); ++i) {
        if (!(*s)[i].is_string()) throw bad_field("stop", str_cat("'stop[", i, "]' must be a string, got ", json_type((*s)[i])));
        p.stop.push_back((*s)[i].get<std::string>());
      }
    } else {
      f.wrong_type("stop", "a string or an array of strings", *s);
    }
    for (auto& x : p.stop)
      if (x.empty()) throw bad_field("stop", "'stop' strings must not be empty");
  }
  if (const ojson* s = f.array("stop_token_ids")) {
    for (size_t i = 0; i < s->size(); ++i) {
      if (!(*s)[i].is_number_integer() || (*s)[i].get<int64_t>() < 0 || (*s)[i].get<int64_t>() > INT32_MAX)
        throw bad_field("stop_token_ids", str_cat("'stop_token_ids[", i, "]' must be a token id (a non-negative integer)"));
      p.stop_token_ids.push_back(int32_t((*s)[i].get<int64_t>()));
    }
  }
  if (const ojson* lb = f.object("logit_bias")) {
    if (lb->size() > 300) throw bad_field("logit_bias", str_cat("'logit_bias' has ", lb->size(), " entries; at most 300 are allowed"));
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      const std::string& k = it.key();
      size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(k, &used);
      } catch (...) {
        used = 0;
      }
      if (used != k.size() || id < 0 || id > INT32_MAX)
        throw bad_field("logit_bias", "'logit_bias' keys must be token ids, got '" + k + "'");
      if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < -100 || it->get<double>() > 100)
        throw bad_field("logit_bias", "'logit_bias[" + k + "]' must be a number between -100 and 100, got " + it->dump());
      p.logit_bias.push_back({int32_t(id), float(it->get<double>())});
    }
  }
  return p;
}

int resolve_max_tokens(std::optional<int64_t> requested, const char* field, int64_t prompt_tokens, int64_t max_model_len) {
  if (prompt_tokens >= max_model_len)
    throw ApiError(400,
                   str_cat("This model's maximum context length is ", max_model_len, " tokens. However, your prompt has ",
                           prompt_tokens, " tokens, which leaves no room for output. Please shorten the prompt."),
                   "messages", "context_length_exceeded");
  if (!requested) return int(std::min<int64_t>(max_model_len - prompt_tokens, INT32_MAX));
  if (*requested < 1) throw bad_field(field, str_cat("'", field, "' must be at least 1, got ", *requested));
  if (prompt_tokens + *requested > max_model_len)
    throw ApiError(400,
                   str_cat("This model's maximum context length is ", max_model_len, " tokens. However, you requested ",
                           prompt_tokens + *requested, " tokens (", prompt_tokens, " in the prompt, ", *requested, " for '",
                           field, "'). Please reduce the length of the prompt or '", field, "'."),
                   field, "context_length_exceeded");
  return int(*requested);
}

}  // namespace tritium::server
