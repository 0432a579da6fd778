// Jinja parse + render. Input: template source, rendered against a fixed chat context with small
// limits (so a runaway template stops fast, as the limits promise).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "tokenizer/jinja_eval.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tritium::jinja;
  static const Value ctx = Value::from_json(nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \u00e9"},
                 {"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>", "n": 3, "x": 1.5})"));
  RenderLimits lim;
  lim.max_steps = 200000;
  lim.max_output_bytes = 1 << 20;
  lim.max_call_depth = 50;
  try {
    Template t(std::string(reinterpret_cast<const char*>(data), size));
    std::string out = t.render(ctx, lim);
    if (out.size() > lim.max_output_bytes) __builtin_trap();
  } catch (const tritium::Error&) {
  }
  return 0;
}
