// Harmony: the chat format of gpt-oss. Rendering of conversations into harmony text
// (`<|start|>role<|channel|>c<|message|>...<|end|>`) and an incremental parser that splits
// generated text into reasoning (analysis channel), final text and tool calls.
//
// Rendering follows the harmony format as openai-harmony renders it for completion:
//   <|start|>system<|message|>{identity}\nKnowledge cutoff: ..\nCurrent date: ..\n\nReasoning: {effort}\n\n
//     # Valid channels: analysis, commentary, final. Channel must be included for every message.
//     [\nCalls to these tools must go to the commentary channel: 'functions'.]<|end|>
//   <|start|>developer<|message|># Instructions\n\n{system/developer text}\n\n# Tools\n\n## functions\n\n
//     namespace functions {\n\n// desc\ntype name = (_: {...}) => any;\n\n} // namespace functions<|end|>
//   <|start|>user<|message|>...<|end|>
//   <|start|>assistant<|channel|>analysis<|message|>...<|end|>           (current turn's reasoning)
//   <|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{...}<|call|>
//   <|start|>functions.f to=assistant<|channel|>commentary<|message|>...<|end|>
//   <|start|>assistant<|channel|>final<|message|>...<|end|>
//   <|start|>assistant                                                    (generation prompt)
// Reasoning of turns that ended in a final answer is dropped, as the format asks.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tritium::harmony {

enum class ReasoningEffort { Low, Medium, High };
ReasoningEffort parse_effort(const std::string& s);  // "low" | "medium" | "high"; throws otherwise
const char* effort_name(ReasoningEffort e);

struct RenderOptions {
  ReasoningEffort effort = ReasoningEffort::Medium;
  std::string model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
  std::string knowledge_cutoff = "2024-06";
  std::string current_date;  // "YYYY-MM-DD"; empty: the line is omitted
  bool add_generation_prompt = true;
};

// messages: OpenAI-style [{role, content, thinking|reasoning_content|reasoning, tool_calls,
// name, tool_call_id}]; tools: [{type: "function", function: {name, description, parameters}}]
// or null. Throws tritium::Error on malformed input (naming the message index).
std::string render_conversation(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                const RenderOptions& opts = {});
// The `namespace functions { ... } // namespace functions` block for the developer message.
std::string render_tool_namespace(const nlohmann::ordered_json& tools);

struct ToolCall {
  std::string recipient;  // e.g. "functions.get_weather"
  std::string name;       // recipient without the "functions." prefix
  std::string arguments;  // raw text of the message (JSON when constrain == "json")
  std::string constrain;  // e.g. "json"; empty when not given
};

// What one feed() call produced.
struct ParseDelta {
  std::string reasoning;            // new analysis text
  std::string content;              // new final (or preamble) text
  std::vector<ToolCall> tool_calls; // tool calls completed by this chunk
  // The same calls as they stream: a fragment with `begins` opens a call (its header was read:
  // recipient and name known), the following ones carry its argument text as it arrives.
  struct CallFragment {
    bool begins = false;
    std::string recipient, name;
    std::string arguments;
  };
  std::vector<CallFragment> call_fragments;
};

// Incremental parser for generated harmony text. The prompt is assumed to end with
// `<|start|>assistant` (render_conversation's generation prompt); generation may also start with
// `<|start|>assistant` itself. Text in the analysis channel is reasoning; final and commentary
// without recipient are content; a message with a recipient is a tool call. Partial special
// tokens at the end of a chunk are held back until the next chunk decides them.
class StreamParser {
 public:
  ParseDelta feed(std::string_view text);
  ParseDelta feed_tokens(const std::vector<int>& ids, const std::function<std::string(int)>& token_text);
  // Flushes held-back text at the end of generation.
  ParseDelta finish();

  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ToolCall>& tool_calls() const { return tool_calls_; }
  // True after <|return|> or <|call|>: the model finished its turn.
  bool done() const { return done_; }

 private:
  enum class State { Header, Body, BetweenMessages };
  State state_ = State::Header;
  std::string pending_;  // unprocessed text
  std::string header_;   // header text of the current message
  std::string channel_, recipient_, constrain_;
  std::string call_args_;
  std::string reasoning_, content_;
  std::vector<ToolCall> tool_calls_;
  bool done_ = false;

  void parse_header();
  void emit_body(const std::string& text, ParseDelta& d);
  void end_message(const std::string& marker, ParseDelta& d);
  ParseDelta process(bool final_flush);
};

}  // namespace tritium::harmony
