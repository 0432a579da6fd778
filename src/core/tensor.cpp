#include "core/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/half.h"
#include "core/thread_pool.h"

namespace tritium {

std::string Device::str() const {
  if (is_cpu()) return "cpu";
  return "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda" || s == "gpu") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    try {
      return cuda(std::stoi(s.substr(5)));
    } catch (...) {
    }
  }
  throw Error("unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

namespace {
Allocator* g_allocators[2] = {nullptr, nullptr};
DeviceCopyFn g_device_copy = nullptr;
DeviceZeroFn g_device_zero = nullptr;
}  // namespace

void register_allocator(DeviceType t, Allocator* a) { g_allocators[int(t)] = a; }
Allocator* allocator_for(DeviceType t) { return g_allocators[int(t)]; }
void register_device_copy(DeviceCopyFn fn) { g_device_copy = fn; }
void register_device_zero(DeviceZeroFn fn) { g_device_zero = fn; }

void* aligned_host_alloc(size_t bytes) {
  size_t n = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n ? n : 64);
  if (!p) throw Error(str_cat("out of host memory allocating ", bytes, " bytes"));
  return p;
}
void aligned_host_free(void* p) { std::free(p); }

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) TRITIUM_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  size_t bytes = size_t(shape_numel(shape)) * dtype_size(dtype);
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  if (device.is_cpu()) {
    void* p = aligned_host_alloc(bytes);
    t.holder_ = std::shared_ptr<void>(p, [](void* q) { aligned_host_free(q); });
    t.data_ = p;
  } else {
    Allocator* a = allocator_for(device.type);
    TRITIUM_CHECK(a, "no allocator for device ", device.str(), " (was tritium built with CUDA?)");
    void* p = a->allocate(bytes, device.index);
    int idx = device.index;
    t.holder_ = std::shared_ptr<void>(p, [a, bytes, idx](void* q) { a->deallocate(q, bytes, idx); });
    t.data_ = p;
  }
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_cpu()) {
    std::memset(t.data_, 0, t.nbytes());
  } else if (g_device_zero) {
    g_device_zero(t.data_, device, t.nbytes());  // no host buffer, no transfer
  } else {
    Tensor h = zeros(shape, dtype, Device::cpu());
    t.copy_from(h);
  }
  return t;
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, Device device,
                         std::shared_ptr<void> holder) {
  Tensor t;
  t.data_ = data;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.holder_ = std::move(holder);
  return t;
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::view(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      TRITIUM_CHECK(infer < 0, "view: more than one -1 in ", shape_str(shape));
      infer = int64_t(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) s[infer] = known ? numel() / known : 0;
  TRITIUM_CHECK(shape_numel(s) == numel(), "view: cannot view ", str(), " as ", shape_str(shape));
  TRITIUM_CHECK(is_contiguous(), "view: tensor ", str(), " is not contiguous");
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  if (d < 0) d += dim();
  TRITIUM_CHECK(d >= 0 && d < dim(), "narrow: bad dim ", d, " for ", str());
  TRITIUM_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], "narrow: range [", start,
                ", ", start + length, ") out of bounds for dim ", d, " of ", str());
  Tensor t = *this;
  t.shape_[d] = length;
  t.data_ = static_cast<char*>(data_) + start * strides_[d] * int64_t(dtype_size(dtype_));
  return t;
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  if (d < 0) d += dim();
  Tensor t = narrow(d, index, 1);
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::view_strided(const Shape& shape, const Shape& strides) const {
  TRITIUM_CHECK(shape.size() == strides.size(), "view_strided: shape and strides differ in rank");
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  return t;
}

