// POST /v1/responses (and GET /v1/responses/{id}), as the gpt-oss reference server serves it:
// input as a string or items, instructions, reasoning.effort, max_output_tokens, tools,
// previous_response_id from an in-memory store, and streaming as the response.* event sequence.
#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_request.h"
#include "server/engine_job.h"
#include "server/handlers.h"
#include "server/openai_format.h"
#include "server/request_fields.h"

namespace tritium::server {

namespace {

// Items of `input` -> chat messages (before parse_chat_messages).
ojson items_to_messages(const ojson& input) {
  ojson msgs = ojson::array();
  if (input.is_string()) {
    msgs.push_back({{"role", "user"}, {"content", input}});
    return msgs;
  }
  if (!input.is_array()) throw bad_field("input", "'input' must be a string or an array of items, got " + json_type(input));
  if (input.empty()) throw bad_field("input", "'input' must not be empty");
  std::string reasoning;
  for (size_t i = 0; i < input.size(); ++i) {
    const ojson& it = input[i];
    const std::string p = str_cat("input[", i, "]");
    if (!it.is_object()) throw bad_field(p, "'" + p + "' must be an object");
    std::string type = it.value("type", it.contains("role") ? "message" : "");
    if (type == "message") {
      ojson m = {{"role", it.value("role", "")}};
      if (it.contains("content")) m["content"] = it["content"];
      if (!reasoning.empty() && m["role"] == "assistant") m["reasoning_content"] = reasoning, reasoning.clear();
      msgs.push_back(std::move(m));
    } else if (type == "function_call") {
      for (const char* k : {"call_id", "name", "arguments"})
        if (!it.contains(k) || !it[k].is_string()) throw bad_field(p + "." + k, "'" + p + "." + k + "' must be a string");
      ojson call = {{"id", it["call_id"]}, {"type", "function"},
                    {"function", {{"name", it["name"]}, {"arguments", it["arguments"]}}}};
      if (!msgs.empty() && msgs.back()["role"] == "assistant" && msgs.back().contains("tool_calls")) {
        msgs.back()["tool_calls"].push_back(call);
      } else {
        ojson m = {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", ojson::array({call})}};
        if (!reasoning.empty()) m["reasoning_content"] = reasoning, reasoning.clear();
        msgs.push_back(std::move(m));
      }
    } else if (type == "function_call_output") {
      if (!it.contains("call_id") || !it["call_id"].is_string())
        throw bad_field(p + ".call_id", "'" + p + ".call_id' must be a string");
      if (!it.contains("output") || !(it["output"].is_string() || it["output"].is_array()))
        throw bad_field(p + ".output", "'" + p + ".output' must be a string");
      msgs.push_back({{"role", "tool"}, {"content", it["output"]}, {"tool_call_id", it["call_id"]}});
    } else if (type == "reasoning") {
      for (const char* k : {"content", "summary"})
        if (it.contains(k) && it[k].is_array())
          for (auto& part : it[k])
            if (part.is_object() && part.contains("text") && part["text"].is_string()) reasoning += part["text"].get<std::string>();
    } else {
      throw bad_field(p + ".type", "input item type '" + type + "' is not supported (message, function_call, "
                                   "function_call_output, reasoning)");
    }
  }
  return msgs;
}

// Responses tools ({type, name, description, parameters}) -> chat tools.
ojson convert_tools(const ojson& tools) {
  if (!tools.is_array()) throw bad_field("tools", "'tools' must be an array, got " + json_type(tools));
  ojson out = ojson::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const ojson& t = tools[i];
    const std::string p = str_cat("tools[", i, "]");
    if (!t.is_object() || t.value("type", "") != "function")
      throw bad_field(p + ".type", "'" + p + ".type' must be \"function\" (built-in tools are not supported)");
    ojson fn = ojson::object();
    for (const char* k : {"name", "description", "parameters"})
      if (t.contains(k)) fn[k] = t[k];
    out.push_back({{"type", "function"}, {"function", fn}});
  }
  return parse_tools(out);
}

class ResponseJob : public EngineJob {
 public:
  ResponseJob(Context& ctx, std::shared_ptr<Responder> out, ojson response, ojson conversation, ChatPrompt p, bool stream,
              bool store)
      : EngineJob(ctx, std::move(out)),
        resp_(std::move(response)),
        convo_(std::move(conversation)),
        prompt_(std::move(p)),
        stream_(stream),
        store_(store) {}

