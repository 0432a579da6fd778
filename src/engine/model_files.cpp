// --model resolution (paths, GGUF files, hub repositories) and the tokenizer and chat template
// of a model, from its files or its GGUF metadata.
#include "tritium/model_files.h"

#include <filesystem>

#include "core/file.h"
#include "hub/hub.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/gguf_tokenizer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace tritium {

namespace fs = std::filesystem;

bool is_hub_ref(const std::string& ref) {
  std::error_code ec;
  if (fs::exists(ref, ec)) return false;
  return hub::parse_repo_ref(ref).has_value();
}

std::string resolve_model(const std::string& ref, const ResolveOptions& opts) {
  std::error_code ec;
  if (ref.empty()) throw Error("no model given");
  if (fs::exists(ref, ec)) return ref;
  hub::DownloadOptions d;
  d.include = opts.include;
  d.progress = opts.progress;
  d.offline = !opts.download;
  d.refresh = opts.refresh;
  // ORG/NAME/FILE.gguf: one GGUF file of a repository.
  if (size_t s1 = ref.find('/'); s1 != std::string::npos) {
    size_t s2 = ref.find('/', s1 + 1);
    const std::string file = s2 == std::string::npos ? "" : ref.substr(s2 + 1);
    if (file.size() > 5 && file.compare(file.size() - 5, 5, ".gguf") == 0) {
      auto repo = hub::parse_repo_ref(ref.substr(0, s2));
      if (repo && file.find("..") == std::string::npos) {
        d.include = {file};
        return hub::snapshot(*repo, d) + "/" + file;
      }
    }
  }
  auto repo = hub::parse_repo_ref(ref);
  if (!repo) throw Error(str_cat(ref, ": no such file or directory (and not a hub repository ORG/NAME[@REV])"));
  return hub::snapshot(*repo, d);
}

std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::string& model_path) {
  ModelSource src = model_source(model_path);
  if (src.gguf) {
    auto f = GgufFile::open(src.path);
    if (!gguf_has_tokenizer(*f)) return nullptr;
    GgufTokenizerJson t = gguf_tokenizer_json(*f);
    return std::make_unique<Tokenizer>(
        Tokenizer::from_json_value(t.tokenizer, nlohmann::json::parse(t.config.dump()), src.path));
  }
  if (!fs::exists(fs::path(src.path) / "tokenizer.json")) return nullptr;
  return std::make_unique<Tokenizer>(Tokenizer::from_dir(src.path));
}

std::unique_ptr<ChatTemplate> load_chat_template(const std::string& model_path) {
  ModelSource src = model_source(model_path);
  if (src.gguf) {
    auto f = GgufFile::open(src.path);
    if (!f->has("tokenizer.chat_template") || !gguf_has_tokenizer(*f)) return nullptr;
    GgufTokenizerJson t = gguf_tokenizer_json(*f);
    try {
      return std::make_unique<ChatTemplate>(ChatTemplate::from_tokenizer_config(t.config));
    } catch (const Error& e) {
      throw Error(str_cat(src.path, ": tokenizer.chat_template: ", e.what()));
    }
  }
  const fs::path d(src.path);
  std::string config = try_read_file((d / "tokenizer_config.json").string()).value_or("");
  if (!fs::exists(d / "chat_template.jinja") && config.find("\"chat_template\"") == std::string::npos) return nullptr;
  return std::make_unique<ChatTemplate>(ChatTemplate::from_model_dir(src.path));
}

}  // namespace tritium
