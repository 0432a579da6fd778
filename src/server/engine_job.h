// One HTTP request's engine requests (several for /v1/completions with a list of prompts), from
// submission to the last output: outputs are taken on the connection's strand when the engine's
// output thread signals them; a client that disconnects aborts every engine request at once
// (freeing their KV blocks); admission (the 429 bound) and the finish metrics are kept here.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/context.h"
#include "tritium/engine.h"

namespace tritium::server {

class EngineJob : public std::enable_shared_from_this<EngineJob> {
 public:
  EngineJob(Context& ctx, std::shared_ptr<Responder> out) : ctx_(ctx), out_(std::move(out)) {}
  virtual ~EngineJob();

  // Submits one engine request per prompt (ids `id_base`-0, -1, ... when several). Throws
  // ApiError 429 (queue full) or 400 (the engine refused a prompt; none stays submitted).
  void submit(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& sp, const std::string& id_base);
  // Starts taking outputs (call once, after submit, from the connection's strand).
  void start();

 protected:
  // On the strand, in order per engine request. prompt: which prompt of submit().
  virtual void on_output(size_t prompt, RequestOutput& o) = 0;
  // Every output of every request taken (also after a disconnect: out_ then ignores writes).
  virtual void on_done() = 0;

  Context& ctx_;
  std::shared_ptr<Responder> out_;
  bool client_gone_ = false;
  int n_ = 1;

 private:
  std::vector<RequestHandle> handles_;
  std::vector<std::string> ids_;
  int admitted_ = 0;
  bool finished_ = false;
  std::atomic<bool> scheduled_{false};
  void drain();
  void abort_all();
};

}  // namespace tritium::server
