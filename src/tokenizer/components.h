// Internal pipeline pieces of a tokenizer.json tokenizer: normalized strings with offsets,
// normalizers, pre-tokenizers, decoders and post-processors, each built from its JSON.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/unicode.h"

namespace tritium::tok {

using json = nlohmann::json;

// A piece of text being normalized / pre-tokenized. al[i] is the offset, in the original
// input, of the character that produced byte i of s (only starts of pieces are consulted).
struct NString {
  std::string s;
  std::vector<uint32_t> al;
  uint32_t orig_end = 0;  // original offset just past this piece

  static NString from_original(std::string_view text, uint32_t base);
  uint32_t orig_start() const { return al.empty() ? orig_end : al[0]; }
  NString sub(size_t a, size_t b) const;
};

// Builds a new NString from chunks: each (text, original offset) pair.
struct NStringBuilder {
  NString out;
  void add(std::string_view text, uint32_t orig) {
    out.s.append(text);
    out.al.insert(out.al.end(), text.size(), orig);
  }
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
SplitBehavior parse_split_behavior(const json& j, const std::string& where);

// (range, is_match) covering all of s, as tokenizers' Pattern::find_matches returns them.
using Matches = std::vector<std::pair<std::pair<size_t, size_t>, bool>>;
Matches literal_matches(std::string_view s, std::string_view lit);
Matches regex_matches(std::string_view s, const Regex& re);
template <typename F>
Matches char_matches(std::string_view s, F pred);
// Splits n at the matches with the given behavior; empty pieces are dropped.
void split_by(const NString& n, Matches m, SplitBehavior b, std::vector<NString>& out);

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NString& n) const = 0;
};
std::unique_ptr<Normalizer> make_normalizer(const json& j);  // null json -> nullptr

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits each piece further (in place).
  virtual void pre_tokenize(std::vector<NString>& pieces) const = 0;
};
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j);

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
  // The bytes one token stands for in the middle of a text, in place: no start- or end-of-text
  // effects (a stripped leading space), invalid UTF-8 kept as it is (a byte token's byte).
  virtual void token_bytes(std::string& t) const {
    std::vector<std::string> v{std::move(t)};
    decode_chain(v);
    t.clear();
    for (auto& x : v) t += x;
  }
};
std::unique_ptr<Decoder> make_decoder(const json& j);

// Resolves token strings to ids for post-processors.
class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds special tokens around one sequence of ids (only when add_special is true).
  virtual void process(std::vector<int32_t>& ids, bool add_special) const = 0;
  virtual size_t added_tokens(bool is_pair) const = 0;
};
std::unique_ptr<PostProcessor> make_post_processor(const json& j);

// "type" field of a component, with a clear error when it is missing.
std::string component_type(const json& j, const char* kind);
[[noreturn]] void unsupported(const char* kind, const std::string& type);

template <typename F>
Matches char_matches(std::string_view s, F pred) {
  Matches m;
  if (s.empty()) {
    m.push_back({{0, 0}, false});
    return m;
  }
  size_t last = 0, i = 0;
  while (i < s.size()) {
    size_t n;
    char32_t c = utf8_decode(s, i, &n);
    if (pred(c)) {
      if (last < i) m.push_back({{last, i}, false});
      m.push_back({{i, i + n}, true});
      last = i + n;
    }
    i += n;
  }
  if (last < s.size()) m.push_back({{last, s.size()}, false});
  return m;
}

}  // namespace tritium::tok
