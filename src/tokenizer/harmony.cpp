// Harmony rendering and parsing (see harmony.h).
#include "tokenizer/harmony.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/jinja_value.h"

namespace tritium::harmony {
namespace {

using ojson = nlohmann::ordered_json;

const char* kStart = "<|start|>";
const char* kEnd = "<|end|>";
const char* kMessage = "<|message|>";
const char* kChannel = "<|channel|>";
const char* kConstrain = "<|constrain|>";
const char* kCall = "<|call|>";
const char* kReturn = "<|return|>";

std::string str_field(const ojson& m, const char* k) {
  auto it = m.find(k);
  if (it == m.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

// Message text: a string, or a list of {type: "text", text} parts.
std::string content_text(const ojson& m, size_t index) {
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    for (auto& p : *it) {
      if (p.is_object() && p.contains("text") && p["text"].is_string()) out += p["text"].get<std::string>();
      else if (p.is_string()) out += p.get<std::string>();
    }
    return out;
  }
  throw Error(str_cat("harmony: message ", index, ": content must be a string or a list of text parts"));
}

std::string reasoning_text(const ojson& m) {
  for (const char* k : {"thinking", "reasoning_content", "reasoning"}) {
    std::string s = str_field(m, k);
    if (!s.empty()) return s;
  }
  return "";
}

std::string python_json(const ojson& j) {
  return jinja::json_dumps(jinja::Value::from_json(j), false, -1, ", ", ": ", false);
}

// TypeScript-like declaration of a JSON schema, laid out as openai-harmony lays it out
// (properties of nested objects indented by 4 spaces per level, the closing brace at the
// properties' indentation, union types of a top-level property on lines of their own).
std::string ts_type(const ojson& schema, int depth, bool top_property);

std::string ts_object_body(const ojson& schema, int depth) {
  std::string ind(static_cast<size_t>(4 * depth), ' ');
  std::vector<std::string> required;
  if (schema.contains("required") && schema["required"].is_array())
    for (auto& r : schema["required"])
      if (r.is_string()) required.push_back(r.get<std::string>());
  std::string out = "{\n";
  auto props = schema.find("properties");
  if (props != schema.end() && props->is_object()) {
    for (auto it = props->begin(); it != props->end(); ++it) {
      const ojson& p = it.value();
      if (p.is_object() && p.contains("description") && p["description"].is_string())
        out += ind + "// " + p["description"].get<std::string>() + "\n";
      bool req = std::find(required.begin(), required.end(), it.key()) != required.end();
      std::string ty = ts_type(p, depth, depth == 0);
      out += ind + it.key() + (req ? ":" : "?:") + (ty.empty() || ty[0] != '\n' ? " " : "") + ty + ",";
      if (p.is_object() && p.contains("default"))
        out += " // default: " + (p["default"].is_string() ? p["default"].get<std::string>() : python_json(p["default"]));
      out += "\n";
    }
  }
  out += ind + "}";
  return out;
}

std::string ts_type(const ojson& schema, int depth, bool top_property) {
  if (!schema.is_object()) return "any";
  for (const char* k : {"oneOf", "anyOf"}) {
    if (schema.contains(k) && schema[k].is_array()) {
      if (!top_property) return "any";
      std::string out = "\n";
      for (auto& s : schema[k]) out += " | " + ts_type(s, depth, false) + "\n";
      return out;
    }
  }
  auto t = schema.find("type");
  if (t == schema.end()) return "any";
  if (t->is_array()) {
    std::string out;
    for (auto& x : *t) {
      std::string name = x.is_string() ? x.get<std::string>() : "";
      std::string one = name == "null" ? "null" : ts_type(ojson{{"type", x}}, depth, false);
      out += (out.empty() ? "" : " | ") + one;
    }
    return out;
  }
  std::string ty = t->is_string() ? t->get<std::string>() : "";
  if (ty == "string") {
    if (schema.contains("enum") && schema["enum"].is_array()) {
      std::string out;
      for (auto& e : schema["enum"]) out += (out.empty() ? "" : " | ") + e.dump();
      return out;
    }
    return "string";
  }
  if (ty == "number" || ty == "integer") return "number";
  if (ty == "boolean") return "boolean";
  if (ty == "array") return schema.contains("items") ? ts_type(schema["items"], depth, false) + "[]" : "Array<any>";
  if (ty == "object") {
    std::string pre;
    if (schema.contains("description") && schema["description"].is_string())
      pre = "    // " + schema["description"].get<std::string>() + "\n";
    return pre + ts_object_body(schema, depth + 1);
  }
  return "any";
}

void check_role(const std::string& role, size_t i) {
  static const char* roles[] = {"system", "developer", "user", "assistant", "tool"};
  for (const char* r : roles)
    if (role == r) return;
  throw Error(str_cat("harmony: message ", i, ": unknown role '", role, "'"));
}

}  // namespace

ReasoningEffort parse_effort(const std::string& s) {
  if (s == "low") return ReasoningEffort::Low;
  if (s == "medium") return ReasoningEffort::Medium;
  if (s == "high") return ReasoningEffort::High;
  throw Error(str_cat("reasoning effort must be low, medium or high, not '", s, "'"));
}

const char* effort_name(ReasoningEffort e) {
  switch (e) {
    case ReasoningEffort::Low: return "low";
    case ReasoningEffort::Medium: return "medium";
    case ReasoningEffort::High: return "high";
  }
  return "medium";
}

std::string render_tool_namespace(const ojson& tools) {
  std::string out = "## functions\n\nnamespace functions {\n\n";
  size_t i = 0;
  for (auto& t : tools) {
    const ojson& f = (t.is_object() && t.contains("function")) ? t["function"] : t;
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string())
      throw Error(str_cat("harmony: tool ", i, ": needs a function name"));
    std::string desc = str_field(f, "description");
    if (!desc.empty()) {
      size_t start = 0;
      while (true) {
        size_t nl = desc.find('\n', start);
        out += "// " + desc.substr(start, nl == std::string::npos ? std::string::npos : nl - start) + "\n";
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    }
    out += "type " + f["name"].get<std::string>() + " = ";
    const ojson* params = f.contains("parameters") ? &f["parameters"] : nullptr;
    bool has_props = params && params->is_object() && params->contains("properties") && (*params)["properties"].is_object();
    if (has_props) out += "(_: " + ts_object_body(*params, 0) + ") => any;\n\n";
    else out += "() => any;\n\n";
    ++i;
  }
  out += "} // namespace functions";
  return out;
}

std::string render_conversation(const ojson& messages, const ojson& tools, const RenderOptions& opts) {
  TRITIUM_CHECK(messages.is_array(), "harmony: messages must be a JSON array");
  bool has_tools = tools.is_array() && !tools.empty();
  std::string out;
  // System message.
  out += kStart;
  out += "system";
  out += kMessage;
  out += opts.model_identity + "\nKnowledge cutoff: " + opts.knowledge_cutoff + "\n";
  if (!opts.current_date.empty()) out += "Current date: " + opts.current_date + "\n";
  out += "\nReasoning: " + std::string(effort_name(opts.effort)) + "\n\n";
  out += "# Valid channels: analysis, commentary, final. Channel must be included for every message.";
  if (has_tools) out += "\nCalls to these tools must go to the commentary channel: 'functions'.";
  out += kEnd;

  // Developer message: instructions from system/developer messages, then tools.
  std::string instructions;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    TRITIUM_CHECK(m.is_object() && m.contains("role") && m["role"].is_string(), "harmony: message ", i,
                  ": needs a string 'role'");
    std::string role = m["role"].get<std::string>();
    check_role(role, i);
    if (role == "system" || role == "developer") {
      std::string t = content_text(m, i);
      if (!t.empty()) instructions += (instructions.empty() ? "" : "\n\n") + t;
    }
  }
  if (!instructions.empty() || has_tools) {
    out += kStart;
    out += "developer";
    out += kMessage;
    if (!instructions.empty()) out += "# Instructions\n\n" + instructions + (has_tools ? "\n\n" : "");
    if (has_tools) out += "# Tools\n\n" + render_tool_namespace(tools);
    out += kEnd;
  }