float load_as_float(const Tensor& t, int64_t i) {
  // Map the flat row-major index to a strided offset.
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    int64_t sz = t.shape()[d];
    off += (i % sz) * t.strides()[d];
    i /= sz;
  }
  const char* p = static_cast<const char*>(t.data()) + off * int64_t(dtype_size(t.dtype()));
  switch (t.dtype()) {
    case DType::F32: return *reinterpret_cast<const float*>(p);
    case DType::F16: return f16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::BF16: return bf16_to_f32(*reinterpret_cast<const uint16_t*>(p));
    case DType::I32: return float(*reinterpret_cast<const int32_t*>(p));
    case DType::I64: return float(*reinterpret_cast<const int64_t*>(p));
    case DType::U8: return float(*reinterpret_cast<const uint8_t*>(p));
    case DType::F8E4M3: return fp8e4m3_to_f32(*reinterpret_cast<const uint8_t*>(p));
  }
  return 0.f;
}

static void store_from_float(char* p, DType dt, float v) {
  switch (dt) {
    case DType::F32: *reinterpret_cast<float*>(p) = v; break;
    case DType::F16: *reinterpret_cast<uint16_t*>(p) = f32_to_f16(v); break;
    case DType::BF16: *reinterpret_cast<uint16_t*>(p) = f32_to_bf16(v); break;
    case DType::I32: *reinterpret_cast<int32_t*>(p) = int32_t(v); break;
    case DType::I64: *reinterpret_cast<int64_t*>(p) = int64_t(v); break;
    case DType::U8: *reinterpret_cast<uint8_t*>(p) = uint8_t(v); break;
    case DType::F8E4M3: *reinterpret_cast<uint8_t*>(p) = f32_to_fp8e4m3(v); break;
  }
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype_) return *this;
  TRITIUM_CHECK(device_.is_cpu(), "dtype conversion of ", str(), " needs a CPU tensor");
  Tensor out = empty(shape_, dt, device_);
  out.copy_from(*this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device_) return *this;
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, d);
  out.copy_from(src);
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  TRITIUM_CHECK(src.shape_ == shape_, "copy_from: shape ", shape_str(src.shape_), " != ", shape_str(shape_));
  if (device_.is_cpu() && src.device_.is_cpu()) {
    if (src.dtype_ == dtype_ && is_contiguous() && src.is_contiguous()) {
      std::memcpy(data_, src.data_, nbytes());
      return;
    }
    int64_t n = numel();
    size_t es = dtype_size(dtype_);
    if (src.dtype_ == dtype_) {
      // Strided same-type copy, element by element through the offset map.
      for (int64_t i = 0; i < n; ++i) {
        int64_t so = 0, dof = 0, r = i;
        for (int64_t dd = dim() - 1; dd >= 0; --dd) {
          int64_t k = r % shape_[dd];
          so += k * src.strides_[dd];
          dof += k * strides_[dd];
          r /= shape_[dd];
        }
        std::memcpy(static_cast<char*>(data_) + dof * es, static_cast<const char*>(src.data_) + so * es, es);
      }
      return;
    }
    TRITIUM_CHECK(is_contiguous(), "copy_from with conversion needs a contiguous destination");
    if (src.is_contiguous()) {
      // Contiguous conversion (weights on upload): threaded, no index arithmetic.
      const size_t ses = dtype_size(src.dtype_);
      parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
        Tensor flat = Tensor::from_blob(static_cast<char*>(src.data_) + b * int64_t(ses), {e - b}, src.dtype_,
                                        src.device_, nullptr);
        for (int64_t i = b; i < e; ++i)
          store_from_float(static_cast<char*>(data_) + i * es, dtype_, load_as_float(flat, i - b));
      });
      return;
    }
    for (int64_t i = 0; i < n; ++i) store_from_float(static_cast<char*>(data_) + i * es, dtype_, load_as_float(src, i));
    return;
  }
  TRITIUM_CHECK(src.dtype_ == dtype_, "copy_from across devices needs equal dtypes (", dtype_name(src.dtype_),
                " vs ", dtype_name(dtype_), ")");
  TRITIUM_CHECK(is_contiguous() && src.is_contiguous(), "copy_from across devices needs contiguous tensors");
  TRITIUM_CHECK(g_device_copy, "no device copy registered (was tritium built with CUDA?)");
  g_device_copy(data_, device_, src.data_, src.device_, nbytes());
}

std::string Tensor::str() const {
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device_.str();
}

}  // namespace tritium
