// Value model of the Jinja interpreter: Python-like values (None, bool, int, float, str,
// list/tuple, dict, callables, Jinja's Undefined) with Python semantics for truthiness,
// equality, ordering, str() and repr(), and conversion from/to JSON.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tritium::jinja {

class Value;
using ValueList = std::vector<Value>;

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Returns the keyword argument `name` or the positional argument at `index`, or nullptr.
  const Value* get(size_t index, const std::string& name) const;
};

using NativeFn = std::function<Value(CallArgs&)>;

struct Function {
  std::string name;
  NativeFn fn;
};

struct Dict;

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() = default;  // Undefined
  static Value undefined(std::string name = "", std::string hint = "");
  static Value none();
  Value(bool b);
  Value(int v);
  Value(int64_t v);
  Value(double v);
  Value(std::string s);
  Value(const char* s);
  static Value list(ValueList items = {});
  static Value tuple(ValueList items);
  static Value dict();
  static Value namespace_obj();
  static Value function(std::string name, NativeFn fn);
  static Value from_json(const nlohmann::ordered_json& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const;
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_double() const;
  const std::string& as_string() const { return s_; }
  ValueList& items() const { return *list_; }
  Dict& dict_ref() const { return *dict_; }
  const Function& fn() const { return *fn_; }
  // For Undefined: the name it stands for and a hint ("'dict object' has no attribute 'x'").
  const std::string& undefined_name() const { return s_; }
  const std::string& undefined_hint() const { return hint_; }

  bool truthy() const;
  // Python str() and repr().
  std::string str() const;
  std::string repr() const;
  // Python type name as Jinja uses it in messages ("dict object", "str object").
  std::string type_name() const;
  // Python's len(); throws for values without a length.
  size_t length() const;
  nlohmann::ordered_json to_json() const;
  // Same object (Python `is`) for lists/dicts, equal value otherwise.
  bool same_as(const Value& o) const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  bool tuple_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::string hint_;
  std::shared_ptr<ValueList> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

// Insertion-ordered dict (as Python's). Keys are usually strings.
struct Dict {
  std::vector<std::pair<Value, Value>> entries;
  bool is_namespace = false;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find(const std::string& key) const;
  void set(const Value& key, Value v);
  bool erase(const Value& key);
};

bool py_equal(const Value& a, const Value& b);
// Python ordering (<); throws tritium::Error on incomparable types.
bool py_less(const Value& a, const Value& b);
// Python repr of a float ("1.0", "1e-05", "1e+16", "inf").
std::string float_repr(double d);
// Python json.dumps(v, ensure_ascii, indent, separators, sort_keys). indent < 0: none.
std::string json_dumps(const Value& v, bool ensure_ascii, int indent, const std::string& item_sep,
                       const std::string& key_sep, bool sort_keys);
// Python repr of a string, quoting as Python does.
std::string string_repr(const std::string& s);

// UTF-8 helpers (strings are indexed by code point, as in Python).
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
void utf8_append(std::string& out, char32_t c);

}  // namespace tritium::jinja
