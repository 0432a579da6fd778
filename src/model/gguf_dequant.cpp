// Block layouts (ggml's, as ggml-common.h defines them; QK_K = 256):
//   Q4_0  f16 d, 16 bytes of nibbles            x = d * (q - 8)
//   Q4_1  f16 d, f16 m, 16 bytes of nibbles     x = d * q + m
//   Q5_0  f16 d, u32 high bits, 16 bytes        x = d * (q - 16)       (q: nibble | high bit << 4)
//   Q5_1  f16 d, f16 m, u32 high bits, 16 bytes x = d * q + m
//   Q8_0  f16 d, 32 x int8                      x = d * q
//   Q2_K  16 scale/min bytes (4 bits each), 64 bytes of 2-bit q, f16 d, f16 dmin:
//         16 groups of 16, x = (d * scale) * q - (dmin * min)
//   Q3_K  32 bytes high-bit mask, 64 bytes of 2-bit q, 12 bytes of 6-bit scales, f16 d:
//         16 groups of 16, x = (d * (scale - 32)) * (q - (high bit ? 0 : 4))
//   Q4_K  f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles:
//         8 groups of 32, x = (d * scale) * q - (dmin * min)
//   Q5_K  as Q4_K plus 32 bytes of high bits before the nibbles
//   Q6_K  128 bytes low nibbles, 64 bytes of 2-bit highs, 16 int8 scales, f16 d:
//         16 groups of 16, x = (d * scale) * (q - 32)
// Within a block, element order follows ggml: the low nibbles of a run of bytes come first, then
// the high nibbles; 2-bit fields are taken by shift 0, 2, 4, 6 over a run of 32 bytes.
#include "model/gguf_dequant.h"

#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace tritium {

namespace {

constexpr int64_t QK = 256;

const GgmlTypeInfo kTypes[] = {
    {"F32", 1, 4, true},         // 0
    {"F16", 1, 2, true},         // 1
    {"Q4_0", 32, 18, true},      // 2
    {"Q4_1", 32, 20, true},      // 3
    {nullptr, 0, 0, false},      // 4 (Q4_2, retired)
    {nullptr, 0, 0, false},      // 5 (Q4_3, retired)
    {"Q5_0", 32, 22, true},      // 6
    {"Q5_1", 32, 24, true},      // 7
    {"Q8_0", 32, 34, true},      // 8
    {"Q8_1", 32, 36, false},     // 9
    {"Q2_K", QK, 84, true},      // 10
    {"Q3_K", QK, 110, true},     // 11
    {"Q4_K", QK, 144, true},     // 12
    {"Q5_K", QK, 176, true},     // 13
    {"Q6_K", QK, 210, true},     // 14
    {"Q8_K", QK, 292, false},    // 15
    {"IQ2_XXS", QK, 66, false},  // 16
    {"IQ2_XS", QK, 74, false},   // 17
    {"IQ3_XXS", QK, 98, false},  // 18
    {"IQ1_S", QK, 50, false},    // 19
    {"IQ4_NL", 32, 18, false},   // 20
    {"IQ3_S", QK, 110, false},   // 21
    {"IQ2_S", QK, 82, false},    // 22
    {"IQ4_XS", QK, 136, false},  // 23
    {"I8", 1, 1, false},         // 24
    {"I16", 1, 2, false},        // 25
    {"I32", 1, 4, false},        // 26
    {"I64", 1, 8, false},        // 27
    {"F64", 1, 8, false},        // 28
    {"IQ1_M", QK, 56, false},    // 29
    {"BF16", 1, 2, true},        // 30
    {nullptr, 0, 0, false},      // 31 (Q4_0_4_4, retired)
    {nullptr, 0, 0, false},      // 32 (Q4_0_4_8, retired)
    {nullptr, 0, 0, false},      // 33 (Q4_0_8_8, retired)
    {"TQ1_0", QK, 54, false},    // 34
    {"TQ2_0", QK, 66, false},    // 35
    {nullptr, 0, 0, false},      // 36 (IQ4_NL_4_4, retired)
    {nullptr, 0, 0, false},      // 37 (IQ4_NL_4_8, retired)
    {nullptr, 0, 0, false},      // 38 (IQ4_NL_8_8, retired)
    {"MXFP4", 32, 17, false},    // 39
};

inline float half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void q4_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(int(qs[j] & 0xF) - 8);
    y[j + 16] = d * float(int(qs[j] >> 4) - 8);
  }
}

