// POST /v1/chat/completions.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_request.h"
#include "server/engine_job.h"
#include "server/handlers.h"
#include "server/openai_format.h"
#include "server/request_fields.h"

namespace tritium::server {

namespace {

struct ChatOptions {
  bool stream = false, include_usage = false, logprobs = false, return_token_ids = false;
  bool named_choice = false;
};

class ChatJob : public EngineJob {
 public:
  ChatJob(Context& ctx, std::shared_ptr<Responder> out, ChatOptions o, ChatPrompt p, std::string id)
      : EngineJob(ctx, std::move(out)), o_(o), prompt_(std::move(p)), id_(std::move(id)), created_(ctx.now_unix()) {}

  void begin(int n) {
    choices_.resize(size_t(n));
    for (auto& c : choices_) c.parser = make_output_parser(prompt_.parser);
    if (o_.stream) {
      out_->start_stream(200, "text/event-stream");
      for (int i = 0; i < n; ++i) {
        ojson d = {{"role", "assistant"}, {"content", ""}};
        write_chunk(i, d, nullptr, nullptr);
      }
    }
    // The forced tool-call opening is part of the answer as the parser sees it.
    if (!prompt_.forced_prefix.empty())
      for (int i = 0; i < n; ++i) {
        OutputDelta d = choices_[size_t(i)].parser->feed(prompt_.forced_prefix);
        take(i, d, {}, {});
      }
  }

 protected:
  void on_output(size_t, RequestOutput& o) override {
    Choice& c = choices_[size_t(o.index)];
    OutputDelta d = c.parser->feed(o.new_text);
    if (o.finished) d.append(c.parser->finish());
    take(o.index, d, o.logprobs, o.new_token_ids);
    if (!o.finished) return;
    usage_prompt_ = o.usage.prompt_tokens;
    usage_completion_ += o.usage.completion_tokens;
    usage_cached_ = std::max(usage_cached_, o.usage.cached_tokens);
    if (!o.error.empty()) {
      error_ = o.error;
      if (o_.stream) out_->write(sse_data(ojson::parse(error_json(500, "generation failed: " + o.error))));
    }
    c.finish = o_.named_choice ? o.finish_reason : finish_reason(o.finish_reason, !c.calls.empty());
    if (o_.stream && o.error.empty()) write_chunk(o.index, ojson::object(), nullptr, c.finish.c_str());
  }

  void on_done() override {
    ojson usage = usage_json(usage_prompt_, usage_completion_, usage_cached_);
    if (o_.stream) {
      if (o_.include_usage) {
        ojson u = base("chat.completion.chunk");
        u["choices"] = ojson::array();
        u["usage"] = usage;
        out_->write(sse_data(u));
      }
      out_->write("data: [DONE]\n\n");
      out_->end_stream();
      return;
    }
    if (!error_.empty()) {
      out_->send(500, "application/json", error_json(500, "generation failed: " + error_));
      return;
    }
    ojson r = base("chat.completion");
    ojson choices = ojson::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      Choice& c = choices_[i];
      ojson msg = {{"role", "assistant"}};
      msg["content"] = c.content.empty() && !c.calls.empty() ? ojson() : ojson(c.content);
      if (!c.reasoning.empty()) {
        msg["reasoning_content"] = c.reasoning;
        msg["reasoning"] = c.reasoning;
      }
      if (!c.calls.empty()) {
        ojson tcs = ojson::array();
        for (auto& tc : c.calls)
          tcs.push_back({{"id", tc.id}, {"type", "function"}, {"function", {{"name", tc.name}, {"arguments", tc.arguments}}}});
        msg["tool_calls"] = std::move(tcs);
      }
      ojson ch = {{"index", i}, {"message", msg}};
      ch["logprobs"] = o_.logprobs ? ojson{{"content", c.logprobs}} : ojson();
      ch["finish_reason"] = c.finish;
      if (o_.return_token_ids) ch["token_ids"] = c.token_ids;
      choices.push_back(std::move(ch));
    }
    r["choices"] = std::move(choices);
    r["usage"] = usage;
    if (o_.return_token_ids) r["prompt_token_ids"] = prompt_.ids;
    out_->send(200, "application/json", dump(r));
  }

 private:
  struct Call {
    std::string id, name, arguments;
  };
  struct Choice {
    std::unique_ptr<OutputParser> parser;
    std::string content, reasoning, finish;
    std::vector<Call> calls;
    ojson logprobs = ojson::array();
    std::vector<int32_t> token_ids;
  };
  ChatOptions o_;
  ChatPrompt prompt_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
  int64_t usage_prompt_ = 0, usage_completion_ = 0, usage_cached_ = 0;
  std::string error_;

  ojson base(const char* object) const {
    ojson r;
    r["id"] = id_;
    r["object"] = object;
    r["created"] = created_;
    r["model"] = ctx_.names[0];
    return r;
  }

  void write_chunk(int index, const ojson& delta, const ojson* logprobs, const char* finish, const ojson* token_ids = nullptr) {
    ojson c = base("chat.completion.chunk");
    ojson ch = {{"index", index}, {"delta", delta}};
    ch["logprobs"] = logprobs ? *logprobs : ojson();
    ch["finish_reason"] = finish ? ojson(finish) : ojson();
    if (token_ids) ch["token_ids"] = *token_ids;
    c["choices"] = ojson::array({ch});
    if (o_.include_usage) c["usage"] = nullptr;
    out_->write(sse_data(c));
  }

