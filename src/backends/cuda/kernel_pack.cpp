#include "backends/cuda/kernel_pack.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "backends/cuda/embedded_pack.h"
#include "core/error.h"
#include "core/file.h"

namespace tritium::cuda {

namespace {

const EmbeddedFile* find_embedded(std::string_view path) {
  size_t n = 0;
  const EmbeddedFile* files = embedded_pack_files(&n);
  for (size_t i = 0; i < n; ++i)
    if (path == files[i].path) return &files[i];
  return nullptr;
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  TRITIUM_CHECK(it != j.end(), where, ": missing field '", key, "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat(where, ": field '", key, "' has the wrong type (", e.what(), ")"));
  }
}

template <typename T>
T field_or(const nlohmann::json& j, const char* key, T dflt, const std::string& where) {
  return j.contains(key) ? field<T>(j, key, where) : dflt;
}

std::string arch_list(const std::vector<int>& archs) {
  std::string s;
  for (int a : archs) s += (s.empty() ? "sm" : ", sm") + std::to_string(a);
  return s.empty() ? "none" : s;
}

}  // namespace

bool KernelEntry::runs_on(int cc_major, int cc_minor) const {
  int major = arch / 10, minor = arch % 10;
  if (arch_specific()) return major == cc_major && minor == cc_minor;
  return major == cc_major && minor <= cc_minor;
}

std::shared_ptr<KernelPack> KernelPack::parse(const std::string& text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(str_cat("kernel manifest ", origin, " is not valid JSON: ", e.what()));
  }
  TRITIUM_CHECK(j.is_object(), "kernel manifest ", origin, ": expected a JSON object");
  auto pack = std::make_shared<KernelPack>();
  pack->origin_ = origin;
  pack->triton_version_ = field_or<std::string>(j, "triton_version", "", origin);
  auto kit = j.find("kernels");
  TRITIUM_CHECK(kit != j.end() && kit->is_array(), "kernel manifest ", origin, ": missing array 'kernels'");
  std::set<std::pair<std::string, int>> seen;
  size_t idx = 0;
  for (const auto& k : *kit) {
    std::string where = str_cat("kernel manifest ", origin, ": kernels[", idx++, "]");
    TRITIUM_CHECK(k.is_object(), where, ": expected an object");
    KernelEntry e;
    e.name = field<std::string>(k, "name", where);
    where += " (" + e.name + ")";
    e.kernel = field_or<std::string>(k, "kernel", "", where);
    e.source = field_or<std::string>(k, "source", "", where);
    e.source_sha256 = field_or<std::string>(k, "source_sha256", "", where);
    e.arch = field<int>(k, "arch", where);
    e.ptx_arch = field_or<std::string>(k, "ptx_arch", "", where);
    e.cubin = field<std::string>(k, "cubin", where);
    e.function = field<std::string>(k, "function", where);
    e.num_warps = field<int>(k, "num_warps", where);
    e.num_stages = field_or<int>(k, "num_stages", 1, where);
    e.num_ctas = field_or<int>(k, "num_ctas", 1, where);
    e.shared = field<int>(k, "shared", where);
    e.global_scratch_size = field_or<int>(k, "global_scratch_size", 0, where);
    e.global_scratch_align = field_or<int>(k, "global_scratch_align", 1, where);
    e.profile_scratch_size = field_or<int>(k, "profile_scratch_size", 0, where);
    e.profile_scratch_align = field_or<int>(k, "profile_scratch_align", 1, where);
    e.launch_pdl = field_or<bool>(k, "launch_pdl", false, where);
    e.launch_cooperative_grid = field_or<bool>(k, "launch_cooperative_grid", false, where);
    e.cubin_sha256 = field_or<std::string>(k, "cubin_sha256", "", where);
    TRITIUM_CHECK(e.num_warps >= 1 && e.num_warps <= 32, where, ": bad num_warps ", e.num_warps);
    TRITIUM_CHECK(e.num_ctas >= 1, where, ": bad num_ctas ", e.num_ctas);
    TRITIUM_CHECK(e.shared >= 0 && e.global_scratch_size >= 0 && e.profile_scratch_size >= 0, where,
                  ": negative sizes");
    auto sit = k.find("signature");
    TRITIUM_CHECK(sit != k.end() && sit->is_array(), where, ": missing array 'signature'");
    nlohmann::json div = k.contains("divisibility") ? k["divisibility"] : nlohmann::json::object();
    for (const auto& p : *sit) {
      TRITIUM_CHECK(p.is_array() && p.size() == 2 && p[0].is_string() && p[1].is_string(), where,
                    ": signature entries must be [name, type]");
      KernelParam kp{p[0].get<std::string>(), p[1].get<std::string>(), 1};
      TRITIUM_CHECK(kp.type != "constexpr", where, ": constexpr parameter ", kp.name, " in the launch signature");
      if (div.is_object() && div.contains(kp.name) && div[kp.name].is_number_integer())
        kp.divisibility = div[kp.name].get<int>();
      e.params.push_back(std::move(kp));
    }
    TRITIUM_CHECK(seen.insert({e.name, e.arch}).second, where, ": duplicate entry for sm", e.arch);
    pack->entries_.push_back(std::move(e));
  }
  for (size_t i = 0; i < pack->entries_.size(); ++i) pack->by_name_.emplace(pack->entries_[i].name, i);
  return pack;
}

