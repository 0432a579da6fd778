// Jinja filters, tests and globals, with the behaviour of Jinja2's builtins and of the
// overrides transformers installs (tojson as json.dumps, raise_exception, strftime_now).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"

namespace tritium::jinja {

void undefined_error(const Value& u) {
  if (!u.undefined_hint().empty()) throw Error(u.undefined_hint());
  if (!u.undefined_name().empty()) throw Error(str_cat("'", u.undefined_name(), "' is undefined"));
  throw Error("undefined value");
}

namespace {

using FilterFn = std::function<Value(const Value&, CallArgs&)>;
using TestFn = std::function<bool(const Value&, CallArgs&)>;

const Value* arg(CallArgs& a, size_t i, const char* name) { return a.get(i, name); }
bool arg_bool(CallArgs& a, size_t i, const char* name, bool dflt) {
  const Value* v = a.get(i, name);
  return v ? v->truthy() : dflt;
}
const Value& need(CallArgs& a, size_t i, const char* name, const char* fn) {
  const Value* v = a.get(i, name);
  if (!v) throw Error(str_cat(fn, "() missing required argument '", name, "'"));
  return *v;
}

std::string lower_ascii_unicode(const std::string& s) {
  CallArgs none;
  return get_method(Value(s), "lower").fn().fn(none).as_string();
}

// Value used for sorting / uniqueness, honouring case_sensitive=False for strings.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(lower_ascii_unicode(v.as_string()));
  return v;
}

// Jinja's attribute lookup for filters (`attribute="a.b"`, or an integer index).
Value attr_path(const Value& v, const Value& attribute) {
  if (attribute.is_int()) return get_item(v, attribute);
  std::string path = attribute.str();
  Value cur = v;
  size_t pos = 0;
  while (true) {
    size_t q = path.find('.', pos);
    std::string part = path.substr(pos, q == std::string::npos ? std::string::npos : q - pos);
    bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    if (cur.is_undefined()) return cur;
    cur = numeric ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (q == std::string::npos) return cur;
    pos = q + 1;
  }
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

Value py_round(const Value& v, int64_t precision, const std::string& method) {
  if (!v.is_number()) throw Error("round filter needs a number");
  double x = v.as_double();
  if (method == "common") {
    if (v.is_int() || v.is_bool()) return Value(v.as_int());
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max<int64_t>(precision, 0)), x);
    if (precision < 0) {
      double p = std::pow(10.0, static_cast<double>(-precision));
      return Value(std::nearbyint(x / p) * p);
    }
    return Value(std::strtod(buf, nullptr));
  }
  double p = std::pow(10.0, static_cast<double>(precision));
  if (method == "floor") return Value(std::floor(x * p) / p);
  if (method == "ceil") return Value(std::ceil(x * p) / p);
  throw Error("method must be common, ceil or floor");
}

std::string do_indent(const std::string& s, const std::string& ind, bool first, bool blank) {
  uint64_t newlines = uint64_t(std::count(s.begin(), s.end(), '\n')) + std::count(s.begin(), s.end(), '\r') + 1;
  check_size(s.size() + newlines * ind.size(), "string");
  // Split like Python's str.splitlines() after appending a newline (Jinja2's behaviour).
  std::vector<std::string> lines;
  std::string text = s + "\n";
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.push_back(text.substr(start, i - start));
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) {
        rv += '\n';
        rv += ind;
      }
      rv += lines[i];
    }
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) {
      rv += '\n';
      if (!lines[i].empty()) {
        rv += ind;
        rv += lines[i];
      }
    }
  }
  if (first) rv = ind + rv;
  return rv;
}

Value tojson(const Value& v, CallArgs& a) {
  bool ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
  const Value* ind = arg(a, 1, "indent");
  int indent = (ind && !ind->is_none()) ? static_cast<int>(ind->as_int()) : -1;
  std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
  const Value* seps = arg(a, 2, "separators");
  if (seps && !seps->is_none()) {
    if (!seps->is_list() || seps->items().size() != 2) throw Error("separators must be a pair of strings");
    item_sep = seps->items()[0].str();
    key_sep = seps->items()[1].str();
  }
  bool sort_keys = arg_bool(a, 3, "sort_keys", false);
  return Value(json_dumps(v, ensure_ascii, indent, item_sep, key_sep, sort_keys));
}

