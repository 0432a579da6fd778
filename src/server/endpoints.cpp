// The small endpoints: /health, /v1/models, /tokenize, /detokenize, /metrics, the web page;
// and the Context's shared pieces (admission, model names, the Responses store).
#include <chrono>

#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_request.h"
#include "server/handlers.h"
#include "server/openai_format.h"
#include "server/request_fields.h"

namespace tritium::server {

// ---- Context

void Context::admit(int seqs) {
  if (opts.max_queued_requests) {
    const int64_t cap = int64_t(opts.max_num_seqs) + *opts.max_queued_requests;
    int64_t cur = active_seqs.load();
    do {
      if (cur + seqs > cap)
        throw ApiError(429,
                       str_cat("the server is busy: ", cur, " sequences are running or queued and the queue holds ",
                               *opts.max_queued_requests, " beyond the batch of ", opts.max_num_seqs,
                               " (--max-queued-requests); retry later"),
                       "", "rate_limit_exceeded");
    } while (!active_seqs.compare_exchange_weak(cur, cur + seqs));
  } else {
    active_seqs += seqs;
  }
  ++active_requests;
}

void Context::release(int seqs) {
  active_seqs -= seqs;
  --active_requests;
}

void Context::check_model(const ojson& body) const {
  auto it = body.find("model");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_string()) throw bad_field("model", "'model' must be a string, got " + json_type(*it));
  const std::string m = it->get<std::string>();
  for (auto& n : names)
    if (n == m) return;
  if (!opts.model_path.empty() && m == opts.model_path) return;
  throw ApiError(404, "The model '" + m + "' does not exist. This server serves '" + names[0] + "'.", "model", "model_not_found");
}

int64_t Context::now_unix() const {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void ResponseStore::put(const std::string& id, ojson messages, ojson response) {
  std::lock_guard<std::mutex> lk(mu_);
  items_[id] = {std::move(messages), std::move(response)};
  order_.push_back(id);
  while (order_.size() > cap_) {
    items_.erase(order_.front());
    order_.pop_front();
  }
}

bool ResponseStore::get(const std::string& id, ojson& messages, ojson* response) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = items_.find(id);
  if (it == items_.end()) return false;
  messages = it->second.first;
  if (response) *response = it->second.second;
  return true;
}

// ---- endpoints

void handle_health(Context& ctx, HttpRequest&, std::shared_ptr<Responder> out) {
  if (!ctx.ready) {
    out->send(503, "application/json", error_json(503, "the model is loading", "", "model_loading"), {{"Retry-After", "1"}});
    return;
  }
  if (ctx.shutting_down) {
    out->send(503, "application/json", error_json(503, "the server is shutting down", "", "shutting_down"));
    return;
  }
  out->send(200, "application/json", "{\"status\":\"ok\"}");
}

void handle_models(Context& ctx, HttpRequest&, std::shared_ptr<Responder> out) {
  ojson data = ojson::array();
  for (auto& n : ctx.names) {
    ojson m;
    m["id"] = n;
    m["object"] = "model";
    m["created"] = ctx.created;
    m["owned_by"] = "tritium";
    m["root"] = ctx.opts.model_path.empty() ? n : ctx.opts.model_path;
    m["parent"] = nullptr;
    m["max_model_len"] = ctx.max_model_len;
    m["vocab_size"] = ctx.engine->vocab_size();
    data.push_back(std::move(m));
  }
  out->send(200, "application/json", dump({{"object", "list"}, {"data", data}}));
}

void handle_tokenize(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  ojson body = parse_json_body(req);
  ctx.check_model(body);
  Fields f(body);
  const Tokenizer* tok = ctx.format.tok;
  if (!tok) throw ApiError(400, "this model has no tokenizer.json");
  std::vector<int32_t> ids;
  if (const ojson* msgs = f.get("messages")) {
    RenderInput in;
    in.messages = parse_chat_messages(*msgs, ctx.format.harmony);
    in.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
    if (const ojson* k = f.object("chat_template_kwargs")) in.kwargs = *k;
    if (const ojson* t = f.get("tools")) in.tools = parse_tools(*t);
    ids = tok->encode(render_prompt(ctx.format, in), false, true);
  } else if (auto p = f.string("prompt")) {
    ids = tok->encode(*p, f.boolean("add_special_tokens").value_or(true), true);
  } else {
    throw bad_field("prompt", "give 'prompt' (a string) or 'messages'");
  }
  ojson r = {{"count", ids.size()}, {"max_model_len", ctx.max_model_len}, {"tokens", ids}};
  if (f.boolean("return_token_strs").value_or(false)) {
    ojson strs = ojson::array();
    for (auto id : ids) strs.push_back(tok->id_to_token(id).value_or(""));
    r["token_strs"] = strs;
  }
  out->send(200, "application/json", dump(r));
}

void handle_detokenize(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  ojson body = parse_json_body(req);
  ctx.check_model(body);
  Fields f(body);
  const Tokenizer* tok = ctx.format.tok;
  if (!tok) throw ApiError(400, "this model has no tokenizer.json");
  const ojson* t = f.array("tokens");
  if (!t) throw bad_field("tokens", "'tokens' (a list of token ids) is required");
  std::vector<int32_t> ids;
  const int64_t V = ctx.engine->vocab_size();
  for (size_t i = 0; i < t->size(); ++i) {
    const ojson& v = (*t)[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= std::max<int64_t>(V, int64_t(tok->vocab_size())))
      throw bad_field("tokens", str_cat("'tokens[", i, "]' is not a token id of this model (0 to ", V - 1, "): ", v.dump()));
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  out->send(200, "application/json", dump({{"prompt", tok->decode(ids, f.boolean("skip_special_tokens").value_or(false))}}));
}

void handle_metrics(Context& ctx, HttpRequest&, std::shared_ptr<Responder> out) {
  EngineMetrics m;
  if (ctx.ready) m = ctx.engine->metrics();
  std::string text = ctx.metrics->render(m, ctx.names.empty() ? "" : ctx.names[0]);
  out->send(200, "text/plain; version=0.0.4; charset=utf-8", std::move(text));
}

void handle_web_page(Context&, HttpRequest&, std::shared_ptr<Responder> out) {
  out->send(200, "text/html; charset=utf-8", kWebPage, {{"Cache-Control", "no-cache"}});
}

}  // namespace tritium::server
