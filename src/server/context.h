// What every request handler of the server shares: the engine (once loaded), the model's chat
// format, served names, metrics, the Responses store and the admission count.
#pragma once
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/chat_format.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/server.h"

namespace tritium::server {

// Stored /v1/responses conversations (for previous_response_id), newest kept.
class ResponseStore {
 public:
  explicit ResponseStore(size_t cap = 1000) : cap_(cap) {}
  void put(const std::string& id, nlohmann::ordered_json messages, nlohmann::ordered_json response);
  // The conversation (messages in the chat form) that led to and includes the response.
  bool get(const std::string& id, nlohmann::ordered_json& messages, nlohmann::ordered_json* response = nullptr) const;
  void set_capacity(size_t c) { cap_ = c; }

 private:
  mutable std::mutex mu_;
  size_t cap_;
  std::map<std::string, std::pair<nlohmann::ordered_json, nlohmann::ordered_json>> items_;
  std::deque<std::string> order_;
};

struct Context {
  ServerOptions opts;
  std::atomic<bool> ready{false};
  std::atomic<bool> shutting_down{false};
  std::unique_ptr<Engine> engine;          // set before ready
  std::unique_ptr<ChatTemplate> template_override;  // --chat-template
  ChatFormat format;
  std::vector<std::string> names;          // served model names; names[0] is reported
  int64_t max_model_len = 0;
  int64_t created = 0;                     // unix time the model came up
  std::unique_ptr<ServerMetrics> metrics;
  ResponseStore responses;
  std::atomic<int64_t> active_seqs{0}, active_requests{0};
  // Engine request ids in flight (aborted at shutdown when the grace time is over).
  std::mutex live_mu;
  std::set<std::string> live;

  // Throws ApiError 429 when the queue bound (max_num_seqs + max_queued_requests sequences)
  // would be passed; else counts the sequences in.
  void admit(int seqs);
  void release(int seqs);
  // Checks the request's `model` (absent: the served model): 404 for another name.
  void check_model(const nlohmann::ordered_json& body) const;
  int64_t now_unix() const;
};

}  // namespace tritium::server
