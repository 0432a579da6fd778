// KernelRunner: launches the Triton kernels of the kernel pack on one device.
//
//   auto& kr = cuda::KernelRunner::for_device(0);
//   kr.launch("smoke_add_f32", {blocks}, cuda::current_stream(0), {x.data(), y.data(), out.data(), 2.0f, n});
//
// Arguments are checked against the manifest signature (count, kinds, value ranges and the
// divisibility the cubin was compiled for). Modules load lazily on first use; the hidden
// trailing parameters of Triton >= 3.3 (global and profile scratch pointers) are appended,
// with global scratch allocated per launch when the kernel needs it (size x programs).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backends/cuda/cuda_types.h"
#include "backends/cuda/kernel_pack.h"

namespace tritium {
class Tensor;
}

namespace tritium::cuda {

struct Grid {
  uint32_t x = 1, y = 1, z = 1;
};

class KernelArg {
 public:
  enum class Kind : uint8_t { Ptr, I32, I64, F32 };
  KernelArg(const void* p) : kind_(Kind::Ptr), u_(reinterpret_cast<uintptr_t>(p)) {}  // NOLINT
  KernelArg(std::nullptr_t) : kind_(Kind::Ptr), u_(0) {}                              // NOLINT
  KernelArg(int32_t v) : kind_(Kind::I32), i_(v) {}                                   // NOLINT
  KernelArg(int64_t v) : kind_(Kind::I64), i_(v) {}                                   // NOLINT
  KernelArg(float v) : kind_(Kind::F32), f_(v) {}                                     // NOLINT
  KernelArg(const Tensor& t);                                                         // NOLINT: its data pointer
  static KernelArg ptr(const void* p) { return KernelArg(p); }
  static KernelArg i32(int32_t v) { return KernelArg(v); }
  static KernelArg i64(int64_t v) { return KernelArg(v); }
  static KernelArg f32(float v) { return KernelArg(v); }

  Kind kind() const { return kind_; }
  uint64_t as_ptr() const { return u_; }
  int64_t as_int() const { return i_; }
  float as_float() const { return f_; }
  static const char* kind_name(Kind k);

 private:
  Kind kind_;
  union {
    uint64_t u_;
    int64_t i_;
    float f_;
  };
};

class KernelRunner {
 public:
  // The runner of an initialized device (cuda::init), using KernelPack::load_default().
  static KernelRunner& for_device(int device_index = 0);
  KernelRunner(int device_index, std::shared_ptr<const KernelPack> pack);
  ~KernelRunner();
  KernelRunner(const KernelRunner&) = delete;
  KernelRunner& operator=(const KernelRunner&) = delete;

  const KernelPack& pack() const { return *pack_; }
  int device() const { return device_; }
  int cc_major() const { return cc_major_; }
  int cc_minor() const { return cc_minor_; }

  // Whether the pack has a cubin of `name` that runs on this device.
  bool has(std::string_view name) const;
  // The manifest entry used on this device; throws (unknown name, no cubin for this arch).
  const KernelEntry& entry(std::string_view name) const;
  // "" when `args` suit the kernel, else why not (wrong count or kind, a value out of range,
  // a pointer or integer that breaks the divisibility the cubin assumes).
  std::string check_args(std::string_view name, std::span<const KernelArg> args) const;
  bool fits(std::string_view name, std::span<const KernelArg> args) const {
    return has(name) && check_args(name, args).empty();
  }
  bool fits(std::string_view name, std::initializer_list<KernelArg> args) const {
    return fits(name, std::span<const KernelArg>(args.begin(), args.size()));
  }

  // Enqueues the kernel on `stream`. An empty grid (any dimension 0) launches nothing.
  void launch(std::string_view name, Grid grid, StreamHandle stream, std::span<const KernelArg> args);
  void launch(std::string_view name, Grid grid, StreamHandle stream, std::initializer_list<KernelArg> args) {
    launch(name, grid, stream, std::span<const KernelArg>(args.begin(), args.size()));
  }

  // Kernels built for programmatic dependent launch (the manifest's launch_pdl) are launched
  // with it while this is on (the default); off, they are launched plainly.
  void set_dependent_launch(bool on) { pdl_on_.store(on, std::memory_order_relaxed); }

  // Loads modules ahead of time (before a graph capture, or to fail early).
  void preload(std::string_view name);
  void preload_all();  // every kernel that has a cubin for this device

 private:
  struct Loaded;
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Loaded& load(std::string_view name);
  std::string check_args_for(const KernelEntry& e, std::span<const KernelArg> args) const;

  int device_;
  int cc_major_ = 0, cc_minor_ = 0;
  int max_shared_optin_ = 0;
  std::atomic<bool> pdl_on_{true};
  std::shared_ptr<const KernelPack> pack_;
  std::mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Loaded>, NameHash, std::equal_to<>> loaded_;
};

}  // namespace tritium::cuda
