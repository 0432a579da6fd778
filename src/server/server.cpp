// The Server: routing (paths, methods, API key, CORS, errors), start-up (listen first, load the
// model on a thread, /health 503 until then) and graceful shutdown.
#include "server/server.h"

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "core/file.h"
#include "server/api_error.h"
#include "server/context.h"
#include "server/handlers.h"
#include "server/http.h"

namespace tritium::server {

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); ++i) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

// Counts and (with --log-requests) logs each response.
class LoggedResponder : public Responder {
 public:
  LoggedResponder(std::shared_ptr<Responder> r, Context& ctx, std::string what, double t0)
      : r_(std::move(r)), ctx_(ctx), what_(std::move(what)), t0_(t0) {}
  void send(int status, const std::string& ct, std::string body, Headers extra) override {
    done(status, body.size());
    r_->send(status, ct, std::move(body), std::move(extra));
  }
  void start_stream(int status, const std::string& ct, Headers extra) override {
    status_ = status;
    r_->start_stream(status, ct, std::move(extra));
  }
  void write(std::string data) override {
    bytes_ += data.size();
    r_->write(std::move(data));
  }
  void end_stream() override {
    done(status_, bytes_);
    r_->end_stream();
  }
  void on_disconnect(std::function<void()> fn) override { r_->on_disconnect(std::move(fn)); }
  void post(std::function<void()> fn) override { r_->post(std::move(fn)); }
  bool disconnected() const override { return r_->disconnected(); }

 private:
  std::shared_ptr<Responder> r_;
  Context& ctx_;
  std::string what_;
  double t0_;
  int status_ = 0;
  size_t bytes_ = 0;
  void done(int status, size_t bytes) {
    ctx_.metrics->observe_http(status);
    if (ctx_.opts.log_requests)
      std::fprintf(stderr, "[tritium] %s -> %d (%zu bytes, %.1f ms)%s\n", what_.c_str(), status, bytes,
                   (now_s() - t0_) * 1e3, r_->disconnected() ? " client gone" : "");
  }
};

using Fn = void (*)(Context&, HttpRequest&, std::shared_ptr<Responder>);
struct Route {
  const char* path;
  const char* method;
  Fn fn;
  bool prefix = false;  // path is a prefix (GET /v1/responses/{id})
  bool open = false;    // no API key needed
  bool needs_model = true;
  bool generates = false;
};

const Route kRoutes[] = {
    {"/", "GET", handle_web_page, false, true, false},
    {"/health", "GET", handle_health, false, true, false},
    {"/metrics", "GET", handle_metrics, false, true, false},
    {"/v1/models", "GET", handle_models},
    {"/v1/chat/completions", "POST", handle_chat_completions, false, false, true, true},
    {"/v1/completions", "POST", handle_completions, false, false, true, true},
    {"/v1/responses", "POST", handle_responses, false, false, true, true},
    {"/v1/responses/", "GET", handle_get_response, true},
    {"/tokenize", "POST", handle_tokenize},
    {"/detokenize", "POST", handle_detokenize},
};

bool path_matches(const Route& r, const std::string& path) {
  return r.prefix ? path.size() > std::strlen(r.path) && path.compare(0, std::strlen(r.path), r.path) == 0 : path == r.path;
}

