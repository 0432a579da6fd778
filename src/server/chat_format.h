// How one model talks: its chat template (or harmony for gpt-oss tokenizers), which reasoning and
// tool-call formats its output uses, and the prompt prefix that makes it call a tool now
// (tool_choice "required" / a named function). Chosen once at start-up from the tokenizer and
// the template source, unless --tool-call-parser / --reasoning-parser say otherwise.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "server/output_parser.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/harmony.h"
#include "tokenizer/tokenizer.h"

namespace tritium::server {

struct ChatFormat {
  const Tokenizer* tok = nullptr;
  const ChatTemplate* tmpl = nullptr;  // null: no chat template (and not harmony)
  bool harmony = false;
  ToolFormat tools = ToolFormat::None;
  ReasoningFormat reasoning = ReasoningFormat::None;
  bool mistral_name_args = false;  // Mistral's [TOOL_CALLS]name[ARGS]{...} form
  bool skip_special_tokens = true;  // false where the formats' markers are special tokens
  std::vector<int32_t> stop_token_ids;  // harmony: <|return|>, <|call|>

  bool can_chat() const { return harmony || tmpl; }
  // The text appended to the rendered prompt so that the model writes a call of `name` (empty:
  // of any function) now; empty when the tool format has no such opening.
  std::string forced_call_prefix(const std::string& name) const;
  // A tool call id in the form the model family's templates accept (Mistral: 9 alphanumerics).
  std::string new_call_id() const;
};

// tool_parser / reasoning_parser: "auto" or a format name (parse_tool_format).
ChatFormat detect_chat_format(const Tokenizer* tok, const ChatTemplate* tmpl, const std::string& tool_parser,
                              const std::string& reasoning_parser);

// A conversation ready to render.
struct RenderInput {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null: none
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs
  std::string reasoning_effort;  // "" or low/medium/high
};
// The prompt text; throws ApiError 400 when the template refuses the conversation.
std::string render_prompt(const ChatFormat& f, const RenderInput& in);

std::string random_hex(size_t n);
std::string random_alnum(size_t n);

}  // namespace tritium::server
