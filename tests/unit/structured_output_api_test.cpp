// The server's structured-output functions (include/tritium/structured_output.h): OpenAI and
// vLLM request fields to a Constraint, errors naming the field, tool calls back from outputs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tritium/structured_output.h"

using namespace tritium;
using json = nlohmann::json;

namespace {

// The Error's message, or "" when f does not throw.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

json schema_of(const Constraint& c) { return json::parse(c.spec); }

}  // namespace

TEST(StructuredOutputApi, ResponseFormat) {
  EXPECT_FALSE(constraint_from_response_format(json{{"type", "text"}}).active());
  EXPECT_FALSE(constraint_from_response_format(json()).active());
  Constraint o = constraint_from_response_format(json{{"type", "json_object"}});
  EXPECT_EQ(o.kind, Constraint::Kind::JsonObject);

  const char* body = R"({"type":"json_schema","json_schema":{"name":"person","strict":true,
      "schema":{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"integer"}},"required":["z","a"]}}})";
  Constraint s = constraint_from_response_format(nlohmann::ordered_json::parse(body));
  EXPECT_EQ(s.kind, Constraint::Kind::JsonSchema);
  EXPECT_EQ(s.field, "response_format.json_schema.schema");
  EXPECT_EQ(schema_of(s)["required"], (json{"z", "a"}));
  EXPECT_LT(s.spec.find("\"z\""), s.spec.find("\"a\""));  // property order kept (ordered_json)
  EXPECT_EQ(schema_of(constraint_from_response_format(json::parse(body))), schema_of(s));  // json: sorted, same schema

  EXPECT_EQ(error_of([] { constraint_from_response_format(json{{"type", "json_schema"}}); }),
            "response_format.json_schema is required when type is json_schema");
  EXPECT_EQ(error_of([] { constraint_from_response_format(json::parse(R"({"type":"json_schema","json_schema":{"name":"x"}})")); }),
            "response_format.json_schema.schema is required");
  EXPECT_EQ(error_of([] { constraint_from_response_format(json::parse(R"({"type":"json_schema","json_schema":{"schema":3}})")); }),
            "response_format.json_schema.schema must be a JSON schema object, got number");
  EXPECT_EQ(error_of([] { constraint_from_response_format(json::parse(R"({"type":"json_schema","json_schema":{"schema":{},"strict":"yes"}})")); }),
            "response_format.json_schema.strict must be a boolean");
  EXPECT_NE(error_of([] { constraint_from_response_format(json{{"type", "yaml"}}); }).find("response_format.type 'yaml'"),
            std::string::npos);
  EXPECT_EQ(error_of([] { constraint_from_response_format(json::array()); }),
            "response_format must be a JSON object, got array");
  EXPECT_NE(error_of([] { constraint_from_response_format(json::object()); }).find("response_format.type is required"),
            std::string::npos);
}

