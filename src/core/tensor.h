// Tensor: a strided view of typed memory on a device. Storage is shared and kept alive by
// a holder (an allocation, or an mmap'd file for zero-copy weights).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace tritium {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const;
  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  // "cpu", "cuda", "cuda:1"
  static Device parse(const std::string& s);
};

// Allocates device memory; backends register one per device type.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes, int device_index) = 0;
  virtual void deallocate(void* p, size_t bytes, int device_index) = 0;
  // Free and total device memory (free counts blocks a cache holds for reuse); false if unknown.
  virtual bool memory_info(int device_index, size_t* free_bytes, size_t* total_bytes) { return false; }
};
void register_allocator(DeviceType t, Allocator* a);
Allocator* allocator_for(DeviceType t);

// Aligned host memory (64 bytes: a cache line, and wide enough for AVX-512 loads).
void* aligned_host_alloc(size_t bytes);
void aligned_host_free(void* p);

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype, Device device = Device::cpu());
  // Wraps memory owned elsewhere; `holder` keeps it alive (may be null for borrowed memory).
  static Tensor from_blob(void* data, const Shape& shape, DType dtype, Device device,
                          std::shared_ptr<void> holder);

  bool defined() const { return data_ != nullptr || holder_ != nullptr; }
  void* data() const { return data_; }
  template <typename T>
  T* data() const { return static_cast<T*>(data_); }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t d) const { return shape_.at(d < 0 ? d + dim() : d); }
  int64_t stride(int64_t d) const { return strides_.at(d < 0 ? d + dim() : d); }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool is_contiguous() const;
  const std::shared_ptr<void>& holder() const { return holder_; }

  // Views (share storage).
  Tensor view(const Shape& shape) const;  // requires contiguity
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops the dim
  // Same storage and start, new shape and strides (in elements); the caller vouches for bounds.
  Tensor view_strided(const Shape& shape, const Shape& strides) const;

  // Copies.
  Tensor contiguous() const;
  Tensor to(DType dtype) const;  // CPU only
  Tensor to(Device device) const;
  void copy_from(const Tensor& src);  // same shape; dtype/device conversion where supported

  std::string str() const;  // "BF16[2, 3] cpu"

 private:
  void* data_ = nullptr;
  Shape shape_, strides_;
  DType dtype_ = DType::F32;
  Device device_;
  std::shared_ptr<void> holder_;
};

// Cross-device copies are provided by backends.
using DeviceCopyFn = void (*)(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);
void register_device_copy(DeviceCopyFn fn);
// Zero-filling device memory in place (stream-ordered, like device->device copies); without one,
// zeros() copies a zeroed host buffer.
using DeviceZeroFn = void (*)(void* dst, Device dev, size_t bytes);
void register_device_zero(DeviceZeroFn fn);

// Reads element i (row-major logical index) of a CPU tensor as float, any float dtype.
float load_as_float(const Tensor& t, int64_t flat_index);

}  // namespace tritium
