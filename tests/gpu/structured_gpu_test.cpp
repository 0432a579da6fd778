// Structured output on the GPU: DeviceTokenMask (ops::apply_token_bitmask's Triton kernel) against
// the CPU implementation on random logits, masks and row subsets for f32 / bf16 / f16 logits and
// vocabularies that are not multiples of 32; and the engine on the device with constrained
// requests (device sampler, async scheduling, CUDA graphs): outputs match their regex / choice,
// and steps are still enqueued ahead. Skips without a GPU.
#include <gtest/gtest.h>

#ifdef TRITIUM_HAVE_CUDA
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "engine/engine_impl.h"
#include "gpu_util.h"
#include "ops/token_mask.h"
#include "test_util.h"
#include "tritium/engine.h"

using namespace tritium;
using namespace tritium::gputest;

TEST(CudaTokenMask, MatchesTheCpu) {
  TRITIUM_REQUIRE_GPU();
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    for (int64_t V : {int64_t(77), int64_t(4096), int64_t(128256), int64_t(151936)}) {
      const int64_t R = rand_int(1, 9);
      SCOPED_TRACE(::testing::Message() << dtype_label(dt) << " V " << V << " R " << R);
      const size_t words = size_t((V + 31) / 32) + size_t(rand_int(0, 2));
      std::vector<float> v = rand_vals(size_t(R * V), -8, 8, dt);
      std::vector<int32_t> rows;
      for (int32_t r = 0; r < R; ++r)
        if (rand_int(0, 2) != 0) rows.push_back(r);
      std::vector<std::vector<uint32_t>> m(rows.size(), std::vector<uint32_t>(words));
      std::vector<const uint32_t*> mp;
      for (auto& w : m) {
        for (auto& x : w) x = uint32_t(rng()());
        mp.push_back(w.data());
      }
      Tensor cpu = host_as(v, {R, V}, dt), gpu = device_as(v, {R, V}, dt);
      DeviceTokenMask on_cpu, on_gpu;
      on_cpu.apply(cpu, rows, mp, words);
      on_gpu.apply(gpu, rows, mp, words);
      Tensor a = cpu.to(DType::F32), b = download(gpu).to(DType::F32);
      int64_t masked = 0, diff = 0;
      for (int64_t i = 0; i < R * V; ++i) {
        const float x = a.data<float>()[i], y = b.data<float>()[i];
        masked += x == -INFINITY;
        diff += !(x == y);
      }
      EXPECT_EQ(diff, 0);
      if (!rows.empty()) EXPECT_GT(masked, 0);
    }
  }
}

namespace {

// 256 byte tokens (GPT-2's ByteLevel map) and an eos at 300: enough for the tiny model's 512.
std::string byte_tokenizer_dir() {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0, n = 0; b < 256; ++b) {
    const bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = self ? b : 256 + n++;
    std::string s;
    if (cp < 0x80) s += char(cp);
    else s += char(0xC0 | (cp >> 6)), s += char(0x80 | (cp & 0x3F));
    vocab[s] = b;
  }
  nlohmann::json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}};
  nlohmann::json t = {{"version", "1.0"},
                      {"added_tokens", {{{"id", 300}, {"content", "<|endoftext|>"}, {"single_word", false}, {"lstrip", false},
                                         {"rstrip", false}, {"normalized", false}, {"special", true}}}},
                      {"normalizer", nullptr}, {"pre_tokenizer", bl}, {"post_processor", nullptr}, {"decoder", bl},
                      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}};
  std::string d = test::temp_dir("structured_gpu_tok");
  std::ofstream(d + "/tokenizer.json") << t.dump();
  std::ofstream(d + "/tokenizer_config.json") << R"({"eos_token": "<|endoftext|>"})";
  return d;
}

}  // namespace

TEST(CudaStructuredEngine, ConstrainedRequestsOnTheDeviceSampler) {
  TRITIUM_REQUIRE_GPU();
  EngineConfig c;
  c.synthetic = "tiny";
  c.device = "cuda";
  c.tokenizer = byte_tokenizer_dir();
  c.kv_cache_bytes = int64_t(64) << 20;
  c.max_model_len = 1024;
  c.sampler = "device";
  Engine e(c);
  const std::regex re("(ab|cd)[0-9]{2,3}-[a-z]{8}");
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 16; ++i) {
    SamplingParams p;
    p.temperature = i % 2 ? 1.0f : 0.0f;
    p.seed = uint64_t(i);
    p.max_tokens = 64;
    if (i % 4 == 3) p.constraint = Constraint::choice({"yes", "no", "maybe"});
    else p.constraint = Constraint::regex("(ab|cd)[0-9]{2,3}-[a-z]{8}");
    hs.push_back(e.submit(std::vector<int32_t>{int32_t(1 + i), 2, 3}, p));
  }
  for (int i = 0; i < 16; ++i) {
    RequestOutput o;
    std::string text, fr, err;
    while (hs[size_t(i)].next(o)) {
      text += o.new_text;
      if (o.finished) fr = o.finish_reason, err = o.error;
    }
    EXPECT_EQ(err, "") << i;
    EXPECT_EQ(fr, "stop") << i << ": " << text;
    if (i % 4 == 3) EXPECT_TRUE(text == "yes" || text == "no" || text == "maybe") << text;
    else EXPECT_TRUE(std::regex_match(text, re)) << i << ": " << text;
  }
  EXPECT_GT(e.impl().ahead_steps.load(), 0);
}

#endif  // TRITIUM_HAVE_CUDA
