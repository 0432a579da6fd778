#include "backends/cuda/stream.h"

#include <cstdio>
#include <utility>

#include "backends/cuda/driver_api.h"

namespace tritium::cuda {

Stream::Stream(int device_index) : device_(device_index) {
  make_current(device_index);
  CUstream s = nullptr;
  TRITIUM_CU(cuStreamCreate, &s, CU_STREAM_NON_BLOCKING);
  s_ = s;
}

Stream::~Stream() { reset(); }

Stream::Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)), device_(o.device_) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    reset();
    s_ = std::exchange(o.s_, nullptr);
    device_ = o.device_;
  }
  return *this;
}

void Stream::reset() noexcept {
  if (!s_) return;
  try {
    make_current(device_);
    CUresult r = api().cuStreamDestroy_v2(to_cu(s_));
    if (r != CUDA_SUCCESS) std::fprintf(stderr, "tritium: cuStreamDestroy_v2 failed: %s\n", error_text(r).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tritium: destroying a CUDA stream: %s\n", e.what());
  }
  s_ = nullptr;
}

void Stream::synchronize() const { TRITIUM_CU(cuStreamSynchronize, to_cu(s_)); }

bool Stream::query() const {
  CUresult r = api().cuStreamQuery(to_cu(s_));
  if (r == CUDA_ERROR_NOT_READY) return false;
  check(r, "cuStreamQuery");
  return true;
}

StreamGuard::StreamGuard(int device_index, StreamHandle s) : device_(device_index) {
  prev_ = current_stream(device_index);
  set_current_stream(device_index, s);
}

StreamGuard::~StreamGuard() {
  try {
    set_current_stream(device_, prev_);
  } catch (...) {
  }
}

Event::Event(int device_index) : device_(device_index) {
  make_current(device_index);
  CUevent e = nullptr;
  TRITIUM_CU(cuEventCreate, &e, CU_EVENT_DEFAULT);
  e_ = e;
}

Event::~Event() {
  if (!e_) return;
  try {
    make_current(device_);
    CUresult r = api().cuEventDestroy_v2(e_);
    if (r != CUDA_SUCCESS) std::fprintf(stderr, "tritium: cuEventDestroy_v2 failed: %s\n", error_text(r).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tritium: destroying a CUDA event: %s\n", e.what());
  }
}

void Event::record(StreamHandle s) { TRITIUM_CU(cuEventRecord, e_, to_cu(s)); }

void Event::synchronize() const { TRITIUM_CU(cuEventSynchronize, e_); }

float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0.f;
  TRITIUM_CU(cuEventElapsedTime, &ms, start.e_, e_);
  return ms;
}

}  // namespace tritium::cuda
