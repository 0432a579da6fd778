#include "server/output_parser.h"

#include <optional>

#include "core/error.h"

namespace tritium::server {

const char* tool_format_name(ToolFormat f) {
  switch (f) {
    case ToolFormat::Hermes: return "hermes";
    case ToolFormat::Llama3Json: return "llama3_json";
    case ToolFormat::Mistral: return "mistral";
    case ToolFormat::Harmony: return "harmony";
    default: return "none";
  }
}
const char* reasoning_format_name(ReasoningFormat f) {
  switch (f) {
    case ReasoningFormat::Think: return "think";
    case ReasoningFormat::Harmony: return "harmony";
    default: return "none";
  }
}
ToolFormat parse_tool_format(const std::string& s) {
  if (s == "hermes") return ToolFormat::Hermes;
  if (s == "llama3_json") return ToolFormat::Llama3Json;
  if (s == "mistral") return ToolFormat::Mistral;
  if (s == "harmony") return ToolFormat::Harmony;
  if (s == "none") return ToolFormat::None;
  throw Error("unknown tool-call parser '" + s + "' (hermes, llama3_json, mistral, harmony, none)");
}
ReasoningFormat parse_reasoning_format(const std::string& s) {
  if (s == "think") return ReasoningFormat::Think;
  if (s == "harmony") return ReasoningFormat::Harmony;
  if (s == "none") return ReasoningFormat::None;
  throw Error("unknown reasoning parser '" + s + "' (think, harmony, none)");
}

void OutputDelta::append(OutputDelta&& o) {
  reasoning += o.reasoning;
  content += o.content;
  for (auto& t : o.tool_calls) tool_calls.push_back(std::move(t));
}

bool prompt_opens_think(const std::string& prompt) {
  size_t e = prompt.find_last_not_of(" \t\r\n");
  static const std::string open = "<think>";
  return e != std::string::npos && e + 1 >= open.size() && prompt.compare(e + 1 - open.size(), open.size(), open) == 0;
}

namespace {

constexpr size_t npos = std::string::npos;

bool all_space(std::string_view s) { return s.find_first_not_of(" \t\r\n") == npos; }

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

// ---- tool-call stages: content text in, content and calls out

class ToolStage {
 public:
  virtual ~ToolStage() = default;
  virtual void feed(std::string_view t, OutputDelta& d, bool final) = 0;

 protected:
  int next_ = 0, cur_ = -1;
  bool any_call_ = false;
  std::optional<CallStreamer> call_;

  void content(OutputDelta& d, std::string_view s) {
    if (s.empty() || (any_call_ && all_space(s))) return;  // whitespace between / after calls
    d.content += s;
  }
  // Reports what the call in progress allows (`ended`: its text is all there). False when it
  // ended without being a call (nothing was reported): the caller shows its text as content.
  bool step_call(OutputDelta& d, bool ended) {
    if (call_->invalid() && !call_->started()) return !ended;
    auto u = call_->update(ended);
    if (u.starts) {
      cur_ = next_++;
      d.tool_calls.push_back({cur_, true, u.name, ""});
      any_call_ = true;
    }
    if (!u.arguments.empty()) d.tool_calls.push_back({cur_, false, "", u.arguments});
    return !ended || call_->started();
  }
  // For formats where a call is a bare JSON text: feeds buf to the call; true when the call
  // ended (buf then holds the text after it; `fell_back` when it was no call and became content).
  bool run_call(std::string& buf, OutputDelta& d, bool final, bool& fell_back) {
    fell_back = false;
    call_->append(buf);
    buf.clear();
    if (call_->invalid() && !call_->started()) {
      content(d, call_->text());
      call_.reset();
      fell_back = true;
      return true;
    }
    const bool done = call_->complete() || final;
    if (!step_call(d, done)) content(d, call_->text());
    if (!done) return false;
    buf = call_->rest();
    call_.reset();
    return true;
  }
};

class PassStage : public ToolStage {
 public:
  void feed(std::string_view t, OutputDelta& d, bool) override { d.content += t; }
};

class HermesStage : public ToolStage {
 public:
  void feed(std::string_view t, OutputDelta& d, bool final) override {
    static const std::string open = "<tool_call>", close = "</tool_call>";
    buf_ += t;
    for (;;) {
      if (!call_) {
        size_t p = buf_.find(open);
        if (p == npos) {
          size_t hold = final ? 0 : partial_suffix(buf_, open);
          content(d, std::string_view(buf_).substr(0, buf_.size() - hold));
          buf_.erase(0, buf_.size() - hold);
          return;
        }
        content(d, std::string_view(buf_).substr(0, p));
        buf_.erase(0, p + open.size());
        call_.emplace(std::vector<std::string>{"arguments", "parameters"});
        continue;
      }
      size_t e = buf_.find(close);
      size_t take = e != npos ? e : final ? buf_.size() : buf_.size() - partial_suffix(buf_, close);
      call_->append(std::string_view(buf_).substr(0, take));
      buf_.erase(0, take);
      const bool ended = e != npos || final;
      if (e != npos) buf_.erase(0, close.size());
      if (!step_call(d, ended)) content(d, open + call_->text() + (e != npos ? close : ""));
      if (!ended) return;
      call_.reset();
      if (buf_.empty()) return;
    }
  }

