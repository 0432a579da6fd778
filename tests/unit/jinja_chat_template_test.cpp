// ChatTemplate: context building as transformers' apply_chat_template does it.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/chat_template.h"

namespace tritium {
namespace {

using ojson = nlohmann::ordered_json;

TEST(ChatTemplate, SpecialTokensKwargsAndNamedTemplates) {
  ojson cfg = ojson::parse(R"({
    "bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
    "chat_template": [{"name": "default", "template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}{{ pad_token is defined }}{{ tools is none }}"},
                      {"name": "tool_use", "template": "TOOLS {{ tools | length }}"}]})");
  ChatTemplate ct = ChatTemplate::from_tokenizer_config(cfg);
  ojson msgs = ojson::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(ct.render(msgs, nullptr, true, ojson::object()), "<s>hi</s>FalseTrue");
  EXPECT_EQ(ct.render(msgs, ojson::parse("[{}, {}]"), true, ojson::object()), "TOOLS 2");
  EXPECT_EQ(ct.render(msgs, nullptr, true, ojson{{"bos_token", "B"}}), "Bhi</s>FalseTrue");
}

TEST(ChatTemplate, DropsNullKeysAndAliasesReasoning) {
  ChatTemplate ct("{% for m in messages %}{{ m | tojson }}{% endfor %}", ojson::object());
  ChatRequest r;
  r.messages = ojson::parse(R"([{"role": "assistant", "content": null, "reasoning": "r"}])");
  r.add_generation_prompt = false;
  // transformers 5.17 (the pinned reference) passes messages as they are.
  EXPECT_EQ(ct.render(r), R"({"role": "assistant", "content": null, "reasoning": "r"})");
  // Later releases drop null keys and copy reasoning to thinking + reasoning_content.
  r.drop_null_fields = true;
  r.alias_reasoning_fields = true;
  EXPECT_EQ(ct.render(r), R"({"thinking": "r", "role": "assistant", "reasoning": "r", "reasoning_content": "r"})");
}

TEST(ChatTemplate, ContinueFinalMessage) {
  ChatTemplate ct("{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</{{ m.role }}>{% endfor %}", ojson::object());
  ChatRequest r;
  r.messages = ojson::parse(R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": "Once upon "}])");
  r.add_generation_prompt = false;
  r.continue_final_message = true;
  EXPECT_EQ(ct.render(r), "<user>q</user><assistant>Once upon");
}

TEST(ChatTemplate, ErrorsAreTritiumErrors) {
  EXPECT_THROW(ChatTemplate::from_tokenizer_config(ojson::parse(R"({"bos_token": "<s>"})")), Error);
  try {
    ChatTemplate::from_tokenizer_config(ojson::parse(R"({"chat_template": "ok\n{% if x %}"})"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  ChatTemplate ct("{{ raise_exception('bad roles') }}", ojson::object());
  EXPECT_THROW(ct.render(ojson::parse(R"([{"role": "user", "content": "q"}])"), nullptr, true, nullptr), Error);
}

}  // namespace
}  // namespace tritium
