// Jinja parser (see jinja_parser.h): recursive descent with Jinja2's precedence levels:
// conditional < or < and < not < comparison < + - < ~ < * / // % < ** < unary, filters, postfix.
#include "tokenizer/jinja_parser.h"

#include <set>

#include "core/error.h"
#include "tokenizer/jinja_lexer.h"

namespace tritium::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    std::string end;
    Body b = parse_body({}, end);
    return b;
  }

 private:
  static constexpr int kMaxDepth = 200;
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;

  const Token& cur() const { return t_[p_]; }
  const Token& peek(size_t n = 1) const { return t_[std::min(p_ + n, t_.size() - 1)]; }
  const Token& next() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }

  [[noreturn]] void fail(const Token& at, const std::string& msg) const {
    throw Error(str_cat("template syntax error at line ", at.line, ", column ", at.col, ": ", msg));
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Eof: return "end of template";
      case Tok::BlockEnd: return "end of statement block";
      case Tok::VarEnd: return "end of print statement";
      case Tok::String: return "string";
      default: return str_cat("'", t.text, "'");
    }
  }

  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(cur(), str_cat("expected '", op, "', got ", describe(cur())));
  }
  void expect_name_kw(const char* n) {
    if (!accept_name(n)) fail(cur(), str_cat("expected '", n, "', got ", describe(cur())));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail(cur(), str_cat("expected a name, got ", describe(cur())));
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) fail(cur(), str_cat("expected end of statement block, got ", describe(cur())));
    next();
  }

  ExprPtr make(Expr::K k, const Token& at) {
    auto e = std::make_shared<Expr>();
    e->k = k;
    e->line = at.line;
    e->col = at.col;
    return e;
  }

  // ---- statements ----

  // Parses nodes until a block tag whose name is in `ends` (left unconsumed after the name).
  Body parse_body(const std::set<std::string>& ends, std::string& end_found) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (!ends.empty()) {
          std::string names;
          for (auto& e : ends) {
            names += names.empty() ? "'" : " or '";
            names += e;
            names += '\'';
          }
          fail(t, str_cat("unexpected end of template, expected ", names));
        }
        return body;
      }
      if (t.type == Tok::Data) {
        auto n = std::make_shared<Node>();
        n->k = Node::K::Text;
        n->text = t.text;
        n->line = t.line;
        n->col = t.col;
        body.push_back(n);
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto n = std::make_shared<Node>();
        n->k = Node::K::Print;
        n->line = t.line;
        n->col = t.col;
        n->expr = parse_tuple(true);
        if (cur().type != Tok::VarEnd) fail(cur(), str_cat("expected end of print statement, got ", describe(cur())));
        next();
        body.push_back(n);
      } else if (t.type == Tok::BlockBegin) {
        const Token& name = peek();
        if (name.type != Tok::Name) fail(name, "expected a statement name after '{%'");
        if (ends.count(name.text)) {
          next();
          next();
          end_found = name.text;
          return body;
        }
        next();
        body.push_back(parse_statement());
      } else {
        fail(t, str_cat("unexpected ", describe(t)));
      }
    }
  }

  NodePtr new_node(Node::K k, const Token& at) {
    auto n = std::make_shared<Node>();
    n->k = k;
    n->line = at.line;
    n->col = at.col;
    return n;
  }

  NodePtr parse_statement() {
    struct DepthGuard {
      int& d;
      explicit DepthGuard(int& x) : d(x) { ++d; }
      ~DepthGuard() { --d; }
    } guard(depth_);
    if (depth_ > kMaxDepth) fail(cur(), str_cat("blocks nested too deeply (more than ", kMaxDepth, " levels)"));
    Token tag = next();
    const std::string& w = tag.text;
    std::string end;
    if (w == "if") {
      auto n = new_node(Node::K::If, tag);
      ExprPtr c = parse_expression(true);
      expect_block_end();
      while (true) {
        Body b = parse_body({"elif", "else", "endif"}, end);
        n->branches.emplace_back(c, std::move(b));
        if (end == "elif") {
          c = parse_expression(true);
          expect_block_end();
          continue;
        }
        if (end == "else") {
          expect_block_end();
          n->else_body = parse_body({"endif"}, end);
        }
        expect_block_end();
        return n;
      }
    }
    if (w == "for") {
      auto n = new_node(Node::K::For, tag);
      bool paren = accept_op("(");
      n->targets.push_back(expect_name());
      while (accept_op(",")) {
        if (is_name("in") || is_op(")")) break;
        n->targets.push_back(expect_name());
      }
      if (paren) expect_op(")");
      expect_name_kw("in");
      n->expr = parse_tuple(false);
      if (accept_name("if")) n->cond = parse_expression(true);
      if (is_name("recursive")) fail(cur(), "recursive for loops are not supported");
      expect_block_end();
      n->body = parse_body({"else", "endfor"}, end);
      if (end == "else") {
        expect_block_end();
        n->else_body = parse_body({"endfor"}, end);
      }
      expect_block_end();
      return n;
    }
    if (w == "set") {
      Token at = cur();
      std::string first = expect_name();
      ExprPtr target;
      if (accept_op(".")) {
        target = make(Expr::K::GetAttr, at);
        target->a = make(Expr::K::Name, at);
        target->a->name = first;
        target->name = expect_name();
      } else {
        target = make(Expr::K::Name, at);
        target->name = first;
        if (is_op(",")) {
          auto tup = make(Expr::K::Tuple, at);
          tup->args.push_back(target);
          while (accept_op(",")) {
            if (is_op("=")) break;
            auto nm = make(Expr::K::Name, cur());
            nm->name = expect_name();
            tup->args.push_back(nm);
          }
          target = tup;
        }
      }
      if (accept_op("=")) {
        auto n = new_node(Node::K::Set, tag);
        n->target = target;
        n->expr = parse_tuple(true);
        expect_block_end();
        return n;
      }
      if (target->k != Expr::K::Name) fail(at, "a block set needs a single name");
      auto n = new_node(Node::K::SetBlock, tag);
      n->text = target->name;
      if (is_op("|")) n->expr = parse_filter_chain(nullptr);
      expect_block_end();
      n->body = parse_body({"endset"}, end);
      expect_block_end();
      return n;
    }
    if (w == "macro") {
      auto n = new_node(Node::K::Macro, tag);
      n->text = expect_name();
      n->params = parse_params();
      expect_block_end();
      n->body = parse_body({"endmacro"}, end);
      if (cur().type == Tok::Name) next();  // optional macro name after endmacro
      expect_block_end();
      return n;
    }
    if (w == "call") {
      auto n = new_node(Node::K::CallBlock, tag);
      if (is_op("(")) n->params = parse_params();
      n->expr = parse_expression(true);
      if (n->expr->k != Expr::K::Call) fail(tag, "expected a call after 'call'");
      expect_block_end();
      n->body = parse_body({"endcall"}, end);
      expect_block_end();
      return n;
    }
    if (w == "filter") {
      auto n = new_node(Node::K::FilterBlock, tag);
      n->expr = parse_filter_chain(nullptr, true);
      expect_block_end();
      n->body = parse_body({"endfilter"}, end);
      expect_block_end();
      return n;
    }
    if (w == "with") {
      auto n = new_node(Node::K::With, tag);
      while (cur().type != Tok::BlockEnd) {
        if (!n->assigns.empty()) expect_op(",");
        std::string name = expect_name();
        expect_op("=");
        n->assigns.emplace_back(name, parse_expression(true));
      }
      expect_block_end();
      n->body = parse_body({"endwith"}, end);
      expect_block_end();
      return n;
    }
    if (w == "generation") {
      auto n = new_node(Node::K::Scope, tag);
      expect_block_end();
      n->body = parse_body({"endgeneration"}, end);
      expect_block_end();
      return n;
    }
    if (w == "break" || w == "continue") {
      auto n = new_node(w == "break" ? Node::K::Break : Node::K::Continue, tag);
      expect_block_end();
      return n;
    }
    if (w == "include" || w == "import" || w == "from" || w == "extends" || w == "block")
      fail(tag, str_cat("'", w, "' is not supported: chat templates have no access to other files"));
    fail(tag, str_cat("unknown tag '", w, "'"));
  }

  std::vector<MacroParam> parse_params() {
    std::vector<MacroParam> params;
    expect_op("(");
    while (!accept_op(")")) {
      if (!params.empty()) expect_op(",");
      if (accept_op(")")) break;
      MacroParam p;
      p.name = expect_name();
      if (accept_op("=")) p.default_value = parse_expression(true);
      params.push_back(std::move(p));
    }
    return params;
  }

  // ---- expressions ----

  ExprPtr parse_tuple(bool with_condexpr) {
    const Token& at = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
      if (!items.empty()) {
        if (!accept_op(",")) break;
        is_tuple = true;
        if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")") || is_name("if")) break;
      }
      items.push_back(parse_expression(with_condexpr));
    }
    if (!is_tuple) return items[0];
    auto t = make(Expr::K::Tuple, at);
    t->args = std::move(items);
    return t;
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      Token at = next();
      auto c = make(Expr::K::Cond, at);
      c->a = e;
      c->b = parse_or();
      if (accept_name("else")) c->c = parse_condexpr();
      e = c;
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      Token at = next();
      auto n = make(Expr::K::Or, at);
      n->a = e;
      n->b = parse_and();
      e = n;
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      Token at = next();
      auto n = make(Expr::K::And, at);
      n->a = e;
      n->b = parse_not();
      e = n;
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Token at = next();
      auto n = make(Expr::K::Not, at);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    Token at = cur();
    ExprPtr e = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op &&
          (cur().text == "==" || cur().text == "!=" || cur().text == "<" || cur().text == "<=" || cur().text == ">" ||
           cur().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::K::Compare, at);
        cmp->a = e;
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? cmp : e;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr l, ExprPtr r) {
    auto n = make(Expr::K::Binary, at);
    n->name = op;
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      Token at = next();
      e = binary(at, at.text, e, parse_concat());
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      Token at = next();
      e = binary(at, "~", e, parse_math2());
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      Token at = next();
      e = binary(at, at.text, e, parse_pow());
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      Token at = next();
      e = binary(at, "**", e, parse_unary(true));
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    // Bounded nesting: deeply nested input must give an error, not overflow the stack.
    struct DepthGuard {
        int& d;
        explicit DepthGuard(int& x) : d(x) { ++d; }
        ~DepthGuard() { --d; }
    } guard(depth_);
    if (depth_ > kMaxDepth) fail(cur(), str_cat("expression nested too deeply (more than ", kMaxDepth, " levels)"));
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      Token at = next();
      e = make(at.text == "-" ? Expr::K::Neg : Expr::K::Pos, at);
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(e);
    if (with_filter) e = parse_filter_expr(e);
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    switch (t.type) {
      case Tok::Name: {
        next();
        auto e = make(Expr::K::Literal, t);
        if (t.text == "true" || t.text == "True") e->literal = Value(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else {
          e->k = Expr::K::Name;
          e->name = t.text;
        }
        return e;
      }
      case Tok::String: {
        auto e = make(Expr::K::Literal, t);
        std::string s;
        while (cur().type == Tok::String) s += next().text;
        e->literal = Value(std::move(s));
        return e;
      }
      case Tok::Int: {
        next();
        auto e = make(Expr::K::Literal, t);
        try {
          e->literal = Value(static_cast<int64_t>(std::stoll(t.text)));
        } catch (const std::exception&) {
          fail(t, "integer literal out of range");
        }
        return e;
      }
      case Tok::Float: {
        next();
        auto e = make(Expr::K::Literal, t);
        e->literal = Value(std::stod(t.text));
        return e;
      }
      case Tok::Op: {
        if (t.text == "(") {
          next();
          if (accept_op(")")) {
            auto e = make(Expr::K::Tuple, t);
            return e;
          }
          ExprPtr e = parse_tuple(true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          next();
          auto e = make(Expr::K::List, t);
          while (!accept_op("]")) {
            if (!e->args.empty()) expect_op(",");
            if (accept_op("]")) break;
            e->args.push_back(parse_expression(true));
          }
          return e;
        }
        if (t.text == "{") {
          next();
          auto e = make(Expr::K::Dict, t);
          while (!accept_op("}")) {
            if (!e->args.empty()) expect_op(",");
            if (accept_op("}")) break;
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
          }
          return e;
        }
        break;
      }
      default: break;
    }
    fail(t, str_cat("unexpected ", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (is_op(".") || is_op("[")) e = parse_subscript(e);
      else if (is_op("(")) e = parse_call(e);
      else return e;
    }
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) e = parse_filter_chain(e);
      else if (is_name("is")) e = parse_test(e);
      else if (is_op("(")) e = parse_call(e);
      else return e;
    }
  }

  ExprPtr parse_subscript(ExprPtr e) {
    Token at = next();
    if (at.text == ".") {
      auto n = make(Expr::K::GetAttr, at);
      n->a = e;
      if (cur().type == Tok::Int) {
        n->k = Expr::K::GetItem;
        auto idx = make(Expr::K::Literal, cur());
        idx->literal = Value(static_cast<int64_t>(std::stoll(next().text)));
        n->b = idx;
        return n;
      }
      n->name = expect_name();
      return n;
    }
    // '[' : index or slice
    ExprPtr parts[3];
    int part = 0;
    bool is_slice = false;
    while (!is_op("]")) {
      if (is_op(":")) {
        next();
        is_slice = true;
        if (++part > 2) fail(at, "too many ':' in slice");
        continue;
      }
      parts[part] = parse_expression(true);
      if (!is_op(":") && !is_op("]")) fail(cur(), str_cat("expected ']' , got ", describe(cur())));
    }
    next();
    if (!is_slice) {
      if (!parts[0]) fail(at, "empty subscript");
      auto n = make(Expr::K::GetItem, at);
      n->a = e;
      n->b = parts[0];
      return n;
    }
    auto n = make(Expr::K::Slice, at);
    n->a = e;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
  }

  void parse_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!accept_op(")")) {
      if (!first) {
        expect_op(",");
        if (accept_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail(cur(), "*args and **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string k = next().text;
        next();
        call.kwargs.emplace_back(k, parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail(cur(), "positional argument follows keyword argument");
        call.args.push_back(parse_expression(true));
      }
    }
  }

  ExprPtr parse_call(ExprPtr e) {
    auto n = make(Expr::K::Call, cur());
    n->a = e;
    parse_args(*n);
    return n;
  }

  // `| name(args) | name ...`; with `bare` the first filter has no leading '|' (filter blocks).
  ExprPtr parse_filter_chain(ExprPtr e, bool bare = false) {
    bool first = true;
    while (is_op("|") || (bare && first)) {
      if (!(bare && first)) next();
      first = false;
      Token at = cur();
      auto f = make(Expr::K::Filter, at);
      f->name = expect_name();
      while (is_op(".")) {
        next();
        f->name += '.';
        f->name += expect_name();
      }
      f->a = e;
      if (is_op("(")) parse_args(*f);
      e = f;
    }
    return e;
  }

  ExprPtr parse_test(ExprPtr e) {
    Token at = next();  // 'is'
    auto t = make(Expr::K::Test, at);
    t->a = e;
    if (accept_name("not")) t->negated = true;
    t->name = expect_name();
    if (is_op("(")) {
      parse_args(*t);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail(cur(), "You cannot chain multiple tests with is");
      t->args.push_back(parse_postfix(parse_primary()));
    }
    return t;
  }
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(lex(source)).parse_all(); }

}  // namespace tritium::jinja
