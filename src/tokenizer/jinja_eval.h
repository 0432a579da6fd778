// Jinja evaluator: renders a parsed template against a context of Python-like values, with
// Jinja2's semantics for scoping (for loops and macros get their own scope, `namespace()`
// carries state out of loops), Undefined, loop controls and the sandbox that transformers
// uses (ImmutableSandboxedEnvironment: no mutation of lists/dicts through methods).
#pragma once
#include <string>

#include "tokenizer/jinja_ast.h"
#include "tokenizer/jinja_value.h"

namespace tritium::jinja {

// What one render may spend. A template is code from a stranger (a model download, a request):
// these bounds make a runaway one (a huge loop, `'x' * 10**12`, deep recursion) fail fast with an
// Error naming the limit instead of taking the process's time or memory.
struct RenderLimits {
  uint64_t max_steps = 20'000'000;      // expressions evaluated + statements run + items built
  size_t max_output_bytes = 32u << 20;  // the output, and any one string or list built on the way
  int max_call_depth = 200;             // nested macro / caller() calls
};

class Template {
 public:
  // Parses `source`; throws tritium::Error with line and column on a syntax error.
  explicit Template(const std::string& source);
  // `context` is a dict of variables. Errors become tritium::Error naming line and column.
  std::string render(const Value& context, const RenderLimits& limits = {}) const;

 private:
  Body body_;
};

// ---- the budget of the render running on this thread (no-ops outside a render) ----

// Spends n steps; throws Error when max_steps is exceeded.
void charge_steps(uint64_t n);
// Throws Error when a string or list of `size` bytes / items would exceed max_output_bytes.
// Builtins that build values whose size depends on an argument (width, count) call it first.
void check_size(uint64_t size, const char* what);

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
