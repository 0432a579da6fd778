// IncrementalDetokenizer: decodes a sliding window of ids. Each step decodes
// ids[prefix_, end) and emits what it adds beyond the (already emitted) text of
// ids[prefix_, read_), so decoder effects on a window's first token (Metaspace, Strip)
// cancel out. Text is held back while it ends in an incomplete character (U+FFFD) or, for
// ByteFallback decoders, while the last id is a <0xXX> byte token (a byte run is decoded
// as a whole). finish() returns the rest of the full decode.
#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

namespace tritium::tok {

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_(skip_special_tokens) {}

static bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

std::string IncrementalDetokenizer::push(int32_t id) {
  const Impl& impl = *tok_->impl_;
  ids_.push_back(id);
  if (impl.is_byte_token(id)) return "";
  std::string text = impl.decode(ids_.data() + prefix_, ids_.size() - prefix_, skip_);
  if (text.size() <= prefix_text_.size() || ends_with_replacement(text) ||
      text.compare(0, prefix_text_.size(), prefix_text_) != 0) {
    return "";
  }
  std::string out = text.substr(prefix_text_.size());
  emitted_ += out.size();
  prefix_ = read_;
  read_ = ids_.size();
  prefix_text_ = impl.decode(ids_.data() + prefix_, read_ - prefix_, skip_);
  return out;
}

std::string IncrementalDetokenizer::finish() {
  const Impl& impl = *tok_->impl_;
  std::string full = impl.decode(ids_.data(), ids_.size(), skip_);
  std::string out = emitted_ <= full.size() ? full.substr(emitted_) : std::string();
  emitted_ = full.size();
  prefix_ = read_ = ids_.size();
  prefix_text_.clear();
  return out;
}

}  // namespace tritium::tok
