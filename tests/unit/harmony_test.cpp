// Harmony (gpt-oss) rendering and incremental parsing.
#include <gtest/gtest.h>

#include "core/error.h"
#include "tokenizer/harmony.h"

namespace tritium::harmony {
namespace {

using ojson = nlohmann::ordered_json;

const char* kSys =
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: 2025-01-02\n\nReasoning: high\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every message.";

RenderOptions opts(ReasoningEffort e = ReasoningEffort::High) {
  RenderOptions o;
  o.effort = e;
  o.current_date = "2025-01-02";
  return o;
}

TEST(HarmonyRender, SimpleConversationWithEffort) {
  ojson msgs = ojson::parse(R"([{"role": "system", "content": "Answer in riddles."},
                               {"role": "user", "content": "Hi"}])");
  std::string want = std::string(kSys) + "<|end|>" +
                     "<|start|>developer<|message|># Instructions\n\nAnswer in riddles.<|end|>"
                     "<|start|>user<|message|>Hi<|end|><|start|>assistant";
  EXPECT_EQ(render_conversation(msgs, nullptr, opts()), want);
  RenderOptions low = opts(ReasoningEffort::Low);
  EXPECT_NE(render_conversation(msgs, nullptr, low).find("Reasoning: low"), std::string::npos);
  EXPECT_EQ(parse_effort("medium"), ReasoningEffort::Medium);
  EXPECT_THROW(parse_effort("extreme"), Error);
}

TEST(HarmonyRender, ToolsCallsAndResults) {
  ojson tools = ojson::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "description": "Get the weather.", "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"], "default": "c"}}, "required": ["city"]}}},
      {"type": "function", "function": {"name": "now", "description": "Current time."}}])");
  ojson msgs = ojson::parse(R"([{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "thinking": "Need the tool.", "tool_calls": [{"type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
      {"role": "tool", "content": "{\"temp\": 21}"}])");
  std::string got = render_conversation(msgs, tools, opts());
  std::string want =
      std::string(kSys) + "\nCalls to these tools must go to the commentary channel: 'functions'.<|end|>" +
      "<|start|>developer<|message|># Tools\n\n## functions\n\nnamespace functions {\n\n"
      "// Get the weather.\ntype get_weather = (_: {\n// City name\ncity: string,\nunit?: \"c\" | \"f\", // default: c\n}) => any;\n\n"
      "// Current time.\ntype now = () => any;\n\n} // namespace functions<|end|>"
      "<|start|>user<|message|>Weather in Paris?<|end|>"
      "<|start|>assistant<|channel|>analysis<|message|>Need the tool.<|end|>"
      "<|start|>assistant to=functions.get_weather<|channel|>commentary <|constrain|>json<|message|>{\"city\":\"Paris\"}<|call|>"
      "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>{\"temp\": 21}<|end|>"
      "<|start|>assistant";
  EXPECT_EQ(got, want);
}

TEST(HarmonyRender, DropsReasoningOfFinishedTurns) {
  ojson msgs = ojson::parse(R"([{"role": "user", "content": "Q1"},
      {"role": "assistant", "content": "A1", "reasoning_content": "secret"},
      {"role": "user", "content": "Q2"}])");
  std::string got = render_conversation(msgs, nullptr, opts());
  EXPECT_EQ(got.find("secret"), std::string::npos);
  EXPECT_NE(got.find("<|start|>assistant<|channel|>final<|message|>A1<|end|><|start|>user<|message|>Q2<|end|>"),
            std::string::npos);
  // Without a generation prompt the last assistant message ends the sequence with <|return|>,
  // and its reasoning is dropped as openai-harmony drops it.
  RenderOptions o = opts();
  o.add_generation_prompt = false;
  ojson two = ojson::parse(R"([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A", "thinking": "T"}])");
  std::string t = render_conversation(two, nullptr, o);
  EXPECT_EQ(t.find("<|channel|>analysis"), std::string::npos) << t;
  EXPECT_NE(t.find("<|start|>assistant<|channel|>final<|message|>A<|return|>"), std::string::npos) << t;
}

TEST(HarmonyRender, RejectsBadInput) {
  EXPECT_THROW(render_conversation(ojson::parse(R"([{"role": "wizard", "content": "x"}])"), nullptr), Error);
  EXPECT_THROW(render_conversation(ojson::parse(R"([{"role": "tool", "content": "x"}])"), nullptr), Error);
}

TEST(HarmonyParser, ReasoningThenFinal) {
  StreamParser p;
  std::string gen = "<|channel|>analysis<|message|>Think about it.<|end|><|start|>assistant<|channel|>final<|message|>The answer is 4.<|return|>";
  ParseDelta d = p.feed(gen);
  EXPECT_EQ(d.reasoning, "Think about it.");
  EXPECT_EQ(d.content, "The answer is 4.");
  EXPECT_TRUE(p.done());
  EXPECT_TRUE(p.tool_calls().empty());
}

TEST(HarmonyParser, StreamsCharByCharWithoutLeakingMarkers) {
  StreamParser p;
  std::string gen = "<|channel|>analysis<|message|>a<b|c<|end|><|start|>assistant<|channel|>final<|message|>x <| y<|return|>";
  std::string reasoning, content;
  for (char c : gen) {
    ParseDelta d = p.feed(std::string(1, c));
    reasoning += d.reasoning;
    content += d.content;
    EXPECT_EQ(content.find("<|r"), std::string::npos);
  }
  ParseDelta d = p.finish();
  reasoning += d.reasoning;
  content += d.content;
  EXPECT_EQ(reasoning, "a<b|c");
  EXPECT_EQ(content, "x <| y");
  EXPECT_EQ(p.reasoning(), reasoning);
  EXPECT_EQ(p.content(), content);
}

TEST(HarmonyParser, ToolCallBothHeaderForms) {
  StreamParser p;
  ParseDelta d = p.feed("<|channel|>analysis<|message|>Use the tool.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\":");
  EXPECT_TRUE(d.tool_calls.empty());
  d = p.feed("\"Paris\"}<|call|>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[0].recipient, "functions.get_weather");
  EXPECT_EQ(d.tool_calls[0].arguments, "{\"city\":\"Paris\"}");
  EXPECT_EQ(d.tool_calls[0].constrain, "json");
  EXPECT_TRUE(p.done());

  StreamParser q;  // recipient before the channel, content type after it
  d = q.feed(" to=functions.add<|channel|>commentary json<|message|>{\"a\":1}<|call|>");
  ASSERT_EQ(d.tool_calls.size(), 1u);
  EXPECT_EQ(d.tool_calls[0].name, "add");
  EXPECT_EQ(d.tool_calls[0].constrain, "json");
  EXPECT_EQ(d.tool_calls[0].arguments, "{\"a\":1}");
}

TEST(HarmonyParser, TokenIdsAndLeadingStart) {
  std::vector<std::string> vocab = {"<|start|>", "assistant", "<|channel|>", "final", "<|message|>", "Hi", "!", "<|return|>"};
  StreamParser p;
  ParseDelta d = p.feed_tokens({0, 1, 2, 3, 4, 5}, [&](int id) { return vocab[id]; });
  EXPECT_EQ(d.content, "Hi");
  d = p.feed_tokens({6, 7}, [&](int id) { return vocab[id]; });
  EXPECT_EQ(d.content, "!");
  EXPECT_TRUE(p.done());
}

}  // namespace
}  // namespace tritium::harmony
