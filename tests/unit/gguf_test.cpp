// GGUF files: every malformed-file case gets an error naming the field; metadata -> spec and
// tensors -> weights, checked by writing the golden fixtures as GGUF files (q/k rows permuted as
// llama.cpp's converter does, rope scaling as metadata) and comparing with transformers' logits.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "engine/generator.h"
#include "gguf_writer.h"
#include "model/gguf.h"
#include "model/gguf_dequant.h"
#include "model/gguf_model.h"
#include "model/gguf_tokenizer.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test_util.h"

using namespace tritium;
using test::GgufWriter;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR_HAS(expr, ...)                                                                        \
  do {                                                                                                    \
    std::string msg = error_of([&] { (void)(expr); });                                                    \
    for (const char* s : {__VA_ARGS__}) EXPECT_NE(msg.find(s), std::string::npos) << "message: " << msg; \
  } while (0)

std::string f32_bytes(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

// A small valid file: a few metadata types and two F32 tensors.
GgufWriter small() {
  GgufWriter w;
  w.str("general.architecture", "llama");
  w.u32("llama.block_count", 2);
  w.f32("llama.rope.freq_base", 10000.0f);
  w.boolean("tokenizer.ggml.add_bos_token", true);
  w.strs("tokenizer.ggml.tokens", {"a", "b", "c"});
  w.i32s("tokenizer.ggml.token_type", {1, 1, 3});
  w.tensor("a", {3, 2}, ggml_type::F32, f32_bytes({1, 2, 3, 4, 5, 6}));
  w.tensor("b", {4}, ggml_type::F32, f32_bytes({7, 8, 9, 10}));
  return w;
}

std::string write(const GgufWriter& w, const std::string& tag, std::optional<size_t> cut = std::nullopt) {
  std::string p = test::temp_dir(tag) + "/model.gguf";
  w.write(p, cut);
  return p;
}

TEST(Gguf, ReadsWhatItWrites) {
  auto f = GgufFile::open(write(small(), "gguf_ok"));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 2);
  EXPECT_EQ(f->get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_EQ(f->get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_EQ(f->get_strings("tokenizer.ggml.tokens")->size(), 3u);
  EXPECT_EQ(f->get_ints("tokenizer.ggml.token_type"), (std::vector<int64_t>{1, 1, 3}));
  EXPECT_FALSE(f->get_int("missing").has_value());
  const GgufTensorInfo* a = f->tensor("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->shape(), (Shape{2, 3}));  // ne reversed
  EXPECT_EQ(reinterpret_cast<const float*>(a->data)[5], 6.0f);
  EXPECT_EQ(reinterpret_cast<const float*>(f->tensor("b")->data)[0], 7.0f);
  EXPECT_EQ(f->tensor("b")->offset % 32, 0u);
  GgufWriter v2 = small();
  v2.version = 2;
  EXPECT_EQ(GgufFile::open(write(v2, "gguf_v2"))->version(), 2u);
}

TEST(Gguf, TypedReadsNameTheKeyAndTypes) {
  auto f = GgufFile::open(write(small(), "gguf_types"));
  EXPECT_ERROR_HAS(f->get_int("general.architecture"), "'general.architecture'", "is a string", "expected an integer");
  EXPECT_ERROR_HAS(f->get_string("llama.block_count"), "'llama.block_count'", "uint32", "expected a string");
  EXPECT_ERROR_HAS(f->get_strings("tokenizer.ggml.token_type"), "array of int32", "expected an array of strings");
  EXPECT_ERROR_HAS(f->get_bool("llama.rope.freq_base"), "float32", "expected a bool");
}

TEST(Gguf, TooShort) {
  std::string p = test::temp_dir("gguf_short") + "/x.gguf";
  std::ofstream(p) << "GGUF";
  EXPECT_ERROR_HAS(GgufFile::open(p), "x.gguf", "too short");
}

TEST(Gguf, BadMagic) {
  GgufWriter w = small();
  w.magic = 0x4c4c4747;  // "GGLL"
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_magic")), "not a GGUF file", "'GGLL'");
}

TEST(Gguf, UnsupportedVersions) {
  GgufWriter w = small();
  w.version = 1;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_v1")), "version 1 is not supported");
  w.version = 7;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_v7")), "version 7 is not supported", "2 and 3");
  w.version = 0x03000000;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_be")), "big-endian");
}

TEST(Gguf, TruncatedMetadata) {
  GgufWriter w = small();
  // cut inside the token strings: the counts are plausible, the value runs past the end
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_trunc", 200)), "metadata key 4 length 21 exceeds the file",
                   "of 200", "truncated");
  // cut inside the tensor directory
  const size_t full = w.bytes().size();
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_trunc_dir", full - 64 - 40)), "truncated", "tensor 1 name length");
}

TEST(Gguf, EveryCutIsRefusedCleanly) {
  // The file cut at every byte: each cut gets an Error naming the file, never a crash or a
  // read past the end.
  GgufWriter w = small();
  const std::string b = w.bytes();
  const std::string p = test::temp_dir("gguf_cuts") + "/model.gguf";
  for (size_t n = 0; n < b.size(); ++n) {
    w.write(p, n);
    std::string msg = error_of([&] { (void)GgufFile::open(p); });
    EXPECT_NE(msg.find(p), std::string::npos) << "cut at " << n << ": " << msg;
  }
  w.write(p);
  EXPECT_NO_THROW(GgufFile::open(p));
}

TEST(Gguf, AbsurdCounts) {
  GgufWriter w = small();
  w.tensor_count = uint64_t(1) << 40;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_tc")), "tensor_count 1099511627776 is absurd");
  w = small();
  w.kv_count = uint64_t(1) << 50;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_kc")), "kv_count", "absurd");
  w = small();
  w.kv("big.array", 9, GgufWriter::pod(uint32_t(4)) + GgufWriter::pod(uint64_t(1) << 60));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_ac")), "metadata 'big.array'", "claims 1152921504606846976 elements");
}

TEST(Gguf, AbsurdStringLengths) {
  GgufWriter w = small();
  w.kv("s", 8, GgufWriter::pod(uint64_t(1) << 40) + "abc");
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_sl")), "metadata 's'", "length 1099511627776 exceeds the file");
  GgufWriter k = small();
  k.kv(std::string(70000, 'k'), 4, GgufWriter::pod(uint32_t(1)));
  EXPECT_ERROR_HAS(GgufFile::open(write(k, "gguf_kl")), "70000 bytes long", "limit of 65535");
}

TEST(Gguf, BadValues) {
  GgufWriter w = small();
  w.kv("x", 13, GgufWriter::pod(uint32_t(0)));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_vt")), "metadata 'x'", "unknown value type 13");
  w = small();
  w.kv("x", 9, GgufWriter::pod(uint32_t(42)) + GgufWriter::pod(uint64_t(1)));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_et")), "metadata 'x'", "unknown element type 42");
  w = small();
  w.kv("flag", 7, std::string(1, '\x05'));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_bool")), "'flag'", "bool holding 5");
  w = small();
  w.u32("llama.block_count", 3);
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_dup")), "duplicate metadata key 'llama.block_count'");
}

TEST(Gguf, BadAlignment) {
  GgufWriter w = small();
  w.u32("general.alignment", 24);
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_align")), "general.alignment", "power of two", "24");
  GgufWriter ok = small();
  ok.u32("general.alignment", 64);
  ok.alignment = 64;
  EXPECT_EQ(GgufFile::open(write(ok, "gguf_align64"))->alignment(), 64u);
}

TEST(Gguf, BadTensorEntries) {
  GgufWriter w = small();
  w.tensor("five", {1, 1, 1, 1, 1}, ggml_type::F32, f32_bytes({1}));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_nd")), "tensor 'five'", "5 dimensions", "1 to 4");
  w = small();
  w.tensor("zero", {4, 0}, ggml_type::F32, "");
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_zero")), "tensor 'zero'", "dimension 1 is 0");
  w = small();
  w.tensor("odd", {4}, 99, f32_bytes({1, 2, 3, 4}));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_type")), "tensor 'odd'", "unknown ggml type id 99");
  w = small();
  w.tensor("q", {100, 2}, ggml_type::Q4_K, std::string(400, '\0'));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_block")), "tensor 'q'", "rows of 100", "whole number of Q4_K blocks",
                   "256");
  w = small();
  w.tensor("a", {3}, ggml_type::F32, f32_bytes({1, 2, 3}));
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_dupt")), "duplicate tensor name 'a'");
}

TEST(Gguf, BadOffsets) {
  GgufWriter w = small();
  w.tensors()[1].offset = 40;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_mis")), "tensor 'b'", "offset 40", "not a multiple of the alignment 32");
  w = small();
  w.tensors()[1].offset = 1 << 20;
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_out")), "tensor 'b'", "falls outside the data section");
  // the file cut inside the last tensor's data
  w = small();
  size_t full = w.bytes().size();
  EXPECT_ERROR_HAS(GgufFile::open(write(w, "gguf_cut", full - 4)), "tensor 'b'", "16 bytes", "falls outside");
}

TEST(Gguf, ShapeDoesNotMatchTheData) {
  // 'a' claims 4 x 4 F32 (64 bytes) where the file holds 24 before 'b': the shape and type
  // disagree with the layout.
  GgufWriter w = small();
  w.tensors()[0].ne = {4, 4};
  w.tensors()[0].offset = 0;
  w.tensors()[1].offset = 32;
  w.tensors()[1].data.clear();
  std::string p = test::temp_dir("gguf_overlap") + "/model.gguf";
  {
    std::string b = w.bytes() + std::string(96, '\0');
    std::ofstream(p, std::ios::binary).write(b.data(), std::streamsize(b.size()));
  }
  EXPECT_ERROR_HAS(GgufFile::open(p), "tensor 'a'", "[4, 4] F32, 64 bytes", "overlaps tensor 'b'");
}

// ---------------------------------------------------------------- golden fixtures as GGUF

// llama.cpp's convert_hf_to_gguf for llama: each head's q/k rows (2, hd/2) stored as (hd/2, 2).
Tensor permute_rows(const Tensor& t, int64_t heads) {
  const int64_t rows = t.size(0), hd = rows / heads, cols = t.numel() / rows;
  Tensor out = Tensor::empty(t.shape(), DType::F32);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t h = r / hd, rem = r % hd, a = rem / (hd / 2), b = rem % (hd / 2);
    std::memcpy(out.data<float>() + (h * hd + 2 * b + a) * cols, t.data<float>() + r * cols, size_t(cols) * 4);
  }
  return out;
}

