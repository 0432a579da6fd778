// UTF-8 helpers, Unicode character classes and a PCRE2 regex wrapper for the tokenizer.
// Character classes follow Rust's definitions (char::is_whitespace etc.), because the
// reference implementation (Hugging Face `tokenizers`) is written in Rust.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tritium::tok {

// Decodes the code point at s[i] (s must be valid UTF-8); sets len to its byte length.
char32_t utf8_decode(std::string_view s, size_t i, size_t* len);
// Length in bytes of the UTF-8 sequence that starts with lead byte c (1 for stray bytes).
inline size_t utf8_len(unsigned char c) {
  return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
}
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(char32_t cp);
// Code points of a valid UTF-8 string.
std::vector<char32_t> utf8_to_cps(std::string_view s);

// Valid UTF-8 check and lossy conversion: each maximal invalid subpart becomes U+FFFD,
// as Rust's String::from_utf8_lossy does.
bool utf8_valid(std::string_view s);
std::string utf8_lossy(std::string_view bytes);
// Number of bytes at the end of s that form an incomplete (but so far valid) UTF-8 sequence.
size_t utf8_incomplete_tail(std::string_view s);

// Rust char::is_whitespace (White_Space property).
bool is_whitespace(char32_t c);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// Rust char::is_alphanumeric, approximated by general categories L* and N*.
bool is_alphanumeric(char32_t c);
// `\w` of Rust's regex crate (Unicode word characters).
bool is_word_char(char32_t c);
// tokenizers' punctuation test: ASCII punctuation or general category P*.
bool is_punctuation(char32_t c);

// GPT-2 byte-level alphabet: byte -> code point, and the inverse (-1 if not in the alphabet).
char32_t byte_to_char(uint8_t b);
int char_to_byte(char32_t c);

// A compiled PCRE2 regex (UTF + UCP, JIT when available). Patterns written for Oniguruma
// (what the reference uses) are rewritten so \s, \S, \w, \W mean the same thing.
class Regex {
 public:
  Regex() = default;
  Regex(const std::string& pattern, const std::string& what);
  Regex(Regex&& o) noexcept;
  Regex& operator=(Regex&& o) noexcept;
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex();
  // Non-overlapping matches, left to right, as Oniguruma's find_iter yields them
  // (empty matches included, except one right after the previous match's end).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;
  bool valid() const { return code_ != nullptr; }

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

// Escapes a literal string so it can be used as a PCRE2 pattern.
std::string regex_escape(std::string_view s);

}  // namespace tritium::tok
