#include "backends/cuda/kernel_runner.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <vector>

#include "backends/cuda/allocator.h"
#include "backends/cuda/driver_api.h"
#include "core/error.h"
#include "core/half.h"
#include "core/tensor.h"

namespace tritium::cuda {

namespace {
constexpr int kDefaultSharedLimit = 48 * 1024;  // above this a kernel must opt in

struct IntRange {
  int64_t lo, hi;
};
bool int_range(const std::string& t, IntRange* r) {
  static const std::map<std::string, IntRange> ranges = {
      {"i1", {0, 1}},
      {"u1", {0, 1}},
      {"i8", {INT8_MIN, INT8_MAX}},
      {"u8", {0, UINT8_MAX}},
      {"i16", {INT16_MIN, INT16_MAX}},
      {"u16", {0, UINT16_MAX}},
      {"i32", {INT32_MIN, INT32_MAX}},
      {"u32", {0, UINT32_MAX}},
      {"i64", {INT64_MIN, INT64_MAX}},
      {"u64", {0, INT64_MAX}},
  };
  auto it = ranges.find(t);
  if (it == ranges.end()) return false;
  *r = it->second;
  return true;
}
bool is_float_type(const std::string& t) {
  return t == "fp32" || t == "f32" || t == "fp16" || t == "bf16" || t == "fp64";
}
}  // namespace

KernelArg::KernelArg(const Tensor& t) : kind_(Kind::Ptr), u_(reinterpret_cast<uintptr_t>(t.data())) {}

const char* KernelArg::kind_name(Kind k) {
  switch (k) {
    case Kind::Ptr: return "pointer";
    case Kind::I32: return "int32";
    case Kind::I64: return "int64";
    case Kind::F32: return "float32";
  }
  return "?";
}

struct KernelRunner::Loaded {
  const KernelEntry* entry = nullptr;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
};

KernelRunner& KernelRunner::for_device(int device_index) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<KernelRunner>>* runners = new std::map<int, std::unique_ptr<KernelRunner>>();
  static std::shared_ptr<const KernelPack> pack;
  std::lock_guard<std::mutex> lock(mu);
  auto it = runners->find(device_index);
  if (it != runners->end()) return *it->second;
  if (!pack) pack = KernelPack::load_default();
  auto r = std::make_unique<KernelRunner>(device_index, pack);
  return *runners->emplace(device_index, std::move(r)).first->second;
}

KernelRunner::KernelRunner(int device_index, std::shared_ptr<const KernelPack> pack)
    : device_(device_index), pack_(std::move(pack)) {
  TRITIUM_CHECK(pack_ != nullptr, "KernelRunner: null kernel pack");
  make_current(device_index);  // throws unless cuda::init(device_index) ran
  DeviceInfo info = device_info(device_index);
  cc_major_ = info.cc_major;
  cc_minor_ = info.cc_minor;
  max_shared_optin_ = info.max_shared_per_block_optin;
}

KernelRunner::~KernelRunner() {
  // Modules are unloaded only if the context is still alive; at process exit the driver
  // reclaims them anyway, so errors here are ignored.
  for (auto& [name, l] : loaded_)
    if (l->module && cuda_available()) api().cuModuleUnload(l->module);
}

bool KernelRunner::has(std::string_view name) const {
  return pack_->select(name, cc_major_, cc_minor_, nullptr) != nullptr;
}

const KernelEntry& KernelRunner::entry(std::string_view name) const {
  std::string why;
  const KernelEntry* e = pack_->select(name, cc_major_, cc_minor_, &why);
  TRITIUM_CHECK(e, why);
  return *e;
}

std::string KernelRunner::check_args(std::string_view name, std::span<const KernelArg> args) const {
  std::string why;
  const KernelEntry* e = pack_->select(name, cc_major_, cc_minor_, &why);
  if (!e) return why;
  return check_args_for(*e, args);
}

