// Pieces of OpenAI response objects shared by the endpoints: usage, logprobs, SSE framing.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tritium/engine.h"

namespace tritium::server {

using ojson = nlohmann::ordered_json;

// JSON text; invalid UTF-8 (never expected) is replaced rather than thrown on.
std::string dump(const ojson& j);
// "data: {json}\n\n"
std::string sse_data(const ojson& j);
// "event: type\ndata: {json}\n\n" (the Responses API's framing)
std::string sse_event(const std::string& type, const ojson& j);

ojson usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// A token's text for logprobs (special tokens written out).
std::string token_text(const Tokenizer* tok, int32_t id);
ojson bytes_of(const std::string& s);
// Chat: {"token", "logprob", "bytes", "top_logprobs": [...]} for each token.
void append_chat_logprobs(const Tokenizer* tok, const std::vector<TokenLogprob>& lps, ojson& content);
// Completions: the four parallel lists of the legacy format.
struct CompletionLogprobs {
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top_logprobs = ojson::array(),
        text_offset = ojson::array();
  void append(const Tokenizer* tok, const std::vector<TokenLogprob>& lps, size_t& offset);
  ojson json() const;
  bool empty() const { return tokens.empty(); }
};

// The OpenAI finish_reason for an engine reason ("stop", "length", "abort"; tool calls made and a
// natural stop: "tool_calls").
std::string finish_reason(const std::string& engine_reason, bool made_tool_calls);

}  // namespace tritium::server