std::shared_ptr<const KernelPack> KernelPack::from_dir(const std::string& dir) {
  std::string path = dir + "/manifest.json";
  std::ifstream probe(path);
  TRITIUM_CHECK(probe.good(), "no kernel manifest at ", path,
                " (TRITIUM_KERNEL_DIR must name a directory with manifest.json and sm*/, e.g. kernels/pack)");
  auto pack = parse(read_file(path), path);
  pack->dir_ = dir;
  return pack;
}

std::shared_ptr<const KernelPack> KernelPack::from_embedded() {
  const EmbeddedFile* m = find_embedded("manifest.json");
  TRITIUM_CHECK(m, "this tritium binary has no kernel pack embedded (kernels/pack was empty at build time): run "
                   "`python3 kernels/build.py` and rebuild, or set TRITIUM_KERNEL_DIR=kernels/pack");
  auto pack = parse(std::string(reinterpret_cast<const char*>(m->data), m->size), "(embedded)/manifest.json");
  pack->embedded_ = true;
  return pack;
}

std::shared_ptr<const KernelPack> KernelPack::load_default() {
  const char* dir = std::getenv("TRITIUM_KERNEL_DIR");
  if (dir && *dir) return from_dir(dir);
  return from_embedded();
}

std::vector<std::string> KernelPack::names() const {
  std::vector<std::string> v;
  for (const auto& [name, i] : by_name_)
    if (v.empty() || v.back() != name) v.push_back(name);
  return v;
}

std::vector<int> KernelPack::archs(std::string_view name) const {
  std::set<int> s;
  for (const auto& e : entries_)
    if (name.empty() || e.name == name) s.insert(e.arch);
  return {s.begin(), s.end()};
}

bool KernelPack::contains(std::string_view name) const { return by_name_.find(name) != by_name_.end(); }

const KernelEntry* KernelPack::select(std::string_view name, int cc_major, int cc_minor, std::string* why) const {
  const KernelEntry* best = nullptr;
  auto [lo, hi] = by_name_.equal_range(name);
  for (auto it = lo; it != hi; ++it) {
    const KernelEntry& e = entries_[it->second];
    if (e.runs_on(cc_major, cc_minor) && (!best || e.arch > best->arch)) best = &e;
  }
  if (best) return best;
  if (why) {
    if (lo == hi) {
      auto all = names();
      std::string some;
      for (size_t i = 0; i < all.size() && i < 12; ++i) some += (i ? ", " : "") + all[i];
      if (all.size() > 12) some += ", ...";
      *why = str_cat("unknown kernel '", name, "' (not in the kernel pack ", origin_, ", which has ", all.size(),
                     " kernels: ", some, ")");
    } else {
      *why = str_cat("kernel '", name, "' has no cubin for this GPU (compute capability ", cc_major, ".", cc_minor,
                     "); the pack ", origin_, " has it for: ", arch_list(archs(name)),
                     ". Build it with `python3 kernels/build.py --arch ", cc_major * 10 + cc_minor,
                     "` (if kernels/build.py supports that arch)");
    }
  }
  return nullptr;
}

std::string KernelPack::read_cubin(const KernelEntry& e) const {
  if (embedded_) {
    const EmbeddedFile* f = find_embedded(e.cubin);
    TRITIUM_CHECK(f, "kernel '", e.name, "': cubin ", e.cubin, " is in the manifest but was not embedded");
    return std::string(reinterpret_cast<const char*>(f->data), f->size);
  }
  return read_file(dir_ + "/" + e.cubin);
}

}  // namespace tritium::cuda
