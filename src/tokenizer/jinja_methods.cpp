// Python methods of str, dict and list values as Jinja2 templates can call them
// (`s.strip()`, `d.items()`, `l.index(x)`), plus attribute/item access and iteration.
// Mutating methods of lists/dicts are refused, as in Jinja2's ImmutableSandboxedEnvironment.
#include <utf8proc.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"

namespace tritium::jinja {
namespace {

bool py_isspace(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

std::string arg_str(CallArgs& a, size_t i, const char* name, const char* method) {
  const Value* v = a.get(i, name);
  if (!v) throw Error(str_cat(method, "() missing required argument '", name, "'"));
  if (!v->is_string()) throw Error(str_cat(method, "() argument must be str, not ", v->type_name()));
  return v->as_string();
}

// Python's full case mappings where one character becomes several (SpecialCasing.txt).
const char* special_upper(char32_t c) {
  switch (c) {
    case 0xDF: return "SS";
    case 0x149: return "\u02BCN";
    case 0xFB00: return "FF";
    case 0xFB01: return "FI";
    case 0xFB02: return "FL";
    case 0xFB03: return "FFI";
    case 0xFB04: return "FFL";
    case 0xFB05: return "ST";
    case 0xFB06: return "ST";
    case 0x587: return "\u0535\u0552";
    default: return nullptr;
  }
}

std::string map_case(const std::string& s, int mode) {  // 0 lower, 1 upper
  std::string out;
  for (char32_t c : utf8_decode(s)) {
    if (mode == 1) {
      if (const char* sp = special_upper(c)) {
        out += sp;
        continue;
      }
    } else if (c == 0x130) {  // İ lowers to i + combining dot above
      out += "i\u0307";
      continue;
    }
    utf8_append(out, static_cast<char32_t>(mode ? utf8proc_toupper(c) : utf8proc_tolower(c)));
  }
  return out;
}

bool is_cased_letter(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

std::string py_title(const std::string& s) {
  std::string out;
  bool prev_cased = false;
  for (char32_t c : utf8_decode(s)) {
    char32_t r = prev_cased ? utf8proc_tolower(c) : utf8proc_toupper(c);
    utf8_append(out, r);
    prev_cased = is_cased_letter(c);
  }
  return out;
}

std::string py_capitalize(const std::string& s) {
  std::u32string u = utf8_decode(s);
  std::string out;
  for (size_t i = 0; i < u.size(); ++i) utf8_append(out, i == 0 ? utf8proc_toupper(u[i]) : utf8proc_tolower(u[i]));
  return out;
}

ValueList py_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  ValueList out;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (true) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t end = u.size();
        while (end > i && py_isspace(u[end - 1])) --end;
        out.push_back(Value(utf8_encode(u.substr(i, end - i))));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      out.push_back(Value(utf8_encode(u.substr(i, j - i))));
      i = j;
    }
    return out;
  }
  if (!sep->is_string()) throw Error("split() separator must be str or None");
  const std::string& d = sep->as_string();
  if (d.empty()) throw Error("empty separator");
  size_t pos = 0;
  while (true) {
    size_t q = s.find(d, pos);
    if (q == std::string::npos || (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit)) {
      out.push_back(Value(s.substr(pos)));
      break;
    }
    out.push_back(Value(s.substr(pos, q - pos)));
    pos = q + d.size();
  }
  return out;
}

ValueList py_rsplit(const std::string& s, const Value* sep, int64_t maxsplit) {
  if (maxsplit < 0) return py_split(s, sep, maxsplit);
  if (!sep || sep->is_none()) {
    // Whitespace rsplit with a limit: split all, then rejoin the leftmost part.
    ValueList all = py_split(s, sep, -1);
    if (static_cast<int64_t>(all.size()) <= maxsplit + 1) return all;
    std::u32string u = utf8_decode(s);
    ValueList out;
    size_t end = u.size();
    for (int64_t k = 0; k < maxsplit; ++k) {
      while (end > 0 && py_isspace(u[end - 1])) --end;
      size_t j = end;
      while (j > 0 && !py_isspace(u[j - 1])) --j;
      out.insert(out.begin(), Value(utf8_encode(u.substr(j, end - j))));
      end = j;
    }
    while (end > 0 && py_isspace(u[end - 1])) --end;
    size_t b = 0;
    while (b < end && py_isspace(u[b])) ++b;
    out.insert(out.begin(), Value(utf8_encode(u.substr(b, end - b))));
    return out;
  }
  const std::string& d = sep->as_string();
  if (d.empty()) throw Error("empty separator");
  ValueList out;
  size_t end = s.size();
  for (int64_t k = 0; k < maxsplit; ++k) {
    if (end < d.size()) break;
    size_t q = s.rfind(d, end - d.size());
    if (q == std::string::npos) break;
    out.insert(out.begin(), Value(s.substr(q + d.size(), end - q - d.size())));
    end = q;
  }
  out.insert(out.begin(), Value(s.substr(0, end)));
  return out;
}

bool affix_match(const std::string& s, const Value& arg, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw Error("startswith/endswith argument must be str or a tuple of str");
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (arg.is_list()) {
    for (auto& a : arg.items())
      if (one(a)) return true;
    return false;
  }
  return one(arg);
}

int64_t int_arg(CallArgs& a, size_t i, const char* name, int64_t dflt) {
  const Value* v = a.get(i, name);
  if (!v || v->is_none()) return dflt;
  if (!v->is_int() && !v->is_bool()) throw Error(str_cat("argument '", name, "' must be an integer"));
  return v->as_int();
}

Value string_method(const std::string& s, const std::string& name) {
  auto bind = [&](NativeFn fn) { return Value::function(name, std::move(fn)); };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    bool l = name != "rstrip", r = name != "lstrip";
    return bind([s, l, r](CallArgs& a) {
      const Value* c = a.get(0, "chars");
      std::string chars;
      if (c && c->is_string()) chars = c->as_string();
      return Value(py_strip(s, (c && c->is_string()) ? &chars : nullptr, l, r));
    });
  }
  if (name == "split" || name == "rsplit") {
    bool right = name == "rsplit";
    return bind([s, right](CallArgs& a) {
      const Value* sep = a.get(0, "sep");
      int64_t maxsplit = int_arg(a, 1, "maxsplit", -1);
      return Value::list(right ? py_rsplit(s, sep, maxsplit) : py_split(s, sep, maxsplit));
    });
  }
  if (name == "splitlines")
    return bind([s](CallArgs&) {
      ValueList out;
      size_t start = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' || s[i] == '\r') {
          out.push_back(Value(s.substr(start, i - start)));
          if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
          start = i + 1;
        }
      }
      if (start < s.size()) out.push_back(Value(s.substr(start)));
      return Value::list(std::move(out));
    });
  if (name == "startswith" || name == "endswith") {
    bool prefix = name == "startswith";
    return bind([s, prefix, name](CallArgs& a) {
      const Value* p = a.get(0, "prefix");
      if (!p) throw Error(str_cat(name, "() takes at least 1 argument"));
      return Value(affix_match(s, *p, prefix));
    });
  }
  if (name == "upper" || name == "lower")
    return bind([s, name](CallArgs&) { return Value(map_case(s, name == "upper")); });
  if (name == "title") return bind([s](CallArgs&) { return Value(py_title(s)); });
  if (name == "capitalize") return bind([s](CallArgs&) { return Value(py_capitalize(s)); });
  if (name == "replace")
    return bind([s](CallArgs& a) {
      std::string from = arg_str(a, 0, "old", "replace"), to = arg_str(a, 1, "new", "replace");
      int64_t count = int_arg(a, 2, "count", -1);
      if (from.empty()) {
        check_size(uint64_t(s.size()) + (uint64_t(s.size()) + 1) * to.size(), "string");
        std::string out;
        int64_t n = 0;
        for (char32_t c : utf8_decode(s)) {
          if (count < 0 || n < count) out += to, ++n;
          utf8_append(out, c);
        }
        if (count < 0 || n < count) out += to;
        return Value(out);
      }
      std::string out;
      size_t pos = 0;
      int64_t n = 0;
      while (count < 0 || n < count) {
        size_t q = s.find(from, pos);
        if (q == std::string::npos) break;
        out += s.substr(pos, q - pos) + to;
        check_size(out.size(), "string");
        pos = q + from.size();
        ++n;
      }
      return Value(out + s.substr(pos));
    });
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count")
    return bind([s, name](CallArgs& a) {
      std::string sub = arg_str(a, 0, "sub", name.c_str());
      if (name == "count") {
        if (sub.empty()) return Value(static_cast<int64_t>(utf8_decode(s).size() + 1));
        int64_t n = 0;
        for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
        return Value(n);
      }
      size_t p = (name == "find" || name == "index") ? s.find(sub) : s.rfind(sub);
      if (p == std::string::npos) {
        if (name == "index" || name == "rindex") throw Error("substring not found");
        return Value(int64_t{-1});
      }
      return Value(static_cast<int64_t>(utf8_decode(s.substr(0, p)).size()));
    });
  if (name == "join")
    return bind([s](CallArgs& a) {
      const Value* it = a.get(0, "iterable");
      if (!it) throw Error("join() takes exactly one argument");
      std::string out;
      bool first = true;
      for (auto& v : iterate(*it)) {
        if (!v.is_string()) throw Error(str_cat("sequence item: expected str instance, ", v.type_name(), " found"));
        if (!first) out += s;
        first = false;
        out += v.as_string();
        check_size(out.size(), "string");
      }
      return Value(out);
    });
  if (name == "removeprefix" || name == "removesuffix")
    return bind([s, name](CallArgs& a) {
      std::string x = arg_str(a, 0, "affix", name.c_str());
      if (name == "removeprefix") return Value(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
      if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
        return Value(s.substr(0, s.size() - x.size()));
      return Value(s);
    });
  if (name == "isdigit" || name == "isalpha" || name == "isspace" || name == "isalnum" || name == "isupper" ||
      name == "islower" || name == "isnumeric" || name == "isdecimal")
    return bind([s, name](CallArgs&) {
      std::u32string u = utf8_decode(s);
      if (u.empty()) return Value(false);
      bool cased = false;
      for (char32_t c : u) {
        auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
        bool digit = cat == UTF8PROC_CATEGORY_ND;
        bool alpha = cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
        if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
          if (!digit) return Value(false);
        } else if (name == "isalpha") {
          if (!alpha) return Value(false);
        } else if (name == "isalnum") {
          if (!alpha && !digit) return Value(false);
        } else if (name == "isspace") {
          if (!py_isspace(c)) return Value(false);
        } else if (name == "isupper") {
          if (cat == UTF8PROC_CATEGORY_LL) return Value(false);
          cased |= cat == UTF8PROC_CATEGORY_LU;
        } else if (name == "islower") {
          if (cat == UTF8PROC_CATEGORY_LU) return Value(false);
          cased |= cat == UTF8PROC_CATEGORY_LL;
        }
      }
      if (name == "isupper" || name == "islower") return Value(cased);
      return Value(true);
    });
  if (name == "format")
    return bind([s](CallArgs& a) {
      // str.format with positional `{}`/`{0}` and keyword `{name}` fields (no format specs).
      std::string out;
      size_t auto_idx = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') { out += '{'; ++i; continue; }
        if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') { out += '}'; ++i; continue; }
        if (s[i] != '{') { out += s[i]; continue; }
        size_t j = s.find('}', i);
        if (j == std::string::npos) throw Error("Single '{' encountered in format string");
        std::string field = s.substr(i + 1, j - i - 1);
        const Value* v = nullptr;
        if (field.empty()) v = auto_idx < a.pos.size() ? &a.pos[auto_idx++] : nullptr;
        else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
          size_t k = std::stoul(field);
          v = k < a.pos.size() ? &a.pos[k] : nullptr;
        } else {
          for (auto& [k, x] : a.kw)
            if (k == field) v = &x;
        }
        if (!v) throw Error(str_cat("format field '", field, "' has no value"));
        out += v->str();
        i = j;
      }
      return Value(out);
    });
  return Value::undefined("", str_cat("'str object' has no attribute '", name, "'"));
}