Value select_like(const Value& seq, CallArgs& a, bool attr_mode, bool keep) {
  ValueList out;
  size_t first_arg = attr_mode ? 1 : 0;
  Value attribute = attr_mode ? need(a, 0, "attribute", "selectattr") : Value();
  std::string test;
  CallArgs targs;
  if (a.pos.size() > first_arg) {
    test = a.pos[first_arg].str();
    targs.pos.assign(a.pos.begin() + static_cast<long>(first_arg) + 1, a.pos.end());
  }
  for (auto& item : iterate(seq)) {
    Value x = attr_mode ? attr_path(item, attribute) : item;
    bool r = test.empty() ? x.truthy() : apply_test(test, x, targs);
    if (r == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> m = [] {
    std::unordered_map<std::string, FilterFn> f;
    f["tojson"] = tojson;
    f["trim"] = [](const Value& v, CallArgs& a) {
      const Value* c = arg(a, 0, "chars");
      std::string chars = (c && c->is_string()) ? c->as_string() : "";
      return Value(py_strip(v.str(), (c && c->is_string()) ? &chars : nullptr, true, true));
    };
    f["length"] = [](const Value& v, CallArgs&) { return Value(static_cast<int64_t>(v.length())); };
    f["count"] = f["length"];
    f["default"] = [](const Value& v, CallArgs& a) {
      const Value* d = arg(a, 0, "default_value");
      bool boolean = arg_bool(a, 1, "boolean", false);
      if (v.is_undefined() || (boolean && !v.truthy())) return d ? *d : Value("");
      return v;
    };
    f["d"] = f["default"];
    f["upper"] = [](const Value& v, CallArgs& a) { return get_method(Value(v.str()), "upper").fn().fn(a); };
    f["lower"] = [](const Value& v, CallArgs& a) { return get_method(Value(v.str()), "lower").fn().fn(a); };
    f["capitalize"] = [](const Value& v, CallArgs& a) {
      return get_method(Value(v.str()), "capitalize").fn().fn(a);
    };
    f["title"] = [](const Value& v, CallArgs&) {
      // Jinja2 splits words at whitespace, '-', and opening brackets.
      std::u32string u = utf8_decode(v.str());
      std::string out;
      bool start = true;
      CallArgs none;
      for (char32_t c : u) {
        bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '-' ||
                   c == '(' || c == '{' || c == '[' || c == '<';
        std::string ch;
        utf8_append(ch, c);
        if (sep) {
          out += ch;
          start = true;
          continue;
        }
        out += get_method(Value(ch), start ? "upper" : "lower").fn().fn(none).as_string();
        start = false;
      }
      return Value(out);
    };
    f["replace"] = [](const Value& v, CallArgs& a) {
      CallArgs b;
      b.pos = {need(a, 0, "old", "replace").str(), need(a, 1, "new", "replace").str()};
      if (const Value* c = arg(a, 2, "count"); c && !c->is_none()) b.pos.push_back(*c);
      return get_method(Value(v.str()), "replace").fn().fn(b);
    };
    f["join"] = [](const Value& v, CallArgs& a) {
      const Value* d = arg(a, 0, "d");
      const Value* attribute = arg(a, 1, "attribute");
      std::string sep = d ? d->str() : "";
      std::string out;
      bool first = true;
      for (auto& x : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += (attribute && !attribute->is_none()) ? attr_path(x, *attribute).str() : x.str();
        check_size(out.size(), "string");
      }
      return Value(out);
    };
    f["first"] = [](const Value& v, CallArgs&) {
      ValueList l = iterate(v);
      return l.empty() ? Value::undefined("", "No first item, sequence was empty.") : l.front();
    };
    f["last"] = [](const Value& v, CallArgs&) {
      ValueList l = iterate(v);
      return l.empty() ? Value::undefined("", "No last item, sequence was empty.") : l.back();
    };
    f["list"] = [](const Value& v, CallArgs&) { return Value::list(iterate(v)); };
    f["string"] = [](const Value& v, CallArgs&) { return Value(v.str()); };
    f["safe"] = [](const Value& v, CallArgs&) { return v; };
    f["escape"] = [](const Value& v, CallArgs&) { return Value(html_escape(v.str())); };
    f["e"] = f["escape"];
    f["forceescape"] = f["escape"];
    f["int"] = [](const Value& v, CallArgs& a) {
      const Value* d = arg(a, 0, "default");
      Value dflt = d ? *d : Value(int64_t{0});
      int base = static_cast<int>(a.get(1, "base") ? a.get(1, "base")->as_int() : 10);
      if (v.is_int() || v.is_bool()) return Value(v.as_int());
      if (v.is_float()) {
        double x = v.as_double();
        if (!(x >= -9.2233720368547758e18 && x < 9.2233720368547758e18)) return dflt;  // inf, nan, beyond int64
        return Value(static_cast<int64_t>(x));
      }
      if (v.is_string()) {
        std::string s = py_strip(v.as_string(), nullptr, true, true);
        try {
          size_t used = 0;
          long long r = std::stoll(s, &used, base);
          if (used == s.size()) return Value(static_cast<int64_t>(r));
        } catch (const std::exception&) {
        }
        try {
          size_t used = 0;
          double r = std::stod(s, &used);
          if (used == s.size()) return Value(static_cast<int64_t>(r));
        } catch (const std::exception&) {
        }
      }
      return dflt;
    };
    f["float"] = [](const Value& v, CallArgs& a) {
      const Value* d = arg(a, 0, "default");
      Value dflt = d ? *d : Value(0.0);
      if (v.is_number()) return Value(v.as_double());
      if (v.is_string()) {
        try {
          std::string s = py_strip(v.as_string(), nullptr, true, true);
          size_t used = 0;
          double r = std::stod(s, &used);
          if (used == s.size()) return Value(r);
        } catch (const std::exception&) {
        }
      }
      return dflt;
    };
    f["abs"] = [](const Value& v, CallArgs&) {
      if (v.is_float()) return Value(std::fabs(v.as_double()));
      if (v.is_number()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
      throw Error(str_cat("bad operand type for abs(): '", v.type_name(), "'"));
    };
    f["round"] = [](const Value& v, CallArgs& a) {
      const Value* p = arg(a, 0, "precision");
      const Value* m = arg(a, 1, "method");
      return py_round(v, p ? p->as_int() : 0, m ? m->str() : "common");
    };
    f["items"] = [](const Value& v, CallArgs&) {
      if (v.is_undefined()) return Value::list();
      if (!v.is_dict()) throw Error(str_cat("Can only get item pairs from a mapping, not ", v.type_name()));
      ValueList out;
      for (auto& [k, x] : v.dict_ref().entries) out.push_back(Value::tuple({k, x}));
      return Value::list(std::move(out));
    };
    f["dictsort"] = [](const Value& v, CallArgs& a) {
      bool cs = arg_bool(a, 0, "case_sensitive", false);
      const Value* by = arg(a, 1, "by");
      bool by_value = by && by->str() == "value";
      bool reverse = arg_bool(a, 2, "reverse", false);
      if (!v.is_dict()) throw Error("dictsort requires a mapping");
      std::vector<std::pair<Value, Value>> e = v.dict_ref().entries;
      std::stable_sort(e.begin(), e.end(), [&](auto& x, auto& y) {
        const Value& l = by_value ? x.second : x.first;
        const Value& r = by_value ? y.second : y.first;
        return reverse ? py_less(sort_key(r, cs), sort_key(l, cs)) : py_less(sort_key(l, cs), sort_key(r, cs));
      });
      ValueList out;
      for (auto& [k, x] : e) out.push_back(Value::tuple({k, x}));
      return Value::list(std::move(out));
    };
    f["sort"] = [](const Value& v, CallArgs& a) {
      bool reverse = arg_bool(a, 0, "reverse", false);
      bool cs = arg_bool(a, 1, "case_sensitive", false);
      const Value* attribute = arg(a, 2, "attribute");
      ValueList l = iterate(v);
      auto key = [&](const Value& x) {
        return sort_key((attribute && !attribute->is_none()) ? attr_path(x, *attribute) : x, cs);
      };
      std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
        return reverse ? py_less(key(y), key(x)) : py_less(key(x), key(y));
      });
      return Value::list(std::move(l));
    };
    f["unique"] = [](const Value& v, CallArgs& a) {
      bool cs = arg_bool(a, 0, "case_sensitive", false);
      const Value* attribute = arg(a, 1, "attribute");
      ValueList seen, out;
      for (auto& x : iterate(v)) {
        Value k = sort_key((attribute && !attribute->is_none()) ? attr_path(x, *attribute) : x, cs);
        bool dup = false;
        for (auto& s : seen) dup |= py_equal(s, k);
        if (!dup) {
          seen.push_back(k);
          out.push_back(x);
        }
      }
      return Value::list(std::move(out));
    };
    f["reverse"] = [](const Value& v, CallArgs&) {
      if (v.is_string()) {
        std::u32string u = utf8_decode(v.as_string());
        std::reverse(u.begin(), u.end());
        return Value(utf8_encode(u));
      }
      ValueList l = iterate(v);
      std::reverse(l.begin(), l.end());
      return Value::list(std::move(l));
    };
    f["map"] = [](const Value& v, CallArgs& a) {
      ValueList out;
      const Value* attribute = nullptr;
      const Value* dflt = nullptr;
      for (auto& [k, x] : a.kw) {
        if (k == "attribute") attribute = &x;
        if (k == "default") dflt = &x;
      }
      if (attribute) {
        for (auto& x : iterate(v)) {
          Value r = attr_path(x, *attribute);
          out.push_back((r.is_undefined() && dflt) ? *dflt : r);
        }
        return Value::list(std::move(out));
      }
      if (a.pos.empty()) throw Error("map requires a filter name or attribute=");
      std::string name = a.pos[0].str();
      CallArgs fargs;
      fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
      for (auto& x : iterate(v)) {
        CallArgs c = fargs;
        out.push_back(apply_filter(name, x, c));
      }
      return Value::list(std::move(out));
    };
    f["select"] = [](const Value& v, CallArgs& a) { return select_like(v, a, false, true); };
    f["reject"] = [](const Value& v, CallArgs& a) { return select_like(v, a, false, false); };
    f["selectattr"] = [](const Value& v, CallArgs& a) { return select_like(v, a, true, true); };
    f["rejectattr"] = [](const Value& v, CallArgs& a) { return select_like(v, a, true, false); };
    f["indent"] = [](const Value& v, CallArgs& a) {
      const Value* w = arg(a, 0, "width");
      if (w && !w->is_string()) check_size(uint64_t(std::max<int64_t>(w->as_int(), 0)), "indent");
      std::string ind = !w ? "    " : w->is_string() ? w->as_string() : std::string(static_cast<size_t>(std::max<int64_t>(w->as_int(), 0)), ' ');
      return Value(do_indent(v.str(), ind, arg_bool(a, 1, "first", false), arg_bool(a, 2, "blank", false)));
    };
    f["batch"] = [](const Value& v, CallArgs& a) {
      int64_t n = need(a, 0, "linecount", "batch").as_int();
      if (n <= 0) throw Error("batch linecount must be positive");
      const Value* fill = arg(a, 1, "fill_with");
      ValueList out, cur;
      for (auto& x : iterate(v)) {
        cur.push_back(x);
        if (static_cast<int64_t>(cur.size()) == n) {
          out.push_back(Value::list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (fill && !fill->is_none())
          while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
        out.push_back(Value::list(std::move(cur)));
      }
      return Value::list(std::move(out));
    };
    f["sum"] = [](const Value& v, CallArgs& a) {
      const Value* attribute = arg(a, 0, "attribute");
      const Value* start = arg(a, 1, "start");
      Value total = start ? *start : Value(int64_t{0});
      for (auto& x : iterate(v)) {
        Value y = (attribute && !attribute->is_none()) ? attr_path(x, *attribute) : x;
        if (!y.is_number() || !total.is_number()) throw Error("sum filter needs numbers");
        total = (total.is_float() || y.is_float()) ? Value(total.as_double() + y.as_double())
                                                   : Value(total.as_int() + y.as_int());
      }
      return total;
    };
    for (const char* mm : {"min", "max"}) {
      bool is_max = std::string(mm) == "max";
      f[mm] = [is_max](const Value& v, CallArgs& a) {
        bool cs = arg_bool(a, 0, "case_sensitive", false);
        const Value* attribute = arg(a, 1, "attribute");
        ValueList l = iterate(v);
        if (l.empty()) return Value::undefined("", "No aggregated item, sequence was empty.");
        auto key = [&](const Value& x) {
          return sort_key((attribute && !attribute->is_none()) ? attr_path(x, *attribute) : x, cs);
        };
        Value best = l[0];
        for (auto& x : l)
          if (is_max ? py_less(key(best), key(x)) : py_less(key(x), key(best))) best = x;
        return best;
      };
    }
    f["format"] = [](const Value& v, CallArgs& a) {
      return Value(py_format(v.str(), a.pos.size() == 1 ? a.pos[0] : Value::tuple(a.pos)));
    };
    f["center"] = [](const Value& v, CallArgs& a) {
      const Value* w = arg(a, 0, "width");
      int64_t width = w ? w->as_int() : 80;
      std::u32string u = utf8_decode(v.str());
      int64_t pad = width - static_cast<int64_t>(u.size());
      if (pad <= 0) return Value(v.str());
      check_size(uint64_t(pad) + v.str().size(), "string");
      int64_t left = pad / 2 + (pad & width & 1);
      return Value(std::string(left, ' ') + v.str() + std::string(pad - left, ' '));
    };
    f["wordcount"] = [](const Value& v, CallArgs&) {
      CallArgs none;
      return Value(static_cast<int64_t>(get_method(Value(v.str()), "split").fn().fn(none).items().size()));
    };
    f["attr"] = [](const Value& v, CallArgs& a) { return get_attr(v, need(a, 0, "name", "attr").str()); };
    return f;
  }();
  return m;
}

bool is_integer(const Value& v) { return v.is_int(); }

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> m = [] {
    std::unordered_map<std::string, TestFn> t;
    auto other = [](CallArgs& a, const char* name) -> const Value& { return need(a, 0, "other", name); };
    t["defined"] = [](const Value& v, CallArgs&) { return !v.is_undefined(); };
    t["undefined"] = [](const Value& v, CallArgs&) { return v.is_undefined(); };
    t["none"] = [](const Value& v, CallArgs&) { return v.is_none(); };
    t["string"] = [](const Value& v, CallArgs&) { return v.is_string(); };
    t["number"] = [](const Value& v, CallArgs&) { return v.is_number(); };
    t["integer"] = [](const Value& v, CallArgs&) { return is_integer(v); };
    t["float"] = [](const Value& v, CallArgs&) { return v.is_float(); };
    t["boolean"] = [](const Value& v, CallArgs&) { return v.is_bool(); };
    t["true"] = [](const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); };
    t["false"] = [](const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); };
    t["mapping"] = [](const Value& v, CallArgs&) { return v.is_dict() && !v.is_namespace(); };
    t["iterable"] = [](const Value& v, CallArgs&) {
      return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
    };
    t["sequence"] = [](const Value& v, CallArgs&) {
      return v.is_list() || (v.is_dict() && !v.is_namespace()) || v.is_string();
    };
    t["callable"] = [](const Value& v, CallArgs&) { return v.is_function(); };
    t["lower"] = [](const Value& v, CallArgs&) {
      CallArgs n;
      return v.is_string() && get_method(v, "lower").fn().fn(n).as_string() == v.as_string();
    };
    t["upper"] = [](const Value& v, CallArgs&) {
      CallArgs n;
      return v.is_string() && get_method(v, "upper").fn().fn(n).as_string() == v.as_string();
    };
    t["odd"] = [](const Value& v, CallArgs&) {
      if (!v.is_number()) throw Error("odd test needs a number");
      return (v.as_int() % 2) != 0;
    };
    t["even"] = [](const Value& v, CallArgs&) {
      if (!v.is_number()) throw Error("even test needs a number");
      return (v.as_int() % 2) == 0;
    };
    t["divisibleby"] = [](const Value& v, CallArgs& a) {
      int64_t n = need(a, 0, "num", "divisibleby").as_int();
      if (n == 0) throw Error("integer division or modulo by zero");
      return v.as_int() % n == 0;
    };
    t["eq"] = [other](const Value& v, CallArgs& a) { return py_equal(v, other(a, "eq")); };
    t["equalto"] = t["eq"];
    t["=="] = t["eq"];
    t["ne"] = [other](const Value& v, CallArgs& a) { return !py_equal(v, other(a, "ne")); };
    t["!="] = t["ne"];
    t["lt"] = [other](const Value& v, CallArgs& a) { return py_less(v, other(a, "lt")); };
    t["lessthan"] = t["lt"];
    t["<"] = t["lt"];
    t["gt"] = [other](const Value& v, CallArgs& a) { return py_less(other(a, "gt"), v); };
    t["greaterthan"] = t["gt"];
    t[">"] = t["gt"];
    t["le"] = [other](const Value& v, CallArgs& a) { return !py_less(other(a, "le"), v); };
    t["<="] = t["le"];
    t["ge"] = [other](const Value& v, CallArgs& a) { return !py_less(v, other(a, "ge")); };
    t[">="] = t["ge"];
    t["in"] = [](const Value& v, CallArgs& a) {
      const Value& seq = need(a, 0, "seq", "in");
      if (seq.is_string()) return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
      if (seq.is_dict()) return seq.dict_ref().find(v) != nullptr;
      for (auto& x : iterate(seq))
        if (py_equal(x, v)) return true;
      return false;
    };
    t["sameas"] = [](const Value& v, CallArgs& a) { return v.same_as(need(a, 0, "other", "sameas")); };
    t["escaped"] = [](const Value&, CallArgs&) { return false; };
    t["filter"] = [](const Value& v, CallArgs&) { return v.is_string() && has_filter(v.as_string()); };
    t["test"] = [](const Value& v, CallArgs&) { return v.is_string() && has_test(v.as_string()); };
    return t;
  }();
  return m;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) > 0; }
