// Core: half-precision conversions, tensors, the thread pool, the block pool.
#include <gtest/gtest.h>

#include <functional>

#include <atomic>
#include <cmath>
#include <cstring>
#include <fstream>

#include "core/file.h"
#include "test_util.h"
#include "core/half.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kv/block_pool.h"

using namespace tritium;

TEST(Half, Bf16RoundTripAndRounding) {
  for (float f : {0.0f, 1.0f, -2.5f, 3.14159f, 1e-20f, 6.5e4f}) EXPECT_NEAR(bf16_to_f32(f32_to_bf16(f)), f, std::fabs(f) / 128);
  // 1 + 2^-8 is exactly half way between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(Half, F16AllValuesRoundTrip) {
  // Every finite f16 value survives f16 -> f32 -> f16 exactly.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // inf / NaN
    float f = f16_to_f32(uint16_t(h));
    EXPECT_EQ(f32_to_f16(f), uint16_t(h)) << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);  // overflow -> inf
}

TEST(Half, Fp8E4M3) {
  EXPECT_EQ(fp8e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(fp8e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8e4m3_to_f32(0xb8), -1.0f);
  EXPECT_EQ(fp8e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(fp8e4m3_to_f32(0x7f)));
}

TEST(Half, F32ToFp8E4M3RoundsToNearestEvenAndSaturates) {
  for (int c = 0; c < 256; ++c) {  // every finite code round-trips
    if ((c & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_fp8e4m3(fp8e4m3_to_f32(uint8_t(c))), c) << c;
  }
  // between each pair of neighbours: below the midpoint, at it (to the even code), above it
  for (int c = 0; c < 0x7e; ++c) {
    const float lo = fp8e4m3_to_f32(uint8_t(c)), hi = fp8e4m3_to_f32(uint8_t(c + 1)), mid = (lo + hi) / 2;
    EXPECT_EQ(f32_to_fp8e4m3(std::nextafter(mid, lo)), c) << c;
    EXPECT_EQ(f32_to_fp8e4m3(mid), c % 2 == 0 ? c : c + 1) << c;
    EXPECT_EQ(f32_to_fp8e4m3(std::nextafter(mid, hi)), c + 1) << c;
    EXPECT_EQ(f32_to_fp8e4m3(-mid), 0x80 | (c % 2 == 0 ? c : c + 1)) << c;
  }
  EXPECT_EQ(f32_to_fp8e4m3(464.0f), 0x7e);  // would round to 480: saturates
  EXPECT_EQ(f32_to_fp8e4m3(1e9f), 0x7e);
  EXPECT_EQ(f32_to_fp8e4m3(-INFINITY), 0xfe);
  EXPECT_EQ(f32_to_fp8e4m3(std::ldexp(1.0f, -11)), 0x00);  // a quarter of the smallest step
  EXPECT_EQ(f32_to_fp8e4m3(-0.0f), 0x80);
  EXPECT_TRUE(std::isnan(fp8e4m3_to_f32(f32_to_fp8e4m3(NAN))));
  Tensor t = Tensor::empty({3}, DType::F32);
  t.data<float>()[0] = 1.0625f, t.data<float>()[1] = -7.9f, t.data<float>()[2] = 1000.f;
  Tensor q = t.to(DType::F8E4M3).to(DType::F32);
  EXPECT_EQ(q.data<float>()[0], 1.0f);
  EXPECT_EQ(q.data<float>()[1], -8.0f);
  EXPECT_EQ(q.data<float>()[2], 448.0f);
}

TEST(Tensor, ViewsNarrowAndCopy) {
  Tensor t = Tensor::empty({4, 6}, DType::F32);
  for (int i = 0; i < 24; ++i) t.data<float>()[i] = float(i);
  Tensor n = t.narrow(1, 2, 3);
  EXPECT_FALSE(n.is_contiguous());
  Tensor c = n.contiguous();
  EXPECT_EQ(c.data<float>()[0], 2.0f);
  EXPECT_EQ(c.data<float>()[3], 8.0f);
  Tensor b = c.to(DType::BF16).to(DType::F32);
  EXPECT_EQ(b.data<float>()[4], 9.0f);
  EXPECT_EQ(t.view({6, -1}).shape(), Shape({6, 4}));
  EXPECT_THROW(n.view({9}), Error);
  EXPECT_THROW(t.narrow(0, 3, 2), Error);
}

TEST(ThreadPool, CoversRangeOnceAndPropagatesErrors) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(1000, 7, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(pool.parallel_for(100, 1, [](int64_t b, int64_t) { if (b > 50) throw Error("boom"); }), Error);
  // Still usable afterwards, and nested calls run inline.
  std::atomic<int> n{0};
  pool.parallel_for(10, 1, [&](int64_t b, int64_t e) {
    pool.parallel_for(e - b, 1, [&](int64_t x, int64_t y) { n += int(y - x); });
  });
  EXPECT_EQ(n.load(), 10);
}

TEST(BlockPool, AllocateReleaseRefCounts) {
  BlockPool pool(4, 16);
  EXPECT_EQ(pool.blocks_for(0), 0);
  EXPECT_EQ(pool.blocks_for(17), 2);
  BlockTable a, b;
  EXPECT_TRUE(a.reserve(pool, 33));  // 3 blocks
  EXPECT_EQ(pool.num_free(), 1);
  EXPECT_FALSE(b.reserve(pool, 40));  // needs 3, one left: no change
  EXPECT_EQ(pool.num_free(), 1);
  EXPECT_TRUE(b.blocks().empty());
  int32_t shared = a.blocks()[0];
  pool.retain(shared);
  EXPECT_EQ(pool.ref_count(shared), 2);
  a.release(pool);
  EXPECT_EQ(pool.num_free(), 3);  // the shared block stays in use
  pool.release(shared);
  EXPECT_EQ(pool.num_free(), 4);
  EXPECT_THROW(pool.release(shared), Error);
  EXPECT_EQ(a.blocks().size(), 0u);
}

TEST(BlockPool, SlotsFollowTheTable) {
  BlockPool pool(8, 4);
  BlockTable t;
  ASSERT_TRUE(t.reserve(pool, 10));
  for (int64_t p = 0; p < 10; ++p) EXPECT_EQ(t.slot(pool, p), t.blocks()[size_t(p / 4)] * 4 + p % 4);
}


namespace {
std::string limit_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tritium::Error& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace
#define EXPECT_LIMIT_ERROR(expr, ...)                                                              \
  do {                                                                                             \
    std::string msg = limit_error_of([&] { (void)(expr); });                                       \
    for (const char* s : {__VA_ARGS__}) EXPECT_NE(msg.find(s), std::string::npos) << "message: " << msg; \
  } while (0)
TEST(FileLimits, LargerThanTheLimitIsRefusedBeforeReading) {
  std::string dir = test::temp_dir("file_limit");
  std::string p = dir + "/config.json";
  { std::ofstream(p) << std::string(2000, ' ') << "{}"; }
  EXPECT_LIMIT_ERROR(read_file(p, 1000, "config.json"), "config.json", "2002 bytes", "limit for config.json (1000 bytes)");
  EXPECT_EQ(read_file(p, 4000, "config.json").size(), 2002u);
  EXPECT_FALSE(try_read_file(dir + "/missing.json", 1000, "x").has_value());
}
