// The server's output parsers (reasoning and tool calls per model family), fed whole and one
// character at a time: both must give the same content, reasoning and calls.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/output_parser.h"

namespace tritium::server {
namespace {

struct Parsed {
  std::string reasoning, content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments
};

Parsed run(const ParserOptions& o, const std::string& text, size_t step) {
  auto p = make_output_parser(o);
  Parsed r;
  auto take = [&](OutputDelta&& d) {
    r.reasoning += d.reasoning;
    r.content += d.content;
    for (auto& c : d.tool_calls) {
      if (c.starts) {
        ASSERT_EQ(size_t(c.index), r.calls.size()) << "call indices count up from 0";
        EXPECT_EQ(c.arguments, "") << "a call's first delta has empty arguments";
        r.calls.push_back({c.name, ""});
      } else {
        ASSERT_LT(size_t(c.index), r.calls.size()) << "arguments before the call started";
        r.calls[size_t(c.index)].second += c.arguments;
      }
    }
  };
  for (size_t i = 0; i < text.size(); i += step) take(p->feed(std::string_view(text).substr(i, step)));
  take(p->finish());
  return r;
}

// Whole and char by char agree; returns the whole-text result.
Parsed parse(const ParserOptions& o, const std::string& text) {
  Parsed a = run(o, text, text.size() ? text.size() : 1), b = run(o, text, 1);
  EXPECT_EQ(a.reasoning, b.reasoning) << text;
  EXPECT_EQ(a.content, b.content) << text;
  EXPECT_EQ(a.calls, b.calls) << text;
  return a;
}

nlohmann::json args(const Parsed& p, size_t i) { return nlohmann::json::parse(p.calls.at(i).second); }

ParserOptions opts(ToolFormat t, ReasoningFormat r = ReasoningFormat::None) {
  ParserOptions o;
  o.tools = t;
  o.reasoning = r;
  o.parse_tools = t != ToolFormat::None;
  return o;
}

TEST(OutputParser, ThinkReasoningThenContent) {
  Parsed p = parse(opts(ToolFormat::None, ReasoningFormat::Think), "<think>\nLet me see.\n</think>\n\nIt is 4.");
  EXPECT_EQ(p.reasoning, "\nLet me see.\n");
  EXPECT_EQ(p.content, "It is 4.");
  auto o = opts(ToolFormat::None, ReasoningFormat::Think);
  o.start_in_reasoning = true;  // the prompt opened <think>
  p = parse(o, "hmm</think>ok");
  EXPECT_EQ(p.reasoning, "hmm");
  EXPECT_EQ(p.content, "ok");
  p = parse(opts(ToolFormat::None, ReasoningFormat::Think), "a < b and <thin is not a tag");
  EXPECT_EQ(p.content, "a < b and <thin is not a tag");
  EXPECT_EQ(p.reasoning, "");
}

TEST(OutputParser, HermesToolCalls) {
  Parsed p = parse(opts(ToolFormat::Hermes, ReasoningFormat::Think),
                   "<think>need weather</think>Sure.<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                   "</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(p.reasoning, "need weather");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(args(p, 0), nlohmann::json({{"city", "Paris"}}));
  EXPECT_EQ(p.calls[1].first, "get_time");
  EXPECT_EQ(args(p, 1), nlohmann::json::object());
  EXPECT_EQ(p.content.find("tool_call"), std::string::npos) << p.content;
  // Without tools in the request the markup stays text.
  auto o = opts(ToolFormat::Hermes);
  o.parse_tools = false;
  p = parse(o, "<tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "<tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call>");
}

TEST(OutputParser, HermesSingleToolCall) {
  auto o = opts(ToolFormat::Hermes);
  o.single_tool_call = true;
  Parsed p = parse(o, "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "a");
}

TEST(OutputParser, Llama3Json) {
  Parsed p = parse(opts(ToolFormat::Llama3Json), "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(args(p, 0), nlohmann::json({{"city", "Oslo"}}));
  EXPECT_EQ(p.content, "");
  p = parse(opts(ToolFormat::Llama3Json), "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(args(p, 0), nlohmann::json({{"x", 1}}));
  EXPECT_EQ(p.calls[1].first, "b");
  p = parse(opts(ToolFormat::Llama3Json), "Hello there, no call.");
  EXPECT_TRUE(p.calls.empty());
  EXPECT_EQ(p.content, "Hello there, no call.");
}

TEST(OutputParser, Mistral) {
  Parsed p = parse(opts(ToolFormat::Mistral),
                   "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}, {\"name\": \"b\", \"arguments\": {}}]");
  ASSERT_EQ(p.calls.size(), 2u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(args(p, 0), nlohmann::json({{"city", "Rome"}}));
  EXPECT_EQ(p.calls[1].first, "b");
  p = parse(opts(ToolFormat::Mistral), "[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(args(p, 0), nlohmann::json({{"city", "Rome"}}));
}

TEST(OutputParser, Harmony) {
  Parsed p = parse(opts(ToolFormat::Harmony, ReasoningFormat::Harmony),
                   "<|channel|>analysis<|message|>User greets.<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>");
  EXPECT_EQ(p.reasoning, "User greets.");
  EXPECT_EQ(p.content, "Hi!");
  EXPECT_TRUE(p.calls.empty());
  p = parse(opts(ToolFormat::Harmony, ReasoningFormat::Harmony),
            "<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary to=functions.get_weather "
            "<|constrain|>json<|message|>{\"city\": \"Tokyo\"}<|call|>");
  EXPECT_EQ(p.reasoning, "Need weather.");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].first, "get_weather");
  EXPECT_EQ(args(p, 0), nlohmann::json({{"city", "Tokyo"}}));
  EXPECT_EQ(p.content, "");
}

}  // namespace
}  // namespace tritium::server