std::string gguf_name(const std::string& hf) { return gguf_tensor_name(hf); }

// Writes the fixture's checkpoint as an F32 GGUF file with the metadata llama.cpp writes
// (permute = false leaves llama's q/k rows in Hugging Face's order, unlike the converter).
std::string fixture_as_gguf(const std::string& name, const std::function<void(GgufWriter&)>& edit = nullptr,
                            bool permute = true) {
  const std::string dir = test::golden_dir(name);
  ModelSpec s = ModelSpec::from_dir(dir);
  const std::string arch = s.model_type == "qwen2" ? "qwen2" : s.model_type == "qwen3" ? "qwen3" : "llama";
  GgufWriter w;
  w.str("general.architecture", arch);
  w.str("general.name", name);
  const std::string k = arch + ".";
  w.u32(k + "block_count", uint32_t(s.num_layers));
  w.u32(k + "context_length", uint32_t(s.max_position_embeddings));
  w.u32(k + "embedding_length", uint32_t(s.hidden_size));
  w.u32(k + "feed_forward_length", uint32_t(s.intermediate_size));
  w.u32(k + "attention.head_count", uint32_t(s.num_heads));
  w.u32(k + "attention.head_count_kv", uint32_t(s.num_kv_heads));
  w.u32(k + "attention.key_length", uint32_t(s.head_dim));
  w.u32(k + "attention.value_length", uint32_t(s.head_dim));
  w.u32(k + "rope.dimension_count", uint32_t(s.rotary_dim));
  w.f32(k + "rope.freq_base", float(s.rope.theta));
  w.f32(k + "attention.layer_norm_rms_epsilon", float(s.rms_norm_eps));
  if (s.rope.type == RopeType::Linear) {
    w.str(k + "rope.scaling.type", "linear");
    w.f32(k + "rope.scaling.factor", float(s.rope.factor));
  } else if (s.rope.type == RopeType::Yarn) {
    w.str(k + "rope.scaling.type", "yarn");
    w.f32(k + "rope.scaling.factor", float(s.rope.factor));
    w.u32(k + "rope.scaling.original_context_length", uint32_t(s.rope.original_max_position_embeddings));
  }
  Checkpoint ck = Checkpoint::open(dir);
  for (auto& [hf, shape] : Model::expected_tensors(s)) {
    Tensor t = ck.get(hf).to(DType::F32).contiguous();
    if (permute && arch == "llama" && hf.find("self_attn.q_proj") != std::string::npos) t = permute_rows(t, s.num_heads);
    if (permute && arch == "llama" && hf.find("self_attn.k_proj") != std::string::npos) t = permute_rows(t, s.num_kv_heads);
    std::vector<uint64_t> ne(shape.rbegin(), shape.rend());
    w.tensor(gguf_name(hf), ne, ggml_type::F32,
             std::string(static_cast<const char*>(t.data()), t.nbytes()));
  }
  if (s.rope.type == RopeType::Llama3) {
    // llama.cpp's converter turns the llama3 scaling into per-frequency divisors (rope_freqs).
    const RopeSpec& r = s.rope;
    std::vector<float> factors;
    const double low_wl = r.original_max_position_embeddings / r.low_freq_factor;
    const double high_wl = r.original_max_position_embeddings / r.high_freq_factor;
    for (int64_t i = 0; i < s.rotary_dim / 2; ++i) {
      double freq = 1.0 / std::pow(r.theta, double(2 * i) / double(s.rotary_dim)), wl = 2 * M_PI / freq;
      if (wl < high_wl) factors.push_back(1.0f);
      else if (wl > low_wl) factors.push_back(float(r.factor));
      else {
        double smooth = (r.original_max_position_embeddings / wl - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        factors.push_back(float(1.0 / ((1 - smooth) / r.factor + smooth)));
      }
    }
    w.tensor("rope_freqs.weight", {uint64_t(factors.size())}, ggml_type::F32, f32_bytes(factors));
  }
  if (edit) edit(w);
  std::string p = test::temp_dir("gguf_" + name) + "/" + name + ".gguf";
  w.write(p);
  return p;
}

class GgufGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufGolden, LogitsMatchTransformers) {
  const std::string name = GetParam();
  std::string path = fixture_as_gguf(name);
  auto model = Model::load(path);
  ModelSpec want = ModelSpec::from_dir(test::golden_dir(name));
  EXPECT_EQ(model->spec().architecture, want.architecture);
  EXPECT_EQ(model->spec().qkv_bias, want.qkv_bias);
  EXPECT_EQ(model->spec().qk_norm, want.qk_norm);
  EXPECT_EQ(model->spec().tie_word_embeddings, want.tie_word_embeddings);
  test::Golden g = test::read_golden(test::golden_dir(name));
  Generator gen(*model, 64, 16);
  double err = test::rel_error(gen.prompt_logits(g.prompt), g.prompt_logits);
  std::printf("[gguf golden] %-24s prefill rel err %.3e\n", name.c_str(), err);
  EXPECT_LT(err, 1e-4);
}