 private:
  std::string buf_;
};

class Llama3Stage : public ToolStage {
 public:
  void feed(std::string_view t, OutputDelta& d, bool final) override {
    static const std::string tag = "<|python_tag|>";
    buf_ += t;
    for (;;) {
      if (state_ == State::Start) {
        size_t i = buf_.find_first_not_of(" \t\r\n");
        if (i == npos) {
          if (!final) return;
          state_ = State::Content;
          continue;
        }
        std::string_view s = std::string_view(buf_).substr(i);
        if (s.substr(0, tag.size()) == tag) {
          buf_.erase(0, i + tag.size());
          state_ = State::Calls;
        } else if (s[0] == '{') {
          buf_.erase(0, i);
          state_ = State::Calls;
        } else if (!final && tag.compare(0, s.size(), s) == 0) {
          return;  // maybe the tag
        } else {
          state_ = State::Content;
        }
        continue;
      }
      if (state_ == State::Content) {
        content(d, buf_);
        buf_.clear();
        return;
      }
      if (!call_) {  // between calls: separators, then the next object
        size_t i = buf_.find_first_not_of(" \t\r\n;");
        if (i == npos) {
          if (final) buf_.clear();
          return;
        }
        buf_.erase(0, i);
        if (buf_[0] != '{') {
          state_ = State::Content;
          continue;
        }
        call_.emplace(std::vector<std::string>{"parameters", "arguments"});
      }
      bool fell_back = false;
      if (!run_call(buf_, d, final, fell_back)) return;
      if (fell_back) state_ = State::Content;
      if (buf_.empty()) return;
    }
  }

 private:
  enum class State { Start, Calls, Content };
  State state_ = State::Start;
  std::string buf_;
};

class MistralStage : public ToolStage {
 public:
  void feed(std::string_view t, OutputDelta& d, bool final) override {
    static const std::string marker = "[TOOL_CALLS]", args = "[ARGS]";
    buf_ += t;
    for (;;) {
      switch (state_) {
        case State::Content: {
          size_t p = buf_.find(marker);
          if (p == npos) {
            size_t hold = final ? 0 : partial_suffix(buf_, marker);
            content(d, std::string_view(buf_).substr(0, buf_.size() - hold));
            buf_.erase(0, buf_.size() - hold);
            return;
          }
          content(d, std::string_view(buf_).substr(0, p));
          buf_.erase(0, p + marker.size());
          state_ = State::After;
          continue;
        }
        case State::After: {
          size_t i = buf_.find_first_not_of(" \t\r\n");
          if (i == npos) {
            if (final) buf_.clear();
            return;
          }
          buf_.erase(0, i);
          if (buf_[0] == '[') {
            buf_.erase(0, 1);
            state_ = State::Array;
          } else {
            state_ = State::Name;
          }
          continue;
        }
        case State::Array: {
          if (!call_) {
            size_t i = buf_.find_first_not_of(" \t\r\n,");
            if (i == npos) {
              if (final) buf_.clear();
              return;
            }
            buf_.erase(0, i);
            if (buf_[0] == ']') {
              buf_.erase(0, 1);
              state_ = State::Content;
              continue;
            }
            if (buf_[0] != '{') {
              state_ = State::Content;
              continue;
            }
            call_.emplace(std::vector<std::string>{"arguments", "parameters"});
          }
          bool fell_back = false;
          if (!run_call(buf_, d, final, fell_back)) return;
          if (fell_back) state_ = State::Content;
          if (buf_.empty() && final) return;
          continue;
        }
        case State::Name: {
          size_t p = buf_.find(args);
          if (p == npos) {
            if (final) {
              content(d, buf_);
              buf_.clear();
            }
            return;
          }
          std::string name = trim(std::string_view(buf_).substr(0, p));
          buf_.erase(0, p + args.size());
          call_.emplace(std::vector<std::string>{}, /*bare_args=*/true, name);
          state_ = State::Args;
          continue;
        }
        case State::Args: {
          bool fell_back = false;
          if (!run_call(buf_, d, final, fell_back)) return;
          state_ = State::Content;
          continue;
        }
      }
    }
  }

