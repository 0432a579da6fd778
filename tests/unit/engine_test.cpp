// The engine end to end on the CPU: continuous batching must not change any request's
// tokens (batch composition, chunking, preemption, prefix caching), seeds reproduce.
#include <gtest/gtest.h>

#include <random>

#include "engine/engine_impl.h"
#include "engine/generator.h"
#include "test_util.h"
#include "tritium/engine.h"

using namespace tritium;

namespace {

struct Req {
  std::vector<int32_t> prompt;
  int max_tokens;
};

std::vector<Req> mixed_requests(int n, uint64_t seed, int vocab, std::vector<int32_t> shared_prefix = {}) {
  std::mt19937 g{static_cast<uint32_t>(seed)};
  std::vector<Req> r;
  for (int i = 0; i < n; ++i) {
    Req q;
    q.prompt = shared_prefix;
    int len = 1 + int(g() % 50);
    for (int k = 0; k < len; ++k) q.prompt.push_back(int32_t(3 + g() % uint32_t(vocab - 3)));
    q.max_tokens = 1 + int(g() % 30);
    r.push_back(std::move(q));
  }
  return r;
}

// Each request alone, through the simple generator (no scheduler).
std::vector<std::vector<int32_t>> alone(const std::string& dir, const std::vector<Req>& reqs, SamplingParams sp,
                                        const LoadOptions& lo = {}) {
  auto model = Model::load(dir, lo);
  Generator gen(*model, 64, 16);
  std::vector<std::vector<int32_t>> out;
  for (auto& q : reqs) {
    sp.max_tokens = q.max_tokens;
    out.push_back(gen.generate({q.prompt}, sp)[0].output_ids);
  }
  return out;
}

std::vector<std::vector<int32_t>> batched(Engine& e, const std::vector<Req>& reqs, SamplingParams sp) {
  std::vector<RequestHandle> hs;
  for (auto& q : reqs) {
    sp.max_tokens = q.max_tokens;
    hs.push_back(e.submit(q.prompt, sp));
  }
  std::vector<std::vector<int32_t>> out;
  for (auto& h : hs) {
    std::vector<int32_t> ids;
    RequestOutput o;
    while (h.next(o)) {
      EXPECT_TRUE(o.error.empty()) << o.error;
      ids.insert(ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      if (o.finished) EXPECT_EQ(o.usage.completion_tokens, int64_t(ids.size()));
    }
    out.push_back(ids);
  }
  return out;
}

EngineConfig config(const std::string& name) {
  EngineConfig c;
  c.model = test::golden_dir(name);
  c.max_num_batched_tokens = 96;  // forces chunked prefill of long prompts next to decodes
  return c;
}

SamplingParams greedy() {
  SamplingParams sp;
  sp.temperature = 0;
  sp.ignore_eos = true;
  return sp;
}

void wait_idle(Engine& e) {
  for (int i = 0; i < 200 && (e.metrics().running || e.metrics().waiting); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

TEST(Engine, StepBudgetDefaultsByDevice) {
  EngineConfig c;
  c.model = test::golden_dir("llama");
  {
    Engine e(c);  // 0: the default, 2048 on the CPU (8192 only on GPUs of at least 70 GiB)
    EXPECT_EQ(e.max_num_batched_tokens(), 2048);
  }
  c.max_num_batched_tokens = 96;
  Engine e(c);
  EXPECT_EQ(e.max_num_batched_tokens(), 96);
  c.max_num_batched_tokens = -1;
  EXPECT_THROW(Engine{c}, Error);
}

TEST(Engine, Fp8KvCacheHoldsMoreBlocksAndMatchesAlone) {
  // kv_cache_dtype "fp8": the same bytes hold 4x the blocks of the CPU's F32 cache, and
  // batched greedy decoding gives each request's tokens alone with an fp8 cache.
  auto reqs = mixed_requests(24, 5, 256);
  LoadOptions lo;
  lo.kv_cache_dtype = DType::F8E4M3;
  auto ref = alone(test::golden_dir("qwen3"), reqs, greedy(), lo);
  EngineConfig c = config("qwen3");
  c.kv_cache_bytes = 4 << 20;
  int64_t f32_blocks = 0;
  {
    Engine e(c);
    f32_blocks = e.metrics().kv_blocks_total;
  }
  c.kv_cache_dtype = "fp8";
  Engine e(c);
  EXPECT_EQ(e.metrics().kv_blocks_total, 4 * f32_blocks);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  EXPECT_NE(ref, alone(test::golden_dir("qwen3"), reqs, greedy())) << "fp8 and F32 caches gave the same tokens";
  c.kv_cache_dtype = "int4";
  EXPECT_THROW(Engine{c}, Error);
}

TEST(Engine, Fp8WeightsMatchAlone) {
  // quantization "fp8": activations are quantized per token, so a request's tokens do not
  // depend on what it is batched with; they do differ from the unquantized model's.
  auto reqs = mixed_requests(24, 9, 256);
  LoadOptions lo;
  lo.quantization = DType::F8E4M3;
  auto ref = alone(test::golden_dir("llama"), reqs, greedy(), lo);
  EngineConfig c = config("llama");
  c.quantization = "fp8";
  Engine e(c);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  EXPECT_NE(ref, alone(test::golden_dir("llama"), reqs, greedy())) << "fp8 and F32 weights gave the same tokens";
  c.quantization = "int4";
  EXPECT_THROW(Engine{c}, Error);
}

TEST(Engine, SixtyFourMixedRequestsMatchAlone) {
  auto reqs = mixed_requests(64, 1, 256);
  auto ref = alone(test::golden_dir("llama"), reqs, greedy());
  Engine e(config("llama"));
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  wait_idle(e);
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total) << "blocks leaked";
  EXPECT_EQ(m.requests_finished, 64);
  EXPECT_GT(m.ttft.count, 0u);
  EXPECT_GT(e.impl().planned_steps.load(), 0) << "no step was planned while the previous one ran";
}

TEST(Engine, MoeRequestsMatchAlone) {
  // Mixture-of-experts fixtures (experts picked per token, MXFP4 and bf16 experts, sinks and
  // sliding windows): continuous batching with chunked prefill gives each request its tokens
  // alone. Prompt + output stay within the gpt-oss fixtures' 64 positions.
  for (const char* name : {"mixtral", "qwen3_moe", "qwen3_moe_step2", "gpt_oss_mxfp4", "gpt_oss_bf16"}) {
    std::vector<Req> reqs;
    std::mt19937 g{17};
    for (int i = 0; i < 24; ++i) {
      Req q;
      for (int k = 0, n = 1 + int(g() % 30); k < n; ++k) q.prompt.push_back(int32_t(3 + g() % 253));
      q.max_tokens = 1 + int(g() % 30);
      reqs.push_back(std::move(q));
    }
    auto ref = alone(test::golden_dir(name), reqs, greedy());
    EngineConfig c = config(name);
    c.max_num_batched_tokens = 48;
    Engine e(c);
    EXPECT_EQ(batched(e, reqs, greedy()), ref) << name;
    wait_idle(e);
    EXPECT_EQ(e.metrics().kv_blocks_free, e.metrics().kv_blocks_total) << name << ": blocks leaked";
  }
}

TEST(Engine, WithoutOverlapTheSameTokens) {
  auto reqs = mixed_requests(32, 7, 256);
  auto ref = alone(test::golden_dir("llama"), reqs, greedy());
  EngineConfig c = config("llama");
  c.overlap_scheduling = false;
  Engine e(c);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  EXPECT_EQ(e.impl().planned_steps.load(), 0);
}

TEST(Engine, PreemptionKeepsResultsExact) {
  auto reqs = mixed_requests(64, 2, 256);
  auto ref = alone(test::golden_dir("qwen3"), reqs, greedy());
  EngineConfig c = config("qwen3");
  c.enable_prefix_caching = false;
  Engine probe(c);
  Model& m = *probe.impl().model;
  c.kv_cache_bytes = 12 * m.kv_bytes_per_block(16);  // 12 blocks: one 128-token sequence + a little
  c.max_model_len = 128;
  Engine e(c);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  wait_idle(e);
  auto mm = e.metrics();
  EXPECT_GT(mm.preemptions, 0) << "the pool was meant to be too small";
  EXPECT_GT(e.impl().planned_steps.load(), 0);
  EXPECT_EQ(mm.kv_blocks_free, mm.kv_blocks_total);
}

TEST(Engine, PrefixCachingSharesBlocksAndKeepsResults) {
  std::vector<int32_t> prefix;
  for (int i = 0; i < 40; ++i) prefix.push_back(int32_t(10 + (i * 37) % 200));
  auto reqs = mixed_requests(24, 3, 256, prefix);
  auto ref = alone(test::golden_dir("mistral_swa"), reqs, greedy());
  EngineConfig c = config("mistral_swa");
  c.enable_prefix_caching = true;
  Engine e(c);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  // Second wave: the prefix is cached now.
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  wait_idle(e);
  auto m = e.metrics();
  EXPECT_GT(m.prefix_cache_hit_rate, 0.3);
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total);
}

TEST(Engine, SeededSamplingReproducibleAcrossBatches) {
  auto reqs = mixed_requests(16, 4, 256);
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.top_p = 0.95f;
  sp.ignore_eos = true;
  sp.seed = 1234;
  Engine e(config("qwen2"));
  auto together = batched(e, reqs, sp);
  std::vector<std::vector<int32_t>> one_by_one;
  for (auto& q : reqs) one_by_one.push_back(batched(e, {q}, sp)[0]);
  EXPECT_EQ(together, one_by_one);
  auto ref = alone(test::golden_dir("qwen2"), reqs, sp);
  EXPECT_EQ(together, ref);
}

// Decode steps padded to graph buckets (run eagerly on the CPU) and tokens drawn by ops::sample
// (the device sampler's path) keep every request's tokens what it gets alone.
TEST(Engine, PaddedDecodeAndDeviceSamplingMatchAlone) {
  auto reqs = mixed_requests(64, 5, 256);
  auto ref = alone(test::golden_dir("llama"), reqs, greedy());
  EngineConfig c = config("llama");
  c.max_graph_batch = 24;
  c.sampler = "device";
  Engine e(c);
  EXPECT_EQ(e.impl().model->decode_graph_max_batch(), 24);
  EXPECT_EQ(batched(e, reqs, greedy()), ref);
  wait_idle(e);
  auto m = e.metrics();
  EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total) << "blocks leaked";
  EXPECT_GT(e.impl().model->num_graph_steps(), 10);
  // greedy rows drawn on the device: the steps returned their tokens (ops::linear_argmax)
  EXPECT_GT(e.impl().model->num_argmax_steps(), 10);
}

TEST(Engine, DeviceSamplerSeededAcrossBatches) {
  auto reqs = mixed_requests(16, 6, 256);
  SamplingParams sp;
  sp.temperature = 0.8f;
  sp.top_k = 40;
  sp.top_p = 0.9f;
  sp.ignore_eos = true;
  sp.seed = 99;
  EngineConfig c = config("qwen2");
  c.sampler = "device";
  c.max_graph_batch = 8;
  Engine e(c);
  auto together = batched(e, reqs, sp);
  std::vector<std::vector<int32_t>> one_by_one;
  for (auto& q : reqs) one_by_one.push_back(batched(e, {q}, sp)[0]);
  EXPECT_EQ(together, one_by_one);
  // The simple generator with the device sampler draws the same tokens.
  auto model = Model::load(test::golden_dir("qwen2"));
  Generator gen(*model, 64, 16);
  gen.set_device_sampling(true);
  for (size_t i = 0; i < reqs.size(); ++i) {
    sp.max_tokens = reqs[i].max_tokens;
    EXPECT_EQ(gen.generate({reqs[i].prompt}, sp)[0].output_ids, together[i]) << "request " << i;
  }
  // And they are not the host sampler's tokens (a different random stream), unless tiny.
  c.sampler = "host";
  Engine h(c);
  EXPECT_NE(batched(h, reqs, sp), together);
}

TEST(Engine, NGreaterThanOne) {
  Engine e(config("llama"));
  SamplingParams sp;
  sp.n = 3;
  sp.max_tokens = 12;
  sp.temperature = 1.0f;
  sp.seed = 5;
  sp.ignore_eos = true;
  auto c = e.generate({{5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}}, sp)[0];
  ASSERT_EQ(c.output_ids.size(), 3u);
  for (auto& o : c.output_ids) EXPECT_EQ(o.size(), 12u);
  EXPECT_NE(c.output_ids[0], c.output_ids[1]);
  EXPECT_EQ(c.usage.completion_tokens, 36);
}

TEST(Engine, StopTokenIdsMinTokensAndEos) {
  Engine e(config("qwen2"));  // generation_config.json: eos 2 and 3
  auto reqs = mixed_requests(1, 5, 256);
  SamplingParams sp = greedy();
  sp.max_tokens = 20;
  auto free_run = batched(e, {{reqs[0].prompt, 20}}, sp)[0];
  ASSERT_GE(free_run.size(), 5u);
  sp.stop_token_ids = {free_run[3]};
  auto c = e.generate({reqs[0].prompt}, sp)[0];
  size_t first = size_t(std::find(free_run.begin(), free_run.end(), free_run[3]) - free_run.begin());
  EXPECT_EQ(c.output_ids[0].size(), first + 1);
  EXPECT_EQ(c.finish_reasons[0], "stop");
  sp.min_tokens = int(first) + 2;
  c = e.generate({reqs[0].prompt}, sp)[0];
  EXPECT_GE(c.output_ids[0].size(), first + 2);
}

TEST(Engine, RejectsBadRequestsWithoutHurtingOthers) {
  EngineConfig c = config("llama");
  c.max_model_len = 64;
  Engine e(c);
  SamplingParams sp = greedy();
  sp.max_tokens = 8;
  auto ok = e.submit(std::vector<int32_t>{5, 6, 7}, sp);
  std::vector<int32_t> too_long(64, 5);
  try {
    e.submit(too_long, sp);
    FAIL() << "a 64-token prompt must be refused at max_model_len 64";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("64 tokens"), std::string::npos) << err.what();
  }
  EXPECT_THROW(e.submit(std::vector<int32_t>{}, sp), Error);
  EXPECT_THROW(e.submit(std::vector<int32_t>{999}, sp), Error);
  sp.top_p = 2;
  EXPECT_THROW(e.submit(std::vector<int32_t>{1}, sp), Error);
  EXPECT_THROW(e.submit(std::string("text"), greedy()), Error);  // no tokenizer in this fixture
  RequestOutput o;
  int n = 0;
  while (ok.next(o)) n += int(o.new_token_ids.size());
  EXPECT_EQ(n, 8);
}