// Every fixture whose config GGUF metadata can express (dynamic NTK and sliding windows cannot).
INSTANTIATE_TEST_SUITE_P(Fixtures, GgufGolden,
                         ::testing::Values("llama", "llama_tied_1kv_headdim", "llama3_rope", "llama_yarn", "llama_linear",
                                           "llama_sharded_bias", "qwen2", "qwen3"));

TEST(GgufModel, PermutationIsWhatMakesLlamaMatch) {
  // A llama file whose q/k rows were not permuted as llama.cpp's converter does: the loader's
  // inverse permutation scrambles them and the logits are far off, so the check above is
  // sensitive to it.
  std::string path = fixture_as_gguf("llama", nullptr, /*permute=*/false);
  auto model = Model::load(path);
  test::Golden g = test::read_golden(test::golden_dir("llama"));
  Generator gen(*model, 64, 16);
  EXPECT_GT(test::rel_error(gen.prompt_logits(g.prompt), g.prompt_logits), 1e-2);
}

TEST(GgufModel, MetadataErrorsNameTheKey) {
  EXPECT_ERROR_HAS(Model::load(fixture_as_gguf("llama", [](GgufWriter& w) {
                     w.kv("general.architecture", 8, GgufWriter::string("gemma2"));
                   })),
                   "duplicate metadata key 'general.architecture'");
  GgufWriter w;
  w.str("general.architecture", "gemma2");
  EXPECT_ERROR_HAS(Model::load(write(w, "gguf_arch")), "general.architecture 'gemma2' is not supported", "llama, qwen2, qwen3");
  GgufWriter m;
  m.str("general.architecture", "llama");
  m.u32("llama.embedding_length", 64);
  EXPECT_ERROR_HAS(Model::load(write(m, "gguf_meta")), "missing metadata 'llama.block_count'");
}

