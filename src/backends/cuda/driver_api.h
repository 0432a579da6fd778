// Backend-internal: the table of CUDA driver entry points, resolved with dlsym from
// libcuda.so.1. Members are named after the exact exported symbols (the _v2 names that
// cuda.h's macros map the plain names to), and typed from cuda.h's own prototypes.
#pragma once
#include <cuda.h>

#include <string>

#include "backends/cuda/driver.h"

namespace tritium::cuda {

// X(symbol): required; O(symbol): optional (null when the driver lacks it).
#define TRITIUM_CUDA_DRIVER_FUNCS(X, O)   \
  X(cuInit)                               \
  X(cuDriverGetVersion)                   \
  X(cuGetErrorName)                       \
  X(cuGetErrorString)                     \
  X(cuDeviceGetCount)                     \
  X(cuDeviceGet)                          \
  X(cuDeviceGetName)                      \
  X(cuDeviceGetAttribute)                 \
  X(cuDeviceTotalMem_v2)                  \
  X(cuDevicePrimaryCtxRetain)             \
  X(cuDevicePrimaryCtxRelease_v2)         \
  X(cuCtxSetCurrent)                      \
  X(cuCtxGetCurrent)                      \
  X(cuCtxSynchronize)                     \
  X(cuMemGetInfo_v2)                      \
  X(cuMemAlloc_v2)                        \
  X(cuMemFree_v2)                         \
  X(cuMemAllocHost_v2)                    \
  X(cuMemFreeHost)                        \
  X(cuMemcpyHtoD_v2)                      \
  X(cuMemcpyDtoH_v2)                      \
  X(cuMemcpyDtoD_v2)                      \
  X(cuMemcpyHtoDAsync_v2)                 \
  X(cuMemcpyDtoHAsync_v2)                 \
  X(cuMemcpyDtoDAsync_v2)                 \
  X(cuMemsetD8Async)                      \
  X(cuMemsetD32Async)                     \
  X(cuStreamCreate)                       \
  X(cuStreamDestroy_v2)                   \
  X(cuStreamSynchronize)                  \
  X(cuStreamQuery)                        \
  X(cuStreamIsCapturing)                  \
  X(cuStreamBeginCapture_v2)              \
  X(cuStreamEndCapture)                   \
  X(cuEventCreate)                        \
  X(cuEventDestroy_v2)                    \
  X(cuEventRecord)                        \
  X(cuEventSynchronize)                   \
  X(cuEventElapsedTime)                   \
  X(cuModuleLoadData)                     \
  X(cuModuleUnload)                       \
  X(cuModuleGetFunction)                  \
  X(cuFuncSetAttribute)                   \
  X(cuFuncGetAttribute)                   \
  X(cuLaunchKernel)                       \
  X(cuGraphInstantiateWithFlags)          \
  X(cuGraphLaunch)                        \
  X(cuGraphExecDestroy)                   \
  X(cuGraphDestroy)                       \
  O(cuLaunchKernelEx)

struct DriverApi {
#define TRITIUM_CUDA_DECLARE(sym) decltype(&::sym) sym = nullptr;
  TRITIUM_CUDA_DRIVER_FUNCS(TRITIUM_CUDA_DECLARE, TRITIUM_CUDA_DECLARE)
#undef TRITIUM_CUDA_DECLARE
};

// The loaded table. Throws tritium::Error (with unavailable_reason()) when CUDA is unavailable.
const DriverApi& api();

// Throws tritium::Error naming the call and the CUDA error (name and description) unless
// r == CUDA_SUCCESS. Errors that mean "this driver is too old for these cubins" get a hint.
void check(CUresult r, const char* call);
std::string error_text(CUresult r);  // "CUDA_ERROR_X (description)"

// TRITIUM_CU(cuMemAlloc_v2, &p, n): calls through the table and checks the result.
#define TRITIUM_CU(fn, ...) ::tritium::cuda::check(::tritium::cuda::api().fn(__VA_ARGS__), #fn)

inline CUdeviceptr dptr(const void* p) { return static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(p)); }
inline CUstream to_cu(StreamHandle s) { return reinterpret_cast<CUstream>(s); }

// The primary context of an initialized device (throws if init() was not called for it).
CUcontext device_context(int device_index);

}  // namespace tritium::cuda
