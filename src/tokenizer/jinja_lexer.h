// Jinja lexer: splits template source into data and tag tokens, applying whitespace
// control (`{%-`, `-%}`, `{{-`, `-}}`, `{%+`) and the trim_blocks / lstrip_blocks settings
// that transformers uses (both on). Comments are dropped, `raw` blocks become data.
#pragma once
#include <string>
#include <vector>

namespace tritium::jinja {

enum class Tok {
  Data,        // template text
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,      // text holds the unescaped value
  Int,
  Float,
  Op,          // text holds the operator: + - * / // % ** ~ ( ) [ ] { } == != < <= > >= = . : | ,
  Eof,
};

struct Token {
  Tok type;
  std::string text;
  int line = 1;
  int col = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
};

// Throws tritium::Error naming line and column on malformed input (unclosed tag, bad string).
std::vector<Token> lex(const std::string& source, const LexOptions& opts = {});

}  // namespace tritium::jinja
