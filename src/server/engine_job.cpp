#include "server/engine_job.h"

#include "core/error.h"
#include "server/api_error.h"

namespace tritium::server {

EngineJob::~EngineJob() {
  if (!finished_) abort_all();
  if (admitted_) ctx_.release(admitted_);
}

void EngineJob::submit(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& sp,
                       const std::string& id_base) {
  n_ = sp.n;
  const int seqs = int(prompts.size()) * sp.n;
  ctx_.admit(seqs);
  admitted_ = seqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::string id = prompts.size() == 1 ? id_base : id_base + "-" + std::to_string(i);
    try {
      handles_.push_back(ctx_.engine->submit(prompts[i], sp, 0, id));
      ids_.push_back(id);
      std::lock_guard<std::mutex> lk(ctx_.live_mu);
      ctx_.live.insert(id);
    } catch (const Error& e) {
      abort_all();
      handles_.clear();
      ids_.clear();
      finished_ = true;
      const std::string msg = e.what();
      std::string param = msg.rfind("logit_bias", 0) == 0 ? "logit_bias"
                          : msg.rfind("prompt", 0) == 0   ? (prompts.size() == 1 ? "prompt" : str_cat("prompt[", i, "]"))
                                                          : "";
      throw ApiError(400, e.what(), param);
    }
  }
}

void EngineJob::abort_all() {
  for (auto& id : ids_) ctx_.engine->abort(id);
  std::lock_guard<std::mutex> lk(ctx_.live_mu);
  for (auto& id : ids_) ctx_.live.erase(id);
}

void EngineJob::start() {
  auto self = shared_from_this();
  out_->on_disconnect([self] {
    if (self->finished_) return;
    self->client_gone_ = true;
    self->abort_all();
  });
  for (auto& h : handles_) {
    // Runs on the engine's output thread: only schedule the drain on the strand.
    h.set_notify([self] {
      if (!self->scheduled_.exchange(true)) self->out_->post([self] { self->drain(); });
    });
  }
  if (handles_.empty()) out_->post([self] { self->drain(); });
}

void EngineJob::drain() {
  scheduled_ = false;
  if (finished_) return;
  RequestOutput o;
  for (size_t i = 0; i < handles_.size(); ++i) {
    while (handles_[i].try_next(o)) {
      if (o.finished) ctx_.metrics->observe_finished(o);
      on_output(i, o);
    }
  }
  for (auto& h : handles_)
    if (!h.done()) return;
  finished_ = true;
  {
    std::lock_guard<std::mutex> lk(ctx_.live_mu);
    for (auto& id : ids_) ctx_.live.erase(id);
  }
  for (auto& h : handles_) h.set_notify(nullptr);  // drops the callbacks' hold on this job
  if (admitted_) ctx_.release(admitted_);
  admitted_ = 0;
  on_done();
}

}  // namespace tritium::server
