// Structured output on top of llguidance (its C API, llguidance.h): a model's vocabulary as
// llguidance sees it, built once per model from our Tokenizer, and the matcher of one sequence
// (the grammar's state: which tokens may come next, consume a token, stopped or not).
//
//   structured::Vocabulary vocab(tokenizer, model_vocab_size, eos_ids);
//   structured::Matcher m = structured::Matcher::compile(vocab, Constraint::regex("[0-9]+"));
//   std::vector<uint32_t> mask(vocab.mask_words());
//   m.compute_mask(mask.data());   // bit t of word t / 32: token t allowed
//   m.consume(token);              // false: rejected (m.error() says why)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tritium/sampling_params.h"

struct LlgTokenizer;
struct LlgMatcher;

namespace tritium::structured {

class Vocabulary {
 public:
  // vocab_size: the model's (the logits' width; ids the tokenizer lacks are never allowed).
  // eos_ids: the tokens that end a sequence, allowed wherever the grammar may end.
  Vocabulary(const Tokenizer& tok, int64_t vocab_size, const std::vector<int32_t>& eos_ids);
  ~Vocabulary();
  Vocabulary(const Vocabulary&) = delete;
  Vocabulary& operator=(const Vocabulary&) = delete;

  int64_t size() const { return size_; }
  size_t mask_words() const { return size_t((size_ + 31) / 32); }
  const std::vector<int32_t>& eos_ids() const { return eos_; }
  const LlgTokenizer* handle() const { return tok_; }
  // Without eos ids llguidance still needs an end token: this id (one with no bytes) stands in
  // and is never allowed; -1 when the model has eos ids.
  int32_t stand_in_eos() const { return stand_in_eos_; }

 private:
  LlgTokenizer* tok_ = nullptr;
  int64_t size_ = 0;
  std::vector<int32_t> eos_;
  int32_t stand_in_eos_ = -1;
};

// What llguidance compiles for a constraint: its grammar type ("json", "regex", "lark") and
// text. JSON schemas get bounded whitespace between tokens (at most kJsonWhitespace characters
// of JSON whitespace per gap) unless the schema sets its own "x-guidance" options.
struct LlgGrammar {
  std::string type, data;
};
constexpr int kJsonWhitespace = 20;
LlgGrammar llguidance_grammar(const Constraint& c);

class Matcher {
 public:
  // Throws Error naming the constraint and llguidance's reason when it does not compile.
  static Matcher compile(const Vocabulary& vocab, const Constraint& c);
  Matcher(Matcher&& o) noexcept;
  Matcher& operator=(Matcher&& o) noexcept;
  ~Matcher();
  Matcher clone() const;  // the same state, independent from now on (n > 1)
  size_t mask_words() const { return words_; }

  // Writes the allowed tokens into words[0, vocab.mask_words()); false on error (error()).
  bool compute_mask(uint32_t* words);
  // Advances by one token; false when the grammar does not allow it (error() says why).
  bool consume(int32_t token);
  bool stopped() const;    // the grammar can take no more tokens (done, or failed)
  bool accepting() const;  // the output so far is complete (eos would be allowed)
  std::string error() const;  // "" while fine

 private:
  Matcher(LlgMatcher* m, size_t words) : m_(m), words_(words) {}
  LlgMatcher* m_ = nullptr;
  size_t words_ = 0;
  int32_t stand_in_eos_ = -1;
};

}  // namespace tritium::structured
