// Incremental reading of a tool call written as JSON by a model, for streaming: the function's
// name as soon as its string is complete, then the raw text of its arguments as it arrives.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tritium::server {

// What has arrived of one JSON value or object, scanned from its first character.
struct CallScan {
  bool invalid = false;   // cannot be the expected shape
  bool complete = false;  // the value ended
  size_t end = 0;         // offset just after it, when complete
  std::optional<std::string> name;  // the "name" member's string (objects only)
  size_t args_begin = std::string::npos, args_end = std::string::npos;  // raw text of the arguments value
  bool args_is_string = false;  // the arguments were written as a JSON string (decoded at the end)
};

// Scans `buf` as an object {"name": "...", <arg key>: value, ...} (other members are skipped).
CallScan scan_call_object(std::string_view buf, const std::vector<std::string>& arg_keys);
// Scans `buf` as one JSON value (the arguments alone, e.g. after Mistral's [ARGS]).
CallScan scan_value(std::string_view buf);
// Length of the longest suffix of `text` that is a proper prefix of `marker` (held back while streaming).
size_t partial_suffix(std::string_view text, std::string_view marker);

// One tool call being streamed. append() text of the call as it comes; update() reports the
// name once known and argument text not reported yet.
class CallStreamer {
 public:
  // bare_args: the text is the arguments value alone and `name` is known already.
  explicit CallStreamer(std::vector<std::string> arg_keys, bool bare_args = false, std::string name = "");
  void append(std::string_view text);  // and rescans
  struct Update {
    bool starts = false;  // the name is known now (first report)
    std::string name;
    std::string arguments;  // new argument text
  };
  // What the text so far allows that was not reported yet. final: no more text will come.
  Update update(bool final = false);
  bool invalid() const { return scan_.invalid; }
  bool complete() const { return scan_.complete; }
  bool started() const { return name_sent_; }
  // Text after the end of the call, once complete.
  std::string rest() const { return scan_.complete ? buf_.substr(scan_.end) : std::string(); }
  const std::string& text() const { return buf_; }

 private:
  std::vector<std::string> keys_;
  bool bare_;
  std::string name_;
  std::string buf_;
  CallScan scan_;
  bool name_sent_ = false;
  size_t args_sent_ = 0;  // bytes of the raw arguments text reported
  bool args_done_ = false;
};

}  // namespace tritium::server
