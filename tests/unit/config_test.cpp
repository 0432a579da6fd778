// config.json -> ModelSpec: both rope forms, every scaling, architecture rules, clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "model/config.h"
#include "model/rope.h"
#include "test_util.h"

using namespace tritium;
using nlohmann::json;

namespace {

json base_config(const char* arch = "LlamaForCausalLM") {
  return {{"architectures", {arch}}, {"vocab_size", 100}, {"hidden_size", 64}, {"intermediate_size", 128},
          {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-5},
          {"max_position_embeddings", 256}, {"rope_theta", 10000.0}};
}

ModelSpec parse(const json& j) { return ModelSpec::from_json_text(j.dump(), "config.json"); }

std::string error_of(const json& j) {
  try {
    parse(j);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Config, LlamaDefaults) {
  ModelSpec s = parse(base_config());
  EXPECT_EQ(s.head_dim, 16);
  EXPECT_EQ(s.rotary_dim, 16);
  EXPECT_EQ(s.rope.type, RopeType::Default);
  EXPECT_FALSE(s.qkv_bias);
  EXPECT_EQ(s.sliding_window, std::vector<int64_t>({0, 0}));
}

TEST(Config, UnsupportedArchitectureListsSupported) {
  std::string m = error_of(base_config("GPT2LMHeadModel"));
  EXPECT_NE(m.find("'GPT2LMHeadModel' is not supported"), std::string::npos) << m;
  for (auto& a : supported_architectures()) EXPECT_NE(m.find(a), std::string::npos) << m;
}

TEST(Config, MissingFieldIsNamed) {
  json j = base_config();
  j.erase("hidden_size");
  EXPECT_NE(error_of(j).find("'hidden_size'"), std::string::npos);
  j = base_config();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j).find("num_key_value_heads"), std::string::npos);
}

TEST(Config, RopeScalingAndRopeParametersAgree) {
  json legacy = base_config();
  legacy["rope_theta"] = 500000.0;
  legacy["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  json modern = base_config();
  modern.erase("rope_theta");
  modern["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0},
                               {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 64}};
  ModelSpec a = parse(legacy), b = parse(modern);
  EXPECT_EQ(a.rope.type, RopeType::Llama3);
  EXPECT_EQ(b.rope.type, RopeType::Llama3);
  EXPECT_EQ(a.rope.theta, b.rope.theta);
  EXPECT_EQ(rope_inv_freq(a, 0), rope_inv_freq(b, 0));
}

TEST(Config, OldTypeKeyAndYarnDefaults) {
  json j = base_config();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64}};
  ModelSpec s = parse(j);
  EXPECT_EQ(s.rope.type, RopeType::Yarn);
  EXPECT_NEAR(s.rope.attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-12);
  EXPECT_EQ(s.rope.beta_fast, 32.0);
}

TEST(Config, LinearScalingDividesFrequencies) {
  json j = base_config();
  ModelSpec plain = parse(j);
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 2.0}};
  ModelSpec lin = parse(j);
  auto a = rope_inv_freq(plain, 0), b = rope_inv_freq(lin, 0);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_FLOAT_EQ(b[i], a[i] / 2.0f);
}

TEST(Config, DynamicOnlyChangesPastMaxPositions) {
  json j = base_config();
  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
  ModelSpec s = parse(j);
  ModelSpec plain = parse(base_config());
  EXPECT_EQ(rope_inv_freq(s, 100), rope_inv_freq(plain, 0));
  auto longer = rope_inv_freq(s, 1024);
  EXPECT_LT(longer.back(), rope_inv_freq(plain, 0).back());
}

TEST(Config, UnknownRopeType) {
  json j = base_config();
  j["rope_scaling"] = {{"rope_type", "su"}, {"factor", 2.0}};
  EXPECT_NE(error_of(j).find("rope type 'su' is not supported"), std::string::npos);
  j["rope_scaling"] = {{"rope_type", "linear"}};
  EXPECT_NE(error_of(j).find("factor"), std::string::npos);
}

TEST(Config, ArchitectureRules) {
  EXPECT_TRUE(parse(base_config("Qwen2ForCausalLM")).qkv_bias);
  ModelSpec q3 = parse(base_config("Qwen3ForCausalLM"));
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_FALSE(q3.qkv_bias);
  json m = base_config("MistralForCausalLM");
  m["sliding_window"] = 32;
  EXPECT_EQ(parse(m).sliding_window, std::vector<int64_t>({32, 32}));
  json q2 = base_config("Qwen2ForCausalLM");
  q2["sliding_window"] = 32;
  q2["use_sliding_window"] = false;
  EXPECT_EQ(parse(q2).sliding_window, std::vector<int64_t>({0, 0}));
  q2["use_sliding_window"] = true;
  q2["max_window_layers"] = 1;
  EXPECT_EQ(parse(q2).sliding_window, std::vector<int64_t>({0, 32}));
  json lt = base_config("Qwen3ForCausalLM");
  lt["sliding_window"] = 16;
  lt["layer_types"] = {"sliding_attention", "full_attention"};
  EXPECT_EQ(parse(lt).sliding_window, std::vector<int64_t>({16, 0}));
}