bool has_test(const std::string& name) { return tests().count(name) > 0; }

Value apply_filter(const std::string& name, const Value& v, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw Error(str_cat("no filter named '", name, "'"));
  static const char* strict[] = {"tojson", "abs", "round", "int", "float", "dictsort", "sum", "batch", "attr"};
  for (const char* s : strict)
    if (v.is_undefined() && name == s && name != "int" && name != "float") undefined_error(v);
  return it->second(v, args);
}

bool apply_test(const std::string& name, const Value& v, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw Error(str_cat("no test named '", name, "'"));
  return it->second(v, args);
}

void add_default_globals(Dict& g) {
  g.set(Value("range"), Value::function("range", [](CallArgs& a) {
          if (a.pos.empty() || a.pos.size() > 3) throw Error("range expected 1 to 3 arguments");
          for (auto& x : a.pos)
            if (!x.is_int() && !x.is_bool()) throw Error("range() arguments must be integers");
          int64_t start = 0, stop, step = 1;
          if (a.pos.size() == 1) stop = a.pos[0].as_int();
          else start = a.pos[0].as_int(), stop = a.pos[1].as_int();
          if (a.pos.size() == 3) step = a.pos[2].as_int();
          if (step == 0) throw Error("range() arg 3 must not be zero");
          ValueList out;
          for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            out.push_back(Value(i));
            if (out.size() > 100000) throw Error("range too big (more than 100000 items)");
          }
          return Value::list(std::move(out));
        }));
  auto make_dict = [](CallArgs& a, Value d) {
    if (!a.pos.empty()) {
      if (a.pos[0].is_dict()) {
        for (auto& [k, v] : a.pos[0].dict_ref().entries) d.dict_ref().set(k, v);
      } else {
        for (auto& kv : iterate(a.pos[0])) {
          ValueList p = iterate(kv);
          if (p.size() != 2) throw Error("dictionary update sequence element has wrong length");
          d.dict_ref().set(p[0], p[1]);
        }
      }
    }
    for (auto& [k, v] : a.kw) d.dict_ref().set(Value(k), v);
    return d;
  };
  g.set(Value("dict"), Value::function("dict", [make_dict](CallArgs& a) { return make_dict(a, Value::dict()); }));
  g.set(Value("namespace"), Value::function("namespace", [make_dict](CallArgs& a) {
          Value ns = make_dict(a, Value::namespace_obj());
          for (auto& [k, v] : ns.dict_ref().entries)
            if (k.is_string() && !k.as_string().empty() && k.as_string()[0] == '_')
              throw Error(str_cat("Chat templates cannot store underscore-prefixed attributes on a namespace, but got ",
                                  k.repr(), ". Please rename the attribute."));
          return ns;
        }));
  g.set(Value("raise_exception"), Value::function("raise_exception", [](CallArgs& a) -> Value {
          throw Error(a.pos.empty() ? std::string("raise_exception() called") : a.pos[0].str());
        }));
  g.set(Value("strftime_now"), Value::function("strftime_now", [](CallArgs& a) {
          if (a.pos.empty()) throw Error("strftime_now() needs a format");
          std::time_t now = std::time(nullptr);
          std::tm tm{};
          localtime_r(&now, &tm);
          char buf[512];
          size_t n = std::strftime(buf, sizeof buf, a.pos[0].str().c_str(), &tm);
          return Value(std::string(buf, n));
        }));
}

}  // namespace tritium::jinja
