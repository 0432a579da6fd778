// Chat template loading and rendering (see chat_template.h).
#include "tokenizer/chat_template.h"

#include "core/file.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"

namespace tritium {
namespace {

using ojson = nlohmann::ordered_json;

const char* kSpecialTokenAttrs[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                    "pad_token", "cls_token", "mask_token"};

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
bool token_text(const ojson& v, std::string& out) {
  if (v.is_string()) {
    out = v.get<std::string>();
    return true;
  }
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    out = v["content"].get<std::string>();
    return true;
  }
  return false;
}

// transformers copies a message's reasoning (first non-null of reasoning_content, thinking,
// reasoning) to `thinking` (kept first; a message's own `thinking` wins) and `reasoning_content`.
ojson alias_reasoning(const ojson& msg) {
  const ojson* r = nullptr;
  for (const char* k : {"reasoning_content", "thinking", "reasoning"}) {
    auto it = msg.find(k);
    if (it != msg.end() && !it->is_null()) {
      r = &*it;
      break;
    }
  }
  if (!r) return msg;
  // Python: {"thinking": r, **message, "reasoning_content": r}
  ojson out = ojson::object();
  out["thinking"] = *r;
  for (auto it = msg.begin(); it != msg.end(); ++it) out[it.key()] = it.value();
  out["reasoning_content"] = *r;
  return out;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, ojson special_tokens) : special_tokens_(std::move(special_tokens)) {
  templates_["default"] = Named{source, std::make_shared<jinja::Template>(source)};
}

ChatTemplate ChatTemplate::from_tokenizer_config(const ojson& cfg, const std::string& jinja_file_text) {
  ChatTemplate ct;
  for (const char* k : kSpecialTokenAttrs) {
    std::string text;
    auto it = cfg.find(k);
    if (it != cfg.end() && token_text(*it, text)) ct.special_tokens_[k] = text;
  }
  // Model-specific named tokens: an "extra_special_tokens" object, and other "*_token" keys.
  auto extra = cfg.find("extra_special_tokens");
  if (extra != cfg.end() && extra->is_object())
    for (auto e = extra->begin(); e != extra->end(); ++e) {
      std::string text;
      if (token_text(e.value(), text)) ct.special_tokens_[e.key()] = text;
    }
  for (auto e = cfg.begin(); e != cfg.end(); ++e) {
    const std::string& k = e.key();
    std::string text;
    if (k.size() > 6 && k.compare(k.size() - 6, 6, "_token") == 0 && !ct.special_tokens_.contains(k) &&
        e.value().is_string() && token_text(e.value(), text))
      ct.special_tokens_[k] = text;
  }
  auto add = [&](const std::string& name, const std::string& src) {
    try {
      ct.templates_[name] = Named{src, std::make_shared<jinja::Template>(src)};
    } catch (const Error& e) {
      throw Error(str_cat("chat template '", name, "': ", e.what()));
    }
  };
  if (!jinja_file_text.empty()) {
    add("default", jinja_file_text);
    return ct;
  }
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null())
    throw Error("tokenizer_config.json has no chat_template (and there is no chat_template.jinja)");
  if (it->is_string()) {
    add("default", it->get<std::string>());
  } else if (it->is_array()) {
    for (auto& e : *it) {
      if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
          !e["template"].is_string())
        throw Error("tokenizer_config.json: chat_template list entries need string 'name' and 'template'");
      add(e["name"].get<std::string>(), e["template"].get<std::string>());
    }
  } else if (it->is_object()) {
    for (auto e = it->begin(); e != it->end(); ++e) {
      if (!e.value().is_string()) throw Error("tokenizer_config.json: chat_template values must be strings");
      add(e.key(), e.value().get<std::string>());
    }
  } else {
    throw Error("tokenizer_config.json: chat_template must be a string or a list of named templates");
  }
  return ct;
}

ChatTemplate ChatTemplate::from_model_dir(const std::string& dir) {
  ojson cfg = ojson::object();
  std::string cfg_path = dir + "/tokenizer_config.json";
  if (auto text = try_read_file(cfg_path, kMaxTokenizerConfigBytes, "tokenizer_config.json")) {
    try {
      cfg = ojson::parse(*text);
    } catch (const std::exception& e) {
      throw Error(str_cat(cfg_path, ": invalid JSON: ", e.what()));
    }
  }
  // Legacy special_tokens_map.json fills tokens the config does not name.
  if (auto text = try_read_file(dir + "/special_tokens_map.json", kMaxTokenizerConfigBytes, "special_tokens_map.json")) {
    try {
      ojson stm = ojson::parse(*text);
      for (const char* k : kSpecialTokenAttrs)
        if (stm.contains(k) && (!cfg.contains(k) || cfg[k].is_null())) cfg[k] = stm[k];
    } catch (const std::exception& e) {
      throw Error(str_cat(dir, "/special_tokens_map.json: invalid JSON: ", e.what()));
    }
  }
  std::string jinja = try_read_file(dir + "/chat_template.jinja", kMaxChatTemplateBytes, "chat_template.jinja").value_or("");
  if (jinja.empty() && !cfg.contains("chat_template"))
    throw Error(str_cat(dir, ": no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template)"));
  return from_tokenizer_config(cfg, jinja);
}