Value dict_method(const Value& d, const std::string& name) {
  auto bind = [&](NativeFn fn) { return Value::function(name, std::move(fn)); };
  if (name == "items")
    return bind([d](CallArgs&) {
      ValueList out;
      for (auto& [k, v] : d.dict_ref().entries) out.push_back(Value::tuple({k, v}));
      return Value::list(std::move(out));
    });
  if (name == "keys" || name == "values")
    return bind([d, name](CallArgs&) {
      ValueList out;
      for (auto& [k, v] : d.dict_ref().entries) out.push_back(name == "keys" ? k : v);
      return Value::list(std::move(out));
    });
  if (name == "get")
    return bind([d](CallArgs& a) {
      if (a.pos.empty()) throw Error("get expected at least 1 argument, got 0");
      const Value* v = d.dict_ref().find(a.pos[0]);
      if (v) return *v;
      return a.pos.size() > 1 ? a.pos[1] : Value::none();
    });
  if (name == "copy") return bind([d](CallArgs&) {
      Value c = Value::dict();
      c.dict_ref().entries = d.dict_ref().entries;
      return c;
    });
  if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear")
    return Value::undefined("", str_cat("access to attribute '", name, "' of 'dict' object is unsafe."));
  return Value();  // not a method: caller falls back to item lookup
}

