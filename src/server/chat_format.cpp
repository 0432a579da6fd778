#include "server/chat_format.h"

#include <random>

#include "core/error.h"
#include "server/api_error.h"

namespace tritium::server {

namespace {
std::mt19937_64& rng() {
  static thread_local std::mt19937_64 g(std::random_device{}());
  return g;
}
}  // namespace

std::string random_hex(size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = d[rng()() % 16];
  return s;
}

std::string random_alnum(size_t n) {
  static const char* d = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(n, '0');
  for (auto& c : s) c = d[rng()() % 62];
  return s;
}

std::string ChatFormat::forced_call_prefix(const std::string& name) const {
  const std::string quoted = name.empty() ? "\"" : nlohmann::json(name).dump() + ", ";
  switch (tools) {
    case ToolFormat::Hermes:
      return "<tool_call>\n{\"name\": " + (name.empty() ? std::string("\"") : quoted + "\"arguments\": ");
    case ToolFormat::Llama3Json:
      return "{\"name\": " + (name.empty() ? std::string("\"") : quoted + "\"parameters\": ");
    case ToolFormat::Mistral:
      if (mistral_name_args) return "[TOOL_CALLS]" + (name.empty() ? std::string() : name + "[ARGS]");
      return "[TOOL_CALLS][{\"name\": " + (name.empty() ? std::string("\"") : quoted + "\"arguments\": ");
    case ToolFormat::Harmony:
      return "<|channel|>commentary to=functions." + (name.empty() ? std::string() : name + " <|constrain|>json<|message|>");
    default:
      return "";
  }
}

std::string ChatFormat::new_call_id() const {
  if (tools == ToolFormat::Mistral) return random_alnum(9);
  return "call_" + random_hex(24);
}

ChatFormat detect_chat_format(const Tokenizer* tok, const ChatTemplate* tmpl, const std::string& tool_parser,
                              const std::string& reasoning_parser) {
  ChatFormat f;
  f.tok = tok;
  f.tmpl = tmpl;
  if (!tok) return f;
  f.harmony = tok->token_to_id("<|channel|>").has_value() && tok->token_to_id("<|start|>").has_value() &&
              tok->token_to_id("<|message|>").has_value();
  const std::string src = tmpl ? tmpl->source(true) : std::string();
  auto has = [&](const char* s) { return src.find(s) != std::string::npos; };
  if (tool_parser == "auto") {
    if (f.harmony) f.tools = ToolFormat::Harmony;
    else if (has("<tool_call>")) f.tools = ToolFormat::Hermes;
    else if (has("[TOOL_CALLS]") || tok->token_to_id("[TOOL_CALLS]")) f.tools = ToolFormat::Mistral;
    else if (has("<|python_tag|>") || has("Environment: ipython") || (has("<|eot_id|>") && has("tools")))
      f.tools = ToolFormat::Llama3Json;
  } else {
    f.tools = parse_tool_format(tool_parser);
  }
  if (reasoning_parser == "auto") {
    if (f.harmony) f.reasoning = ReasoningFormat::Harmony;
    else if (tok->token_to_id("<think>") && tok->token_to_id("</think>")) f.reasoning = ReasoningFormat::Think;
  } else {
    f.reasoning = parse_reasoning_format(reasoning_parser);
  }
  f.mistral_name_args = has("[ARGS]") || tok->token_to_id("[ARGS]").has_value();
  // The markers of these formats are special tokens: keep them in the text the parsers read.
  if (f.harmony || f.tools == ToolFormat::Harmony || f.tools == ToolFormat::Mistral) f.skip_special_tokens = false;
  if (f.harmony)
    for (const char* t : {"<|return|>", "<|call|>"})
      if (auto id = tok->token_to_id(t)) f.stop_token_ids.push_back(*id);
  return f;
}

std::string render_prompt(const ChatFormat& f, const RenderInput& in) {
  try {
    if (f.harmony) {
      harmony::RenderOptions o;
      if (!in.reasoning_effort.empty()) o.effort = harmony::parse_effort(in.reasoning_effort);
      o.add_generation_prompt = in.add_generation_prompt;
      std::string p = harmony::render_conversation(in.messages, in.tools, o);
      if (in.continue_final_message) {
        // The last message open for continuation: drop its closing <|end|>.
        const std::string end = "<|end|>";
        if (p.size() >= end.size() && p.compare(p.size() - end.size(), end.size(), end) == 0) p.resize(p.size() - end.size());
      }
      return p;
    }
    if (!f.tmpl) throw ApiError(400, "this model has no chat template (neither chat_template.jinja nor tokenizer_config.json's "
                                     "chat_template; start the server with --chat-template FILE); use /v1/completions",
                                "messages");
    ChatRequest r;
    r.messages = in.messages;
    r.tools = in.tools;
    r.add_generation_prompt = in.add_generation_prompt;
    r.continue_final_message = in.continue_final_message;
    r.kwargs = in.kwargs;
    if (!in.reasoning_effort.empty() && !r.kwargs.contains("reasoning_effort")) r.kwargs["reasoning_effort"] = in.reasoning_effort;
    r.alias_reasoning_fields = true;
    return f.tmpl->render(r);
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the chat template cannot render these messages: ") + e.what(), "messages");
  }
}

}  // namespace tritium::server