TEST(GgufModel, TensorErrorsNameTheTensor) {
  auto drop = [](const std::string& n) {
    return [n](GgufWriter& w) { std::erase_if(w.tensors(), [&](auto& t) { return t.name == n; }); };
  };
  EXPECT_ERROR_HAS(Model::load(fixture_as_gguf("llama", drop("blk.1.ffn_up.weight"))),
                   "missing tensor 'blk.1.ffn_up.weight'", "model.layers.1.mlp.up_proj.weight");
  EXPECT_ERROR_HAS(Model::load(fixture_as_gguf("llama", [](GgufWriter& w) {
                     w.tensor("blk.0.attn_qkv.weight", {64, 192}, ggml_type::F32, std::string(64 * 192 * 4, '\0'));
                   })),
                   "unexpected tensor 'blk.0.attn_qkv.weight'");
  EXPECT_ERROR_HAS(Model::load(fixture_as_gguf("llama", [](GgufWriter& w) {
                     for (auto& t : w.tensors())
                       if (t.name == "blk.0.ffn_down.weight") t.ne = {64, 128}, t.data.resize(64 * 128 * 4);
                   })),
                   "tensor 'blk.0.ffn_down.weight'", "shape [128, 64]", "implies [64, 128]");
  EXPECT_ERROR_HAS(Model::load(fixture_as_gguf("llama", [](GgufWriter& w) {
                     for (auto& t : w.tensors())
                       if (t.name == "blk.0.attn_v.weight") {
                         t.type = ggml_type::IQ4_NL;  // 32-element blocks of 18 bytes
                         t.data.resize(t.data.size() / 4 / 32 * 18);
                       }
                   })),
                   "tensor 'blk.0.attn_v.weight' has type IQ4_NL", "does not read", "Q4_K");
}