  void begin() {
    parser_ = make_output_parser(prompt_.parser);
    if (stream_) {
      out_->start_stream(200, "text/event-stream");
      ojson r = resp_;
      r["status"] = "in_progress";
      event("response.created", {{"response", r}});
      event("response.in_progress", {{"response", r}});
    }
    if (!prompt_.forced_prefix.empty()) {
      OutputDelta d = parser_->feed(prompt_.forced_prefix);
      take(d);
    }
  }

 protected:
  void on_output(size_t, RequestOutput& o) override {
    OutputDelta d = parser_->feed(o.new_text);
    if (o.finished) d.append(parser_->finish());
    take(d);
    if (!o.finished) return;
    finish_ = o.finish_reason;
    error_ = o.error;
    usage_ = o.usage;
  }

  void on_done() override {
    close_item();
    ojson r = resp_;
    r["output"] = output_;
    if (!error_.empty()) {
      r["status"] = "failed";
      r["error"] = {{"code", "server_error"}, {"message", "generation failed: " + error_}};
    } else if (finish_ == "length") {
      r["status"] = "incomplete";
      r["incomplete_details"] = {{"reason", "max_output_tokens"}};
    } else if (finish_ == "abort") {
      r["status"] = "cancelled";
    } else {
      r["status"] = "completed";
    }
    r["usage"] = {{"input_tokens", usage_.prompt_tokens},
                  {"input_tokens_details", {{"cached_tokens", usage_.cached_tokens}}},
                  {"output_tokens", usage_.completion_tokens},
                  {"output_tokens_details", {{"reasoning_tokens", 0}}},
                  {"total_tokens", usage_.prompt_tokens + usage_.completion_tokens}};
    if (store_ && error_.empty()) {
      ojson msg = {{"role", "assistant"}, {"content", text_all_}};
      if (!reasoning_all_.empty()) msg["reasoning_content"] = reasoning_all_;
      if (!calls_.empty()) {
        ojson tcs = ojson::array();
        for (auto& c : calls_) tcs.push_back({{"id", c.call_id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", c.args}}}});
        msg["tool_calls"] = tcs;
        if (text_all_.empty()) msg["content"] = nullptr;
      }
      ojson convo = convo_;
      convo.push_back(msg);
      ctx_.responses.put(r["id"].get<std::string>(), std::move(convo), r);
    }
    if (!stream_) {
      if (!error_.empty()) out_->send(500, "application/json", error_json(500, "generation failed: " + error_));
      else out_->send(200, "application/json", dump(r));
      return;
    }
    const char* type = r["status"] == "failed" ? "response.failed" : r["status"] == "incomplete" ? "response.incomplete" : "response.completed";
    event(type, {{"response", r}});
    out_->end_stream();
  }

 private:
  struct Call {
    std::string item_id, call_id, name, args;
  };
  ojson resp_, convo_;
  ChatPrompt prompt_;
  bool stream_, store_;
  std::unique_ptr<OutputParser> parser_;
  int64_t seq_ = 0;
  ojson output_ = ojson::array();
  enum class Item { None, Reasoning, Message, Call } cur_ = Item::None;
  std::string item_id_, item_text_;
  std::string text_all_, reasoning_all_;
  std::vector<Call> calls_;
  std::string finish_, error_;
  Usage usage_;

  void event(const std::string& type, ojson e) {
    if (!stream_) return;
    ojson j = {{"type", type}, {"sequence_number", seq_++}};
    for (auto it = e.begin(); it != e.end(); ++it) j[it.key()] = it.value();
    out_->write(sse_event(type, j));
  }
  int64_t index() const { return int64_t(output_.size()); }

  void open_item(Item kind, ojson item) {
    close_item();
    cur_ = kind;
    item_text_.clear();
    item_id_ = item["id"].get<std::string>();
    event("response.output_item.added", {{"output_index", index()}, {"item", item}});
    if (kind == Item::Reasoning)
      event("response.content_part.added", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0},
                                            {"part", {{"type", "reasoning_text"}, {"text", ""}}}});
    if (kind == Item::Message)
      event("response.content_part.added", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0},
                                            {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", ojson::array()}}}});
  }

  void close_item() {
    if (cur_ == Item::None) return;
    ojson item;
    if (cur_ == Item::Reasoning) {
      ojson part = {{"type", "reasoning_text"}, {"text", item_text_}};
      event("response.reasoning_text.done", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0}, {"text", item_text_}});
      event("response.content_part.done", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0}, {"part", part}});
      item = {{"id", item_id_}, {"type", "reasoning"}, {"summary", ojson::array()}, {"content", ojson::array({part})}};
    } else if (cur_ == Item::Message) {
      ojson part = {{"type", "output_text"}, {"text", item_text_}, {"annotations", ojson::array()}};
      event("response.output_text.done", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0}, {"text", item_text_}});
      event("response.content_part.done", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0}, {"part", part}});
      item = {{"id", item_id_}, {"type", "message"}, {"role", "assistant"}, {"status", "completed"}, {"content", ojson::array({part})}};
    } else {
      Call& c = calls_.back();
      event("response.function_call_arguments.done", {{"item_id", c.item_id}, {"output_index", index()}, {"arguments", c.args}});
      item = {{"id", c.item_id}, {"type", "function_call"}, {"status", "completed"}, {"call_id", c.call_id},
              {"name", c.name}, {"arguments", c.args}};
    }
    event("response.output_item.done", {{"output_index", index()}, {"item", item}});
    output_.push_back(std::move(item));
    cur_ = Item::None;
  }

  void take(OutputDelta& d) {
    if (!d.reasoning.empty()) {
      if (cur_ != Item::Reasoning)
        open_item(Item::Reasoning, {{"id", "rs_" + random_hex(24)}, {"type", "reasoning"}, {"summary", ojson::array()}, {"content", ojson::array()}});
      item_text_ += d.reasoning;
      reasoning_all_ += d.reasoning;
      event("response.reasoning_text.delta", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0}, {"delta", d.reasoning}});
    }
    if (!d.content.empty()) {
      if (cur_ != Item::Message)
        open_item(Item::Message, {{"id", "msg_" + random_hex(24)}, {"type", "message"}, {"role", "assistant"},
                                  {"status", "in_progress"}, {"content", ojson::array()}});
      item_text_ += d.content;
      text_all_ += d.content;
      event("response.output_text.delta", {{"item_id", item_id_}, {"output_index", index()}, {"content_index", 0},
                                           {"delta", d.content}, {"logprobs", ojson::array()}});
    }
    for (auto& t : d.tool_calls) {
      if (t.starts) {
        Call c{"fc_" + random_hex(24), ctx_.format.new_call_id(), t.name, ""};
        ojson item = {{"id", c.item_id}, {"type", "function_call"}, {"status", "in_progress"}, {"call_id", c.call_id},
                      {"name", c.name}, {"arguments", ""}};
        open_item(Item::Call, item);
        calls_.push_back(c);
      } else if (cur_ == Item::Call && !t.arguments.empty()) {
        calls_.back().args += t.arguments;
        event("response.function_call_arguments.delta", {{"item_id", calls_.back().item_id}, {"output_index", index()}, {"delta", t.arguments}});
      }
    }
  }
};

}  // namespace

