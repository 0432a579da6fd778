// Turns a model's generated text into what the OpenAI API returns: content, reasoning and tool
// calls, incrementally (for streaming: each feed() returns what became certain). One parser per
// output (choice). The formats, by model family:
//   reasoning  think:   <think>...</think> (Qwen3, DeepSeek R1; also when the prompt opened it)
//              harmony: the analysis channel (gpt-oss)
//   tool calls hermes:  <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen2.5/3, Hermes)
//              llama3_json: the whole answer is {"name": ..., "parameters": {...}} (several joined
//                       by ';'), optionally after <|python_tag|> (Llama 3.1-3.3)
//              mistral: [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] or
//                       [TOOL_CALLS]name[ARGS]{...} (newer tokenizers)
//              harmony: a message to=functions.NAME on the commentary channel
// Deltas concatenate to the whole: a non-streamed answer is the sum of the streamed deltas.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/json_call_scanner.h"
#include "tokenizer/harmony.h"

namespace tritium::server {

enum class ToolFormat { None, Hermes, Llama3Json, Mistral, Harmony };
enum class ReasoningFormat { None, Think, Harmony };
const char* tool_format_name(ToolFormat f);
const char* reasoning_format_name(ReasoningFormat f);
// "hermes", "llama3_json", "mistral", "harmony", "none"; throws tritium::Error otherwise.
ToolFormat parse_tool_format(const std::string& s);
ReasoningFormat parse_reasoning_format(const std::string& s);  // "think", "harmony", "none"

struct ToolCallDelta {
  int index = 0;        // which call of this output
  bool starts = false;  // first delta of the call: name set, arguments ""
  std::string name;
  std::string arguments;  // text to append to the call's arguments
};

struct OutputDelta {
  std::string reasoning, content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  void append(OutputDelta&& o);
};

struct ParserOptions {
  ToolFormat tools = ToolFormat::None;
  ReasoningFormat reasoning = ReasoningFormat::None;
  bool parse_tools = false;          // the request has tools and tool_choice is not "none"
  bool start_in_reasoning = false;   // the prompt ends inside an open <think>
  bool single_tool_call = false;     // parallel_tool_calls false: calls after the first are dropped
};

class OutputParser {
 public:
  virtual ~OutputParser() = default;
  virtual OutputDelta feed(std::string_view text) = 0;
  // End of generation: what was held back (a partial marker, an unfinished call).
  virtual OutputDelta finish() = 0;
  int num_tool_calls() const { return calls_; }

 protected:
  int calls_ = 0;
};

std::unique_ptr<OutputParser> make_output_parser(const ParserOptions& o);

// Whether a rendered prompt leaves a <think> open at its end (the model continues in reasoning).
bool prompt_opens_think(const std::string& prompt);

}  // namespace tritium::server
