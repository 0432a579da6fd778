// tritium chat: an interactive conversation on the model's chat template (or harmony for
// gpt-oss style tokenizers), streaming the reply as it is generated.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/harmony.h"
#include "tritium/engine.h"

namespace tritium::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct ChatArgs {
  EngineArgs engine;
  SamplingArgs sampling;
  std::string system, developer, reasoning_effort = "medium";
  int64_t max_context = 0;
  bool raw = false;
  bool verbose = false;
};

void run_chat(ChatArgs a) {
  if (a.engine.model.model.empty()) throw Error("chat needs --model (a directory with tokenizer.json, a .gguf file or ORG/NAME)");
  Engine engine(a.engine.config());
  if (!engine.has_tokenizer()) throw Error(a.engine.model.model + ": no tokenizer (tokenizer.json or GGUF metadata); chat needs one");
  const Tokenizer& tok = *engine.tokenizer();
  const bool harmony_fmt = tok.token_to_id("<|channel|>").has_value() && tok.token_to_id("<|start|>").has_value();
  std::optional<ChatTemplate> tmpl;
  if (!a.raw && !harmony_fmt) {
    if (!engine.chat_template())
      throw Error(a.engine.model.model + ": no chat template (neither chat_template.jinja nor tokenizer_config.json's chat_template, nor tokenizer.chat_template in a GGUF file); use --raw");
    tmpl.emplace(*engine.chat_template());
  }
  harmony::RenderOptions hopts;
  if (harmony_fmt) hopts.effort = harmony::parse_effort(a.reasoning_effort);
  const int64_t max_context = a.max_context > 0 ? std::min<int64_t>(a.max_context, engine.max_model_len())
                                                : engine.max_model_len();
  SamplingParams sp = a.sampling.params();

  // harmony: the developer message (instructions); other templates get it as a system message
  ojson history;
  auto start_history = [&] {
    history = ojson::array();
    if (!a.system.empty()) history.push_back({{"role", "system"}, {"content", a.system}});
    if (!a.developer.empty())
      history.push_back({{"role", harmony_fmt ? "developer" : "system"}, {"content", a.developer}});
  };
  start_history();
  const bool tty = isatty(0);
  std::fprintf(stderr, "tritium chat: %s (%s format). /reset clears the conversation, /exit or Ctrl-D quits.\n",
               engine.model_name().c_str(), a.raw ? "raw" : harmony_fmt ? "harmony" : "chat template");
  std::string line;
  for (;;) {
    if (tty) std::fprintf(stderr, "\n> ");
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      start_history();
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    if (line.empty()) continue;
    history.push_back({{"role", "user"}, {"content", line}});

    // Render, dropping the oldest turns (never the system prompt) until prompt + reply fit.
    std::vector<int32_t> ids;
    for (;;) {
      std::string prompt;
      if (a.raw) prompt = line;
      else if (harmony_fmt) prompt = harmony::render_conversation(history, nullptr, hopts);
      else prompt = tmpl->render(history, nullptr, true, ojson::object());
      ids = tok.encode(prompt, /*add_special_tokens=*/a.raw, /*parse_special=*/!a.raw);
      if (int64_t(ids.size()) + sp.max_tokens <= max_context) break;
      size_t first = (!history.empty() && history[0]["role"] == "system") ? 1 : 0;
      if (history.size() <= first + 1) {
        if (int64_t(ids.size()) < max_context) break;  // the reply gets what room is left
        throw Error(str_cat("the message is ", ids.size(), " tokens; the context holds ", max_context));
      }
      history.erase(history.begin() + long(first));
    }
    if (a.verbose) {
      std::string list;
      for (size_t i = 0; i < ids.size(); ++i) list += (i ? "," : "") + std::to_string(ids[i]);
      std::fprintf(stderr, "[prompt ids: %s]\n", list.c_str());
    }
    SamplingParams turn = sp;
    turn.max_tokens = int(std::min<int64_t>(sp.max_tokens, max_context - int64_t(ids.size())));
    RequestHandle h = engine.submit(ids, turn);
    RequestOutput o;
    std::string reply, reasoning;
    harmony::StreamParser parser;
    while (h.next(o)) {
      if (!o.error.empty()) throw Error(o.error);
      if (harmony_fmt) {
        // Harmony control tokens are special: decode with them kept so the parser sees them.
        std::string text;
        for (auto id : o.new_token_ids) text += tok.decode({id}, false);
        auto d = parser.feed(text);
        if (!d.reasoning.empty()) std::fprintf(stderr, "%s", d.reasoning.c_str());
        std::fputs(d.content.c_str(), stdout);
        reply += d.content;
        reasoning += d.reasoning;
        for (auto& tc : d.tool_calls) std::printf("\n[tool call %s %s]\n", tc.recipient.c_str(), tc.arguments.c_str());
      } else {
        std::fputs(o.new_text.c_str(), stdout);
        reply += o.new_text;
      }
      std::fflush(stdout);
      if (o.finished && o.finish_reason == "length") std::fprintf(stderr, "\n[stopped: max tokens]");
    }
    std::printf("\n");
    std::fflush(stdout);
    ojson msg = {{"role", "assistant"}, {"content", reply}};
    if (!reasoning.empty()) msg["thinking"] = reasoning;
    if (!a.raw) history.push_back(msg);
  }
}

RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<ChatArgs>();
  a->sampling.max_tokens = 512;
  a->sampling.temperature = 0.7f;
  CLI::App* c = app.add_subcommand("chat", "Interactive chat on the model's chat template");
  add_engine_options(c, a->engine, /*allow_synthetic=*/false);
  add_sampling_options(c, a->sampling);
  c->add_option("--system", a->system, "System prompt");
  c->add_option("--developer-message", a->developer,
                 "Developer message (harmony / gpt-oss: instructions; other templates: a system message)");
  c->add_option("-r,--reasoning-effort", a->reasoning_effort, "low, medium or high (harmony / gpt-oss models)")
      ->capture_default_str()->check(CLI::IsMember({"low", "medium", "high"}));
  c->add_option("-c,--context,--max-context", a->max_context, "Tokens of conversation kept (oldest turns are dropped)")
      ->check(CLI::NonNegativeNumber);
  c->add_flag("-v,--verbose", a->verbose, "Print each turn's prompt token ids to stderr");
  c->add_flag("--raw", a->raw, "Send each line as a plain prompt, without the chat template");
  c->callback([a] { run_chat(*a); });
});

}  // namespace
}  // namespace tritium::cli
