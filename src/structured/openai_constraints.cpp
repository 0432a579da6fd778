// OpenAI / vLLM request fields -> Constraint (include/tritium/structured_output.h).
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tritium/structured_output.h"

namespace tritium {

namespace {

// ordered_json throughout: schemas keep their key order, and properties come out in it.
using json = nlohmann::ordered_json;
using ojson = nlohmann::ordered_json;

[[noreturn]] void bad(const std::string& field, const std::string& why) { throw Error(field + " " + why); }

bool present(const json& j, const char* key) { return j.is_object() && j.contains(key) && !j[key].is_null(); }

const json& object_at(const json& j, const std::string& field) {
  if (!j.is_object()) bad(field, str_cat("must be a JSON object, got ", j.type_name()));
  return j;
}

std::string string_at(const json& j, const std::string& field) {
  if (!j.is_string()) bad(field, str_cat("must be a string, got ", j.type_name()));
  return j.get<std::string>();
}

// A schema given as a JSON value (object or boolean) or as JSON text, kept in its key order.
ojson schema_at(const json& j, const std::string& field) {
  ojson s;
  if (j.is_string()) {
    try {
      s = ojson::parse(j.get<std::string>());
    } catch (const ojson::exception& e) {
      bad(field, str_cat("is not valid JSON: ", e.what()));
    }
  } else {
    s = j;
  }
  if (!s.is_object() && !s.is_boolean()) bad(field, str_cat("must be a JSON schema object, got ", s.type_name()));
  return s;
}

Constraint schema_constraint(const ojson& schema, const std::string& field) {
  Constraint c = Constraint::json_schema(schema.dump());
  c.field = field;
  return c;
}

// Sets llguidance's JSON options (the "x-guidance" key) unless the schema sets them itself.
void set_json_option(ojson& schema, const char* key, ojson value) {
  if (!schema.is_object()) return;
  ojson& xg = schema["x-guidance"];
  if (!xg.is_object()) xg = ojson::object();
  if (!xg.contains(key)) xg[key] = std::move(value);
}

// additionalProperties: false on every object schema that does not say (vLLM's
// disable_additional_properties), through the keywords that hold subschemas.
void close_objects(ojson& s) {
  if (!s.is_object()) return;
  const bool is_object = (s.contains("type") && s["type"] == "object") || s.contains("properties");
  if (is_object && !s.contains("additionalProperties")) s["additionalProperties"] = false;
  for (const char* k : {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
    if (s.contains(k) && s[k].is_object())
      for (auto& [name, sub] : s[k].items()) close_objects(sub);
  for (const char* k : {"items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
                        "unevaluatedProperties", "unevaluatedItems"})
    if (s.contains(k)) close_objects(s[k]);
  for (const char* k : {"anyOf", "allOf", "oneOf", "prefixItems"})
    if (s.contains(k) && s[k].is_array())
      for (auto& sub : s[k]) close_objects(sub);
}

}  // namespace

Constraint constraint_from_response_format(const json& rf) {
  if (rf.is_null()) return {};
  object_at(rf, "response_format");
  if (!present(rf, "type")) bad("response_format.type", "is required (text, json_object or json_schema)");
  const std::string type = string_at(rf["type"], "response_format.type");
  if (type == "text") return {};
  if (type == "json_object") {
    Constraint c = Constraint::json_object();
    c.field = "response_format";
    return c;
  }
  if (type == "json_schema") {
    if (!present(rf, "json_schema")) bad("response_format.json_schema", "is required when type is json_schema");
    const json& js = object_at(rf["json_schema"], "response_format.json_schema");
    if (present(js, "name")) string_at(js["name"], "response_format.json_schema.name");
    if (present(js, "strict") && !js["strict"].is_boolean())
      bad("response_format.json_schema.strict", "must be a boolean");
    if (!present(js, "schema")) bad("response_format.json_schema.schema", "is required");
    return schema_constraint(schema_at(js["schema"], "response_format.json_schema.schema"),
                             "response_format.json_schema.schema");
  }
  bad("response_format.type", str_cat("'", type, "' is not supported (text, json_object or json_schema)"));
}

Constraint constraint_from_structured_outputs(const json& so) {
  if (so.is_null()) return {};
  object_at(so, "structured_outputs");
  const std::string f = "structured_outputs.";
  int kinds = 0;
  for (const char* k : {"json", "regex", "choice", "grammar", "structural_tag"}) kinds += present(so, k);
  if (present(so, "json_object")) {
    if (!so["json_object"].is_boolean()) bad(f + "json_object", "must be a boolean");
    kinds += so["json_object"].get<bool>();
  }
  if (kinds > 1) bad("structured_outputs", "sets more than one of json, regex, choice, grammar, json_object");
  if (kinds == 0) bad("structured_outputs", "sets none of json, regex, choice, grammar, json_object");
  if (present(so, "structural_tag")) bad(f + "structural_tag", "is not supported");
  // Options (vLLM's names); "backend", "disable_fallback" and the like choose among vLLM's own
  // engines and mean nothing here.
  bool compact = false, closed = false;
  std::string ws;
  if (present(so, "disable_any_whitespace")) {
    if (!so["disable_any_whitespace"].is_boolean()) bad(f + "disable_any_whitespace", "must be a boolean");
    compact = so["disable_any_whitespace"].get<bool>();
  }
  if (present(so, "disable_additional_properties")) {
    if (!so["disable_additional_properties"].is_boolean()) bad(f + "disable_additional_properties", "must be a boolean");
    closed = so["disable_additional_properties"].get<bool>();
  }
  if (present(so, "whitespace_pattern")) ws = string_at(so["whitespace_pattern"], f + "whitespace_pattern");

  if (present(so, "regex")) {
    Constraint c = Constraint::regex(string_at(so["regex"], f + "regex"));
    c.field = f + "regex";
    return c;
  }
  if (present(so, "grammar")) {
    Constraint c = Constraint::grammar(string_at(so["grammar"], f + "grammar"));
    c.field = f + "grammar";
    return c;
  }
  if (present(so, "choice")) {
    const json& ch = so["choice"];
    if (!ch.is_array() || ch.empty()) bad(f + "choice", "must be a non-empty list of strings");
    std::vector<std::string> v;
    for (size_t i = 0; i < ch.size(); ++i) v.push_back(string_at(ch[i], str_cat(f, "choice[", i, "]")));
    Constraint c = Constraint::choice(std::move(v));
    c.field = f + "choice";
    return c;
  }
  ojson schema = present(so, "json") ? schema_at(so["json"], f + "json") : ojson{{"type", "object"}};
  if (closed) close_objects(schema);
  if (compact) set_json_option(schema, "whitespace_flexible", false);
  if (!ws.empty()) set_json_option(schema, "whitespace_pattern", ws);
  return schema_constraint(schema, present(so, "json") ? f + "json" : f + "json_object");
}

Constraint constraint_from_guided_fields(const json& body) {
  if (!body.is_object()) return {};
  int kinds = 0;
  for (const char* k : {"guided_json", "guided_regex", "guided_choice", "guided_grammar"}) kinds += present(body, k);
  if (kinds > 1) bad("guided_json, guided_regex, guided_choice, guided_grammar:", "give one at most");
  if (kinds == 0) return {};
  if (present(body, "guided_regex")) {
    Constraint c = Constraint::regex(string_at(body["guided_regex"], "guided_regex"));
    c.field = "guided_regex";
    return c;
  }
  if (present(body, "guided_grammar")) {
    Constraint c = Constraint::grammar(string_at(body["guided_grammar"], "guided_grammar"));
    c.field = "guided_grammar";
    return c;
  }
  if (present(body, "guided_choice")) {
    const json& ch = body["guided_choice"];
    if (!ch.is_array() || ch.empty()) bad("guided_choice", "must be a non-empty list of strings");
    std::vector<std::string> v;
    for (size_t i = 0; i < ch.size(); ++i) v.push_back(string_at(ch[i], str_cat("guided_choice[", i, "]")));
    Constraint c = Constraint::choice(std::move(v));
    c.field = "guided_choice";
    return c;
  }
  ojson schema = schema_at(body["guided_json"], "guided_json");
  if (present(body, "guided_whitespace_pattern"))
    set_json_option(schema, "whitespace_pattern", string_at(body["guided_whitespace_pattern"], "guided_whitespace_pattern"));
  return schema_constraint(schema, "guided_json");
}

ToolChoiceConstraint constraint_from_tools(const json& tools, const json& tool_choice) {
  ToolChoiceConstraint r;
  std::string mode = "auto", named;
  if (tool_choice.is_string()) {
    mode = tool_choice.get<std::string>();
    if (mode != "none" && mode != "auto" && mode != "required")
      bad("tool_choice", str_cat("'", mode, "' is not one of none, auto, required or {\"type\":\"function\",...}"));
  } else if (tool_choice.is_object()) {
    if (present(tool_choice, "type") && string_at(tool_choice["type"], "tool_choice.type") != "function")
      bad("tool_choice.type", "must be \"function\"");
    if (!present(tool_choice, "function")) bad("tool_choice.function", "is required");
    const json& fn = object_at(tool_choice["function"], "tool_choice.function");
    if (!present(fn, "name")) bad("tool_choice.function.name", "is required");
    named = string_at(fn["name"], "tool_choice.function.name");
    mode = "named";
  } else if (!tool_choice.is_null()) {
    bad("tool_choice", str_cat("must be a string or an object, got ", tool_choice.type_name()));
  }
  if (mode == "none" || mode == "auto") return r;

  if (tools.is_null() || (tools.is_array() && tools.empty()))
    bad("tools", str_cat("must list the functions tool_choice ", mode == "named" ? "names" : "\"required\"", " chooses from"));
  if (!tools.is_array()) bad("tools", str_cat("must be a list, got ", tools.type_name()));
  struct Fn {
    std::string name;
    ojson params;
  };
  std::vector<Fn> fns;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string at = str_cat("tools[", i, "]");
    const json& t = object_at(tools[i], at);
    if (present(t, "type") && string_at(t["type"], at + ".type") != "function")
      bad(at + ".type", "must be \"function\"");
    if (!present(t, "function")) bad(at + ".function", "is required");
    const json& fn = object_at(t["function"], at + ".function");
    if (!present(fn, "name")) bad(at + ".function.name", "is required");
    Fn f{string_at(fn["name"], at + ".function.name"), ojson{{"type", "object"}, {"properties", ojson::object()}}};
    if (present(fn, "parameters")) f.params = schema_at(fn["parameters"], at + ".function.parameters");
    fns.push_back(std::move(f));
  }
  if (mode == "named") {
    for (size_t i = 0; i < fns.size(); ++i)
      if (fns[i].name == named) {
        r.constraint = schema_constraint(fns[i].params, str_cat("tools[", i, "].function.parameters"));
        r.shape = ToolCallShape::Arguments;
        r.function_name = named;
        return r;
      }
    bad("tool_choice.function.name", str_cat("'", named, "' is not one of the tools"));
  }
  // "required": one or more calls, each to one of the tools with its parameters.
  ojson any = ojson::array();
  for (auto& f : fns)
    any.push_back(ojson{{"type", "object"},
                        {"properties", {{"name", {{"type", "string"}, {"enum", {f.name}}}}, {"parameters", f.params}}},
                        {"required", {"name", "parameters"}},
                        {"additionalProperties", false}});
  ojson schema = {{"type", "array"}, {"minItems", 1}, {"items", {{"anyOf", any}}}};
  r.constraint = schema_constraint(schema, "tools (tool_choice \"required\")");
  r.shape = ToolCallShape::CallList;
  return r;
}

std::vector<ToolCallOutput> tool_calls_from_output(const ToolChoiceConstraint& tc, const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("the tool call output is not complete JSON (cut short?): ", e.what()));
  }
  std::vector<ToolCallOutput> calls;
  if (tc.shape == ToolCallShape::Arguments) {
    calls.push_back({tc.function_name, j.dump()});
  } else if (tc.shape == ToolCallShape::CallList) {
    if (!j.is_array()) throw Error("the tool call output is not a list of calls");
    for (auto& c : j) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("parameters"))
        throw Error("the tool call output has a call without name and parameters");
      calls.push_back({c["name"].get<std::string>(), c["parameters"].dump()});
    }
  }
  return calls;
}

