// POST /v1/completions: prompts as a string, a list of strings, token ids, or lists of them.
#include "core/error.h"
#include "server/api_error.h"
#include "server/chat_format.h"
#include "server/engine_job.h"
#include "server/handlers.h"
#include "server/openai_format.h"
#include "server/request_fields.h"

namespace tritium::server {

namespace {

struct CompletionOptions {
  bool stream = false, include_usage = false, echo = false, return_token_ids = false;
  std::optional<int> logprobs;
};

class CompletionJob : public EngineJob {
 public:
  CompletionJob(Context& ctx, std::shared_ptr<Responder> out, CompletionOptions o, std::vector<std::vector<int32_t>> prompts,
                std::vector<std::string> prompt_texts, std::string id)
      : EngineJob(ctx, std::move(out)),
        o_(o),
        prompts_(std::move(prompts)),
        prompt_texts_(std::move(prompt_texts)),
        id_(std::move(id)),
        created_(ctx.now_unix()) {}

  void begin() {
    choices_.resize(prompts_.size() * size_t(n_));
    for (size_t i = 0; i < choices_.size(); ++i)
      if (o_.echo) choices_[i].pending_echo = prompt_texts_[i / size_t(n_)];
    if (o_.stream) out_->start_stream(200, "text/event-stream");
  }

 protected:
  void on_output(size_t prompt, RequestOutput& o) override {
    const size_t index = prompt * size_t(n_) + size_t(o.index);
    Choice& c = choices_[index];
    std::string text = std::move(c.pending_echo) + o.new_text;
    c.pending_echo.clear();
    c.text += text;
    CompletionLogprobs lp;
    if (o_.logprobs) lp.append(ctx_.format.tok, o.logprobs, c.offset);
    if (o_.logprobs) {
      for (auto& x : lp.tokens) c.lp.tokens.push_back(x);
      for (auto& x : lp.token_logprobs) c.lp.token_logprobs.push_back(x);
      for (auto& x : lp.top_logprobs) c.lp.top_logprobs.push_back(x);
      for (auto& x : lp.text_offset) c.lp.text_offset.push_back(x);
    }
    c.ids.insert(c.ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
    if (o.finished) {
      c.finish = o.finish_reason;
      if (!o.error.empty()) error_ = o.error;
      if (prompt_tokens_.size() < prompts_.size()) prompt_tokens_.resize(prompts_.size(), 0);
      prompt_tokens_[prompt] = o.usage.prompt_tokens;
      completion_ += o.usage.completion_tokens;
      cached_ += o.usage.cached_tokens;
    }
    if (!o_.stream) return;
    if (o.finished && !o.error.empty()) out_->write(sse_data(ojson::parse(error_json(500, "generation failed: " + o.error))));
    if (text.empty() && lp.empty() && !o.finished && !(o_.return_token_ids && !o.new_token_ids.empty())) return;
    ojson ch = {{"index", index}, {"text", text}};
    ch["logprobs"] = o_.logprobs ? lp.json() : ojson();
    ch["finish_reason"] = o.finished && o.error.empty() ? ojson(o.finish_reason) : ojson();
    if (o_.return_token_ids) ch["token_ids"] = o.new_token_ids;
    ojson chunk = base();
    chunk["choices"] = ojson::array({ch});
    if (o_.include_usage) chunk["usage"] = nullptr;
    out_->write(sse_data(chunk));
  }

  void on_done() override {
    int64_t prompt_total = 0;
    for (auto t : prompt_tokens_) prompt_total += t;
    ojson usage = usage_json(prompt_total, completion_, cached_);
    if (o_.stream) {
      if (o_.include_usage) {
        ojson u = base();
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
    ojson r = base();
    ojson choices = ojson::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      ojson ch = {{"index", i}, {"text", choices_[i].text}};
      ch["logprobs"] = o_.logprobs ? choices_[i].lp.json() : ojson();
      ch["finish_reason"] = choices_[i].finish;
      if (o_.return_token_ids) {
        ch["prompt_token_ids"] = prompts_[i / size_t(n_)];
        ch["token_ids"] = choices_[i].ids;
      }
      choices.push_back(std::move(ch));
    }
    r["choices"] = std::move(choices);
    r["usage"] = usage;
    out_->send(200, "application/json", dump(r));
  }

 private:
  struct Choice {
    std::string text, pending_echo, finish;
    CompletionLogprobs lp;
    size_t offset = 0;
    std::vector<int32_t> ids;
  };
  CompletionOptions o_;
  std::vector<std::vector<int32_t>> prompts_;
  std::vector<std::string> prompt_texts_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
  std::vector<int64_t> prompt_tokens_;
  int64_t completion_ = 0, cached_ = 0;
  std::string error_;

  ojson base() const {
    ojson r;
    r["id"] = id_;
    r["object"] = "text_completion";
    r["created"] = created_;
    r["model"] = ctx_.names[0];
    return r;
  }
};

std::vector<int32_t> token_list(const ojson& a, const std::string& param) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_number_integer() || a[i].get<int64_t>() < 0 || a[i].get<int64_t>() > INT32_MAX)
      throw bad_field(param, str_cat("'", param, "[", i, "]' must be a token id (a non-negative integer), got ", a[i].dump()));
    ids.push_back(int32_t(a[i].get<int64_t>()));
  }
  return ids;
}

}  // namespace

