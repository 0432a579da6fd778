// Loading checkpoints: every malformed-file case gets an error naming the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/model.h"
#include "model/safetensors.h"
#include "test_util.h"

using namespace tritium;
namespace fs = std::filesystem;

namespace {

// Writes a safetensors file from a raw header string and `data_bytes` bytes of data.
std::string write_raw(const std::string& dir, const std::string& header, size_t data_bytes,
                      std::optional<uint64_t> claimed_len = std::nullopt) {
  std::string path = dir + "/model.safetensors";
  std::ofstream out(path, std::ios::binary);
  uint64_t n = claimed_len.value_or(header.size());
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), std::streamsize(header.size()));
  std::string data(data_bytes, '\x01');
  out.write(data.data(), std::streamsize(data.size()));
  return path;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR_HAS(expr, ...)                                     \
  do {                                                                 \
    std::string msg = error_of([&] { (void)(expr); });                 \
    for (const char* s : {__VA_ARGS__}) EXPECT_NE(msg.find(s), std::string::npos) << "message: " << msg; \
  } while (0)

TEST(Safetensors, ReadsWhatItWrites) {
  std::string dir = test::temp_dir("st_ok");
  Tensor a = test::random_tensor({3, 5}, 1), b = test::random_tensor({7}, 2).to(DType::BF16);
  save_safetensors(dir + "/x.safetensors", {{"a", a}, {"b", b}}, {{"format", "pt"}});
  auto f = SafetensorsFile::open(dir + "/x.safetensors");
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(test::rel_error(f->get("a"), a), 0.0);
  EXPECT_EQ(f->get("b").dtype(), DType::BF16);
  EXPECT_EQ(test::rel_error(f->get("b"), b), 0.0);
}

TEST(Safetensors, FileTooShort) {
  std::string dir = test::temp_dir("st_short");
  std::ofstream(dir + "/model.safetensors") << "abc";
  EXPECT_ERROR_HAS(SafetensorsFile::open(dir + "/model.safetensors"), "model.safetensors", "too short");
}

TEST(Safetensors, HeaderLongerThanFile) {
  std::string dir = test::temp_dir("st_hlen");
  std::string p = write_raw(dir, "{}", 0, 4096);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "header length 4096", "exceeds the file");
}

TEST(Safetensors, HeaderAbsurdlyLarge) {
  std::string dir = test::temp_dir("st_huge");
  std::string p = write_raw(dir, "{}", 0, uint64_t(1) << 40);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "header length", "more than the limit");
}

TEST(Safetensors, HeaderNotJson) {
  std::string dir = test::temp_dir("st_json");
  std::string p = write_raw(dir, "{\"a\": [1, 2", 0);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "header is not valid JSON");
}

TEST(Safetensors, UnknownDtype) {
  std::string dir = test::temp_dir("st_dtype");
  std::string p = write_raw(dir, R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,2]}})", 2);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "tensor 'w'", "unknown dtype 'Q4_K'");
}

TEST(Safetensors, SizeMismatch) {
  std::string dir = test::temp_dir("st_size");
  std::string p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "tensor 'w'", "24 bytes", "span 20");
}

TEST(Safetensors, RangeOutsideData) {
  std::string dir = test::temp_dir("st_range");
  std::string p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "tensor 'w'", "outside the data section");
}

TEST(Safetensors, OverlappingRanges) {
  std::string dir = test::temp_dir("st_overlap");
  std::string p = write_raw(dir,
                            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                            R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                            16);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "'a'", "'b'", "overlapping");
}

