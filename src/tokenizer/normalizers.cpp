// Normalizers of tokenizer.json: NFC/NFD/NFKC/NFKD, Lowercase, Strip, StripAccents, Replace,
// Prepend, Sequence. Each keeps, per output byte, the original offset it came from.
#include <utf8proc.h>

#include <cstdlib>

#include "core/error.h"
#include "tokenizer/components.h"

namespace tritium::tok {

NString NString::from_original(std::string_view text, uint32_t base) {
  NString n;
  n.s.assign(text);
  n.al.resize(text.size());
  for (size_t i = 0; i < text.size();) {
    size_t len = utf8_len(static_cast<unsigned char>(text[i]));
    for (size_t k = 0; k < len && i + k < text.size(); ++k) n.al[i + k] = base + static_cast<uint32_t>(i);
    i += len;
  }
  n.orig_end = base + static_cast<uint32_t>(text.size());
  return n;
}

NString NString::sub(size_t a, size_t b) const {
  NString n;
  n.s = s.substr(a, b - a);
  n.al.assign(al.begin() + a, al.begin() + b);
  n.orig_end = b < al.size() ? al[b] : orig_end;
  return n;
}

std::string component_type(const json& j, const char* kind) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    throw Error(str_cat("tokenizer.json: ", kind, " has no \"type\" field"));
  }
  return j["type"].get<std::string>();
}

void unsupported(const char* kind, const std::string& type) {
  throw Error(str_cat("tokenizer.json: ", kind, " type \"", type, "\" is not supported"));
}

namespace {

// Applies a per-character mapping; each output char takes the offset of its input char.
template <typename F>
void map_chars(NString& n, F f) {
  NStringBuilder b;
  std::string tmp;
  for (size_t i = 0; i < n.s.size();) {
    size_t len;
    char32_t c = utf8_decode(n.s, i, &len);
    tmp.clear();
    f(c, tmp);
    b.add(tmp, n.al[i]);
    i += len;
  }
  b.out.orig_end = n.orig_end;
  n = std::move(b.out);
}

std::string utf8proc_norm(std::string_view s, int opts) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t r = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &out,
                                    static_cast<utf8proc_option_t>(opts | UTF8PROC_STABLE));
  if (r < 0) throw Error(str_cat("tokenizer: unicode normalization failed: ", utf8proc_errmsg(r)));
  std::string res(reinterpret_cast<char*>(out), static_cast<size_t>(r));
  std::free(out);
  return res;
}

class UnicodeNorm : public Normalizer {
 public:
  explicit UnicodeNorm(int opts) : opts_(opts) {}
  void normalize(NString& n) const override {
    if (n.s.empty()) return;
    std::string whole = utf8proc_norm(n.s, opts_);
    if (whole == n.s) return;
    // Offsets: normalize segment by segment (a segment starts at each starter character);
    // if the segments agree with the whole, every output byte maps to its segment.
    NStringBuilder b;
    size_t seg = 0;
    auto flush = [&](size_t end) {
      if (end > seg) b.add(utf8proc_norm(std::string_view(n.s).substr(seg, end - seg), opts_), n.al[seg]);
      seg = end;
    };
    for (size_t i = 0; i < n.s.size();) {
      size_t len;
      char32_t c = utf8_decode(n.s, i, &len);
      if (i > 0 && utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class == 0) flush(i);
      i += len;
    }
    flush(n.s.size());
    if (b.out.s == whole) {
      b.out.orig_end = n.orig_end;
      n = std::move(b.out);
    } else {
      NString r;
      r.s = whole;
      r.al.assign(whole.size(), n.al[0]);
      r.orig_end = n.orig_end;
      n = std::move(r);
    }
  }

 private:
  int opts_;
};

class Lowercase : public Normalizer {
 public:
  void normalize(NString& n) const override {
    map_chars(n, [](char32_t c, std::string& out) {
      if (c == 0x130) {
        out += "i\xCC\x87";
        return;
      }
      utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
    });
  }
};

