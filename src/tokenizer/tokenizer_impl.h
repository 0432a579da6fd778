// Internal state of a Tokenizer (shared by tokenizer.cpp and detokenizer.cpp).
#pragma once
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/components.h"

namespace tritium::tok {

class Impl {
 public:
  Impl(const json& tokenizer_json, const json& config, const std::string& source);
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
  std::string decode(const int32_t* ids, size_t n, bool skip_special) const;
  std::optional<int32_t> token_to_id(std::string_view t) const;
  std::optional<std::string> id_to_token(int32_t id) const;
  // True for <0xXX> tokens when the decoder uses ByteFallback.
  bool is_byte_token(int32_t id) const;

  std::string source_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  bool byte_fallback_decoder_ = false;
  AddedVocab added_;
  std::set<std::string, std::less<>> special_contents_;
  int32_t max_id_ = -1;
  std::optional<int32_t> bos_, pad_;
  std::vector<int32_t> eos_;

 private:
  void encode_text(NString n, std::vector<int32_t>& ids) const;
  void run_pieces(std::vector<NString>& pieces, std::vector<int32_t>& ids) const;
};

}  // namespace tritium::tok