void route(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> raw) {
  std::shared_ptr<Responder> out = std::make_shared<LoggedResponder>(raw, ctx, req.method + " " + req.target, req.received_at);
  try {
    std::string allow;
    const Route* hit = nullptr;
    for (auto& r : kRoutes) {
      if (!path_matches(r, req.path)) continue;
      allow += std::string(allow.empty() ? "" : ", ") + r.method;
      if (req.method == r.method) hit = &r;
    }
    if (allow.empty()) throw ApiError(404, "Invalid URL (" + req.method + " " + req.path + "): no such endpoint", "", "not_found");
    if (req.method == "OPTIONS") {
      out->send(204, "", "", {{"Allow", allow + ", OPTIONS"}});
      return;
    }
    if (!hit)
      throw ApiError(405, "Method " + req.method + " is not allowed for " + req.path + " (allowed: " + allow + ")", "",
                     "method_not_allowed");
    if (!hit->open && !ctx.opts.api_keys.empty()) {
      std::string auth = req.header("authorization");
      const std::string bearer = "Bearer ";
      if (auth.empty())
        throw ApiError(401, "Missing API key: send the header 'Authorization: Bearer <key>'", "", "invalid_api_key");
      std::string key = auth.compare(0, bearer.size(), bearer) == 0 ? auth.substr(bearer.size()) : std::string();
      bool ok = false;
      for (auto& k : ctx.opts.api_keys) ok = same_secret(key, k) || ok;
      if (!ok) throw ApiError(401, "Incorrect API key provided.", "", "invalid_api_key");
    }
    if (hit->needs_model && !ctx.ready) throw ApiError(503, "the model is loading; retry shortly", "", "model_loading");
    if (hit->generates && ctx.shutting_down) throw ApiError(503, "the server is shutting down", "", "shutting_down");
    hit->fn(ctx, req, out);
  } catch (const ApiError& e) {
    Headers h;
    if (e.status == 429 || e.status == 503) h.push_back({"Retry-After", "1"});
    if (e.status == 405) {
      std::string allow;
      for (auto& r : kRoutes)
        if (path_matches(r, req.path)) allow += std::string(allow.empty() ? "" : ", ") + r.method;
      h.push_back({"Allow", allow});
    }
    out->send(e.status, "application/json", error_json(e), h);
  } catch (const std::exception& e) {
    out->send(500, "application/json", error_json(500, std::string("internal error: ") + e.what()));
  }
}

Headers cors_headers(const std::vector<std::string>& allowed, const HttpRequest& req) {
  std::string origin = req.header("origin");
  if (origin.empty() || allowed.empty()) return {};
  bool any = false, ok = false;
  for (auto& a : allowed) {
    if (a == "*") any = true;
    if (a == origin) ok = true;
  }
  if (!any && !ok) return {};
  return {{"Access-Control-Allow-Origin", any ? "*" : origin},
          {"Vary", "Origin"},
          {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
          {"Access-Control-Allow-Headers", "Authorization, Content-Type"},
          {"Access-Control-Max-Age", "600"}};
}

}  // namespace

struct Server::State {
  Context ctx;
  std::function<std::unique_ptr<Engine>()> make_engine;
  std::unique_ptr<HttpServer> http;
  std::mutex mu;
  std::condition_variable cv;
  int stops = 0;
  bool load_failed = false;
};

Server::Server(ServerOptions opts, std::function<std::unique_ptr<Engine>()> make_engine) : s_(std::make_shared<State>()) {
  s_->ctx.opts = std::move(opts);
  s_->make_engine = std::move(make_engine);
  s_->ctx.metrics = std::make_unique<ServerMetrics>();
  s_->ctx.responses.set_capacity(s_->ctx.opts.max_stored_responses);
  HttpOptions h;
  h.host = s_->ctx.opts.host;
  h.port = uint16_t(s_->ctx.opts.port);
  h.threads = s_->ctx.opts.http_threads;
  h.max_body_bytes = s_->ctx.opts.max_body_bytes;
  h.request_timeout_s = s_->ctx.opts.request_timeout_s;
  auto origins = s_->ctx.opts.allowed_origins;
  h.cors = [origins](const HttpRequest& r) { return cors_headers(origins, r); };
  Context* ctx = &s_->ctx;
  s_->http = std::make_unique<HttpServer>(h, [ctx](HttpRequest& r, std::shared_ptr<Responder> out) { route(*ctx, r, out); });
}

Server::~Server() = default;

uint16_t Server::port() const { return s_->http->port(); }

void Server::stop() {
  {
    std::lock_guard<std::mutex> lk(s_->mu);
    ++s_->stops;
  }
  s_->cv.notify_all();
}

