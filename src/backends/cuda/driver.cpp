// CUDA driver loading (dlopen), error reporting, device/context/stream state and copies.
#include "backends/cuda/driver_api.h"

#include <dlfcn.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "backends/cuda/allocator.h"
#include "backends/cuda/kernel_profile.h"
#include "core/error.h"
#include "core/tensor.h"

namespace tritium::cuda {

namespace {

std::string error_text_with(const DriverApi& a, CUresult r) {
  const char* name = nullptr;
  const char* desc = nullptr;
  if (a.cuGetErrorName && a.cuGetErrorName(r, &name) != CUDA_SUCCESS) name = nullptr;
  if (a.cuGetErrorString && a.cuGetErrorString(r, &desc) != CUDA_SUCCESS) desc = nullptr;
  std::string s = name ? name : ("CUDA error " + std::to_string(int(r)));
  if (desc) s += std::string(" (") + desc + ")";
  return s;
}

struct Loader {
  DriverApi api;
  bool ok = false;
  std::string reason;
  int device_count = 0;
  int driver_version = 0;
};

Loader* load_driver() noexcept {
  static Loader* loader = [] {
    auto* L = new Loader();  // never freed: the driver stays loaded for the process lifetime
    try {
      const char* off = std::getenv("TRITIUM_DISABLE_CUDA");
      if (off && *off && std::strcmp(off, "0") != 0) {
        L->reason = "disabled by TRITIUM_DISABLE_CUDA";
        return L;
      }
      void* h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
      if (!h) h = dlopen("libcuda.so", RTLD_NOW | RTLD_LOCAL);
      if (!h) {
        const char* e = dlerror();
        L->reason = std::string("no NVIDIA driver: cannot load libcuda.so.1 (") + (e ? e : "unknown") + ")";
        return L;
      }
      std::string missing;
#define TRITIUM_CUDA_LOAD_REQ(sym)                                                  \
  L->api.sym = reinterpret_cast<decltype(L->api.sym)>(dlsym(h, #sym));              \
  if (!L->api.sym) missing += (missing.empty() ? "" : ", ") + std::string(#sym);
#define TRITIUM_CUDA_LOAD_OPT(sym) L->api.sym = reinterpret_cast<decltype(L->api.sym)>(dlsym(h, #sym));
      TRITIUM_CUDA_DRIVER_FUNCS(TRITIUM_CUDA_LOAD_REQ, TRITIUM_CUDA_LOAD_OPT)
#undef TRITIUM_CUDA_LOAD_REQ
#undef TRITIUM_CUDA_LOAD_OPT
      if (!missing.empty()) {
        L->reason = "the NVIDIA driver is too old (libcuda.so.1 lacks " + missing + "): update the driver";
        return L;
      }
      CUresult r = L->api.cuInit(0);
      if (r != CUDA_SUCCESS) {
        L->reason = "cuInit failed: " + error_text_with(L->api, r);
        if (r == CUDA_ERROR_NO_DEVICE) L->reason = "no CUDA device (cuInit: " + error_text_with(L->api, r) + ")";
        return L;
      }
      if (L->api.cuDriverGetVersion(&L->driver_version) != CUDA_SUCCESS) L->driver_version = 0;
      int n = 0;
      r = L->api.cuDeviceGetCount(&n);
      if (r != CUDA_SUCCESS) {
        L->reason = "cuDeviceGetCount failed: " + error_text_with(L->api, r);
        return L;
      }
      if (n <= 0) {
        L->reason = "no CUDA device";
        return L;
      }
      L->device_count = n;
      L->ok = true;
    } catch (...) {
      L->ok = false;
      if (L->reason.empty()) L->reason = "unexpected error while loading the CUDA driver";
    }
    return L;
  }();
  return loader;
}

struct DeviceState {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  CUstream stream = nullptr;  // the default (non-blocking) stream
  bool initialized = false;
};

constexpr int kMaxDevices = 64;
std::mutex g_init_mutex;
std::array<DeviceState, kMaxDevices> g_devices;

thread_local CUcontext t_current_ctx = nullptr;
thread_local std::array<CUstream, kMaxDevices> t_current_stream{};

const char* hint_for(CUresult r) {
  switch (r) {
    case CUDA_ERROR_UNSUPPORTED_PTX_VERSION:
    case CUDA_ERROR_SYSTEM_DRIVER_MISMATCH:
    case CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE:
    case CUDA_ERROR_JIT_COMPILER_NOT_FOUND:
      return " -- the NVIDIA driver is too old for these kernels: update the driver";
    case CUDA_ERROR_NO_BINARY_FOR_GPU:
    case CUDA_ERROR_INVALID_IMAGE:
      return " -- the cubin was not built for this GPU (or the driver is too old for it): rebuild the "
             "kernel pack for this arch (python3 kernels/build.py) or update the driver";
    default:
      return "";
  }
}

void check_index(int device_index) {
  TRITIUM_CHECK(device_index >= 0 && device_index < kMaxDevices, "CUDA device index ", device_index,
                " out of range");
}

DeviceState& state(int device_index) {
  check_index(device_index);
  DeviceState& s = g_devices[device_index];
  TRITIUM_CHECK(s.initialized, "CUDA device ", device_index, " is not initialized: call tritium::cuda::init(",
                device_index, ") first");
  return s;
}

void tensor_device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev.is_cuda() && src_dev.is_cpu()) {
    memcpy_htod(dst, src, bytes, dst_dev.index);
  } else if (dst_dev.is_cpu() && src_dev.is_cuda()) {
    memcpy_dtoh(dst, src, bytes, src_dev.index);
  } else if (dst_dev.is_cuda() && src_dev.is_cuda()) {
    TRITIUM_CHECK(dst_dev.index == src_dev.index, "copy between CUDA devices ", src_dev.str(), " and ",
                  dst_dev.str(), " is not supported");
    // Stream-ordered: later work on the current stream sees the copy.
    make_current(dst_dev.index);
    StreamHandle s = current_stream(dst_dev.index);
    kernel_profile_scope(dst_dev.index, s, "copy device->device", [&] { memcpy_dtod_async(dst, src, bytes, s); });
  } else {
    throw Error(str_cat("device copy from ", src_dev.str(), " to ", dst_dev.str(), " is not supported"));
  }
}

void tensor_device_zero(void* dst, Device dev, size_t bytes) {
  if (bytes == 0) return;
  TRITIUM_CHECK(dev.is_cuda(), "zero fill on ", dev.str(), " is not supported");
  make_current(dev.index);
  StreamHandle s = current_stream(dev.index);
  memset_d8_async(dst, 0, bytes, s);
}

}  // namespace

std::string error_text(CUresult r) { return error_text_with(load_driver()->api, r); }

void check(CUresult r, const char* call) {
  if (r == CUDA_SUCCESS) return;
  throw Error(str_cat(call, " failed: ", error_text(r), hint_for(r)));
}

const DriverApi& api() {
  Loader* L = load_driver();
  TRITIUM_CHECK(L->ok, "CUDA is not available: ", L->reason);
  return L->api;
}

bool cuda_available() noexcept { return load_driver()->ok; }

std::string unavailable_reason() noexcept {
  try {
    Loader* L = load_driver();
    return L->ok ? std::string() : L->reason;
  } catch (...) {
    return "unknown";
  }
}

int device_count() noexcept { return cuda_available() ? load_driver()->device_count : 0; }

DeviceInfo device_info(int index) {
  const DriverApi& a = api();
  TRITIUM_CHECK(index >= 0 && index < device_count(), "CUDA device ", index, " does not exist (", device_count(),
                " device(s))");
  CUdevice dev;
  TRITIUM_CU(cuDeviceGet, &dev, index);
  DeviceInfo info;
  info.index = index;
  char name[256] = {0};
  TRITIUM_CU(cuDeviceGetName, name, int(sizeof(name) - 1), dev);
  info.name = name;
  TRITIUM_CU(cuDeviceGetAttribute, &info.cc_major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
  TRITIUM_CU(cuDeviceGetAttribute, &info.cc_minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
  TRITIUM_CU(cuDeviceGetAttribute, &info.sm_count, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  TRITIUM_CU(cuDeviceGetAttribute, &info.max_shared_per_block_optin,
             CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, dev);
  size_t total = 0;
  TRITIUM_CU(cuDeviceTotalMem_v2, &total, dev);
  info.total_memory = total;
  info.driver_version = load_driver()->driver_version;
  (void)a;
  return info;
}

void init(int device_index) {
  const DriverApi& a = api();
  (void)a;
  check_index(device_index);
  TRITIUM_CHECK(device_index < device_count(), "CUDA device ", device_index, " does not exist (", device_count(),
                " device(s))");
  {
    std::lock_guard<std::mutex> lock(g_init_mutex);
    DeviceState& s = g_devices[device_index];
    if (!s.initialized) {
      TRITIUM_CU(cuDeviceGet, &s.dev, device_index);
      TRITIUM_CU(cuDevicePrimaryCtxRetain, &s.ctx, s.dev);
      TRITIUM_CU(cuCtxSetCurrent, s.ctx);
      t_current_ctx = s.ctx;
      TRITIUM_CU(cuStreamCreate, &s.stream, CU_STREAM_NON_BLOCKING);
      s.initialized = true;
    }
    static bool registered = false;
    if (!registered) {
      register_allocator(DeviceType::CUDA, &caching_allocator());
      register_device_copy(&tensor_device_copy);
      register_device_zero(&tensor_device_zero);
      registered = true;
    }
  }
  make_current(device_index);
}

bool is_initialized(int device_index) noexcept {
  if (device_index < 0 || device_index >= kMaxDevices) return false;
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return g_devices[device_index].initialized;
}

CUcontext device_context(int device_index) { return state(device_index).ctx; }

void make_current(int device_index) {
  CUcontext ctx = state(device_index).ctx;
  if (t_current_ctx == ctx) return;
  TRITIUM_CU(cuCtxSetCurrent, ctx);
  t_current_ctx = ctx;
}

StreamHandle default_stream(int device_index) { return state(device_index).stream; }

StreamHandle current_stream(int device_index) {
  DeviceState& s = state(device_index);
  CUstream cur = t_current_stream[device_index];
  return cur ? cur : s.stream;
}

void set_current_stream(int device_index, StreamHandle st) {
  state(device_index);
  t_current_stream[device_index] = to_cu(st);
}

void synchronize(int device_index) {
  make_current(device_index);
  TRITIUM_CU(cuCtxSynchronize);
}

void mem_get_info(int device_index, size_t* free_bytes, size_t* total_bytes) {
  make_current(device_index);
  size_t f = 0, t = 0;
  TRITIUM_CU(cuMemGetInfo_v2, &f, &t);
  if (free_bytes) *free_bytes = f;
  if (total_bytes) *total_bytes = t;
}

bool stream_is_capturing(StreamHandle s) {
  CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
  TRITIUM_CU(cuStreamIsCapturing, to_cu(s), &st);
  return st != CU_STREAM_CAPTURE_STATUS_NONE;
}

static void no_capture(StreamHandle s, const char* what) {
  TRITIUM_CHECK(!stream_is_capturing(s), what,
                ": a synchronous host<->device copy cannot be part of a CUDA graph capture");
}

void memcpy_htod(void* dst, const void* src, size_t bytes, int device_index) {
  if (bytes == 0) return;
  make_current(device_index);
  StreamHandle s = current_stream(device_index);
  no_capture(s, "memcpy_htod");
  TRITIUM_CU(cuMemcpyHtoDAsync_v2, dptr(dst), src, bytes, to_cu(s));
  TRITIUM_CU(cuStreamSynchronize, to_cu(s));
}

void memcpy_dtoh(void* dst, const void* src, size_t bytes, int device_index) {
  if (bytes == 0) return;
  make_current(device_index);
  StreamHandle s = current_stream(device_index);
  no_capture(s, "memcpy_dtoh");
  TRITIUM_CU(cuMemcpyDtoHAsync_v2, dst, dptr(src), bytes, to_cu(s));
  TRITIUM_CU(cuStreamSynchronize, to_cu(s));
}

void memcpy_dtod(void* dst, const void* src, size_t bytes, int device_index) {
  if (bytes == 0) return;
  make_current(device_index);
  StreamHandle s = current_stream(device_index);
  TRITIUM_CU(cuMemcpyDtoDAsync_v2, dptr(dst), dptr(src), bytes, to_cu(s));
  if (!stream_is_capturing(s)) TRITIUM_CU(cuStreamSynchronize, to_cu(s));
}

void memcpy_htod_async(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes) TRITIUM_CU(cuMemcpyHtoDAsync_v2, dptr(dst), src, bytes, to_cu(s));
}
void memcpy_dtoh_async(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes) TRITIUM_CU(cuMemcpyDtoHAsync_v2, dst, dptr(src), bytes, to_cu(s));
}
void memcpy_dtod_async(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes) TRITIUM_CU(cuMemcpyDtoDAsync_v2, dptr(dst), dptr(src), bytes, to_cu(s));
}
void memset_d8_async(void* dst, uint8_t value, size_t count, StreamHandle s) {
  if (count) TRITIUM_CU(cuMemsetD8Async, dptr(dst), value, count, to_cu(s));
}
void memset_d32_async(void* dst, uint32_t value, size_t count, StreamHandle s) {
  if (count) TRITIUM_CU(cuMemsetD32Async, dptr(dst), value, count, to_cu(s));
}

}  // namespace tritium::cuda
