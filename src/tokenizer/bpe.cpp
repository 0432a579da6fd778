// BPE: each pre-token starts as characters (or <0xXX> byte tokens); adjacent pairs are merged
// lowest rank first (leftmost on ties) with a priority queue over a linked list of symbols,
// so a word of n characters costs O(n log n).
#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "core/error.h"
#include "tokenizer/unicode.h"

namespace tritium::tok {

using json = nlohmann::json;

static std::optional<std::string> opt_str(const json& m, const char* k) {
  if (!m.contains(k) || m[k].is_null()) return std::nullopt;
  return m[k].get<std::string>();
}

BpeModel::BpeModel(const json& m) {
  TRITIUM_CHECK(m.contains("vocab") && m["vocab"].is_object(), "tokenizer.json: model BPE has no \"vocab\" object");
  int32_t max_id = -1;
  vocab_.reserve(m["vocab"].size());
  for (auto& [tok, id] : m["vocab"].items()) {
    TRITIUM_CHECK(id.is_number_integer(), "tokenizer.json: model vocab entry \"", tok, "\" has a non-integer id");
    int32_t i = id.get<int32_t>();
    TRITIUM_CHECK(i >= 0, "tokenizer.json: model vocab entry \"", tok, "\" has a negative id");
    vocab_.emplace(tok, i);
    max_id = std::max(max_id, i);
  }
  vocab_r_.resize(max_id + 1);
  has_r_.assign(max_id + 1, false);
  for (auto& [t, i] : vocab_) {
    vocab_r_[i] = t;
    has_r_[i] = true;
  }
  unk_ = opt_str(m, "unk_token");
  prefix_ = opt_str(m, "continuing_subword_prefix");
  suffix_ = opt_str(m, "end_of_word_suffix");
  byte_fallback_ = m.value("byte_fallback", false);
  fuse_unk_ = m.value("fuse_unk", false);
  ignore_merges_ = m.value("ignore_merges", false);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    auto it = vocab_.find(std::string_view(buf));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  size_t plen = prefix_ ? prefix_->size() : 0;
  if (m.contains("merges") && m["merges"].is_array()) {
    const json& ms = m["merges"];
    merges_.reserve(ms.size() * 2);
    int32_t rank = 0;
    std::string joined;
    for (auto& e : ms) {
      std::string_view a, b;
      if (e.is_string()) {
        std::string_view s = e.get_ref<const std::string&>();
        size_t sp = s.find(' ');
        TRITIUM_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                      "tokenizer.json: model merge ", rank + 1, " \"", s, "\" is not \"a b\"");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
        a = e[0].get_ref<const std::string&>();
        b = e[1].get_ref<const std::string&>();
      } else {
        throw Error(str_cat("tokenizer.json: model merge ", rank + 1, " is neither \"a b\" nor [\"a\", \"b\"]"));
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b);
      TRITIUM_CHECK(ia != vocab_.end() && ib != vocab_.end(), "tokenizer.json: model merge ", rank + 1,
                    " uses a token that is not in the vocab");
      TRITIUM_CHECK(b.size() >= plen, "tokenizer.json: model merge ", rank + 1, " is shorter than the subword prefix");
      joined.assign(a);
      joined.append(b.substr(plen));
      auto in = vocab_.find(std::string_view(joined));
      TRITIUM_CHECK(in != vocab_.end(), "tokenizer.json: model merge ", rank + 1, " makes \"", joined,
                    "\" which is not in the vocab");
      uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
      merges_.emplace(key, std::make_pair(rank, in->second));
      ++rank;
    }
  } else {
    TRITIUM_CHECK(!m.contains("merges") || m["merges"].is_null(), "tokenizer.json: model \"merges\" must be an array");
  }
  if (unk_) {
    TRITIUM_CHECK(vocab_.count(*unk_), "tokenizer.json: model unk_token \"", *unk_, "\" is not in the vocab");
  }
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view t) const {
  auto it = vocab_.find(t);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_r_.size() || !has_r_[id]) return nullptr;
  return &vocab_r_[id];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> lk(cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (word.size() < 256) {
    std::lock_guard<std::mutex> lk(cache_mu_);
    if (cache_.size() >= 100000) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

void BpeModel::merge_word(std::string_view w, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Sym> syms;
  syms.reserve(w.size());
  auto add = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, -1, true});
    if (n > 0) syms[n - 1].next = n;
  };
  std::optional<int32_t> unk_id;
  int32_t pend_unk = -1;  // pending (possibly fused) unknown
  std::string s;
  for (size_t i = 0; i < w.size();) {
    size_t n = utf8_len(static_cast<unsigned char>(w[i]));
    if (i + n > w.size()) n = w.size() - i;
    bool first = i == 0, last = i + n == w.size();
    s.clear();
    if (!first && prefix_) s += *prefix_;
    s.append(w.substr(i, n));
    if (last && suffix_) s += *suffix_;
    i += n;
    auto it = vocab_.find(std::string_view(s));
    if (it != vocab_.end()) {
      if (pend_unk >= 0) {
        add(pend_unk);
        pend_unk = -1;
      }
      add(it->second);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char c : s) all = all && byte_ids_[c] >= 0;
      if (all) {
        for (unsigned char c : s) add(byte_ids_[c]);
        continue;
      }
    }
    if (unk_) {
      if (!unk_id) unk_id = vocab_.find(*unk_)->second;
      if (pend_unk >= 0 && !fuse_unk_) add(pend_unk);
      pend_unk = *unk_id;
    }
  }
  if (pend_unk >= 0) add(pend_unk);

  struct Cand {
    int32_t rank, pos, new_id;
    bool operator<(const Cand& o) const {  // max-heap: lowest rank, then lowest pos, on top
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  auto lookup = [&](int32_t a, int32_t b) -> const std::pair<int32_t, int32_t>* {
    auto it = merges_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::priority_queue<Cand> q;
  for (size_t k = 0; k + 1 < syms.size(); ++k) {
    if (auto m = lookup(syms[k].id, syms[k + 1].id)) q.push({m->first, static_cast<int32_t>(k), m->second});
  }
  while (!q.empty()) {
    Cand c = q.top();
    q.pop();
    Sym& left = syms[c.pos];
    if (!left.alive || left.next < 0) continue;
    Sym& right = syms[left.next];
    auto m = lookup(left.id, right.id);
    if (!m || m->second != c.new_id) continue;
    left.id = c.new_id;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = c.pos;
    if (left.prev >= 0) {
      if (auto pm = lookup(syms[left.prev].id, left.id)) q.push({pm->first, left.prev, pm->second});
    }
    if (left.next >= 0) {
      if (auto nm = lookup(left.id, syms[left.next].id)) q.push({nm->first, c.pos, nm->second});
    }
  }
  for (int32_t k = syms.empty() ? -1 : 0; k >= 0; k = syms[k].next) out.push_back(syms[k].id);
}

}  // namespace tritium::tok
