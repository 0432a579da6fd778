// Jinja evaluator (see jinja_eval.h): walks the syntax tree, writing output into a buffer.
#include "tokenizer/jinja_eval.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <unordered_map>

#include "core/error.h"
#include "tokenizer/jinja_parser.h"

namespace tritium::jinja {
namespace {

// An error that already names its line and column.
struct LocatedError : Error {
  using Error::Error;
};

struct Frame;
using FramePtr = std::shared_ptr<Frame>;
struct Frame {
  std::unordered_map<std::string, Value> vars;
  FramePtr parent;
  const Value* lookup(const std::string& name) const {
    for (const Frame* f = this; f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { Normal, Break, Continue };

struct Budget {
  RenderLimits limits;
  uint64_t steps = 0;
};
thread_local Budget* g_budget = nullptr;

void append(std::string& out, const std::string& s) {
  check_size(uint64_t(out.size()) + s.size(), "output");
  out += s;
}

// Python's ints are unbounded; ours are int64, so a result out of range is an error.
int64_t checked_op(char op, int64_t x, int64_t y, const char* name) {
  int64_t r = 0;
  bool overflow = op == '+' ? __builtin_add_overflow(x, y, &r)
                  : op == '-' ? __builtin_sub_overflow(x, y, &r)
                              : __builtin_mul_overflow(x, y, &r);
  if (overflow) throw Error(str_cat("integer overflow in ", name));
  return r;
}

[[noreturn]] void fail_at(int line, int col, const std::string& msg) {
  throw LocatedError(str_cat("template error at line ", line, ", column ", col, ": ", msg));
}

int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

Value arith(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  auto unsupported = [&]() -> Value {
    throw Error(str_cat("unsupported operand type(s) for ", op, ": '", a.type_name(), "' and '", b.type_name(), "'"));
  };
  if (a.is_number() && b.is_number()) {
    bool fl = a.is_float() || b.is_float();
    int64_t x = fl ? 0 : a.as_int(), y = fl ? 0 : b.as_int();
    if (op == "+") return fl ? Value(a.as_double() + b.as_double()) : Value(checked_op('+', x, y, "+"));
    if (op == "-") return fl ? Value(a.as_double() - b.as_double()) : Value(checked_op('-', x, y, "-"));
    if (op == "*") return fl ? Value(a.as_double() * b.as_double()) : Value(checked_op('*', x, y, "*"));
    if (op == "/") {
      if (b.as_double() == 0) throw Error("division by zero");
      return Value(a.as_double() / b.as_double());
    }
    if (op == "//") {
      if (b.as_double() == 0) throw Error("integer division or modulo by zero");
      if (fl) return Value(std::floor(a.as_double() / b.as_double()));
      if (x == INT64_MIN && y == -1) throw Error("integer overflow in //");
      return Value(floordiv(a.as_int(), b.as_int()));
    }
    if (op == "%") {
      if (b.as_double() == 0) throw Error("integer division or modulo by zero");
      if (fl) {
        double r = std::fmod(a.as_double(), b.as_double());
        if (r != 0 && ((r < 0) != (b.as_double() < 0))) r += b.as_double();
        return Value(r);
      }
      if (y == -1) return Value(int64_t{0});  // INT64_MIN % -1 traps in C++
      int64_t r = a.as_int() % b.as_int();
      if (r != 0 && ((r < 0) != (b.as_int() < 0))) r += b.as_int();
      return Value(r);
    }
    if (op == "**") {
      if (!fl && y >= 0) {  // square and multiply: 63 steps at most, every product checked
        int64_t acc = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if (e & 1) acc = checked_op('*', acc, base, "**");
          if (e > 1) base = checked_op('*', base, base, "**");
        }
        return Value(acc);
      }
      return Value(std::pow(a.as_double(), b.as_double()));
    }
  }
  if (op == "+" && a.is_string() && b.is_string()) {
    check_size(uint64_t(a.as_string().size()) + b.as_string().size(), "string");
    return Value(a.as_string() + b.as_string());
  }
  if (op == "+" && a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    check_size(uint64_t(a.items().size()) + b.items().size(), "list");
    charge_steps(a.items().size() + b.items().size());
    ValueList r = a.items();
    r.insert(r.end(), b.items().begin(), b.items().end());
    return a.is_tuple() ? Value::tuple(std::move(r)) : Value::list(std::move(r));
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) {
    int64_t n = std::max<int64_t>(b.as_int(), 0);
    uint64_t unit = a.is_string() ? a.as_string().size() : a.items().size();
    if (unit != 0 && uint64_t(n) > (uint64_t(1) << 62) / unit) throw Error("sequence repetition too large");
    check_size(unit * uint64_t(n), a.is_string() ? "string" : "list");
    if (!a.is_string()) charge_steps(unit * uint64_t(n));
    if (a.is_string()) {
      std::string r;
      for (int64_t i = 0; i < n; ++i) r += a.as_string();
      return Value(r);
    }
    ValueList r;
    for (int64_t i = 0; i < n; ++i) r.insert(r.end(), a.items().begin(), a.items().end());
    return a.is_tuple() ? Value::tuple(std::move(r)) : Value::list(std::move(r));
  }
  if (op == "*" && (b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return arith(op, b, a);
  if (op == "%" && a.is_string()) return Value(py_format(a.as_string(), b));
  return unsupported();
}

bool contains(const Value& container, const Value& item) {
  if (container.is_undefined()) undefined_error(container);
  if (container.is_string()) {
    if (!item.is_string())
      throw Error(str_cat("'in <string>' requires string as left operand, not ", item.type_name()));
    return container.as_string().find(item.as_string()) != std::string::npos;
  }
  if (container.is_list()) {
    for (auto& v : container.items())
      if (py_equal(v, item)) return true;
    return false;
  }
  if (container.is_dict()) return container.dict_ref().find(item) != nullptr;
  throw Error(str_cat("argument of type '", container.type_name(), "' is not iterable"));
}

class Renderer {
 public:
  explicit Renderer(int max_call_depth) : max_call_depth_(max_call_depth) {}
  int max_call_depth_;
  int call_depth_ = 0;

  Value eval(const Expr& e, const FramePtr& f) {
    try {
      charge_steps(1);
      return eval_inner(e, f);
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& err) {
      fail_at(e.line, e.col, err.what());
    }
  }

  Flow exec(const Body& body, const FramePtr& f, std::string& out) {
    for (auto& n : body) {
      Flow fl = exec_node(*n, f, out);
      if (fl != Flow::Normal) return fl;
    }
    return Flow::Normal;
  }

 private:
  Value lookup(const std::string& name, const FramePtr& f) {
    if (const Value* v = f->lookup(name)) return *v;
    return Value::undefined(name);
  }

  CallArgs eval_args(const Expr& e, const FramePtr& f) {
    CallArgs a;
    for (auto& x : e.args) a.pos.push_back(eval(*x, f));
    for (auto& [k, x] : e.kwargs) a.kw.emplace_back(k, eval(*x, f));
    return a;
  }

  Value eval_inner(const Expr& e, const FramePtr& f) {
    using K = Expr::K;
    switch (e.k) {
      case K::Literal: return e.literal;
      case K::Name: return lookup(e.name, f);
      case K::List:
      case K::Tuple: {
        ValueList items;
        for (auto& x : e.args) items.push_back(eval(*x, f));
        return e.k == K::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case K::Dict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.dict_ref().set(eval(*e.args[i], f), eval(*e.args[i + 1], f));
        return d;
      }
      case K::GetAttr: {
        Value obj = eval(*e.a, f);
        if (obj.is_undefined()) undefined_error(obj);
        return get_attr(obj, e.name);
      }
      case K::GetItem: {
        Value obj = eval(*e.a, f);
        if (obj.is_undefined()) undefined_error(obj);
        return get_item(obj, eval(*e.b, f));
      }
      case K::Slice: return slice(eval(*e.a, f), e, f);
      case K::Call: {
        Value fn = eval(*e.a, f);
        CallArgs args = eval_args(e, f);
        return call(fn, args);
      }
      case K::Filter: {
        Value v = e.a ? eval(*e.a, f) : Value();
        CallArgs args = eval_args(e, f);
        return apply_filter(e.name, v, args);
      }
      case K::Test: {
        if (!has_test(e.name)) throw Error(str_cat("no test named '", e.name, "'"));
        Value v = eval(*e.a, f);
        CallArgs args = eval_args(e, f);
        bool r = apply_test(e.name, v, args);
        return Value(e.negated ? !r : r);
      }
      case K::Neg:
      case K::Pos: {
        Value v = eval(*e.a, f);
        if (v.is_undefined()) undefined_error(v);
        if (!v.is_number())
          throw Error(str_cat("bad operand type for unary ", e.k == K::Neg ? "-" : "+", ": '", v.type_name(), "'"));
        if (e.k == K::Pos) return v.is_bool() ? Value(v.as_int()) : v;
        if (!v.is_float() && v.as_int() == INT64_MIN) throw Error("integer overflow in unary -");
        return v.is_float() ? Value(-v.as_double()) : Value(-v.as_int());
      }
      case K::Not: return Value(!eval(*e.a, f).truthy());
      case K::Binary: {
        Value a = eval(*e.a, f);
        Value b = eval(*e.b, f);
        if (e.name == "~") {
          std::string sa = a.str(), sb = b.str();
          check_size(uint64_t(sa.size()) + sb.size(), "string");
          return Value(sa + sb);
        }
        return arith(e.name, a, b);
      }
      case K::Compare: {
        Value left = eval(*e.a, f);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.args[i], f);
          if (!compare(e.ops[i], left, right)) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case K::And: {
        Value a = eval(*e.a, f);
        return a.truthy() ? eval(*e.b, f) : a;
      }
      case K::Or: {
        Value a = eval(*e.a, f);
        return a.truthy() ? a : eval(*e.b, f);
      }
      case K::Cond: {
        if (eval(*e.b, f).truthy()) return eval(*e.a, f);
        if (e.c) return eval(*e.c, f);
        return Value::undefined("", "the inline if-expression evaluated to false and no else section was defined.");
      }
    }
    return Value();
  }

  bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return py_equal(a, b);
    if (op == "!=") return !py_equal(a, b);
    if (op == "in") return contains(b, a);
    if (op == "notin") return !contains(b, a);
    if (a.is_undefined()) undefined_error(a);
    if (b.is_undefined()) undefined_error(b);
    auto type_err = [&]() {
      throw Error(str_cat("'", op, "' not supported between instances of '", a.type_name(), "' and '", b.type_name(), "'"));
    };
    bool ok = (a.is_number() && b.is_number()) || (a.is_string() && b.is_string()) || (a.is_list() && b.is_list());
    if (!ok) type_err();
    if (op == "<") return py_less(a, b);
    if (op == ">") return py_less(b, a);
    if (op == "<=") return !py_less(b, a);
    if (op == ">=") return !py_less(a, b);
    type_err();
    return false;
  }

  static int64_t clamp_index(int64_t i, int64_t n, bool neg_step) {
    if (i < 0) i += n;
    if (neg_step) return i < -1 ? -1 : (i >= n ? n - 1 : i);
    return i < 0 ? 0 : (i > n ? n : i);
  }

  Value slice(const Value& obj, const Expr& e, const FramePtr& f) {
    if (obj.is_undefined()) undefined_error(obj);
    auto opt = [&](const ExprPtr& x, bool& has) -> int64_t {
      has = false;
      if (!x) return 0;
      Value v = eval(*x, f);
      if (v.is_none()) return 0;
      if (!v.is_int() && !v.is_bool()) throw Error("slice indices must be integers or None");
      has = true;
      return v.as_int();
    };
    bool hs, he, hst;
    int64_t start = opt(e.b, hs), stop = opt(e.c, he), step = opt(e.d, hst);
    if (!hst) step = 1;
    if (step == 0) throw Error("slice step cannot be zero");
    std::u32string chars;
    int64_t n;
    bool is_str = obj.is_string();
    if (is_str) {
      chars = utf8_decode(obj.as_string());
      n = static_cast<int64_t>(chars.size());
    } else if (obj.is_list()) {
      n = static_cast<int64_t>(obj.items().size());
    } else {
      throw Error(str_cat("'", obj.type_name(), "' object is not subscriptable"));
    }
    bool neg = step < 0;
    start = hs ? clamp_index(start, n, neg) : (neg ? n - 1 : 0);
    stop = he ? clamp_index(stop, n, neg) : (neg ? -1 : n);
    std::u32string rs;
    ValueList rl;
    for (int64_t i = start; neg ? i > stop : i < stop; i += step) {
      if (is_str) rs += chars[i];
      else rl.push_back(obj.items()[i]);
    }
    if (is_str) return Value(utf8_encode(rs));
    return obj.is_tuple() ? Value::tuple(std::move(rl)) : Value::list(std::move(rl));
  }

  Value call(const Value& fn, CallArgs& args) {
    if (fn.is_undefined()) undefined_error(fn);
    if (!fn.is_function()) throw Error(str_cat("'", fn.type_name(), "' object is not callable"));
    return fn.fn().fn(args);
  }

  // Assigns to a name, a tuple of names, or a namespace attribute.
  void assign(const Expr& target, const Value& v, const FramePtr& f) {
    if (target.k == Expr::K::Name) {
      f->vars[target.name] = v;
    } else if (target.k == Expr::K::Tuple) {
      ValueList items = iterate(v);
      if (items.size() != target.args.size())
        throw Error(str_cat("cannot unpack ", items.size(), " values into ", target.args.size(), " names"));
      for (size_t i = 0; i < items.size(); ++i) f->vars[target.args[i]->name] = items[i];
    } else if (target.k == Expr::K::GetAttr) {
      Value ns = lookup(target.a->name, f);
      if (!ns.is_namespace()) throw Error("cannot assign attribute on non-namespace object");
      if (!target.name.empty() && target.name[0] == '_')
        throw Error(str_cat("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '",
                            target.name, "'. Please rename the attribute."));
      ns.dict_ref().set(Value(target.name), v);
    }
  }

  Flow exec_node(const Node& n, const FramePtr& f, std::string& out) {
    using K = Node::K;
    try {
      charge_steps(1);
      switch (n.k) {
        case K::Text: append(out, n.text); return Flow::Normal;
        case K::Print: append(out, eval(*n.expr, f).str()); return Flow::Normal;
        case K::If:
          for (auto& [cond, body] : n.branches)
            if (eval(*cond, f).truthy()) return exec(body, f, out);
          return exec(n.else_body, f, out);
        case K::For: return exec_for(n, f, out);
        case K::Set: assign(*n.target, eval(*n.expr, f), f); return Flow::Normal;
        case K::SetBlock: {
          std::string s;
          auto inner = std::make_shared<Frame>();
          inner->parent = f;
          exec(n.body, inner, s);
          Value v(s);
          if (n.expr) v = apply_filter_chain(*n.expr, v, f);
          f->vars[n.text] = v;
          return Flow::Normal;
        }
        case K::Macro: f->vars[n.text] = make_macro(n, f, Value()); return Flow::Normal;
        case K::CallBlock: {
          const Expr& c = *n.expr;
          Value caller = make_macro(n, f, Value());
          Value fn = eval(*c.a, f);
          CallArgs args = eval_args(c, f);
          args.kw.emplace_back("caller", caller);
          append(out, call(fn, args).str());
          return Flow::Normal;
        }
        case K::FilterBlock: {
          std::string s;
          auto inner = std::make_shared<Frame>();
          inner->parent = f;
          exec(n.body, inner, s);
          append(out, apply_filter_chain(*n.expr, Value(s), f).str());
          return Flow::Normal;
        }
        case K::With: {
          auto inner = std::make_shared<Frame>();
          inner->parent = f;
          for (auto& [k, e] : n.assigns) inner->vars[k] = eval(*e, f);
          return exec(n.body, inner, out);
        }
        case K::Break: return Flow::Break;
        case K::Continue: return Flow::Continue;
        case K::Scope: return exec(n.body, f, out);
      }
    } catch (const LocatedError&) {
      throw;
    } catch (const Error& e) {
      fail_at(n.line, n.col, e.what());
    }
    return Flow::Normal;
  }

  // Applies a chain of Filter nodes (innermost `a` is null) to `v`.
  Value apply_filter_chain(const Expr& e, const Value& v, const FramePtr& f) {
    Value base = e.a ? apply_filter_chain(*e.a, v, f) : v;
    CallArgs args = eval_args(e, f);
    return apply_filter(e.name, base, args);
  }

  Flow exec_for(const Node& n, const FramePtr& f, std::string& out) {
    Value seq = eval(*n.expr, f);
    if (!seq.is_undefined() && !seq.is_list() && !seq.is_dict() && !seq.is_string())
      throw Error(str_cat("'", seq.type_name(), "' object is not iterable"));
    ValueList items = iterate(seq);
    // Each iteration gets a fresh scope: a `set` in the body does not survive to the next one.
    auto frame = std::make_shared<Frame>();
    frame->parent = f;
    auto bind = [&](const Value& item) {
      if (n.targets.size() == 1) {
        frame->vars[n.targets[0]] = item;
        return;
      }
      ValueList parts = iterate(item);
      if (parts.size() != n.targets.size())
        throw Error(str_cat("cannot unpack ", parts.size(), " values into ", n.targets.size(), " names"));
      for (size_t i = 0; i < parts.size(); ++i) frame->vars[n.targets[i]] = parts[i];
    };
    if (n.cond) {
      ValueList kept;
      for (auto& it : items) {
        bind(it);
        if (eval(*n.cond, frame).truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(n.else_body, f, out);
    int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      Value loop = Value::dict();
      Dict& d = loop.dict_ref();
      d.set(Value("index"), Value(i + 1));
      d.set(Value("index0"), Value(i));
      d.set(Value("revindex"), Value(len - i));
      d.set(Value("revindex0"), Value(len - i - 1));
      d.set(Value("first"), Value(i == 0));
      d.set(Value("last"), Value(i == len - 1));
      d.set(Value("length"), Value(len));
      d.set(Value("depth"), Value(int64_t{1}));
      d.set(Value("depth0"), Value(int64_t{0}));
      d.set(Value("previtem"), i > 0 ? items[i - 1] : Value::undefined("", "there is no previous item"));
      d.set(Value("nextitem"), i + 1 < len ? items[i + 1] : Value::undefined("", "there is no next item"));
      d.set(Value("cycle"), Value::function("cycle", [i](CallArgs& a) -> Value {
              if (a.pos.empty()) throw Error("no items for cycling given");
              return a.pos[static_cast<size_t>(i) % a.pos.size()];
            }));
      frame = std::make_shared<Frame>();
      frame->parent = f;
      frame->vars["loop"] = loop;
      bind(items[i]);
      Flow fl = exec(n.body, frame, out);
      if (fl == Flow::Break) break;
    }
    return Flow::Normal;
  }

  Value make_macro(const Node& n, const FramePtr& def_frame, Value) {
    const Node* node = &n;
    Renderer* self = this;
    std::string name = n.k == Node::K::Macro ? n.text : "caller";
    return Value::function(name, [node, def_frame, self, name](CallArgs& a) -> Value {
      // Python stops runaway recursion with RecursionError; a template must not crash us.
      if (self->call_depth_ >= self->max_call_depth_)
        throw Error(str_cat("maximum macro recursion depth (", self->max_call_depth_, ") exceeded in '", name, "'"));
      struct DepthGuard {
        int& d;
        explicit DepthGuard(int& x) : d(x) { ++d; }
        ~DepthGuard() { --d; }
      } guard(self->call_depth_);
      auto frame = std::make_shared<Frame>();
      frame->parent = def_frame;
      size_t npos = 0;
      ValueList varargs;
      for (size_t i = 0; i < node->params.size(); ++i) {
        const MacroParam& p = node->params[i];
        const Value* kwv = nullptr;
        for (auto& [k, v] : a.kw)
          if (k == p.name) kwv = &v;
        if (kwv) frame->vars[p.name] = *kwv;
        else if (i < a.pos.size()) frame->vars[p.name] = a.pos[i];
        else if (p.default_value) frame->vars[p.name] = self->eval(*p.default_value, frame);
        else frame->vars[p.name] = Value::undefined(p.name, str_cat("parameter '", p.name, "' was not provided"));
        npos = i + 1;
      }
      for (size_t i = npos; i < a.pos.size(); ++i) varargs.push_back(a.pos[i]);
      Value kwargs = Value::dict();
      for (auto& [k, v] : a.kw) {
        bool is_param = false;
        for (auto& p : node->params) is_param |= p.name == k;
        if (k == "caller") frame->vars["caller"] = v;
        else if (!is_param) kwargs.dict_ref().set(Value(k), v);
      }
      frame->vars["varargs"] = Value::tuple(std::move(varargs));
      frame->vars["kwargs"] = kwargs;
      std::string out;
      self->exec(node->body, frame, out);
      return Value(out);
    });
  }
};

}  // namespace

Template::Template(const std::string& source) {
  try {
    body_ = parse_template(source);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // a library error (number out of range, ...)
    throw Error(str_cat("template syntax error: ", e.what()));
  }
}

void charge_steps(uint64_t n) {
  Budget* b = g_budget;
  if (!b) return;
  b->steps += n;
  if (b->steps > b->limits.max_steps)
    throw Error(str_cat("template exceeded the render step limit (", b->limits.max_steps, " steps)"));
}

void check_size(uint64_t size, const char* what) {
  Budget* b = g_budget;
  if (b && size > b->limits.max_output_bytes)
    throw Error(str_cat("template ", what, " exceeded the size limit (", b->limits.max_output_bytes, " bytes)"));
}

std::string Template::render(const Value& context, const RenderLimits& limits) const {
  auto root = std::make_shared<Frame>();
  Dict globals;
  add_default_globals(globals);
  for (auto& [k, v] : globals.entries) root->vars[k.as_string()] = v;
  if (context.is_dict())
    for (auto& [k, v] : context.dict_ref().entries) root->vars[k.str()] = v;
  auto top = std::make_shared<Frame>();
  top->parent = root;
  Renderer r(limits.max_call_depth);
  std::string out;
  Budget budget{limits};
  struct Install {  // the budget builtins see; restored on the way out, even by an exception
    Budget* prev;
    explicit Install(Budget* b) : prev(g_budget) { g_budget = b; }
    ~Install() { g_budget = prev; }
  } install(&budget);
  try {
    r.exec(body_, top, out);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(str_cat("template error: ", e.what()));
  }
  return out;
}

}  // namespace tritium::jinja
