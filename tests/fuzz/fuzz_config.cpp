// config.json -> ModelSpec. Input: the text of a config.json.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tritium::ModelSpec s = tritium::ModelSpec::from_json_text(std::string(reinterpret_cast<const char*>(data), size),
                                                              "config.json");
    (void)s.summary();
  } catch (const tritium::Error&) {
  }
  return 0;
}
