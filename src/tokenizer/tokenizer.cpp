// Tokenizer: loads tokenizer.json (+ tokenizer_config.json) and runs the pipeline
// added tokens -> normalizer -> pre-tokenizer -> BPE -> post-processor, and back.
#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/components.h"
#include "core/file.h"
#include "tokenizer/tokenizer_impl.h"

namespace tritium::tok {

namespace {

json parse_json(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(str_cat(source, ": invalid JSON: ", e.what()));
  }
}

AddedToken parse_added(const json& j, int32_t id, const std::string& where) {
  TRITIUM_CHECK(j.is_object() && j.contains("content") && j["content"].is_string(), where,
                ": added token without a \"content\" string");
  AddedToken t;
  t.id = id;
  t.content = j["content"].get<std::string>();
  t.special = j.value("special", false);
  t.lstrip = j.value("lstrip", false);
  t.rstrip = j.value("rstrip", false);
  t.single_word = j.value("single_word", false);
  t.normalized = j.value("normalized", !t.special);
  return t;
}

// "bos_token": "<s>" or {"content": "<s>", ...} or null.
std::optional<std::string> config_token(const json& c, const char* key) {
  if (!c.contains(key)) return std::nullopt;
  const json& v = c[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

Impl::Impl(const json& j, const json& config, const std::string& source) : source_(source) {
  TRITIUM_CHECK(j.is_object(), source, ": not a JSON object");
  TRITIUM_CHECK(j.contains("model") && j["model"].is_object(), source, ": no \"model\" object");
  const json& m = j["model"];
  std::string mt = m.contains("type") && m["type"].is_string() ? m["type"].get<std::string>() : "";
  if (mt.empty() && m.contains("merges")) mt = "BPE";
  if (mt != "BPE") {
    throw Error(str_cat(source, ": model type \"", mt.empty() ? "(none)" : mt,
                        "\" is not supported (only BPE is implemented)"));
  }
  try {
    model_ = std::make_unique<BpeModel>(m);
    normalizer_ = make_normalizer(j.value("normalizer", json()));
    pre_tokenizer_ = make_pre_tokenizer(j.value("pre_tokenizer", json()));
    post_processor_ = make_post_processor(j.value("post_processor", json()));
    const json& dj = j.value("decoder", json());
    decoder_ = make_decoder(dj);
    byte_fallback_decoder_ = dj.dump().find("\"ByteFallback\"") != std::string::npos;
  } catch (const Error& e) {
    std::string msg = e.what();
    if (msg.rfind("tokenizer.json: ", 0) == 0) msg = msg.substr(16);
    throw Error(str_cat(source, ": ", msg));
  }

  std::vector<AddedToken> added;
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (auto& a : j["added_tokens"]) {
      TRITIUM_CHECK(a.contains("id") && a["id"].is_number_integer(), source, ": added token without an integer id");
      added.push_back(parse_added(a, a["id"].get<int32_t>(), source));
    }
  }
  // transformers applies tokenizer_config.json's added_tokens_decoder on top (flags and extra tokens).
  if (config.is_object() && config.contains("added_tokens_decoder") && config["added_tokens_decoder"].is_object()) {
    for (auto& [k, v] : config["added_tokens_decoder"].items()) {
      int32_t id;
      try {
        id = std::stoi(k);
      } catch (...) {
        throw Error(str_cat("tokenizer_config.json: added_tokens_decoder key \"", k, "\" is not an id"));
      }
      added.push_back(parse_added(v, id, "tokenizer_config.json"));
    }
  }
  // transformers also marks as special the tokens named by the config's special-token
  // attributes (and GemmaTokenizer's default mask_token "<mask>").
  if (config.is_object()) {
    std::vector<std::string> names;
    for (const char* k : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
      if (auto v = config_token(config, k)) names.push_back(*v);
    }
    std::string cls = config.value("tokenizer_class", std::string());
    if (!config.contains("mask_token") && (cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast")) {
      names.push_back("<mask>");
    }
    for (const char* k : {"additional_special_tokens", "extra_special_tokens"}) {
      if (!config.contains(k)) continue;
      const json& v = config[k];
      auto take = [&](const json& x) {
        if (x.is_string()) names.push_back(x.get<std::string>());
        else if (x.is_object() && x.contains("content") && x["content"].is_string()) names.push_back(x["content"].get<std::string>());
      };
      if (v.is_array()) for (auto& x : v) take(x);
      if (v.is_object()) for (auto& [kk, x] : v.items()) take(x);
    }
    for (auto& t : added) {
      if (!t.special && std::find(names.begin(), names.end(), t.content) != names.end()) t.special = true;
    }
  }
  added_.set(std::move(added));
  added_.build([this](const std::string& content) {
    if (!normalizer_) return content;
    NString n = NString::from_original(content, 0);
    normalizer_->normalize(n);
    return n.s;
  });
  for (auto& t : added_.tokens()) {
    if (t.special) special_contents_.insert(t.content);
    max_id_ = std::max(max_id_, t.id);
  }
  for (auto& [t, id] : model_->vocab()) max_id_ = std::max(max_id_, id);

  if (config.is_object()) {
    if (auto b = config_token(config, "bos_token")) bos_ = token_to_id(*b);
    if (auto e = config_token(config, "eos_token")) {
      if (auto id = token_to_id(*e)) eos_.push_back(*id);
    }
    if (auto p = config_token(config, "pad_token")) pad_ = token_to_id(*p);
  }
}

std::optional<int32_t> Impl::token_to_id(std::string_view t) const {
  if (auto* a = added_.by_content(t)) return a->id;
  return model_->token_to_id(t);
}

std::optional<std::string> Impl::id_to_token(int32_t id) const {
  if (auto* a = added_.by_id(id)) return a->stored;
  if (auto* s = model_->id_to_token(id)) return *s;
  return std::nullopt;
}

void Impl::encode_text(NString n, std::vector<int32_t>& ids) const {
  if (normalizer_) normalizer_->normalize(n);
  if (n.s.empty()) return;
  std::vector<NString> pieces;
  if (added_.has_normalized()) {
    for (auto& sp : added_.split(n.s, true, true)) {
      if (sp.id >= 0) {
        if (!pieces.empty()) {
          run_pieces(pieces, ids);
          pieces.clear();
        }
        ids.push_back(sp.id);
      } else {
        pieces.push_back(n.sub(sp.start, sp.end));
      }
    }
  } else {
    pieces.push_back(std::move(n));
  }
  if (!pieces.empty()) run_pieces(pieces, ids);
}

void Impl::run_pieces(std::vector<NString>& pieces, std::vector<int32_t>& ids) const {
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pieces);
  for (auto& p : pieces) model_->tokenize(p.s, ids);
}

std::vector<int32_t> Impl::encode(std::string_view input, bool add_special, bool parse_special) const {
  std::string fixed;
  if (!utf8_valid(input)) {
    fixed = utf8_lossy(input);
    input = fixed;
  }
  std::vector<int32_t> ids;
  for (auto& sp : added_.split(input, false, parse_special)) {
    if (sp.id >= 0) {
      ids.push_back(sp.id);
    } else {
      encode_text(NString::from_original(input.substr(sp.start, sp.end - sp.start), static_cast<uint32_t>(sp.start)),
                  ids);
    }
  }
  if (post_processor_) post_processor_->process(ids, add_special);
  return ids;
}

std::string Impl::decode(const int32_t* ids, size_t n, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string* t = nullptr;
    if (auto* a = added_.by_id(ids[i])) t = &a->stored;
    else t = model_->id_to_token(ids[i]);
    if (!t) continue;
    if (skip_special && special_contents_.count(*t)) continue;
    tokens.push_back(*t);
  }
  std::string out;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (auto& t : tokens) out += t;
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
  }
  return out;
}

