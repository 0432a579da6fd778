#include "engine/engine_impl.h"
#include "core/file.h"
#include "core/thread_pool.h"
#include "engine/next_token.h"
#include "tritium/model_files.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <filesystem>

namespace tritium {

namespace {
double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

// ------------------------------------------------------------------ handles, metrics

const std::string& RequestHandle::id() const {
  static const std::string empty;
  return s_ ? s_->id : empty;
}

bool RequestHandle::try_next(RequestOutput& out) {
  if (!s_) return false;
  std::lock_guard<std::mutex> lk(s_->mu);
  if (s_->queue.empty()) return false;
  out = std::move(s_->queue.front());
  s_->queue.pop_front();
  return true;
}

bool RequestHandle::done() const {
  if (!s_) return true;
  std::lock_guard<std::mutex> lk(s_->mu);
  return s_->queue.empty() && s_->finished >= s_->n;
}

void RequestHandle::set_notify(std::function<void()> fn) {
  if (!s_) return;
  bool now = false;
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    s_->notify = fn;
    now = !s_->queue.empty();
  }
  if (now && fn) fn();
}

bool RequestHandle::next(RequestOutput& out) {
  if (!s_) return false;
  std::unique_lock<std::mutex> lk(s_->mu);
  s_->cv.wait(lk, [&] { return !s_->queue.empty() || s_->finished >= s_->n; });
  if (s_->queue.empty()) return false;
  out = std::move(s_->queue.front());
  s_->queue.pop_front();
  return true;
}

void Histogram::observe(double v) {
  if (bounds.empty()) {
    for (double b = 0.001; b < 100; b *= 1.5) bounds.push_back(b);
    counts.assign(bounds.size() + 1, 0);
  }
  size_t i = size_t(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  ++counts[i];
  sum += v;
  ++count;
}

double Histogram::quantile(double q) const {
  if (count == 0) return 0;
  uint64_t want = uint64_t(std::ceil(q * double(count))), acc = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    acc += counts[i];
    if (acc >= want) return i < bounds.size() ? bounds[i] : INFINITY;
  }
  return INFINITY;
}

// ------------------------------------------------------------------ set-up

Engine::Impl::Impl(const EngineConfig& c) : cfg(c) {
  LoadOptions lo;
  lo.device = Device::parse(cfg.device);
  if (!cfg.dtype.empty()) {
    auto d = dtype_from_string(cfg.dtype);
    if (!d) throw Error("engine: unknown dtype '" + cfg.dtype + "'");
    lo.compute_dtype = *d;
  }
  lo.kv_cache_dtype = kv_cache_dtype_from_string(cfg.kv_cache_dtype);
  lo.quantization = quantization_from_string(cfg.quantization);
  if (!cfg.synthetic.empty()) {
    model = Model::synthetic(cfg.synthetic, lo);
  } else {
    if (cfg.model.empty()) throw Error("engine: no model (set model or synthetic)");
    model_path = resolve_model(cfg.model);
    model = Model::load(model_path, lo);
    if (auto t = load_tokenizer(model_path)) tokenizer.emplace(std::move(*t));
    if (tokenizer) {
      // A model without a usable template still generates from text and ids; say why when it
      // has one that does not load.
      try {
        if (auto c = load_chat_template(model_path)) chat_template.emplace(std::move(*c));
      } catch (const Error& e) {
        std::fprintf(stderr, "warning: %s: the chat template does not load: %s\n", cfg.model.c_str(), e.what());
      }
    }
  }
  if (!cfg.tokenizer.empty()) {
    tokenizer.emplace(Tokenizer::from_dir(cfg.tokenizer));
    TRITIUM_CHECK(int64_t(tokenizer->vocab_size()) <= model->spec().vocab_size, "engine: the tokenizer in ",
                  cfg.tokenizer, " has ", tokenizer->vocab_size(), " tokens, more than the model's vocabulary (",
                  model->spec().vocab_size, ")");
  }
  const ModelSpec& spec = model->spec();
  TRITIUM_CHECK(cfg.block_size > 0 && cfg.max_num_seqs > 0 && cfg.max_num_batched_tokens >= 0,
                "engine: block_size and max_num_seqs must be positive, max_num_batched_tokens positive or 0 (default)");
  max_model_len = cfg.max_model_len > 0 ? cfg.max_model_len : spec.max_position_embeddings;
  eos_ids = spec.eos_token_ids;
  if (tokenizer)
    for (auto e : tokenizer->eos_ids())
      if (std::find(eos_ids.begin(), eos_ids.end(), e) == eos_ids.end()) eos_ids.push_back(e);

  const Device dev = model->device();
  TRITIUM_CHECK(cfg.sampler == "auto" || cfg.sampler == "device" || cfg.sampler == "host",
                "engine: sampler must be auto, device or host, got '", cfg.sampler, "'");
  device_sampling = cfg.sampler == "device" || (cfg.sampler == "auto" && !dev.is_cpu());
  if (!cfg.test_script.empty()) {
    if (!tokenizer) throw Error("engine: test_script " + cfg.test_script + " needs a model with a tokenizer.json");
    script.emplace(TestScript::load(cfg.test_script, *tokenizer));
    device_sampling = false;  // the scripted bias is added on the host
  }
  overlap = cfg.overlap_scheduling;
  async = cfg.async_scheduling;
  // Decode graphs first: their workspace counts as used memory when the KV cache is sized.
  const int64_t graph_batch = cfg.max_graph_batch >= 0 ? cfg.max_graph_batch
                              : dev.is_cpu()           ? 0
                                                       : std::min(cfg.max_num_seqs, 256);
  model->enable_decode_graphs(graph_batch);

  size_t dev_free = 0, dev_total = 0;
  const bool mem_known = !dev.is_cpu() && allocator_for(dev.type) &&
                         allocator_for(dev.type)->memory_info(dev.index, &dev_free, &dev_total);
  // The step's token budget: the default follows vLLM's for its server, 8192 on GPUs of at least
  // 70 GiB (H100: llama-8b serving 256 x (512 in, 256 out) +2-4% over 2048 and TTFT p99 -12%,
  // for ITL p99 62 -> 223 ms: decodes that share a step with an 8192-token chunk), else 2048.
  max_num_batched_tokens = cfg.max_num_batched_tokens > 0                       ? cfg.max_num_batched_tokens
                           : mem_known && dev_total >= (size_t(70) << 30) ? 8192
                                                                               : 2048;

  int64_t per_block = model->kv_bytes_per_block(cfg.block_size);
  int64_t bytes = cfg.kv_cache_bytes;
  if (bytes <= 0 && mem_known) {
    // GPU default (vLLM's rule): the KV cache gets what is left of
    // gpu_memory_utilization x total after the weights, less room for the step's activations.
    TRITIUM_CHECK(cfg.gpu_memory_utilization > 0 && cfg.gpu_memory_utilization <= 1,
                  "gpu_memory_utilization must be in (0, 1], got ", cfg.gpu_memory_utilization);
    const ModelSpec& sp = model->spec();
    int64_t used = int64_t(dev_total - dev_free);
    int64_t activations = max_num_batched_tokens *
                              (8 * sp.hidden_size + 4 * sp.intermediate_size + (sp.num_heads + 2 * sp.num_kv_heads) * sp.head_dim) * 2 +
                          int64_t(cfg.max_num_seqs) * sp.vocab_size * 8 + (int64_t(512) << 20);
    bytes = int64_t(double(dev_total) * cfg.gpu_memory_utilization) - used - activations;
    if (bytes < per_block)
      throw Error(str_cat("engine: no GPU memory left for the KV cache (total ", dev_total >> 20, " MiB, in use ",
                          used >> 20, " MiB, gpu_memory_utilization ", cfg.gpu_memory_utilization, ")"));
  } else if (bytes <= 0) {
    // CPU default: what max_num_seqs full-length sequences need, at most 1 GiB.
    int64_t need = int64_t(cfg.max_num_seqs) * ((max_model_len + cfg.block_size - 1) / cfg.block_size) * per_block;
    bytes = std::min<int64_t>(need, int64_t(1) << 30);
  }
  int64_t num_blocks = bytes / per_block;
  int64_t min_blocks = (max_model_len + cfg.block_size - 1) / cfg.block_size;
  if (num_blocks < min_blocks)
    throw Error(str_cat("engine: the KV cache (", bytes, " bytes = ", num_blocks, " blocks) cannot hold one sequence of ",
                        "max_model_len ", max_model_len, " (", min_blocks, " blocks); raise kv_cache_bytes or lower max_model_len"));
  pool = std::make_unique<BlockPool>(num_blocks, cfg.block_size, cfg.enable_prefix_caching);
  kv = model->allocate_kv_cache(num_blocks, cfg.block_size);
  SchedulerConfig sc;
  sc.max_num_seqs = cfg.max_num_seqs;
  sc.max_num_batched_tokens = max_num_batched_tokens;
  sc.max_model_len = max_model_len;
  scheduler = std::make_unique<Scheduler>(sc, *pool);
  m.kv_blocks_total = num_blocks;
  m.kv_blocks_free = num_blocks;
  if (const char* p = std::getenv("TRITIUM_PROFILE")) profile = std::string(p) == "1";
  engine_thread = std::thread([this] { engine_loop(); });
  output_thread = std::thread([this] { output_loop(); });
}

Engine::Impl::~Impl() {
  {
    std::lock_guard<std::mutex> lk(in_mu);
    stopping = true;
  }
  in_cv.notify_all();
  if (engine_thread.joinable()) engine_thread.join();
  if (profile && phase.steps)
    std::fprintf(stderr,
                 "[tritium profile] %lld steps, %lld tokens: schedule + batch %.3f s, forward %.3f s, sample %.3f s "
                 "(structured output's masks, within those: %.3f s); "
                 "%lld steps planned while the previous one ran (%.3f s of planning hidden behind the device), "
                 "%lld enqueued before the previous one's tokens reached the host; "
                 "%lld graph captures. (forward: launching the step, plus copying logits to the host when the host "
                 "samples; the device runs asynchronously, so waiting for it lands in sample)\n",
                 (long long)phase.steps, (long long)phase.tokens, phase.schedule, phase.forward, phase.sample, phase.masks,
                 (long long)planned_steps, phase.plan, (long long)ahead_steps, (long long)model->num_graph_captures());
  {
    std::lock_guard<std::mutex> lk(out_mu);
    out_events.push_back(TokenEvent{});  // seq_id 0: shut down
  }
  out_cv.notify_all();
  if (output_thread.joinable()) output_thread.join();
}

Engine::Engine(const EngineConfig& cfg) : impl_(std::make_unique<Impl>(cfg)) {}
Engine::~Engine() = default;

int64_t Engine::max_model_len() const { return impl_->max_model_len; }
int64_t Engine::max_num_batched_tokens() const { return impl_->max_num_batched_tokens; }
int64_t Engine::vocab_size() const { return impl_->model->spec().vocab_size; }
bool Engine::has_tokenizer() const { return impl_->tokenizer.has_value(); }
const Tokenizer* Engine::tokenizer() const { return impl_->tokenizer ? &*impl_->tokenizer : nullptr; }
const ChatTemplate* Engine::chat_template() const { return impl_->chat_template ? &*impl_->chat_template : nullptr; }
std::string Engine::model_name() const {
  const Impl& I = *impl_;
  if (!I.cfg.synthetic.empty()) return I.cfg.synthetic;
  if (I.model_path != I.cfg.model) return I.cfg.model;  // a hub repository: its ORG/NAME
  std::filesystem::path p(I.cfg.model);
  if (!p.has_filename()) p = p.parent_path();
  return p.filename().string();
}
std::string Engine::device() const { return impl_->model->device().str(); }

EngineMetrics Engine::metrics() const {
  std::lock_guard<std::mutex> lk(impl_->metrics_mu);
  return impl_->m;
}

// ------------------------------------------------------------------ submission

RequestHandle Engine::submit(std::vector<int32_t> prompt, const SamplingParams& params, int priority,
                             std::string request_id) {
  Impl& I = *impl_;
  params.validate();
  if (prompt.empty()) throw Error("the prompt is empty");
  const int64_t V = I.model->spec().vocab_size;
  for (auto t : prompt)
    if (t < 0 || t >= V) throw Error(str_cat("prompt token id ", t, " is outside the vocabulary (size ", V, ")"));
  if (int64_t(prompt.size()) >= I.max_model_len)
    throw Error(str_cat("the prompt has ", prompt.size(), " tokens, but this model's context is ", I.max_model_len,
                        " tokens (prompt + output); shorten the prompt"));
  if (!params.stop.empty() && !I.tokenizer) throw Error("stop strings need a tokenizer (this model has none)");
  for (auto& [t, bias] : params.logit_bias)
    if (t >= V) throw Error(str_cat("logit_bias token id ", t, " is outside the vocabulary (size ", V, ")"));
  std::shared_ptr<const ScriptedReply> scripted = I.script ? I.script->match(prompt) : nullptr;
  // Structured output: compiled here, in the caller's thread; what does not compile is an Error.
  std::optional<structured::Matcher> matcher;
  if (params.constraint.active()) matcher.emplace(I.compile_constraint(params.constraint));
  if (request_id.empty()) request_id = "req-" + std::to_string(I.next_request++);
  auto req = std::make_shared<RequestState>();
  req->id = request_id;
  req->n = params.n;
  req->params = params;
  double t = now_s();
  {
    std::lock_guard<std::mutex> lk(I.in_mu);
    if (I.stopping) throw Error("the engine is shutting down");
    for (int i = 0; i < params.n; ++i) {
      auto s = std::make_unique<Sequence>();
      s->seq_id = I.next_seq_id++;
      s->request_id = request_id;
      s->index = i;
      s->priority = priority;
      s->arrival = I.arrivals++;
      s->tokens = prompt;
      s->prompt_len = int64_t(prompt.size());
      s->params = params;
      s->seed = params.seed ? *params.seed + uint64_t(i) : I.cfg.seed * 1000003ull + s->seq_id;
      s->rng = SamplerRng(s->seed);
      if (matcher)
        s->constraint = std::make_unique<structured::SeqConstraint>(i + 1 < params.n ? matcher->clone() : std::move(*matcher));
      s->t_arrival = t;
      s->script = scripted;
      I.incoming.push_back({std::move(s), req});
    }
  }
  I.in_cv.notify_all();
  return RequestHandle(req);
}

RequestHandle Engine::submit(const std::string& prompt, const SamplingParams& params, int priority,
                             std::string request_id) {
  if (!impl_->tokenizer) throw Error("this model has no tokenizer (no tokenizer.json, no GGUF tokenizer metadata): submit token ids instead of text");
  return submit(impl_->tokenizer->encode(prompt, true, true), params, priority, std::move(request_id));
}

void Engine::abort(const std::string& request_id) {
  {
    std::lock_guard<std::mutex> lk(impl_->in_mu);
    impl_->aborts.push_back(request_id);
  }
  impl_->in_cv.notify_all();
}

std::vector<Completion> Engine::generate(const std::vector<std::vector<int32_t>>& prompts, const SamplingParams& params) {
  std::vector<RequestHandle> hs;
  std::vector<Completion> res(prompts.size());
  double t0 = now_s();
  for (auto& p : prompts) hs.push_back(submit(p, params));
  for (size_t i = 0; i < hs.size(); ++i) {
    Completion& c = res[i];
    c.request_id = hs[i].id();
    c.output_ids.resize(size_t(params.n));
    c.texts.resize(size_t(params.n));
    c.finish_reasons.resize(size_t(params.n));
    RequestOutput o;
    while (hs[i].next(o)) {
      if (!o.error.empty()) throw Error("request " + c.request_id + " failed: " + o.error);
      auto& ids = c.output_ids[size_t(o.index)];
      if (ids.empty() && !o.new_token_ids.empty() && c.ttft_s == 0) c.ttft_s = now_s() - t0;
      ids.insert(ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      c.texts[size_t(o.index)] += o.new_text;
      if (o.finished) {
        c.finish_reasons[size_t(o.index)] = o.finish_reason;
        c.usage.prompt_tokens = o.usage.prompt_tokens;
        c.usage.completion_tokens += o.usage.completion_tokens;
        c.usage.cached_tokens = std::max(c.usage.cached_tokens, o.usage.cached_tokens);
      }
    }
    c.total_s = now_s() - t0;
  }
  return res;
}

// ------------------------------------------------------------------ engine thread

void Engine::Impl::emit(TokenEvent ev) {
  {
    std::lock_guard<std::mutex> lk(out_mu);
    out_events.push_back(std::move(ev));
  }
  out_cv.notify_one();
}

void Engine::Impl::finish_seq(Sequence* s, const std::string& reason, const std::string& error) {
  auto req = seq_req[s->seq_id];
  seq_req.erase(s->seq_id);
  Usage u{s->prompt_len, s->num_generated(), s->num_cached_prompt};
  auto owned = scheduler->finish(s, reason);
  TokenEvent ev;
  ev.seq_id = owned->seq_id;
  ev.req = req;
  ev.index = owned->index;
  ev.finished = true;
  ev.finish_reason = reason;
  ev.error = error;
  ev.usage = u;
  ev.arrival_time = owned->t_arrival;
  ev.scheduled_time = owned->t_scheduled;
  ev.first_token_time = owned->t_first_token;
  ev.finished_time = owned->num_generated() ? owned->t_last_token : now_s();
  emit(std::move(ev));
  std::lock_guard<std::mutex> lk(metrics_mu);
  ++m.requests_finished;
}

void Engine::Impl::update_metrics() {
  std::lock_guard<std::mutex> lk(metrics_mu);
  m.running = scheduler->num_running();
  m.waiting = scheduler->num_waiting();
  m.kv_blocks_free = pool->num_free();
  m.kv_blocks_cached = pool->num_cached();
  m.prefix_cache_hit_rate = pool->queries() ? double(pool->hits()) / double(pool->queries()) : 0;
  m.prefix_cache_queried_tokens = pool->queries() * pool->block_size();
  m.prefix_cache_hit_tokens = pool->hits() * pool->block_size();
  m.preemptions = scheduler->num_preemptions();
}

// The flattened batch of a scheduled step. For a planned step the tokens are not drawn yet
// (known = false): their ids are left 0 and filled in by fill_planned_tokens.
ForwardBatch Engine::Impl::build_batch(const SchedulerOutput& out, std::vector<Sequence*>& sampled, bool known) {
  ForwardBatch b;
  size_t max_blocks = 0;
  for (auto& ss : out.seqs) max_blocks = std::max(max_blocks, ss.seq->table.blocks().size());
  b.max_blocks_per_seq = int64_t(std::max<size_t>(max_blocks, 1));
  b.cu_seqlens_q.push_back(0);
  sampled.clear();
  const double t_now = now_s();
  for (auto& ss : out.seqs) {
    Sequence* s = ss.seq;
    if (s->t_scheduled == 0) s->t_scheduled = t_now;
    for (int64_t p = s->num_computed; p < s->num_computed + ss.num_tokens; ++p) {
      b.token_ids.push_back(known ? s->tokens[size_t(p)] : 0);
      b.positions.push_back(int32_t(p));
      b.slot_mapping.push_back(s->table.slot(*pool, p));
    }
    if (ss.samples) {
      b.logits_indices.push_back(int32_t(b.token_ids.size()) - 1);
      sampled.push_back(s);
    }
    b.cu_seqlens_q.push_back(int32_t(b.token_ids.size()));
    b.seq_lens.push_back(int32_t(s->num_computed + ss.num_tokens));
    auto& bl = s->table.blocks();
    for (size_t j = 0; j < size_t(b.max_blocks_per_seq); ++j) b.block_tables.push_back(j < bl.size() ? bl[j] : 0);
  }
  if (b.logits_indices.empty()) b.logits_indices.push_back(0);  // only prefill chunks: logits unused
  return b;
}

// The planned step still is what schedule() would give: nothing arrived, finished or waits.
bool Engine::Impl::plan_valid() const {
  if (!planned || scheduler->num_waiting() != 0 ||
      scheduler->num_running() != int64_t(planned->out.seqs.size()))
    return false;
  for (size_t k = 0; k < planned->out.seqs.size(); ++k) {
    Sequence* s = planned->out.seqs[k].seq;
    if (scheduler->find(planned->seq_ids[k]) != s || int64_t(s->tokens.size()) != s->num_computed + 1) return false;
  }
  return true;
}

bool Engine::Impl::draw_on_device(const std::vector<Sequence*>& sampled) const {
  bool on = device_sampling && !sampled.empty();
  for (Sequence* s : sampled) on = on && (!s || device_can_sample(s->params, s->num_generated()));
  return on;
}

bool Engine::Impl::argmax_on_device(const std::vector<Sequence*>& sampled) const {
  bool on = draw_on_device(sampled);
  for (Sequence* s : sampled) on = on && (!s || (s->params.greedy() && !s->constraint));  // masks need the logits
  return on;
}

void Engine::Impl::launch_draw(const Tensor& dev_logits, const std::vector<Sequence*>& sampled) {
  if (dev_logits.dtype() == DType::I32) {  // greedy tokens the step drew already (argmax_only)
    sampler.launch_ids(dev_logits.narrow(0, 0, int64_t(sampled.size())));
    return;
  }
  std::vector<RowSampling> rows;
  rows.reserve(sampled.size());
  for (Sequence* s : sampled) rows.push_back(s ? row_sampling(s->params, s->seed, s->num_generated()) : RowSampling{});
  apply_masks_on_device(dev_logits.narrow(0, 0, int64_t(sampled.size())), sampled);  // structured output
  sampler.launch(dev_logits.narrow(0, 0, int64_t(sampled.size())), rows);
}

namespace {
std::vector<uint64_t> ids_of(const std::vector<Sequence*>& seqs) {
  std::vector<uint64_t> r;
  r.reserve(seqs.size());
  for (Sequence* s : seqs) r.push_back(s ? s->seq_id : 0);
  return r;
}
}  // namespace

// Draws on the host from F32 logits, in parallel (each sequence has its own generator, so the
// result does not depend on the split); null rows are skipped.
void Engine::Impl::host_draw(const Tensor& dev_logits, const std::vector<Sequence*>& sampled,
                             std::vector<int32_t>& toks, std::vector<TokenLogprob>& lps) {
  const int64_t V = model->spec().vocab_size;
  TRITIUM_CHECK(dev_logits.dtype() != DType::I32, "engine: a greedy step's tokens cannot be drawn on the host");
  toks.assign(sampled.size(), 0);
  lps.assign(sampled.size(), {});
  Tensor logits = logits_to_host_f32(dev_logits);
  parallel_for(int64_t(sampled.size()), 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> row, lsm, biased, masked;
    for (int64_t k = k0; k < k1; ++k) {
      Sequence* s = sampled[size_t(k)];
      if (!s) continue;
      const float* lg = logits.data<float>() + k * V;
      if (s->script) lg = s->script->bias(std::span<const float>(lg, size_t(V)), s->num_generated(), s->params, eos_ids, biased);
      const SamplingParams& p = s->params;
      const float* pick = lg;  // structured output draws from the masked logits (logprobs stay the model's)
      std::optional<SamplingParams> p_masked;
      if (s->constraint) {
        s->constraint->prepare(s->num_generated(), p.min_tokens, eos_ids);  // done already (prepare_masks)
        masked.assign(lg, lg + V);
        s->constraint->apply(masked.data(), V);
        pick = masked.data();
        if (s->num_generated() < p.min_tokens) (p_masked = p)->min_tokens = 0;  // the mask holds eos back
      }
      int32_t tok = choose_next_token(std::span<const float>(pick, size_t(V)), p_masked ? *p_masked : p,
                                      std::span<const int32_t>(s->tokens.data(), size_t(s->prompt_len)),
                                      s->output_ids(), eos_ids, s->rng, row);
      toks[size_t(k)] = tok;
      if (p.logprobs) {
        log_softmax(std::span<const float>(lg, size_t(V)), lsm);
        TokenLogprob tl{tok, lsm[size_t(tok)], {}};
        std::vector<int32_t> idx(static_cast<size_t>(V));
        for (int64_t i = 0; i < V; ++i) idx[size_t(i)] = int32_t(i);
        int k2 = std::min<int>(*p.logprobs, int(V));
        std::partial_sort(idx.begin(), idx.begin() + k2, idx.end(),
                          [&](int32_t x, int32_t y) { return lsm[size_t(x)] > lsm[size_t(y)]; });
        for (int i = 0; i < k2; ++i) tl.top.push_back({idx[size_t(i)], lsm[size_t(idx[size_t(i)])]});
        lps[size_t(k)] = std::move(tl);
      }
    }
  });
}

// Appends each row's token to its sequence, streams it and applies the stop rules. A row is
// skipped when null or when its sequence finished since (seq_ids tell, without touching it).
void Engine::Impl::take_tokens(const std::vector<Sequence*>& sampled, const std::vector<uint64_t>& seq_ids,
                               const std::vector<int32_t>& toks, std::vector<TokenLogprob>* lps) {
  const double t = now_s();
  for (size_t k = 0; k < sampled.size(); ++k) {
    Sequence* s = sampled[k];
    if (!s || !seq_req.count(seq_ids[k])) continue;
    const SamplingParams& p = s->params;
    const int32_t tok = toks[k];
    bool grammar_done = false;
    if (s->constraint) {  // structured output: the grammar takes the token, or the sequence fails
      const auto step = s->constraint->consume(tok);
      if (step == structured::SeqConstraint::Step::Rejected) {
        finish_seq(s, "error", s->constraint->error());
        continue;
      }
      grammar_done = step == structured::SeqConstraint::Step::Done;
    }
    TokenEvent ev;
    ev.seq_id = s->seq_id;
    ev.req = seq_req[s->seq_id];
    ev.index = s->index;
    ev.tokens = {tok};
    if (p.logprobs && lps) ev.logprobs.push_back(std::move((*lps)[k]));
    s->tokens.push_back(tok);
    {
      std::lock_guard<std::mutex> lk(metrics_mu);
      ++m.generation_tokens;
      if (s->num_generated() == 1) {
        s->t_first_token = t;
        m.ttft.observe(t - s->t_arrival);
      } else {
        m.itl.observe(t - s->t_last_token);
      }
    }
    s->t_last_token = t;
    emit(std::move(ev));
    std::string reason = stop_reason(tok, s->num_generated(), int64_t(s->tokens.size()), p, eos_ids, max_model_len);
    if (reason.empty() && grammar_done) reason = "stop";
    if (!reason.empty()) finish_seq(s, reason);
  }
}

void Engine::Impl::run_step(SchedulerOutput& out, ForwardBatch& b, std::vector<Sequence*>& sampled) {
  const double t_forward = now_s();
  b.argmax_only = argmax_on_device(sampled);
  Tensor dev_logits = model->forward_device(b, kv);
  prepare_masks(sampled);  // structured output, while the device runs the forward
  scheduler->after_step(out);
  {
    std::lock_guard<std::mutex> lk(metrics_mu);
    for (auto& ss : out.seqs)
      if (ss.seq->num_computed <= ss.seq->prompt_len) m.prompt_tokens += ss.num_tokens;
  }
  // Tokens are drawn on the device when every row allows it (only the ids come back), else on
  // the host. With async scheduling a device draw is left in flight: the next iteration
  // enqueues the step after it before waiting for it (advance_in_flight).
  const bool on_device = draw_on_device(sampled);
  const bool leave_in_flight = async && on_device;
  // Overlap: while the device runs this step, plan the next one and build its batch (all
  // but the token ids, which this step is drawing). Used if nothing changes meanwhile.
  planned.reset();
  const double t_plan = now_s();
  if (overlap && !leave_in_flight) {
    SchedulerOutput next = scheduler->plan_continuation();
    if (!next.empty()) {
      Planned p;
      p.batch = build_batch(next, p.sampled, false);
      for (auto& ss : next.seqs) p.seq_ids.push_back(ss.seq->seq_id);
      p.out = std::move(next);
      planned = std::move(p);
    }
  }
  const double t_planned = now_s();
  std::vector<int32_t> toks;
  std::vector<TokenLogprob> lps;
  double t_sample = now_s();
  if (leave_in_flight) {
    launch_draw(dev_logits, sampled);
    in_flight = InFlight{sampled, ids_of(sampled)};
  } else if (on_device) {
    launch_draw(dev_logits, sampled);
    toks = sampler.wait();
  } else if (!sampled.empty()) {
    host_draw(dev_logits, sampled, toks, lps);
  }
  if (!leave_in_flight) take_tokens(sampled, ids_of(sampled), toks, &lps);
  if (profile) {
    phase.forward += (t_plan - t_forward) + (t_sample - t_planned);
    phase.plan += t_planned - t_plan;
    phase.sample += now_s() - t_sample;
    ++phase.steps;
    phase.tokens += b.num_tokens();
  }
}

// Collects the draw in flight. First, when the next step would be its continuation (nothing
// waits, every running sequence decodes one token, in the same order), enqueues that step
// with its token ids read on the device from the draw, so the device goes on while the host
// waits for and takes the tokens. The step's rows of sequences that those tokens finish are
// spare: they are not drawn for, and their K/V writes land in blocks being freed, which later
// steps (stream-ordered after this one) may reuse.
void Engine::Impl::advance_in_flight() {
  InFlight f = std::move(*in_flight);
  in_flight.reset();
  const double t0 = now_s();
  std::optional<SchedulerOutput> next;
  std::vector<Sequence*> next_sampled;
  Tensor next_logits;
  int64_t next_tokens = 0;
  if (scheduler->num_waiting() == 0 && int64_t(f.sampled.size()) == scheduler->num_running()) {
    bool live = true;
    for (size_t k = 0; k < f.sampled.size(); ++k) live = live && f.sampled[k] && seq_req.count(f.seq_ids[k]);
    SchedulerOutput plan;
    if (live) plan = scheduler->plan_continuation();
    bool same = !plan.empty() && plan.seqs.size() == f.sampled.size();
    for (size_t k = 0; same && k < f.sampled.size(); ++k) same = plan.seqs[k].seq == f.sampled[k];
    if (same) {
      ForwardBatch nb = build_batch(plan, next_sampled, false);
      nb.device_token_ids = sampler.device_ids();
      // asked before the tokens in flight are taken: that can only allow a device draw (min_tokens)
      nb.argmax_only = argmax_on_device(next_sampled);
      next_logits = model->forward_device(nb, kv);
      next_tokens = nb.num_tokens();
      next = std::move(plan);
      ++ahead_steps;
    }
  }
  const double t1 = now_s();
  std::vector<int32_t> toks = sampler.wait();
  take_tokens(f.sampled, f.seq_ids, toks, nullptr);
  if (next) {
    // The sequences still running take the step's K/V as computed; the others' rows are spare.
    SchedulerOutput live_out;
    for (size_t k = 0; k < next_sampled.size(); ++k) {
      if (seq_req.count(f.seq_ids[k]))
        live_out.seqs.push_back(next->seqs[k]);
      else
        next_sampled[k] = nullptr;
    }
    scheduler->after_step(live_out);
    prepare_masks(next_sampled);  // structured output: the tokens just taken decide them; the device runs the step
    if (draw_on_device(next_sampled)) {
      launch_draw(next_logits, next_sampled);
      in_flight = InFlight{next_sampled, f.seq_ids};
    } else {
      std::vector<int32_t> t;
      std::vector<TokenLogprob> lps;
      host_draw(next_logits, next_sampled, t, lps);
      take_tokens(next_sampled, f.seq_ids, t, &lps);
    }
  }
  if (profile) {
    phase.forward += t1 - t0;
    phase.sample += now_s() - t1;
    if (next) {
      ++phase.steps;
      phase.tokens += next_tokens;
    }
  }
}

void Engine::Impl::engine_loop() {
  for (;;) {
    std::deque<NewSeq> fresh;
    std::vector<std::string> ab;
    std::vector<std::pair<uint64_t, std::string>> st;
    {
      std::unique_lock<std::mutex> lk(in_mu);
      in_cv.wait(lk, [&] {
        return stopping || in_flight || !incoming.empty() || !aborts.empty() || !stops.empty() || scheduler->has_work();
      });
      if (stopping) break;
      fresh.swap(incoming);
      ab.swap(aborts);
      st.swap(stops);
    }
    for (auto& ns : fresh) {
      seq_req[ns.seq->seq_id] = ns.req;
      scheduler->add(std::move(ns.seq));
    }
    for (auto& [id, reason] : st)
      if (Sequence* s = scheduler->find(id)) finish_seq(s, reason);
    for (auto& rid : ab)
      for (Sequence* s : scheduler->all())
        if (s->request_id == rid) finish_seq(s, "abort");
    if (in_flight) {
      std::vector<uint64_t> ids = in_flight->seq_ids;
      try {
        advance_in_flight();
      } catch (const std::exception& e) {
        // A failed step fails the sequences in it, not the engine.
        in_flight.reset();
        for (uint64_t id : ids)
          if (Sequence* s = seq_req.count(id) ? scheduler->find(id) : nullptr) finish_seq(s, "error", e.what());
      }
      update_metrics();
      continue;
    }
    const double t_sched = now_s();
    SchedulerOutput out;
    ForwardBatch b;
    std::vector<Sequence*> sampled;
    if (plan_valid()) {  // prepared while the previous step ran: fill in the drawn tokens
      out = std::move(planned->out);
      b = std::move(planned->batch);
      sampled = std::move(planned->sampled);
      for (size_t k = 0; k < out.seqs.size(); ++k) b.token_ids[k] = out.seqs[k].seq->tokens.back();
      ++planned_steps;
    } else {
      out = scheduler->schedule();
      if (!out.empty()) b = build_batch(out, sampled, true);
    }
    planned.reset();
    if (profile) phase.schedule += now_s() - t_sched;
    if (out.empty()) {
      update_metrics();
      if (scheduler->has_work() && scheduler->num_running() == 0) {
        // Nothing can run: a waiting sequence needs more blocks than the pool has.
        for (Sequence* s : scheduler->all()) finish_seq(s, "error", "the KV cache is too small for this request");
      }
      continue;
    }
    try {
      run_step(out, b, sampled);
    } catch (const std::exception& e) {
      planned.reset();
      in_flight.reset();
      // A failed step fails the sequences in it, not the engine.
      for (auto& ss : out.seqs)
        if (scheduler->find(ss.seq->seq_id)) finish_seq(ss.seq, "error", e.what());
    }
    update_metrics();
  }
  // Shutting down: end every live request.
  for (Sequence* s : scheduler->all()) finish_seq(s, "abort");
}

// ------------------------------------------------------------------ output thread

namespace {
struct OutState {
  std::optional<IncrementalDetokenizer> detok;
  std::string held;        // text held back: it may be the start of a stop string
  bool stopped = false;    // a stop string matched; waiting for the engine's final event
  int64_t tokens = 0;      // tokens passed on to the client
};

// Longest suffix of `text` that is a proper prefix of some stop string.
size_t held_suffix(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (auto& s : stops)
    for (size_t k = std::min(text.size(), s.size() - 1); k > best; --k)
      if (text.compare(text.size() - k, k, s, 0, k) == 0) {
        best = k;
        break;
      }
  return best;
}
}  // namespace

void Engine::Impl::output_loop() {
  std::unordered_map<uint64_t, OutState> states;
  for (;;) {
    TokenEvent ev;
    {
      std::unique_lock<std::mutex> lk(out_mu);
      out_cv.wait(lk, [&] { return !out_events.empty(); });
      ev = std::move(out_events.front());
      out_events.pop_front();
    }
    if (ev.seq_id == 0) return;
    const SamplingParams& params = ev.req->params;
    OutState& st = states[ev.seq_id];
    RequestOutput o;
    o.request_id = ev.req->id;
    o.index = ev.index;
    if (!st.stopped) {
      o.new_token_ids = ev.tokens;
      o.logprobs = ev.logprobs;
      st.tokens += int64_t(ev.tokens.size());
      if (tokenizer) {
        if (!st.detok) st.detok.emplace(*tokenizer, params.skip_special_tokens);
        for (auto t : ev.tokens) st.held += st.detok->push(t);
        if (ev.finished) st.held += st.detok->finish();
      }
      size_t cut = std::string::npos;
      for (auto& stop : params.stop) {
        size_t pos = st.held.find(stop);
        if (pos != std::string::npos && (cut == std::string::npos || pos < cut)) cut = pos;
      }
      if (cut != std::string::npos) {
        // The stop string and everything after it are never sent.
        o.new_text = st.held.substr(0, cut);
        st.held.clear();
        st.stopped = true;
        if (!ev.finished) {
          std::lock_guard<std::mutex> lk(in_mu);
          stops.push_back({ev.seq_id, "stop"});
          in_cv.notify_all();
        }
      } else if (ev.finished) {
        o.new_text = std::move(st.held);
      } else {
        size_t keep = params.stop.empty() ? 0 : held_suffix(st.held, params.stop);
        o.new_text = st.held.substr(0, st.held.size() - keep);
        st.held.erase(0, st.held.size() - keep);
      }
    }
    if (ev.finished) {
      o.finished = true;
      o.finish_reason = st.stopped && ev.error.empty() ? "stop" : ev.finish_reason;
      o.error = ev.error;
      o.usage = ev.usage;
      o.usage.completion_tokens = st.tokens;
      o.arrival_time = ev.arrival_time;
      o.scheduled_time = ev.scheduled_time;
      o.first_token_time = ev.first_token_time;
      o.finished_time = ev.finished_time;
      states.erase(ev.seq_id);
    } else if (o.new_token_ids.empty() && o.new_text.empty()) {
      continue;  // tokens after a stop string: nothing to send
    }
    std::function<void()> notify;
    {
      std::lock_guard<std::mutex> lk(ev.req->mu);
      ev.req->queue.push_back(std::move(o));
      if (ev.finished) ++ev.req->finished;
      ev.req->cv.notify_all();
      notify = ev.req->notify;
    }
    if (notify) notify();
  }
}

}  // namespace tritium
