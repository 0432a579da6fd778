// UTF-8 helpers, character classes and the PCRE2 wrapper (see unicode.h).
#include "tokenizer/unicode.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <array>
#include <mutex>

#include "core/error.h"

namespace tritium::tok {

char32_t utf8_decode(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = utf8_len(c);
  if (i + n > s.size()) n = 1;
  char32_t cp;
  switch (n) {
    case 1: cp = c; break;
    case 2: cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F); break;
    case 3: cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F); break;
    default:
      cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
  }
  if (len) *len = n;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(char32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

std::vector<char32_t> utf8_to_cps(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t n;
    out.push_back(utf8_decode(s, i, &n));
    i += n;
  }
  return out;
}

namespace {
// Length of the valid sequence at s[i], or 0 with *bad set to the length of the maximal
// invalid subpart (at least 1). "incomplete" is set when the sequence is cut by the end.
size_t utf8_check_at(std::string_view s, size_t i, size_t* bad, bool* incomplete) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  *incomplete = false;
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= s.size()) {
      *incomplete = true;
      *bad = k;
      return 0;
    }
    unsigned char x = b(i + k);
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (x < l || x > h) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}
}  // namespace

bool utf8_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t bad;
    bool inc;
    size_t n = utf8_check_at(s, i, &bad, &inc);
    if (!n) return false;
    i += n;
  }
  return true;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t bad;
    bool inc;
    size_t n = utf8_check_at(s, i, &bad, &inc);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

size_t utf8_incomplete_tail(std::string_view s) {
  size_t start = s.size() >= 3 ? s.size() - 3 : 0;
  for (size_t i = start; i < s.size(); ++i) {
    size_t bad;
    bool inc;
    if (!utf8_check_at(s, i, &bad, &inc) && inc && i + bad == s.size()) return s.size() - i;
  }
  return 0;
}

bool is_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

static utf8proc_category_t cat(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool is_numeric(char32_t c) {
  auto k = cat(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

bool is_alphanumeric(char32_t c) {
  auto k = cat(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || is_numeric(c);
}

bool is_word_char(char32_t c) {
  auto k = cat(c);
  return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
         (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME) || k == UTF8PROC_CATEGORY_ND ||
         k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_PC || c == 0x200C || c == 0x200D;
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  }
  auto k = cat(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

namespace {
// GPT-2's alphabet: printable bytes stand for themselves, the other 68 take 256, 257, ...
struct ByteMaps {
  std::array<char32_t, 256> b2c{};
  std::array<int16_t, 324> c2b{};
  ByteMaps() {
    c2b.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      b2c[b] = keep ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      c2b[b2c[b]] = static_cast<int16_t>(b);
    }
  }
};
const ByteMaps& byte_maps() {
  static const ByteMaps m;
  return m;
}
}  // namespace

char32_t byte_to_char(uint8_t b) { return byte_maps().b2c[b]; }

int char_to_byte(char32_t c) { return c < 324 ? byte_maps().c2b[c] : -1; }

// ---------------------------------------------------------------------------------------
// Regex

namespace {
const char* kWs = "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";
const char* kWord = "\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}\\x{200c}\\x{200d}";

// Rewrites \s \S \w \W so PCRE2 matches the classes Oniguruma uses (White_Space, Unicode word).
std::string rewrite_pattern(const std::string& p) {
  std::string out;
  int depth = 0;  // inside a character class
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char n = p[i + 1];
      if (n == 's' || n == 'w') {
        const char* set = n == 's' ? kWs : kWord;
        out += depth ? std::string(set) : "[" + std::string(set) + "]";
        ++i;
        continue;
      }
      if ((n == 'S' || n == 'W') && !depth) {
        out += "[^" + std::string(n == 'S' ? kWs : kWord) + "]";
        ++i;
        continue;
      }
      out += c;
      out += n;
      ++i;
      continue;
    }
    if (c == '[' && !depth) {
      depth = 1;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (c == '[' && depth && i + 1 < p.size() && p[i + 1] == ':') {
      size_t e = p.find(":]", i + 2);
      if (e != std::string::npos) {
        out += p.substr(i, e + 2 - i);
        i = e + 1;
        continue;
      }
    }
    if (c == ']' && depth) depth = 0;
    out += c;
  }
  return out;
}

pcre2_jit_stack* thread_jit_stack() {
  thread_local struct Holder {
    pcre2_jit_stack* s = pcre2_jit_stack_create(64 * 1024, 16 * 1024 * 1024, nullptr);
    ~Holder() {
      if (s) pcre2_jit_stack_free(s);
    }
  } h;
  return h.s;
}
}  // namespace

std::string regex_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

Regex::Regex(const std::string& pattern, const std::string& what) {
  std::string p = rewrite_pattern(pattern);
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &err, &off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    throw Error(str_cat(what, ": regex ", pattern, " does not compile (", reinterpret_cast<char*>(buf),
                        " at offset ", off, ")"));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT fails
  code_ = code;
}

Regex::Regex(Regex&& o) noexcept : code_(o.code_) { o.code_ = nullptr; }
Regex& Regex::operator=(Regex&& o) noexcept {
  std::swap(code_, o.code_);
  return *this;
}
Regex::~Regex() {
  if (code_) pcre2_code_free(static_cast<pcre2_code*>(code_));
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(code_);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  pcre2_match_context* mc = pcre2_match_context_create(nullptr);
  if (pcre2_jit_stack* js = thread_jit_stack()) pcre2_jit_stack_assign(mc, nullptr, js);
  size_t pos = 0;
  size_t last_end = static_cast<size_t>(-1);
  auto subj = reinterpret_cast<PCRE2_SPTR>(s.data());
  while (pos <= s.size()) {
    int rc = pcre2_match(code, subj, s.size(), pos, PCRE2_NO_UTF_CHECK, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_context_free(mc);
      pcre2_match_data_free(md);
      throw Error(str_cat("tokenizer: regex match failed (PCRE2 error ", rc, ")"));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t a = ov[0], b = ov[1];
    if (a == b && last_end == b) {
      // No empty match right after the previous match: step one character and retry.
      if (pos >= s.size()) break;
      pos += utf8_len(static_cast<unsigned char>(s[pos]));
      continue;
    }
    out.emplace_back(a, b);
    last_end = b;
    if (a == b) {
      if (b >= s.size()) break;
      pos = b + utf8_len(static_cast<unsigned char>(s[b]));
    } else {
      pos = b;
    }
  }
  pcre2_match_context_free(mc);
  pcre2_match_data_free(md);
  return out;
}

}  // namespace tritium::tok