void handle_responses(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  ojson body = parse_json_body(req);
  ctx.check_model(body);
  Fields f(body);
  const ojson* input = f.get("input");
  if (!input) throw bad_field("input", "'input' is required");
  ojson convo = ojson::array();
  auto prev = f.string("previous_response_id");
  if (prev && !ctx.responses.get(*prev, convo))
    throw ApiError(404, "Previous response with id '" + *prev + "' not found.", "previous_response_id", "previous_response_not_found");
  ojson fresh = parse_chat_messages(items_to_messages(*input), ctx.format.harmony);
  for (auto& m : fresh) convo.push_back(m);
  RenderInput in;
  auto instructions = f.string("instructions");
  if (instructions)
    in.messages.push_back({{"role", ctx.format.harmony ? "developer" : "system"}, {"content", *instructions}});
  for (auto& m : convo) in.messages.push_back(m);
  ojson tools = ojson::array();
  if (const ojson* t = f.get("tools")) tools = convert_tools(*t);
  if (!tools.empty()) in.tools = tools;
  ToolChoice tc = parse_tool_choice(f.get("tool_choice"), tools);
  bool parallel = f.boolean("parallel_tool_calls").value_or(true);
  ojson reasoning = ojson();
  if (const ojson* r = f.object("reasoning")) {
    Fields rf(*r, "reasoning.");
    if (auto e = rf.string("effort")) {
      if (*e != "low" && *e != "medium" && *e != "high")
        throw bad_field("reasoning.effort", "'reasoning.effort' is '" + *e + "'; it must be low, medium or high");
      in.reasoning_effort = *e;
    }
    reasoning = {{"effort", in.reasoning_effort.empty() ? ojson() : ojson(in.reasoning_effort)}, {"summary", nullptr}};
  }
  if (const ojson* t = f.object("text")) {
    if (t->contains("format") && (*t)["format"].is_object() && (*t)["format"].value("type", "text") != "text")
      throw bad_field("text.format", "'text.format' other than {\"type\": \"text\"} is not supported");
  }
  if (const ojson* m = f.object("metadata")) (void)m;
  SamplingParams sp = parse_sampling(f, 1);
  const bool stream = f.boolean("stream").value_or(false);
  const bool store = f.boolean("store").value_or(true);
  ChatPrompt p = build_chat_prompt(ctx, std::move(in), tc, parallel);
  sp.max_tokens = resolve_max_tokens(f.integer("max_output_tokens", INT64_MIN, INT64_MAX), "max_output_tokens",
                                     int64_t(p.ids.size()), ctx.max_model_len);
  for (auto id : ctx.format.stop_token_ids) sp.stop_token_ids.push_back(id);
  if (!ctx.format.skip_special_tokens) sp.skip_special_tokens = false;

  const std::string id = "resp_" + random_hex(24);
  ojson r;
  r["id"] = id;
  r["object"] = "response";
  r["created_at"] = ctx.now_unix();
  r["status"] = "in_progress";
  r["model"] = ctx.names[0];
  r["output"] = ojson::array();
  r["instructions"] = instructions ? ojson(*instructions) : ojson();
  r["max_output_tokens"] = body.contains("max_output_tokens") ? body["max_output_tokens"] : ojson();
  r["temperature"] = sp.temperature;
  r["top_p"] = sp.top_p;
  r["tools"] = f.get("tools") ? *f.get("tools") : ojson::array();
  r["tool_choice"] = f.get("tool_choice") ? *f.get("tool_choice") : ojson("auto");
  r["parallel_tool_calls"] = parallel;
  r["previous_response_id"] = prev ? ojson(*prev) : ojson();
  r["reasoning"] = reasoning;
  r["text"] = {{"format", {{"type", "text"}}}};
  r["truncation"] = "disabled";
  r["incomplete_details"] = nullptr;
  r["error"] = nullptr;
  r["metadata"] = f.get("metadata") ? *f.get("metadata") : ojson::object();
  r["store"] = store;
  r["usage"] = nullptr;

  std::vector<std::vector<int32_t>> prompts{p.ids};
  auto job = std::make_shared<ResponseJob>(ctx, out, r, convo, std::move(p), stream, store);
  job->submit(prompts, sp, id);
  job->begin();
  job->start();
}

void handle_get_response(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  const std::string prefix = "/v1/responses/";
  std::string id = req.path.substr(prefix.size());
  ojson convo, resp;
  if (!ctx.responses.get(id, convo, &resp)) throw ApiError(404, "No response with id '" + id + "' is stored.", "response_id");
  out->send(200, "application/json", dump(resp));
}

}  // namespace tritium::server
