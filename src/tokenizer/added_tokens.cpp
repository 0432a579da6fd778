// Added-token matching (see added_tokens.h).
#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace tritium::tok {

void TokenTrie::clear() {
  edges_.clear();
  values_.assign(1, -1);
  first_bytes_.assign(256, 0);
}

void TokenTrie::insert(std::string_view s, int32_t value) {
  uint32_t node = 0;
  for (unsigned char c : s) {
    uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
    auto it = edges_.find(key);
    if (it == edges_.end()) {
      uint32_t n = static_cast<uint32_t>(values_.size());
      values_.push_back(-1);
      it = edges_.emplace(key, n).first;
    }
    node = it->second;
  }
  if (!s.empty()) first_bytes_[static_cast<unsigned char>(s[0])] = 1;
  // The first token registered for a string wins (as the reference's automaton does).
  if (values_[node] < 0) values_[node] = value;
}

int32_t TokenTrie::longest_at(std::string_view s, size_t pos, size_t* len) const {
  if (!first_bytes_[static_cast<unsigned char>(s[pos])]) return -1;
  uint32_t node = 0;
  int32_t best = -1;
  for (size_t i = pos; i < s.size(); ++i) {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(s[i]));
    if (it == edges_.end()) break;
    node = it->second;
    if (values_[node] >= 0) {
      best = values_[node];
      *len = i + 1 - pos;
    }
  }
  return best;
}

void AddedVocab::set(std::vector<AddedToken> tokens) {
  tokens_.clear();
  by_id_.clear();
  by_content_.clear();
  for (auto& t : tokens) {
    auto it = by_id_.find(t.id);
    if (it != by_id_.end()) {
      by_content_.erase(tokens_[it->second].content);
      tokens_[it->second] = t;
      by_content_[t.content] = it->second;
      continue;
    }
    by_id_[t.id] = tokens_.size();
    by_content_.emplace(t.content, tokens_.size());
    tokens_.push_back(t);
  }
}

const AddedToken* AddedVocab::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocab::by_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

namespace {
char32_t last_char(std::string_view s, size_t end) {
  size_t k = end - 1;
  while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
  return utf8_decode(s, k, nullptr);
}
}  // namespace

std::vector<AddedSplit> AddedVocab::split(std::string_view s, bool normalized_kind, bool parse_special) const {
  const TokenTrie& trie = normalized_kind ? norm_ : raw_;
  std::vector<AddedSplit> out;
  if (s.empty()) return out;
  if (trie.empty()) {
    out.push_back({0, s.size(), -1});
    return out;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t len = 0;
    int32_t idx = trie.longest_at(s, pos, &len);
    if (idx < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // the automaton resumes after this match even when it is discarded
    const AddedToken& t = tokens_[idx];
    if (!parse_special && t.special) continue;
    if (t.single_word) {
      bool start_space = start == 0 || !is_word_char(last_char(s, start));
      bool stop_space = stop == s.size() || !is_word_char(utf8_decode(s, stop, nullptr));
      if (!start_space || !stop_space) continue;
    }
    if (t.lstrip) {
      size_t ns = start;
      while (ns > 0) {
        size_t k = ns - 1;
        while (k > 0 && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80) --k;
        if (!is_whitespace(utf8_decode(s, k, nullptr))) break;
        ns = k;
      }
      start = std::max(ns, start_offset);
    }
    if (t.rstrip) {
      while (stop < s.size()) {
        size_t n;
        if (!is_whitespace(utf8_decode(s, stop, &n))) break;
        stop += n;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset < s.size()) out.push_back({start_offset, s.size(), -1});
  return out;
}

}  // namespace tritium::tok