TEST(GgufModel, QuantizedWeightsDequantizeAtLoad) {
  // Q8_0 blocks that hold exactly the values 0..31 scaled by 1/8: the loaded weight is exact.
  std::string path = fixture_as_gguf("qwen3", [](GgufWriter& w) {
    for (auto& t : w.tensors()) {
      if (t.name != "blk.0.ffn_gate.weight") continue;
      const int64_t n = int64_t(t.data.size() / 4);
      std::string q;
      for (int64_t b = 0; b < n / 32; ++b) {
        q += GgufWriter::pod(uint16_t(0x3000));  // f16 0.125
        for (int i = 0; i < 32; ++i) q += char(int8_t(i - 16));
      }
      t.type = ggml_type::Q8_0;
      t.data = q;
    }
  });
  auto f = GgufFile::open(path);
  GgufWeights w(f, gguf_model_spec(*f));
  Tensor gate = w.get("model.layers.0.mlp.gate_proj.weight", DType::F32, true);
  EXPECT_EQ(gate.dtype(), DType::F32);
  EXPECT_EQ(gate.data<float>()[0], -2.0f);
  EXPECT_EQ(gate.data<float>()[33], 0.125f * (1 - 16));
  Tensor bf = w.get("model.layers.0.mlp.gate_proj.weight", DType::BF16, false);
  EXPECT_EQ(bf.dtype(), DType::BF16);
  // F32 tensors stay zero-copy views of the mapping on the CPU
  Tensor down = w.get("model.layers.0.mlp.down_proj.weight", DType::F32, true);
  EXPECT_EQ(static_cast<const char*>(down.data()), f->tensor("blk.0.ffn_down.weight")->data);
  EXPECT_NO_THROW(Model::load(path));
}