  // Adds a delta to choice `index` and streams it.
  void take(int index, OutputDelta& d, const std::vector<TokenLogprob>& lps, const std::vector<int32_t>& ids) {
    Choice& c = choices_[size_t(index)];
    c.content += d.content;
    c.reasoning += d.reasoning;
    ojson tool_deltas = ojson::array();
    for (auto& t : d.tool_calls) {
      if (t.starts) {
        c.calls.push_back({ctx_.format.new_call_id(), t.name, ""});
        tool_deltas.push_back({{"index", t.index},
                               {"id", c.calls.back().id},
                               {"type", "function"},
                               {"function", {{"name", t.name}, {"arguments", ""}}}});
      } else if (size_t(t.index) < c.calls.size()) {
        c.calls[size_t(t.index)].arguments += t.arguments;
        if (!tool_deltas.empty() && tool_deltas.back()["index"] == t.index)
          tool_deltas.back()["function"]["arguments"] =
              tool_deltas.back()["function"]["arguments"].get<std::string>() + t.arguments;
        else
          tool_deltas.push_back({{"index", t.index}, {"function", {{"arguments", t.arguments}}}});
      }
    }
    ojson lp_content = ojson::array();
    if (o_.logprobs) append_chat_logprobs(ctx_.format.tok, lps, lp_content);
    for (auto& e : lp_content) c.logprobs.push_back(e);
    c.token_ids.insert(c.token_ids.end(), ids.begin(), ids.end());
    if (!o_.stream) return;
    const bool send_ids = o_.return_token_ids && !ids.empty();
    if (d.empty() && lp_content.empty() && !send_ids) return;
    ojson delta = ojson::object();
    if (!d.reasoning.empty()) {
      delta["reasoning_content"] = d.reasoning;
      delta["reasoning"] = d.reasoning;
    }
    if (!d.content.empty() || (d.reasoning.empty() && tool_deltas.empty())) delta["content"] = d.content;
    if (!tool_deltas.empty()) delta["tool_calls"] = tool_deltas;
    ojson lpj = {{"content", lp_content}};
    ojson idj = ids;
    write_chunk(index, delta, o_.logprobs ? &lpj : nullptr, nullptr, send_ids ? &idj : nullptr);
  }
};

}  // namespace

void handle_chat_completions(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  ojson body = parse_json_body(req);
  ctx.check_model(body);
  Fields f(body);
  const ojson* msgs = f.get("messages");
  if (!msgs) throw bad_field("messages", "'messages' is required");
  RenderInput in;
  in.messages = parse_chat_messages(*msgs, ctx.format.harmony);
  ojson tools;
  if (const ojson* t = f.get("tools")) tools = parse_tools(*t);
  if (tools.is_array() && !tools.empty()) in.tools = tools;
  ToolChoice tc = parse_tool_choice(f.get("tool_choice"), tools);
  bool parallel = f.boolean("parallel_tool_calls").value_or(true);
  in.continue_final_message = f.boolean("continue_final_message").value_or(false);
  auto agp = f.boolean("add_generation_prompt");
  if (in.continue_final_message && agp.value_or(false))
    throw bad_field("continue_final_message", "'continue_final_message' and 'add_generation_prompt' cannot both be true");
  in.add_generation_prompt = agp.value_or(!in.continue_final_message);
  if (in.continue_final_message && in.messages.back()["role"] != "assistant")
    throw bad_field("continue_final_message", "'continue_final_message' needs an assistant message last");
  if (const ojson* k = f.object("chat_template_kwargs")) in.kwargs = *k;
  if (auto e = f.string("reasoning_effort")) {
    if (*e != "low" && *e != "medium" && *e != "high")
      throw bad_field("reasoning_effort", "'reasoning_effort' is '" + *e + "'; it must be low, medium or high");
    in.reasoning_effort = *e;
  }
  f.string("user");
  SamplingParams sp = parse_sampling(f, 128);
  ChatOptions o;
  o.stream = f.boolean("stream").value_or(false);
  if (const ojson* so = f.object("stream_options")) {
    if (!o.stream) throw bad_field("stream_options", "'stream_options' is only allowed when 'stream' is true");
    o.include_usage = Fields(*so, "stream_options.").boolean("include_usage").value_or(false);
  }
  o.logprobs = f.boolean("logprobs").value_or(false);
  auto top = f.integer("top_logprobs", 0, 20);
  if (top && !o.logprobs) throw bad_field("top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
  if (o.logprobs) sp.logprobs = int(top.value_or(0));
  o.return_token_ids = f.boolean("return_token_ids").value_or(false);
  o.named_choice = tc.kind == ToolChoice::Named;
  auto max_completion = f.integer("max_completion_tokens", INT64_MIN, INT64_MAX);
  auto max_tokens = f.integer("max_tokens", INT64_MIN, INT64_MAX);

  ChatPrompt p = build_chat_prompt(ctx, std::move(in), tc, parallel);
  if (max_completion) sp.max_tokens = resolve_max_tokens(max_completion, "max_completion_tokens", int64_t(p.ids.size()), ctx.max_model_len);
  else sp.max_tokens = resolve_max_tokens(max_tokens, "max_tokens", int64_t(p.ids.size()), ctx.max_model_len);
  if (sp.min_tokens > sp.max_tokens)
    throw bad_field("min_tokens", str_cat("'min_tokens' (", sp.min_tokens, ") is larger than the output allowed (", sp.max_tokens, ")"));
  for (auto id : ctx.format.stop_token_ids) sp.stop_token_ids.push_back(id);
  if (!ctx.format.skip_special_tokens) sp.skip_special_tokens = false;

  const std::string id = "chatcmpl-" + random_hex(24);
  std::vector<std::vector<int32_t>> prompts{p.ids};
  auto job = std::make_shared<ChatJob>(ctx, out, o, std::move(p), id);
  job->submit(prompts, sp, id);
  job->begin(sp.n);
  job->start();
}

}  // namespace tritium::server
