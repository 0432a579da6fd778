#include "server/chat_request.h"

#include "core/error.h"
#include "server/api_error.h"
#include "server/request_fields.h"

namespace tritium::server {

namespace {

// A content value as text: a string, or an array of {"type": "text", "text"} parts (joined by
// newlines as vLLM joins them).
std::string content_text(const ojson& c, const std::string& param) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) throw bad_field(param, "'" + param + "' must be a string or an array of content parts, got " + json_type(c));
  std::string out;
  for (size_t j = 0; j < c.size(); ++j) {
    const ojson& part = c[j];
    const std::string pp = str_cat(param, "[", j, "]");
    if (!part.is_object()) throw bad_field(pp, "'" + pp + "' must be an object, got " + json_type(part));
    auto t = part.find("type");
    if (t == part.end() || !t->is_string()) throw bad_field(pp + ".type", "'" + pp + ".type' must be a string");
    const std::string type = t->get<std::string>();
    if (type == "text" || type == "input_text" || type == "output_text" || type == "refusal") {
      const char* key = type == "refusal" ? "refusal" : "text";
      auto x = part.find(key);
      if (x == part.end() || !x->is_string())
        throw bad_field(pp + "." + key, "'" + pp + "." + key + "' must be a string");
      if (!out.empty()) out += "\n";
      out += x->get<std::string>();
    } else if (type == "image_url" || type == "input_image" || type == "input_audio" || type == "file" ||
               type == "input_file" || type == "video_url") {
      throw bad_field(pp + ".type", "content part type '" + type + "' is not supported: this model reads text only");
    } else {
      throw bad_field(pp + ".type", "unknown content part type '" + type + "'");
    }
  }
  return out;
}

}  // namespace

