// The HTTP/1.1 transport (Boost.Beast over Asio): a few I/O threads, keep-alive, chunked
// streaming for server-sent events, request size and time limits, and notice of a client that
// goes away. Handlers see an HttpRequest and answer through a Responder; nothing here knows
// about the OpenAI API except the shape of the errors the transport itself sends.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tritium::server {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ... as sent
  std::string target;  // path and query as sent
  std::string path;    // target without the query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote;  // peer address
  double received_at = 0;  // steady clock, seconds
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One request's answer. Thread-safe: every call is carried out on the connection's strand, in
// call order. Either send() once, or start_stream(), write()..., end_stream(). Calls after the
// connection closed are ignored.
class Responder {
 public:
  virtual ~Responder() = default;
  virtual void send(int status, const std::string& content_type, std::string body, Headers extra = {}) = 0;
  // Starts a chunked response (text/event-stream for SSE).
  virtual void start_stream(int status, const std::string& content_type, Headers extra = {}) = 0;
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;
  // fn runs once (on the strand) if the client disconnects before the response is complete;
  // at once if it is gone already.
  virtual void on_disconnect(std::function<void()> fn) = 0;
  // Runs fn on the connection's strand, after the calls made before it.
  virtual void post(std::function<void()> fn) = 0;
  virtual bool disconnected() const = 0;
};

using Handler = std::function<void(HttpRequest&, std::shared_ptr<Responder>)>;

struct HttpOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  int threads = 4;
  uint64_t max_body_bytes = 32ull << 20;
  double request_timeout_s = 30;  // a request's header and body must arrive within this
  Headers extra_headers;          // added to every response (CORS)
  std::function<Headers(const HttpRequest&)> cors;  // extra headers for a request (may be empty)
};

class HttpServer {
 public:
  HttpServer(HttpOptions opts, Handler handler);
  ~HttpServer();
  // Binds and listens (throws tritium::Error naming the address when it cannot), then serves
  // on the I/O threads.
  void start();
  uint16_t port() const;
  // Closes the listening socket: no new connections.
  void stop_accepting();
  // Closes every connection (streams in progress are cut), stops the I/O threads, joins them.
  void stop();
  int64_t open_connections() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// "200 OK"-style reason phrases are added by Beast; this maps a status to its reason (logs).
const char* status_reason(int status);

}  // namespace tritium::server
