#include "server/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tritium::server {

namespace {
std::vector<double> latency_buckets() {
  return {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
          20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
}
std::vector<double> request_buckets() {
  return {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
          120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
}
// 1, 2, 5, 10, 20, 50, ... up to max (vLLM's length buckets).
std::vector<double> length_buckets(int64_t max) {
  std::vector<double> b;
  for (double m = 1;; m *= 10)
    for (double k : {1.0, 2.0, 5.0}) {
      if (k * m > double(max)) return b;
      b.push_back(k * m);
    }
}

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

std::string escape_label(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '\\' || c == '"') r += '\\';
    if (c == '\n') {
      r += "\\n";
      continue;
    }
    r += c;
  }
  return r;
}

void head(std::ostringstream& os, const std::string& name, const char* type, const char* help) {
  os << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

void histogram(std::ostringstream& os, const std::string& name, const char* help, const std::string& label,
               const std::vector<double>& bounds, const std::vector<uint64_t>& counts, double sum, uint64_t count) {
  head(os, name, "histogram", help);
  uint64_t acc = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    acc += i < counts.size() ? counts[i] : 0;
    os << name << "_bucket{" << label << ",le=\"" << num(bounds[i]) << "\"} " << acc << '\n';
  }
  os << name << "_bucket{" << label << ",le=\"+Inf\"} " << count << '\n';
  os << name << "_sum{" << label << "} " << num(sum) << '\n';
  os << name << "_count{" << label << "} " << count << '\n';
}
}  // namespace

PromHistogram::PromHistogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void PromHistogram::observe(double v) {
  size_t i = size_t(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  ++counts[i];
  sum += v;
  ++count;
}

ServerMetrics::ServerMetrics(int64_t max_model_len)
    : ttft_(latency_buckets()),
      e2e_(request_buckets()),
      queue_(request_buckets()),
      prefill_(request_buckets()),
      decode_(request_buckets()),
      prompt_len_(length_buckets(max_model_len)),
      gen_len_(length_buckets(max_model_len)) {}

void ServerMetrics::observe_finished(const RequestOutput& o) {
  std::lock_guard<std::mutex> lk(mu_);
  std::string reason = o.error.empty() ? o.finish_reason : "error";
  ++finished_[reason];
  if (o.arrival_time > 0 && o.finished_time >= o.arrival_time) e2e_.observe(o.finished_time - o.arrival_time);
  if (o.scheduled_time > 0) queue_.observe(std::max(0.0, o.scheduled_time - o.arrival_time));
  if (o.first_token_time > 0) {
    ttft_.observe(std::max(0.0, o.first_token_time - o.arrival_time));
    if (o.scheduled_time > 0) prefill_.observe(std::max(0.0, o.first_token_time - o.scheduled_time));
    decode_.observe(std::max(0.0, o.finished_time - o.first_token_time));
  }
  prompt_len_.observe(double(o.usage.prompt_tokens));
  gen_len_.observe(double(o.usage.completion_tokens));
}

void ServerMetrics::observe_http(int status) {
  std::lock_guard<std::mutex> lk(mu_);
  ++http_[status];
}

std::string ServerMetrics::render(const EngineMetrics& m, const std::string& model_name) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::ostringstream os;
  const std::string L = "model_name=\"" + escape_label(model_name) + "\"";
  auto gauge = [&](const char* n, const char* help, double v, const char* type = "gauge") {
    head(os, std::string("tritium:") + n, type, help);
    os << "tritium:" << n << '{' << L << "} " << num(v) << '\n';
  };
  gauge("num_requests_running", "Sequences in the running batch.", double(m.running));
  gauge("num_requests_waiting", "Sequences waiting to be scheduled.", double(m.waiting));
  gauge("kv_cache_usage_perc", "Fraction of KV cache blocks in use (1 = all).",
        m.kv_blocks_total ? 1.0 - double(m.kv_blocks_free) / double(m.kv_blocks_total) : 0.0);
  gauge("kv_cache_blocks_total", "KV cache blocks in all.", double(m.kv_blocks_total));
  gauge("kv_cache_blocks_free", "KV cache blocks no sequence uses (cached prefixes included).", double(m.kv_blocks_free));
  gauge("kv_cache_blocks_cached", "Free KV cache blocks that still hold a cached prefix.", double(m.kv_blocks_cached));
  gauge("prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache (full blocks).",
        double(m.prefix_cache_queried_tokens), "counter");
  gauge("prefix_cache_hits_total", "Prompt tokens found in the prefix cache.", double(m.prefix_cache_hit_tokens), "counter");
  gauge("prompt_tokens_total", "Prompt tokens computed (prefill).", double(m.prompt_tokens), "counter");
  gauge("generation_tokens_total", "Tokens generated.", double(m.generation_tokens), "counter");
  gauge("num_preemptions_total", "Sequences preempted (their KV recomputed later).", double(m.preemptions), "counter");
  head(os, "tritium:request_success_total", "counter", "Finished sequences by finish reason (stop, length, abort, error).");
  for (const char* r : {"stop", "length", "abort", "error"}) {
    auto it = finished_.find(r);
    os << "tritium:request_success_total{" << L << ",finished_reason=\"" << r << "\"} " << (it == finished_.end() ? 0 : it->second)
       << '\n';
  }
  head(os, "tritium:http_requests_total", "counter", "HTTP responses by status code.");
  for (auto& [s, n] : http_) os << "tritium:http_requests_total{" << L << ",status=\"" << s << "\"} " << n << '\n';
  auto hist = [&](const char* n, const char* help, const PromHistogram& h) {
    histogram(os, std::string("tritium:") + n, help, L, h.bounds, h.counts, h.sum, h.count);
  };
  hist("time_to_first_token_seconds", "Time from arrival to the first generated token.", ttft_);
  // Inter-token latency: the engine observes every token.
  histogram(os, "tritium:inter_token_latency_seconds", "Time between two tokens of a sequence.", L, m.itl.bounds,
            m.itl.counts, m.itl.sum, m.itl.count);
  hist("e2e_request_latency_seconds", "Time from arrival to the last token.", e2e_);
  hist("request_queue_time_seconds", "Time from arrival to the first step that ran the request.", queue_);
  hist("request_prefill_time_seconds", "Time from the first step to the first token.", prefill_);
  hist("request_decode_time_seconds", "Time from the first token to the last.", decode_);
  hist("request_prompt_tokens", "Prompt length of finished sequences.", prompt_len_);
  hist("request_generation_tokens", "Generated length of finished sequences.", gen_len_);
  return os.str();
}

}  // namespace tritium::server
