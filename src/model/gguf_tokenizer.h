// A GGUF file's tokenizer (tokenizer.ggml.* metadata) written as the equivalent Hugging Face
// tokenizer.json and tokenizer_config.json, so that the one tokenizer implementation
// (src/tokenizer) runs it:
//   gpt2   byte-level BPE: tokens, merges, the pre-tokenizer regexes llama.cpp uses for the
//          `tokenizer.ggml.pre` name, control tokens (type 3) as special added tokens,
//          user-defined ones (type 4) as plain added tokens;
//   llama  SentencePiece BPE: tokens and scores (merges rebuilt from the scores, as transformers
//          does), byte fallback, the leading-space prefix (tokenizer.ggml.add_space_prefix).
// bos/eos/unk/pad ids, add_bos/add_eos and tokenizer.chat_template(.NAME) go to the config.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/gguf.h"

namespace tritium {

struct GgufTokenizerJson {
  nlohmann::json tokenizer;  // tokenizer.json
  nlohmann::ordered_json config;  // tokenizer_config.json: special tokens, chat_template
};

// Throws Error naming the key for a tokenizer it cannot express (unknown model or pre name).
GgufTokenizerJson gguf_tokenizer_json(const GgufFile& f);
// Whether the file carries a tokenizer at all (tokenizer.ggml.model and tokens).
bool gguf_has_tokenizer(const GgufFile& f);

// The pre-tokenizer names gguf_tokenizer_json knows.
std::vector<std::string> gguf_pre_tokenizer_names();

}  // namespace tritium
