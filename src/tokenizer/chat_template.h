// Chat templates: renders a conversation to prompt text the way transformers'
// `tokenizer.apply_chat_template(..., tokenize=False)` does, with our own Jinja interpreter.
//
// The context the template sees is built as transformers builds it: the named special
// tokens (bos_token, eos_token, unk_token, sep_token, pad_token, cls_token, mask_token, and the
// model's own *_token names) as strings, then the caller's extra kwargs (which win), then
// messages, tools (or none), documents (or none) and add_generation_prompt.
// Two message rewrites that newer transformers releases make (after 5.17, the version the
// tests pin) are options of the request: dropping keys whose value is null, and copying
// reasoning given as reasoning_content/thinking/reasoning to `thinking` and `reasoning_content`.
// JSON objects keep their key order (nlohmann::ordered_json), as Python dicts do.
#pragma once
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace tritium {

namespace jinja {
class Template;
}

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null: no tools
  nlohmann::ordered_json documents;  // null: no documents
  bool add_generation_prompt = true;
  // Cut the output right after the last message's content so the model continues it.
  bool continue_final_message = false;
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();  // e.g. enable_thinking
  bool drop_null_fields = false;        // {"content": null} -> no "content" key
  bool alias_reasoning_fields = false;  // reasoning -> thinking + reasoning_content
};

class ChatTemplate {
 public:
  // From a parsed tokenizer_config.json; `jinja_file_text` (the model dir's chat_template.jinja,
  // if any) takes precedence over the config's `chat_template`, which may be a string or a
  // list of {"name", "template"}. Throws tritium::Error when there is no template.
  static ChatTemplate from_tokenizer_config(const nlohmann::ordered_json& cfg, const std::string& jinja_file_text = "");
  // Reads DIR/tokenizer_config.json, DIR/chat_template.jinja and DIR/special_tokens_map.json.
  static ChatTemplate from_model_dir(const std::string& dir);
  // A single template with the given special tokens ({"bos_token": "<s>", ...}).
  ChatTemplate(const std::string& source, nlohmann::ordered_json special_tokens);

  std::string render(const ChatRequest& req) const;
  std::string render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                     bool add_generation_prompt, const nlohmann::ordered_json& extra_kwargs) const;

  // The source of the template that render() would use (tools picks "tool_use" if present).
  const std::string& source(bool with_tools = false) const;
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate() = default;
  struct Named {
    std::string source;
    std::shared_ptr<jinja::Template> tpl;
  };
  std::map<std::string, Named> templates_;  // "default", "tool_use", ...
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
  const Named& pick(bool with_tools) const;
};

}  // namespace tritium
