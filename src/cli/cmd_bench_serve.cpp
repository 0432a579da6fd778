// tritium bench serve: an HTTP load generator for an OpenAI-compatible server (like `vllm bench
// serve`): random token-id prompts of a given length, or prompts from a JSONL file, sent as
// streamed /v1/completions at Poisson arrivals (or all at once), with at most --max-concurrency
// in flight; reports request/s, output and total tok/s, TTFT / TPOT / ITL / e2e statistics.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/command.h"
#include "core/error.h"

namespace tritium::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using json = nlohmann::json;

struct ServeBenchArgs {
  std::string host = "127.0.0.1", model, api_key, dataset;
  int port = 8000, num_prompts = 256, input_len = 512, output_len = 256, max_concurrency = 0;
  double request_rate = 0;
  uint64_t seed = 0;
  bool json = false;
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Result {
  double start = 0, first = 0, end = 0;
  std::vector<double> itl;
  int64_t prompt_tokens = 0, out_tokens = 0;
  std::string error;
};

// One HTTP exchange on a fresh connection; `on_data` gets the body as it arrives.
int exchange(const ServeBenchArgs& a, const std::string& method, const std::string& target, const std::string& body,
             const std::function<void(std::string_view)>& on_data) {
  boost::asio::io_context io;
  beast::tcp_stream s(io);
  tcp::resolver r(io);
  s.connect(r.resolve(a.host, std::to_string(a.port)));
  http::request<http::string_body> req(method == "GET" ? http::verb::get : http::verb::post, target, 11);
  req.set(http::field::host, a.host);
  if (!a.api_key.empty()) req.set(http::field::authorization, "Bearer " + a.api_key);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  http::write(s, req);
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  p.body_limit(std::numeric_limits<std::uint64_t>::max());
  http::read_header(s, buf, p);
  char tmp[16384];
  while (!p.is_done()) {
    p.get().body().data = tmp;
    p.get().body().size = sizeof tmp;
    beast::error_code ec;
    http::read_some(s, buf, p, ec);  // returns as data arrives (read() would wait for a full buffer)
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw beast::system_error(ec);
    on_data(std::string_view(tmp, sizeof tmp - p.get().body().size));
  }
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_both, ec);
  return p.get().result_int();
}

void one_request(const ServeBenchArgs& a, const json& prompt, Result& r) {
  json body = {{"model", a.model}, {"prompt", prompt}, {"max_tokens", a.output_len}, {"temperature", 0},
               {"ignore_eos", true}, {"stream", true}, {"return_token_ids", true}, {"stream_options", {{"include_usage", true}}}};
  std::string pending, raw;
  double last = 0;
  int64_t chunks = 0;
  r.start = now_s();
  try {
    int status = exchange(a, "POST", "/v1/completions", body.dump(), [&](std::string_view d) {
      const double t = now_s();
      raw.append(d.substr(0, std::min<size_t>(d.size(), 2000 - std::min<size_t>(raw.size(), 2000))));
      pending.append(d);
      size_t i;
      while ((i = pending.find("\n\n")) != std::string::npos) {
        std::string ev = pending.substr(0, i);
        pending.erase(0, i + 2);
        if (ev.rfind("data: ", 0) != 0 || ev == "data: [DONE]") continue;
        json j = json::parse(ev.substr(6), nullptr, false);
        if (j.is_discarded()) continue;
        if (j.contains("error") && r.error.empty()) r.error = j["error"].value("message", "error");
        if (j.contains("usage") && j["usage"].is_object()) {
          r.prompt_tokens = j["usage"].value("prompt_tokens", int64_t(0));
          r.out_tokens = j["usage"].value("completion_tokens", int64_t(0));
        }
        bool text = false;
        if (j.contains("choices"))
          for (auto& c : j["choices"]) {
            // A model without a tokenizer streams token ids only (return_token_ids, tritium's and vLLM's extension).
            text |= c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
            text |= c.contains("token_ids") && c["token_ids"].is_array() && !c["token_ids"].empty();
          }
        if (!text) continue;
        if (chunks++ == 0) r.first = t;
        else r.itl.push_back(t - last);
        last = t;
      }
    });
    if (status != 200 && r.error.empty()) r.error = str_cat("HTTP ", status, ": ", raw.substr(0, 300));
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  r.end = now_s();
  if (r.error.empty() && chunks == 0) r.error = "no tokens streamed";
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}
double pct(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(q * double(v.size() - 1) + 0.5))];
}

