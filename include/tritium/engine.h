// The public engine API: submit requests from any thread, receive streamed outputs.
//
//   tritium::Engine engine({.model = "/models/llama"});
//   auto h = engine.submit({1, 2, 3}, params);
//   tritium::RequestOutput out;
//   while (h.next(out)) { ... out.new_token_ids, out.new_text, out.finished ... }
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tritium/sampling_params.h"

namespace tritium {

namespace tok {
class Tokenizer;
}
class ChatTemplate;

struct EngineConfig {
  // A Hugging Face checkpoint directory, a .gguf file or ORG/NAME[@REV] (tritium/model_files.h).
  std::string model;
  std::string synthetic;        // or a synthetic model name (random weights)
  // A directory with tokenizer.json (+ tokenizer_config.json) used instead of the model's own
  // ("" = the model's; a synthetic model has none).
  std::string tokenizer;
  std::string device = "cpu";   // cpu, cuda, cuda:N
  std::string dtype;            // compute dtype; "" = the backend's default
  // KV cache dtype: "auto" (the compute dtype) or "fp8" / "fp8_e4m3" (e4m3, scale 1: half the
  // bytes, so twice the tokens and faster decode attention, at some accuracy; CUDA: sm89+, bf16).
  std::string kv_cache_dtype = "auto";
  // Weight quantization: "none" or "fp8" (the decoder layers' linears as fp8 e4m3 with one scale
  // per output row, made at load, and activations quantized per token: W8A8 as vLLM's
  // --quantization fp8; half the weight bytes and fp8 tensor cores, at some accuracy; CUDA: sm89+).
  std::string quantization = "none";
  int block_size = 16;          // tokens per KV block
  int max_num_seqs = 256;       // sequences in one batch at most
  // Tokens in one step at most (prefill chunking). 0: 8192 on a GPU with at least 70 GiB of
  // memory (vLLM's default for its server there), else 2048.
  int max_num_batched_tokens = 0;
  int max_model_len = 0;        // prompt + output tokens; 0 = max_position_embeddings
  double gpu_memory_utilization = 0.9;
  int64_t kv_cache_bytes = 0;   // 0 = default (GPU: by utilization; CPU: 1 GiB or what max_num_seqs needs)
  bool enable_prefix_caching = true;
  uint64_t seed = 0;            // for requests without a seed of their own
  // Decode steps of up to this many sequences run as graphs (CUDA graphs on a GPU; padded
  // batches run eagerly on the CPU). -1: min(max_num_seqs, 256) on a GPU, off on the CPU;
  // 0: off (eager, as vLLM's --enforce-eager).
  int max_graph_batch = -1;
  // Where tokens are drawn: "auto" (on a GPU, on the device whenever the request's sampling
  // allows it: no penalties, no logprobs), "device" (the same rule on any device) or "host".
  std::string sampler = "auto";
  // Plan the next step (schedule it, build its batch) while the device runs the current one,
  // when nothing waits and every running sequence decodes; used unless something changes.
  bool overlap_scheduling = true;
  // When a step's tokens are drawn on the device, enqueue the next decode step before waiting
  // for them (it reads them on the device), so that the device does not idle while the host
  // takes them, as vLLM's async scheduling; used when nothing waits and every running sequence
  // decodes. A sequence that finishes leaves an unused row in the step already enqueued.
  bool async_scheduling = true;
  // Test fixture (tests of the server and CLI need a model whose output is known): a JSON file
  // of rules {"when": TEXT, "reply": TEXT, "repeat": false}. A request whose prompt (decoded)
  // contains a rule's `when` (the rule matching latest in the prompt wins) has the tokens of
  // `reply` forced, one per step, by adding a large bias to their logits before the draw; then
  // end-of-sequence (or `reply` again and again with repeat). The forward pass, the KV cache,
  // sampling, detokenizing and stop rules run as for any request. Needs a tokenizer; tokens are
  // drawn on the host. Other prompts get the model's own tokens.
  std::string test_script;
};

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely tokens, best first
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // prompt tokens served by the prefix cache
};