std::string KernelRunner::check_args_for(const KernelEntry& entry, std::span<const KernelArg> args) const {
  const KernelEntry* e = &entry;
  if (args.size() != e->params.size()) {
    std::string sig;
    for (const auto& p : e->params) sig += (sig.empty() ? "" : ", ") + p.name + ": " + p.type;
    return str_cat("kernel '", e->name, "' takes ", e->params.size(), " arguments (", sig, "), got ", args.size());
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const KernelParam& p = e->params[i];
    const KernelArg& a = args[i];
    auto bad_kind = [&](const char* want) {
      return str_cat("kernel '", e->name, "' parameter ", i, " '", p.name, "' (", p.type, ") needs ", want, ", got ",
                     KernelArg::kind_name(a.kind()));
    };
    IntRange r;
    if (p.is_pointer()) {
      if (a.kind() != KernelArg::Kind::Ptr) return bad_kind("a pointer");
      if (p.divisibility > 1 && a.as_ptr() % uint64_t(p.divisibility) != 0)
        return str_cat("kernel '", e->name, "' parameter '", p.name, "': pointer 0x", std::hex, a.as_ptr(), std::dec,
                       " is not ", p.divisibility, "-byte aligned, which the cubin assumes");
    } else if (int_range(p.type, &r)) {
      if (a.kind() != KernelArg::Kind::I32 && a.kind() != KernelArg::Kind::I64) return bad_kind("an integer");
      int64_t v = a.as_int();
      if (v < r.lo || v > r.hi)
        return str_cat("kernel '", e->name, "' parameter '", p.name, "' (", p.type, "): value ", v, " out of range");
      if (p.divisibility > 1 && v % p.divisibility != 0)
        return str_cat("kernel '", e->name, "' parameter '", p.name, "' = ", v, " must be a multiple of ",
                       p.divisibility, " (the cubin was compiled assuming it)");
    } else if (is_float_type(p.type)) {
      if (a.kind() != KernelArg::Kind::F32) return bad_kind("a float32");
    } else {
      return str_cat("kernel '", e->name, "' parameter '", p.name, "' has type ", p.type,
                     ", which the C++ runner cannot pass");
    }
  }
  return "";
}

KernelRunner::Loaded& KernelRunner::load(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = loaded_.find(name);
  if (it != loaded_.end()) return *it->second;
  const KernelEntry& e = entry(name);
  make_current(device_);
  auto l = std::make_unique<Loaded>();
  l->entry = &e;
  std::string what = str_cat("loading kernel '", e.name, "' (", e.cubin, " from ", pack_->origin(), ")");
  try {
    std::string image = pack_->read_cubin(e);
    TRITIUM_CU(cuModuleLoadData, &l->module, image.data());
    TRITIUM_CU(cuModuleGetFunction, &l->function, l->module, e.function.c_str());
    int static_shared = 0, max_threads = 0;
    TRITIUM_CU(cuFuncGetAttribute, &static_shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, l->function);
    TRITIUM_CU(cuFuncGetAttribute, &max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, l->function);
    TRITIUM_CHECK(e.num_warps * 32 <= max_threads, "it needs ", e.num_warps * 32,
                  " threads per block but this GPU allows only ", max_threads, " for it (too many registers)");
    if (e.shared > kDefaultSharedLimit) {
      TRITIUM_CHECK(e.shared + static_shared <= max_shared_optin_, "it needs ", e.shared + static_shared,
                    " bytes of shared memory, this GPU allows ", max_shared_optin_, " per block");
      TRITIUM_CU(cuFuncSetAttribute, l->function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, e.shared);
    }
    if (e.num_ctas == 16) TRITIUM_CU(cuFuncSetAttribute, l->function, CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);
  } catch (const Error& err) {
    if (l->module) api().cuModuleUnload(l->module);
    throw Error(str_cat(what, ": ", err.what()));
  }
  return *loaded_.emplace(std::string(name), std::move(l)).first->second;
}

void KernelRunner::preload(std::string_view name) { load(name); }

void KernelRunner::preload_all() {
  for (const auto& n : pack_->names())
    if (has(n)) load(n);
}