TEST(Engine, LengthCapAtMaxModelLen) {
  EngineConfig c = config("llama");
  c.max_model_len = 30;
  Engine e(c);
  SamplingParams sp = greedy();
  sp.max_tokens = 100;
  auto r = e.generate({std::vector<int32_t>(20, 7)}, sp)[0];
  EXPECT_EQ(r.output_ids[0].size(), 10u);
  EXPECT_EQ(r.finish_reasons[0], "length");
}

TEST(Engine, AbortReturnsBlocks) {
  Engine e(config("llama"));
  SamplingParams sp = greedy();
  sp.max_tokens = 90;
  auto h = e.submit(std::vector<int32_t>(30, 9), sp, 0, "victim");
  RequestOutput o;
  ASSERT_TRUE(h.next(o));
  e.abort("victim");
  std::string reason;
  while (h.next(o))
    if (o.finished) reason = o.finish_reason;
  EXPECT_TRUE(reason == "abort" || reason == "length");
  wait_idle(e);
  EXPECT_EQ(e.metrics().kv_blocks_free, e.metrics().kv_blocks_total);
}

TEST(Engine, PriorityRunsFirst) {
  EngineConfig c = config("llama");
  c.max_num_seqs = 1;
  Engine e(c);
  SamplingParams sp = greedy();
  sp.max_tokens = 5;
  SamplingParams long_sp = sp;
  long_sp.max_tokens = 100;  // runs long enough for the next two to be queued behind it
  auto blocker = e.submit(std::vector<int32_t>(10, 4), long_sp, 0);
  auto low = e.submit(std::vector<int32_t>(10, 5), sp, 5);
  auto high = e.submit(std::vector<int32_t>(10, 6), sp, -5);
  // Finish order by the engine's clock (the readers may consume their streams late).
  std::vector<std::pair<double, std::string>> done;
  std::mutex mu;
  auto drain = [&](RequestHandle h, std::string name) {
    RequestOutput o;
    while (h.next(o))
      if (o.finished) {
        std::lock_guard<std::mutex> lk(mu);
        done.push_back({o.finished_time, name});
      }
  };
  std::thread a(drain, blocker, "blocker"), b(drain, low, "low"), d(drain, high, "high");
  a.join();
  b.join();
  d.join();
  ASSERT_EQ(done.size(), 3u);
  std::sort(done.begin(), done.end());
  EXPECT_EQ(done[2].second, "low");
  EXPECT_EQ(done[1].second, done[0].second == "blocker" ? "high" : "blocker");
}

}  // namespace

