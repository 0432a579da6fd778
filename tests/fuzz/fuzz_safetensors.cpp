// safetensors: the header of a file (8-byte length + JSON) and model.safetensors.index.json.
// Input: the bytes of a safetensors file; the same bytes are also tried as an index.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  try {
    tritium::SafetensorsHeader h = tritium::parse_safetensors_header(p, size, "fuzz.safetensors");
    // What the loader relies on: every tensor lies inside the data section.
    for (auto& [name, t] : h.tensors)
      if (t.end > size - h.data_offset || t.begin > t.end) __builtin_trap();
  } catch (const tritium::Error&) {
  }
  try {
    tritium::parse_safetensors_index(std::string(p, size), "model.safetensors.index.json");
  } catch (const tritium::Error&) {
  }
  return 0;
}