bool Impl::is_byte_token(int32_t id) const {
  if (!byte_fallback_decoder_) return false;
  auto t = id_to_token(id);
  return t && t->size() == 6 && t->compare(0, 3, "<0x") == 0 && (*t)[5] == '>';
}

// ---------------------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(const std::string& tokenizer_json, const std::string& config_json,
                               const std::string& source) {
  json j = parse_json(tokenizer_json, source);
  json c = config_json.empty() ? json() : parse_json(config_json, "tokenizer_config.json");
  return Tokenizer(std::make_unique<Impl>(j, c, source));
}

Tokenizer Tokenizer::from_json_value(const json& tokenizer_json, const json& config, const std::string& source) {
  return Tokenizer(std::make_unique<Impl>(tokenizer_json, config, source));
}

Tokenizer Tokenizer::from_file(const std::string& path, const std::string& config_path) {
  std::string cfg =
      config_path.empty() ? "" : read_file(config_path, kMaxTokenizerConfigBytes, "tokenizer_config.json");
  json j = parse_json(read_file(path, kMaxTokenizerJsonBytes, "tokenizer.json"), path);
  json c = cfg.empty() ? json() : parse_json(cfg, config_path);
  return Tokenizer(std::make_unique<Impl>(j, c, path));
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  fs::path d(dir);
  fs::path tj = d / "tokenizer.json";
  TRITIUM_CHECK(fs::exists(tj), dir, ": no tokenizer.json");
  fs::path cj = d / "tokenizer_config.json";
  Tokenizer t = from_file(tj.string(), fs::exists(cj) ? cj.string() : "");
  fs::path gj = d / "generation_config.json";
  if (fs::exists(gj)) {
    json g = parse_json(read_file(gj.string(), kMaxConfigJsonBytes, "generation_config.json"), gj.string());
    if (g.is_object() && g.contains("eos_token_id")) {
      std::vector<int32_t> eos;
      const json& e = g["eos_token_id"];
      if (e.is_number_integer()) eos.push_back(e.get<int32_t>());
      else if (e.is_array()) {
        for (auto& x : e) {
          if (x.is_number_integer()) eos.push_back(x.get<int32_t>());
        }
      }
      for (int32_t id : eos) {
        if (std::find(t.impl_->eos_.begin(), t.impl_->eos_.end(), id) == t.impl_->eos_.end()) t.impl_->eos_.push_back(id);
      }
    }
  }
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens, bool parse_special) const {
  return impl_->encode(text, add_special_tokens, parse_special);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  return impl_->decode(ids.data(), ids.size(), skip_special_tokens);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const { return impl_->id_to_token(id); }
std::optional<int32_t> Tokenizer::token_to_id(std::string_view t) const { return impl_->token_to_id(t); }

std::optional<std::string> Tokenizer::token_bytes(int32_t id) const {
  std::optional<std::string> t = impl_->id_to_token(id);
  if (t && impl_->decoder_) impl_->decoder_->token_bytes(*t);
  return t;
}
size_t Tokenizer::vocab_size() const { return static_cast<size_t>(impl_->max_id_ + 1); }

bool Tokenizer::is_special(int32_t id) const {
  auto* a = impl_->added_.by_id(id);
  return a && a->special;
}

std::vector<int32_t> Tokenizer::special_ids() const {
  std::vector<int32_t> v;
  for (auto& t : impl_->added_.tokens()) {
    if (t.special) v.push_back(t.id);
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos_; }
std::vector<int32_t> Tokenizer::eos_ids() const { return impl_->eos_; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad_; }

bool Tokenizer::adds_bos() const {
  if (!impl_->bos_) return false;
  auto with = encode("", true), without = encode("", false);
  return with.size() > without.size() && with[0] == *impl_->bos_;
}

}  // namespace tritium::tok
