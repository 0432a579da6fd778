#include "backends/cuda/allocator.h"

#include <bit>
#include <cstdio>

#include "backends/cuda/driver_api.h"
#include "core/error.h"

namespace tritium::cuda {

namespace {
constexpr size_t kMinBlock = 512;
constexpr size_t kLargeThreshold = size_t(64) << 20;  // 64 MiB
constexpr size_t kLargeGranule = size_t(2) << 20;     // 2 MiB

// The pool this thread allocates from (0: general), and for which device.
thread_local CachingAllocator::PoolId t_pool = 0;
thread_local int t_pool_device = -1;

std::string mib(size_t b) { return str_cat(double(b) / double(1 << 20), " MiB"); }
}  // namespace

CachingAllocator& caching_allocator() {
  static CachingAllocator* a = new CachingAllocator();  // never destroyed: outlives all tensors
  return *a;
}

size_t CachingAllocator::round_size(size_t bytes) {
  if (bytes <= kMinBlock) return kMinBlock;
  if (bytes >= kLargeThreshold) return (bytes + kLargeGranule - 1) / kLargeGranule * kLargeGranule;
  size_t p = std::bit_floor(bytes);  // p >= 512
  size_t step = p / 4;
  return (bytes + step - 1) / step * step;
}

void* CachingAllocator::driver_alloc(size_t size, int device_index) {
  CUdeviceptr p = 0;
  CUresult r = api().cuMemAlloc_v2(&p, size);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) {
    // Give the cache back to the driver and try once more. Cached blocks may still be read by
    // queued kernels, so wait for the device first (not possible while capturing a graph).
    if (t_pool == 0 && api().cuCtxSynchronize() == CUDA_SUCCESS) free_cached_locked(device_index);
    r = api().cuMemAlloc_v2(&p, size);
  }
  if (r == CUDA_ERROR_OUT_OF_MEMORY) {
    size_t f = 0, t = 0;
    api().cuMemGetInfo_v2(&f, &t);
    const AllocatorStats& s = stats_[device_index];
    throw Error(str_cat("CUDA out of memory allocating ", mib(size), " on cuda:", device_index, " (tritium: ",
                        mib(s.allocated_bytes), " allocated, ", mib(s.cached_bytes), " cached; device: ", mib(f),
                        " free of ", mib(t), ")"));
  }
  check(r, "cuMemAlloc_v2");
  st(device_index).num_driver_allocs++;
  return reinterpret_cast<void*>(static_cast<uintptr_t>(p));
}

void* CachingAllocator::allocate(size_t bytes, int device_index) {
  make_current(device_index);
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  PoolId pool = (t_pool != 0 && t_pool_device == device_index) ? t_pool : 0;
  AllocatorStats& s = st(device_index);
  s.num_allocs++;
  void* p = nullptr;
  auto fl = free_.find({device_index, pool});
  if (fl != free_.end()) {
    auto it = fl->second.find(size);
    if (it != fl->second.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      if (it->second.empty()) fl->second.erase(it);
      s.cached_bytes -= size;
      s.num_cache_hits++;
    }
  }
  if (!p) p = driver_alloc(size, device_index);
  live_[p] = Block{size, bytes, device_index, pool};
  if (pool != 0) pools_[pool].live_blocks++;
  s.allocated_bytes += size;
  s.requested_bytes += bytes;
  if (s.allocated_bytes > s.peak_allocated_bytes) s.peak_allocated_bytes = s.allocated_bytes;
  return p;
}