TEST(GgufModel, SourceOfAPath) {
  std::string dir = test::temp_dir("gguf_src");
  EXPECT_FALSE(model_source(test::golden_dir("llama")).gguf);
  std::string one = fixture_as_gguf("llama");
  ModelSource s = model_source(std::filesystem::path(one).parent_path().string());
  EXPECT_TRUE(s.gguf);
  EXPECT_EQ(s.path, one);
  std::filesystem::copy(one, dir + "/a.gguf");
  std::filesystem::copy(one, dir + "/b.gguf");
  EXPECT_ERROR_HAS(model_source(dir), "2 GGUF files", "a.gguf, b.gguf", "name one");
  EXPECT_ERROR_HAS(model_source(dir + "/missing.gguf"), "no such file");
}

// ---------------------------------------------------------------- tokenizer metadata

GgufWriter tokenizer_file(const std::string& model, const std::string& pre) {
  GgufWriter w;
  w.str("general.architecture", "llama");
  w.str("tokenizer.ggml.model", model);
  if (!pre.empty()) w.str("tokenizer.ggml.pre", pre);
  w.strs("tokenizer.ggml.tokens", {"<s>", "</s>", "a", "b", "ab"});
  w.i32s("tokenizer.ggml.token_type", {3, 3, 1, 1, 1});
  w.strs("tokenizer.ggml.merges", {"a b"});
  w.f32s("tokenizer.ggml.scores", {0, 0, -1, -2, -0.5f});
  w.u32("tokenizer.ggml.bos_token_id", 0);
  w.u32("tokenizer.ggml.eos_token_id", 1);
  return w;
}

TEST(GgufTokenizer, ErrorsNameTheKey) {
  auto f = GgufFile::open(write(tokenizer_file("bert", ""), "gguf_tok_model"));
  EXPECT_ERROR_HAS(gguf_tokenizer_json(*f), "tokenizer.ggml.model 'bert' is not supported", "gpt2 and llama");
  f = GgufFile::open(write(tokenizer_file("gpt2", "made-up"), "gguf_tok_pre"));
  EXPECT_ERROR_HAS(gguf_tokenizer_json(*f), "tokenizer.ggml.pre 'made-up'", "llama-bpe", "smollm", "qwen2");
  GgufWriter w = tokenizer_file("gpt2", "gpt-2");
  w.u32("tokenizer.ggml.unknown_token_id", 77);
  f = GgufFile::open(write(w, "gguf_tok_id"));
  EXPECT_ERROR_HAS(gguf_tokenizer_json(*f), "tokenizer.ggml.unknown_token_id = 77 is not a token id");
}

TEST(GgufTokenizer, KnownPreTokenizerNames) {
  auto names = gguf_pre_tokenizer_names();
  for (const char* n : {"llama-bpe", "qwen2", "smollm", "gpt-2", "deepseek-llm", "deepseek-coder", "deepseek-v3", "tekken",
                        "default"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  for (const std::string& n : names) {
    auto f = GgufFile::open(write(tokenizer_file("gpt2", n), "gguf_tok_each"));
    EXPECT_NO_THROW(gguf_tokenizer_json(*f)) << n;
  }
}

TEST(GgufTokenizer, SpmMergesFromScoresAndConfig) {
  GgufWriter w = tokenizer_file("llama", "");
  // no merges: rebuilt from the scores
  std::erase_if(w.tensors(), [](auto&) { return false; });
  auto f = GgufFile::open(write(w, "gguf_spm"));
  GgufTokenizerJson t = gguf_tokenizer_json(*f);
  EXPECT_EQ(t.tokenizer["model"]["byte_fallback"], true);
  EXPECT_EQ(t.tokenizer["normalizer"]["normalizers"][0]["type"], "Prepend");
  EXPECT_EQ(t.config["bos_token"], "<s>");
  EXPECT_EQ(t.config["eos_token"], "</s>");
  EXPECT_EQ(t.config["add_bos_token"], true);  // SentencePiece's default
  EXPECT_EQ(t.tokenizer["post_processor"]["single"][0]["SpecialToken"]["id"], "<s>");
}

}  // namespace