const ChatTemplate::Named& ChatTemplate::pick(bool with_tools) const {
  if (with_tools) {
    auto it = templates_.find("tool_use");
    if (it != templates_.end()) return it->second;
  }
  auto it = templates_.find("default");
  if (it != templates_.end()) return it->second;
  std::string names;
  for (auto& [k, v] : templates_) names += (names.empty() ? "" : ", ") + k;
  throw Error(str_cat("the model has several chat templates and none named 'default' (", names, ")"));
}

const std::string& ChatTemplate::source(bool with_tools) const { return pick(with_tools).source; }

std::string ChatTemplate::render(const ojson& messages, const ojson& tools, bool add_generation_prompt,
                                 const ojson& extra_kwargs) const {
  ChatRequest r;
  r.messages = messages;
  r.tools = tools;
  r.add_generation_prompt = add_generation_prompt;
  if (!extra_kwargs.is_null()) r.kwargs = extra_kwargs;
  return render(r);
}

std::string ChatTemplate::render(const ChatRequest& req) const {
  using jinja::Value;
  TRITIUM_CHECK(req.messages.is_array(), "chat: messages must be a JSON array");
  TRITIUM_CHECK(!req.messages.empty(), "Cannot apply chat template to an empty conversation. Provide at least one message.");
  TRITIUM_CHECK(req.kwargs.is_object() || req.kwargs.is_null(), "chat: template kwargs must be a JSON object");
  TRITIUM_CHECK(!(req.continue_final_message && req.add_generation_prompt),
                "continue_final_message and add_generation_prompt are not compatible");
  const Named& t = pick(!req.tools.is_null());

  ojson messages = ojson::array();
  for (auto& m : req.messages) {
    TRITIUM_CHECK(m.is_object(), "chat: every message must be a JSON object");
    ojson clean = ojson::object();
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!req.drop_null_fields || !it.value().is_null()) clean[it.key()] = it.value();
    messages.push_back(req.alias_reasoning_fields ? alias_reasoning(clean) : clean);
  }

  // continue_final_message: tag the final text, render, cut at the tag (as transformers does).
  static const std::string kTag = "CONTINUE_FINAL_MESSAGE_TAG ";
  std::string final_text;
  if (req.continue_final_message) {
    TRITIUM_CHECK(t.source.find("content") != std::string::npos,
                  "continue_final_message is set to \"content\" but this is not an accepted field in the chat_template");
    ojson& last = messages.back();
    auto it = last.find("content");
    TRITIUM_CHECK(it != last.end(), "continue_final_message is set but the final message has no \"content\" to continue!");
    if (it->is_string()) {
      final_text = it->get<std::string>();
      *it = final_text + kTag;
    } else if (it->is_array()) {
      bool found = false;
      for (auto b = it->rbegin(); b != it->rend(); ++b) {
        if (b->is_object() && b->contains("text")) {
          final_text = (*b)["text"].get<std::string>();
          (*b)["text"] = final_text + kTag;
          found = true;
          break;
        }
      }
      TRITIUM_CHECK(found, "continue_final_message is set but we could not find any text to continue in the final message!");
    }
  }

  Value ctx = Value::dict();
  jinja::Dict& d = ctx.dict_ref();
  for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it)
    d.set(Value(it.key()), Value::from_json(it.value()));
  if (req.kwargs.is_object())
    for (auto it = req.kwargs.begin(); it != req.kwargs.end(); ++it) d.set(Value(it.key()), Value::from_json(it.value()));
  d.set(Value("messages"), Value::from_json(messages));
  d.set(Value("tools"), Value::from_json(req.tools));
  d.set(Value("documents"), Value::from_json(req.documents));
  d.set(Value("add_generation_prompt"), Value(req.add_generation_prompt));
  std::string out = t.tpl->render(ctx);

  if (req.continue_final_message) {
    std::string tag = kTag.substr(0, kTag.size() - 1);
    size_t loc = out.rfind(tag);
    std::string stripped = jinja::py_strip(final_text, nullptr, true, true);
    TRITIUM_CHECK(loc != std::string::npos && out.find(stripped) != std::string::npos,
                  "continue_final_message is set but the final message does not appear in the chat after applying "
                  "the chat template");
    if (out.compare(loc, kTag.size(), kTag) == 0) {
      out = out.substr(0, loc);
    } else {
      out = jinja::py_strip(out.substr(0, loc), nullptr, false, true);
    }
  }
  return out;
}

}  // namespace tritium