// The generator enqueues each decode step before it waits for the tokens the step before
// draws (they are read on the device). Sequences that stop at different steps (stop token
// ids) leave spare rows behind; no sequence's tokens may change, greedy or seeded.
TEST(Generator, PipelinedDecodeKeepsTokens) {
  auto model = Model::load(test::golden_dir("llama"));
  auto reqs = mixed_requests(12, 21, 256);
  std::vector<std::vector<int32_t>> prompts;
  for (auto& q : reqs) prompts.push_back(q.prompt);
  auto run = [&](const SamplingParams& sp, bool pipelined, int64_t* steps = nullptr) {
    Generator gen(*model, 256, 16);
    gen.set_device_sampling(true);
    gen.set_pipelining(pipelined);
    auto r = gen.generate(prompts, sp);
    if (steps) *steps = gen.pipelined_steps();
    return r;
  };
  SamplingParams sampled;
  sampled.temperature = 0.8f;
  sampled.top_k = 40;
  sampled.seed = 5;
  for (SamplingParams sp : {greedy(), sampled}) {
    sp.max_tokens = 24;
    // Stop ids that end some sequences early: tokens the first run draws mid-way.
    auto free_run = run(sp, false);
    sp.stop_token_ids = {free_run[0].output_ids[5], free_run[3].output_ids[11]};
    int64_t steps = 0;
    auto ref = run(sp, false), piped = run(sp, true, &steps);
    int early = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_EQ(piped[i].output_ids, ref[i].output_ids) << "prompt " << i;
      EXPECT_EQ(piped[i].finish_reason, ref[i].finish_reason) << "prompt " << i;
      early += ref[i].output_ids.size() < 24;
    }
    EXPECT_GE(early, 2) << "the stop ids should end some sequences early";
    EXPECT_LT(early, int(prompts.size()));
    EXPECT_GT(steps, 10) << "no step was enqueued ahead";
    if (sp.greedy()) {
      // Greedy steps returned their tokens, drawn in the lm_head (no logits): the host
      // sampler's argmax of the logits gives the same tokens.
      Generator gen(*model, 256, 16);
      gen.set_device_sampling(true);
      const int64_t before = model->num_argmax_steps();
      auto piped2 = gen.generate(prompts, sp);
      EXPECT_GT(model->num_argmax_steps() - before, 10);
      Generator host(*model, 256, 16);
      host.set_device_sampling(false);
      auto on_host = host.generate(prompts, sp);
      for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(piped2[i].output_ids, on_host[i].output_ids) << i;
    }
    // And each prompt alone (pipelined) draws what it draws in the batch.
    for (size_t i = 0; i < prompts.size(); i += 5) {
      Generator gen(*model, 64, 16);
      gen.set_device_sampling(true);
      SamplingParams one = sp;
      one.seed = sp.seed ? std::optional<uint64_t>(*sp.seed + i) : std::nullopt;
      EXPECT_EQ(gen.generate({prompts[i]}, one)[0].output_ids, ref[i].output_ids) << "prompt " << i << " alone";
    }
  }
}

