#include "ops/runtime.h"

#include <cstring>

namespace tritium::ops {

namespace {
const RuntimeTable* g_runtimes[2] = {nullptr, nullptr};

const RuntimeTable* runtime_for(Device dev) { return dev.is_cpu() ? nullptr : g_runtimes[int(dev.type)]; }
}  // namespace

void register_runtime(DeviceType type, const RuntimeTable* table) { g_runtimes[int(type)] = table; }

std::unique_ptr<DeviceGraphs> make_graphs(Device dev) {
  const RuntimeTable* rt = runtime_for(dev);
  return rt && rt->make_graphs ? rt->make_graphs(dev) : nullptr;
}

Tensor staging_tensor(const Shape& shape, DType dtype, Device dev) {
  const RuntimeTable* rt = runtime_for(dev);
  if (!rt || !rt->host_alloc) return Tensor::empty(shape, dtype, Device::cpu());
  size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  void* p = rt->host_alloc(dev, bytes ? bytes : 1);
  auto free_fn = rt->host_free;
  return Tensor::from_blob(p, shape, dtype, Device::cpu(), std::shared_ptr<void>(p, [free_fn, dev](void* q) { free_fn(dev, q); }));
}

void upload_async(Tensor& dst, const Tensor& src) {
  TRITIUM_CHECK(src.device().is_cpu() && src.is_contiguous() && dst.is_contiguous() && src.nbytes() == dst.nbytes(),
                "upload_async: ", src.str(), " -> ", dst.str(), " needs contiguous tensors of equal size, from the CPU");
  if (dst.device().is_cpu()) {
    std::memcpy(dst.data(), src.data(), src.nbytes());
    return;
  }
  const RuntimeTable* rt = runtime_for(dst.device());
  TRITIUM_CHECK(rt, "no runtime registered for ", dst.device().str());
  rt->upload_async(dst.data(), dst.device(), src.data(), src.nbytes());
}

void wait_uploads(Device dev) {
  if (const RuntimeTable* rt = runtime_for(dev)) rt->wait_uploads(dev);
}

void synchronize(Device dev) {
  if (const RuntimeTable* rt = runtime_for(dev)) rt->synchronize(dev);
}

}  // namespace tritium::ops
