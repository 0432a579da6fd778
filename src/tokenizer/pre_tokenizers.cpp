// Pre-tokenizers of tokenizer.json: Split, ByteLevel, Metaspace, Digits, Whitespace,
// WhitespaceSplit, Punctuation, CharDelimiterSplit, BertPreTokenizer, Sequence; and the
// splitting machinery (match lists and split behaviors) they share with normalizers.
#include <algorithm>

#include "core/error.h"
#include "tokenizer/components.h"

namespace tritium::tok {

SplitBehavior parse_split_behavior(const json& j, const std::string& where) {
  std::string b = j.is_string() ? j.get<std::string>() : "";
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  throw Error(str_cat("tokenizer.json: ", where, " behavior \"", b, "\" is not supported"));
}

static Matches from_ranges(std::string_view s, const std::vector<std::pair<size_t, size_t>>& r) {
  Matches m;
  if (s.empty()) {
    m.push_back({{0, 0}, false});
    return m;
  }
  size_t prev = 0;
  for (auto [a, b] : r) {
    if (prev != a) m.push_back({{prev, a}, false});
    m.push_back({{a, b}, true});
    prev = b;
  }
  if (prev != s.size()) m.push_back({{prev, s.size()}, false});
  return m;
}

Matches literal_matches(std::string_view s, std::string_view lit) {
  if (lit.empty()) return {{{0, s.size()}, false}};
  std::vector<std::pair<size_t, size_t>> r;
  for (size_t p = s.find(lit); p != std::string_view::npos; p = s.find(lit, p + lit.size())) {
    r.emplace_back(p, p + lit.size());
  }
  return from_ranges(s, r);
}

Matches regex_matches(std::string_view s, const Regex& re) {
  if (s.empty()) return {{{0, 0}, false}};
  return from_ranges(s, re.find_all(s));
}

void split_by(const NString& n, Matches m, SplitBehavior b, std::vector<NString>& out) {
  using R = std::pair<std::pair<size_t, size_t>, bool>;  // (range, remove)
  std::vector<R> parts;
  switch (b) {
    case SplitBehavior::Isolated:
      for (auto& x : m) parts.push_back({x.first, false});
      break;
    case SplitBehavior::Removed:
      parts = m;
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool prev = false;
      for (auto& [r, is_match] : m) {
        if (is_match && !prev && !parts.empty()) {
          parts.back().first.second = r.second;
        } else {
          parts.push_back({r, false});
        }
        prev = is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev = false;
      for (auto it = m.rbegin(); it != m.rend(); ++it) {
        auto& [r, is_match] = *it;
        if (is_match && !prev && !parts.empty()) {
          parts.back().first.first = r.first;
        } else {
          parts.push_back({r, false});
        }
        prev = is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    }
    case SplitBehavior::Contiguous: {
      bool prev = false;
      for (auto& [r, is_match] : m) {
        if (is_match == prev && !parts.empty()) {
          parts.back().first.second = r.second;
        } else {
          parts.push_back({r, false});
        }
        prev = is_match;
      }
      break;
    }
  }
  for (auto& [r, remove] : parts) {
    if (remove || r.first == r.second) continue;
    out.push_back(n.sub(r.first, r.second));
  }
}

namespace {

// Applies fn(piece, out) to every piece.
template <typename F>
void each_split(std::vector<NString>& pieces, F fn) {
  std::vector<NString> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) fn(p, out);
  pieces = std::move(out);
}

class Split : public PreTokenizer {
 public:
  explicit Split(const json& j) {
    const json& p = j.at("pattern");
    if (p.contains("String")) {
      literal_ = p["String"].get<std::string>();
    } else if (p.contains("Regex")) {
      re_ = std::make_unique<Regex>(p["Regex"].get<std::string>(), "tokenizer.json: pre_tokenizer Split");
    } else {
      throw Error("tokenizer.json: pre_tokenizer Split pattern must be {\"String\"} or {\"Regex\"}");
    }
    behavior_ = parse_split_behavior(j.value("behavior", json()), "pre_tokenizer Split");
    invert_ = j.value("invert", false);
  }
  void pre_tokenize(std::vector<NString>& pieces) const override {
    each_split(pieces, [&](NString& n, std::vector<NString>& out) {
      Matches m = re_ ? regex_matches(n.s, *re_) : literal_matches(n.s, literal_);
      if (invert_) {
        for (auto& x : m) x.second = !x.second;
      }
      split_by(n, std::move(m), behavior_, out);
    });
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> re_;
  SplitBehavior behavior_;
  bool invert_;
};

const char* kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevel : public PreTokenizer {
 public:
  explicit ByteLevel(const json& j)
      : add_prefix_space_(j.value("add_prefix_space", true)), use_regex_(j.value("use_regex", true)) {
    if (use_regex_) re_ = Regex(kGpt2Regex, "pre_tokenizer ByteLevel");
  }
  void pre_tokenize(std::vector<NString>& pieces) const override {
    each_split(pieces, [&](NString& n, std::vector<NString>& out) {
      if (add_prefix_space_ && (n.s.empty() || n.s[0] != ' ')) {
        n.s.insert(0, " ");
        n.al.insert(n.al.begin(), n.al.empty() ? n.orig_end : n.al[0]);
      }
      if (use_regex_) {
        split_by(n, regex_matches(n.s, re_), SplitBehavior::Isolated, out);
      } else if (!n.s.empty()) {
        out.push_back(std::move(n));
      }
    });
    for (auto& p : pieces) {
      NStringBuilder b;
      for (size_t i = 0; i < p.s.size(); ++i) {
        b.add(utf8_encode(byte_to_char(static_cast<uint8_t>(p.s[i]))), p.al[i]);
      }
      b.out.orig_end = p.orig_end;
      p = std::move(b.out);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
  Regex re_;
};

class Metaspace : public PreTokenizer {
 public:
  explicit Metaspace(const json& j) {
    std::string rep = j.value("replacement", std::string("\xE2\x96\x81"));
    auto cps = utf8_to_cps(rep);
    TRITIUM_CHECK(cps.size() == 1, "tokenizer.json: pre_tokenizer Metaspace replacement must be one character");
    rep_ = rep;
    rep_cp_ = cps[0];
    std::string scheme = "always";
    if (j.contains("prepend_scheme") && j["prepend_scheme"].is_string()) {
      scheme = j["prepend_scheme"].get<std::string>();
    } else if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean()) {
      scheme = j["add_prefix_space"].get<bool>() ? "always" : "never";
    }
    if (scheme == "always") scheme_ = 0;
    else if (scheme == "first") scheme_ = 1;
    else if (scheme == "never") scheme_ = 2;
    else throw Error(str_cat("tokenizer.json: pre_tokenizer Metaspace prepend_scheme \"", scheme, "\" is not supported"));
    split_ = j.value("split", true);
  }
  void pre_tokenize(std::vector<NString>& pieces) const override {
    each_split(pieces, [&](NString& n, std::vector<NString>& out) {
      NStringBuilder b;
      for (size_t i = 0; i < n.s.size(); ++i) {
        if (n.s[i] == ' ') b.add(rep_, n.al[i]);
        else b.add(std::string_view(&n.s[i], 1), n.al[i]);
      }
      b.out.orig_end = n.orig_end;
      NString m = std::move(b.out);
      bool starts = m.s.compare(0, rep_.size(), rep_) == 0;
      if ((scheme_ == 0 && !starts) || (scheme_ == 1 && !starts && m.orig_start() == 0)) {
        uint32_t a = m.al.empty() ? m.orig_end : m.al[0];
        m.s.insert(0, rep_);
        m.al.insert(m.al.begin(), rep_.size(), a);
      }
      if (split_) {
        char32_t rc = rep_cp_;
        split_by(m, char_matches(m.s, [rc](char32_t c) { return c == rc; }), SplitBehavior::MergedWithNext, out);
      } else if (!m.s.empty()) {
        out.push_back(std::move(m));
      }
    });
  }

 private:
  std::string rep_;
  char32_t rep_cp_;
  int scheme_ = 0;
  bool split_ = true;
};

// Splits on a character predicate with a fixed behavior.
template <typename F>
class CharSplit : public PreTokenizer {
 public:
  CharSplit(F f, SplitBehavior b) : f_(f), b_(b) {}
  void pre_tokenize(std::vector<NString>& pieces) const override {
    each_split(pieces, [&](NString& n, std::vector<NString>& out) { split_by(n, char_matches(n.s, f_), b_, out); });
  }

 private:
  F f_;
  SplitBehavior b_;
};
template <typename F>
std::unique_ptr<PreTokenizer> char_split(F f, SplitBehavior b) {
  return std::make_unique<CharSplit<F>>(f, b);
}

class Whitespace : public PreTokenizer {
 public:
  Whitespace() : re_("\\w+|[^\\w\\s]+", "pre_tokenizer Whitespace") {}
  void pre_tokenize(std::vector<NString>& pieces) const override {
    each_split(pieces, [&](NString& n, std::vector<NString>& out) {
      Matches m = regex_matches(n.s, re_);
      for (auto& x : m) x.second = !x.second;
      split_by(n, std::move(m), SplitBehavior::Removed, out);
    });
  }

 private:
  Regex re_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> v) : v_(std::move(v)) {}
  void pre_tokenize(std::vector<NString>& pieces) const override {
    for (auto& x : v_) x->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> v_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  std::string t = component_type(j, "pre_tokenizer");
  if (t == "Split") return std::make_unique<Split>(j);
  if (t == "ByteLevel") return std::make_unique<ByteLevel>(j);
  if (t == "Metaspace") return std::make_unique<Metaspace>(j);
  if (t == "Whitespace") return std::make_unique<Whitespace>();
  if (t == "WhitespaceSplit") return char_split([](char32_t c) { return is_whitespace(c); }, SplitBehavior::Removed);
  if (t == "Punctuation") {
    SplitBehavior b = j.contains("behavior") ? parse_split_behavior(j["behavior"], "pre_tokenizer Punctuation")
                                              : SplitBehavior::Isolated;
    return char_split([](char32_t c) { return is_punctuation(c); }, b);
  }
  if (t == "Digits") {
    bool ind = j.value("individual_digits", false);
    return char_split([](char32_t c) { return is_numeric(c); },
                      ind ? SplitBehavior::Isolated : SplitBehavior::Contiguous);
  }
  if (t == "CharDelimiterSplit") {
    auto cps = utf8_to_cps(j.at("delimiter").get<std::string>());
    TRITIUM_CHECK(cps.size() == 1, "tokenizer.json: pre_tokenizer CharDelimiterSplit delimiter must be one character");
    char32_t d = cps[0];
    return char_split([d](char32_t c) { return c == d; }, SplitBehavior::Removed);
  }
  if (t == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> v;
    v.push_back(char_split([](char32_t c) { return is_whitespace(c); }, SplitBehavior::Removed));
    v.push_back(char_split([](char32_t c) { return is_punctuation(c); }, SplitBehavior::Isolated));
    return std::make_unique<Sequence>(std::move(v));
  }
  if (t == "Sequence") {
    TRITIUM_CHECK(j.contains("pretokenizers") && j["pretokenizers"].is_array(),
                  "tokenizer.json: pre_tokenizer Sequence needs a \"pretokenizers\" array");
    std::vector<std::unique_ptr<PreTokenizer>> v;
    for (auto& x : j["pretokenizers"]) {
      auto p = make_pre_tokenizer(x);
      if (p) v.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(v));
  }
  unsupported("pre_tokenizer", t);
}

}  // namespace tritium::tok
