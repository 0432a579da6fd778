// The kernel catalog and the checks shared by the CUDA ops (see cuda_ops_util.h).
#include "backends/cuda/cuda_ops_util.h"

#include "backends/cuda/kernel_profile.h"

#include <climits>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "backends/cuda/driver.h"
#include "backends/cuda/embedded_pack.h"

namespace tritium::cuda::detail {

int64_t Variant::cx(std::string_view key) const {
  auto it = constexprs.find(key);
  TRITIUM_CHECK(it != constexprs.end(), "kernel '", name, "': the manifest records no constexpr ", key,
                " (rebuild the pack with `python3 kernels/build.py`)");
  return it->second;
}

int64_t Variant::cx_or(std::string_view key, int64_t dflt) const {
  auto it = constexprs.find(key);
  return it == constexprs.end() ? dflt : it->second;
}

namespace {

// The manifest text of the pack the runner uses: the embedded one, or the file it was read from.
std::string manifest_text(const KernelPack& pack) {
  if (pack.origin() == "(embedded)/manifest.json") {
    size_t n = 0;
    const EmbeddedFile* files = embedded_pack_files(&n);
    for (size_t i = 0; i < n; ++i)
      if (std::string_view(files[i].path) == "manifest.json")
        return std::string(reinterpret_cast<const char*>(files[i].data), files[i].size);
    return {};
  }
  std::ifstream f(pack.origin(), std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// name -> constexprs, from the manifest (identical for every arch of a name).
std::map<std::string, std::map<std::string, int64_t, std::less<>>> read_constexprs(const KernelPack& pack) {
  std::map<std::string, std::map<std::string, int64_t, std::less<>>> r;
  std::string text = manifest_text(pack);
  if (text.empty()) return r;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("kernels") || !j["kernels"].is_array()) return r;
  for (const auto& k : j["kernels"]) {
    if (!k.is_object() || !k.contains("name") || !k["name"].is_string()) continue;
    auto& m = r[k["name"].get<std::string>()];
    if (!k.contains("constexprs") || !k["constexprs"].is_object()) continue;
    for (auto it = k["constexprs"].begin(); it != k["constexprs"].end(); ++it) {
      if (it.value().is_boolean())
        m[it.key()] = it.value().get<bool>() ? 1 : 0;
      else if (it.value().is_number_integer())
        m[it.key()] = it.value().get<int64_t>();
    }
  }
  return r;
}

}  // namespace

Catalog::Catalog(int device_index, int64_t shared_limit) : device_(device_index) {
  KernelRunner& kr = KernelRunner::for_device(device_index);
  origin_ = kr.pack().origin();
  const DeviceInfo info = device_info(device_index);
  sm_count_ = std::max(1, info.sm_count);
  if (shared_limit < 0 && info.max_shared_per_block_optin > 0) shared_limit = info.max_shared_per_block_optin;
  auto cx = read_constexprs(kr.pack());
  for (const auto& name : kr.pack().names()) {
    if (!kr.has(name)) continue;
    const KernelEntry& e = kr.entry(name);
    if (shared_limit >= 0 && e.shared > shared_limit) {
      too_large_.push_back(name);
      continue;
    }
    Variant v;
    v.name = name;
    v.kernel = e.kernel;
    for (const auto& p : e.params) v.param_types[p.name] = p.type;
    auto it = cx.find(name);
    if (it != cx.end()) v.constexprs = it->second;
    variants_.push_back(std::move(v));
  }
}

namespace {
std::mutex g_catalogs_mu;
std::map<int, std::unique_ptr<Catalog>>& catalogs() {
  static auto* c = new std::map<int, std::unique_ptr<Catalog>>;
  return *c;
}
}  // namespace

const Catalog& Catalog::for_device(int device_index) {
  std::lock_guard<std::mutex> lock(g_catalogs_mu);
  auto& c = catalogs()[device_index];
  if (!c) c = std::make_unique<Catalog>(device_index);
  return *c;
}

void Catalog::rebuild(int device_index, int64_t shared_limit) {
  std::lock_guard<std::mutex> lock(g_catalogs_mu);
  catalogs()[device_index] = std::make_unique<Catalog>(device_index, shared_limit);
}

std::vector<const Variant*> Catalog::find(std::string_view kernel, std::string_view ptr_param, DType dt) const {
  std::string want = std::string("*") + triton_type(dt);
  std::vector<const Variant*> r;
  for (const auto& v : variants_) {
    if (v.kernel != kernel) continue;
    auto it = v.param_types.find(ptr_param);
    if (it != v.param_types.end() && it->second == want) r.push_back(&v);
  }
  return r;
}

std::string Catalog::values_of(std::string_view kernel, std::string_view ptr_param, DType dt,
                               std::string_view key) const {
  std::set<int64_t> vals;
  for (const Variant* v : find(kernel, ptr_param, dt))
    if (v->has_constexpr(key)) vals.insert(v->cx(key));
  if (vals.empty()) return "none";
  std::string s;
  for (int64_t x : vals) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

const char* triton_type(DType dt) {
  switch (dt) {
    case DType::BF16: return "bf16";
    case DType::F16: return "fp16";
    case DType::F32: return "fp32";
    case DType::I32: return "i32";
    case DType::I64: return "i64";
    case DType::F8E4M3: return "fp8e4nv";
    default: return "?";
  }
}

std::string describe(const Tensor& t) {
  std::string s = t.str();
  if (t.defined() && !t.is_contiguous()) s += " strides " + shape_str(t.strides());
  return s;
}

void check_device(const Tensor& t, Device dev, const char* op, const char* name) {
  TRITIUM_CHECK(t.defined(), op, " (cuda): ", name, " is undefined");
  TRITIUM_CHECK(t.device() == dev, op, " (cuda): ", name, " ", describe(t), " is not on ", dev.str());
}

void check_act(const Tensor& t, Device dev, const char* op, const char* name) {
  check_device(t, dev, op, name);
  TRITIUM_CHECK(t.dtype() == DType::BF16 || t.dtype() == DType::F16, op, " (cuda): ", name, " ", describe(t),
                " must be BF16 or F16 (the CUDA kernels compute in bf16/fp16 storage)");
  TRITIUM_CHECK(t.dim() >= 1 && t.stride(-1) == 1, op, " (cuda): ", name, " ", describe(t),
                " must have a contiguous last dim");
}

void check_same_dtype(const Tensor& t, const Tensor& ref, const char* op, const char* name) {
  TRITIUM_CHECK(t.dtype() == ref.dtype(), op, " (cuda): ", name, " ", describe(t), " must have dtype ",
                dtype_name(ref.dtype()), " (the kernels take one element type; Model::build converts weights)");
}

void check_kv_dtype(const Tensor& cache, const Tensor& act, Device dev, const char* op) {
  check_device(cache, dev, op, "KV cache");
  TRITIUM_CHECK(cache.dtype() == act.dtype() || cache.dtype() == DType::F8E4M3, op, " (cuda): KV cache ",
                describe(cache), " must hold ", dtype_name(act.dtype()), " (the activations' dtype) or F8_E4M3");
}

bool kv_cache_is(const Variant& v, DType kv) {
  auto it = v.param_types.find("k_cache_ptr");
  return it != v.param_types.end() && it->second == std::string("*") + triton_type(kv);
}

void check_i32(const Tensor& t, Device dev, int64_t n, const char* op, const char* name) {
  check_device(t, dev, op, name);
  TRITIUM_CHECK(t.dtype() == DType::I32 && t.is_contiguous(), op, " (cuda): ", name, " ", describe(t),
                " must be a contiguous I32 tensor");
  TRITIUM_CHECK(n < 0 || t.numel() == n, op, " (cuda): ", name, " ", describe(t), " should have ", n, " elements");
}

int32_t to_i32(int64_t v, const char* op, const char* what) {
  TRITIUM_CHECK(v >= INT32_MIN && v <= INT32_MAX, op, " (cuda): ", what, " = ", v,
                " does not fit the kernels' 32-bit integer parameter");
  return int32_t(v);
}

uint32_t grid_dim(int64_t n, const char* op) {
  TRITIUM_CHECK(n >= 0 && n <= 0x7fffffff, op, " (cuda): grid dimension ", n, " out of range");
  return uint32_t(n);
}

const void* offset_ptr(const Tensor& t, int64_t elems) {
  return static_cast<const char*>(t.data()) + elems * int64_t(dtype_size(t.dtype()));
}

StreamHandle stream_for(Device dev) { return current_stream(dev.index); }

std::string check_launch(Device dev, const Variant& v, std::initializer_list<KernelArg> args) {
  return KernelRunner::for_device(dev.index).check_args(v.name, std::span<const KernelArg>(args.begin(), args.size()));
}

void launch(Device dev, const Variant& v, Grid grid, std::initializer_list<KernelArg> args, const char* op) {
  KernelRunner& kr = KernelRunner::for_device(dev.index);
  std::span<const KernelArg> a(args.begin(), args.size());
  std::string bad = kr.check_args(v.name, a);
  TRITIUM_CHECK(bad.empty(), op, " (cuda): kernel ", v.name, " cannot take these arguments: ", bad);
  StreamHandle stream = stream_for(dev);
  const bool timed = kernel_profile_enabled() && !stream_is_capturing(stream);
  if (timed) kernel_profile_before(dev.index, stream);
  kr.launch(v.name, grid, stream, a);
  if (timed) kernel_profile_after(v.name, stream);
  // TRITIUM_CUDA_LAUNCH_BLOCKING=1: wait after every launch (outside graph capture), so an
  // asynchronous fault (illegal address, ...) is reported against the kernel that caused it.
  static const bool blocking = [] {
    const char* e = std::getenv("TRITIUM_CUDA_LAUNCH_BLOCKING");
    return e && *e && std::string(e) != "0";
  }();
  if (blocking && !stream_is_capturing(stream)) {
    try {
      synchronize(dev.index);
    } catch (const Error& e) {
      throw Error(str_cat(op, " (cuda): kernel ", v.name, " grid (", grid.x, ", ", grid.y, ", ", grid.z,
                          ") failed: ", e.what()));
    }
  }
}

}  // namespace tritium::cuda::detail
