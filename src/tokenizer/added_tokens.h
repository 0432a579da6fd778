// Added tokens (special or not) and how they are found in user text: a byte trie matched
// leftmost-longest, with single_word / lstrip / rstrip, as tokenizers' AddedVocabulary does.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tritium::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = false;
  // What decode / id_to_token give: the content after normalization for normalized tokens
  // (as the reference stores them).
  std::string stored;
};

// A piece of the input: either an added token (id >= 0) or text to normalize / pre-tokenize.
struct AddedSplit {
  size_t start, end;
  int32_t id;  // -1: plain text
};

class TokenTrie {
 public:
  void clear();
  void insert(std::string_view s, int32_t value);
  // Longest entry that starts at s[pos]: returns its value and sets *len, or -1.
  int32_t longest_at(std::string_view s, size_t pos, size_t* len) const;
  bool empty() const { return values_.size() <= 1; }

 private:
  std::unordered_map<uint64_t, uint32_t> edges_;  // (node << 8 | byte) -> node
  std::vector<int32_t> values_{-1};               // per node
  std::vector<uint8_t> first_bytes_ = std::vector<uint8_t>(256, 0);
};

class AddedVocab {
 public:
  // Tokens in file order; later entries with the same id replace earlier ones.
  void set(std::vector<AddedToken> tokens);
  // normalize_fn: how "normalized" tokens are matched (their content after normalization).
  template <typename F>
  void build(F normalize_fn) {
    raw_.clear();
    norm_.clear();
    for (size_t i = 0; i < tokens_.size(); ++i) {
      AddedToken& t = tokens_[i];
      t.stored = t.normalized ? normalize_fn(t.content) : t.content;
      if (t.content.empty()) continue;
      if (t.normalized) norm_.insert(t.stored, static_cast<int32_t>(i));
      else raw_.insert(t.content, static_cast<int32_t>(i));
    }
  }
  // Splits text at added tokens of one kind (normalized or not).
  std::vector<AddedSplit> split(std::string_view text, bool normalized_kind, bool parse_special) const;
  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool has_normalized() const { return !norm_.empty(); }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_content_;
  TokenTrie raw_, norm_;
};

}  // namespace tritium::tok
