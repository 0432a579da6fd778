// Engine internals: the engine thread (schedule, forward, sample) and the output thread
// (detokenize, stop strings, stream to request handles).
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "engine/scheduler.h"
#include "engine/test_script.h"
#include "model/model.h"
#include "ops/device_sampler.h"
#include "ops/token_mask.h"
#include "structured/grammar.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tritium/engine.h"

namespace tritium {

struct RequestState {
  std::string id;
  int n = 1;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<RequestOutput> queue;
  int finished = 0;  // outputs (of n) that have finished
  SamplingParams params;  // shared by the n sequences (stop strings, skip_special_tokens)
  std::function<void()> notify;  // RequestHandle::set_notify
};

// What the engine thread tells the output thread about one sequence.
struct TokenEvent {
  uint64_t seq_id = 0;
  std::shared_ptr<RequestState> req;
  int index = 0;
  std::vector<int32_t> tokens;  // new tokens (usually one)
  std::vector<TokenLogprob> logprobs;
  bool finished = false;
  std::string finish_reason;
  std::string error;
  Usage usage;
  double arrival_time = 0, scheduled_time = 0, first_token_time = 0, finished_time = 0;
};

struct Engine::Impl {
  explicit Impl(const EngineConfig& cfg);
  ~Impl();

  // --- set up once
  EngineConfig cfg;
  std::string model_path;  // cfg.model resolved (a directory or a .gguf file)
  std::unique_ptr<Model> model;
  std::optional<Tokenizer> tokenizer;
  std::optional<ChatTemplate> chat_template;  // when the model has one that parses
  // Structured output: the vocabulary as llguidance sees it, built on the first constrained
  // request (declared before the sequences' owners: their matchers must go first).
  std::once_flag grammar_vocab_once;
  std::unique_ptr<structured::Vocabulary> grammar_vocab;
  std::unique_ptr<BlockPool> pool;
  KVCache kv;
  std::unique_ptr<Scheduler> scheduler;
  int64_t max_model_len = 0;
  int64_t max_num_batched_tokens = 0;  // cfg's, or the default for the device
  std::vector<int32_t> eos_ids;
  bool device_sampling = false;  // draw tokens with ops::sample where the params allow
  DeviceSampler sampler;
  std::optional<TestScript> script;  // EngineConfig::test_script
  DeviceTokenMask token_mask;  // structured output's masks for device draws

  // --- submission queue (any thread -> engine thread)
  struct NewSeq {
    std::unique_ptr<Sequence> seq;
    std::shared_ptr<RequestState> req;
  };
  std::mutex in_mu;
  std::condition_variable in_cv;
  std::deque<NewSeq> incoming;
  std::vector<std::string> aborts;         // request ids
  std::vector<std::pair<uint64_t, std::string>> stops;  // seq ids finished by the output thread
  bool stopping = false;
  std::atomic<uint64_t> next_seq_id{1}, next_request{0}, arrivals{0};

  // --- engine thread state
  std::unordered_map<uint64_t, std::shared_ptr<RequestState>> seq_req;  // live sequences

  // --- output thread
  std::mutex out_mu;
  std::condition_variable out_cv;
  std::deque<TokenEvent> out_events;

  // --- metrics (engine thread writes, others read under the lock)
  mutable std::mutex metrics_mu;
  EngineMetrics m;

  std::thread engine_thread, output_thread;

  // TRITIUM_PROFILE=1: seconds spent per phase of the engine step, printed at shutdown.
  bool profile = false;
  struct Phase {
    double schedule = 0, plan = 0, forward = 0, sample = 0, masks = 0;
    int64_t steps = 0, tokens = 0;
  } phase;

  // The next step, planned (scheduled, batch built) while the current one runs on the device.
  struct Planned {
    SchedulerOutput out;
    ForwardBatch batch;  // token ids not filled in yet
    std::vector<Sequence*> sampled;
    std::vector<uint64_t> seq_ids;
  };
  bool overlap = true;
  std::optional<Planned> planned;
  std::atomic<int64_t> planned_steps{0};

  // The step whose tokens the device is drawing (async scheduling): its sampled rows, with
  // the seq id of each (a row whose sequence finished meanwhile is skipped; nullptr: a spare
  // row of a sequence that had finished when the step was enqueued).
  struct InFlight {
    std::vector<Sequence*> sampled;
    std::vector<uint64_t> seq_ids;
  };
  bool async = true;
  std::optional<InFlight> in_flight;
  std::atomic<int64_t> ahead_steps{0};  // steps enqueued before the previous one's tokens were known

  void engine_loop();
  void advance_in_flight();  // collects in_flight, enqueuing the next step first where it can
  void host_draw(const Tensor& dev_logits, const std::vector<Sequence*>& sampled, std::vector<int32_t>& toks,
                 std::vector<TokenLogprob>& lps);
  bool draw_on_device(const std::vector<Sequence*>& sampled) const;
  // draw_on_device, every row greedy: the step may return the tokens (ForwardBatch::argmax_only)
  bool argmax_on_device(const std::vector<Sequence*>& sampled) const;
  void launch_draw(const Tensor& dev_logits, const std::vector<Sequence*>& sampled);
  // Structured output (engine_constraint.cpp): compiles a request's constraint (throws Error
  // naming what does not compile); computes the masks of a step's constrained rows, called
  // once the step's forward is enqueued so that the device runs it meanwhile.
  structured::Matcher compile_constraint(const Constraint& c);
  void prepare_masks(const std::vector<Sequence*>& sampled);
  void apply_masks_on_device(const Tensor& logits, const std::vector<Sequence*>& sampled);
  void take_tokens(const std::vector<Sequence*>& sampled, const std::vector<uint64_t>& seq_ids,
                   const std::vector<int32_t>& toks, std::vector<TokenLogprob>* lps);
  void output_loop();
  ForwardBatch build_batch(const SchedulerOutput& out, std::vector<Sequence*>& sampled, bool known);
  bool plan_valid() const;
  void run_step(SchedulerOutput& out, ForwardBatch& b, std::vector<Sequence*>& sampled);
  void finish_seq(Sequence* s, const std::string& reason, const std::string& error = "");
  void emit(TokenEvent ev);
  void update_metrics();
};

}  // namespace tritium
