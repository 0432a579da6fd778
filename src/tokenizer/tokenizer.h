// tokenizer.json tokenizers (Hugging Face format), encoding and decoding exactly as the
// Rust `tokenizers` library does, plus an incremental detokenizer for streaming.
//
//   auto tok = tritium::tok::Tokenizer::from_dir("path/to/model");
//   std::vector<int32_t> ids = tok.encode("Hello world");
//   std::string text = tok.decode(ids, /*skip_special_tokens=*/true);
//
// Supported: model BPE; normalizers NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents,
// Replace, Prepend, Sequence; pre-tokenizers Split, ByteLevel, Metaspace, Digits,
// Whitespace, WhitespaceSplit, Punctuation, CharDelimiterSplit, BertPreTokenizer, Sequence;
// post-processors TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing,
// Sequence; decoders ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, BPEDecoder,
// Sequence. Anything else is rejected at load with an Error naming the component.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tritium::tok {

class Impl;

class Tokenizer {
 public:
  // dir holds tokenizer.json, and optionally tokenizer_config.json and generation_config.json.
  static Tokenizer from_dir(const std::string& dir);
  // config_path may be empty.
  static Tokenizer from_file(const std::string& tokenizer_json, const std::string& config_path = "");
  // From JSON text (tests); config_json may be empty.
  static Tokenizer from_json(const std::string& tokenizer_json, const std::string& config_json = "",
                             const std::string& source = "tokenizer.json");
  // From parsed tokenizer.json / tokenizer_config.json objects (config may be null), e.g. those
  // model/gguf_tokenizer.h writes for a GGUF file; `source` names it in errors.
  static Tokenizer from_json_value(const nlohmann::json& tokenizer_json, const nlohmann::json& config,
                                   const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // add_special_tokens: run the post-processor (BOS etc.). parse_special: when false,
  // special tokens written in the text are tokenized as plain text.
  // Invalid UTF-8 in text is replaced by U+FFFD first.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true,
                              bool parse_special = true) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  std::optional<std::string> id_to_token(int32_t id) const;
  // The bytes token `id` stands for in the middle of a text (decode's view of one token without
  // start-of-text effects; invalid UTF-8, e.g. a byte token's byte, kept as it is); nullopt for
  // an id the tokenizer does not have. Structured output matches grammars against these.
  std::optional<std::string> token_bytes(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // One past the largest id (model vocab and added tokens).
  size_t vocab_size() const;
  bool is_special(int32_t id) const;
  std::vector<int32_t> special_ids() const;

  // From tokenizer_config.json (bos_token, eos_token, pad_token) and generation_config.json.
  std::optional<int32_t> bos_id() const;
  std::vector<int32_t> eos_ids() const;
  std::optional<int32_t> pad_id() const;
  // Whether encode(..., add_special_tokens=true) puts the BOS token first.
  bool adds_bos() const;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class IncrementalDetokenizer;
};

// Feeds ids one at a time and returns text only once it is complete UTF-8; the
// concatenation of everything returned by push() and finish() equals decode(all ids).
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tok, bool skip_special_tokens = false);
  // Text that became final with this id (often empty).
  std::string push(int32_t id);
  // The rest (an incomplete UTF-8 tail is decoded as the full decode would).
  std::string finish();
  const std::vector<int32_t>& ids() const { return ids_; }

 private:
  const Tokenizer* tok_;
  bool skip_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0, read_ = 0;  // window [prefix_, ...) decoded; text of [prefix_, read_) emitted
  std::string prefix_text_;
  size_t emitted_ = 0;  // bytes returned so far
};

}  // namespace tritium::tok

namespace tritium {
using tok::IncrementalDetokenizer;
using tok::Tokenizer;
}  // namespace tritium
