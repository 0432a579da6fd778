// Backend-internal helpers shared by cuda_ops.cpp, cuda_linear.cpp and cuda_attention.cpp:
// the kernel catalog (which variants of each Triton kernel the pack holds for this device,
// with their constexprs read from the manifest, so tile sizes and head dims are never
// hard-coded here), tensor checks, and a launch wrapper that names the op in its errors.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "backends/cuda/kernel_runner.h"
#include "core/tensor.h"

namespace tritium::cuda::detail {

// One kernel variant (a manifest name) that runs on the device.
struct Variant {
  std::string name;    // "rms_norm_bf16_n4096"
  std::string kernel;  // Python function: "rms_norm_kernel"
  std::map<std::string, std::string, std::less<>> param_types;  // launch params: "x_ptr" -> "*bf16"
  std::map<std::string, int64_t, std::less<>> constexprs;        // "BLOCK_N" -> 4096 (bools as 0/1)

  bool has_constexpr(std::string_view key) const { return constexprs.find(key) != constexprs.end(); }
  // The constexpr's value; throws naming the variant when the manifest lacks it.
  int64_t cx(std::string_view key) const;
  // Value of `key`, or `dflt` when absent.
  int64_t cx_or(std::string_view key, int64_t dflt) const;
};

class Catalog {
 public:
  // The catalog of an initialized device (built on first use from KernelRunner::for_device).
  static const Catalog& for_device(int device_index);
  // Rebuilds the device's catalog with shared_limit (< 0: the device's own), as a GPU with less
  // shared memory per block would see the pack (tests run the ops so on the H100). No op may
  // be running on the device meanwhile.
  static void rebuild(int device_index, int64_t shared_limit);
  // Variants whose shared memory exceeds shared_limit bytes are left out (they would not load),
  // so the ops pick among the rest: by default the device's opt-in limit per block (99 KB on
  // sm86 / sm89 / sm120, where some skinny GEMM tiles built for the H100 do not fit).
  explicit Catalog(int device_index, int64_t shared_limit = -1);

  // Variants of Python kernel `kernel` whose parameter `ptr_param` has type "*<dtype>".
  std::vector<const Variant*> find(std::string_view kernel, std::string_view ptr_param, DType dt) const;
  // The distinct values of constexpr `key` among find(kernel, ptr_param, dt), e.g. "64, 128".
  std::string values_of(std::string_view kernel, std::string_view ptr_param, DType dt, std::string_view key) const;
  const std::string& origin() const { return origin_; }
  int device() const { return device_; }
  int sm_count() const { return sm_count_; }
  // The variants left out for needing more shared memory than the device has.
  const std::vector<std::string>& too_large() const { return too_large_; }

 private:
  int device_;
  int sm_count_ = 1;
  std::string origin_;
  std::vector<Variant> variants_;
  std::vector<std::string> too_large_;
};

// "bf16", "fp16", "fp32", "i32": the Triton spelling of a dtype.
const char* triton_type(DType dt);
// "BF16[4, 8] cuda:0" plus strides when not contiguous.
std::string describe(const Tensor& t);

// Checks that t lives on `dev` (CUDA).
void check_device(const Tensor& t, Device dev, const char* op, const char* name);
// Activation tensor: on `dev`, dtype BF16 or F16, last dim contiguous.
void check_act(const Tensor& t, Device dev, const char* op, const char* name);
// Same dtype as `ref`.
void check_same_dtype(const Tensor& t, const Tensor& ref, const char* op, const char* name);
// A KV cache for activations `act`: on `dev`, in act's dtype or fp8 e4m3 (F8E4M3).
void check_kv_dtype(const Tensor& cache, const Tensor& act, Device dev, const char* op);
// Whether variant v's KV cache parameters (k_cache_ptr) take caches of dtype kv.
bool kv_cache_is(const Variant& v, DType kv);
// I32 tensor on `dev`, contiguous, with n elements (n < 0: any).
void check_i32(const Tensor& t, Device dev, int64_t n, const char* op, const char* name);

// v as int32, or a tritium::Error naming the op and the quantity.
int32_t to_i32(int64_t v, const char* op, const char* what);
inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
uint32_t grid_dim(int64_t n, const char* op);

// A pointer `elems` elements past t's data (same dtype).
const void* offset_ptr(const Tensor& t, int64_t elems);

StreamHandle stream_for(Device dev);

// Checks the arguments against the variant's signature (alignment, divisibility, ranges) and
// launches on the current stream of `dev`. Errors name `op` and the variant.
void launch(Device dev, const Variant& v, Grid grid, std::initializer_list<KernelArg> args, const char* op);
// The reason the arguments do not suit the variant ("" when they do).
std::string check_launch(Device dev, const Variant& v, std::initializer_list<KernelArg> args);

}  // namespace tritium::cuda::detail
