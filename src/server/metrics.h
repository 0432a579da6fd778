// /metrics: Prometheus text exposition of the engine's state and the server's request
// statistics, named like vLLM's (vllm:... -> tritium:...) with a model_name label.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tritium/engine.h"

namespace tritium::server {

struct PromHistogram {
  std::vector<double> bounds;    // upper bounds, ascending
  std::vector<uint64_t> counts;  // per bucket (not cumulative), one more for +Inf
  double sum = 0;
  uint64_t count = 0;
  explicit PromHistogram(std::vector<double> b = {});
  void observe(double v);
};

class ServerMetrics {
 public:
  explicit ServerMetrics(int64_t max_model_len = 1 << 20);
  // One finished output (sequence): finish reason, latencies from its engine timestamps, lengths.
  void observe_finished(const RequestOutput& o);
  void observe_http(int status);
  std::string render(const EngineMetrics& m, const std::string& model_name) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint64_t> finished_;  // by finish reason
  std::map<int, uint64_t> http_;              // by status
  PromHistogram ttft_, e2e_, queue_, prefill_, decode_, prompt_len_, gen_len_;
};

}  // namespace tritium::server
