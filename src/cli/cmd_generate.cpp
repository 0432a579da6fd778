// tritium generate: run prompts through the engine and print the continuations.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli/command.h"
#include "cli/common.h"
#include "cli/engine_options.h"
#include "core/error.h"
#include "tritium/engine.h"
#include "tritium/structured_output.h"

namespace tritium::cli {
namespace {

using nlohmann::json;

struct GenerateArgs {
  EngineArgs engine;
  std::string prompt_ids, prompt, prompts_file;
  SamplingArgs sampling;
  ConstraintArgs constraint;
  std::vector<std::string> stop;
  bool json_out = false;
};

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

struct Result {
  std::vector<int32_t> ids;
  std::string text, finish_reason, error;
  int64_t prompt_tokens = 0, cached_tokens = 0;
  double t_submit = 0, t_first = 0, t_end = 0;
};

Result collect(RequestHandle h, double t_submit) {
  Result r;
  r.t_submit = t_submit;
  RequestOutput o;
  while (h.next(o)) {
    r.ids.insert(r.ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
    r.text += o.new_text;
    if (o.finished) {
      r.finish_reason = o.finish_reason;
      r.error = o.error;
      r.prompt_tokens = o.usage.prompt_tokens;
      r.cached_tokens = o.usage.cached_tokens;
      // The engine's own clock: the reader may wake late and see several tokens at once.
      r.t_submit = o.arrival_time;
      r.t_first = o.first_token_time;
      r.t_end = o.finished_time;
    }
  }
  return r;
}

json result_json(const Result& r, bool has_tokenizer) {
  json j;
  if (!r.error.empty()) {
    j["error"] = r.error;
    return j;
  }
  j["output_ids"] = r.ids;
  if (has_tokenizer) j["text"] = r.text;
  j["finish_reason"] = r.finish_reason;
  j["prompt_tokens"] = r.prompt_tokens;
  double prefill = r.t_first - r.t_submit, decode = r.t_end - r.t_first;
  j["prefill_tokens_per_s"] = prefill > 0 ? double(r.prompt_tokens) / prefill : 0.0;
  j["decode_tokens_per_s"] = decode > 0 && r.ids.size() > 1 ? double(r.ids.size() - 1) / decode : 0.0;
  return j;
}

// Sampling fields a prompts-file line may override.
SamplingParams line_params(const json& j, const std::string& line, SamplingParams p) {
  auto num = [&](const char* k, auto& field) {
    if (j.contains(k) && !j[k].is_null()) {
      if (!j[k].is_number()) throw Error(std::string("'") + k + "' must be a number");
      field = j[k].get<std::decay_t<decltype(field)>>();
    }
  };
  num("max_tokens", p.max_tokens);
  num("min_tokens", p.min_tokens);
  num("temperature", p.temperature);
  num("top_p", p.top_p);
  num("top_k", p.top_k);
  num("min_p", p.min_p);
  num("n", p.n);
  num("repetition_penalty", p.repetition_penalty);
  num("presence_penalty", p.presence_penalty);
  num("frequency_penalty", p.frequency_penalty);
  if (j.contains("seed") && j["seed"].is_number_integer()) p.seed = j["seed"].get<uint64_t>();
  if (j.contains("ignore_eos") && j["ignore_eos"].is_boolean()) p.ignore_eos = j["ignore_eos"].get<bool>();
  if (j.contains("stop")) {
    p.stop.clear();
    if (j["stop"].is_string()) p.stop.push_back(j["stop"].get<std::string>());
    else if (j["stop"].is_array()) for (auto& s : j["stop"]) p.stop.push_back(s.get<std::string>());
  }
  if (j.contains("stop_token_ids") && j["stop_token_ids"].is_array()) p.stop_token_ids = j["stop_token_ids"].get<std::vector<int32_t>>();
  // Structured output as in the OpenAI / vLLM request bodies: response_format, structured_outputs,
  // guided_json / guided_regex / guided_choice / guided_grammar.
  // (parsed again in key order: a schema's properties are generated in the order given)
  if (Constraint c = constraint_from_request(nlohmann::ordered_json::parse(line)).constraint; c.active())
    p.constraint = std::move(c);
  p.validate();
  return p;
}

void run_generate(const GenerateArgs& a) {
  int given = !a.prompt_ids.empty() + !a.prompt.empty() + !a.prompts_file.empty();
  if (given != 1) throw Error("give exactly one of --prompt-ids, --prompt, --prompts-file");
  SamplingParams base = a.sampling.params();
  base.stop = a.stop;
  base.constraint = a.constraint.constraint();
  std::vector<std::string> lines;
  if (!a.prompts_file.empty()) {
    std::ifstream in(a.prompts_file);
    if (!in) throw Error(a.prompts_file + ": cannot read");
    std::string line;
    while (std::getline(in, line))
      if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
    if (lines.empty()) throw Error(a.prompts_file + ": no prompts");
  }
  Engine engine(a.engine.config());

  if (a.prompts_file.empty()) {
    double t0 = now_s();
    RequestHandle h = a.prompt.empty() ? engine.submit(parse_id_list(a.prompt_ids, "--prompt-ids"), base)
                                       : engine.submit(a.prompt, base);
    Result r = collect(h, t0);
    if (!r.error.empty()) throw Error(r.error);
    json j = result_json(r, engine.has_tokenizer());
    if (a.json_out) {
      std::printf("%s\n", j.dump().c_str());
      return;
    }
    std::ostringstream ids;
    for (size_t i = 0; i < r.ids.size(); ++i) ids << (i ? "," : "") << r.ids[i];
    std::printf("%s\n", ids.str().c_str());
    if (engine.has_tokenizer()) std::printf("text: %s\n", json(r.text).dump().c_str());
    std::printf("finish_reason: %s\nprefill: %lld tokens, %.1f tokens/s\ndecode: %zu tokens, %.1f tokens/s\n",
                r.finish_reason.c_str(), (long long)r.prompt_tokens, j["prefill_tokens_per_s"].get<double>(),
                r.ids.size(), j["decode_tokens_per_s"].get<double>());
    return;
  }

  // Every line goes to the engine at once; results print in input order.
  std::vector<RequestHandle> hs(lines.size());
  std::vector<std::string> errors(lines.size());
  std::vector<double> t_submit(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string where = a.prompts_file + ":" + std::to_string(i + 1);
    try {
      json j;
      try {
        j = json::parse(lines[i]);
      } catch (const json::exception& e) {
        throw Error(std::string("not valid JSON (") + e.what() + ")");
      }
      if (!j.is_object()) throw Error("each line must be a JSON object");
      SamplingParams p = line_params(j, lines[i], base);
      t_submit[i] = now_s();
      if (j.contains("prompt_ids")) {
        if (!j["prompt_ids"].is_array()) throw Error("'prompt_ids' must be a list of integers");
        hs[i] = engine.submit(j["prompt_ids"].get<std::vector<int32_t>>(), p);
      } else if (j.contains("prompt") && j["prompt"].is_string()) {
        hs[i] = engine.submit(j["prompt"].get<std::string>(), p);
      } else {
        throw Error("needs \"prompt_ids\" (list of ints) or \"prompt\" (string)");
      }
    } catch (const std::exception& e) {
      errors[i] = where + ": " + e.what();
    }
  }
  // One reader per request so each one's timing is its own.
  std::vector<Result> results(lines.size());
  std::vector<std::thread> readers;
  for (size_t i = 0; i < lines.size(); ++i)
    if (errors[i].empty()) readers.emplace_back([&, i] { results[i] = collect(hs[i], t_submit[i]); });
  for (auto& t : readers) t.join();
  for (size_t i = 0; i < lines.size(); ++i) {
    json j;
    if (!errors[i].empty()) {
      j["error"] = errors[i];
    } else {
      j = result_json(results[i], engine.has_tokenizer());
    }
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);
  }
}

RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* c = app.add_subcommand("generate", "Generate continuations of prompts (token ids, text or a JSONL file)");
  add_engine_options(c, a->engine, /*allow_synthetic=*/true);
  c->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids, e.g. 1,2,3");
  c->add_option("--prompt", a->prompt, "Prompt text (needs the model's tokenizer.json)");
  c->add_option("--prompts-file", a->prompts_file,
                "JSONL: one {\"prompt_ids\":[...]} or {\"prompt\":\"...\"} per line, with optional sampling fields "
                "and structured output as in OpenAI / vLLM requests (response_format, structured_outputs, guided_*); "
                "all are submitted at once and one JSON result per line is printed in input order");
  add_sampling_options(c, a->sampling);
  add_constraint_options(c, a->constraint);
  c->add_option("--stop", a->stop, "Stop string (repeatable); it is not included in the output");
  c->add_flag("--json", a->json_out, "Print one JSON object (output_ids, text, finish_reason, prefill/decode tokens/s)");
  c->callback([a] { run_generate(*a); });
});

}  // namespace
}  // namespace tritium::cli