 private:
  enum class State { Content, After, Array, Name, Args };
  State state_ = State::Content;
  std::string buf_;
};

std::unique_ptr<ToolStage> make_stage(const ParserOptions& o) {
  if (!o.parse_tools) return std::make_unique<PassStage>();
  switch (o.tools) {
    case ToolFormat::Hermes: return std::make_unique<HermesStage>();
    case ToolFormat::Llama3Json: return std::make_unique<Llama3Stage>();
    case ToolFormat::Mistral: return std::make_unique<MistralStage>();
    default: return std::make_unique<PassStage>();
  }
}

// ---- parsers

// <think> reasoning first (when the format has it), the rest through the tool stage.
class TextParser : public OutputParser {
 public:
  explicit TextParser(const ParserOptions& o) : think_(o.reasoning == ReasoningFormat::Think), stage_(make_stage(o)) {
    state_ = !think_ ? State::Content : o.start_in_reasoning ? State::Reasoning : State::Start;
  }
  OutputDelta feed(std::string_view t) override { return run(t, false); }
  OutputDelta finish() override { return run("", true); }

 private:
  enum class State { Start, Reasoning, AfterThink, Content };
  bool think_;
  State state_;
  std::string buf_;
  std::unique_ptr<ToolStage> stage_;

  OutputDelta run(std::string_view t, bool final) {
    static const std::string open = "<think>", close = "</think>";
    OutputDelta d;
    buf_ += t;
    for (;;) {
      if (state_ == State::Start) {
        size_t i = buf_.find_first_not_of(" \t\r\n");
        if (i == npos) {
          if (!final) break;
          state_ = State::Content;
          continue;
        }
        std::string_view s = std::string_view(buf_).substr(i);
        if (s.substr(0, open.size()) == open) {
          buf_.erase(0, i + open.size());
          state_ = State::Reasoning;
        } else if (!final && open.compare(0, s.size(), s) == 0) {
          break;
        } else {
          state_ = State::Content;
        }
        continue;
      }
      if (state_ == State::Reasoning) {
        size_t p = buf_.find(close);
        if (p == npos) {
          size_t hold = final ? 0 : partial_suffix(buf_, close);
          d.reasoning += buf_.substr(0, buf_.size() - hold);
          buf_.erase(0, buf_.size() - hold);
          break;
        }
        d.reasoning += buf_.substr(0, p);
        buf_.erase(0, p + close.size());
        state_ = State::AfterThink;
        continue;
      }
      if (state_ == State::AfterThink) {  // the newlines after </think> are not content
        size_t i = buf_.find_first_not_of("\r\n");
        if (i == npos) {
          buf_.clear();
          if (!final) break;
          state_ = State::Content;
          continue;
        }
        buf_.erase(0, i);
        state_ = State::Content;
        continue;
      }
      stage_->feed(buf_, d, final);
      buf_.clear();
      break;
    }
    for (auto& tc : d.tool_calls)
      if (tc.starts) ++calls_;
    return d;
  }
};

class HarmonyOutputParser : public OutputParser {
 public:
  explicit HarmonyOutputParser(const ParserOptions& o) : tools_(o.parse_tools) {}
  OutputDelta feed(std::string_view t) override { return convert(p_.feed(t)); }
  OutputDelta finish() override { return convert(p_.finish()); }

 private:
  bool tools_;
  harmony::StreamParser p_;
  int current_ = -1;

  OutputDelta convert(harmony::ParseDelta&& h) {
    OutputDelta d;
    d.reasoning = std::move(h.reasoning);
    d.content = std::move(h.content);
    if (!tools_) return d;
    for (auto& f : h.call_fragments) {
      if (f.begins) {
        current_ = calls_++;
        d.tool_calls.push_back({current_, true, f.name, ""});
      } else if (current_ >= 0 && !f.arguments.empty()) {
        d.tool_calls.push_back({current_, false, "", f.arguments});
      }
    }
    return d;
  }
};

// parallel_tool_calls false: only the first call.
class FirstCallOnly : public OutputParser {
 public:
  explicit FirstCallOnly(std::unique_ptr<OutputParser> p) : p_(std::move(p)) {}
  OutputDelta feed(std::string_view t) override { return keep(p_->feed(t)); }
  OutputDelta finish() override { return keep(p_->finish()); }

 private:
  std::unique_ptr<OutputParser> p_;
  OutputDelta keep(OutputDelta d) {
    std::erase_if(d.tool_calls, [](const ToolCallDelta& t) { return t.index > 0; });
    calls_ = std::min(1, p_->num_tool_calls());
    return d;
  }
};

}  // namespace

std::unique_ptr<OutputParser> make_output_parser(const ParserOptions& o) {
  std::unique_ptr<OutputParser> p;
  if (o.reasoning == ReasoningFormat::Harmony || o.tools == ToolFormat::Harmony)
    p = std::make_unique<HarmonyOutputParser>(o);
  else
    p = std::make_unique<TextParser>(o);
  if (o.single_tool_call) p = std::make_unique<FirstCallOnly>(std::move(p));
  return p;
}

}  // namespace tritium::server
