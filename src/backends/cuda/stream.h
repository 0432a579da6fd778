// RAII CUDA streams and events (timing).
#pragma once
#include "backends/cuda/cuda_types.h"

namespace tritium::cuda {

// An owned non-blocking stream on one device.
class Stream {
 public:
  explicit Stream(int device_index = 0);
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  StreamHandle handle() const { return s_; }
  int device() const { return device_; }
  void synchronize() const;
  bool query() const;  // true when all work queued on it has finished

 private:
  void reset() noexcept;
  StreamHandle s_ = nullptr;
  int device_ = 0;
};

// Makes `s` the current stream of its device on this thread until destruction.
class StreamGuard {
 public:
  StreamGuard(int device_index, StreamHandle s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  StreamHandle prev_;
};

// An event with timing enabled.
class Event {
 public:
  explicit Event(int device_index = 0);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(StreamHandle s);
  void synchronize() const;
  // Milliseconds between `start` and this event (both recorded and completed).
  float elapsed_ms_since(const Event& start) const;
  EventHandle handle() const { return e_; }

 private:
  EventHandle e_ = nullptr;
  int device_ = 0;
};

}  // namespace tritium::cuda
