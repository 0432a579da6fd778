#include "test_util.h"

#include "core/file.h"
#include "model/safetensors.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <unistd.h>

namespace tritium::test {

namespace fs = std::filesystem;

std::string source_dir() { return TRITIUM_SOURCE_DIR; }

std::string golden_dir(const std::string& name) { return source_dir() + "/tests/fixtures/golden/" + name; }

std::string find_golden_root() {
  std::string built = source_dir() + "/tests/fixtures/golden";
  if (fs::is_directory(built)) return built;
  for (fs::path p = fs::current_path(); !p.empty(); p = p.parent_path()) {
    if (fs::is_directory(p / "tests/fixtures/golden")) return (p / "tests/fixtures/golden").string();
    if (p == p.parent_path()) break;
  }
  return "";
}

std::vector<std::string> golden_names() {
  std::vector<std::string> r;
  for (auto& e : fs::directory_iterator(source_dir() + "/tests/fixtures/golden"))
    if (e.is_directory()) r.push_back(e.path().filename().string());
  std::sort(r.begin(), r.end());
  return r;
}

std::string temp_dir(const std::string& tag) {
  static int counter = 0;
  fs::path p = fs::path(TRITIUM_BINARY_DIR) / "test_tmp" / (tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

Golden read_golden(const std::string& dir) {
  auto f = SafetensorsFile::open(dir + "/golden.safetensors");
  Golden g;
  Tensor p = f->get("prompt_ids"), q = f->get("gen_ids");
  g.prompt.assign(p.data<int32_t>(), p.data<int32_t>() + p.numel());
  g.gen.assign(q.data<int32_t>(), q.data<int32_t>() + q.numel());
  g.prompt_logits = f->get("prompt_logits").contiguous();
  g.gen_logits = f->get("gen_logits").contiguous();
  nlohmann::json j = nlohmann::json::parse(read_file(dir + "/golden.json"));
  for (auto& m : j.at("top2_margins")) g.margins.push_back(m.get<double>());
  const int64_t V = g.gen_logits.size(1);
  for (int64_t i = 0; i < g.gen_logits.size(0); ++i) {
    const float* row = g.gen_logits.data<float>() + i * V;
    double ss = 0;
    for (int64_t v = 0; v < V; ++v) ss += double(row[v]) * row[v];
    g.row_rms.push_back(std::sqrt(ss / double(V)));
  }
  return g;
}

double rel_error(const Tensor& a, const Tensor& b) {
  double num = 0, den = 0;
  const int64_t n = b.numel();
  if (a.numel() != n) return INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    double x = load_as_float(a, i), y = load_as_float(b, i);
    if (!std::isfinite(x)) return INFINITY;
    num += (x - y) * (x - y);
    den += y * y;
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float scale) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(g);
  return t;
}

}  // namespace tritium::test