RequestConstraint constraint_from_request(const json& body) {
  RequestConstraint r;
  if (!body.is_object()) return r;
  std::vector<std::pair<std::string, Constraint>> found;
  if (present(body, "response_format")) {
    Constraint c = constraint_from_response_format(body["response_format"]);
    if (c.active()) found.push_back({"response_format", c});
  }
  if (present(body, "structured_outputs")) found.push_back({"structured_outputs", constraint_from_structured_outputs(body["structured_outputs"])});
  if (Constraint c = constraint_from_guided_fields(body); c.active()) found.push_back({c.field, c});
  ToolChoiceConstraint tc = constraint_from_tools(present(body, "tools") ? body["tools"] : json(),
                                                  present(body, "tool_choice") ? body["tool_choice"] : json());
  if (tc.shape != ToolCallShape::None) found.push_back({"tool_choice", tc.constraint});
  if (found.size() > 1)
    throw Error(str_cat(found[0].first, " and ", found[1].first, " both constrain the output: give one"));
  if (found.empty()) return r;
  r.constraint = found[0].second;
  if (tc.shape != ToolCallShape::None) r.tools = tc;
  return r;
}

// The same from nlohmann::json values (their objects are sorted by key: a schema's properties
// then come out in that order, not the request's).
namespace {
json ordered(const nlohmann::json& j) { return json::parse(j.dump()); }
}  // namespace
Constraint constraint_from_response_format(const nlohmann::json& rf) { return constraint_from_response_format(ordered(rf)); }
Constraint constraint_from_structured_outputs(const nlohmann::json& so) {
  return constraint_from_structured_outputs(ordered(so));
}
Constraint constraint_from_guided_fields(const nlohmann::json& body) { return constraint_from_guided_fields(ordered(body)); }
ToolChoiceConstraint constraint_from_tools(const nlohmann::json& tools, const nlohmann::json& tool_choice) {
  return constraint_from_tools(ordered(tools), ordered(tool_choice));
}
RequestConstraint constraint_from_request(const nlohmann::json& body) { return constraint_from_request(ordered(body)); }

}  // namespace tritium