struct RequestOutput {
  std::string request_id;
  int index = 0;                       // which of the n outputs
  std::vector<int32_t> new_token_ids;  // since the previous output of this index
  std::string new_text;                // detokenized, complete UTF-8 only
  std::vector<TokenLogprob> logprobs;  // one per new token, when asked for
  bool finished = false;
  std::string finish_reason;           // stop, length, abort (or error)
  Usage usage;                         // filled on the finishing output
  // Engine-side timestamps (steady clock, seconds), filled on the finishing output. scheduled_time:
  // when the request first ran in a step (its time in the queue ends); 0 if it never ran.
  double arrival_time = 0, scheduled_time = 0, first_token_time = 0, finished_time = 0;
  std::string error;                   // set when the request failed
};

struct RequestState;

// A request's stream of outputs. Copyable; all copies read the same stream.
class RequestHandle {
 public:
  RequestHandle() = default;
  explicit RequestHandle(std::shared_ptr<RequestState> s) : s_(std::move(s)) {}
  const std::string& id() const;
  // Blocks for the next output; false once every output of the request has been read.
  bool next(RequestOutput& out);
  // Does not block: true with the next output if one is queued.
  bool try_next(RequestOutput& out);
  // True once every output of the request has been read.
  bool done() const;
  // fn is called (on the engine's output thread; it must not block) after each output is
  // queued, and once at once when outputs are queued already. One callback per request.
  void set_notify(std::function<void()> fn);

 private:
  std::shared_ptr<RequestState> s_;
};

struct Histogram {
  std::vector<double> bounds;    // upper bounds (seconds)
  std::vector<uint64_t> counts;  // one per bound, plus one for +inf
  double sum = 0;
  uint64_t count = 0;
  void observe(double v);
  double quantile(double q) const;  // from the buckets (upper bound of the bucket)
};

struct EngineMetrics {
  int64_t running = 0, waiting = 0;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  double prefix_cache_hit_rate = 0;  // of prompt blocks looked up
  int64_t prefix_cache_queried_tokens = 0, prefix_cache_hit_tokens = 0;  // full prompt blocks, in tokens
  int64_t prompt_tokens = 0, generation_tokens = 0;
  int64_t requests_finished = 0, preemptions = 0;
  Histogram ttft, itl;  // seconds
};

struct Completion {
  std::string request_id;
  std::vector<std::vector<int32_t>> output_ids;  // one per n
  std::vector<std::string> texts;
  std::vector<std::string> finish_reasons;
  Usage usage;
  double ttft_s = 0, total_s = 0;
};

class Engine {
 public:
  explicit Engine(const EngineConfig& cfg);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and queues a request; throws tritium::Error for bad input (empty prompt,
  // prompt longer than max_model_len, bad sampling parameters). Any thread.
  RequestHandle submit(std::vector<int32_t> prompt_ids, const SamplingParams& params, int priority = 0,
                       std::string request_id = "");
  // Tokenizes the text with the model's tokenizer first.
  RequestHandle submit(const std::string& prompt, const SamplingParams& params, int priority = 0,
                       std::string request_id = "");
  // Stops a request; its outputs end with finish_reason "abort". Unknown ids are ignored.
  void abort(const std::string& request_id);
  // Submits all prompts at once and waits for every completion (in input order).
  std::vector<Completion> generate(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params);

  EngineMetrics metrics() const;
  int64_t max_model_len() const;
  int64_t max_num_batched_tokens() const;  // the step's token budget in force (the default resolved)
  int64_t vocab_size() const;
  bool has_tokenizer() const;
  // The model's tokenizer; nullptr when the model has none. Thread-safe to use (const).
  const tok::Tokenizer* tokenizer() const;
  // The model's chat template (tokenizer_config.json / chat_template.jinja); nullptr when the
  // model has none. Thread-safe to render (const).
  const ChatTemplate* chat_template() const;
  std::string model_name() const;
  std::string device() const;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tritium
