// The BPE model of tokenizer.json: vocab, merges (ranked pairs), byte_fallback, unk handling,
// continuing_subword_prefix / end_of_word_suffix, ignore_merges, and a word cache.
#pragma once
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tritium::tok {

struct StrHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StrMap = std::unordered_map<std::string, int32_t, StrHash, std::equal_to<>>;

class BpeModel {
 public:
  explicit BpeModel(const nlohmann::json& model);
  // Appends the ids of one pre-token.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;
  std::optional<int32_t> token_to_id(std::string_view t) const;
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_.size(); }
  const StrMap& vocab() const { return vocab_; }

 private:
  void merge_word(std::string_view w, std::vector<int32_t>& out) const;

  StrMap vocab_;
  std::vector<std::string> vocab_r_;
  std::vector<bool> has_r_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (a,b) -> (rank, new id)
  std::optional<std::string> unk_, prefix_, suffix_;
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;
  int32_t byte_ids_[256];

  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> cache_;
};

}  // namespace tritium::tok