  // Index of the last user message: reasoning before it belongs to finished turns.
  size_t last_user = 0;
  bool any_user = false;
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i]["role"] == "user") last_user = i, any_user = true;

  std::string last_call_name;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ojson& m = messages[i];
    std::string role = m["role"].get<std::string>();
    bool is_last = i + 1 == messages.size();
    if (role == "system" || role == "developer") continue;
    if (role == "user") {
      out += str_cat(kStart, "user", kMessage, content_text(m, i), kEnd);
      continue;
    }
    if (role == "tool") {
      std::string name = str_field(m, "name");
      if (name.empty()) name = last_call_name;
      TRITIUM_CHECK(!name.empty(), "harmony: message ", i, ": tool result without a preceding tool call or 'name'");
      auto c = m.find("content");
      std::string text = (c != m.end() && !c->is_string() && !c->is_null() && !c->is_array()) ? python_json(*c)
                                                                                                : content_text(m, i);
      out += str_cat(kStart, "functions.", name, " to=assistant", kChannel, "commentary", kMessage, text, kEnd);
      continue;
    }
    // assistant
    std::string reasoning = reasoning_text(m);
    std::string text = content_text(m, i);
    bool current_turn = !any_user || i > last_user;
    auto calls = m.find("tool_calls");
    bool has_calls = calls != m.end() && calls->is_array() && !calls->empty();
    if (has_calls) {
      // Reasoning leading to a call is kept in the current turn; content before a call is
      // analysis too when no reasoning is given.
      std::string analysis = !reasoning.empty() ? reasoning : text;
      if (!analysis.empty() && current_turn)
        out += str_cat(kStart, "assistant", kChannel, "analysis", kMessage, analysis, kEnd);
      for (auto& tc : *calls) {
        const ojson& f = (tc.is_object() && tc.contains("function")) ? tc["function"] : tc;
        TRITIUM_CHECK(f.is_object() && f.contains("name") && f["name"].is_string(), "harmony: message ", i,
                      ": tool call needs a function name");
        last_call_name = f["name"].get<std::string>();
        std::string args = "{}";
        if (f.contains("arguments")) args = f["arguments"].is_string() ? f["arguments"].get<std::string>() : python_json(f["arguments"]);
        out += str_cat(kStart, "assistant to=functions.", last_call_name, kChannel, "commentary ", kConstrain, "json",
                       kMessage, args, kCall);
      }
      continue;
    }
    // Reasoning before a final answer is dropped (openai-harmony drops it even when rendering
    // a training example that ends with this message).
    bool training_end = is_last && !opts.add_generation_prompt;
    std::string channel = str_field(m, "channel");
    if (channel.empty()) channel = "final";
    out += str_cat(kStart, "assistant", kChannel, channel, kMessage, text, training_end ? kReturn : kEnd);
  }
  if (opts.add_generation_prompt) out += str_cat(kStart, "assistant");
  return out;
}

