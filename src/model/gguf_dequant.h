// ggml tensor types: names, block sizes and bytes per block for every type a GGUF file may hold,
// and dequantization to float of the ones tritium reads (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). Each block type is decoded as ggml defines it, with
// float32 arithmetic in the order gguf-py's reference dequantize uses, so results are bit-equal.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace tritium {

namespace ggml_type {
enum : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10, Q3_K = 11,
  Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19,
  IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};
}

struct GgmlTypeInfo {
  const char* name;
  int64_t block_size;   // elements per block
  int64_t block_bytes;  // bytes per block
  bool dequantizable;   // tritium reads it
};

// nullptr for ids that are no ggml type (or retired ones).
const GgmlTypeInfo* ggml_type_info(uint32_t type);
// "Q4_K", or "type 99" for unknown ids.
std::string ggml_type_name(uint32_t type);
// "F32, F16, BF16, Q8_0, ..." (the types dequantize accepts).
std::string ggml_dequantizable_types();

// Decodes n elements (a whole number of blocks) of `type` at src into dst.
void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n);

// Decodes a [rows, cols] matrix (cols a whole number of blocks) into dst as `out`
// (F32, BF16 or F16), threaded over rows (core/thread_pool). With row_order (size rows), output
// row r is source row row_order[r].
void dequantize_matrix(uint32_t type, const void* src, int64_t rows, int64_t cols, DType out, void* dst,
                       const std::vector<int64_t>* row_order = nullptr);

}  // namespace tritium
