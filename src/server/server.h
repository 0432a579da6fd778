// `tritium serve`: an OpenAI-compatible HTTP server over the public Engine API. The HTTP
// threads parse requests, render chat templates, tokenize and stream server-sent events; the
// engine thread only schedules and runs steps (outputs reach the connections through
// RequestHandle::set_notify, never by a thread that waits on a socket).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tritium/engine.h"

namespace tritium::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;
  std::vector<std::string> api_keys;            // empty: no key needed
  std::vector<std::string> served_model_names;  // empty: the model's name
  std::string model_path;                       // --model as given (also accepted as a name)
  std::string chat_template;                    // a file, or the template text itself
  std::vector<std::string> allowed_origins;     // CORS; "*" for any
  std::optional<int> max_queued_requests;       // beyond the running batch; none: no bound
  uint64_t max_body_bytes = 32ull << 20;
  bool log_requests = false;
  int http_threads = 4;
  double request_timeout_s = 30;
  double shutdown_timeout_s = 10;  // time in-flight requests get to finish on SIGINT/SIGTERM
  std::string tool_call_parser = "auto";
  std::string reasoning_parser = "auto";
  int max_num_seqs = 256;          // the engine's batch (for the queue bound)
  size_t max_stored_responses = 1000;
};

class Server {
 public:
  // make_engine runs on a loader thread after the server listens (/health answers 503 until it
  // returns). Throws tritium::Error when the address cannot be bound.
  Server(ServerOptions opts, std::function<std::unique_ptr<Engine>()> make_engine);
  ~Server();
  // Listens, loads the model, serves until stop(); then shuts down gracefully: no new
  // connections, in-flight requests get shutdown_timeout_s to finish and are aborted after
  // that. Returns 0, or 1 when the model failed to load. on_ready runs once the model is up (chat:
  // whether it has a chat format, i.e. /v1/chat/completions works; without, prompts are token ids).
  int run(std::function<void(const std::string& url, bool chat)> on_ready = {});
  // From any thread (a signal handler thread): begin the shutdown. A second call aborts
  // in-flight requests at once.
  void stop();
  uint16_t port() const;

  struct State;

 private:
  std::shared_ptr<State> s_;
};

}  // namespace tritium::server
