// Structured output in the engine: a request's constraint compiled at submission, and the
// token masks of a step's constrained rows (computed on the CPU thread pool while the device
// runs the step's forward; applied on the device before ops::sample, or on the host logits).
#include <chrono>

#include "engine/engine_impl.h"

namespace tritium {

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

structured::Matcher Engine::Impl::compile_constraint(const Constraint& c) {
  if (!tokenizer)
    throw Error(str_cat("structured output (", constraint_kind_name(c.kind),
                        ") needs the model's tokenizer: this model has no tokenizer.json"));
  std::call_once(grammar_vocab_once, [&] {
    grammar_vocab = std::make_unique<structured::Vocabulary>(*tokenizer, model->spec().vocab_size, eos_ids);
  });
  return structured::Matcher::compile(*grammar_vocab, c);
}

void Engine::Impl::prepare_masks(const std::vector<Sequence*>& sampled) {
  std::vector<structured::MaskJob> jobs;
  for (Sequence* s : sampled)
    if (s && s->constraint) jobs.push_back({s->constraint.get(), s->num_generated(), s->params.min_tokens});
  if (jobs.empty()) return;
  const double t0 = now_s();
  structured::prepare_masks(jobs, eos_ids);
  if (profile) phase.masks += now_s() - t0;
}

void Engine::Impl::apply_masks_on_device(const Tensor& logits, const std::vector<Sequence*>& sampled) {
  std::vector<int32_t> rows;
  std::vector<const uint32_t*> masks;
  for (size_t k = 0; k < sampled.size(); ++k) {
    Sequence* s = sampled[k];
    if (!s || !s->constraint) continue;
    s->constraint->prepare(s->num_generated(), s->params.min_tokens, eos_ids);  // done already (prepare_masks)
    rows.push_back(int32_t(k));
    masks.push_back(s->constraint->mask());
  }
  if (!rows.empty()) token_mask.apply(logits, rows, masks, grammar_vocab->mask_words());
}

}  // namespace tritium
