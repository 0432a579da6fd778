// Opaque CUDA handle types for headers that must not include cuda.h (it is only on the
// include path of the backend's own .cpp files). They name the same structs as cuda.h.
#pragma once
#include <cstdint>

struct CUstream_st;
struct CUevent_st;
struct CUgraphExec_st;

namespace tritium::cuda {

using StreamHandle = CUstream_st*;  // == CUstream
using EventHandle = CUevent_st*;    // == CUevent

}  // namespace tritium::cuda
