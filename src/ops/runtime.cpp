#include "ops/runtime.h"

#include <algorithm>
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

void* StagingBuffer::host(Device dev, size_t bytes) {
  wait_uploads(dev);  // whatever this buffer last sent has left it
  if (!buf_.defined() || dev_ != dev || buf_.nbytes() < bytes) {
    if (buf_.defined()) wait_uploads(dev_);
    buf_ = staging_tensor({int64_t(std::max<size_t>(bytes, 16384))}, DType::U8, dev);
    dev_ = dev;
  }
  return buf_.data();
}

void StagingBuffer::upload(const Tensor& dst, size_t bytes) {
  TRITIUM_CHECK(buf_.defined() && bytes <= buf_.nbytes() && bytes <= dst.nbytes() && dst.is_contiguous(),
                "StagingBuffer::upload: ", bytes, " bytes to ", dst.str());
  Tensor to = Tensor::from_blob(dst.data(), {int64_t(bytes)}, DType::U8, dst.device(), dst.holder());
  upload_async(to, buf_.narrow(0, 0, int64_t(bytes)));
}

void synchronize(Device dev) {
  if (const RuntimeTable* rt = runtime_for(dev)) rt->synchronize(dev);
}

}  // namespace tritium::ops
