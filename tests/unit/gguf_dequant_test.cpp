// GGUF dequantization of every supported type against the gguf package's dequantize (gguf-py,
// requirements-test.txt) on random blocks, bit for bit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file.h"
#include "core/half.h"
#include "model/gguf_dequant.h"
#include "test_util.h"

using namespace tritium;

namespace {

std::string python() {
  if (const char* p = std::getenv("TRITIUM_TEST_PYTHON"); p && *p) return p;
  return test::source_dir() + "/build/.venv/bin/python";
}

// The reference cases, made once per test run by tests/unit/gguf_dequant_reference.py.
const std::string& reference_dir() {
  static const std::string dir = [] {
    std::string d = test::temp_dir("gguf_dequant_ref");
    std::string cmd = python() + " " + test::source_dir() + "/tests/unit/gguf_dequant_reference.py " + d;
    int rc = std::system(cmd.c_str());
    if (rc != 0) return std::string();
    return d;
  }();
  return dir;
}

struct Case {
  std::string name;
  uint32_t type;
  int64_t n;
  std::string raw;
  std::vector<float> want;
};

std::vector<Case> cases() {
  std::vector<Case> r;
  const std::string& d = reference_dir();
  if (d.empty()) return r;
  auto m = nlohmann::json::parse(read_file(d + "/manifest.json"));
  for (auto& [name, v] : m.items()) {
    Case c{name, v["type"].get<uint32_t>(), v["n"].get<int64_t>(), read_file(d + "/" + name + ".q"), {}};
    std::string f = read_file(d + "/" + name + ".f32");
    c.want.resize(f.size() / 4);
    std::memcpy(c.want.data(), f.data(), f.size());
    r.push_back(std::move(c));
  }
  return r;
}

TEST(GgufDequant, EveryTypeBitEqualToGgufPy) {
  auto cs = cases();
  ASSERT_FALSE(cs.empty()) << "the reference (" << python()
                           << " tests/unit/gguf_dequant_reference.py, needs the gguf package) did not run: "
                              "scripts/install-deps.sh --test";
  std::set<std::string> seen;
  for (const Case& c : cs) {
    seen.insert(c.name);
    ASSERT_EQ(int64_t(c.want.size()), c.n);
    const GgmlTypeInfo* t = ggml_type_info(c.type);
    ASSERT_TRUE(t && t->dequantizable) << c.name;
    ASSERT_EQ(int64_t(c.raw.size()), c.n / t->block_size * t->block_bytes) << c.name;
    std::vector<float> got(static_cast<size_t>(c.n));
    dequantize_row(c.type, c.raw.data(), got.data(), c.n);
    int64_t diff = 0;
    for (int64_t i = 0; i < c.n; ++i)
      if (std::memcmp(&got[size_t(i)], &c.want[size_t(i)], 4) != 0 && ++diff <= 3)
        ADD_FAILURE() << c.name << " element " << i << ": " << got[size_t(i)] << " vs gguf-py " << c.want[size_t(i)];
    EXPECT_EQ(diff, 0) << c.name;
    std::printf("[dequant] %-5s %6lld values bit-equal to gguf-py\n", c.name.c_str(), (long long)c.n);
  }
  for (const char* n : {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"})
    EXPECT_TRUE(seen.count(n)) << n << " has no reference case";
}

TEST(GgufDequant, MatrixToBf16WithRowOrder) {
  for (const Case& c : cases()) {
    const GgmlTypeInfo* t = ggml_type_info(c.type);
    const int64_t cols = t->block_size == 1 ? 256 : t->block_size * 2, rows = c.n / cols;
    std::vector<int64_t> order(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) order[size_t(r)] = (r * 7 + 3) % rows;  // rows is a power of two
    std::vector<uint16_t> got(static_cast<size_t>(c.n));
    dequantize_matrix(c.type, c.raw.data(), rows, cols, DType::BF16, got.data(), &order);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) {
        const uint16_t want = f32_to_bf16(c.want[size_t(order[size_t(r)] * cols + k)]);
        ASSERT_EQ(got[size_t(r * cols + k)], want) << c.name << " row " << r << " col " << k;
      }
    std::vector<float> f32(static_cast<size_t>(c.n));
    dequantize_matrix(c.type, c.raw.data(), rows, cols, DType::F32, f32.data());
    EXPECT_EQ(std::memcmp(f32.data(), c.want.data(), size_t(c.n) * 4), 0) << c.name;
  }
}

TEST(GgufDequant, UnsupportedTypesRefusedByName) {
  std::vector<float> out(256);
  char raw[1024] = {};
  for (uint32_t t : {ggml_type::IQ2_XXS, ggml_type::Q8_K, ggml_type::IQ4_NL, ggml_type::TQ1_0, ggml_type::MXFP4}) {
    try {
      dequantize_row(t, raw, out.data(), 256);
      ADD_FAILURE() << ggml_type_name(t) << " was accepted";
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(ggml_type_name(t)), std::string::npos) << m;
      EXPECT_NE(m.find("Q4_K"), std::string::npos) << m;  // the supported list
    }
  }
  EXPECT_EQ(ggml_type_info(4), nullptr);   // retired Q4_2
  EXPECT_EQ(ggml_type_info(99), nullptr);
  EXPECT_EQ(ggml_type_name(99), "type 99");
}

}  // namespace