void q4_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * float(qs[j] & 0xF) + m;
    y[j + 16] = d * float(qs[j] >> 4) + m;
  }
}

void q5_0(const uint8_t* b, float* y) {
  const float d = half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, 4);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    int lo = (qs[j] & 0xF) | int(((qh >> j) & 1) << 4);
    int hi = (qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
    y[j] = d * float(lo - 16);
    y[j + 16] = d * float(hi - 16);
  }
}

void q5_1(const uint8_t* b, float* y) {
  const float d = half(b), m = half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    int lo = (qs[j] & 0xF) | int(((qh >> j) & 1) << 4);
    int hi = (qs[j] >> 4) | int(((qh >> (j + 16)) & 1) << 4);
    y[j] = d * float(lo) + m;
    y[j + 16] = d * float(hi) + m;
  }
}

void q8_0(const uint8_t* b, float* y) {
  const float d = half(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = float(qs[j]) * d;
}

void q2_k(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = half(b + 80), dmin = half(b + 82);
  for (int e = 0; e < QK; ++e) {
    const int h = e / 128, s = (e / 32) % 4, l = e % 32;
    const uint8_t sc = scales[e / 16];
    const float dl = d * float(sc & 0xF), ml = dmin * float(sc >> 4);
    const int q = (qs[h * 32 + l] >> (2 * s)) & 3;
    y[e] = dl * float(q) - ml;
  }
}

void q3_k(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* sc = b + 96;
  const float d = half(b + 108);
  // 16 six-bit scales: low 4 bits from bytes 0..7 (low nibbles first), high 2 bits from bytes 8..11.
  float dl[16];
  for (int k = 0; k < 16; ++k) {
    int lo = (sc[k % 8] >> (4 * (k / 8))) & 0xF;
    int hi = (sc[8 + k % 4] >> (2 * (k / 4))) & 3;
    dl[k] = d * float(int8_t(uint8_t(lo | (hi << 4))) - 32);
  }
  for (int e = 0; e < QK; ++e) {
    const int h = e / 128, s = (e / 32) % 4, l = e % 32;
    const int q = (qs[h * 32 + l] >> (2 * s)) & 3;
    const int high = (hmask[l] >> (e / 32)) & 1;
    y[e] = dl[e / 16] * float(q - (high ? 0 : 4));
  }
}

// The 6-bit scale and min of group j (0..7) of a Q4_K / Q5_K block.
inline void k4_scale_min(const uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

void q4_k(const uint8_t* b, float* y) {
  const float d = half(b), dmin = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qs = b + 16;
  for (int g = 0; g < 8; ++g) {
    int sc, m;
    k4_scale_min(scales, g, sc, m);
    const float dl = d * float(sc), ml = dmin * float(m);
    const uint8_t* q = qs + (g / 2) * 32;
    const int shift = 4 * (g % 2);
    for (int l = 0; l < 32; ++l) y[g * 32 + l] = dl * float((q[l] >> shift) & 0xF) - ml;
  }
}

void q5_k(const uint8_t* b, float* y) {
  const float d = half(b), dmin = half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* qs = b + 48;
  for (int g = 0; g < 8; ++g) {
    int sc, m;
    k4_scale_min(scales, g, sc, m);
    const float dl = d * float(sc), ml = dmin * float(m);
    const uint8_t* q = qs + (g / 2) * 32;
    const int shift = 4 * (g % 2);
    for (int l = 0; l < 32; ++l) {
      int v = ((q[l] >> shift) & 0xF) | (((qh[l] >> g) & 1) << 4);
      y[g * 32 + l] = dl * float(v) - ml;
    }
  }
}

void q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half(b + 208);
  for (int e = 0; e < QK; ++e) {
    const int h = e / 128, r = e % 128;
    const int lo = (ql[h * 64 + r % 64] >> (4 * (r / 64))) & 0xF;
    const int hi = (qh[h * 32 + r % 32] >> (2 * (r / 32))) & 3;
    const float dl = d * float(scales[e / 16]);
    y[e] = dl * float(int8_t(uint8_t(lo | (hi << 4))) - 32);
  }
}

using BlockFn = void (*)(const uint8_t*, float*);

BlockFn block_fn(uint32_t type) {
  switch (type) {
    case ggml_type::Q4_0: return q4_0;
    case ggml_type::Q4_1: return q4_1;
    case ggml_type::Q5_0: return q5_0;
    case ggml_type::Q5_1: return q5_1;
    case ggml_type::Q8_0: return q8_0;
    case ggml_type::Q2_K: return q2_k;
    case ggml_type::Q3_K: return q3_k;
    case ggml_type::Q4_K: return q4_k;
    case ggml_type::Q5_K: return q5_k;
    case ggml_type::Q6_K: return q6_k;
    default: return nullptr;
  }
}

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t type) {
  if (type >= sizeof(kTypes) / sizeof(kTypes[0]) || !kTypes[type].name) return nullptr;
  return &kTypes[type];
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  return t ? t->name : str_cat("type ", type);
}