class StripAccents : public Normalizer {
 public:
  void normalize(NString& n) const override {
    map_chars(n, [](char32_t c, std::string& out) {
      if (utf8proc_category(static_cast<utf8proc_int32_t>(c)) != UTF8PROC_CATEGORY_MN) utf8_append(out, c);
    });
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool l, bool r) : left_(l), right_(r) {}
  void normalize(NString& n) const override {
    size_t a = 0, b = n.s.size();
    if (left_) {
      while (a < b) {
        size_t len;
        if (!is_whitespace(utf8_decode(n.s, a, &len))) break;
        a += len;
      }
    }
    if (right_) {
      while (b > a) {
        size_t k = b - 1;
        while (k > a && (static_cast<unsigned char>(n.s[k]) & 0xC0) == 0x80) --k;
        if (!is_whitespace(utf8_decode(n.s, k, nullptr))) break;
        b = k;
      }
    }
    if (a != 0 || b != n.s.size()) {
      uint32_t end = n.orig_end;
      n = n.sub(a, b);
      n.orig_end = end;
    }
  }

 private:
  bool left_, right_;
};

class Replace : public Normalizer {
 public:
  explicit Replace(const json& j) {
    if (!j.contains("pattern") || !j.contains("content")) {
      throw Error("tokenizer.json: normalizer Replace needs \"pattern\" and \"content\"");
    }
    content_ = j["content"].get<std::string>();
    const json& p = j["pattern"];
    if (p.contains("String")) {
      literal_ = p["String"].get<std::string>();
    } else if (p.contains("Regex")) {
      re_ = std::make_unique<Regex>(p["Regex"].get<std::string>(), "tokenizer.json: normalizer Replace");
    } else {
      throw Error("tokenizer.json: normalizer Replace pattern must be {\"String\"} or {\"Regex\"}");
    }
  }
  void normalize(NString& n) const override {
    Matches m = re_ ? regex_matches(n.s, *re_) : literal_matches(n.s, literal_);
    NStringBuilder b;
    for (auto& [r, is_match] : m) {
      if (r.first == r.second) continue;
      if (is_match) {
        b.add(content_, n.al[r.first]);
      } else {
        b.out.s.append(n.s, r.first, r.second - r.first);
        b.out.al.insert(b.out.al.end(), n.al.begin() + r.first, n.al.begin() + r.second);
      }
    }
    b.out.orig_end = n.orig_end;
    n = std::move(b.out);
  }

 private:
  std::string literal_, content_;
  std::unique_ptr<Regex> re_;
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string p) : p_(std::move(p)) {}
  void normalize(NString& n) const override {
    if (n.s.empty()) return;
    n.s.insert(0, p_);
    n.al.insert(n.al.begin(), p_.size(), n.al[0]);
  }

 private:
  std::string p_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> v) : v_(std::move(v)) {}
  void normalize(NString& n) const override {
    for (auto& x : v_) x->normalize(n);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> v_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  std::string t = component_type(j, "normalizer");
  if (t == "NFC") return std::make_unique<UnicodeNorm>(UTF8PROC_COMPOSE);
  if (t == "NFD") return std::make_unique<UnicodeNorm>(UTF8PROC_DECOMPOSE);
  if (t == "NFKC") return std::make_unique<UnicodeNorm>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (t == "NFKD") return std::make_unique<UnicodeNorm>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (t == "Lowercase") return std::make_unique<Lowercase>();
  if (t == "StripAccents") return std::make_unique<StripAccents>();
  if (t == "Strip") {
    return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  }
  if (t == "Replace") return std::make_unique<Replace>(j);
  if (t == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (t == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> v;
    TRITIUM_CHECK(j.contains("normalizers") && j["normalizers"].is_array(),
                  "tokenizer.json: normalizer Sequence needs a \"normalizers\" array");
    for (auto& x : j["normalizers"]) {
      auto n = make_normalizer(x);
      if (n) v.push_back(std::move(n));
    }
    return std::make_unique<Sequence>(std::move(v));
  }
  unsupported("normalizer", t);
}

}  // namespace tritium::tok