void KernelRunner::launch(std::string_view name, Grid grid, StreamHandle stream, std::span<const KernelArg> args) {
  Loaded& l = load(name);
  const KernelEntry& e = *l.entry;
  std::string bad = check_args_for(e, args);
  TRITIUM_CHECK(bad.empty(), bad);
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  const uint64_t gx = uint64_t(grid.x) * uint64_t(e.num_ctas);
  TRITIUM_CHECK(gx <= 0x7fffffffu && grid.y <= 65535 && grid.z <= 65535, "kernel '", e.name, "': grid (", grid.x,
                ", ", grid.y, ", ", grid.z, ") exceeds the CUDA limits (2^31-1, 65535, 65535)");
  make_current(device_);

  // Argument storage: one 8-byte slot per parameter (the driver reads each parameter's own
  // size from the start of its slot; x86-64 and aarch64 are little-endian).
  const size_t n = e.params.size();
  constexpr size_t kMaxParams = 128;
  TRITIUM_CHECK(n + 2 <= kMaxParams, "kernel '", e.name, "' has too many parameters (", n, ")");
  uint64_t slots[kMaxParams];
  void* params[kMaxParams];
  for (size_t i = 0; i < n; ++i) {
    const std::string& t = e.params[i].type;
    const KernelArg& a = args[i];
    uint64_t bits = 0;
    if (e.params[i].is_pointer()) {
      bits = a.as_ptr();
    } else if (a.kind() == KernelArg::Kind::F32) {
      float f = a.as_float();
      if (t == "fp16") {
        bits = f32_to_f16(f);
      } else if (t == "bf16") {
        bits = f32_to_bf16(f);
      } else if (t == "fp64") {
        double d = f;
        std::memcpy(&bits, &d, sizeof d);
      } else {
        uint32_t u;
        std::memcpy(&u, &f, sizeof f);
        bits = u;
      }
    } else {
      int64_t v = a.as_int();
      std::memcpy(&bits, &v, sizeof v);  // low bytes hold the narrower two's-complement value
    }
    slots[i] = bits;
    params[i] = &slots[i];
  }

  // Hidden trailing parameters: global scratch, profile scratch (as Triton's launcher does).
  CachingAllocator& alloc = caching_allocator();
  const uint64_t programs = gx * grid.y * grid.z;
  struct Scratch {
    void* block = nullptr;
    size_t bytes = 0;
  };
  Scratch scratch[2];
  const int sizes[2] = {e.global_scratch_size, e.profile_scratch_size};
  const int aligns[2] = {e.global_scratch_align, e.profile_scratch_align};
  for (int k = 0; k < 2; ++k) {
    uint64_t addr = 0;
    if (sizes[k] > 0) {
      size_t align = size_t(aligns[k] > 0 ? aligns[k] : 1);
      scratch[k].bytes = size_t(programs) * size_t(sizes[k]) + (align > 256 ? align : 0);
      scratch[k].block = alloc.allocate(scratch[k].bytes, device_);  // blocks are 256-byte aligned
      addr = (reinterpret_cast<uintptr_t>(scratch[k].block) + align - 1) / align * align;
    }
    slots[n + k] = addr;
    params[n + k] = &slots[n + k];
  }

  CUresult r;
  const char* call;
  // Kernels built for programmatic dependent launch (kernels/triton/_pdl.py) are launched with
  // it; TRITIUM_PDL=0 launches them plainly (their griddepcontrol.wait then returns at once),
  // for measuring.
  static const bool pdl_off = [] {
    const char* v = std::getenv("TRITIUM_PDL");
    return v && std::string(v) == "0";
  }();
  const bool pdl = e.launch_pdl && !pdl_off && pdl_on_.load(std::memory_order_relaxed);
  if (e.num_ctas != 1 || pdl || e.launch_cooperative_grid) {
    TRITIUM_CHECK(api().cuLaunchKernelEx, "kernel '", e.name,
                  "' needs cuLaunchKernelEx (clusters / PDL), which this NVIDIA driver lacks: update the driver");
    CUlaunchAttribute attrs[4];
    std::memset(attrs, 0, sizeof attrs);
    unsigned na = 0;
    if (pdl) {
      attrs[na].id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
      attrs[na].value.programmaticStreamSerializationAllowed = 1;
      ++na;
    }
    if (e.launch_cooperative_grid) {
      attrs[na].id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
      attrs[na].value.cooperative = 1;
      ++na;
    }
    if (e.num_ctas != 1) {
      attrs[na].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
      attrs[na].value.clusterDim.x = unsigned(e.num_ctas);
      attrs[na].value.clusterDim.y = 1;
      attrs[na].value.clusterDim.z = 1;
      ++na;
      attrs[na].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE;
      attrs[na].value.clusterSchedulingPolicyPreference = CU_CLUSTER_SCHEDULING_POLICY_SPREAD;
      ++na;
    }
    CUlaunchConfig cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.gridDimX = unsigned(gx);
    cfg.gridDimY = grid.y;
    cfg.gridDimZ = grid.z;
    cfg.blockDimX = unsigned(32 * e.num_warps);
    cfg.blockDimY = 1;
    cfg.blockDimZ = 1;
    cfg.sharedMemBytes = unsigned(e.shared);
    cfg.hStream = to_cu(stream);
    cfg.attrs = attrs;
    cfg.numAttrs = na;
    r = api().cuLaunchKernelEx(&cfg, l.function, params, nullptr);
    call = "cuLaunchKernelEx";
  } else {
    r = api().cuLaunchKernel(l.function, unsigned(gx), grid.y, grid.z, unsigned(32 * e.num_warps), 1, 1,
                             unsigned(e.shared), to_cu(stream), params, nullptr);
    call = "cuLaunchKernel";
  }
  // Scratch goes back to the cache at once: reuse is stream-ordered (see allocator.h).
  for (auto& s : scratch)
    if (s.block) alloc.deallocate(s.block, s.bytes, device_);
  if (r != CUDA_SUCCESS) {
    try {
      check(r, call);
    } catch (const Error& err) {
      throw Error(str_cat("launching kernel '", e.name, "' grid (", grid.x, ", ", grid.y, ", ", grid.z, "): ",
                          err.what()));
    }
  }
}

}  // namespace tritium::cuda