TEST(Config, MixtureOfExperts) {
  json mx = base_config("MixtralForCausalLM");
  mx["num_local_experts"] = 8;
  mx["num_experts_per_tok"] = 2;
  ModelSpec m = parse(mx);
  EXPECT_EQ(m.moe.num_experts, 8);
  EXPECT_EQ(m.moe.top_k, 2);
  EXPECT_EQ(m.moe.intermediate_size, 128);
  EXPECT_EQ(m.moe.router, RouterKind::SoftmaxTopK);
  EXPECT_TRUE(m.moe.renormalize);
  EXPECT_EQ(m.moe.layers, std::vector<bool>({true, true}));
  EXPECT_FALSE(m.moe.any_mxfp4());
  mx["num_experts_per_tok"] = 9;
  EXPECT_NE(error_of(mx).find("num_experts_per_tok (9)"), std::string::npos) << error_of(mx);

  json q = base_config("Qwen3MoeForCausalLM");
  q["num_hidden_layers"] = 6;
  q["num_experts"] = 16;
  q["num_experts_per_tok"] = 4;
  q["moe_intermediate_size"] = 32;
  q["decoder_sparse_step"] = 2;
  q["mlp_only_layers"] = {3};
  ModelSpec qs = parse(q);
  EXPECT_TRUE(qs.qk_norm);
  EXPECT_FALSE(qs.moe.renormalize);  // norm_topk_prob defaults to false
  EXPECT_EQ(qs.moe.intermediate_size, 32);
  EXPECT_EQ(qs.moe.layers, std::vector<bool>({false, true, false, false, false, true}));
  q.erase("moe_intermediate_size");
  EXPECT_NE(error_of(q).find("'moe_intermediate_size'"), std::string::npos);
  q["moe_intermediate_size"] = 32;
  q["num_experts"] = 0;  // no experts: a dense model
  EXPECT_FALSE(parse(q).is_moe());

  json g = base_config("GptOssForCausalLM");
  g["num_hidden_layers"] = 4;
  g["num_local_experts"] = 32;
  g["num_experts_per_tok"] = 4;
  g["sliding_window"] = 128;
  g["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 32.0}, {"beta_fast", 32.0}, {"beta_slow", 1.0},
                       {"truncate", false}, {"original_max_position_embeddings", 4096}};
  g["max_position_embeddings"] = 131072;
  ModelSpec gs = parse(g);
  EXPECT_TRUE(gs.attention_sinks && gs.qkv_bias && gs.o_bias);
  EXPECT_EQ(gs.moe.router, RouterKind::TopKSoftmax);
  EXPECT_EQ(gs.moe.activation, ExpertActivation::SwigluClamp);
  EXPECT_TRUE(gs.moe.interleaved_gate_up && gs.moe.router_bias && gs.moe.expert_bias);
  EXPECT_EQ(gs.moe.swiglu_limit, 7.0);
  EXPECT_EQ(gs.sliding_window, std::vector<int64_t>({128, 0, 128, 0}));  // transformers' default alternation
  EXPECT_FALSE(gs.rope.truncate);
  EXPECT_NEAR(gs.rope.attention_factor, 0.1 * std::log(32.0) + 1.0, 1e-12);
  // MXFP4 experts, except those modules_to_not_convert names (transformers' rules: a regex
  // matching the module name's start, or a suffix of it)
  g["quantization_config"] = {{"quant_method", "mxfp4"},
                              {"modules_to_not_convert", {"model.layers.*.self_attn", "lm_head", "model.layers.1"}}};
  EXPECT_EQ(parse(g).moe.mxfp4, std::vector<bool>({true, false, true, true}));
  g["quantization_config"]["modules_to_not_convert"] = {"experts"};
  EXPECT_EQ(parse(g).moe.mxfp4, std::vector<bool>({false, false, false, false}));
  g["quantization_config"] = {{"quant_method", "awq"}};
  EXPECT_NE(error_of(g).find("quant_method 'awq' is not supported"), std::string::npos) << error_of(g);
  g["quantization_config"] = {{"quant_method", "mxfp4"}};
  g["hidden_size"] = 48;  // not a multiple of the 32-element blocks
  g["head_dim"] = 16;
  EXPECT_NE(error_of(g).find("multiples of 32"), std::string::npos) << error_of(g);
  json d = base_config();
  d["quantization_config"] = {{"quant_method", "mxfp4"}};
  EXPECT_NE(error_of(d).find("quantization_config is not supported for LlamaForCausalLM"), std::string::npos);
}

TEST(Config, HeadDimOverrideAndPartialRotary) {
  json j = base_config();
  j["head_dim"] = 32;
  j["partial_rotary_factor"] = 0.5;
  ModelSpec s = parse(j);
  EXPECT_EQ(s.head_dim, 32);
  EXPECT_EQ(s.rotary_dim, 16);
}

TEST(Config, GenerationConfigEosWins) {
  ModelSpec s = ModelSpec::from_dir(test::golden_dir("qwen2"));
  EXPECT_EQ(s.eos_token_ids, std::vector<int32_t>({2, 3}));
  ModelSpec l = ModelSpec::from_dir(test::golden_dir("llama"));
  EXPECT_EQ(l.eos_token_ids, std::vector<int32_t>({2}));
}

TEST(Config, NotJson) {
  try {
    ModelSpec::from_json_text("{nope", "x/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x/config.json: not valid JSON"), std::string::npos);
  }
}

}  // namespace