Value list_method(const Value& l, const std::string& name) {
  auto bind = [&](NativeFn fn) { return Value::function(name, std::move(fn)); };
  if (name == "index")
    return bind([l](CallArgs& a) {
      if (a.pos.empty()) throw Error("index expected 1 argument");
      for (size_t i = 0; i < l.items().size(); ++i)
        if (py_equal(l.items()[i], a.pos[0])) return Value(static_cast<int64_t>(i));
      throw Error(str_cat(a.pos[0].repr(), " is not in list"));
    });
  if (name == "count")
    return bind([l](CallArgs& a) {
      if (a.pos.empty()) throw Error("count expected 1 argument");
      int64_t n = 0;
      for (auto& v : l.items()) n += py_equal(v, a.pos[0]);
      return Value(n);
    });
  if (name == "copy") return bind([l](CallArgs&) { return Value::list(l.items()); });
  if (name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
      name == "reverse" || name == "sort" || name == "clear")
    return Value::undefined("", str_cat("access to attribute '", name, "' of '", l.type_name(), "' object is unsafe."));
  return Value::undefined("", str_cat("'", l.type_name(), " object' has no attribute '", name, "'"));
}

}  // namespace

std::string py_strip(const std::string& s, const std::string* chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set = chars ? utf8_decode(*chars) : std::u32string();
  auto strip_it = [&](char32_t c) { return chars ? set.find(c) != std::u32string::npos : py_isspace(c); };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && strip_it(u[b])) ++b;
  if (right)
    while (e > b && strip_it(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

Value get_method(const Value& obj, const std::string& name) {
  if (obj.is_string()) return string_method(obj.as_string(), name);
  if (obj.is_dict() && !obj.is_namespace()) return dict_method(obj, name);
  if (obj.is_list()) return list_method(obj, name);
  return Value();
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) undefined_error(obj);
  if (!name.empty() && name[0] == '_')
    return Value::undefined("", str_cat("access to attribute '", name, "' of '", obj.type_name(), "' object is unsafe."));
  if (obj.is_dict()) {
    if (!obj.is_namespace()) {
      Value m = dict_method(obj, name);
      if (!m.is_undefined() || !m.undefined_hint().empty()) return m;
    }
    const Dict& d = obj.dict_ref();
    if (const Value* v = d.find(name)) return *v;
    return Value::undefined("", str_cat("'", obj.type_name(), " object' has no attribute '", name, "'"));
  }
  if (obj.is_string() || obj.is_list()) return get_method(obj, name);
  return Value::undefined("", str_cat("'", obj.type_name(), " object' has no attribute '", name, "'"));
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) undefined_error(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict_ref().find(key)) return *v;
  } else if (obj.is_list() || obj.is_string()) {
    if (key.is_int() || key.is_bool()) {
      int64_t i = key.as_int();
      if (obj.is_list()) {
        int64_t n = static_cast<int64_t>(obj.items().size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.items()[i];
      } else {
        std::u32string u = utf8_decode(obj.as_string());
        int64_t n = static_cast<int64_t>(u.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return Value(utf8_encode(u.substr(i, 1)));
      }
      return Value::undefined("", str_cat("'", obj.type_name(), " object' has no element ", key.repr()));
    }
  }
  if (key.is_string()) {
    Value v = get_attr(obj, key.as_string());
    if (!v.is_undefined() || !v.undefined_hint().empty()) {
      if (v.is_undefined() && obj.is_dict())
        return Value::undefined("", str_cat("'", obj.type_name(), " object' has no attribute ", key.repr()));
      return v;
    }
  }
  return Value::undefined("", str_cat("'", obj.type_name(), " object' has no attribute ", key.repr()));
}

ValueList iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.items();
    case Value::Kind::Dict: {
      ValueList out;
      for (auto& [k, x] : v.dict_ref().entries) out.push_back(k);
      return out;
    }
    case Value::Kind::String: {
      ValueList out;
      for (char32_t c : utf8_decode(v.as_string())) {
        std::string s;
        utf8_append(s, c);
        out.push_back(Value(s));
      }
      return out;
    }
    default: throw Error(str_cat("'", v.type_name(), "' object is not iterable"));
  }
}

