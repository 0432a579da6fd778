// Jinja evaluator: renders a parsed template against a context of Python-like values, with
// Jinja2's semantics for scoping (for loops and macros get their own scope, `namespace()`
// carries state out of loops), Undefined, loop controls and the sandbox that transformers
// uses (ImmutableSandboxedEnvironment: no mutation of lists/dicts through methods).
#pragma once
#include <string>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace tritium::jinja {

class Template {
 public:
  // Parses `source`; throws tritium::Error with line and column on a syntax error.
  explicit Template(const std::string& source);
  // `context` is a dict of variables. Errors become tritium::Error naming line and column.
  std::string render(const Value& context) const;

 private:
  Body body_;
};

// ---- builtins (jinja_builtins.cpp, jinja_methods.cpp) ----

// Jinja's getattr (obj.name): attribute first (methods of str/dict/list), then item.
Value get_attr(const Value& obj, const std::string& name);
// Jinja's getitem (obj[key]): item first, then attribute for string keys.
Value get_item(const Value& obj, const Value& key);
// Raises the error Jinja2 raises when an Undefined is used (printing one is fine).
[[noreturn]] void undefined_error(const Value& u);
Value apply_filter(const std::string& name, const Value& v, CallArgs& args);
bool apply_test(const std::string& name, const Value& v, CallArgs& args);
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
// Bound method `name` of a str/dict/list value, or Undefined when there is none.
Value get_method(const Value& obj, const std::string& name);
// Globals every template sees: range, dict, namespace, raise_exception, strftime_now.
void add_default_globals(Dict& globals);
// Python iteration: list items, dict keys, string characters; Undefined is empty.
ValueList iterate(const Value& v);
// Python's str.strip family; chars == nullptr strips whitespace.
std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right);
// Python's `a % b` for strings (printf-style formatting).
std::string py_format(const std::string& fmt, const Value& args);

}  // namespace tritium::jinja
