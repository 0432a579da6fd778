// CUDA runtime on a real GPU: allocator, copies, the smoke kernels through KernelRunner (fresh
// random inputs each run), argument checks, CUDA graph capture + replay. Without a GPU every
// test prints "SKIPPED: no CUDA device".
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/allocator.h"
#include "backends/cuda/driver.h"
#include "backends/cuda/graph.h"
#include "backends/cuda/kernel_runner.h"
#include "backends/cuda/stream.h"
#include "core/error.h"
#include "core/tensor.h"

using namespace tritium;
using namespace tritium::cuda;

namespace {

class CudaRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) {
      std::printf("SKIPPED: no CUDA device (%s)\n", unavailable_reason().c_str());
      GTEST_SKIP() << "SKIPPED: no CUDA device (" << unavailable_reason() << ")";
    }
    init(0);
    static bool printed = false;
    if (!printed) {
      DeviceInfo d = device_info(0);
      std::printf("device: %s, sm_%d%d, %d SMs, %.1f GiB, driver %d\n", d.name.c_str(), d.cc_major, d.cc_minor,
                  d.sm_count, double(d.total_memory) / double(1 << 30), d.driver_version);
      printed = true;
    }
  }

  static std::mt19937& rng() {
    static std::mt19937 g = [] {
      unsigned seed = std::random_device{}();
      std::printf("random seed: %u\n", seed);
      return std::mt19937(seed);
    }();
    return g;
  }
  static std::vector<float> random_floats(size_t n) {
    std::uniform_real_distribution<float> d(-4.f, 4.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng());
    return v;
  }
  static void* dev_alloc(size_t bytes) { return caching_allocator().allocate(bytes, 0); }
  static void dev_free(void* p, size_t bytes) { caching_allocator().deallocate(p, bytes, 0); }
  static StreamHandle stream() { return current_stream(0); }
  static uint32_t blocks(int64_t n, int64_t block) { return uint32_t((n + block - 1) / block); }
};

TEST_F(CudaRuntime, AllocatorRoundTripsAndReuses) {
  CachingAllocator& a = caching_allocator();
  for (size_t bytes : {size_t(1), size_t(4096), size_t(3) << 20, size_t(100) << 20}) {
    std::vector<uint8_t> h(bytes), back(bytes, 0);
    for (size_t i = 0; i < bytes; ++i) h[i] = uint8_t(i * 131 + 7);
    void* d = dev_alloc(bytes);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d) % 256, 0u);
    memcpy_htod(d, h.data(), bytes);
    memcpy_dtoh(back.data(), d, bytes);
    EXPECT_EQ(std::memcmp(h.data(), back.data(), bytes), 0) << bytes << " bytes";
    AllocatorStats before = a.stats(0);
    dev_free(d, bytes);
    AllocatorStats freed = a.stats(0);
    EXPECT_EQ(freed.allocated_bytes + CachingAllocator::round_size(bytes), before.allocated_bytes);
    EXPECT_EQ(freed.cached_bytes, before.cached_bytes + CachingAllocator::round_size(bytes));
    void* again = dev_alloc(bytes);  // same size class: served from the cache
    EXPECT_EQ(again, d);
    EXPECT_EQ(a.stats(0).num_cache_hits, freed.num_cache_hits + 1);
    dev_free(again, bytes);
  }
  a.empty_cache(0);
  EXPECT_EQ(a.stats(0).cached_bytes, 0u);
  size_t free_b = 0, total_b = 0;
  mem_get_info(0, &free_b, &total_b);
  EXPECT_GT(total_b, free_b);
}

TEST_F(CudaRuntime, TensorCopiesHostDeviceHost) {
  auto vals = random_floats(12345);
  Tensor h = Tensor::empty({3, 4115}, DType::F32);
  std::memcpy(h.data(), vals.data(), vals.size() * 4);
  Tensor d = h.to(Device::cuda(0));
  EXPECT_TRUE(d.device().is_cuda());
  Tensor d2 = Tensor::empty({3, 4115}, DType::F32, Device::cuda(0));
  d2.copy_from(d);  // device to device
  Tensor back = d2.to(Device::cpu());
  EXPECT_EQ(std::memcmp(back.data(), vals.data(), vals.size() * 4), 0);
  Tensor z = Tensor::zeros({1000}, DType::BF16, Device::cuda(0)).to(Device::cpu());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(z.data<uint16_t>()[i], 0) << i;
}

