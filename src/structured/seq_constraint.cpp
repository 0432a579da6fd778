#include "structured/seq_constraint.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"

namespace tritium::structured {

SeqConstraint::SeqConstraint(Matcher m) : m_(std::move(m)) {}

void SeqConstraint::prepare(int64_t num_generated, int min_tokens, const std::vector<int32_t>& eos_ids) {
  if (prepared_) return;
  prepared_ = true;
  mask_.assign(m_.mask_words(), 0);
  if (!error_.empty()) return;
  if (!m_.compute_mask(mask_.data())) {
    error_ = "structured output: " + m_.error();
    mask_.assign(mask_.size(), 0);
    return;
  }
  if (num_generated < min_tokens) {
    // min_tokens holds eos back, but never so far as to leave nothing to draw.
    std::vector<uint32_t> held = mask_;
    for (int32_t e : eos_ids)
      if (e >= 0 && size_t(e / 32) < held.size()) held[size_t(e / 32)] &= ~(uint32_t(1) << (e % 32));
    bool any = false;
    for (uint32_t w : held) any = any || w != 0;
    if (any) mask_ = std::move(held);
  }
}

void SeqConstraint::apply(float* logits, int64_t n) const {
  const int64_t words = int64_t(mask_.size());
  for (int64_t w = 0; w * 32 < n; ++w) {
    const uint32_t bits = w < words ? mask_[size_t(w)] : 0;
    if (bits == 0xffffffffu) continue;
    const int64_t end = std::min<int64_t>(n, (w + 1) * 32);
    for (int64_t t = w * 32; t < end; ++t)
      if (!((bits >> (t - w * 32)) & 1)) logits[t] = -INFINITY;
  }
}

SeqConstraint::Step SeqConstraint::consume(int32_t token) {
  prepared_ = false;
  if (!error_.empty()) return Step::Rejected;
  if (!m_.consume(token)) {
    std::string why = m_.error();
    error_ = "structured output: the grammar does not allow token " + std::to_string(token) +
             (why.empty() ? std::string() : ": " + why);
    return Step::Rejected;
  }
  return m_.stopped() ? Step::Done : Step::Continue;
}

void prepare_masks(std::span<const MaskJob> jobs, const std::vector<int32_t>& eos_ids) {
  if (jobs.size() == 1) {
    jobs[0].c->prepare(jobs[0].num_generated, jobs[0].min_tokens, eos_ids);
    return;
  }
  parallel_for(int64_t(jobs.size()), 1, [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) jobs[size_t(i)].c->prepare(jobs[size_t(i)].num_generated, jobs[size_t(i)].min_tokens, eos_ids);
  });
}

}  // namespace tritium::structured
