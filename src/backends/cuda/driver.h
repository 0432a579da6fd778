// CUDA driver access: libcuda.so.1 is opened with dlopen at first use, so a tritium binary
// starts and runs on the CPU on machines with no NVIDIA driver. This header is free of cuda.h;
// the function table lives in driver_api.h (backend-internal).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "backends/cuda/cuda_types.h"

namespace tritium::cuda {

// True when libcuda loads, cuInit succeeds and there is at least one device. Never throws.
// TRITIUM_DISABLE_CUDA=1 in the environment makes it false.
bool cuda_available() noexcept;
// Why cuda_available() is false ("" when it is true). Never throws.
std::string unavailable_reason() noexcept;
// Number of CUDA devices (0 when CUDA is unavailable). Never throws.
int device_count() noexcept;

struct DeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;  // compute capability
  size_t total_memory = 0;
  int sm_count = 0;
  int max_shared_per_block_optin = 0;  // bytes
  int driver_version = 0;              // e.g. 13000 for CUDA 13.0
  int arch() const { return cc_major * 10 + cc_minor; }  // 90 for sm_90
};
DeviceInfo device_info(int index);

// Initializes the CUDA backend for one device: retains its primary context, makes it current
// on the calling thread, creates the device's default stream and registers the caching
// allocator and device copies with core/tensor.h. Idempotent. Throws tritium::Error when CUDA
// is unavailable or the index is out of range.
void init(int device_index = 0);
bool is_initialized(int device_index) noexcept;

// Makes the device's primary context current on the calling thread (cheap when it already is).
// Every backend entry point calls this; threads other than init()'s need nothing else.
void make_current(int device_index);

// The stream work on `device_index` goes to from this thread: the device's default stream
// (non-blocking, created by init) unless set_current_stream / a graph capture changed it.
StreamHandle current_stream(int device_index = 0);
void set_current_stream(int device_index, StreamHandle s);  // nullptr: back to the default
StreamHandle default_stream(int device_index = 0);

void synchronize(int device_index = 0);  // waits for all work on the device
void mem_get_info(int device_index, size_t* free_bytes, size_t* total_bytes);

// Copies. The synchronous ones run on the current stream and wait for it; the async ones are
// stream-ordered. Host<->device copies of pageable memory must not be captured into a graph.
void memcpy_htod(void* dst, const void* src, size_t bytes, int device_index = 0);
void memcpy_dtoh(void* dst, const void* src, size_t bytes, int device_index = 0);
void memcpy_dtod(void* dst, const void* src, size_t bytes, int device_index = 0);
void memcpy_htod_async(void* dst, const void* src, size_t bytes, StreamHandle s);
void memcpy_dtoh_async(void* dst, const void* src, size_t bytes, StreamHandle s);
void memcpy_dtod_async(void* dst, const void* src, size_t bytes, StreamHandle s);
void memset_d8_async(void* dst, uint8_t value, size_t count, StreamHandle s);
void memset_d32_async(void* dst, uint32_t value, size_t count, StreamHandle s);

bool stream_is_capturing(StreamHandle s);

}  // namespace tritium::cuda