TEST_F(CudaRuntime, SmokeFillWritesExactlyN) {
  auto& kr = KernelRunner::for_device(0);
  std::uniform_int_distribution<int> dn(1, 5000);
  const int n = dn(rng());
  const int pad = 300;
  const size_t bytes = size_t(n + pad) * 4;
  void* d = dev_alloc(bytes);
  memset_d32_async(d, 0x7fc00001u, size_t(n + pad), stream());  // a NaN pattern
  const float value = random_floats(1)[0];
  kr.launch("smoke_fill_f32", {blocks(n, 256)}, stream(), {d, value, int32_t(n)});
  std::vector<uint32_t> out(size_t(n + pad));
  memcpy_dtoh(out.data(), d, bytes);
  uint32_t want;
  std::memcpy(&want, &value, 4);
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], want) << "element " << i << " of " << n;
  for (int i = n; i < n + pad; ++i) ASSERT_EQ(out[i], 0x7fc00001u) << "wrote past n at " << i;
  dev_free(d, bytes);
}

TEST_F(CudaRuntime, SmokeAddMatchesCpuOnRandomInputs) {
  auto& kr = KernelRunner::for_device(0);
  std::printf("smoke_add_f32 uses %s (%s)\n", kr.entry("smoke_add_f32").cubin.c_str(), kr.pack().origin().c_str());
  for (int rep = 0; rep < 3; ++rep) {
    std::uniform_int_distribution<int> dn(1, 200000);
    const int n = dn(rng());
    auto x = random_floats(size_t(n)), y = random_floats(size_t(n));
    const float alpha = random_floats(1)[0];
    Tensor hx = Tensor::from_blob(x.data(), {n}, DType::F32, Device::cpu(), nullptr);
    Tensor hy = Tensor::from_blob(y.data(), {n}, DType::F32, Device::cpu(), nullptr);
    Tensor dx = hx.to(Device::cuda(0)), dy = hy.to(Device::cuda(0));
    Tensor dout = Tensor::empty({n}, DType::F32, Device::cuda(0));
    kr.launch("smoke_add_f32", {blocks(n, 1024)}, stream(), {dx, dy, dout, alpha, int32_t(n)});
    Tensor out = dout.to(Device::cpu());
    for (int i = 0; i < n; ++i) {
      const float ref = x[i] + alpha * y[i];
      const float fma = std::fma(alpha, y[i], x[i]);
      const float got = out.data<float>()[i];
      ASSERT_TRUE(got == ref || got == fma || std::fabs(got - ref) <= 1e-6f * std::max(1.f, std::fabs(ref)))
          << "i=" << i << " n=" << n << " got " << got << " want " << ref;
    }
  }
}

TEST_F(CudaRuntime, SmokeAddI64PassesWideScalars) {
  auto& kr = KernelRunner::for_device(0);
  const int n = 777;
  std::vector<int64_t> x(n);
  for (int i = 0; i < n; ++i) x[i] = int64_t(rng()()) - (int64_t(1) << 31);
  const int64_t delta = (int64_t(1) << 40) + 12345;  // does not fit in 32 bits
  void* dx = dev_alloc(n * 8);
  void* dout = dev_alloc(n * 8);
  memcpy_htod(dx, x.data(), n * 8);
  kr.launch("smoke_add_i64", {blocks(n, 512)}, stream(), {dx, dout, delta, int32_t(n)});
  std::vector<int64_t> out(n);
  memcpy_dtoh(out.data(), dout, n * 8);
  for (int i = 0; i < n; ++i) ASSERT_EQ(out[i], x[i] + delta) << i;
  dev_free(dx, n * 8);
  dev_free(dout, n * 8);
}

