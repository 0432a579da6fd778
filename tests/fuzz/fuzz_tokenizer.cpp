// tokenizer.json load + encode + decode. Input: tokenizer.json text, then optionally a NUL byte
// and the text to encode (without one, a fixed sample text is encoded).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string json = in.substr(0, nul);
  std::string text = nul == std::string::npos ? std::string("Hello world! 123 <s> caf\xc3\xa9 \xe4\xbd\xa0\xe5\xa5\xbd  ")
                                              : in.substr(nul + 1);
  try {
    tritium::Tokenizer tok = tritium::Tokenizer::from_json(json);
    std::vector<int32_t> ids = tok.encode(text);
    (void)tok.decode(ids, false);
    (void)tok.decode(ids, true);
    tritium::IncrementalDetokenizer d(tok);
    for (int32_t id : ids) d.push(id);
    d.finish();
  } catch (const tritium::Error&) {
  }
  return 0;
}