TEST(StructuredOutputApi, VllmStructuredOutputs) {
  Constraint r = constraint_from_structured_outputs(json{{"regex", "[0-9]+"}});
  EXPECT_EQ(r.kind, Constraint::Kind::Regex);
  EXPECT_EQ(r.spec, "[0-9]+");
  EXPECT_EQ(r.field, "structured_outputs.regex");
  Constraint c = constraint_from_structured_outputs(json{{"choice", {"a", "b"}}});
  EXPECT_EQ(c.kind, Constraint::Kind::Choice);
  EXPECT_EQ(c.choices, (std::vector<std::string>{"a", "b"}));
  Constraint g = constraint_from_structured_outputs(json{{"grammar", "start: \"x\""}});
  EXPECT_EQ(g.kind, Constraint::Kind::Grammar);
  // json as an object or as JSON text
  Constraint j1 = constraint_from_structured_outputs(json::parse(R"({"json":{"type":"integer"}})"));
  Constraint j2 = constraint_from_structured_outputs(json::parse(R"({"json":"{\"type\":\"integer\"}"})"));
  EXPECT_EQ(j1.spec, j2.spec);
  EXPECT_EQ(schema_of(j1), (json{{"type", "integer"}}));
  // options
  Constraint compact = constraint_from_structured_outputs(json::parse(R"({"json_object":true,"disable_any_whitespace":true})"));
  EXPECT_EQ(compact.kind, Constraint::Kind::JsonSchema);
  EXPECT_EQ(schema_of(compact), (json{{"type", "object"}, {"x-guidance", {{"whitespace_flexible", false}}}}));
  Constraint ws = constraint_from_structured_outputs(json::parse(R"({"json":{"type":"array"},"whitespace_pattern":" ?"})"));
  EXPECT_EQ(schema_of(ws)["x-guidance"]["whitespace_pattern"], " ?");
  Constraint closed = constraint_from_structured_outputs(json::parse(R"({"disable_additional_properties":true,
      "json":{"type":"object","properties":{"properties":{"type":"object","properties":{}},"x":{"anyOf":[{"type":"object"}]}},
              "$defs":{"d":{"properties":{}}}}})"));
  json cs = schema_of(closed);
  EXPECT_EQ(cs["additionalProperties"], false);
  EXPECT_EQ(cs["properties"]["properties"]["additionalProperties"], false);  // a property named "properties"
  EXPECT_FALSE(cs["properties"].contains("additionalProperties"));           // ... is not a schema keyword here
  EXPECT_EQ(cs["properties"]["x"]["anyOf"][0]["additionalProperties"], false);
  EXPECT_EQ(cs["$defs"]["d"]["additionalProperties"], false);
  // errors
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json{{"regex", "a"}, {"choice", {"a"}}}); }),
            "structured_outputs sets more than one of json, regex, choice, grammar, json_object");
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json::object()); }),
            "structured_outputs sets none of json, regex, choice, grammar, json_object");
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json{{"choice", json::array()}}); }),
            "structured_outputs.choice must be a non-empty list of strings");
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json{{"choice", {"a", 2}}}); }),
            "structured_outputs.choice[1] must be a string, got number");
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json{{"structural_tag", "{}"}}); }),
            "structured_outputs.structural_tag is not supported");
  EXPECT_NE(error_of([] { constraint_from_structured_outputs(json{{"json", "{not json"}}); }).find("structured_outputs.json is not valid JSON"),
            std::string::npos);
  EXPECT_EQ(error_of([] { constraint_from_structured_outputs(json{{"regex", 5}}); }),
            "structured_outputs.regex must be a string, got number");
}

TEST(StructuredOutputApi, GuidedFields) {
  EXPECT_FALSE(constraint_from_guided_fields(json{{"model", "x"}}).active());
  Constraint c = constraint_from_guided_fields(json{{"guided_choice", {"x", "y"}}});
  EXPECT_EQ(c.kind, Constraint::Kind::Choice);
  Constraint j = constraint_from_guided_fields(json::parse(R"({"guided_json":{"type":"string"},"guided_whitespace_pattern":""})"));
  EXPECT_EQ(schema_of(j)["x-guidance"]["whitespace_pattern"], "");
  EXPECT_EQ(j.field, "guided_json");
  EXPECT_NE(error_of([] { constraint_from_guided_fields(json{{"guided_regex", "a"}, {"guided_grammar", "b"}}); }).find("give one"),
            std::string::npos);
}

