#include "server/json_call_scanner.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace tritium::server {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

size_t skip_ws(std::string_view b, size_t i) {
  while (i < b.size() && is_ws(b[i])) ++i;
  return i;
}

constexpr size_t kMore = std::string::npos;      // the buffer ended inside the thing
constexpr size_t kBad = std::string::npos - 1;   // not valid JSON here

// End of the string starting at b[i] == '"' (just after its closing quote).
size_t string_end(std::string_view b, size_t i) {
  for (size_t j = i + 1; j < b.size(); ++j) {
    if (b[j] == '\\') {
      ++j;
      continue;
    }
    if (b[j] == '"') return j + 1;
    if (static_cast<unsigned char>(b[j]) < 0x20 && b[j] != '\t') return kBad;
  }
  return kMore;
}

// End of the JSON value starting at b[i] (non-space).
size_t value_end(std::string_view b, size_t i) {
  if (i >= b.size()) return kMore;
  char c = b[i];
  if (c == '"') return string_end(b, i);
  if (c == '{' || c == '[') {
    std::vector<char> stack{c == '{' ? '}' : ']'};
    for (size_t j = i + 1; j < b.size(); ++j) {
      char d = b[j];
      if (d == '"') {
        size_t e = string_end(b, j);
        if (e == kMore || e == kBad) return e;
        j = e - 1;
      } else if (d == '{' || d == '[') {
        stack.push_back(d == '{' ? '}' : ']');
      } else if (d == '}' || d == ']') {
        if (d != stack.back()) return kBad;
        stack.pop_back();
        if (stack.empty()) return j + 1;
      }
    }
    return kMore;
  }
  if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
    size_t j = i;
    while (j < b.size() && !is_ws(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']') ++j;
    return j < b.size() ? j : kMore;
  }
  return kBad;
}

}  // namespace

size_t partial_suffix(std::string_view text, std::string_view marker) {
  for (size_t k = std::min(text.size(), marker.size() - 1); k > 0; --k)
    if (text.substr(text.size() - k) == marker.substr(0, k)) return k;
  return 0;
}

CallScan scan_value(std::string_view b) {
  CallScan s;
  size_t i = skip_ws(b, 0);
  if (i >= b.size()) return s;
  s.args_begin = i;
  s.args_is_string = b[i] == '"';
  size_t e = value_end(b, i);
  if (e == kBad) {
    s.invalid = true;
  } else if (e != kMore) {
    s.args_end = e;
    s.complete = true;
    s.end = e;
  }
  return s;
}

CallScan scan_call_object(std::string_view b, const std::vector<std::string>& arg_keys) {
  CallScan s;
  size_t i = skip_ws(b, 0);
  if (i >= b.size()) return s;
  if (b[i] != '{') {
    s.invalid = true;
    return s;
  }
  ++i;
  for (bool first = true;; first = false) {
    i = skip_ws(b, i);
    if (i >= b.size()) return s;
    if (b[i] == '}') {
      s.complete = true;
      s.end = i + 1;
      return s;
    }
    if (!first) {
      if (b[i] != ',') return s.invalid = true, s;
      i = skip_ws(b, i + 1);
      if (i >= b.size()) return s;
    }
    if (b[i] != '"') return s.invalid = true, s;
    size_t ke = string_end(b, i);
    if (ke == kMore) return s;
    if (ke == kBad) return s.invalid = true, s;
    std::string key;
    try {
      key = nlohmann::json::parse(b.substr(i, ke - i)).get<std::string>();
    } catch (...) {
      return s.invalid = true, s;
    }
    i = skip_ws(b, ke);
    if (i >= b.size()) return s;
    if (b[i] != ':') return s.invalid = true, s;
    i = skip_ws(b, i + 1);
    if (i >= b.size()) return s;
    const bool is_args = std::find(arg_keys.begin(), arg_keys.end(), key) != arg_keys.end();
    if (is_args) {
      s.args_begin = i;
      s.args_is_string = b[i] == '"';
    }
    size_t ve = value_end(b, i);
    if (ve == kBad) return s.invalid = true, s;
    if (ve == kMore) return s;
    if (key == "name") {
      if (b[i] != '"') return s.invalid = true, s;
      try {
        s.name = nlohmann::json::parse(b.substr(i, ve - i)).get<std::string>();
      } catch (...) {
        return s.invalid = true, s;
      }
    }
    if (is_args) s.args_end = ve;
    i = ve;
  }
}

CallStreamer::CallStreamer(std::vector<std::string> arg_keys, bool bare_args, std::string name)
    : keys_(std::move(arg_keys)), bare_(bare_args), name_(std::move(name)) {}

void CallStreamer::append(std::string_view text) {
  buf_ += text;
  scan_ = bare_ ? scan_value(buf_) : scan_call_object(buf_, keys_);
  if (!bare_ && scan_.name) name_ = *scan_.name;
}

CallStreamer::Update CallStreamer::update(bool final) {
  Update u;
  if (args_done_) return u;
  const bool name_known = bare_ || scan_.name.has_value();
  if (!name_sent_) {
    if (!name_known || scan_.invalid) {
      if (!final) return u;
      if (!name_known) return u;  // nothing callable arrived
    }
    name_sent_ = true;
    u.starts = true;
    u.name = name_;
  }
  if (scan_.invalid && !u.starts) {  // broken after the name: report nothing more
    args_done_ = true;
    return u;
  }
  if (scan_.args_begin == std::string::npos) {
    if (scan_.complete || final) args_done_ = true;
    return u;
  }
  const bool args_complete = scan_.args_end != std::string::npos;
  if (scan_.args_is_string) {
    // Arguments given as a JSON string: report its decoded text once whole.
    if (args_complete) {
      try {
        u.arguments = nlohmann::json::parse(buf_.substr(scan_.args_begin, scan_.args_end - scan_.args_begin)).get<std::string>();
      } catch (...) {
      }
      args_done_ = true;
    } else if (final) {
      args_done_ = true;
    }
    return u;
  }
  size_t upto = args_complete ? scan_.args_end : buf_.size();
  size_t from = scan_.args_begin + args_sent_;
  if (upto > from) {
    u.arguments = buf_.substr(from, upto - from);
    args_sent_ += upto - from;
  }
  if (args_complete || final) args_done_ = true;
  return u;
}

}  // namespace tritium::server
