// A sequence's structured output in the engine: its grammar matcher and the token mask of its
// next draw. The engine computes the masks of a step's rows while the device runs the step's
// forward (prepare_masks), applies them where the tokens are drawn (apply on host logits, the
// mask words for ops::apply_token_bitmask on the device) and hands each drawn token back
// (consume), which says whether the grammar is done.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "structured/grammar.h"

namespace tritium::structured {

class SeqConstraint {
 public:
  explicit SeqConstraint(Matcher m);

  // Computes the mask of the next token unless it is already computed for this state.
  // num_generated < min_tokens: eos is masked as well, unless eos is all the grammar allows then.
  // On an llguidance error the mask is empty and the next consume() fails with that error.
  void prepare(int64_t num_generated, int min_tokens, const std::vector<int32_t>& eos_ids);
  bool prepared() const { return prepared_; }
  const uint32_t* mask() const { return mask_.data(); }  // after prepare(): bit t = token t allowed
  size_t mask_words() const { return mask_.size(); }
  // Logits of tokens the mask does not allow (and ids past the vocabulary) set to -inf.
  void apply(float* logits, int64_t n) const;

  enum class Step {
    Continue,  // the token is taken; more may follow
    Done,      // the token is taken and the grammar can take no more: the sequence ends
    Rejected,  // the grammar does not allow the token (or failed): error() says why
  };
  Step consume(int32_t token);
  std::string error() const { return error_; }

 private:
  Matcher m_;
  std::vector<uint32_t> mask_;
  bool prepared_ = false;
  std::string error_;
};

// One row of a step for prepare_masks.
struct MaskJob {
  SeqConstraint* c;
  int64_t num_generated;
  int min_tokens;
};
// prepare() of every job, in parallel on the CPU thread pool.
void prepare_masks(std::span<const MaskJob> jobs, const std::vector<int32_t>& eos_ids);

}  // namespace tritium::structured
