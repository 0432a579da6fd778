// Decoders of tokenizer.json: ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace,
// BPEDecoder, Sequence. Each maps the list of token strings to a new list (decode_chain);
// the tokenizer joins the final list.
#include "core/error.h"
#include "tokenizer/components.h"

namespace tritium::tok {
namespace {

class ByteLevelDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (auto& t : tokens) {
      size_t start = bytes.size();
      bool ok = true;
      for (size_t i = 0; i < t.size();) {
        size_t n;
        int b = char_to_byte(utf8_decode(t, i, &n));
        if (b < 0) {
          ok = false;
          break;
        }
        bytes += static_cast<char>(b);
        i += n;
      }
      if (!ok) {
        bytes.resize(start);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
  void token_bytes(std::string& t) const override {
    std::string bytes;
    for (size_t i = 0; i < t.size();) {
      size_t n;
      int b = char_to_byte(utf8_decode(t, i, &n));
      if (b < 0) return;  // not byte-level text (an added token): as it is, as decode_chain keeps it
      bytes += static_cast<char>(b);
      i += n;
    }
    t = std::move(bytes);
  }
};

class MetaspaceDec : public Decoder {
 public:
  explicit MetaspaceDec(const json& j) {
    auto cps = utf8_to_cps(j.value("replacement", std::string("\xE2\x96\x81")));
    TRITIUM_CHECK(cps.size() == 1, "tokenizer.json: decoder Metaspace replacement must be one character");
    rep_ = cps[0];
    std::string scheme = "always";
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      scheme = j["prepend_scheme"].get<std::string>();
    } else if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean()) {
      scheme = j["add_prefix_space"].get<bool>() ? "always" : "never";
    }
    prepend_ = scheme != "never";
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        size_t n;
        char32_t c = utf8_decode(t, k, &n);
        if (c == rep_) {
          if (!(i == 0 && prepend_)) out += ' ';
        } else {
          out.append(t, k, n);
        }
        k += n;
      }
      tokens[i] = std::move(out);
    }
  }
  void token_bytes(std::string& t) const override {  // not the first token: every marker is a space
    std::string out;
    for (size_t k = 0; k < t.size();) {
      size_t n;
      char32_t c = utf8_decode(t, k, &n);
      if (c == rep_) out += ' ';
      else out.append(t, k, n);
      k += n;
    }
    t = std::move(out);
  }

 private:
  char32_t rep_;
  bool prepend_;
};

// "<0xAB>" -> 0xAB, or -1.
int byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int a = hex(t[3]), b = hex(t[4]);
  return a < 0 || b < 0 ? -1 : a * 16 + b;
}

class ByteFallbackDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&]() {
      if (pending.empty()) return;
      if (utf8_valid(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending.size(); ++i) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (auto& t : tokens) {
      int b = byte_token(t);
      if (b >= 0) {
        pending += static_cast<char>(b);
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
  void token_bytes(std::string& t) const override {
    int b = byte_token(t);
    if (b >= 0) t = std::string(1, static_cast<char>(b));
  }
};

class FuseDec : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string s;
    for (auto& t : tokens) s += t;
    tokens.assign(1, std::move(s));
  }
};

class StripDec : public Decoder {
 public:
  explicit StripDec(const json& j) {
    auto cps = utf8_to_cps(j.at("content").get<std::string>());
    TRITIUM_CHECK(cps.size() == 1, "tokenizer.json: decoder Strip content must be one character");
    content_ = cps[0];
    start_ = j.value("start", size_t{0});
    stop_ = j.value("stop", size_t{0});
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      auto cps = utf8_to_cps(t);
      size_t a = 0, b = cps.size();
      for (size_t i = 0; i < start_ && i < cps.size() && cps[i] == content_; ++i) a = i + 1;
      for (size_t i = 0; i < stop_ && i < cps.size(); ++i) {
        size_t k = cps.size() - i - 1;
        if (cps[k] != content_) break;
        b = k;
      }
      std::string out;
      for (size_t i = a; i < b; ++i) utf8_append(out, cps[i]);
      t = std::move(out);
    }
  }
  void token_bytes(std::string&) const override {}  // strips at the ends of a text only

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDec : public Decoder {
 public:
  explicit ReplaceDec(const json& j) {
    content_ = j.at("content").get<std::string>();
    const json& p = j.at("pattern");
    if (p.contains("String")) {
      literal_ = p["String"].get<std::string>();
    } else if (p.contains("Regex")) {
      re_ = std::make_unique<Regex>(p["Regex"].get<std::string>(), "tokenizer.json: decoder Replace");
    } else {
      throw Error("tokenizer.json: decoder Replace pattern must be {\"String\"} or {\"Regex\"}");
    }
  }
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      Matches m = re_ ? regex_matches(t, *re_) : literal_matches(t, literal_);
      std::string out;
      for (auto& [r, is_match] : m) {
        if (is_match) out += content_;
        else out.append(t, r.first, r.second - r.first);
      }
      t = std::move(out);
    }
  }

 private:
  std::string literal_, content_;
  std::unique_ptr<Regex> re_;
};

class BpeDec : public Decoder {
 public:
  explicit BpeDec(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string rep = i + 1 == tokens.size() ? "" : " ";
      Matches m = literal_matches(tokens[i], suffix_);
      std::string out;
      for (auto& [r, is_match] : m) {
        if (is_match) out += rep;
        else out.append(tokens[i], r.first, r.second - r.first);
      }
      tokens[i] = std::move(out);
    }
  }
  void token_bytes(std::string& t) const override {  // not the last token: the suffix is a space
    std::vector<std::string> v{std::move(t), std::string()};
    decode_chain(v);
    t = std::move(v[0]);
  }

 private:
  std::string suffix_;
};

class SequenceDec : public Decoder {
 public:
  explicit SequenceDec(std::vector<std::unique_ptr<Decoder>> v) : v_(std::move(v)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& d : v_) d->decode_chain(tokens);
  }
  void token_bytes(std::string& t) const override {
    for (auto& d : v_) d->token_bytes(t);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> v_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  std::string t = component_type(j, "decoder");
  if (t == "ByteLevel") return std::make_unique<ByteLevelDec>();
  if (t == "Metaspace") return std::make_unique<MetaspaceDec>(j);
  if (t == "ByteFallback") return std::make_unique<ByteFallbackDec>();
  if (t == "Fuse") return std::make_unique<FuseDec>();
  if (t == "Strip") return std::make_unique<StripDec>(j);
  if (t == "Replace") return std::make_unique<ReplaceDec>(j);
  if (t == "BPEDecoder") return std::make_unique<BpeDec>(j.value("suffix", std::string("</w>")));
  if (t == "Sequence") {
    TRITIUM_CHECK(j.contains("decoders") && j["decoders"].is_array(),
                  "tokenizer.json: decoder Sequence needs a \"decoders\" array");
    std::vector<std::unique_ptr<Decoder>> v;
    for (auto& x : j["decoders"]) {
      auto d = make_decoder(x);
      if (d) v.push_back(std::move(d));
    }
    return std::make_unique<SequenceDec>(std::move(v));
  }
  unsupported("decoder", t);
}

}  // namespace tritium::tok
