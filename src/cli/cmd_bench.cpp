// tritium bench: decode throughput of a model, and the linear op against memory bandwidth.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/engine_options.h"
#include "tritium/engine.h"
#include <random>
#include <thread>
#include "core/half.h"
#include "core/thread_pool.h"
#include "engine/generator.h"
#include "model/moe.h"
#include "ops/ops.h"
#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/driver.h"
#include "backends/cuda/kernel_profile.h"
#endif

namespace tritium::cli {
namespace {

// "fp8" for an fp8 e4m3 cache, else the dtype's name ("BF16", "F32").
const char* kv_label(DType kv) { return kv == DType::F8E4M3 ? "fp8" : dtype_name(kv); }
const char* weights_label(const Model& m) { return m.quantization() ? "fp8" : "none"; }

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Host copy bandwidth (bytes read + written per second) over a buffer far larger than cache.
double measure_copy_bandwidth() {
  const size_t n = size_t(256) << 20;
  std::vector<char> a(n, 1), b(n, 2);
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    double t0 = now_s();
    parallel_for(int64_t(n), int64_t(1) << 22, [&](int64_t s, int64_t e) { std::memcpy(&b[size_t(s)], &a[size_t(s)], size_t(e - s)); });
    double dt = now_s() - t0;
    best = std::max(best, 2.0 * double(n) / dt);
  }
  return best;
}

// Device copy bandwidth (bytes read + written per second): the roofline's denominator.
double measure_device_bandwidth(Device dev) {
  if (dev.is_cpu()) return measure_copy_bandwidth();
#ifdef TRITIUM_HAVE_CUDA
  const int64_t n = int64_t(1) << 30;
  Tensor a = Tensor::empty({n}, DType::U8, dev), b = Tensor::empty({n}, DType::U8, dev);
  cuda::memcpy_dtod(b.data(), a.data(), size_t(n), dev.index);  // warm-up
  cuda::synchronize(dev.index);
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    double t0 = now_s();
    for (int i = 0; i < 4; ++i) cuda::memcpy_dtod_async(b.data(), a.data(), size_t(n), cuda::current_stream(dev.index));
    cuda::synchronize(dev.index);
    best = std::max(best, 4.0 * 2.0 * double(n) / (now_s() - t0));
  }
  return best;
#else
  throw Error("built without CUDA");
#endif
}

struct DecodeArgs {
  ModelArgs model;
  int64_t batch = 1, prompt_len = 128, gen_len = 32;
  bool json = false;
  float temperature = 0, top_p = 1;  // 0: greedy
  int top_k = 0;
  bool pipelining = true;
};