void run_bench_serve(ServeBenchArgs a) {
  // The model's name and vocabulary from /v1/models.
  std::string models;
  int st = exchange(a, "GET", "/v1/models", "", [&](std::string_view d) { models.append(d); });
  if (st != 200) throw Error(str_cat("bench serve: GET /v1/models answered ", st, ": ", models.substr(0, 300)));
  json m = json::parse(models, nullptr, false);
  if (m.is_discarded() || !m.contains("data") || m["data"].empty()) throw Error("bench serve: /v1/models lists no model");
  if (a.model.empty()) a.model = m["data"][0].value("id", "");
  const int64_t vocab = m["data"][0].value("vocab_size", int64_t(0));

  std::vector<json> prompts;
  std::mt19937_64 g(a.seed);
  if (!a.dataset.empty()) {
    std::ifstream f(a.dataset);
    if (!f) throw Error("bench serve: cannot open --dataset " + a.dataset);
    std::string line;
    for (int n = 1; std::getline(f, line) && int(prompts.size()) < a.num_prompts; ++n) {
      if (line.empty()) continue;
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("prompt"))
        throw Error(str_cat("bench serve: ", a.dataset, " line ", n, ": expected {\"prompt\": ...}"));
      prompts.push_back(j["prompt"]);
    }
    if (prompts.empty()) throw Error("bench serve: " + a.dataset + " has no prompts");
  } else {
    if (vocab <= 0) throw Error("bench serve: /v1/models gives no vocab_size; use --dataset");
    for (int i = 0; i < a.num_prompts; ++i) {
      std::vector<int32_t> p(size_t(a.input_len));
      for (auto& t : p) t = int32_t(g() % uint64_t(vocab));
      prompts.push_back(p);
    }
  }
  const int n = int(prompts.size());
  std::vector<Result> res(static_cast<size_t>(n));
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::vector<std::thread> th;
  std::exponential_distribution<double> gap(a.request_rate > 0 ? a.request_rate : 1.0);
  const double t0 = now_s();
  double next = t0;
  for (int i = 0; i < n; ++i) {
    if (a.request_rate > 0) {
      next += gap(g);
      const double wait = next - now_s();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait));
    }
    if (a.max_concurrency > 0) {
      std::unique_lock<std::mutex> lk(mu);
      cv.wait(lk, [&] { return in_flight < a.max_concurrency; });
      ++in_flight;
    }
    th.emplace_back([&, i] {
      one_request(a, prompts[size_t(i)], res[size_t(i)]);
      if (a.max_concurrency > 0) {
        std::lock_guard<std::mutex> lk(mu);
        --in_flight;
        cv.notify_one();
      }
    });
  }
  for (auto& t : th) t.join();
  const double wall = now_s() - t0;

  int failed = 0;
  std::string first_error;
  int64_t in_tok = 0, out_tok = 0;
  std::vector<double> ttft, tpot, itl, e2e;
  for (auto& r : res) {
    if (!r.error.empty()) {
      if (failed++ == 0) first_error = r.error;
      continue;
    }
    in_tok += r.prompt_tokens;
    out_tok += r.out_tokens;
    ttft.push_back(r.first - r.start);
    e2e.push_back(r.end - r.start);
    if (r.out_tokens > 1) tpot.push_back((r.end - r.first) / double(r.out_tokens - 1));
    itl.insert(itl.end(), r.itl.begin(), r.itl.end());
  }
  const int ok = n - failed;
  if (a.json) {
    json j = {{"model", a.model}, {"num_prompts", n}, {"input_len", a.dataset.empty() ? a.input_len : 0},
              {"output_len", a.output_len}, {"request_rate", a.request_rate}, {"max_concurrency", a.max_concurrency},
              {"seconds", wall}, {"completed", ok}, {"failed", failed}, {"requests_per_s", ok / wall},
              {"input_tokens", in_tok}, {"output_tokens", out_tok}, {"output_tokens_per_s", double(out_tok) / wall},
              {"total_tokens_per_s", double(in_tok + out_tok) / wall}};
    for (auto& [name, v] : std::vector<std::pair<std::string, std::vector<double>*>>{
             {"ttft", &ttft}, {"tpot", &tpot}, {"itl", &itl}, {"e2e", &e2e}}) {
      j[name + "_mean_s"] = mean(*v);
      j[name + "_p50_s"] = pct(*v, 0.5);
      j[name + "_p99_s"] = pct(*v, 0.99);
    }
    if (failed) j["first_error"] = first_error;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("server %s:%d model %s: %d requests, rate %s, max concurrency %s\n", a.host.c_str(), a.port,
                a.model.c_str(), n, a.request_rate > 0 ? std::to_string(a.request_rate).c_str() : "inf",
                a.max_concurrency > 0 ? std::to_string(a.max_concurrency).c_str() : "none");
    std::printf("time        %.2f s, %d completed, %d failed%s%s\n", wall, ok, failed, failed ? ": " : "",
                first_error.substr(0, 200).c_str());
    std::printf("throughput  %.2f requests/s, %.1f output tok/s, %.1f total tok/s\n", ok / wall, double(out_tok) / wall,
                double(in_tok + out_tok) / wall);
    for (auto& [name, v] : std::vector<std::pair<const char*, std::vector<double>*>>{
             {"TTFT", &ttft}, {"TPOT", &tpot}, {"ITL", &itl}, {"E2E", &e2e}})
      std::printf("%-11s mean %.1f ms, p50 %.1f ms, p99 %.1f ms\n", name, mean(*v) * 1e3, pct(*v, 0.5) * 1e3,
                  pct(*v, 0.99) * 1e3);
  }
  if (failed == n) throw Error("bench serve: every request failed; the first: " + first_error);
}

