#include "structured/grammar.h"

#include <llguidance.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace tritium {

const char* constraint_kind_name(Constraint::Kind k) {
  switch (k) {
    case Constraint::Kind::None: return "none";
    case Constraint::Kind::JsonSchema: return "json_schema";
    case Constraint::Kind::JsonObject: return "json_object";
    case Constraint::Kind::Regex: return "regex";
    case Constraint::Kind::Choice: return "choice";
    case Constraint::Kind::Grammar: return "grammar";
  }
  return "?";
}

namespace structured {

namespace {
// llguidance marks special tokens with a leading 0xFF byte: text never contains it, so a
// grammar only produces them where it names them.
constexpr char kSpecialMarker = '\xFF';

// "the JSON schema", or "response_format.json_schema.schema (a JSON schema)" when the field is known.
std::string what(const Constraint& c) {
  const char* k = "constraint";
  switch (c.kind) {
    case Constraint::Kind::JsonSchema: k = "JSON schema"; break;
    case Constraint::Kind::JsonObject: k = "json_object format"; break;
    case Constraint::Kind::Regex: k = "regex"; break;
    case Constraint::Kind::Choice: k = "choice list"; break;
    case Constraint::Kind::Grammar: k = "Lark grammar"; break;
    default: break;
  }
  return c.field.empty() ? str_cat("the ", k) : str_cat(c.field, " (a ", k, ")");
}
}  // namespace

Vocabulary::Vocabulary(const Tokenizer& tok, int64_t vocab_size, const std::vector<int32_t>& eos_ids)
    : size_(vocab_size) {
  TRITIUM_CHECK(vocab_size > 0 && vocab_size < (int64_t(1) << 31), "structured output: bad vocabulary size ",
                vocab_size);
  for (int32_t e : eos_ids)
    if (e >= 0 && e < vocab_size && std::find(eos_.begin(), eos_.end(), e) == eos_.end()) eos_.push_back(e);
  std::vector<uint32_t> lens(size_t(vocab_size), 0);
  std::string bytes;
  bytes.reserve(size_t(vocab_size) * 8);
  for (int64_t i = 0; i < vocab_size; ++i) {
    std::optional<std::string> b = tok.token_bytes(int32_t(i));
    if (!b) continue;  // an id the tokenizer lacks (the model's vocabulary may be padded): never allowed
    const size_t before = bytes.size();
    if (tok.is_special(int32_t(i))) bytes += kSpecialMarker;
    bytes += *b;
    lens[size_t(i)] = uint32_t(bytes.size() - before);
  }
  LlgTokenizerInitV2 init = {};
  init.struct_size = sizeof(init);
  init.vocab_size = uint32_t(vocab_size);
  // llguidance needs an end token; a model without one gets a stand-in (an id with no bytes, or
  // the last) whose bit Matcher::compute_mask clears: such a sequence ends when the grammar stops.
  int32_t eos = -1;
  if (!eos_.empty()) {
    eos = eos_[0];
  } else {
    eos = int32_t(vocab_size - 1);
    for (int64_t i = vocab_size - 1; i >= 0; --i)
      if (lens[size_t(i)] == 0) {
        eos = int32_t(i);
        break;
      }
    stand_in_eos_ = eos;
  }
  init.tok_eos = uint32_t(eos);
  std::vector<uint32_t> extra;
  for (size_t i = 1; i < eos_.size(); ++i) extra.push_back(uint32_t(eos_[i]));
  init.tok_eos_extra = extra.empty() ? nullptr : extra.data();
  init.tok_eos_extra_count = uint32_t(extra.size());
  init.token_lens = lens.data();
  init.token_bytes = reinterpret_cast<const uint8_t*>(bytes.data());
  // Tokenizing text is only needed for prompt healing and forced tokens, which are not used.
  init.use_approximate_greedy_tokenize_fn = true;
  char err[1024] = {0};
  tok_ = llg_new_tokenizer_v2(&init, err, sizeof(err));
  TRITIUM_CHECK(tok_, "structured output: llguidance does not take this vocabulary: ", err);
}

Vocabulary::~Vocabulary() { llg_free_tokenizer(tok_); }

LlgGrammar llguidance_grammar(const Constraint& c) {
  using ojson = nlohmann::ordered_json;
  auto with_whitespace = [](ojson schema) {
    if (schema.is_object() && !schema.contains("x-guidance"))
      schema["x-guidance"] = {{"whitespace_pattern", str_cat("[\\x20\\x0A\\x0D\\x09]{0,", kJsonWhitespace, "}")}};
    return schema.dump();
  };
  switch (c.kind) {
    case Constraint::Kind::JsonSchema: {
      ojson schema;
      try {
        schema = ojson::parse(c.spec);
      } catch (const ojson::exception& e) {
        throw Error(str_cat("structured output: ", what(c), " is not valid JSON: ", e.what()));
      }
      if (!schema.is_object() && !schema.is_boolean())
        throw Error(str_cat("structured output: ", what(c), " must be a JSON object, got ", schema.type_name()));
      return {"json", with_whitespace(std::move(schema))};
    }
    case Constraint::Kind::JsonObject: return {"json", with_whitespace(ojson{{"type", "object"}})};
    case Constraint::Kind::Regex: return {"regex", c.spec};
    case Constraint::Kind::Grammar: return {"lark", c.spec};
    case Constraint::Kind::Choice: {
      // start: "a" | "b" | ...  (Lark string literals take JSON string syntax)
      TRITIUM_CHECK(!c.choices.empty(), "structured output: ", what(c), " is empty");
      std::string g = "start: ";
      for (size_t i = 0; i < c.choices.size(); ++i) {
        if (i) g += " | ";
        g += nlohmann::json(c.choices[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      }
      return {"lark", g + "\n"};
    }
    case Constraint::Kind::None: break;
  }
  throw Error("structured output: no constraint to compile");
}

Matcher Matcher::compile(const Vocabulary& vocab, const Constraint& c) {
  LlgGrammar g;
  try {
    g = llguidance_grammar(c);
  } catch (const nlohmann::json::exception& e) {  // a choice that is not valid UTF-8
    throw Error(str_cat("structured output: ", what(c), " is not valid UTF-8: ", e.what()));
  }
  LlgConstraintInit init;
  llg_constraint_init_set_defaults(&init, vocab.handle());
  init.log_stderr_level = 0;  // errors come back as strings
  init.log_buffer_level = 0;
  LlgMatcher* m = llg_new_matcher(&init, g.type.c_str(), g.data.c_str());
  if (llg_matcher_is_error(m)) {
    const char* e = llg_matcher_get_error(m);
    std::string msg = e ? e : "unknown error";
    llg_free_matcher(m);
    if (c.kind == Constraint::Kind::Grammar && c.spec.find("::=") != std::string::npos)
      msg += " (GBNF rules `a ::= ...` are not Lark: write `a: ...`)";
    throw Error(str_cat("structured output: ", what(c), " does not compile: ", msg));
  }
  Matcher r(m, vocab.mask_words());
  r.stand_in_eos_ = vocab.stand_in_eos();
  return r;
}

Matcher::Matcher(Matcher&& o) noexcept : m_(o.m_), words_(o.words_), stand_in_eos_(o.stand_in_eos_) {
  o.m_ = nullptr;
}

Matcher& Matcher::operator=(Matcher&& o) noexcept {
  if (this != &o) {
    llg_free_matcher(m_);
    m_ = o.m_;
    words_ = o.words_;
    stand_in_eos_ = o.stand_in_eos_;
    o.m_ = nullptr;
  }
  return *this;
}

Matcher::~Matcher() { llg_free_matcher(m_); }

Matcher Matcher::clone() const {
  Matcher r(llg_clone_matcher(m_), words_);
  r.stand_in_eos_ = stand_in_eos_;
  return r;
}

bool Matcher::compute_mask(uint32_t* words) {
  if (llg_matcher_compute_mask_into(m_, words, words_ * 4) != 0) return false;
  if (stand_in_eos_ >= 0) words[stand_in_eos_ / 32] &= ~(uint32_t(1) << (stand_in_eos_ % 32));
  return true;
}

bool Matcher::consume(int32_t token) {
  if (token < 0 || size_t(token) >= words_ * 32) return false;
  return llg_matcher_consume_token(m_, uint32_t(token)) == 0;
}

bool Matcher::stopped() const { return llg_matcher_is_stopped(m_); }
bool Matcher::accepting() const { return llg_matcher_is_accepting(m_); }

std::string Matcher::error() const {
  const char* e = llg_matcher_get_error(m_);
  return e ? e : "";
}

}  // namespace structured
}  // namespace tritium
