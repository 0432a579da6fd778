// CPU-side checks of the CUDA backend: it must load (or decline) without crashing on a
// machine with no NVIDIA driver, and its pure logic (size classes, argument checks) is testable.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/allocator.h"
#include "backends/cuda/driver.h"
#include "backends/cuda/kernel_runner.h"

using namespace tritium::cuda;

TEST(CudaDriver, AvailabilityQueryNeverCrashes) {
  bool a = cuda_available();
  bool b = cuda_available();  // cached, same answer
  EXPECT_EQ(a, b);
  if (a) {
    EXPECT_GT(device_count(), 0);
    EXPECT_TRUE(unavailable_reason().empty());
  } else {
    EXPECT_EQ(device_count(), 0);
    EXPECT_FALSE(unavailable_reason().empty());
    std::printf("CUDA unavailable here: %s\n", unavailable_reason().c_str());
  }
}

TEST(CudaDriver, InitWithoutCudaThrowsCleanly) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(init(0), tritium::Error);
  EXPECT_FALSE(is_initialized(0));
}

TEST(CudaAllocator, SizeClasses) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 640u);
  EXPECT_EQ(CachingAllocator::round_size(1024), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(1025), 1280u);
  EXPECT_EQ(CachingAllocator::round_size(size_t(64) << 20), size_t(64) << 20);
  EXPECT_EQ(CachingAllocator::round_size((size_t(64) << 20) + 1), (size_t(66) << 20));
  for (size_t n = 1; n < (size_t(1) << 28); n = n * 3 + 7) {
    size_t r = CachingAllocator::round_size(n);
    EXPECT_GE(r, n);
    EXPECT_LE(r, std::max<size_t>(512, n + n / 4 + (size_t(2) << 20))) << n;
    EXPECT_EQ(CachingAllocator::round_size(r), r) << "size classes must be fixed points";
  }
}

TEST(CudaKernelArg, Kinds) {
  float x = 0;
  EXPECT_EQ(KernelArg(&x).kind(), KernelArg::Kind::Ptr);
  EXPECT_EQ(KernelArg(nullptr).kind(), KernelArg::Kind::Ptr);
  EXPECT_EQ(KernelArg(int32_t(3)).kind(), KernelArg::Kind::I32);
  EXPECT_EQ(KernelArg(int64_t(1) << 40).as_int(), int64_t(1) << 40);
  EXPECT_EQ(KernelArg(1.5f).as_float(), 1.5f);
}

#else
TEST(CudaDriver, NotBuilt) { GTEST_SKIP() << "built without the CUDA backend"; }
#endif
