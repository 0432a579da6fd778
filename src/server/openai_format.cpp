#include "server/openai_format.h"

namespace tritium::server {

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
std::string sse_data(const ojson& j) { return "data: " + dump(j) + "\n\n"; }
std::string sse_event(const std::string& type, const ojson& j) { return "event: " + type + "\ndata: " + dump(j) + "\n\n"; }

ojson usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens) {
  ojson u;
  u["prompt_tokens"] = prompt_tokens;
  u["completion_tokens"] = completion_tokens;
  u["total_tokens"] = prompt_tokens + completion_tokens;
  u["prompt_tokens_details"] = {{"cached_tokens", cached_tokens}};
  return u;
}

std::string token_text(const Tokenizer* tok, int32_t id) {
  if (!tok) return "token_id:" + std::to_string(id);
  return tok->decode({id}, /*skip_special_tokens=*/false);
}

ojson bytes_of(const std::string& s) {
  ojson b = ojson::array();
  for (unsigned char c : s) b.push_back(int(c));
  return b;
}

void append_chat_logprobs(const Tokenizer* tok, const std::vector<TokenLogprob>& lps, ojson& content) {
  for (auto& lp : lps) {
    std::string t = token_text(tok, lp.token);
    ojson e;
    e["token"] = t;
    e["logprob"] = lp.logprob;
    e["bytes"] = bytes_of(t);
    ojson top = ojson::array();
    for (auto& [id, l] : lp.top) {
      std::string tt = token_text(tok, id);
      top.push_back({{"token", tt}, {"logprob", l}, {"bytes", bytes_of(tt)}});
    }
    e["top_logprobs"] = std::move(top);
    content.push_back(std::move(e));
  }
}

void CompletionLogprobs::append(const Tokenizer* tok, const std::vector<TokenLogprob>& lps, size_t& offset) {
  for (auto& lp : lps) {
    std::string t = token_text(tok, lp.token);
    tokens.push_back(t);
    token_logprobs.push_back(lp.logprob);
    ojson top = ojson::object();
    for (auto& [id, l] : lp.top) top[token_text(tok, id)] = l;
    top_logprobs.push_back(std::move(top));
    text_offset.push_back(offset);
    offset += t.size();
  }
}

ojson CompletionLogprobs::json() const {
  return {{"tokens", tokens}, {"token_logprobs", token_logprobs}, {"top_logprobs", top_logprobs}, {"text_offset", text_offset}};
}

std::string finish_reason(const std::string& engine_reason, bool made_tool_calls) {
  if (engine_reason == "stop" && made_tool_calls) return "tool_calls";
  return engine_reason;
}

}  // namespace tritium::server
