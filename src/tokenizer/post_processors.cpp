// Post-processors of tokenizer.json: TemplateProcessing, ByteLevel (ids unchanged),
// RobertaProcessing, BertProcessing, Sequence. Only the single-sequence case is used.
#include <map>

#include "core/error.h"
#include "tokenizer/components.h"

namespace tritium::tok {
namespace {

class Template : public PostProcessor {
 public:
  explicit Template(const json& j) {
    std::map<std::string, std::vector<int32_t>> specials;
    if (j.contains("special_tokens") && j["special_tokens"].is_object()) {
      for (auto& [name, v] : j["special_tokens"].items()) {
        specials[name] = v.at("ids").get<std::vector<int32_t>>();
      }
    }
    auto parse = [&](const json& seq, bool pair) {
      std::vector<Piece> out;
      if (!seq.is_array()) return out;
      for (auto& p : seq) {
        if (p.contains("SpecialToken")) {
          std::string id = p["SpecialToken"].at("id").get<std::string>();
          auto it = specials.find(id);
          if (it == specials.end()) {
            throw Error(str_cat("tokenizer.json: post_processor TemplateProcessing uses special token \"", id,
                                "\" that is not in special_tokens"));
          }
          out.push_back({false, it->second});
        } else if (p.contains("Sequence")) {
          std::string id = p["Sequence"].at("id").get<std::string>();
          out.push_back({true, {}, id == "B"});
        } else {
          throw Error("tokenizer.json: post_processor TemplateProcessing has a piece that is neither SpecialToken nor Sequence");
        }
      }
      (void)pair;
      return out;
    };
    single_ = parse(j.value("single", json::array()), false);
    for (auto& p : parse(j.value("pair", json::array()), true)) {
      if (!p.is_seq) pair_added_ += p.ids.size();
    }
  }
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    if (!add_special) return;
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (auto& p : single_) {
      if (p.is_seq) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), p.ids.begin(), p.ids.end());
    }
    ids = std::move(out);
  }
  size_t added_tokens(bool is_pair) const override {
    if (is_pair) return pair_added_;
    size_t n = 0;
    for (auto& p : single_) n += p.is_seq ? 0 : p.ids.size();
    return n;
  }

 private:
  struct Piece {
    bool is_seq;
    std::vector<int32_t> ids;
    bool is_b = false;
  };
  std::vector<Piece> single_;
  size_t pair_added_ = 0;
};

class Noop : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
  size_t added_tokens(bool) const override { return 0; }
};

// cls A sep (Roberta and Bert agree for one sequence).
class ClsSep : public PostProcessor {
 public:
  explicit ClsSep(const json& j) {
    cls_ = j.at("cls").at(1).get<int32_t>();
    sep_ = j.at("sep").at(1).get<int32_t>();
  }
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    if (!add_special) return;
    ids.insert(ids.begin(), cls_);
    ids.push_back(sep_);
  }
  size_t added_tokens(bool is_pair) const override { return is_pair ? 4 : 2; }

 private:
  int32_t cls_, sep_;
};

class SequencePP : public PostProcessor {
 public:
  explicit SequencePP(std::vector<std::unique_ptr<PostProcessor>> v) : v_(std::move(v)) {}
  void process(std::vector<int32_t>& ids, bool add_special) const override {
    for (auto& p : v_) p->process(ids, add_special);
  }
  size_t added_tokens(bool is_pair) const override {
    size_t n = 0;
    for (auto& p : v_) n += p->added_tokens(is_pair);
    return n;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> v_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const json& j) {
  if (j.is_null()) return nullptr;
  std::string t = component_type(j, "post_processor");
  if (t == "TemplateProcessing") return std::make_unique<Template>(j);
  if (t == "ByteLevel") return std::make_unique<Noop>();
  if (t == "RobertaProcessing" || t == "BertProcessing") return std::make_unique<ClsSep>(j);
  if (t == "Sequence") {
    TRITIUM_CHECK(j.contains("processors") && j["processors"].is_array(),
                  "tokenizer.json: post_processor Sequence needs a \"processors\" array");
    std::vector<std::unique_ptr<PostProcessor>> v;
    for (auto& x : j["processors"]) {
      auto p = make_post_processor(x);
      if (p) v.push_back(std::move(p));
    }
    return std::make_unique<SequencePP>(std::move(v));
  }
  unsupported("post_processor", t);
}

}  // namespace tritium::tok