// ---- StreamParser ----

namespace {
const char* kMarkers[] = {"<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>", "<|call|>", "<|return|>"};

// Length of the longest suffix of `s` that is a proper prefix of a marker.
size_t partial_marker_suffix(const std::string& s) {
  size_t best = 0;
  for (const char* m : kMarkers) {
    std::string mk(m);
    for (size_t n = std::min(mk.size() - 1, s.size()); n > best; --n)
      if (s.compare(s.size() - n, n, mk, 0, n) == 0) {
        best = n;
        break;
      }
  }
  return best;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n"), e = s.find_last_not_of(" \t\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}
}  // namespace

void StreamParser::parse_header() {
  // Header forms: "<|channel|>commentary to=functions.f <|constrain|>json"
  //               " to=functions.f<|channel|>commentary json", "<|channel|>final".
  channel_.clear();
  recipient_.clear();
  constrain_.clear();
  std::string h = header_;
  auto take = [&](const std::string& marker) -> std::string {
    size_t p = h.find(marker);
    if (p == std::string::npos) return "";
    size_t s = p + marker.size();
    size_t e = h.find("<|", s);
    std::string v = h.substr(s, e == std::string::npos ? std::string::npos : e - s);
    h.erase(p, (e == std::string::npos ? h.size() : e) - p);
    return v;
  };
  std::string ch = take(kChannel);
  std::string cons = take(kConstrain);
  // Remaining words: role/recipient parts; the channel text may also carry to=... and a content type.
  std::vector<std::string> words;
  for (const std::string& part : {h, ch}) {
    size_t i = 0;
    while (i < part.size()) {
      while (i < part.size() && part[i] == ' ') ++i;
      size_t j = part.find(' ', i);
      if (j == std::string::npos) j = part.size();
      if (j > i) words.push_back(part.substr(i, j - i));
      i = j;
    }
  }
  std::vector<std::string> ch_words;
  {
    size_t i = 0;
    while (i < ch.size()) {
      while (i < ch.size() && ch[i] == ' ') ++i;
      size_t j = ch.find(' ', i);
      if (j == std::string::npos) j = ch.size();
      if (j > i) ch_words.push_back(ch.substr(i, j - i));
      i = j;
    }
  }
  for (auto& w : words)
    if (w.rfind("to=", 0) == 0) recipient_ = w.substr(3);
  for (auto& w : ch_words) {
    if (w.rfind("to=", 0) == 0) continue;
    if (channel_.empty()) channel_ = w;
    else if (constrain_.empty()) constrain_ = w;
  }
  if (!trim(cons).empty()) constrain_ = trim(cons);
}

