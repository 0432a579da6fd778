// The CUDA RuntimeTable (src/ops/runtime.h): graph sets over one shared allocator pool,
// page-locked staging memory, stream-ordered uploads.
#include <map>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/driver.h"
#include "backends/cuda/driver_api.h"
#include "backends/cuda/graph.h"
#include "backends/cuda/kernel_profile.h"
#include "backends/cuda/kernel_runner.h"
#include "backends/cuda/stream.h"
#include "ops/runtime.h"

namespace tritium::cuda {

namespace {

class CudaDeviceGraphs final : public ops::DeviceGraphs {
 public:
  explicit CudaDeviceGraphs(int device) : device_(device), pool_(caching_allocator().create_pool()) {}
  ~CudaDeviceGraphs() override {
    graphs_.clear();  // before the pool they allocated from
    caching_allocator().release_pool(pool_);
  }
  bool contains(int64_t key) const override { return graphs_.count(key) != 0; }
  void capture(int64_t key, const std::function<void()>& fn) override {
    graphs_.erase(key);
    graphs_.emplace(key, CudaGraph::capture(device_, current_stream(device_), fn, pool_));
  }
  void replay(int64_t key) override {
    auto it = graphs_.find(key);
    TRITIUM_CHECK(it != graphs_.end(), "CUDA graph ", key, " was never captured");
    it->second.replay(current_stream(device_));
  }
  size_t size() const override { return graphs_.size(); }
  void clear() override { graphs_.clear(); }

 private:
  int device_;
  CachingAllocator::PoolId pool_;
  std::map<int64_t, CudaGraph> graphs_;
};

std::unique_ptr<ops::DeviceGraphs> make_graphs(Device dev) { return std::make_unique<CudaDeviceGraphs>(dev.index); }

void* host_alloc(Device dev, size_t bytes) {
  make_current(dev.index);  // any thread may ask (the engine's, say)
  void* p = nullptr;
  TRITIUM_CU(cuMemAllocHost_v2, &p, bytes);
  return p;
}

void host_free(Device dev, void* p) {  // from destructors: never throws
  try {
    make_current(dev.index);
  } catch (...) {
  }
  api().cuMemFreeHost(p);
}

void upload_async(void* dst, Device dev, const void* src, size_t bytes) {
  make_current(dev.index);
  StreamHandle s = current_stream(dev.index);
  kernel_profile_scope(dev.index, s, "copy host->device", [&] { memcpy_htod_async(dst, src, bytes, s); });
}

void download_async(void* dst, Device dev, const void* src, size_t bytes) {
  make_current(dev.index);
  StreamHandle s = current_stream(dev.index);
  kernel_profile_scope(dev.index, s, "copy device->host", [&] { memcpy_dtoh_async(dst, src, bytes, s); });
}

struct CudaFence {
  int device;
  Event event;
  explicit CudaFence(int d) : device(d), event(d) {}
};

void* fence_create(Device dev) { return new CudaFence(dev.index); }

void fence_destroy(void* f) { delete static_cast<CudaFence*>(f); }  // ~Event reports, never throws

void fence_record(void* f, Device dev) {
  auto* cf = static_cast<CudaFence*>(f);
  TRITIUM_CHECK(cf->device == dev.index, "fence of cuda:", cf->device, " recorded on ", dev.str());
  make_current(dev.index);
  cf->event.record(current_stream(dev.index));
}

void fence_wait(void* f) {
  auto* cf = static_cast<CudaFence*>(f);
  make_current(cf->device);
  cf->event.synchronize();
}

void set_dependent_launch(Device dev, bool on) { KernelRunner::for_device(dev.index).set_dependent_launch(on); }

void sync(Device dev) {
  make_current(dev.index);
  TRITIUM_CU(cuStreamSynchronize, to_cu(current_stream(dev.index)));
}

}  // namespace

void register_runtime() {
  static const ops::RuntimeTable t = {&make_graphs, &host_alloc,  &host_free,  &upload_async, &download_async,
                                          &fence_create, &fence_destroy, &fence_record, &fence_wait, &sync,
                                          &set_dependent_launch};
  ops::register_runtime(DeviceType::CUDA, &t);
}

}  // namespace tritium::cuda
