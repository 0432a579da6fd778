// Jinja lexer (see jinja_lexer.h). Whitespace rules follow Jinja2's documented behaviour:
// `-` on a tag strips all whitespace on that side; lstrip_blocks removes spaces and tabs
// between a line start and a block/comment tag; trim_blocks removes the first newline after a
// block/comment tag; a single trailing newline of the template is dropped.
#include "tokenizer/jinja_lexer.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "tokenizer/jinja_value.h"

namespace tritium::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip_ws(const std::string& s) {
  size_t n = s.size();
  while (n > 0 && is_space(s[n - 1])) --n;
  return s.substr(0, n);
}

class Lexer {
 public:
  Lexer(std::string src, const LexOptions& o) : s_(std::move(src)), opts_(o) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < s_.size()) {
      size_t start = find_tag(pos);
      std::string data = s_.substr(pos, (start == std::string::npos ? s_.size() : start) - pos);
      if (start == std::string::npos) {
        push_data(data, pos);
        break;
      }
      char kind = s_[start + 1];  // '{', '%' or '#'
      char mod = start + 2 < s_.size() ? s_[start + 2] : '\0';
      if (mod == '-') {
        data = rstrip_ws(data);
      } else if (mod != '+' && opts_.lstrip_blocks && kind != '{') {
        size_t l_pos = data.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 || line_starting) {
          bool all_ws = l_pos < data.size();
          for (size_t i = l_pos; i < data.size(); ++i)
            if (!is_space(data[i])) all_ws = false;
          if (all_ws) data = data.substr(0, l_pos);
        }
      }
      push_data(data, pos);
      size_t inner = start + 2 + ((mod == '-' || mod == '+') ? 1 : 0);
      std::string consumed_end;
      if (kind == '#') {
        pos = lex_comment(start, inner, consumed_end);
      } else if (kind == '%' && is_raw(inner)) {
        pos = lex_raw(start, inner, consumed_end);
      } else {
        pos = lex_tag(start, inner, kind == '%', consumed_end);
      }
      line_starting = !consumed_end.empty() && consumed_end.back() == '\n';
    }
    tokens_.push_back(Token{Tok::Eof, "", line_of(s_.size()), col_of(s_.size())});
    return std::move(tokens_);
  }

 private:
  std::string s_;
  LexOptions opts_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;

  int line_of(size_t off) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
    return static_cast<int>(it - line_starts_.begin());
  }
  int col_of(size_t off) const { return static_cast<int>(off - line_starts_[line_of(off) - 1]) + 1; }

  [[noreturn]] void fail(size_t off, const std::string& msg) const {
    throw Error(str_cat("template syntax error at line ", line_of(off), ", column ", col_of(off), ": ", msg));
  }

  size_t find_tag(size_t pos) const {
    while (true) {
      size_t p = s_.find('{', pos);
      if (p == std::string::npos || p + 1 >= s_.size()) return std::string::npos;
      char c = s_[p + 1];
      if (c == '{' || c == '%' || c == '#') return p;
      pos = p + 1;
    }
  }

  void push_data(const std::string& data, size_t off) {
    if (!data.empty()) tokens_.push_back(Token{Tok::Data, data, line_of(off), col_of(off)});
  }

  // After an end marker: `-` strips all following whitespace; a plain block end eats one newline.
  size_t after_end(size_t p, char mod, bool block, std::string& consumed) {
    size_t q = p;
    if (mod == '-') {
      while (q < s_.size() && is_space(s_[q])) ++q;
    } else if (mod != '+' && block && opts_.trim_blocks && q < s_.size() && s_[q] == '\n') {
      ++q;
    }
    consumed = s_.substr(p > 0 ? p - 1 : 0, q - (p > 0 ? p - 1 : 0));
    return q;
  }

  size_t lex_comment(size_t start, size_t inner, std::string& consumed) {
    size_t e = s_.find("#}", inner);
    if (e == std::string::npos) fail(start, "unclosed comment (missing '#}')");
    char mod = (e > inner && (s_[e - 1] == '-' || s_[e - 1] == '+')) ? s_[e - 1] : '\0';
    return after_end(e + 2, mod, true, consumed);
  }

  size_t skip_ws(size_t p) const {
    while (p < s_.size() && is_space(s_[p])) ++p;
    return p;
  }

  bool word_at(size_t p, const char* w) const {
    size_t n = std::char_traits<char>::length(w);
    if (s_.compare(p, n, w) != 0) return false;
    return p + n >= s_.size() || !(std::isalnum(static_cast<unsigned char>(s_[p + n])) || s_[p + n] == '_');
  }

  bool is_raw(size_t inner) const {
    size_t p = skip_ws(inner);
    if (!word_at(p, "raw")) return false;
    p = skip_ws(p + 3);
    if (p < s_.size() && s_[p] == '-') ++p;
    return s_.compare(p, 2, "%}") == 0;
  }

  size_t lex_raw(size_t start, size_t inner, std::string& consumed) {
    size_t p = skip_ws(skip_ws(inner) + 3);
    char mod = '\0';
    if (s_[p] == '-') {
      mod = '-';
      ++p;
    }
    p += 2;
    if (mod == '-') p = skip_ws(p);
    size_t body_start = p;
    // Find `{% endraw %}` (with optional whitespace control).
    size_t q = body_start;
    while (true) {
      size_t t = s_.find("{%", q);
      if (t == std::string::npos) fail(start, "missing '{% endraw %}' for this raw block");
      size_t r = t + 2;
      char bmod = (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) ? s_[r] : '\0';
      if (bmod) ++r;
      r = skip_ws(r);
      if (!word_at(r, "endraw")) {
        q = t + 2;
        continue;
      }
      r = skip_ws(r + 6);
      char emod = '\0';
      if (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) emod = s_[r++];
      if (s_.compare(r, 2, "%}") != 0) fail(t, "expected '%}' after endraw");
      std::string body = s_.substr(body_start, t - body_start);
      if (bmod == '-') {
        body = rstrip_ws(body);
      } else if (bmod != '+' && opts_.lstrip_blocks) {
        size_t l_pos = body.rfind('\n');
        if (l_pos != std::string::npos) {
          bool all_ws = l_pos + 1 < body.size();
          for (size_t i = l_pos + 1; i < body.size(); ++i)
            if (!is_space(body[i])) all_ws = false;
          if (all_ws) body = body.substr(0, l_pos + 1);
        }
      }
      push_data(body, body_start);
      return after_end(r + 2, emod, true, consumed);
    }
  }

  size_t lex_tag(size_t start, size_t p, bool block, std::string& consumed) {
    tokens_.push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, "", line_of(start), col_of(start)});
    int depth = 0;  // bracket balance, so `}}` inside a dict literal is not the end
    while (true) {
      p = skip_ws(p);
      if (p >= s_.size()) fail(start, block ? "unclosed block tag (missing '%}')" : "unclosed variable tag (missing '}}')");
      // End markers.
      const char* end = block ? "%}" : "}}";
      for (char mod : {'-', '+', '\0'}) {
        if (mod == '+' && !block) continue;
        size_t q = p + (mod ? 1 : 0);
        if (mod && s_[p] != mod) continue;
        if (depth == 0 && s_.compare(q, 2, end) == 0) {
          tokens_.push_back(Token{block ? Tok::BlockEnd : Tok::VarEnd, "", line_of(p), col_of(p)});
          return after_end(q + 2, mod, block, consumed);
        }
      }
      char c = s_[p];
      int line = line_of(p), col = col_of(p);
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t q = p;
        while (q < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[q])) || s_[q] == '_')) ++q;
        tokens_.push_back(Token{Tok::Name, s_.substr(p, q - p), line, col});
        p = q;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = lex_number(p);
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "(", ")",
                                    "[", "]", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"};
        bool found = false;
        for (const char* op : ops) {
          size_t n = std::char_traits<char>::length(op);
          if (s_.compare(p, n, op) == 0) {
            if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
            if (n == 1 && (op[0] == ')' || op[0] == ']' || op[0] == '}')) --depth;
            tokens_.push_back(Token{Tok::Op, op, line, col});
            p += n;
            found = true;
            break;
          }
        }
        if (!found) fail(p, str_cat("unexpected character '", std::string(1, c), "'"));
      }
    }
  }

  size_t lex_number(size_t p) {
    size_t q = p;
    auto digits = [&]() {
      while (q < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[q])) || s_[q] == '_')) ++q;
    };
    digits();
    bool is_float = false;
    if (q + 1 < s_.size() && s_[q] == '.' && std::isdigit(static_cast<unsigned char>(s_[q + 1]))) {
      is_float = true;
      ++q;
      digits();
    }
    if (q < s_.size() && (s_[q] == 'e' || s_[q] == 'E')) {
      size_t r = q + 1;
      if (r < s_.size() && (s_[r] == '+' || s_[r] == '-')) ++r;
      if (r < s_.size() && std::isdigit(static_cast<unsigned char>(s_[r]))) {
        is_float = true;
        q = r;
        digits();
      }
    }
    std::string text;
    for (size_t i = p; i < q; ++i)
      if (s_[i] != '_') text += s_[i];
    tokens_.push_back(Token{is_float ? Tok::Float : Tok::Int, text, line_of(p), col_of(p)});
    return q;
  }

  size_t lex_string(size_t p) {
    char quote = s_[p];
    std::string out;
    size_t q = p + 1;
    auto hex = [&](size_t at, int n) -> char32_t {
      if (at + n > s_.size()) fail(at, "truncated escape in string literal");
      char32_t v = 0;
      for (int k = 0; k < n; ++k) {
        char h = s_[at + k];
        if (!std::isxdigit(static_cast<unsigned char>(h))) fail(at, "invalid escape in string literal");
        v = v * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      if (v > 0x10FFFF) fail(at, "escape out of Unicode range");
      return v;
    };
    while (true) {
      if (q >= s_.size()) fail(p, "unterminated string literal");
      char c = s_[q];
      if (c == quote) break;
      if (c == '\\' && q + 1 < s_.size()) {
        char e = s_[q + 1];
        q += 2;
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '\\': out += '\\'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case 'a': out += '\a'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case '\n': break;
          case 'x': utf8_append(out, hex(q, 2)); q += 2; break;
          case 'u': utf8_append(out, hex(q, 4)); q += 4; break;
          case 'U': utf8_append(out, hex(q, 8)); q += 8; break;
          default:
            if (e >= '0' && e <= '7') {
              int v = e - '0', n = 1;
              while (n < 3 && q < s_.size() && s_[q] >= '0' && s_[q] <= '7') v = v * 8 + (s_[q++] - '0'), ++n;
              utf8_append(out, static_cast<char32_t>(v));
            } else {
              out += '\\';
              out += e;
            }
        }
        continue;
      }
      out += c;
      ++q;
    }
    tokens_.push_back(Token{Tok::String, out, line_of(p), col_of(p)});
    return q + 1;
  }
};

}  // namespace

std::vector<Token> lex(const std::string& source, const LexOptions& opts) {
  // Normalise newlines as Jinja2 does, then drop one trailing newline.
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s += source[i];
    }
  }
  if (!opts.keep_trailing_newline && !s.empty() && s.back() == '\n') s.pop_back();
  return Lexer(std::move(s), opts).run();
}

}  // namespace tritium::jinja