void run_decode(const DecodeArgs& a) {
  auto model = load_model(a.model);
  const ModelSpec& s = model->spec();
  std::vector<std::vector<int32_t>> prompts;
  for (int64_t b = 0; b < a.batch; ++b) {
    std::vector<int32_t> p;
    for (int64_t i = 0; i < a.prompt_len; ++i) p.push_back(int32_t((b * 7919 + i * 104729 + 1) % s.vocab_size));
    prompts.push_back(std::move(p));
  }
  SamplingParams sp;
  sp.temperature = a.temperature;
  sp.top_p = a.top_p;
  sp.top_k = a.top_k;
  sp.seed = 1;
  sp.max_tokens = int(a.gen_len);
  sp.ignore_eos = true;
  sp.validate();
  int64_t per_seq = (a.prompt_len + a.gen_len + a.model.block_size - 1) / a.model.block_size + 1;
  if (!a.model.enforce_eager && !model->device().is_cpu()) model->enable_decode_graphs(a.batch);
  Generator gen(*model, per_seq * a.batch, a.model.block_size);
  gen.set_pipelining(a.pipelining);
  if (!model->device().is_cpu()) {
    // One untimed run first: loads the kernels and captures the decode graphs it will replay.
    std::fprintf(stderr, "warm-up run ...\n");
    gen.generate(prompts, sp);
  }
#ifdef TRITIUM_HAVE_CUDA
  if (cuda::kernel_profile_enabled()) cuda::kernel_profile_reset();  // time the measured run only
#endif
  const int64_t piped0 = gen.pipelined_steps();
  auto res = gen.generate(prompts, sp);
  const int64_t piped = gen.pipelined_steps() - piped0;
#ifdef TRITIUM_HAVE_CUDA
  if (cuda::kernel_profile_enabled()) std::fprintf(stderr, "%s", cuda::kernel_profile_report().c_str());
#endif
  // The device time of one step without host work between steps (graphs only).
  double launch_s = 0;
  const double replay_s = model->time_graph_replays(20, &launch_s);
  double prefill_s = 0, decode_s = res[0].decode_seconds;
  int64_t steps = res[0].decode_steps;
  for (auto& r : res) prefill_s += r.prefill_seconds;
  double step_s = steps ? decode_s / double(steps) : 0;
  double tok_s = step_s > 0 ? double(a.batch) / step_s : 0;
  // Bytes a decode step must read at least: the weights it uses once (of an MoE layer the
  // experts its tokens pick, in their stored format; of the embedding table its rows:
  // Model::decode_weight_bytes) plus the live KV cache (a sliding-window layer: its window).
  double ctx = double(a.prompt_len) + double(a.gen_len) / 2;
  double kv_tokens = 0;  // summed over layers
  for (int64_t w : s.sliding_window) kv_tokens += w > 0 ? std::min(ctx, double(w)) : ctx;
  double kv_bytes = double(a.batch) * kv_tokens * 2.0 * double(s.num_kv_heads * s.head_dim) *
                    double(dtype_size(model->kv_cache_dtype()));
  const double weight_bytes = model->decode_weight_bytes(a.batch);
  double bytes = weight_bytes + kv_bytes;
  double bw = measure_device_bandwidth(model->device());
  double roofline_tok_s = double(a.batch) * bw / bytes;
  std::string device = model->device().str();
  std::string name = a.model.synthetic.empty() ? a.model.model : a.model.synthetic;
  if (a.json) {
    nlohmann::json j = {{"model", name}, {"device", device}, {"batch", a.batch}, {"prompt_len", a.prompt_len},
                        {"temperature", a.temperature}, {"top_p", a.top_p}, {"top_k", a.top_k},
                        {"gen_len", a.gen_len}, {"prefill_tokens_per_s", double(a.batch * a.prompt_len) / prefill_s},
                        {"decode_tokens_per_s", tok_s}, {"decode_step_ms", step_s * 1e3},
                        {"cuda_graphs", model->num_decode_graphs()}, {"graph_replay_ms", replay_s * 1e3},
                        {"graph_launch_us", launch_s * 1e6}, {"pipelined_steps", piped},
                        {"bytes_per_step", bytes}, {"weight_bytes_per_step", weight_bytes},
                        {"kv_bytes_per_step", kv_bytes}, {"copy_bandwidth_gbs", bw / 1e9},
                        {"roofline_tokens_per_s", roofline_tok_s}, {"fraction_of_roofline", tok_s / roofline_tok_s},
                        {"kv_cache_dtype", kv_label(model->kv_cache_dtype())},
                        {"quantization", weights_label(*model)}, {"weight_bytes", model->weight_bytes()}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("model      %s (%s), device %s, %d threads\n", name.c_str(), s.summary().c_str(), device.c_str(),
              ThreadPool::global().num_threads());
  std::printf("batch %lld, prompt %lld, generated %lld, KV cache %s, weight quantization %s (%.2f GB), %s\n",
              (long long)a.batch, (long long)a.prompt_len, (long long)a.gen_len, kv_label(model->kv_cache_dtype()),
              weights_label(*model), double(model->weight_bytes()) / 1e9,
              a.temperature > 0 ? str_cat("temperature ", a.temperature, " top-p ", a.top_p, " top-k ", a.top_k).c_str()
                                : "greedy");
  std::printf("prefill    %.1f tokens/s\n", double(a.batch * a.prompt_len) / prefill_s);
  std::printf("decode     %.2f tokens/s (%.3f ms/step; %s; %s)\n", tok_s, step_s * 1e3,
              model->num_decode_graphs() ? str_cat(model->num_decode_graphs(), " CUDA graphs replayed").c_str()
                                         : "eager",
              piped ? str_cat(piped, " steps enqueued before the previous one's tokens "
                                                                      "reached the host").c_str()
                                    : "each step enqueued after the previous one's tokens reached the host");
  // The last step reads the longest KV cache, so at large batches its replay can outlast the
  // average step; the difference is then no measure of the host's share.
  if (replay_s > 0 && step_s >= replay_s)
    std::printf("replay     %.3f ms/step: the last step's graph replayed back to back (the rest of a step, sampling "
                "and host work: %.3f ms; one graph launch takes %.1f us of host time)\n",
                replay_s * 1e3, (step_s - replay_s) * 1e3, launch_s * 1e6);
  else if (replay_s > 0)
    std::printf("replay     %.3f ms/step: the last step's graph replayed back to back (%.3f ms more than the average "
                "step: the last step reads the longest KV cache; one graph launch takes %.1f us of host time)\n",
                replay_s * 1e3, (replay_s - step_s) * 1e3, launch_s * 1e6);
  std::printf("roofline   %.2f tokens/s = %.2f GB/step (weights %.2f%s, KV cache %.2f) over measured copy bandwidth "
              "%.1f GB/s -> %.0f%% of roofline\n",
              roofline_tok_s, bytes / 1e9, weight_bytes / 1e9,
              s.is_moe() ? str_cat(": the experts ", a.batch, " tokens pick, expected ",
                                   expected_active_experts(s.moe.num_experts, s.moe.top_k, a.batch), " of ",
                                   s.moe.num_experts, " a layer").c_str()
                         : "",
              kv_bytes / 1e9, bw / 1e9, 100.0 * tok_s / roofline_tok_s);
}

struct LinearArgs {
  int64_t m = 1, n = 8192, k = 2048;
  std::string dtype = "bf16";
  int iters = 20;
};

void run_linear(const LinearArgs& a) {
  auto dt = dtype_from_string(a.dtype);
  if (!dt) throw Error("--dtype: unknown dtype '" + a.dtype + "'");
  Tensor x = Tensor::empty({a.m, a.k}, DType::F32);
  Tensor wf = Tensor::empty({a.n, a.k}, DType::F32);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = float((i * 2654435761u) % 1000) / 1000.f - 0.5f;
  for (int64_t i = 0; i < wf.numel(); ++i) wf.data<float>()[i] = float((i * 40503u) % 1000) / 1000.f - 0.5f;
  Tensor w = wf.to(*dt);
  wf = Tensor();
  Tensor out = Tensor::empty({a.m, a.n}, DType::F32);
  ops::linear(x, w, nullptr, out);  // warm-up
  std::vector<double> times;
  for (int i = 0; i < a.iters; ++i) {
    double t0 = now_s();
    ops::linear(x, w, nullptr, out);
    times.push_back(now_s() - t0);
  }
  std::sort(times.begin(), times.end());
  double t = times[times.size() / 2];
  double bytes = double(w.nbytes() + x.nbytes() + out.nbytes());
  double flops = 2.0 * double(a.m * a.n * a.k);
  double bw = measure_copy_bandwidth();
  std::printf("linear M=%lld N=%lld K=%lld weights %s, %d threads\n", (long long)a.m, (long long)a.n, (long long)a.k,
              dtype_name(*dt), ThreadPool::global().num_threads());
  std::printf("median %.3f ms  %.1f GB/s (%.0f%% of copy bandwidth %.1f GB/s)  %.1f GFLOP/s\n", t * 1e3, bytes / t / 1e9,
              100.0 * bytes / t / bw, bw / 1e9, flops / t / 1e9);
}

struct ThroughputArgs {
  EngineArgs engine;
  int num_prompts = 256, input_len = 512, output_len = 256;
  double request_rate = 0;  // requests/s; 0 = all at once
  bool json = false;
  bool warmup = true;  // an untimed pass of the same workload (other prompts) first
  std::string json_schema;  // every request's output constrained to this JSON schema (file)
  Constraint constraint;
};

double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

struct Rec {
  double submit = 0, first = 0, end = 0;
  std::vector<double> gaps;
  int64_t out = 0;
  std::string error;
};

// Submits num_prompts random prompts (token stream `seed`) at the requested rate and waits
// for every one; returns each request's timings and the wall time.
std::vector<Rec> run_requests(Engine& engine, const ThroughputArgs& a, uint64_t seed, double* wall) {
  const int64_t V = engine.vocab_size();
  std::mt19937_64 g(seed);
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = a.output_len;
  sp.ignore_eos = true;
  sp.constraint = a.constraint;
  std::vector<Rec> recs(size_t(a.num_prompts));
  std::vector<std::thread> readers;
  std::exponential_distribution<double> gap(a.request_rate > 0 ? a.request_rate : 1.0);
  const double t0 = now_s();
  double next = t0;
  for (int i = 0; i < a.num_prompts; ++i) {
    std::vector<int32_t> p(size_t(a.input_len));
    for (auto& t : p) t = int32_t(g() % uint64_t(V));
    if (a.request_rate > 0) {
      next += gap(g);
      double wait = next - now_s();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    recs[size_t(i)].submit = now_s();
    RequestHandle h = engine.submit(p, sp);
    readers.emplace_back([h, &r = recs[size_t(i)]]() mutable {
      RequestOutput o;
      double last = 0;
      while (h.next(o)) {
        double t = now_s();
        for (size_t k = 0; k < o.new_token_ids.size(); ++k) {
          if (r.out == 0) r.first = t; else r.gaps.push_back(t - last);
          last = t;
          ++r.out;
        }
        if (!o.error.empty() && r.error.empty()) r.error = o.error;
      }
      r.end = now_s();
    });
  }
  for (auto& t : readers) t.join();
  *wall = now_s() - t0;
  return recs;
}

void run_throughput(ThroughputArgs& a) {
  if (!a.json_schema.empty()) {
    std::ifstream f(a.json_schema);
    if (!f) throw Error(str_cat("bench throughput: cannot read --json-schema ", a.json_schema));
    std::stringstream ss;
    ss << f.rdbuf();
    a.constraint = Constraint::json_schema(ss.str());
    a.constraint.field = "--json-schema " + a.json_schema;
  }
  Engine engine(a.engine.config());
  // An untimed pass first, on other random prompts (no prefix-cache hits): kernel loading and
  // the CUDA graph captures of the batch sizes this workload reaches are one-time costs of a
  // server, not of its requests (transformers' peer script warms up too).
  double warm_s = 0;
  int64_t warm_preemptions = 0;
  if (a.warmup) {
    std::fprintf(stderr, "warm-up pass ...\n");
    run_requests(engine, a, 8, &warm_s);
    warm_preemptions = engine.metrics().preemptions;
  }
#ifdef TRITIUM_HAVE_CUDA
  if (cuda::kernel_profile_enabled()) cuda::kernel_profile_reset();  // time the measured pass only
#endif
  double wall = 0;
  std::vector<Rec> recs = run_requests(engine, a, 7, &wall);
#ifdef TRITIUM_HAVE_CUDA
  if (cuda::kernel_profile_enabled()) std::fprintf(stderr, "%s", cuda::kernel_profile_report().c_str());
#endif
  int failed = 0;
  for (auto& r : recs) failed += !r.error.empty();
  for (auto& r : recs)
    if (!r.error.empty())
      throw Error(str_cat("bench throughput: ", failed, " of ", a.num_prompts, " requests failed; the first: ", r.error));
  std::vector<double> ttft, itl;
  int64_t out_tokens = 0;
  for (auto& r : recs) {
    ttft.push_back(r.first - r.submit);
    itl.insert(itl.end(), r.gaps.begin(), r.gaps.end());
    out_tokens += r.out;
  }
  const double in_tokens = double(a.num_prompts) * a.input_len;
  const int64_t preemptions = engine.metrics().preemptions - warm_preemptions;
  if (a.json) {
    nlohmann::json j = {{"model", engine.model_name()}, {"device", engine.device()}, {"num_prompts", a.num_prompts},
                        {"input_len", a.input_len}, {"output_len", a.output_len}, {"request_rate", a.request_rate},
                        {"seconds", wall}, {"input_tokens_per_s", in_tokens / wall},
                        {"output_tokens", out_tokens}, {"output_tokens_per_s", double(out_tokens) / wall},
                        {"requests_per_s", a.num_prompts / wall},
                        {"ttft_p50_s", pct(ttft, 0.5)}, {"ttft_p99_s", pct(ttft, 0.99)},
                        {"itl_p50_s", pct(itl, 0.5)}, {"itl_p99_s", pct(itl, 0.99)}, {"preemptions", preemptions},
                        {"warmup_seconds", warm_s}, {"max_num_batched_tokens", engine.max_num_batched_tokens()},
                        {"kv_cache_dtype", a.engine.model.kv_cache_dtype},
                        {"quantization", a.engine.model.quantization},
                        {"json_schema", a.json_schema.empty() ? nlohmann::json() : nlohmann::json(a.json_schema)}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("model %s on %s: %d prompts x (%d in, %d out), rate %s, at most %lld tokens a step, KV cache %s, "
              "weight quantization %s\n",
              engine.model_name().c_str(), engine.device().c_str(), a.num_prompts, a.input_len, a.output_len,
              a.request_rate > 0 ? std::to_string(a.request_rate).c_str() : "all at once",
              (long long)engine.max_num_batched_tokens(), a.engine.model.kv_cache_dtype.c_str(),
              a.engine.model.quantization.c_str());
  if (!a.json_schema.empty()) std::printf("structured  every output constrained to the JSON schema in %s\n", a.json_schema.c_str());
  if (a.warmup) std::printf("warm-up     %.2f s (untimed: kernel loading, CUDA graph capture)\n", warm_s);
  std::printf("time        %.2f s\n", wall);
  std::printf("throughput  %.1f input tok/s, %.1f output tok/s, %.2f requests/s\n", in_tokens / wall,
              double(out_tokens) / wall, a.num_prompts / wall);
  std::printf("TTFT        p50 %.1f ms, p99 %.1f ms\n", pct(ttft, 0.5) * 1e3, pct(ttft, 0.99) * 1e3);
  std::printf("ITL         p50 %.1f ms, p99 %.1f ms\n", pct(itl, 0.5) * 1e3, pct(itl, 0.99) * 1e3);
  std::printf("preemptions %lld\n", (long long)preemptions);
}

RegisterCommand reg([](CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks (decode throughput, ops)");
  bench->require_subcommand(1);

  auto d = std::make_shared<DecodeArgs>();
  CLI::App* dc = bench->add_subcommand("decode", "Decode tokens/s of a model next to its memory roofline");
  add_model_options(dc, d->model, /*allow_synthetic=*/true);
  dc->add_option("--batch", d->batch, "Sequences decoded together")->capture_default_str()->check(CLI::PositiveNumber);
  dc->add_option("--prompt-len", d->prompt_len, "Prompt tokens per sequence")->capture_default_str()->check(CLI::PositiveNumber);
  dc->add_option("--gen-len", d->gen_len, "Tokens generated per sequence")->capture_default_str()->check(CLI::PositiveNumber);
  dc->add_flag("--json", d->json, "Print one JSON object");
  dc->add_option("--temperature", d->temperature, "Sampling temperature (0 = greedy)")->capture_default_str();
  dc->add_option("--top-p", d->top_p, "Nucleus sampling mass")->capture_default_str();
  dc->add_option("--top-k", d->top_k, "Keep the k most likely tokens (0 = off)")->capture_default_str();
  dc->add_flag("!--no-pipelining", d->pipelining,
               "Enqueue each decode step only once the previous step's tokens are on the host (default: enqueue "
               "it first, reading them on the device, when they are drawn there)");
  dc->callback([d] {
    if (d->model.model.empty() && d->model.synthetic.empty()) throw Error("bench decode: give --model DIR or --synthetic NAME");
    run_decode(*d);
  });

  auto tp = std::make_shared<ThroughputArgs>();
  CLI::App* tc = bench->add_subcommand("throughput", "Serving throughput: many requests through the engine");
  add_engine_options(tc, tp->engine, /*allow_synthetic=*/true);
  tc->add_option("--num-prompts", tp->num_prompts, "Requests")->capture_default_str()->check(CLI::PositiveNumber);
  tc->add_option("--input-len", tp->input_len, "Prompt tokens per request")->capture_default_str()->check(CLI::PositiveNumber);
  tc->add_option("--output-len", tp->output_len, "Generated tokens per request")->capture_default_str()->check(CLI::PositiveNumber);
  tc->add_option("--request-rate", tp->request_rate, "Poisson arrivals per second (0 = all at once)")->capture_default_str();
  tc->add_flag("--json", tp->json, "Print one JSON object");
  tc->add_option("--json-schema", tp->json_schema,
                 "Constrain every request's output to the JSON schema in this file (structured output; needs a "
                 "tokenizer: the model's or --tokenizer). A schema its outputs never complete within --output-len "
                 "keeps the lengths those of the unconstrained run");
  tc->add_flag("!--no-warmup", tp->warmup,
               "Time a cold engine: skip the untimed warm-up pass (same workload, other prompts) that loads the "
               "kernels and captures the CUDA graphs first");
  tc->callback([tp] { run_throughput(*tp); });

  auto l = std::make_shared<LinearArgs>();
  CLI::App* lc = bench->add_subcommand("linear", "The linear op (x[M,K] @ W[N,K]^T) against host copy bandwidth");
  lc->add_option("-m,--m", l->m, "Rows of x")->capture_default_str()->check(CLI::PositiveNumber);
  lc->add_option("-n,--n", l->n, "Output features")->capture_default_str()->check(CLI::PositiveNumber);
  lc->add_option("-k,--k", l->k, "Input features")->capture_default_str()->check(CLI::PositiveNumber);
  lc->add_option("--dtype", l->dtype, "Weight dtype: f32, bf16, f16")->capture_default_str();
  lc->add_option("--iters", l->iters, "Timed repetitions")->capture_default_str()->check(CLI::PositiveNumber);
  lc->callback([l] { run_linear(*l); });
});

}  // namespace
}  // namespace tritium::cli