void handle_completions(Context& ctx, HttpRequest& req, std::shared_ptr<Responder> out) {
  ojson body = parse_json_body(req);
  ctx.check_model(body);
  Fields f(body);
  const ojson* prompt = f.get("prompt");
  if (!prompt) throw bad_field("prompt", "'prompt' is required");
  const Tokenizer* tok = ctx.format.tok;
  auto encode = [&](const std::string& s) {
    if (!tok) throw bad_field("prompt", "this model has no tokenizer.json: give the prompt as token ids");
    return tok->encode(s, /*add_special_tokens=*/true, /*parse_special=*/true);
  };
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> texts;
  if (prompt->is_string()) {
    prompts.push_back(encode(prompt->get<std::string>()));
    texts.push_back(prompt->get<std::string>());
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    prompts.push_back(token_list(*prompt, "prompt"));
  } else if (prompt->is_array() && !prompt->empty()) {
    for (size_t i = 0; i < prompt->size(); ++i) {
      const ojson& p = (*prompt)[i];
      if (p.is_string()) {
        prompts.push_back(encode(p.get<std::string>()));
        texts.push_back(p.get<std::string>());
      } else if (p.is_array()) {
        prompts.push_back(token_list(p, str_cat("prompt[", i, "]")));
      } else {
        throw bad_field("prompt", str_cat("'prompt[", i, "]' must be a string or a list of token ids, got ", json_type(p)));
      }
    }
    if (prompts.size() > 256) throw bad_field("prompt", str_cat("'prompt' has ", prompts.size(), " prompts; at most 256 are allowed"));
  } else if (prompt->is_array()) {
    throw bad_field("prompt", "'prompt' must not be empty");
  } else {
    throw bad_field("prompt", "'prompt' must be a string, a list of strings, or token ids, got " + json_type(*prompt));
  }
  for (size_t i = 0; i < prompts.size(); ++i)
    if (prompts[i].empty()) throw bad_field("prompt", prompts.size() == 1 ? "'prompt' is empty" : str_cat("'prompt[", i, "]' is empty"));
  if (texts.size() != prompts.size()) {  // token prompts: their text for echo
    texts.clear();
    for (auto& p : prompts) texts.push_back(tok ? tok->decode(p, false) : std::string());
  }
  if (f.string("suffix")) throw bad_field("suffix", "'suffix' is not supported");
  SamplingParams sp = parse_sampling(f, 128);
  if (auto bo = f.integer("best_of", 1, 128); bo && *bo != sp.n)
    throw bad_field("best_of", "'best_of' other than n is not supported");
  CompletionOptions o;
  o.stream = f.boolean("stream").value_or(false);
  if (const ojson* so = f.object("stream_options")) {
    if (!o.stream) throw bad_field("stream_options", "'stream_options' is only allowed when 'stream' is true");
    o.include_usage = Fields(*so, "stream_options.").boolean("include_usage").value_or(false);
  }
  o.echo = f.boolean("echo").value_or(false);
  if (auto lp = f.integer("logprobs", 0, 20)) {
    o.logprobs = int(*lp);
    sp.logprobs = int(*lp);
  }
  if (o.echo && o.logprobs) throw bad_field("echo", "'echo' together with 'logprobs' (prompt logprobs) is not supported");
  o.return_token_ids = f.boolean("return_token_ids").value_or(false);
  f.string("user");
  auto max_tokens = f.integer("max_tokens", INT64_MIN, INT64_MAX);
  // One max_tokens for all: the longest prompt decides the default and the limit.
  size_t longest = 0;
  for (auto& p : prompts) longest = std::max(longest, p.size());
  if (max_tokens) sp.max_tokens = resolve_max_tokens(max_tokens, "max_tokens", int64_t(longest), ctx.max_model_len);
  else sp.max_tokens = std::min(16, resolve_max_tokens(std::nullopt, "max_tokens", int64_t(longest), ctx.max_model_len));
  if (sp.min_tokens > sp.max_tokens)
    throw bad_field("min_tokens", str_cat("'min_tokens' (", sp.min_tokens, ") is larger than 'max_tokens' (", sp.max_tokens, ")"));
  if (!sp.stop.empty() && !tok) throw bad_field("stop", "stop strings need a tokenizer; this model has none (use stop_token_ids)");

  const std::string id = "cmpl-" + random_hex(24);
  auto job = std::make_shared<CompletionJob>(ctx, out, o, prompts, texts, id);
  job->submit(prompts, sp, id);
  job->begin();
  job->start();
}

}  // namespace tritium::server
