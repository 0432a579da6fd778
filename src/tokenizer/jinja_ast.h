// Jinja syntax tree: expressions and statements produced by the parser, walked by the evaluator.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace tritium::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum class K {
    Literal,   // value
    Name,      // name
    List,      // args
    Tuple,     // args
    Dict,      // args = k0, v0, k1, v1, ...
    GetAttr,   // a.name
    GetItem,   // a[b]
    Slice,     // a[b:c:d] (null parts are omitted)
    Call,      // a(args, kwargs)
    Filter,    // a | name(args, kwargs)
    Test,      // a is [not] name(args)   (negated)
    Neg,       // -a
    Pos,       // +a
    Not,       // not a
    Binary,    // a name b, name in + - * / // % ** ~
    Compare,   // a ops[0] args[0] ops[1] args[1] ...
    And,
    Or,
    Cond,      // a if b else c (c may be null)
  };
  K k;
  int line = 0, col = 0;
  Value literal;
  std::string name;
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using NodePtr = std::shared_ptr<Node>;
using Body = std::vector<NodePtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct Node {
  enum class K {
    Text,         // text
    Print,        // expr
    If,           // branches (cond, body); else_body
    For,          // targets, expr (iterable), cond (loop filter), body, else_body
    Set,          // target expr (Name, Tuple of names or GetAttr on a namespace), expr
    SetBlock,     // name, body, filter (optional)
    Macro,        // name, params, body
    CallBlock,    // expr (the call), params (caller's), body
    FilterBlock,  // filter expr (Filter node whose `a` is null), body
    With,         // assigns, body
    Break,
    Continue,
    Scope,        // body rendered as is (generation blocks)
  };
  K k;
  int line = 0, col = 0;
  std::string text;
  ExprPtr expr, cond, target;
  std::vector<std::string> targets;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::vector<MacroParam> params;
  std::vector<std::pair<std::string, ExprPtr>> assigns;
};

}  // namespace tritium::jinja
