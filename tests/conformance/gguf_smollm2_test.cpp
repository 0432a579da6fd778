// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF: scripts/fetch-default-model.sh) on the CPU
// against Hugging Face transformers loading the same file (tools/golden/make_gguf_golden.py ->
// tests/fixtures/gguf/smollm2_golden.json): prompt logits, greedy chat continuations, the chat
// template and the prompts' token ids.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "engine/generator.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tritium/engine.h"
#include "tritium/model_files.h"

using namespace tritium;
using ojson = nlohmann::ordered_json;

namespace {

// The cached default model; make test fetches it first (scripts/fetch-default-model.sh).
std::string smollm2_path() {
  if (const char* p = std::getenv("TRITIUM_SMOLLM2_GGUF"); p && *p) return p;
  const char* home = std::getenv("HOME");
  const char* cache = std::getenv("TRITIUM_CACHE");
  std::string dir = cache && *cache ? cache : std::string(home ? home : "") + "/.cache/tritium";
  return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf";
}

const ojson& golden() {
  static const ojson g =
      ojson::parse(read_file(test::source_dir() + "/tests/fixtures/gguf/smollm2_golden.json"));
  return g;
}

class SmolLM2 : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = smollm2_path();
    ASSERT_TRUE(std::filesystem::exists(path_))
        << path_ << " is missing: run scripts/fetch-default-model.sh (make test does)";
  }
  std::string path_;
};

TEST_F(SmolLM2, PromptLogitsMatchTransformers) {
  auto model = Model::load(path_);
  EXPECT_EQ(model->spec().architecture, "LlamaForCausalLM");
  EXPECT_TRUE(model->spec().tie_word_embeddings);
  Generator gen(*model, 64, 16);
  for (const auto& chat : golden()["chats"]) {
    std::vector<int32_t> ids = chat["prompt_ids"].get<std::vector<int32_t>>();
    Tensor logits = gen.prompt_logits(ids);
    ASSERT_EQ(logits.size(0), int64_t(ids.size()));
    const int64_t V = logits.size(1);
    double num = 0, den = 0, worst = 0;
    for (size_t p = 0; p < ids.size(); ++p) {
      const auto& row = chat["prompt_logits"][p];
      double rn = 0, rd = 0;
      for (size_t k = 0; k < row["ids"].size(); ++k) {
        const int64_t v = row["ids"][k].get<int64_t>();
        const double want = row["logits"][k].get<double>();
        const double got = logits.data<float>()[int64_t(p) * V + v];
        rn += (got - want) * (got - want);
        rd += want * want;
      }
      num += rn;
      den += rd;
      worst = std::max(worst, std::sqrt(rn / rd));
    }
    const double err = std::sqrt(num / den);
    std::printf("[smollm2] prompt of %zu tokens: logits rel err %.2e (worst position %.2e)\n", ids.size(), err, worst);
    EXPECT_LT(err, 1e-3);
    EXPECT_LT(worst, 1e-3);
  }
}

TEST_F(SmolLM2, GreedyChatContinuationsMatchTransformers) {
  EngineConfig cfg;
  cfg.model = path_;
  cfg.max_num_seqs = 8;
  cfg.max_model_len = 512;
  Engine engine(cfg);
  std::vector<RequestHandle> hs;
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = 32;
  for (const auto& chat : golden()["chats"]) hs.push_back(engine.submit(chat["prompt_ids"].get<std::vector<int32_t>>(), sp));
  size_t i = 0;
  for (const auto& chat : golden()["chats"]) {
    std::vector<int32_t> got;
    std::string text;
    RequestOutput o;
    while (hs[i].next(o)) {
      got.insert(got.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      text += o.new_text;
    }
    EXPECT_EQ(got, chat["gen_ids"].get<std::vector<int32_t>>()) << "chat " << i << ": " << text;
    std::printf("[smollm2] chat %zu: %zu tokens identical: %s\n", i, got.size(), ojson(text).dump().c_str());
    ++i;
  }
}

TEST_F(SmolLM2, ChatTemplateAndPromptIdsMatchTransformers) {
  auto tok = load_tokenizer(path_);
  auto tmpl = load_chat_template(path_);
  ASSERT_TRUE(tok && tmpl);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_ids(), std::vector<int32_t>{2});
  EXPECT_FALSE(tok->adds_bos());
  for (const auto& chat : golden()["chats"]) {
    std::string text = tmpl->render(chat["messages"], nullptr, true, ojson::object());
    EXPECT_EQ(text, chat["prompt"].get<std::string>());
    EXPECT_EQ(tok->encode(text, false, true), chat["prompt_ids"].get<std::vector<int32_t>>()) << text;
  }
  for (const auto& t : golden()["templates"])
    EXPECT_EQ(tmpl->render(t["messages"], nullptr, t["add_generation_prompt"].get<bool>(), ojson::object()),
              t["text"].get<std::string>());
}

TEST_F(SmolLM2, EngineExposesTheFilesTokenizerAndTemplate) {
  EngineConfig cfg;
  cfg.model = path_;
  cfg.max_num_seqs = 1;
  cfg.max_model_len = 256;
  Engine engine(cfg);
  ASSERT_NE(engine.tokenizer(), nullptr);
  ASSERT_NE(engine.chat_template(), nullptr);
  EXPECT_EQ(engine.tokenizer()->token_to_id("<|im_end|>"), 2);
  EXPECT_EQ(engine.model_name(), "SmolLM2-135M-Instruct.Q4_1.gguf");
  // text in, text out through the engine's own tokenizer
  SamplingParams sp;
  sp.temperature = 0;
  sp.max_tokens = 32;
  const auto& chat = golden()["chats"][0];
  RequestHandle h = engine.submit(chat["prompt"].get<std::string>(), sp);
  std::string text;
  RequestOutput o;
  while (h.next(o)) text += o.new_text;
  auto want = chat["gen_ids"].get<std::vector<int32_t>>();
  EXPECT_EQ(text, engine.tokenizer()->decode(want, true));
}

}  // namespace
