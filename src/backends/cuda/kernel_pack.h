// The kernel pack's manifest (written by kernels/build.py): which cubins exist, for which
// arch, and how to launch them. Pure CPU code: parsing and arch selection need no GPU.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tritium::cuda {

struct KernelParam {
  std::string name;
  std::string type;      // "*bf16", "i32", "fp32", ...
  int divisibility = 1;  // 16: the cubin assumes the value (pointer address) is a multiple of 16
  bool is_pointer() const { return !type.empty() && type[0] == '*'; }
};

struct KernelEntry {
  std::string name;      // variant name, unique in the pack ("rms_norm_bf16_n4096")
  std::string kernel;    // Python function name
  std::string source;    // "kernels/triton/norm.py"
  std::string source_sha256;
  int arch = 0;          // 90
  std::string ptx_arch;  // "sm_90a" ("a": runs only on exactly that compute capability)
  std::string cubin;     // "sm90/rms_norm_bf16_n4096.cubin", relative to the pack
  std::string function;  // symbol in the cubin
  std::vector<KernelParam> params;  // launch order, constexprs excluded, hidden params excluded
  int num_warps = 4, num_stages = 1, num_ctas = 1;
  int shared = 0;  // dynamic shared memory bytes
  int global_scratch_size = 0, global_scratch_align = 1;
  int profile_scratch_size = 0, profile_scratch_align = 1;
  bool launch_pdl = false, launch_cooperative_grid = false;
  std::string cubin_sha256;

  bool arch_specific() const { return !ptx_arch.empty() && ptx_arch.back() == 'a'; }
  // Whether this cubin runs on a GPU of compute capability major.minor.
  bool runs_on(int cc_major, int cc_minor) const;
};

class KernelPack {
 public:
  // TRITIUM_KERNEL_DIR (a directory holding manifest.json and sm*/) when set, else the
  // embedded pack. Throws tritium::Error when neither has a manifest or it is malformed.
  static std::shared_ptr<const KernelPack> load_default();
  static std::shared_ptr<const KernelPack> from_dir(const std::string& dir);
  static std::shared_ptr<const KernelPack> from_embedded();
  // `origin` names where the manifest came from, for messages.
  static std::shared_ptr<KernelPack> parse(const std::string& manifest_json, const std::string& origin);

  const std::string& origin() const { return origin_; }
  const std::string& triton_version() const { return triton_version_; }
  const std::vector<KernelEntry>& entries() const { return entries_; }
  std::vector<std::string> names() const;                  // distinct variant names, sorted
  std::vector<int> archs(std::string_view name = {}) const;  // archs in the pack (for one name)
  bool contains(std::string_view name) const;

  // The best cubin of `name` for a GPU of compute capability major.minor: same major,
  // largest minor <= the GPU's, arch-specific ("a") cubins only on their exact arch.
  // Returns null and sets *why (a full message) when there is none.
  const KernelEntry* select(std::string_view name, int cc_major, int cc_minor, std::string* why) const;

  // The cubin bytes of an entry (from the directory or the embedded data).
  std::string read_cubin(const KernelEntry& e) const;

 private:
  std::string origin_, dir_, triton_version_;
  bool embedded_ = false;
  std::vector<KernelEntry> entries_;
  std::multimap<std::string, size_t, std::less<>> by_name_;
};

}  // namespace tritium::cuda
