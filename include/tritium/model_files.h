// What a --model argument names, and the tokenizer and chat template that come with it.
//
// A model is a Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json), a
// GGUF file (weights, tokenizer and chat template in its metadata), or ORG/NAME[@REV]: a Hugging
// Face hub repository, found in the hub cache (HF_HUB_CACHE, else HF_HOME/hub, else
// ~/.cache/huggingface/hub, laid out as huggingface_hub lays it out) or downloaded into it.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace tritium {

namespace tok {
class Tokenizer;
}
class ChatTemplate;

struct ResolveOptions {
  bool download = true;          // fetch what the cache lacks (false: the cache only)
  std::vector<std::string> include;  // glob patterns of the files to fetch (empty: the default set)
  bool progress = true;          // a progress bar on a terminal, a line per file otherwise
  bool refresh = false;          // ask the hub for the revision's files even when the cache has them
};

// The local path for a --model argument: an existing path as it is; ORG/NAME[@REV] resolved
// through the hub cache (the snapshot directory); ORG/NAME[@REV]/FILE.gguf to that one file. Throws tritium::Error with the reason (no such path, not in the cache
// and downloads off, hub errors).
std::string resolve_model(const std::string& ref, const ResolveOptions& opts = {});
// Whether ref has the ORG/NAME[@REV] form of a hub repository (and is not an existing path).
bool is_hub_ref(const std::string& ref);

// The tokenizer of a resolved model path: tokenizer.json (+ tokenizer_config.json,
// generation_config.json) of a directory, or the metadata of a GGUF file; nullptr when the model
// has none. Throws when it has one that does not load.
std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::string& model_path);
// Its chat template (chat_template.jinja / tokenizer_config.json, or tokenizer.chat_template);
// nullptr when it has none. Throws when it has one that does not parse.
std::unique_ptr<ChatTemplate> load_chat_template(const std::string& model_path);

}  // namespace tritium