TEST_F(CudaRuntime, ArgumentMistakesAreClearErrors) {
  auto& kr = KernelRunner::for_device(0);
  void* d = dev_alloc(4096);
  auto expect_error = [&](std::initializer_list<KernelArg> args, const char* kernel, const std::string& needle) {
    try {
      kr.launch(kernel, {1}, stream(), args);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error({d, 1.0f}, "smoke_fill_f32", "takes 3 arguments");
  expect_error({d, int32_t(1), int32_t(4)}, "smoke_fill_f32", "'value' (fp32) needs a float32");
  expect_error({1.0f, 1.0f, int32_t(4)}, "smoke_fill_f32", "needs a pointer");
  expect_error({static_cast<char*>(d) + 4, 1.0f, int32_t(4)}, "smoke_fill_f32", "aligned");
  expect_error({d, 1.0f, int64_t(1) << 40}, "smoke_fill_f32", "out of range");
  expect_error({d}, "no_such_kernel", "unknown kernel 'no_such_kernel'");
  EXPECT_FALSE(kr.fits("smoke_fill_f32", {static_cast<char*>(d) + 4, 1.0f, int32_t(4)}));
  EXPECT_TRUE(kr.fits("smoke_fill_f32", {d, 1.0f, int32_t(4)}));
  kr.launch("smoke_fill_f32", {0}, stream(), {d, 1.0f, int32_t(4)});  // empty grid: no launch, no error
  synchronize(0);
  dev_free(d, 4096);
}

TEST_F(CudaRuntime, GraphReplayIsBitIdenticalToEager) {
  auto& kr = KernelRunner::for_device(0);
  kr.preload("smoke_add_f32");
  kr.preload("smoke_fill_f32");
  const int n = 50000;
  const size_t bytes = size_t(n) * 4;
  Stream s(0);
  void* dx = dev_alloc(bytes);
  void* dy = dev_alloc(bytes);
  void* eager_out = dev_alloc(bytes);
  void* graph_out = dev_alloc(bytes);
  const float alpha = 0.37f;
  // out = (x + alpha*y) + 0.5 * fill(1.25): two dependent launches and a temporary.
  auto work = [&](void* out, StreamHandle st) {
    void* tmp = dev_alloc(bytes);  // allocated inside the capture: comes from the graph's pool
    void* ones = dev_alloc(bytes);
    kr.launch("smoke_fill_f32", {blocks(n, 256)}, st, {ones, 1.25f, int32_t(n)});
    kr.launch("smoke_add_f32", {blocks(n, 1024)}, st, {dx, dy, tmp, alpha, int32_t(n)});
    kr.launch("smoke_add_f32", {blocks(n, 1024)}, st, {tmp, ones, out, 0.5f, int32_t(n)});
    dev_free(tmp, bytes);
    dev_free(ones, bytes);
  };
  auto upload_inputs = [&] {
    auto x = random_floats(n), y = random_floats(n);
    memcpy_htod_async(dx, x.data(), bytes, s.handle());
    memcpy_htod_async(dy, y.data(), bytes, s.handle());
    s.synchronize();
  };
  upload_inputs();
  CudaGraph g = CudaGraph::capture(0, s.handle(), [&] { work(graph_out, current_stream(0)); });
  ASSERT_TRUE(g.valid());
  for (int round = 0; round < 3; ++round) {
    if (round > 0) upload_inputs();  // the graph must read the buffers' current contents
    work(eager_out, s.handle());
    memset_d8_async(graph_out, 0xff, bytes, s.handle());
    g.replay(s.handle());
    g.replay(s.handle());  // replaying twice gives the same result
    s.synchronize();
    std::vector<uint32_t> e(n), r(n);
    memcpy_dtoh(e.data(), eager_out, bytes);
    memcpy_dtoh(r.data(), graph_out, bytes);
    ASSERT_EQ(std::memcmp(e.data(), r.data(), bytes), 0) << "round " << round;
  }
  dev_free(dx, bytes);
  dev_free(dy, bytes);
  dev_free(eager_out, bytes);
  dev_free(graph_out, bytes);
}

TEST_F(CudaRuntime, GraphCacheCapturesOncePerKey) {
  auto& kr = KernelRunner::for_device(0);
  kr.preload("smoke_fill_f32");
  Stream s(0);
  GraphCache cache(0, s.handle());
  const int n = 4096;
  void* d = dev_alloc(n * 4);
  int captures = 0;
  for (int key : {1, 2, 1, 2, 1}) {
    const float v = float(key) * 1.5f;
    cache.run(key, [&] {
      ++captures;
      kr.launch("smoke_fill_f32", {blocks(n, 256)}, current_stream(0), {d, v, int32_t(n)});
    });
    s.synchronize();
    std::vector<float> out(n);
    memcpy_dtoh(out.data(), d, n * 4);
    ASSERT_EQ(out[0], v);
    ASSERT_EQ(out[n - 1], v);
  }
  EXPECT_EQ(captures, 2);
  EXPECT_EQ(cache.size(), 2u);
  cache.clear();
  dev_free(d, n * 4);
}

TEST_F(CudaRuntime, CaptureRejectsSynchronousCopies) {
  Stream s(0);
  std::vector<float> h(16);
  void* d = dev_alloc(64);
  EXPECT_THROW(CudaGraph::capture(0, s.handle(), [&] { memcpy_dtoh(h.data(), d, 64); }), Error);
  // The stream is usable again afterwards.
  memset_d8_async(d, 0, 64, s.handle());
  s.synchronize();
  dev_free(d, 64);
}

TEST_F(CudaRuntime, BlocksFreedDuringCaptureStayWithTheGraph) {
  auto& kr = KernelRunner::for_device(0);
  kr.preload("smoke_fill_f32");
  Stream s(0);
  const int n = 3000;
  const size_t bytes = n * 4;
  void* pre = dev_alloc(bytes);  // allocated before the capture, freed inside it
  void* inside = nullptr;
  CudaGraph g = CudaGraph::capture(0, s.handle(), [&] {
    kr.launch("smoke_fill_f32", {blocks(n, 256)}, current_stream(0), {pre, 1.0f, int32_t(n)});
    dev_free(pre, bytes);
    inside = dev_alloc(bytes);  // may reuse `pre`: stream-ordered within the graph, fine
    kr.launch("smoke_fill_f32", {blocks(n, 256)}, current_stream(0), {inside, 2.0f, int32_t(n)});
    dev_free(inside, bytes);
  });
  // Neither block may be handed out while the graph lives: its replays write them.
  std::vector<void*> later;
  for (int i = 0; i < 4; ++i) later.push_back(dev_alloc(bytes));
  for (void* p : later) {
    EXPECT_NE(p, pre);
    EXPECT_NE(p, inside);
  }
  g.replay(s.handle());
  s.synchronize();
  for (void* p : later) dev_free(p, bytes);
}

TEST_F(CudaRuntime, CaptureLoadsModulesLazily) {
  KernelRunner fresh(0, KernelPack::load_default());  // nothing loaded yet
  Stream s(0);
  const int n = 1000;
  void* d = dev_alloc(n * 4);
  CudaGraph g = CudaGraph::capture(0, s.handle(), [&] {
    fresh.launch("smoke_fill_f32", {blocks(n, 256)}, current_stream(0), {d, 2.5f, int32_t(n)});
  });
  g.replay(s.handle());
  s.synchronize();
  std::vector<float> out(n);
  memcpy_dtoh(out.data(), d, n * 4);
  EXPECT_EQ(out[0], 2.5f);
  EXPECT_EQ(out[n - 1], 2.5f);
  dev_free(d, n * 4);
}

TEST_F(CudaRuntime, EveryKernelInThePackLoads) {
  // Every cubin for this GPU loads, except those needing more shared memory than it allows a
  // block (tiles tuned on the H100, on a 99 KB sm86 / sm89 / sm120 GPU): those are refused with
  // an error that says so (and the op catalog leaves them out).
  auto& kr = KernelRunner::for_device(0);
  const int64_t limit = cuda::device_info(0).max_shared_per_block_optin;
  size_t loadable = 0, big_shared = 0, too_big = 0;
  for (const auto& name : kr.pack().names()) {
    if (!kr.has(name)) continue;
    ++loadable;
    const KernelEntry& e = kr.entry(name);
    if (e.shared > 48 * 1024) ++big_shared;
    const bool fits = e.shared <= limit;
    too_big += fits ? 0 : 1;
    try {
      kr.preload(name);
      EXPECT_TRUE(fits) << name << " needs " << e.shared << " bytes of shared memory but loaded (limit " << limit << ")";
    } catch (const Error& err) {
      if (fits) ADD_FAILURE() << err.what();
      else EXPECT_NE(std::string(err.what()).find("shared memory"), std::string::npos) << err.what();
    }
  }
  std::printf("%zu of %zu kernels in the pack (%s) have a cubin for sm_%d%d; %zu use > 48 KiB shared; %zu need more "
              "than this GPU's %lld bytes a block\n",
              loadable, kr.pack().names().size(), kr.pack().origin().c_str(), kr.cc_major(), kr.cc_minor(),
              big_shared, too_big, (long long)limit);
  EXPECT_GT(loadable, too_big);
}

TEST_F(CudaRuntime, EventsTime) {
  auto& kr = KernelRunner::for_device(0);
  const int n = 1 << 22;
  void* d = dev_alloc(size_t(n) * 4);
  Event a(0), b(0);
  a.record(stream());
  for (int i = 0; i < 10; ++i) kr.launch("smoke_fill_f32", {blocks(n, 256)}, stream(), {d, 1.0f, int32_t(n)});
  b.record(stream());
  b.synchronize();
  float ms = b.elapsed_ms_since(a);
  std::printf("10 x fill of 16 MiB: %.3f ms (%.0f GB/s)\n", ms, 10.0 * n * 4 / (ms * 1e-3) / 1e9);
  EXPECT_GT(ms, 0.f);
  dev_free(d, size_t(n) * 4);
}

}  // namespace

#else
TEST(CudaRuntime, NotBuilt) {
  std::printf("SKIPPED: no CUDA device (tritium built without the CUDA backend)\n");
  GTEST_SKIP() << "SKIPPED: no CUDA device (built without the CUDA backend)";
}
#endif
