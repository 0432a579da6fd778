#include "core/dtype.h"

#include <string>

#include "core/error.h"

namespace tritium {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
    case DType::F8E4M3: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
    case DType::F8E4M3: return "F8_E4M3";
  }
  return "?";
}

std::optional<DType> dtype_from_safetensors(std::string_view n) {
  if (n == "F32") return DType::F32;
  if (n == "F16") return DType::F16;
  if (n == "BF16") return DType::BF16;
  if (n == "I32") return DType::I32;
  if (n == "I64") return DType::I64;
  if (n == "U8") return DType::U8;
  if (n == "F8_E4M3") return DType::F8E4M3;
  return std::nullopt;
}

std::optional<DType> dtype_from_string(std::string_view n) {
  if (n == "float32" || n == "f32" || n == "fp32" || n == "float") return DType::F32;
  if (n == "float16" || n == "f16" || n == "fp16" || n == "half") return DType::F16;
  if (n == "bfloat16" || n == "bf16") return DType::BF16;
  return std::nullopt;
}

std::optional<DType> kv_cache_dtype_from_string(std::string_view n) {
  if (n == "auto" || n.empty()) return std::nullopt;
  if (n == "fp8" || n == "fp8_e4m3") return DType::F8E4M3;
  throw Error("unknown KV cache dtype '" + std::string(n) + "' (auto, fp8, fp8_e4m3)");
}

std::optional<DType> quantization_from_string(std::string_view n) {
  if (n == "none" || n.empty()) return std::nullopt;
  if (n == "fp8") return DType::F8E4M3;
  throw Error("unknown quantization '" + std::string(n) + "' (none, fp8)");
}

}  // namespace tritium
