// The committed kernel pack (kernels/pack) must match the kernel sources (kernels/triton):
// a source edited without `python3 kernels/build.py` is a stale pack, and fails here.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifdef TRITIUM_HAVE_CUDA
#include "backends/cuda/kernel_pack.h"
#include "core/error.h"
#endif

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = TRITIUM_SOURCE_DIR;
const fs::path kPack = kRoot / "kernels" / "pack";
const fs::path kSources = kRoot / "kernels" / "triton";
constexpr const char* kRebuild = "run `python3 kernels/build.py` and commit kernels/pack";

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// SHA-256 (FIPS 180-4), enough to compare file hashes with kernels/build.py's hashlib.
std::string sha256_hex(const std::string& data) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string msg = data;
  const uint64_t bits = uint64_t(data.size()) * 8;
  msg.push_back(char(0x80));
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 7; i >= 0; --i) msg.push_back(char((bits >> (8 * i)) & 0xff));
  auto rotr = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < msg.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(msg.data() + off + 4 * i);
      w[i] = (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = hh + S1 + ch + k[i] + w[i];
      uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = S0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  char out[65];
  for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
  return std::string(out, 64);
}

// kernels/triton/*.py, minus private helpers (_*.py), as repo-relative paths.
std::vector<std::string> kernel_sources() {
  std::vector<std::string> v;
  if (!fs::is_directory(kSources)) return v;
  for (const auto& e : fs::directory_iterator(kSources)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file() && e.path().extension() == ".py" && name[0] != '_')
      v.push_back("kernels/triton/" + name);
  }
  std::sort(v.begin(), v.end());
  return v;
}

bool load_manifest(nlohmann::json* out) {
  const fs::path p = kPack / "manifest.json";
  if (!fs::exists(p)) return false;
  *out = nlohmann::json::parse(read_file(p));
  return true;
}

}  // namespace

TEST(KernelPack, Sha256MatchesKnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
}

TEST(KernelPack, ManifestExistsWhenThereAreKernelSources) {
  nlohmann::json m;
  if (kernel_sources().empty()) GTEST_SKIP() << "no kernel sources in kernels/triton";
  ASSERT_TRUE(load_manifest(&m)) << "kernels/pack/manifest.json is missing: " << kRebuild;
  ASSERT_TRUE(m.contains("kernels") && m["kernels"].is_array()) << "manifest.json has no 'kernels' array";
}

TEST(KernelPack, EverySourceMatchesItsHash) {
  nlohmann::json m;
  if (!load_manifest(&m)) GTEST_SKIP() << "no kernels/pack/manifest.json";
  // source -> (hash recorded in the manifest -> one kernel built from it), reported once per source.
  std::map<std::string, std::map<std::string, std::string>> recorded;
  for (const auto& k : m["kernels"])
    recorded[k.at("source").get<std::string>()][k.at("source_sha256").get<std::string>()] =
        k.at("name").get<std::string>();
  for (const auto& [src, hashes] : recorded) {
    const fs::path p = kRoot / src;
    if (!fs::exists(p)) {
      ADD_FAILURE() << "stale pack: kernels such as " << hashes.begin()->second << " come from " << src
                    << ", which no longer exists; " << kRebuild;
      continue;
    }
    const std::string now = sha256_hex(read_file(p));
    for (const auto& [want, name] : hashes)
      EXPECT_EQ(now, want) << "stale pack: " << src << " changed since its kernels (e.g. " << name
                           << ") were built; " << kRebuild;
  }
}

TEST(KernelPack, EveryCubinExists) {
  nlohmann::json m;
  if (!load_manifest(&m)) GTEST_SKIP() << "no kernels/pack/manifest.json";
  for (const auto& k : m["kernels"]) {
    const fs::path p = kPack / k.at("cubin").get<std::string>();
    if (!fs::exists(p)) {
      ADD_FAILURE() << "kernels/pack/" << k.at("cubin").get<std::string>() << " (kernel " << k.at("name")
                    << ") is in the manifest but missing; " << kRebuild;
      continue;
    }
    if (k.contains("cubin_sha256"))
      EXPECT_EQ(sha256_hex(read_file(p)), k["cubin_sha256"].get<std::string>())
          << "kernels/pack/" << k.at("cubin").get<std::string>() << " does not match the manifest; " << kRebuild;
  }
}

