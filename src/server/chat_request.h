// Chat requests (shared by /v1/chat/completions and /v1/responses): OpenAI messages and tools
// checked and turned into what chat templates expect, tool_choice, and the prompt built from
// them (rendered, a forced tool-call opening appended, tokenized).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "server/chat_format.h"
#include "server/context.h"
#include "server/output_parser.h"

namespace tritium::server {

using ojson = nlohmann::ordered_json;

// messages: a non-empty array of {role, content, ...} (content a string or text parts). Returns
// them as templates read them: content as one string, assistant tool_calls' arguments as
// objects where they are JSON, developer -> system (templates know no developer role; harmony does).
ojson parse_chat_messages(const ojson& messages, bool harmony);
// tools: [{"type": "function", "function": {"name", "description", "parameters"}}]; checked.
ojson parse_tools(const ojson& tools, const std::string& param = "tools");

struct ToolChoice {
  enum Kind { None, Auto, Required, Named } kind = Auto;
  std::string name;
};
// tool_choice (absent: auto with tools, none without); names must be among the tools.
ToolChoice parse_tool_choice(const ojson* choice, const ojson& tools);

// A rendered, tokenized chat prompt and how to read the output.
struct ChatPrompt {
  std::string text;            // the prompt text (with the forced opening, if any)
  std::vector<int32_t> ids;
  std::string forced_prefix;   // fed to each output's parser before the generated text
  ParserOptions parser;
};
ChatPrompt build_chat_prompt(const Context& ctx, RenderInput in, const ToolChoice& tc, bool parallel_tool_calls);

}  // namespace tritium::server
