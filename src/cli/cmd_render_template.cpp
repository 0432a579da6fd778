// `tritium render-template`: renders a conversation with a model's chat template and prints
// the prompt text (a test tool: the conformance test compares it with transformers).
//
//   tritium render-template --model DIR --conversation FILE.json [--no-generation-prompt] [--kwargs JSON]
//   tritium render-template --model DIR --jsonl FILE.jsonl
//   tritium render-template --harmony --conversation FILE.json --kwargs '{"reasoning_effort":"high"}'
//
// A conversation file holds a list of messages, or an object with "messages" and optionally
// "tools", "documents", "add_generation_prompt", "continue_final_message", "kwargs".
// With --jsonl each line is such an object, and each output line is the rendered text as a
// JSON string, or {"error": "..."} when rendering failed.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli/command.h"
#include "core/error.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/harmony.h"
#include "cli/common.h"
#include "tritium/model_files.h"

namespace tritium::cli {
namespace {

using ojson = nlohmann::ordered_json;

ChatRequest request_from_json(const ojson& j, bool add_generation_prompt, const ojson& kwargs) {
  ChatRequest r;
  r.add_generation_prompt = add_generation_prompt;
  r.kwargs = kwargs;
  if (j.is_array()) {
    r.messages = j;
    return r;
  }
  TRITIUM_CHECK(j.is_object() && j.contains("messages"), "conversation must be a list of messages or an object with \"messages\"");
  r.messages = j["messages"];
  if (j.contains("tools")) r.tools = j["tools"];
  if (j.contains("documents")) r.documents = j["documents"];
  if (j.contains("add_generation_prompt")) r.add_generation_prompt = j["add_generation_prompt"].get<bool>();
  if (j.contains("continue_final_message")) r.continue_final_message = j["continue_final_message"].get<bool>();
  if (j.contains("kwargs") && j["kwargs"].is_object())
    for (auto it = j["kwargs"].begin(); it != j["kwargs"].end(); ++it) r.kwargs[it.key()] = it.value();
  return r;
}

struct Options {
  std::string model, conversation, jsonl, kwargs;
  bool no_generation_prompt = false;
  bool drop_null_fields = false, alias_reasoning = false;
  bool harmony = false;
  std::string parse_harmony;
};

// --parse-harmony: each line is a JSON string of generated text (after `<|start|>assistant`);
// it is fed to the streaming parser in small uneven chunks, and the result printed as JSON.
void parse_harmony_file(const std::string& path) {
  std::ifstream in(path);
  TRITIUM_CHECK(in, "cannot open ", path);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string text;
    try {
      text = ojson::parse(line).get<std::string>();
    } catch (const std::exception& e) {
      throw Error(str_cat(path, ":", lineno, ": expected a JSON string: ", e.what()));
    }
    harmony::StreamParser p;
    std::string reasoning, content;
    ojson calls = ojson::array();
    auto take = [&](const harmony::ParseDelta& d) {
      reasoning += d.reasoning;
      content += d.content;
      for (auto& tc : d.tool_calls)
        calls.push_back({{"recipient", tc.recipient}, {"name", tc.name}, {"arguments", tc.arguments}, {"constrain", tc.constrain}});
    };
    size_t pos = 0, step = 1;
    while (pos < text.size()) {
      size_t n = std::min(step, text.size() - pos);
      take(p.feed(std::string_view(text).substr(pos, n)));
      pos += n;
      step = step % 5 + 1;
    }
    take(p.finish());
    TRITIUM_CHECK(reasoning == p.reasoning() && content == p.content(), "parser deltas disagree with its totals");
    ojson out = {{"reasoning", reasoning}, {"content", content}, {"tool_calls", calls}, {"done", p.done()}};
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
}

// Harmony rendering (gpt-oss) with options from the kwargs: reasoning_effort, current_date,
// model_identity, knowledge_cutoff.
std::string render_harmony(const ChatRequest& r) {
  harmony::RenderOptions ho;
  ho.add_generation_prompt = r.add_generation_prompt;
  auto str = [&](const char* k) -> std::string {
    auto it = r.kwargs.find(k);
    return (it != r.kwargs.end() && it->is_string()) ? it->get<std::string>() : "";
  };
  if (!str("reasoning_effort").empty()) ho.effort = harmony::parse_effort(str("reasoning_effort"));
  ho.current_date = str("current_date");
  if (!str("model_identity").empty()) ho.model_identity = str("model_identity");
  if (!str("knowledge_cutoff").empty()) ho.knowledge_cutoff = str("knowledge_cutoff");
  return harmony::render_conversation(r.messages, r.tools, ho);
}

void run(const Options& o) {
  if (!o.parse_harmony.empty()) {
    parse_harmony_file(o.parse_harmony);
    return;
  }
  // In --jsonl mode a template that fails to parse is reported on every line, like any other
  // rendering error, so a conformance run can compare it with the reference's error.
  std::unique_ptr<ChatTemplate> ct;
  std::string load_error;
  if (!o.harmony) {
    TRITIUM_CHECK(!o.model.empty(), "render-template: --model DIR is required (or --harmony)");
    try {
      ct = load_chat_template(resolve_model(o.model));
      TRITIUM_CHECK(ct, o.model, ": no chat template (neither chat_template.jinja nor tokenizer_config.json's "
                    "chat_template, nor tokenizer.chat_template in a GGUF file)");
    } catch (const Error& e) {
      if (o.jsonl.empty()) throw;
      load_error = e.what();
    }
  }
  ojson kwargs = ojson::object();
  if (!o.kwargs.empty()) {
    try {
      kwargs = ojson::parse(o.kwargs);
    } catch (const std::exception& e) {
      throw Error(str_cat("--kwargs: invalid JSON: ", e.what()));
    }
    TRITIUM_CHECK(kwargs.is_object(), "--kwargs must be a JSON object");
  }
  if (!o.jsonl.empty()) {
    std::ifstream in(o.jsonl);
    TRITIUM_CHECK(in, "cannot open ", o.jsonl);
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      ojson out;
      try {
        ojson j = ojson::parse(line);
        ChatRequest r = request_from_json(j, !o.no_generation_prompt, kwargs);
        r.drop_null_fields = o.drop_null_fields;
        r.alias_reasoning_fields = o.alias_reasoning;
        if (o.harmony) {
          out = render_harmony(r);
        } else {
          if (!ct) throw Error(load_error);
          out = ct->render(r);
        }
      } catch (const nlohmann::json::exception& e) {
        throw Error(str_cat(o.jsonl, ":", lineno, ": invalid JSON: ", e.what()));
      } catch (const Error& e) {
        out = ojson{{"error", e.what()}};
      }
      std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    }
    return;
  }
  TRITIUM_CHECK(!o.conversation.empty(), "render-template: give --conversation FILE.json or --jsonl FILE");
  std::ifstream in(o.conversation);
  TRITIUM_CHECK(in, "cannot open ", o.conversation);
  std::stringstream ss;
  ss << in.rdbuf();
  ojson j;
  try {
    j = ojson::parse(ss.str());
  } catch (const std::exception& e) {
    throw Error(str_cat(o.conversation, ": invalid JSON: ", e.what()));
  }
  ChatRequest r = request_from_json(j, !o.no_generation_prompt, kwargs);
  r.drop_null_fields = o.drop_null_fields;
  r.alias_reasoning_fields = o.alias_reasoning;
  std::cout << (o.harmony ? render_harmony(r) : ct->render(r));
}

RegisterCommand reg([](CLI::App& app) {
  auto opts = std::make_shared<Options>();
  auto* c = app.add_subcommand("render-template", "Render a conversation with a model's chat template (test tool)");
  c->add_option("--model", opts->model, kModelHelp);
  c->add_flag("--harmony", opts->harmony,
              "Render in the harmony format of gpt-oss instead of a Jinja template (kwargs: reasoning_effort, current_date)");
  c->add_option("--conversation", opts->conversation, "JSON file: a list of messages or {messages, tools, ...}");
  c->add_option("--jsonl", opts->jsonl, "Render one conversation per line, print one JSON string per line");
  c->add_flag("--no-generation-prompt", opts->no_generation_prompt, "add_generation_prompt=False");
  c->add_option("--kwargs", opts->kwargs, "Extra template variables as a JSON object, e.g. '{\"enable_thinking\":false}'");
  c->add_option("--parse-harmony", opts->parse_harmony,
                "Parse generated harmony text (JSONL of strings) into reasoning, content and tool calls");
  c->add_flag("--drop-null-fields", opts->drop_null_fields,
              "Drop message keys whose value is null (as transformers releases after 5.17 do)");
  c->add_flag("--alias-reasoning", opts->alias_reasoning,
              "Copy reasoning/reasoning_content/thinking to thinking + reasoning_content (transformers after 5.17)");
  c->callback([opts]() { run(*opts); });
});

}  // namespace
}  // namespace tritium::cli
