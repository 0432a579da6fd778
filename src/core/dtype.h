// Element types and their sizes and names (safetensors spelling).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tritium {

enum class DType : uint8_t { F32, F16, BF16, I32, I64, U8, F8E4M3 };

size_t dtype_size(DType t);
// The safetensors name: F32, F16, BF16, I32, I64, U8, F8_E4M3.
const char* dtype_name(DType t);
// Parses a safetensors dtype name; nullopt for names tritium does not know.
std::optional<DType> dtype_from_safetensors(std::string_view name);
// Parses a user-facing name: float32/f32, float16/f16/half, bfloat16/bf16.
std::optional<DType> dtype_from_string(std::string_view name);
// Parses a KV cache dtype as vLLM's --kv-cache-dtype spells it: "auto" (nullopt: the compute
// dtype), "fp8" or "fp8_e4m3" (F8E4M3); throws naming the accepted values otherwise.
std::optional<DType> kv_cache_dtype_from_string(std::string_view name);
// Weight quantization by name: "none" (nullopt) or "fp8" (F8E4M3 weights with per-row scales);
// throws naming the accepted values otherwise.
std::optional<DType> quantization_from_string(std::string_view name);

}  // namespace tritium
