// Helpers shared by the C++ tests.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tritium::test {

std::string source_dir();                     // repository root
std::string golden_dir(const std::string& name);  // tests/fixtures/golden/<name>
// tests/fixtures/golden under the source tree this binary was built from, else (the binary was
// carried to another machine) below the working directory or one above it; "" if none.
std::string find_golden_root();
std::vector<std::string> golden_names();      // every fixture directory
std::string temp_dir(const std::string& tag);  // a fresh empty directory under the build tree

// A golden fixture's reference (tools/golden/make_golden.py): golden.safetensors + golden.json.
struct Golden {
  std::vector<int32_t> prompt, gen;
  Tensor prompt_logits;         // [P, V]
  Tensor gen_logits;            // [G, V]: the logits that chose each generated token
  std::vector<double> margins;  // reference top-2 logit margin at each generated step
  std::vector<double> row_rms;  // RMS of the reference logits at each generated step
};
Golden read_golden(const std::string& dir);

// ||a - b|| / ||b|| over all elements (both read as float).
double rel_error(const Tensor& a, const Tensor& b);
// Fresh random F32 tensor, values uniform in [-scale, scale).
Tensor random_tensor(const Shape& shape, uint64_t seed, float scale = 1.0f);

}  // namespace tritium::test