TEST(KernelPack, EverySourceHasKernels) {
  nlohmann::json m;
  auto sources = kernel_sources();
  if (sources.empty()) GTEST_SKIP() << "no kernel sources";
  ASSERT_TRUE(load_manifest(&m)) << "kernels/pack/manifest.json is missing: " << kRebuild;
  std::set<std::string> in_manifest;
  for (const auto& k : m["kernels"]) in_manifest.insert(k.at("source").get<std::string>());
  for (const auto& s : sources)
    EXPECT_TRUE(in_manifest.count(s)) << s << " has no kernels in kernels/pack/manifest.json; " << kRebuild;
}

#ifdef TRITIUM_HAVE_CUDA

TEST(KernelPack, ParsesTheCommittedManifest) {
  if (!fs::exists(kPack / "manifest.json")) GTEST_SKIP() << "no kernels/pack/manifest.json";
  auto pack = tritium::cuda::KernelPack::from_dir(kPack.string());
  EXPECT_FALSE(pack->entries().empty());
  for (const auto& e : pack->entries()) {
    EXPECT_GE(e.num_warps, 1) << e.name;
    EXPECT_FALSE(e.function.empty()) << e.name;
  }
}

TEST(KernelPack, EmbeddedPackParses) {
  std::shared_ptr<const tritium::cuda::KernelPack> pack;
  try {
    pack = tritium::cuda::KernelPack::from_embedded();
  } catch (const tritium::Error& e) {
    GTEST_SKIP() << "no embedded pack: " << e.what();
  }
  for (const auto& e : pack->entries()) EXPECT_FALSE(pack->read_cubin(e).empty()) << e.cubin;
}

namespace {
std::string entry_json(const std::string& name, int arch, const std::string& ptx_arch) {
  return R"({"name": ")" + name + R"(", "arch": )" + std::to_string(arch) + R"(, "ptx_arch": ")" + ptx_arch +
         R"(", "cubin": "sm)" + std::to_string(arch) + "/" + name +
         R"(.cubin", "function": "k", "signature": [["x", "*fp32"], ["n", "i32"]], "divisibility": {"x": 16},
         "num_warps": 4, "shared": 0})";
}
}  // namespace

TEST(KernelPack, SelectsTheBestArch) {
  using tritium::cuda::KernelPack;
  std::string m = R"({"triton_version": "3.6.0", "kernels": [)" + entry_json("k", 80, "sm_80") + "," +
                  entry_json("k", 86, "sm_86") + "," + entry_json("k", 90, "sm_90a") + "," +
                  entry_json("k", 100, "sm_100a") + "," + entry_json("only80", 80, "sm_80") + "]}";
  auto pack = KernelPack::parse(m, "test");
  std::string why;
  auto arch_for = [&](int major, int minor) {
    const auto* e = pack->select("k", major, minor, &why);
    return e ? e->arch : -1;
  };
  EXPECT_EQ(arch_for(8, 0), 80);
  EXPECT_EQ(arch_for(8, 6), 86);
  EXPECT_EQ(arch_for(8, 9), 86);    // same major, largest minor <= 9
  EXPECT_EQ(arch_for(9, 0), 90);    // sm_90a on exactly 9.0
  EXPECT_EQ(arch_for(10, 0), 100);
  EXPECT_EQ(arch_for(10, 3), -1);   // sm_100a does not run on 10.3
  EXPECT_NE(why.find("sm80, sm86, sm90, sm100"), std::string::npos) << why;
  EXPECT_EQ(arch_for(12, 0), -1);
  EXPECT_EQ(arch_for(7, 5), -1);
  EXPECT_EQ(pack->select("only80", 9, 0, &why), nullptr);  // sm80 SASS does not run on sm90
  EXPECT_EQ(pack->select("nope", 9, 0, &why), nullptr);
  EXPECT_NE(why.find("unknown kernel 'nope'"), std::string::npos) << why;
  const auto* e = pack->select("k", 9, 0, &why);
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->params.size(), 2u);
  EXPECT_EQ(e->params[0].divisibility, 16);
  EXPECT_EQ(e->params[1].divisibility, 1);
}

TEST(KernelPack, MalformedManifestsGiveClearErrors) {
  using tritium::cuda::KernelPack;
  try {
    KernelPack::parse("{not json", "bad.json");
    FAIL() << "expected an error";
  } catch (const tritium::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  try {
    KernelPack::parse(R"({"kernels": [{"name": "k", "arch": 90}]})", "m.json");
    FAIL() << "expected an error";
  } catch (const tritium::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing field 'cubin'"), std::string::npos) << e.what();
  }
}

#endif  // TRITIUM_HAVE_CUDA
