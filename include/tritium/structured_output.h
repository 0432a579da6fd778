// Structured output from the request bodies of the OpenAI API (and vLLM's extensions) to a
// tritium::Constraint, for the HTTP server. Each function throws tritium::Error naming the
// field at fault (a 400): "response_format.json_schema.schema must be a JSON object". Whether the
// schema or grammar compiles is checked by Engine::submit (also an Error, naming the field
// recorded in Constraint::field).
//
// Parse the request body as nlohmann::ordered_json to keep a schema's key order (its properties
// are generated in that order, as OpenAI does); the nlohmann::json overloads take sorted objects.
//
//   ToolChoiceConstraint tc = constraint_from_tools(body["tools"], body["tool_choice"]);
//   RequestConstraint rc = constraint_from_request(body);     // all of it, conflicts refused
//   params.constraint = rc.constraint;
//   ... generate ...
//   if (rc.tools.shape != ToolCallShape::None) calls = tool_calls_from_output(rc.tools, text);
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "tritium/sampling_params.h"

namespace tritium {

// OpenAI `response_format`: {"type":"text"} (none), {"type":"json_object"},
// {"type":"json_schema","json_schema":{"name":..,"schema":{..},"strict":..}}.
Constraint constraint_from_response_format(const nlohmann::ordered_json& response_format);
Constraint constraint_from_response_format(const nlohmann::json& response_format);

// vLLM's `structured_outputs` object: exactly one of "json" (a schema, object or JSON text),
// "regex", "choice" (list of strings), "grammar" (Lark), "json_object": true; options
// "disable_any_whitespace" (compact JSON), "whitespace_pattern" (regex of the whitespace allowed
// between JSON tokens), "disable_additional_properties" (objects take only their listed
// properties). Others ("structural_tag", backend choices) are refused or ignored as noted in
// the implementation.
Constraint constraint_from_structured_outputs(const nlohmann::ordered_json& structured_outputs);
Constraint constraint_from_structured_outputs(const nlohmann::json& structured_outputs);

// vLLM's older top-level request fields: guided_json, guided_regex, guided_choice, guided_grammar
// (one at most), guided_whitespace_pattern. None set: Kind::None.
Constraint constraint_from_guided_fields(const nlohmann::ordered_json& body);
Constraint constraint_from_guided_fields(const nlohmann::json& body);

// How a constrained output is turned back into tool calls.
enum class ToolCallShape {
  None,       // not constrained by tools
  Arguments,  // tool_choice names a function: the output is its arguments object
  CallList,   // tool_choice "required": the output is [{"name": .., "parameters": {..}}, ...] (>= 1)
};

struct ToolChoiceConstraint {
  Constraint constraint;
  ToolCallShape shape = ToolCallShape::None;
  std::string function_name;  // Arguments: the named function
};

// tools: the request's "tools" list (null: none); tool_choice: "none", "auto", "required" or
// {"type":"function","function":{"name":..}} (null: "auto"). Named and "required" constrain the
// output to the function(s)' parameters schema, as vLLM does; "auto" and "none" constrain
// nothing (a strict tool under "auto" is not enforced: the model may answer in text).
ToolChoiceConstraint constraint_from_tools(const nlohmann::ordered_json& tools, const nlohmann::ordered_json& tool_choice);
ToolChoiceConstraint constraint_from_tools(const nlohmann::json& tools, const nlohmann::json& tool_choice);

struct ToolCallOutput {
  std::string name;
  std::string arguments;  // JSON text
};
// The calls in an output constrained by constraint_from_tools (Error if it does not parse, e.g.
// cut short by max_tokens).
std::vector<ToolCallOutput> tool_calls_from_output(const ToolChoiceConstraint& tc, const std::string& text);

struct RequestConstraint {
  Constraint constraint;
  ToolChoiceConstraint tools;  // shape != None when tool_choice made the constraint
};
// A chat or completions request body: response_format, structured_outputs, guided_* and
// tools + tool_choice. More than one of them constraining the output is an Error.
RequestConstraint constraint_from_request(const nlohmann::ordered_json& body);
RequestConstraint constraint_from_request(const nlohmann::json& body);

}  // namespace tritium
