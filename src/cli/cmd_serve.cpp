// tritium serve: the OpenAI-compatible HTTP server (src/server) with the web chat page.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <pthread.h>
#include <atomic>
#include <thread>

#include "cli/command.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "server/server.h"

namespace tritium::cli {
namespace {

struct ServeArgs {
  EngineArgs engine;
  server::ServerOptions server;
  std::string api_key;
  int max_queued = -1;
};

int run_serve(ServeArgs& a) {
  if (a.engine.model.model.empty() && a.engine.model.synthetic.empty()) throw Error("serve: give --model DIR or --synthetic NAME");
  server::ServerOptions o = a.server;
  if (!a.api_key.empty()) o.api_keys.push_back(a.api_key);
  else if (const char* k = std::getenv("TRITIUM_API_KEY"); k && *k) o.api_keys.push_back(k);
  if (a.max_queued >= 0) o.max_queued_requests = a.max_queued;
  o.model_path = a.engine.model.model;
  o.max_num_seqs = a.engine.max_num_seqs;
  EngineConfig cfg = a.engine.config();

  // SIGINT / SIGTERM go to a thread of their own (blocked everywhere else, before any thread starts).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  server::Server srv(o, [cfg] { return std::make_unique<Engine>(cfg); });
  std::atomic<bool> done{false};
  std::thread signals([&] {
    timespec ts{0, 200 * 1000 * 1000};
    while (!done) {
      int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        std::fprintf(stderr, "\ntritium serve: %s received%s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                     " (again: abort in-flight requests at once)");
        srv.stop();
      }
    }
  });
  const bool keyed = !o.api_keys.empty();
  int rc = srv.run([&](const std::string& url, bool chat) {
    const char* auth = keyed ? " -H \"Authorization: Bearer $TRITIUM_API_KEY\"" : "";
    if (chat) {
      std::fprintf(stderr, "tritium serve: open %s/ in a browser for the chat page, or try:\n", url.c_str());
      std::fprintf(stderr,
                   "  curl %s/v1/chat/completions -H 'Content-Type: application/json'%s \\\n"
                   "       -d '{\"messages\": [{\"role\": \"user\", \"content\": \"Hello!\"}], \"max_tokens\": 64}'\n",
                   url.c_str(), auth);
    } else {
      std::fprintf(stderr, "tritium serve: this model has no tokenizer or chat template: send token ids, e.g.\n");
      std::fprintf(stderr,
                   "  curl %s/v1/completions -H 'Content-Type: application/json'%s \\\n"
                   "       -d '{\"prompt\": [5, 17, 42, 99], \"max_tokens\": 16}'\n",
                   url.c_str(), auth);
    }
    std::fflush(stderr);
  });
  done = true;
  signals.join();
  return rc;
}

RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* c = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat, completions, responses) with a web chat page");
  add_engine_options(c, a->engine, /*allow_synthetic=*/true);
  server::ServerOptions& s = a->server;
  c->add_option("--host", s.host, "Address to listen on (0.0.0.0 or :: for every interface)")->capture_default_str();
  c->add_option("--port", s.port, "Port (0: any free port, printed at start)")->capture_default_str()->check(CLI::Range(0, 65535));
  c->add_option("--api-key", a->api_key,
                "Clients must send 'Authorization: Bearer KEY' (default: $TRITIUM_API_KEY; none: no key). /, /health and "
                "/metrics stay open");
  c->add_option("--served-model-name", s.served_model_names,
                "Names the model answers to in the 'model' field; the first is reported (default: the model directory's "
                "name, or the synthetic name; --model as given is accepted too)");
  c->add_option("--chat-template", s.chat_template, "A chat template (a file, or the Jinja text itself) instead of the model's");
  c->add_option("--allowed-origins", s.allowed_origins,
                "Origins allowed to call the API from a browser page on another origin (CORS); '*' for any (default: "
                "none, same origin only)");
  c->add_option("--max-queued-requests", a->max_queued,
                "Sequences allowed to wait beyond the running batch (--max-num-seqs); more get 429 with Retry-After "
                "(default: no bound)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--max-body-bytes", s.max_body_bytes, "Largest request body accepted (413 beyond)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--request-timeout", s.request_timeout_s,
                "Seconds a request's header and body get to arrive (408 and closed after; idle keep-alive "
                "connections close after it too)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  c->add_option("--shutdown-timeout", s.shutdown_timeout_s,
                "On SIGINT/SIGTERM, seconds in-flight requests get to finish before they are aborted")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  c->add_option("--http-threads", s.http_threads, "I/O threads (parse, render templates, tokenize, stream)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  c->add_option("--tool-call-parser", s.tool_call_parser,
                "How tool calls are read from the output: auto (from the chat template and tokenizer), hermes, "
                "llama3_json, mistral, harmony, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "hermes", "llama3_json", "mistral", "harmony", "none"}));
  c->add_option("--reasoning-parser", s.reasoning_parser,
                "How reasoning is read from the output: auto (think when the tokenizer has <think> and </think>, "
                "harmony for gpt-oss), think, harmony, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "think", "harmony", "none"}));
  c->add_option("--max-stored-responses", s.max_stored_responses,
                "Responses kept in memory for previous_response_id (the oldest are dropped)")
      ->capture_default_str();
  c->add_flag("--log-requests", s.log_requests, "Log one line per request to stderr");
  c->callback([a] {
    int rc = run_serve(*a);
    if (rc != 0) std::exit(rc);
  });
});

}  // namespace
}  // namespace tritium::cli