namespace {
const json kTools = json::parse(R"([
  {"type":"function","function":{"name":"get_weather","strict":true,
     "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}},
  {"type":"function","function":{"name":"now"}}])");
}

TEST(StructuredOutputApi, ToolChoiceNamedAndRequired) {
  EXPECT_EQ(constraint_from_tools(kTools, "auto").shape, ToolCallShape::None);
  EXPECT_EQ(constraint_from_tools(kTools, json()).shape, ToolCallShape::None);
  EXPECT_EQ(constraint_from_tools(kTools, "none").shape, ToolCallShape::None);

  ToolChoiceConstraint named =
      constraint_from_tools(kTools, json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
  EXPECT_EQ(named.shape, ToolCallShape::Arguments);
  EXPECT_EQ(named.function_name, "get_weather");
  EXPECT_EQ(schema_of(named.constraint), kTools[0]["function"]["parameters"]);
  EXPECT_EQ(named.constraint.field, "tools[0].function.parameters");
  auto calls = tool_calls_from_output(named, R"({"city": "Paris"})");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(calls[0].arguments), (json{{"city", "Paris"}}));
  // a function without parameters takes an empty object
  ToolChoiceConstraint now = constraint_from_tools(kTools, json::parse(R"({"type":"function","function":{"name":"now"}})"));
  EXPECT_EQ(schema_of(now.constraint), (json{{"type", "object"}, {"properties", json::object()}}));

  ToolChoiceConstraint req = constraint_from_tools(kTools, "required");
  EXPECT_EQ(req.shape, ToolCallShape::CallList);
  json s = schema_of(req.constraint);
  EXPECT_EQ(s["type"], "array");
  EXPECT_EQ(s["minItems"], 1);
  ASSERT_EQ(s["items"]["anyOf"].size(), 2u);
  EXPECT_EQ(s["items"]["anyOf"][0]["properties"]["name"]["enum"], (json{"get_weather"}));
  EXPECT_EQ(s["items"]["anyOf"][0]["properties"]["parameters"], kTools[0]["function"]["parameters"]);
  calls = tool_calls_from_output(req, R"([{"name":"now","parameters":{}},{"name":"get_weather","parameters":{"city":"Oslo"}}])");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].name, "get_weather");
  EXPECT_EQ(json::parse(calls[1].arguments), (json{{"city", "Oslo"}}));
  EXPECT_NE(error_of([&] { tool_calls_from_output(req, R"([{"name":"now","param)"); }).find("not complete JSON"),
            std::string::npos);

  EXPECT_EQ(error_of([] { constraint_from_tools(kTools, json::parse(R"({"type":"function","function":{"name":"nope"}})")); }),
            "tool_choice.function.name 'nope' is not one of the tools");
  EXPECT_NE(error_of([] { constraint_from_tools(json(), "required"); }).find("tools must list the functions"), std::string::npos);
  EXPECT_NE(error_of([] { constraint_from_tools(kTools, "sometimes"); }).find("tool_choice 'sometimes'"), std::string::npos);
  EXPECT_EQ(error_of([] { constraint_from_tools(json::parse(R"([{"type":"function","function":{}}])"), "required"); }),
            "tools[0].function.name is required");
  EXPECT_EQ(error_of([] { constraint_from_tools(json::parse(R"([{"type":"function","function":{"name":"f","parameters":[]}}])"), "required"); }),
            "tools[0].function.parameters must be a JSON schema object, got array");
}

TEST(StructuredOutputApi, WholeRequest) {
  json body = json::parse(R"({"model":"m","messages":[],"response_format":{"type":"json_object"}})");
  RequestConstraint r = constraint_from_request(body);
  EXPECT_EQ(r.constraint.kind, Constraint::Kind::JsonObject);
  EXPECT_EQ(r.tools.shape, ToolCallShape::None);
  body["response_format"] = {{"type", "text"}};
  EXPECT_FALSE(constraint_from_request(body).constraint.active());
  body["tools"] = kTools;
  body["tool_choice"] = "required";
  r = constraint_from_request(body);
  EXPECT_EQ(r.tools.shape, ToolCallShape::CallList);
  EXPECT_EQ(r.constraint.kind, Constraint::Kind::JsonSchema);
  body["response_format"] = {{"type", "json_object"}};
  EXPECT_EQ(error_of([&] { constraint_from_request(body); }),
            "response_format and tool_choice both constrain the output: give one");
  json so = json::parse(R"({"structured_outputs":{"regex":"a"},"guided_regex":"b"})");
  EXPECT_EQ(error_of([&] { constraint_from_request(so); }),
            "structured_outputs and guided_regex both constrain the output: give one");
  EXPECT_FALSE(constraint_from_request(json::parse(R"({"tools":[],"tool_choice":"auto"})")).constraint.active());
}
