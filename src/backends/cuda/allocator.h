// Caching device allocator: freed blocks are kept in size-class bins and handed out again
// without a driver call (cuMemAlloc/cuMemFree synchronize and are slow). Reuse is
// stream-ordered: a freed block may be reused by later work on the same stream at once,
// which is safe as long as all work on a device goes through one stream at a time (as in
// tritium's engine loop). Graph captures allocate from private pools (see graph.h) so the
// memory a captured graph uses is never handed to anyone else while the graph lives.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace tritium::cuda {

struct AllocatorStats {
  size_t allocated_bytes = 0;       // blocks in use (rounded sizes)
  size_t requested_bytes = 0;       // blocks in use (as requested)
  size_t cached_bytes = 0;          // free blocks kept for reuse (all pools)
  size_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes
  uint64_t num_allocs = 0;          // allocate() calls
  uint64_t num_cache_hits = 0;      // ... served from the cache
  uint64_t num_driver_allocs = 0;   // cuMemAlloc calls
  uint64_t num_driver_frees = 0;    // cuMemFree calls
};

class CachingAllocator final : public Allocator {
 public:
  using PoolId = uint64_t;  // 0 is the general pool

  void* allocate(size_t bytes, int device_index) override;
  void deallocate(void* p, size_t bytes, int device_index) override;  // never throws
  bool memory_info(int device_index, size_t* free_bytes, size_t* total_bytes) override;

  // Returns the general pool's free blocks (and those of released graph pools) to the driver.
  // device_index -1: every device. Synchronizes the device first.
  void empty_cache(int device_index = -1);
  AllocatorStats stats(int device_index) const;
  void reset_peak(int device_index);

  // The size class a request is served from: 512 B granules up to 512 B, then 4 classes per
  // power of two (at most 25% padding) below 64 MiB, then multiples of 2 MiB.
  static size_t round_size(size_t bytes);

  // Graph pools: between begin_pool and end_pool, this thread's allocations on `device_index`
  // come from (and return to) the pool. release_pool: the owning graph is gone; the pool's
  // blocks rejoin the general pool (blocks still in use do so when they are freed).
  PoolId create_pool();
  void begin_pool(PoolId pool, int device_index);
  void end_pool();
  void release_pool(PoolId pool);

 private:
  struct Block {
    size_t size = 0;       // size class
    size_t requested = 0;  // bytes asked for
    int device = 0;
    PoolId pool = 0;
  };
  struct PoolState {
    bool released = false;
    size_t live_blocks = 0;  // blocks of this pool in use
  };
  using FreeList = std::map<size_t, std::vector<void*>>;  // size class -> free blocks

  void* driver_alloc(size_t size, int device_index);
  void free_cached_locked(int device_index);  // general + released pools
  AllocatorStats& st(int device_index) { return stats_[device_index]; }

  mutable std::mutex mu_;
  std::unordered_map<void*, Block> live_;
  std::map<std::pair<int, PoolId>, FreeList> free_;  // (device, pool) -> free blocks
  std::map<PoolId, PoolState> pools_;
  PoolId next_pool_ = 1;
  std::map<int, AllocatorStats> stats_;
};

// The process-wide allocator (registered for DeviceType::CUDA by cuda::init).
CachingAllocator& caching_allocator();

}  // namespace tritium::cuda