std::string ggml_dequantizable_types() {
  std::string r;
  for (uint32_t t : {ggml_type::F32, ggml_type::F16, ggml_type::BF16, ggml_type::Q8_0, ggml_type::Q4_0, ggml_type::Q4_1,
                     ggml_type::Q5_0, ggml_type::Q5_1, ggml_type::Q2_K, ggml_type::Q3_K, ggml_type::Q4_K, ggml_type::Q5_K,
                     ggml_type::Q6_K})
    r += (r.empty() ? "" : ", ") + std::string(kTypes[t].name);
  return r;
}

void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  TRITIUM_CHECK(t && t->dequantizable, "dequantize: ggml type ", ggml_type_name(type), " is not supported (supported: ",
                ggml_dequantizable_types(), ")");
  TRITIUM_CHECK(n % t->block_size == 0, "dequantize: ", n, " elements are not a whole number of ", t->name, " blocks");
  const uint8_t* p = static_cast<const uint8_t*>(src);
  switch (type) {
    case ggml_type::F32:
      std::memcpy(dst, p, size_t(n) * 4);
      return;
    case ggml_type::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half(p + 2 * i);
      return;
    case ggml_type::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    default:
      break;
  }
  BlockFn fn = block_fn(type);
  for (int64_t b = 0; b < n / t->block_size; ++b) fn(p + b * t->block_bytes, dst + b * t->block_size);
}

void dequantize_matrix(uint32_t type, const void* src, int64_t rows, int64_t cols, DType out, void* dst,
                       const std::vector<int64_t>* row_order) {
  const GgmlTypeInfo* t = ggml_type_info(type);
  TRITIUM_CHECK(t && t->dequantizable, "dequantize: ggml type ", ggml_type_name(type), " is not supported (supported: ",
                ggml_dequantizable_types(), ")");
  TRITIUM_CHECK(out == DType::F32 || out == DType::BF16 || out == DType::F16, "dequantize: output dtype ",
                dtype_name(out), " (F32, BF16 or F16 only)");
  TRITIUM_CHECK(cols % t->block_size == 0, "dequantize: rows of ", cols, " are not a whole number of ", t->name, " blocks");
  TRITIUM_CHECK(!row_order || int64_t(row_order->size()) == rows, "dequantize: row order of the wrong length");
  const int64_t row_bytes = cols / t->block_size * t->block_bytes;
  const size_t osz = dtype_size(out);
  const char* s = static_cast<const char*>(src);
  char* d = static_cast<char*>(dst);
  // About 64K elements a chunk: enough to amortize the pool's hand-off, small enough to balance.
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(cols, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    std::vector<float> tmp(out == DType::F32 ? 0 : size_t(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t from = row_order ? (*row_order)[size_t(r)] : r;
      const char* row = s + from * row_bytes;
      if (out == DType::F32) {
        dequantize_row(type, row, reinterpret_cast<float*>(d + r * cols * 4), cols);
        continue;
      }
      dequantize_row(type, row, tmp.data(), cols);
      uint16_t* o = reinterpret_cast<uint16_t*>(d + r * cols * int64_t(osz));
      if (out == DType::BF16)
        for (int64_t c = 0; c < cols; ++c) o[c] = f32_to_bf16(tmp[size_t(c)]);
      else
        for (int64_t c = 0; c < cols; ++c) o[c] = f32_to_f16(tmp[size_t(c)]);
    }
  });
}

}  // namespace tritium