// Order 1: runs after cmd_bench.cpp made the `bench` command.
RegisterCommand reg(
    [](CLI::App& app) {
      CLI::App* bench = app.get_subcommand("bench");
      auto a = std::make_shared<ServeBenchArgs>();
      CLI::App* c = bench->add_subcommand("serve", "HTTP load against a running OpenAI-compatible server (like vllm bench serve)");
      c->add_option("--host", a->host, "Server address")->capture_default_str();
      c->add_option("--port", a->port, "Server port")->capture_default_str()->check(CLI::Range(1, 65535));
      c->add_option("--model", a->model, "The 'model' field (default: the first of /v1/models)");
      c->add_option("--api-key", a->api_key, "Sent as 'Authorization: Bearer KEY'");
      c->add_option("--dataset", a->dataset, "JSONL file of {\"prompt\": text or token ids} lines (default: random token ids)");
      c->add_option("--num-prompts", a->num_prompts, "Requests")->capture_default_str()->check(CLI::PositiveNumber);
      c->add_option("--input-len", a->input_len, "Random prompt tokens per request")->capture_default_str()->check(CLI::PositiveNumber);
      c->add_option("--output-len", a->output_len, "Generated tokens per request (ignore_eos)")->capture_default_str()->check(CLI::PositiveNumber);
      c->add_option("--request-rate", a->request_rate, "Poisson arrivals per second (0: all at once, inf)")->capture_default_str();
      c->add_option("--max-concurrency", a->max_concurrency, "Requests in flight at most (0: no bound)")->capture_default_str();
      c->add_option("--seed", a->seed, "Seed of the random prompts and arrivals")->capture_default_str();
      c->add_flag("--json", a->json, "Print one JSON object");
      c->callback([a] { run_bench_serve(*a); });
    },
    1);

}  // namespace
}  // namespace tritium::cli
