#include "model/gguf_tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include "core/error.h"

namespace tritium {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// The pre-tokenizer regexes llama.cpp applies for each `tokenizer.ggml.pre` name (one after the
// other, each splitting the pieces of the previous; matches and the text between them are kept,
// as Hugging Face's Split with behavior Isolated). Where the model's tokenizer.json has a
// case-insensitive group, its original spelling is used (llama.cpp rewrites it to character
// classes for its own regex engine).
const char* const kGpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))re";
const char* const kLlama3 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kQwen2 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kQwen35 =
    R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kTekken =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kGpt4o =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kDeepseekV3 =
    R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
const char* const kDeepseekLlmLetters =
    R"re(\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+)re";
const char* const kPoro = R"re( ?[^(\s|.,!?…。，、।۔،)]+)re";

struct PreType {
  std::vector<std::string> names;
  std::vector<std::string> regexes;
  bool ignore_merges = false;
  bool add_bos = false;  // llama.cpp's default where the file has no tokenizer.ggml.add_bos_token
};

const std::vector<PreType>& pre_types() {
  static const std::vector<PreType> t = {
      {{"default"}, {R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", "[0-9][0-9][0-9]"}},
      {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"}, {kLlama3}, true, true},
      {{"dbrx", "smaug-bpe", "glm4", "chatglm-bpe"}, {kLlama3}},
      {{"deepseek-llm"},
       {"[\r\n]", kDeepseekLlmLetters, R"re(\s?[!-/:-~！-／：-～‘-‟　-。]+)re", R"re(\s+$)re", "[一-龥ࠀ-一가-퟿]+", R"re(\p{N}+)re"}},
      {{"deepseek-coder"}, {"[\r\n]", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", "[一-龥ࠀ-一가-퟿]+", R"re(\p{N})re"}},
      {{"deepseek-v3"}, {R"re(\p{N}{1,3})re", "[一-龥぀-ゟ゠-ヿ]+", kDeepseekV3}},
      {{"falcon"}, {R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, "[0-9][0-9][0-9]"}},
      {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
        "mpt", "olmo", "jais", "trillion", "exaone4", "granite-docling"},
       {kGpt2}},
      {{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"},
       {R"re(\p{N})re", kGpt2}},
      {{"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan", "megrez", "solar-open"}, {kQwen2}},
      {{"qwen35"}, {kQwen35}},
      {{"tekken"}, {kTekken}, true, true},
      {{"gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"}, {kGpt4o}},
      {{"poro-chat", "bloom", "gpt3-finnish"}, {kPoro}},
      {{"viking"}, {kPoro, R"re(\p{N})re"}},
  };
  return t;
}

const PreType& find_pre(const GgufFile& f, const std::string& name) {
  for (auto& t : pre_types())
    if (std::find(t.names.begin(), t.names.end(), name) != t.names.end()) return t;
  std::string known;
  for (auto& n : gguf_pre_tokenizer_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error(str_cat(f.path(), ": tokenizer.ggml.pre '", name, "' is not a pre-tokenizer tritium knows (known: ", known,
                      ")"));
}

json added_token(int64_t id, std::string_view content, bool special) {
  return json{{"id", id},          {"content", std::string(content)}, {"single_word", false}, {"lstrip", false},
              {"rstrip", false},   {"normalized", false},            {"special", special}};
}

json template_processor(std::optional<int64_t> bos, std::optional<int64_t> eos,
                        const std::vector<std::string_view>& tokens) {
  json single = json::array(), pair = json::array(), specials = json::object();
  auto special = [&](int64_t id) {
    std::string t(tokens[size_t(id)]);
    specials[t] = {{"id", t}, {"ids", {id}}, {"tokens", {t}}};
    return json{{"SpecialToken", {{"id", t}, {"type_id", 0}}}};
  };
  if (bos) single.push_back(special(*bos));
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  if (eos) single.push_back(special(*eos));
  pair = single;
  if (bos) pair.push_back(special(*bos));
  pair.push_back({{"Sequence", {{"id", "B"}, {"type_id", 1}}}});
  if (eos) pair.push_back(special(*eos));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

// transformers' GGUFTokenizerSkeleton: for each token (vocabulary order), every split into two
// tokens of the vocabulary, ordered by the parts' scores (higher first); then all of them by the
// score of the merged token (higher first), the sort stable throughout.
std::vector<std::pair<std::string, std::string>> merges_from_scores(const std::vector<std::string_view>& tokens,
                                                                   const std::vector<float>& scores) {
  std::unordered_map<std::string_view, float> score;
  std::vector<std::string_view> order;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!score.count(tokens[i])) order.push_back(tokens[i]);
    score[tokens[i]] = scores[i];
  }
  struct Merge {
    std::string_view l, r;
    float s;
  };
  std::vector<Merge> all;
  for (std::string_view t : order) {
    std::vector<Merge> local;
    for (size_t i = 1; i < t.size(); ++i) {
      if ((uint8_t(t[i]) & 0xC0) == 0x80) continue;  // split between code points only
      std::string_view l = t.substr(0, i), r = t.substr(i);
      if (score.count(l) && score.count(r)) local.push_back({l, r, score[t]});
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      float al = score[a.l], bl = score[b.l];
      if (al != bl) return al > bl;
      return score[a.r] > score[b.r];
    });
    all.insert(all.end(), local.begin(), local.end());
  }
  std::stable_sort(all.begin(), all.end(), [](const Merge& a, const Merge& b) { return a.s > b.s; });
  std::vector<std::pair<std::string, std::string>> r;
  r.reserve(all.size());
  for (auto& m : all) r.emplace_back(std::string(m.l), std::string(m.r));
  return r;
}

}  // namespace

std::vector<std::string> gguf_pre_tokenizer_names() {
  std::vector<std::string> r;
  for (auto& t : pre_types()) r.insert(r.end(), t.names.begin(), t.names.end());
  return r;
}

bool gguf_has_tokenizer(const GgufFile& f) { return f.has("tokenizer.ggml.model") && f.has("tokenizer.ggml.tokens"); }

GgufTokenizerJson gguf_tokenizer_json(const GgufFile& f) {
  const std::string& path = f.path();
  auto model = f.get_string("tokenizer.ggml.model");
  if (!model) throw Error(path + ": no tokenizer (missing metadata 'tokenizer.ggml.model')");
  if (*model != "gpt2" && *model != "llama")
    throw Error(str_cat(path, ": tokenizer.ggml.model '", *model, "' is not supported (gpt2 and llama are)"));
  auto tokens_opt = f.get_strings("tokenizer.ggml.tokens");
  if (!tokens_opt || tokens_opt->empty()) throw Error(path + ": missing metadata 'tokenizer.ggml.tokens'");
  const std::vector<std::string_view>& tokens = *tokens_opt;
  const int64_t n = int64_t(tokens.size());
  std::vector<int64_t> types = f.get_ints("tokenizer.ggml.token_type").value_or(std::vector<int64_t>());
  if (!types.empty() && int64_t(types.size()) != n)
    throw Error(str_cat(path, ": tokenizer.ggml.token_type has ", types.size(), " entries for ", n, " tokens"));
  auto id_of = [&](const char* key) -> std::optional<int64_t> {
    auto v = f.get_int(key);
    if (!v) return std::nullopt;
    if (*v < 0 || *v >= n) {
      // llama.cpp writes -1 (as uint32 0xffffffff) for "none"; any other value is an error.
      if (*v == 0xffffffffll || *v == -1) return std::nullopt;
      throw Error(str_cat(path, ": ", key, " = ", *v, " is not a token id (", n, " tokens)"));
    }
    return v;
  };
  const auto bos = id_of("tokenizer.ggml.bos_token_id"), eos = id_of("tokenizer.ggml.eos_token_id");
  const auto unk = id_of("tokenizer.ggml.unknown_token_id"), pad = id_of("tokenizer.ggml.padding_token_id");
  const bool spm = *model == "llama";

  json vocab = json::object();
  for (int64_t i = 0; i < n; ++i) vocab[std::string(tokens[size_t(i)])] = i;  // a repeated token keeps its last id
  json merges = json::array();
  json added = json::array();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = types.empty() ? 1 : types[size_t(i)];
    if (t == 3) added.push_back(added_token(i, tokens[size_t(i)], true));  // control
    else if (t == 4) added.push_back(added_token(i, tokens[size_t(i)], false));  // user-defined
  }
  json tok = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added}};
  bool add_bos, add_eos = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  if (spm) {
    auto scores = f.get_floats("tokenizer.ggml.scores");
    if (!scores) throw Error(path + ": a llama (SentencePiece) tokenizer needs 'tokenizer.ggml.scores'");
    if (int64_t(scores->size()) != n)
      throw Error(str_cat(path, ": tokenizer.ggml.scores has ", scores->size(), " entries for ", n, " tokens"));
    if (auto m = f.get_strings("tokenizer.ggml.merges")) {
      for (auto s : *m) merges.push_back(std::string(s));
    } else {
      for (auto& [l, r] : merges_from_scores(tokens, *scores)) merges.push_back(json::array({l, r}));
    }
    const bool prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
    tok["model"] = {{"type", "BPE"},
                    {"dropout", nullptr},
                    {"unk_token", unk ? json(std::string(tokens[size_t(*unk)])) : json(nullptr)},
                    {"continuing_subword_prefix", nullptr},
                    {"end_of_word_suffix", nullptr},
                    {"fuse_unk", true},
                    {"byte_fallback", true},
                    {"ignore_merges", false},
                    {"vocab", std::move(vocab)},
                    {"merges", std::move(merges)}};
    json norms = json::array();
    if (prefix) norms.push_back({{"type", "Prepend"}, {"prepend", "\xe2\x96\x81"}});
    norms.push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xe2\x96\x81"}});
    tok["normalizer"] = {{"type", "Sequence"}, {"normalizers", norms}};
    tok["pre_tokenizer"] = nullptr;
    json decs = {{{"type", "ByteFallback"}},
                 {{"type", "Fuse"}},
                 {{"type", "Replace"}, {"pattern", {{"String", "\xe2\x96\x81"}}}, {"content", " "}}};
    if (prefix) decs.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    tok["decoder"] = {{"type", "Sequence"}, {"decoders", decs}};
  } else {
    auto m = f.get_strings("tokenizer.ggml.merges");
    if (!m) throw Error(path + ": a gpt2 (byte-level BPE) tokenizer needs 'tokenizer.ggml.merges'");
    for (auto s : *m) merges.push_back(std::string(s));
    const std::string pre_name = f.get_string("tokenizer.ggml.pre").value_or("default");
    const PreType& pre = find_pre(f, pre_name);
    add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(pre.add_bos);
    tok["model"] = {{"type", "BPE"},
                    {"dropout", nullptr},
                    {"unk_token", nullptr},
                    {"continuing_subword_prefix", nullptr},
                    {"end_of_word_suffix", nullptr},
                    {"fuse_unk", false},
                    {"byte_fallback", false},
                    {"ignore_merges", pre.ignore_merges},
                    {"vocab", std::move(vocab)},
                    {"merges", std::move(merges)}};
    tok["normalizer"] = nullptr;
    json seq = json::array();
    for (auto& r : pre.regexes)
      seq.push_back({{"type", "Split"}, {"pattern", {{"Regex", r}}}, {"behavior", "Isolated"}, {"invert", false}});
    seq.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}});
    tok["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", seq}};
    tok["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  }
  if ((add_bos && !bos) || (add_eos && !eos))
    throw Error(str_cat(path, ": tokenizer.ggml.add_", add_bos && !bos ? "bos" : "eos", "_token is true but no ",
                        add_bos && !bos ? "bos" : "eos", " token id is given"));
  tok["post_processor"] = add_bos || add_eos
                              ? template_processor(add_bos ? bos : std::nullopt, add_eos ? eos : std::nullopt, tokens)
                              : json(nullptr);

  ojson cfg = ojson::object();
  auto name = [&](const std::optional<int64_t>& id) { return id ? ojson(std::string(tokens[size_t(*id)])) : ojson(nullptr); };
  cfg["bos_token"] = name(bos);
  cfg["eos_token"] = name(eos);
  cfg["unk_token"] = name(unk);
  cfg["pad_token"] = name(pad);
  cfg["add_bos_token"] = add_bos;
  cfg["add_eos_token"] = add_eos;
  // tokenizer.chat_template, and named ones (tokenizer.chat_template.tool_use, ...) as the
  // list form of tokenizer_config.json.
  ojson named = ojson::array();
  for (auto& [key, v] : f.metadata()) {
    const std::string pre = "tokenizer.chat_template.";
    if (key.rfind(pre, 0) == 0 && v.type == GgufValueType::STRING)
      named.push_back({{"name", key.substr(pre.size())}, {"template", std::string(v.str)}});
  }
  if (auto t = f.get_string("tokenizer.chat_template")) {
    if (named.empty()) cfg["chat_template"] = *t;
    else {
      named.insert(named.begin(), ojson{{"name", "default"}, {"template", *t}});
      cfg["chat_template"] = named;
    }
  } else if (!named.empty()) {
    cfg["chat_template"] = named;
  }
  return {std::move(tok), std::move(cfg)};
}

}  // namespace tritium
