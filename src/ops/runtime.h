// Device runtime services the model needs beyond the ops, without naming a backend:
// captured graphs of op sequences, page-locked host staging memory, stream-ordered uploads
// and synchronization. Backends register a RuntimeTable; the CPU has none, and every helper
// below has a plain CPU meaning (no graphs, ordinary memory, memcpy, nothing to wait for).
#pragma once
#include <functional>
#include <memory>

#include "core/tensor.h"

namespace tritium::ops {

// Graphs keyed by an integer, all captured and replayed on the device's current stream.
// Every graph of one set allocates its memory from one pool of the set: the graphs must not
// run concurrently (they do not: one stream), and a tensor a graph writes is only valid until
// the next replay of any graph of the set.
class DeviceGraphs {
 public:
  virtual ~DeviceGraphs() = default;
  virtual bool contains(int64_t key) const = 0;
  // Records what fn launches (nothing runs). fn must not copy to or from the host or wait.
  virtual void capture(int64_t key, const std::function<void()>& fn) = 0;
  virtual void replay(int64_t key) = 0;  // enqueues; does not wait
  virtual size_t size() const = 0;
  virtual void clear() = 0;
};

struct RuntimeTable {
  std::unique_ptr<DeviceGraphs> (*make_graphs)(Device dev);
  // Page-locked host memory (so uploads from it are truly asynchronous).
  void* (*host_alloc)(Device dev, size_t bytes);
  void (*host_free)(Device dev, void* p);
  // Copies host -> device in the device's current stream order; returns at once. The host
  // memory must stay untouched until wait_uploads() (or synchronize()) has returned.
  void (*upload_async)(void* dst, Device dev, const void* src, size_t bytes);
  void (*wait_uploads)(Device dev);  // waits until the last upload_async copy has been made
  void (*synchronize)(Device dev);   // waits for the device's current stream
};

void register_runtime(DeviceType type, const RuntimeTable* table);

// nullptr where the device cannot capture graphs (the CPU).
std::unique_ptr<DeviceGraphs> make_graphs(Device dev);
// A CPU tensor in memory `dev` can upload from asynchronously (plain memory for the CPU).
Tensor staging_tensor(const Shape& shape, DType dtype, Device dev);
// dst (on its device, contiguous) <- src (CPU, contiguous, same bytes), stream-ordered.
// The host side must not change until wait_uploads(dst's device) returns.
void upload_async(Tensor& dst, const Tensor& src);
void wait_uploads(Device dev);
void synchronize(Device dev);

// A page-locked host buffer reused for uploads to one device. host() hands out memory no
// upload still reads (it waits for the last upload when needed); upload() sends its first
// bytes to dst in stream order.
class StagingBuffer {
 public:
  void* host(Device dev, size_t bytes);
  void upload(const Tensor& dst, size_t bytes);  // dst: contiguous on the device, >= bytes

 private:
  Tensor buf_;  // U8 on the host
  Device dev_;
};

}  // namespace tritium::ops