void StreamParser::emit_body(const std::string& text, ParseDelta& d) {
  if (text.empty()) return;
  if (!recipient_.empty()) {
    call_args_ += text;
    if (d.call_fragments.empty() || d.call_fragments.back().begins) d.call_fragments.emplace_back();
    d.call_fragments.back().arguments += text;
  } else if (channel_ == "analysis") {
    reasoning_ += text;
    d.reasoning += text;
  } else {
    content_ += text;
    d.content += text;
  }
}

void StreamParser::end_message(const std::string& marker, ParseDelta& d) {
  if (!recipient_.empty()) {
    ToolCall tc;
    tc.recipient = recipient_;
    tc.name = recipient_.rfind("functions.", 0) == 0 ? recipient_.substr(10) : recipient_;
    tc.arguments = call_args_;
    tc.constrain = constrain_;
    tool_calls_.push_back(tc);
    d.tool_calls.push_back(tc);
  }
  call_args_.clear();
  header_.clear();
  if (marker == kReturn || marker == kCall) done_ = true;
  state_ = State::BetweenMessages;
}

ParseDelta StreamParser::process(bool final_flush) {
  ParseDelta d;
  while (!pending_.empty()) {
    if (state_ == State::Header) {
      size_t p = pending_.find(kMessage);
      if (p == std::string::npos) {
        // Generation that starts with "<|start|>assistant" repeats the prompt's header start.
        if (final_flush) {
          header_ += pending_;
          pending_.clear();
        }
        break;
      }
      header_ += pending_.substr(0, p);
      pending_.erase(0, p + std::char_traits<char>::length(kMessage));
      size_t s = header_.rfind(kStart);
      if (s != std::string::npos) header_.erase(0, s + std::char_traits<char>::length(kStart));
      parse_header();
      if (!recipient_.empty()) {
        ParseDelta::CallFragment f;
        f.begins = true;
        f.recipient = recipient_;
        f.name = recipient_.rfind("functions.", 0) == 0 ? recipient_.substr(10) : recipient_;
        d.call_fragments.push_back(std::move(f));
      }
      state_ = State::Body;
      continue;
    }
    if (state_ == State::BetweenMessages) {
      size_t p = pending_.find(kStart);
      if (p == std::string::npos) {
        if (final_flush) pending_.clear();
        break;
      }
      pending_.erase(0, p + std::char_traits<char>::length(kStart));
      header_.clear();
      state_ = State::Header;
      continue;
    }
    // Body: up to the first end marker.
    size_t best = std::string::npos;
    std::string marker;
    for (const char* m : {kEnd, kReturn, kCall}) {
      size_t p = pending_.find(m);
      if (p < best) best = p, marker = m;
    }
    if (best == std::string::npos) {
      size_t hold = final_flush ? 0 : partial_marker_suffix(pending_);
      emit_body(pending_.substr(0, pending_.size() - hold), d);
      pending_.erase(0, pending_.size() - hold);
      break;
    }
    emit_body(pending_.substr(0, best), d);
    pending_.erase(0, best + marker.size());
    end_message(marker, d);
  }
  return d;
}

ParseDelta StreamParser::feed(std::string_view text) {
  pending_.append(text.data(), text.size());
  return process(false);
}

ParseDelta StreamParser::feed_tokens(const std::vector<int>& ids, const std::function<std::string(int)>& token_text) {
  std::string text;
  for (int id : ids) text += token_text(id);
  return feed(text);
}

ParseDelta StreamParser::finish() {
  ParseDelta d = process(true);
  if (state_ == State::Body && !recipient_.empty() && !call_args_.empty()) end_message(kEnd, d);
  return d;
}

}  // namespace tritium::harmony