int Server::run(std::function<void(const std::string&, bool)> on_ready) {
  State& S = *s_;
  Context& ctx = S.ctx;
  S.http->start();
  const std::string host = ctx.opts.host.find(':') != std::string::npos ? "[" + ctx.opts.host + "]" : ctx.opts.host;
  const std::string url = "http://" + host + ":" + std::to_string(S.http->port());
  std::fprintf(stderr, "tritium serve: listening on %s (loading the model; /health answers 503 until it is up)\n", url.c_str());

  std::thread loader([&] {
    try {
      std::unique_ptr<Engine> e = S.make_engine();
      if (!ctx.opts.chat_template.empty()) {
        std::string src = std::filesystem::exists(ctx.opts.chat_template) ? read_file(ctx.opts.chat_template) : ctx.opts.chat_template;
        nlohmann::ordered_json special = e->chat_template() ? e->chat_template()->special_tokens() : nlohmann::ordered_json::object();
        if (special.empty() && e->tokenizer()) {
          if (auto b = e->tokenizer()->bos_id()) special["bos_token"] = e->tokenizer()->id_to_token(*b).value_or("");
          if (!e->tokenizer()->eos_ids().empty())
            special["eos_token"] = e->tokenizer()->id_to_token(e->tokenizer()->eos_ids()[0]).value_or("");
        }
        ctx.template_override = std::make_unique<ChatTemplate>(src, special);
      }
      const ChatTemplate* tmpl = ctx.template_override ? ctx.template_override.get() : e->chat_template();
      ctx.format = detect_chat_format(e->tokenizer(), tmpl, ctx.opts.tool_call_parser, ctx.opts.reasoning_parser);
      ctx.names = ctx.opts.served_model_names;
      if (ctx.names.empty()) ctx.names.push_back(e->model_name());
      ctx.max_model_len = e->max_model_len();
      ctx.created = ctx.now_unix();
      ctx.engine = std::move(e);
      ctx.ready = true;
      std::fprintf(stderr,
                   "tritium serve: model '%s' ready on %s (context %lld tokens, chat format %s, tool calls %s, "
                   "reasoning %s)\n",
                   ctx.names[0].c_str(), ctx.engine->device().c_str(), (long long)ctx.max_model_len,
                   ctx.format.harmony ? "harmony" : ctx.format.tmpl ? "chat template" : "none",
                   tool_format_name(ctx.format.tools), reasoning_format_name(ctx.format.reasoning));
      if (on_ready) on_ready(url, ctx.format.harmony || ctx.format.tmpl);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: loading the model failed: %s\n", e.what());
      {
        std::lock_guard<std::mutex> lk(S.mu);
        S.load_failed = true;
      }
      S.cv.notify_all();
    }
  });

  {
    std::unique_lock<std::mutex> lk(S.mu);
    S.cv.wait(lk, [&] { return S.stops > 0 || S.load_failed; });
  }
  ctx.shutting_down = true;
  S.http->stop_accepting();
  if (!S.load_failed) std::fprintf(stderr, "tritium serve: shutting down (no new requests; in-flight ones get %.0f s)\n",
                                   ctx.opts.shutdown_timeout_s);
  loader.join();  // a model still loading finishes loading first
  if (ctx.engine) {
    const double deadline = now_s() + ctx.opts.shutdown_timeout_s;
    {
      std::unique_lock<std::mutex> lk(S.mu);
      while (ctx.active_requests > 0 && S.stops < 2 && now_s() < deadline) S.cv.wait_for(lk, std::chrono::milliseconds(20));
    }
    std::vector<std::string> ids;
    {
      std::lock_guard<std::mutex> lk(ctx.live_mu);
      ids.assign(ctx.live.begin(), ctx.live.end());
    }
    if (!ids.empty()) std::fprintf(stderr, "tritium serve: aborting %zu request(s) still running\n", ids.size());
    for (auto& id : ids) ctx.engine->abort(id);
    // Let the aborted streams end (finish_reason "abort", [DONE]) before the connections close.
    for (int i = 0; i < 500 && ctx.active_requests > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  S.http->stop();
  ctx.ready = false;
  ctx.engine.reset();
  return S.load_failed ? 1 : 0;
}

}  // namespace tritium::server
