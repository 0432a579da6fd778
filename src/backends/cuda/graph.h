// CUDA graphs: capture the launches a function makes on a stream once, replay them cheaply.
// During capture the capture stream is the thread's current stream (so ops launch on it),
// and device memory allocated inside the capture comes from a pool private to the graph:
// the graph's buffers are never handed to other tensors while the graph lives. Tensors
// allocated during capture and kept by the caller (the outputs) are rewritten on every replay.
#pragma once
#include <functional>
#include <map>
#include <memory>

#include "backends/cuda/allocator.h"
#include "backends/cuda/cuda_types.h"

namespace tritium::cuda {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(CudaGraph&& o) noexcept;
  CudaGraph& operator=(CudaGraph&& o) noexcept;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs fn with `stream` (a non-default stream of device_index, e.g. cuda::default_stream())
  // under capture, and instantiates the result. Nothing runs on the GPU until replay().
  // Host<->device copies, synchronization and module loading must not happen in fn (load
  // kernels first with KernelRunner::preload, or run fn once eagerly).
  // shared_pool != 0: allocate from that pool (create_pool) instead of one of the graph's own;
  // the caller releases it after the graphs that share it are gone.
  static CudaGraph capture(int device_index, StreamHandle stream, const std::function<void()>& fn,
                           CachingAllocator::PoolId shared_pool = 0);

  void replay(StreamHandle stream) const;  // enqueues the graph; does not wait
  bool valid() const { return exec_ != nullptr; }

 private:
  void reset() noexcept;
  CUgraphExec_st* exec_ = nullptr;
  int device_ = 0;
  CachingAllocator::PoolId pool_ = 0;  // owned pool (0 when none or shared)
};

// Graphs keyed by an int (e.g. the decode batch size bucket), all on one stream.
class GraphCache {
 public:
  GraphCache(int device_index, StreamHandle stream) : device_(device_index), stream_(stream) {}
  // Replays the graph for `key`, capturing fn first if there is none yet.
  void run(int key, const std::function<void()>& fn);
  bool contains(int key) const { return graphs_.count(key) != 0; }
  size_t size() const { return graphs_.size(); }
  void clear() { graphs_.clear(); }

 private:
  int device_;
  StreamHandle stream_;
  std::map<int, CudaGraph> graphs_;
};

}  // namespace tritium::cuda
