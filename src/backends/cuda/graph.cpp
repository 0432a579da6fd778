#include "backends/cuda/graph.h"

#include <cstdio>
#include <utility>

#include "backends/cuda/driver_api.h"
#include "backends/cuda/kernel_profile.h"
#include "backends/cuda/stream.h"

namespace tritium::cuda {

CudaGraph::~CudaGraph() { reset(); }

CudaGraph::CudaGraph(CudaGraph&& o) noexcept
    : exec_(std::exchange(o.exec_, nullptr)), device_(o.device_), pool_(std::exchange(o.pool_, 0)) {}

CudaGraph& CudaGraph::operator=(CudaGraph&& o) noexcept {
  if (this != &o) {
    reset();
    exec_ = std::exchange(o.exec_, nullptr);
    device_ = o.device_;
    pool_ = std::exchange(o.pool_, 0);
  }
  return *this;
}

void CudaGraph::reset() noexcept {
  try {
    if (exec_) {
      make_current(device_);
      CUresult r = api().cuGraphExecDestroy(exec_);
      if (r != CUDA_SUCCESS) std::fprintf(stderr, "tritium: cuGraphExecDestroy failed: %s\n", error_text(r).c_str());
    }
    if (pool_) caching_allocator().release_pool(pool_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tritium: destroying a CUDA graph: %s\n", e.what());
  }
  exec_ = nullptr;
  pool_ = 0;
}

CudaGraph CudaGraph::capture(int device_index, StreamHandle stream, const std::function<void()>& fn,
                             CachingAllocator::PoolId shared_pool) {
  make_current(device_index);
  TRITIUM_CHECK(stream != nullptr, "CudaGraph::capture needs a non-default stream");
  TRITIUM_CHECK(!stream_is_capturing(stream), "CudaGraph::capture: the stream is already capturing");
  CachingAllocator& alloc = caching_allocator();
  CudaGraph result;
  result.device_ = device_index;
  if (!shared_pool) result.pool_ = alloc.create_pool();  // released by result's destructor on any error below
  const CachingAllocator::PoolId pool = shared_pool ? shared_pool : result.pool_;

  CUgraph graph = nullptr;
  {
    StreamGuard guard(device_index, stream);
    // Relaxed: allocations (cuMemAlloc on a pool miss) and module loads may happen meanwhile.
    TRITIUM_CU(cuStreamBeginCapture_v2, to_cu(stream), CU_STREAM_CAPTURE_MODE_RELAXED);
    alloc.begin_pool(pool, device_index);
    try {
      fn();
    } catch (...) {
      alloc.end_pool();
      CUgraph partial = nullptr;
      if (api().cuStreamEndCapture(to_cu(stream), &partial) == CUDA_SUCCESS && partial) api().cuGraphDestroy(partial);
      throw;
    }
    alloc.end_pool();
    CUresult r = api().cuStreamEndCapture(to_cu(stream), &graph);
    if (r != CUDA_SUCCESS) {
      if (graph) api().cuGraphDestroy(graph);
      throw Error(str_cat("CUDA graph capture failed: cuStreamEndCapture: ", error_text(r),
                          " (the captured function did something that cannot be captured: a synchronous copy, a "
                          "synchronize, or work on another stream)"));
    }
  }
  CUgraphExec exec = nullptr;
  CUresult r = api().cuGraphInstantiateWithFlags(&exec, graph, 0);
  api().cuGraphDestroy(graph);  // the executable graph does not need it
  check(r, "cuGraphInstantiateWithFlags");
  result.exec_ = exec;
  return result;
}

void CudaGraph::replay(StreamHandle stream) const {
  TRITIUM_CHECK(exec_ != nullptr, "CudaGraph::replay on an empty graph");
  make_current(device_);
  kernel_profile_scope(device_, stream, "cuda graph replay", [&] { TRITIUM_CU(cuGraphLaunch, exec_, to_cu(stream)); });
}

void GraphCache::run(int key, const std::function<void()>& fn) {
  auto it = graphs_.find(key);
  if (it == graphs_.end()) it = graphs_.emplace(key, CudaGraph::capture(device_, stream_, fn)).first;
  it->second.replay(stream_);
}

}  // namespace tritium::cuda