// int(x) for a float; Python's big ints do not exist here, so out-of-range values are an error.
static int64_t double_to_int(double x) {
  if (!(x >= -9.2233720368547758e18 && x < 9.2233720368547758e18))
    throw Error(str_cat("cannot convert float ", x, " to integer"));
  return static_cast<int64_t>(x);
}

std::string py_format(const std::string& fmt, const Value& args) {
  ValueList items = args.is_tuple() ? args.items() : ValueList{args};
  size_t k = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw Error("incomplete format");
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string("-+ #0123456789.").find(fmt[i]) != std::string::npos) spec += fmt[i++];
    if (i >= fmt.size()) throw Error("incomplete format");
    // Widths and precisions up to 500 (the conversion buffer below holds 512 bytes).
    for (size_t p = 1, num = 0; p <= spec.size(); ++p) {
      if (p < spec.size() && std::isdigit(static_cast<unsigned char>(spec[p]))) {
        num = std::min<size_t>(num * 10 + size_t(spec[p] - '0'), 100000);
        if (num > 500) throw Error("format width or precision larger than 500 is not supported");
      } else {
        num = 0;
      }
    }
    char conv = fmt[i];
    if (k >= items.size()) throw Error("not enough arguments for format string");
    const Value& v = items[k++];
    char buf[512];
    if (conv == 's' || conv == 'r') {
      std::string s = conv == 's' ? v.str() : v.repr();
      std::snprintf(buf, sizeof buf, (spec + "s").c_str(), s.c_str());
      out += spec.size() > 1 ? std::string(buf) : s;
    } else if (conv == 'd' || conv == 'i') {
      if (!v.is_number()) throw Error(str_cat("%d format: a real number is required, not ", v.type_name()));
      std::snprintf(buf, sizeof buf, (spec + "lld").c_str(),
                    static_cast<long long>(v.is_float() ? double_to_int(v.as_double()) : v.as_int()));
      out += buf;
    } else if (conv == 'f' || conv == 'e' || conv == 'g' || conv == 'F') {
      if (!v.is_number()) throw Error(str_cat("must be real number, not ", v.type_name()));
      std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_double());
      out += buf;
    } else if (conv == 'x' || conv == 'X' || conv == 'o') {
      std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), static_cast<long long>(v.as_int()));
      out += buf;
    } else {
      throw Error(str_cat("unsupported format character '", std::string(1, conv), "'"));
    }
  }
  if (k < items.size()) throw Error("not all arguments converted during string formatting");
  return out;
}

}  // namespace tritium::jinja
