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
  // Page-locked host memory (so copies to and from it are truly asynchronous).
  void* (*host_alloc)(Device dev, size_t bytes);
  void (*host_free)(Device dev, void* p);
  // Copies host -> device (upload) or device -> host (download, into page-locked memory) in
  // the device's current stream order; both return at once. The host memory must stay
  // untouched until a fence recorded after the copy has been waited for.
  void (*upload_async)(void* dst, Device dev, const void* src, size_t bytes);
  void (*download_async)(void* dst, Device dev, const void* src, size_t bytes);
  // Fences: a marker recorded in the device's current stream; waiting for it returns once
  // everything enqueued before the record has run.
  void* (*fence_create)(Device dev);
  void (*fence_destroy)(void* fence);  // never throws
  void (*fence_record)(void* fence, Device dev);
  void (*fence_wait)(void* fence);
  void (*synchronize)(Device dev);  // waits for the device's current stream
  // Whether kernels built for programmatic dependent launch are launched with it from now on
  // (null: the backend has no such launches).
  void (*set_dependent_launch)(Device dev, bool on);
};

void register_runtime(DeviceType type, const RuntimeTable* table);

// nullptr where the device cannot capture graphs (the CPU).
std::unique_ptr<DeviceGraphs> make_graphs(Device dev);
// A CPU tensor in memory `dev` can copy to and from asynchronously (plain memory for the CPU).
Tensor staging_tensor(const Shape& shape, DType dtype, Device dev);
// dst (on its device, contiguous) <- src (CPU, contiguous, same bytes), stream-ordered.
// The host side must not change until a fence recorded after it has been waited for.
void upload_async(Tensor& dst, const Tensor& src);
// dst (a staging_tensor, contiguous) <- src (on its device, contiguous, same bytes),
// stream-ordered: dst holds the bytes once a fence recorded after it has been waited for.
void download_async(Tensor& dst, const Tensor& src);

// A fence on one device (nothing on the CPU, where every op has finished when it returns).
class Fence {
 public:
  Fence() = default;
  ~Fence();
  Fence(const Fence&) = delete;
  Fence& operator=(const Fence&) = delete;
  void record(Device dev);  // marks everything enqueued on dev's current stream so far
  void wait();              // returns once that has run; at once if never recorded
  bool pending() const { return pending_; }

 private:
  void* f_ = nullptr;
  const RuntimeTable* rt_ = nullptr;
  bool pending_ = false;
};

void synchronize(Device dev);
// Programmatic dependent launch on or off for the kernels enqueued (or captured) from now on;
// a no-op where the backend has none.
void set_dependent_launch(Device dev, bool on);

// Page-locked host buffers reused for uploads to one device, two in turn, so that the host
// can fill the next while the device has yet to copy the last (a step enqueued before the
// previous one ran). host() hands out a buffer no upload still reads (waiting for the one
// before last when needed); upload() sends its first bytes to dst in stream order.
class StagingBuffer {
 public:
  void* host(Device dev, size_t bytes);
  void upload(const Tensor& dst, size_t bytes);

 private:
  struct Slot {
    Tensor buf;  // U8 on the host
    Fence sent;  // recorded after the buffer's last upload
  };
  Slot slots_[2];
  int cur_ = 1;
  Device dev_;
};

}  // namespace tritium::ops