ojson parse_chat_messages(const ojson& messages, bool harmony) {
  if (!messages.is_array()) throw bad_field("messages", "'messages' must be an array, got " + json_type(messages));
  if (messages.empty()) throw bad_field("messages", "'messages' must not be empty");
  ojson out = ojson::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    const std::string p = str_cat("messages[", i, "]");
    if (!m.is_object()) throw bad_field(p, "'" + p + "' must be an object, got " + json_type(m));
    Fields f(m, p + ".");
    auto role = f.string("role");
    if (!role) throw bad_field(p + ".role", "'" + p + ".role' is required");
    static const char* roles[] = {"system", "developer", "user", "assistant", "tool"};
    if (std::find(std::begin(roles), std::end(roles), *role) == std::end(roles))
      throw bad_field(p + ".role", "'" + p + ".role' is '" + *role + "'; it must be one of system, developer, user, assistant, tool");
    ojson msg = ojson::object();
    msg["role"] = (*role == "developer" && !harmony) ? "system" : *role;
    const ojson* content = f.get("content");
    const ojson* calls = f.array("tool_calls");
    if (content) msg["content"] = content_text(*content, p + ".content");
    else if (*role == "assistant") msg["content"] = "";  // null or absent beside tool_calls: empty, as vLLM renders it
    else throw bad_field(p + ".content", "'" + p + ".content' is required for role " + *role);
    if (auto name = f.string("name")) msg["name"] = *name;
    if (*role == "tool") {
      auto id = f.string("tool_call_id");
      if (!id) throw bad_field(p + ".tool_call_id", "'" + p + ".tool_call_id' is required for role tool");
      msg["tool_call_id"] = *id;
    }
    if (*role == "assistant") {
      for (const char* k : {"reasoning_content", "reasoning", "thinking"})
        if (auto r = f.string(k)) {
          msg["reasoning_content"] = *r;
          break;
        }
      if (calls && !calls->empty()) {
        ojson tcs = ojson::array();
        for (size_t j = 0; j < calls->size(); ++j) {
          const ojson& c = (*calls)[j];
          const std::string cp = str_cat(p, ".tool_calls[", j, "]");
          if (!c.is_object()) throw bad_field(cp, "'" + cp + "' must be an object");
          Fields cf(c, cp + ".");
          const ojson* fn = cf.object("function");
          if (!fn) throw bad_field(cp + ".function", "'" + cp + ".function' is required");
          Fields ff(*fn, cp + ".function.");
          auto name = ff.string("name");
          if (!name) throw bad_field(cp + ".function.name", "'" + cp + ".function.name' is required");
          ojson args = ojson::object();
          if (const ojson* a = ff.get("arguments")) {
            if (a->is_string()) {
              try {
                args = ojson::parse(a->get<std::string>());
              } catch (...) {
                args = *a;  // not JSON: the template gets the text
              }
            } else if (a->is_object()) {
              args = *a;
            } else {
              ff.wrong_type("arguments", "a string", *a);
            }
          }
          ojson tc = {{"id", cf.string("id").value_or("call_" + std::to_string(j))},
                      {"type", "function"},
                      {"function", {{"name", *name}, {"arguments", args}}}};
          tcs.push_back(std::move(tc));
        }
        msg["tool_calls"] = std::move(tcs);
      } else if (!content) {
        throw bad_field(p + ".content", "'" + p + ".content' is required for an assistant message without tool_calls");
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

ojson parse_tools(const ojson& tools, const std::string& param) {
  if (!tools.is_array()) throw bad_field(param, "'" + param + "' must be an array, got " + json_type(tools));
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string p = str_cat(param, "[", i, "]");
    const ojson& t = tools[i];
    if (!t.is_object()) throw bad_field(p, "'" + p + "' must be an object");
    Fields f(t, p + ".");
    auto type = f.string("type");
    if (type != "function") throw bad_field(p + ".type", "'" + p + ".type' must be \"function\"");
    const ojson* fn = f.object("function");
    if (!fn) throw bad_field(p + ".function", "'" + p + ".function' is required");
    Fields ff(*fn, p + ".function.");
    auto name = ff.string("name");
    if (!name || name->empty() || name->size() > 64 ||
        name->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos)
      throw bad_field(p + ".function.name", "'" + p + ".function.name' must be 1 to 64 letters, digits, '_', '-' or '.'");
    ff.string("description");
    ff.object("parameters");
  }
  return tools;
}

ToolChoice parse_tool_choice(const ojson* choice, const ojson& tools) {
  ToolChoice tc;
  const bool have = tools.is_array() && !tools.empty();
  tc.kind = have ? ToolChoice::Auto : ToolChoice::None;
  if (!choice) return tc;
  if (choice->is_string()) {
    std::string s = choice->get<std::string>();
    if (s == "none") tc.kind = ToolChoice::None;
    else if (s == "auto") tc.kind = have ? ToolChoice::Auto : ToolChoice::None;
    else if (s == "required") tc.kind = ToolChoice::Required;
    else throw bad_field("tool_choice", "'tool_choice' is '" + s + "'; it must be none, auto, required or {\"type\": \"function\", ...}");
  } else if (choice->is_object()) {
    const ojson* fn = choice->contains("function") ? &(*choice)["function"] : nullptr;
    const ojson* name = fn && fn->is_object() && fn->contains("name") ? &(*fn)["name"] : nullptr;
    if (!name && choice->contains("name")) name = &(*choice)["name"];  // the Responses API form
    if (!name || !name->is_string())
      throw bad_field("tool_choice", "'tool_choice' must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}");
    tc.kind = ToolChoice::Named;
    tc.name = name->get<std::string>();
  } else {
    throw bad_field("tool_choice", "'tool_choice' must be a string or an object, got " + json_type(*choice));
  }
  if (tc.kind == ToolChoice::Required || tc.kind == ToolChoice::Named) {
    if (!have) throw bad_field("tool_choice", "'tool_choice' asks for a tool call but no 'tools' are given");
    if (tc.kind == ToolChoice::Named) {
      bool found = false;
      for (auto& t : tools) {
        const ojson* fn = t.contains("function") ? &t["function"] : &t;
        if (fn->is_object() && fn->value("name", "") == tc.name) found = true;
      }
      if (!found) throw bad_field("tool_choice", "'tool_choice' names function '" + tc.name + "', which is not among the tools");
    }
  }
  return tc;
}

ChatPrompt build_chat_prompt(const Context& ctx, RenderInput in, const ToolChoice& tc, bool parallel_tool_calls) {
  const ChatFormat& f = ctx.format;
  if (!f.tok) throw ApiError(400, "this model has no tokenizer.json: chat needs one; send token ids to /v1/completions");
  if (!f.can_chat())
    throw ApiError(400, "this model has no chat template (start the server with --chat-template FILE); use /v1/completions",
                   "messages");
  if (tc.kind == ToolChoice::None) in.tools = nullptr;
  ChatPrompt p;
  p.text = render_prompt(f, in);
  if ((tc.kind == ToolChoice::Required || tc.kind == ToolChoice::Named) && !in.continue_final_message) {
    p.forced_prefix = f.forced_call_prefix(tc.kind == ToolChoice::Named ? tc.name : "");
    if (p.forced_prefix.empty())
      throw bad_field("tool_choice",
                      "'tool_choice' asks for a tool call, but this model's chat template shows no tool-call format "
                      "(start the server with --tool-call-parser hermes|llama3_json|mistral|harmony)");
    p.text += p.forced_prefix;
  }
  p.ids = f.tok->encode(p.text, /*add_special_tokens=*/false, /*parse_special=*/true);
  p.parser.tools = f.tools;
  p.parser.reasoning = f.reasoning;
  p.parser.parse_tools = tc.kind != ToolChoice::None && f.tools != ToolFormat::None;
  p.parser.start_in_reasoning = f.reasoning == ReasoningFormat::Think && p.forced_prefix.empty() && prompt_opens_think(p.text);
  p.parser.single_tool_call = !parallel_tool_calls || tc.kind == ToolChoice::Named;
  return p;
}

}  // namespace tritium::server
