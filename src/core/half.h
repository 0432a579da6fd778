// bf16 / f16 / fp8-e4m3 <-> f32 conversions (round-to-nearest-even on the way down).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace tritium {

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0) {
    if (man == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        man <<= 1;
      } while ((man & 0x400u) == 0);
      u = sign | uint32_t(127 - 15 - e) << 23 | (man & 0x3ffu) << 13;
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | man << 13;
  } else {
    u = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow -> inf
  if (a < 0x38800000u) {                                  // subnormal or zero
    if (a < 0x33000000u) return uint16_t(sign);
    uint32_t exp = a >> 23;
    uint32_t man = (a & 0x7fffffu) | 0x800000u;
    // value = man * 2^(exp-150); the f16 subnormal unit is 2^-24, so q = man * 2^(exp-126).
    uint32_t shift = 126 - exp;  // 14..24
    uint32_t q = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return uint16_t(sign | q);
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u);  // round to nearest even at bit 13
  return uint16_t(sign | ((r - 0x38000000u) >> 13));
}

// OCP fp8 e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN, max 448.
inline float fp8e4m3_to_f32(uint8_t v) {
  uint32_t sign = uint32_t(v & 0x80u) << 24;
  uint32_t exp = (v >> 3) & 0xfu;
  uint32_t man = v & 0x7u;
  if (exp == 0xf && man == 0x7) {
    uint32_t u = sign | 0x7fc00000u;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  float mag;
  if (exp == 0) {
    mag = float(man) * (1.0f / 512.0f);  // man * 2^-9
  } else {
    uint32_t u = (exp + 120) << 23 | man << 20;
    std::memcpy(&mag, &u, 4);
  }
  return sign ? -mag : mag;
}

// f32 -> fp8 e4m3fn, round to nearest even, saturating at +-448 as the GPU's
// cvt.rn.satfinite does (no infinity to overflow to); NaN stays NaN.
inline uint8_t f32_to_fp8e4m3(float f) {
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  if (std::isnan(f)) return sign | 0x7f;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  if (a == 0.0f) return sign;
  int e = 0;
  std::frexp(a, &e);                    // a = m * 2^e, m in [0.5, 1)
  e = e - 1 < -6 ? -6 : e - 1;          // a = 1.m * 2^e; below 2^-6 the subnormal step 2^-9
  const int q = int(std::nearbyint(std::ldexp(a, 3 - e)));  // a in steps of 2^(e-3): 8..16 (0..8)
  return uint8_t(sign | ((e + 6) * 8 + q));  // codes of one binade are contiguous; q = 16 carries
}

}  // namespace tritium
