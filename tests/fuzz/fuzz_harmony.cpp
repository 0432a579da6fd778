// harmony (gpt-oss) output parser, fed in chunks. Input: generated text; its first byte picks the
// chunk size, so special tokens split across chunks are exercised. The text is also tried as a
// JSON conversation for render_conversation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.h"
#include "tokenizer/harmony.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = size_t(data[0] % 16) + 1;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    tritium::harmony::StreamParser p;
    std::string reasoning, content;
    for (size_t i = 0; i < text.size(); i += chunk) {
      auto d = p.feed(text.substr(i, std::min(chunk, text.size() - i)));
      reasoning += d.reasoning;
      content += d.content;
    }
    auto d = p.finish();
    reasoning += d.reasoning;
    content += d.content;
    // The deltas add up to the totals.
    if (reasoning != p.reasoning() || content != p.content()) __builtin_trap();
  } catch (const tritium::Error&) {
  }
  try {
    auto j = nlohmann::ordered_json::parse(text, nullptr, false);
    if (!j.is_discarded() && j.is_object())
      (void)tritium::harmony::render_conversation(j.value("messages", nlohmann::ordered_json::array()),
                                                  j.value("tools", nlohmann::ordered_json()));
  } catch (const tritium::Error&) {
  } catch (const nlohmann::json::exception&) {
  }
  return 0;
}
