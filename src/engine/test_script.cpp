#include "engine/test_script.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "tokenizer/tokenizer.h"

namespace tritium {

const float* ScriptedReply::bias(std::span<const float> logits, int64_t num_generated, const SamplingParams& p,
                                 const std::vector<int32_t>& eos_ids, std::vector<float>& scratch) const {
  int32_t want = -1;
  if (!ids.empty() && (repeat || num_generated < int64_t(ids.size())))
    want = ids[size_t(num_generated % int64_t(ids.size()))];
  else if (!p.ignore_eos && !eos_ids.empty())
    want = eos_ids.front();
  if (want < 0 || size_t(want) >= logits.size()) return logits.data();
  scratch.assign(logits.begin(), logits.end());
  scratch[size_t(want)] += TestScript::kForceBias;
  return scratch.data();
}

TestScript TestScript::load(const std::string& path, const tok::Tokenizer& tok) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("test script ", path, ": not JSON: ", e.what()));
  }
  const nlohmann::json* rules = &j;
  if (j.is_object() && j.contains("rules")) rules = &j["rules"];
  if (!rules->is_array()) throw Error(str_cat("test script ", path, ": expected {\"rules\": [...]} or a list of rules"));
  TestScript s;
  s.tok_ = &tok;
  for (size_t i = 0; i < rules->size(); ++i) {
    const auto& r = (*rules)[i];
    if (!r.is_object() || !r.contains("when") || !r["when"].is_string() || !r.contains("reply") || !r["reply"].is_string())
      throw Error(str_cat("test script ", path, ": rule ", i, " needs string fields \"when\" and \"reply\""));
    auto reply = std::make_shared<ScriptedReply>();
    reply->ids = tok.encode(r["reply"].get<std::string>(), /*add_special_tokens=*/false, /*parse_special=*/true);
    reply->repeat = r.value("repeat", false);
    if (reply->repeat && reply->ids.empty()) throw Error(str_cat("test script ", path, ": rule ", i, " repeats an empty reply"));
    s.rules_.push_back({r["when"].get<std::string>(), r["reply"].get<std::string>(), std::move(reply)});
  }
  return s;
}

std::shared_ptr<const ScriptedReply> TestScript::match(const std::vector<int32_t>& prompt) const {
  if (rules_.empty()) return nullptr;
  const std::string text = tok_->decode(prompt, /*skip_special_tokens=*/false);
  const Rule* best = nullptr;
  size_t best_pos = 0, best_len = 0;
  for (auto& r : rules_) {
    size_t p = text.rfind(r.when);
    if (p == std::string::npos) continue;
    // The latest match wins; at the same place, the longer `when`.
    if (!best || p > best_pos || (p == best_pos && r.when.size() > best_len)) {
      best = &r;
      best_pos = p;
      best_len = r.when.size();
    }
  }
  if (!best) return nullptr;
  // A reply the prompt has already begun continues after the part that is there.
  constexpr size_t kMinOverlap = 4;
  for (size_t k = std::min(best->text.size(), text.size()); k >= kMinOverlap; --k) {
    if (text.compare(text.size() - k, k, best->text, 0, k) != 0) continue;
    auto rest = std::make_shared<ScriptedReply>();
    rest->ids = tok_->encode(best->text.substr(k), /*add_special_tokens=*/false, /*parse_special=*/true);
    rest->repeat = best->reply->repeat && !rest->ids.empty();
    return rest;
  }
  return best->reply;
}

}  // namespace tritium