// Async scheduling (device draws: the next decode step is enqueued before the host takes the
// tokens): requests that stop at different steps (stop token ids), preemption under a small
// KV pool and shared cached prefixes must leave every request's tokens what it gets alone,
// and every block back in the pool; an abort while a step is in flight returns its blocks.
TEST(Engine, AsyncSchedulingKeepsTokens) {
  const std::string dir = test::golden_dir("qwen3");
  std::vector<int32_t> prefix;
  for (int i = 0; i < 20; ++i) prefix.push_back(int32_t(10 + (i * 37) % 200));
  auto reqs = mixed_requests(48, 13, 256, prefix);
  SamplingParams sp = greedy();
  auto free_run = alone(dir, reqs, sp);
  sp.stop_token_ids = {free_run[0][std::min<size_t>(3, free_run[0].size() - 1)],
                       free_run[7][std::min<size_t>(6, free_run[7].size() - 1)]};
  auto ref = alone(dir, reqs, sp);
  int early = 0;
  for (size_t i = 0; i < reqs.size(); ++i) early += int(ref[i].size()) < reqs[i].max_tokens;
  ASSERT_GE(early, 2) << "the stop ids should end some requests early";

  EngineConfig c = config("qwen3");
  c.sampler = "device";
  for (bool small_pool : {false, true}) {
    SCOPED_TRACE(small_pool ? "small KV pool" : "default pool");
    if (small_pool) {
      Engine probe(c);
      c.kv_cache_bytes = 14 * probe.impl().model->kv_bytes_per_block(16);
      c.max_model_len = 128;
    }
    Engine e(c);
    EXPECT_EQ(batched(e, reqs, sp), ref);
    EXPECT_EQ(batched(e, reqs, sp), ref);  // again, over cached prefixes
    wait_idle(e);
    auto m = e.metrics();
    EXPECT_GT(e.impl().ahead_steps.load(), 10) << "no step was enqueued ahead";
    if (small_pool) EXPECT_GT(m.preemptions, 0) << "the pool was meant to be too small";
    EXPECT_EQ(m.kv_blocks_free, m.kv_blocks_total) << "blocks leaked";
  }

  // Without async scheduling: the same tokens, nothing enqueued ahead.
  c.async_scheduling = false;
  c.kv_cache_bytes = 0;
  c.max_model_len = 0;
  Engine sync(c);
  EXPECT_EQ(batched(sync, reqs, sp), ref);
  EXPECT_EQ(sync.impl().ahead_steps.load(), 0);

  // An abort while steps are in flight.
  c.async_scheduling = true;
  Engine e(c);
  SamplingParams longer = greedy();
  longer.max_tokens = 60;
  auto other = e.submit(reqs[1].prompt, longer);
  auto h = e.submit(std::vector<int32_t>(30, 9), longer, 0, "victim");
  RequestOutput o;
  for (int i = 0; i < 5 && h.next(o); ++i) {
  }
  e.abort("victim");
  std::string reason;
  while (h.next(o))
    if (o.finished) reason = o.finish_reason;
  EXPECT_TRUE(reason == "abort" || reason == "length") << reason;
  int64_t n = 0;
  while (other.next(o)) n += int64_t(o.new_token_ids.size());
  EXPECT_EQ(n, 60) << "the other request lost tokens";
  wait_idle(e);
  EXPECT_EQ(e.metrics().kv_blocks_free, e.metrics().kv_blocks_total);
}