TEST(Safetensors, NegativeOrBadShape) {
  std::string dir = test::temp_dir("st_shape");
  std::string p = write_raw(dir, R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  EXPECT_ERROR_HAS(SafetensorsFile::open(p), "tensor 'w'", "shape");
}

// Copies a golden fixture so a test can damage it.
std::string copy_fixture(const std::string& name, const std::string& tag) {
  std::string dir = test::temp_dir(tag);
  for (auto& e : fs::directory_iterator(test::golden_dir(name))) fs::copy(e.path(), dir + "/" + e.path().filename().string());
  return dir;
}

// Rewrites model.safetensors of `dir` through `edit`, which may drop, add or reshape tensors.
void rewrite(const std::string& dir, const std::function<void(std::vector<std::pair<std::string, Tensor>>&)>& edit) {
  std::vector<std::pair<std::string, Tensor>> ts;
  {
    auto f = SafetensorsFile::open(dir + "/model.safetensors");
    for (auto& [n, _] : f->tensors()) {
      Tensor own = Tensor::empty(f->get(n).shape(), DType::F32);  // a copy: the file is rewritten below
      own.copy_from(f->get(n));
      ts.push_back({n, own});
    }
  }
  edit(ts);
  save_safetensors(dir + "/model.safetensors", ts);
}

TEST(Checkpoint, MissingTensor) {
  std::string dir = copy_fixture("llama", "ck_missing");
  rewrite(dir, [](auto& ts) {
    std::erase_if(ts, [](auto& p) { return p.first == "model.layers.1.mlp.up_proj.weight"; });
  });
  EXPECT_ERROR_HAS(Model::load(dir), "missing tensor 'model.layers.1.mlp.up_proj.weight'", "LlamaForCausalLM");
}

TEST(Checkpoint, UnexpectedTensor) {
  std::string dir = copy_fixture("llama", "ck_unexpected");
  rewrite(dir, [](auto& ts) { ts.push_back({"model.layers.0.self_attn.q_proj.bias", test::random_tensor({64}, 3)}); });
  EXPECT_ERROR_HAS(Model::load(dir), "unexpected tensor 'model.layers.0.self_attn.q_proj.bias'");
}

TEST(Checkpoint, ShapeMismatchWithConfig) {
  std::string dir = copy_fixture("llama", "ck_shape");
  rewrite(dir, [](auto& ts) {
    for (auto& [n, t] : ts)
      if (n == "model.layers.0.mlp.down_proj.weight") t = test::random_tensor({64, 96}, 4);
  });
  EXPECT_ERROR_HAS(Model::load(dir), "'model.layers.0.mlp.down_proj.weight'", "[64, 96]", "[64, 128]");
}

TEST(Checkpoint, ShardIndexNamesMissingFile) {
  std::string dir = copy_fixture("llama_sharded_bias", "ck_shard");
  fs::remove(dir + "/model-00002-of-00003.safetensors");
  EXPECT_ERROR_HAS(Model::load(dir), "model-00002-of-00003.safetensors", "cannot open");
}

TEST(Checkpoint, ShardIndexLies) {
  std::string dir = copy_fixture("llama_sharded_bias", "ck_shard_lie");
  nlohmann::json j;
  {
    std::ifstream in(dir + "/model.safetensors.index.json");
    j = nlohmann::json::parse(in);
  }
  j["weight_map"]["model.norm.weight"] = "model-00001-of-00003.safetensors";
  std::string where = j["weight_map"]["model.norm.weight"];
  std::ofstream(dir + "/model.safetensors.index.json") << j.dump();
  // Either the file really holds it (no error) or the index is called out.
  std::string msg = error_of([&] { Model::load(dir); });
  auto f = SafetensorsFile::open(dir + "/" + where);
  if (!f->has("model.norm.weight")) EXPECT_NE(msg.find("does not hold it"), std::string::npos) << msg;
}

TEST(Checkpoint, ShardedLoadsLikeOneFile) {
  auto m = Model::load(test::golden_dir("llama_sharded_bias"));
  EXPECT_TRUE(m->spec().qkv_bias);
  EXPECT_TRUE(m->spec().mlp_bias);
}

TEST(Checkpoint, NoWeightsAtAll) {
  std::string dir = test::temp_dir("ck_empty");
  fs::copy(test::golden_dir("llama") + "/config.json", dir + "/config.json");
  EXPECT_ERROR_HAS(Model::load(dir), "no model.safetensors");
}

}  // namespace
