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

void download_async(Tensor& dst, const Tensor& src) {
  TRITIUM_CHECK(dst.device().is_cpu() && src.is_contiguous() && dst.is_contiguous() && src.nbytes() == dst.nbytes(),
                "download_async: ", src.str(), " -> ", dst.str(), " needs contiguous tensors of equal size, to the CPU");
  if (src.device().is_cpu()) {
    std::memcpy(dst.data(), src.data(), src.nbytes());
    return;
  }
  const RuntimeTable* rt = runtime_for(src.device());
  TRITIUM_CHECK(rt, "no runtime registered for ", src.device().str());
  rt->download_async(dst.data(), src.device(), src.data(), src.nbytes());
}

Fence::~Fence() {
  if (f_) rt_->fence_destroy(f_);
}

void Fence::record(Device dev) {
  const RuntimeTable* rt = runtime_for(dev);
  if (!rt) return;  // the CPU: done already
  if (f_ && rt_ != rt) {
    rt_->fence_destroy(f_);
    f_ = nullptr;
  }
  if (!f_) {
    f_ = rt->fence_create(dev);
    rt_ = rt;
  }
  rt->fence_record(f_, dev);
  pending_ = true;
}

void Fence::wait() {
  if (!pending_) return;
  rt_->fence_wait(f_);
  pending_ = false;
}

void* StagingBuffer::host(Device dev, size_t bytes) {
  cur_ ^= 1;
  Slot& s = slots_[cur_];
  s.sent.wait();  // what this buffer sent last has left it
  if (!s.buf.defined() || dev_ != dev || s.buf.nbytes() < bytes) {
    for (Slot& o : slots_) o.sent.wait();
    if (dev_ != dev)
      for (Slot& o : slots_) o.buf = Tensor();
    s.buf = staging_tensor({int64_t(std::max<size_t>(bytes, 16384))}, DType::U8, dev);
    dev_ = dev;
  }
  return s.buf.data();
}

void StagingBuffer::upload(const Tensor& dst, size_t bytes) {
  Slot& s = slots_[cur_];
  TRITIUM_CHECK(s.buf.defined() && bytes <= s.buf.nbytes() && bytes <= dst.nbytes() && dst.is_contiguous(),
                "StagingBuffer::upload: ", bytes, " bytes to ", dst.str());
  Tensor to = Tensor::from_blob(dst.data(), {int64_t(bytes)}, DType::U8, dst.device(), dst.holder());
  upload_async(to, s.buf.narrow(0, 0, int64_t(bytes)));
  s.sent.record(dst.device());
}

void synchronize(Device dev) {
  if (const RuntimeTable* rt = runtime_for(dev)) rt->synchronize(dev);
}

void set_dependent_launch(Device dev, bool on) {
  if (const RuntimeTable* rt = runtime_for(dev); rt && rt->set_dependent_launch) rt->set_dependent_launch(dev, on);
}

}  // namespace tritium::ops