void CachingAllocator::deallocate(void* p, size_t bytes, int device_index) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(p);
  if (it == live_.end()) {
    // Called from tensor destructors: report, never throw.
    std::fprintf(stderr, "tritium: CUDA allocator: free of unknown pointer %p (%zu bytes, cuda:%d) ignored\n", p,
                 bytes, device_index);
    return;
  }
  Block b = it->second;
  live_.erase(it);
  AllocatorStats& s = st(b.device);
  s.allocated_bytes -= b.size;
  s.requested_bytes -= b.requested;
  PoolId pool = b.pool;
  if (b.pool != 0) {
    auto ps = pools_.find(b.pool);
    if (ps == pools_.end()) {
      pool = 0;
    } else {
      ps->second.live_blocks--;
      if (ps->second.released) {
        if (ps->second.live_blocks == 0) pools_.erase(ps);
        pool = 0;  // the graph is gone: the block rejoins the general pool
      }
    }
  }
  if (t_pool != 0 && t_pool_device == b.device && pool != t_pool) {
    // Freed during a capture: the graph being captured may use this block at replay, so it
    // joins that graph's pool (and the general pool again when the graph is destroyed).
    auto ps = pools_.find(t_pool);
    if (ps != pools_.end() && !ps->second.released) pool = t_pool;
  }
  free_[{b.device, pool}][b.size].push_back(p);
  s.cached_bytes += b.size;
}

void CachingAllocator::free_cached_locked(int device_index) {
  for (auto it = free_.begin(); it != free_.end();) {
    auto [dev, pool] = it->first;
    bool releasable = pool == 0 || pools_.find(pool) == pools_.end() || pools_[pool].released;
    if ((device_index >= 0 && dev != device_index) || !releasable) {
      ++it;
      continue;
    }
    AllocatorStats& s = st(dev);
    for (auto& [size, blocks] : it->second) {
      for (void* p : blocks) {
        CUresult r = api().cuMemFree_v2(dptr(p));
        if (r != CUDA_SUCCESS)
          std::fprintf(stderr, "tritium: cuMemFree_v2 failed: %s\n", error_text(r).c_str());
        s.cached_bytes -= size;
        s.num_driver_frees++;
      }
    }
    it = free_.erase(it);
  }
}

void CachingAllocator::empty_cache(int device_index) {
  std::lock_guard<std::mutex> lock(mu_);
  // Kernels still running may use freed (cached) blocks until they finish.
  std::vector<int> devs;
  for (auto& [key, fl] : free_)
    if (device_index < 0 || key.first == device_index) devs.push_back(key.first);
  for (int d : devs) synchronize(d);
  free_cached_locked(device_index);
}

AllocatorStats CachingAllocator::stats(int device_index) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stats_.find(device_index);
  return it == stats_.end() ? AllocatorStats{} : it->second;
}

void CachingAllocator::reset_peak(int device_index) {
  std::lock_guard<std::mutex> lock(mu_);
  AllocatorStats& s = st(device_index);
  s.peak_allocated_bytes = s.allocated_bytes;
}

CachingAllocator::PoolId CachingAllocator::create_pool() {
  std::lock_guard<std::mutex> lock(mu_);
  PoolId id = next_pool_++;
  pools_[id] = PoolState{};
  return id;
}

void CachingAllocator::begin_pool(PoolId pool, int device_index) {
  TRITIUM_CHECK(t_pool == 0, "CUDA allocator: nested graph pools are not supported");
  t_pool = pool;
  t_pool_device = device_index;
}

void CachingAllocator::end_pool() {
  t_pool = 0;
  t_pool_device = -1;
}

void CachingAllocator::release_pool(PoolId pool) {
  if (pool == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto ps = pools_.find(pool);
  if (ps == pools_.end()) return;
  // Move the pool's free blocks to the general pool of their device.
  for (auto it = free_.begin(); it != free_.end();) {
    if (it->first.second != pool) {
      ++it;
      continue;
    }
    FreeList& general = free_[{it->first.first, 0}];
    for (auto& [size, blocks] : it->second)
      general[size].insert(general[size].end(), blocks.begin(), blocks.end());
    it = free_.erase(it);
  }
  if (ps->second.live_blocks == 0) {
    pools_.erase(ps);
  } else {
    ps->second.released = true;
  }
}

bool CachingAllocator::memory_info(int device_index, size_t* free_bytes, size_t* total_bytes) {
  mem_get_info(device_index, free_bytes, total_bytes);
  *free_bytes += stats(device_index).cached_bytes;  // cached blocks are free to this process
  return true;
}

}  // namespace tritium::cuda
