// Structured output: token bytes of a tokenizer, llguidance matchers (masks, consume, errors),
// the per-sequence state (min_tokens), and the engine enforcing constraints on a random-weight
// model (host sampler, device sampler, async scheduling: greedy outputs identical).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "engine/engine_impl.h"
#include "structured/grammar.h"
#include "structured/seq_constraint.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tritium/engine.h"

using namespace tritium;
using json = nlohmann::json;

namespace {

// GPT-2's byte -> character map (ByteLevel).
std::string byte_char(int b) {
  const bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  int cp = b;
  if (!self) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
  return s;
}

// A byte-level BPE tokenizer: the 256 bytes, a few merges, two special tokens (300 is eos).
constexpr int kEos = 300, kSpecial = 301;
const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"{", "\""}, {"\"", ":"}, {"\"", ","}, {"\"", "}"}, {"t", "r"}, {"tr", "u"}, {"tru", "e"},
    {byte_char(' '), byte_char(' ')}, {"n", "a"}, {"m", "e"}, {"na", "me"}};
const int kTrue = 256 + 6, kNa = 256 + 8, kMe = 256 + 9, kName = 256 + 10;

std::string tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  json merges = json::array();
  for (size_t i = 0; i < kMerges.size(); ++i) {
    vocab[kMerges[i].first + kMerges[i].second] = 256 + int(i);
    merges.push_back(kMerges[i].first + " " + kMerges[i].second);
  }
  json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", true}};
  auto added = [](int id, const char* s) {
    return json{{"id", id},       {"content", s},          {"single_word", false}, {"lstrip", false},
                {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  json t = {{"version", "1.0"},
            {"added_tokens", {added(kEos, "<|endoftext|>"), added(kSpecial, "<|im_start|>")}},
            {"normalizer", nullptr},
            {"pre_tokenizer", bl},
            {"post_processor", nullptr},
            {"decoder", bl},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
  return t.dump();
}

Tokenizer test_tokenizer() { return Tokenizer::from_json(tokenizer_json(), R"({"eos_token": "<|endoftext|>"})"); }

std::string tokenizer_dir() {
  static const std::string dir = [] {
    std::string d = test::temp_dir("structured_tok");
    std::ofstream(d + "/tokenizer.json") << tokenizer_json();
    std::ofstream(d + "/tokenizer_config.json") << R"({"eos_token": "<|endoftext|>"})";
    return d;
  }();
  return dir;
}

bool allowed(const std::vector<uint32_t>& mask, int t) { return (mask[size_t(t / 32)] >> (t % 32)) & 1; }

std::vector<int> allowed_ids(const std::vector<uint32_t>& mask) {
  std::vector<int> r;
  for (int t = 0; t < int(mask.size()) * 32; ++t)
    if (allowed(mask, t)) r.push_back(t);
  return r;
}

constexpr int64_t kVocab = 512;  // the synthetic "tiny" model's

}  // namespace

TEST(StructuredTokenBytes, ByteLevelRawBytes) {
  Tokenizer tok = test_tokenizer();
  EXPECT_EQ(tok.token_bytes(' ').value(), " ");  // id of byte 0x20 is 0x20
  EXPECT_EQ(tok.token_bytes(0xE4).value(), "\xE4");  // a lone UTF-8 lead byte, not U+FFFD
  EXPECT_EQ(tok.token_bytes(kTrue).value(), "true");
  EXPECT_EQ(tok.token_bytes(256 + 7).value(), "  ");
  EXPECT_EQ(tok.token_bytes(kEos).value(), "<|endoftext|>");
  EXPECT_FALSE(tok.token_bytes(400).has_value());
}

TEST(StructuredTokenBytes, MetaspaceAndByteFallbackMidText) {
  // A sentencepiece-style file: the decoders strip the leading space of a text, a token's own
  // bytes keep it; byte tokens stand for their byte.
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0x0A>", 3}, {"<0xE4>", 4}, {"\xE2\x96\x81" "a", 5}, {"b", 6}};
  json t = {{"version", "1.0"},
            {"added_tokens", json::array()},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"byte_fallback", true},
                       {"unk_token", "<unk>"}}},
            {"decoder", {{"type", "Sequence"},
                         {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                                       {{"type", "ByteFallback"}},
                                       {{"type", "Fuse"}},
                                       {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}}};
  Tokenizer tok = Tokenizer::from_json(t.dump());
  EXPECT_EQ(tok.decode({5, 6}), "ab");  // the text's leading space is stripped ...
  EXPECT_EQ(tok.token_bytes(5).value(), " a");  // ... a token's is not
  EXPECT_EQ(tok.token_bytes(3).value(), "\n");
  EXPECT_EQ(tok.token_bytes(4).value(), "\xE4");
}

TEST(StructuredMatcher, ChoiceMaskIsExactlyTheTokensThatFit) {
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  auto m = structured::Matcher::compile(vocab, Constraint::choice({"true", "name"}));
  std::vector<uint32_t> mask(vocab.mask_words());
  ASSERT_TRUE(m.compute_mask(mask.data()));
  // prefixes of "true" or "name" that are tokens: t tr tru true n na name
  std::vector<int> want = {'n', 't', 256 + 4, 256 + 5, kTrue, kNa, kName};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(allowed_ids(mask), want);
  ASSERT_TRUE(m.consume(kNa));
  ASSERT_TRUE(m.compute_mask(mask.data()));
  EXPECT_EQ(allowed_ids(mask), (std::vector<int>{'m', kMe}));
  EXPECT_FALSE(m.stopped());
  ASSERT_TRUE(m.consume(kMe));
  EXPECT_TRUE(m.stopped());
  EXPECT_TRUE(m.accepting());
}

TEST(StructuredMatcher, EosWhereTheGrammarMayEndSpecialsNever) {
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  auto m = structured::Matcher::compile(vocab, Constraint::regex("a+"));
  std::vector<uint32_t> mask(vocab.mask_words());
  ASSERT_TRUE(m.compute_mask(mask.data()));
  EXPECT_FALSE(allowed(mask, kEos));
  EXPECT_TRUE(allowed(mask, 'a'));
  ASSERT_TRUE(m.consume('a'));
  ASSERT_TRUE(m.compute_mask(mask.data()));
  EXPECT_EQ(allowed_ids(mask), (std::vector<int>{'a', kEos}));  // not <|im_start|>, not ids past the tokenizer
  EXPECT_FALSE(m.consume('b'));
  EXPECT_NE(m.error(), "");
}

TEST(StructuredMatcher, CloneIsIndependent) {
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  auto a = structured::Matcher::compile(vocab, Constraint::choice({"ab", "ac"}));
  ASSERT_TRUE(a.consume('a'));
  auto b = a.clone();
  ASSERT_TRUE(a.consume('b'));
  ASSERT_TRUE(b.consume('c'));
  EXPECT_TRUE(a.stopped() && b.stopped());
}

TEST(StructuredMatcher, WhatDoesNotCompileIsAnErrorNamingIt) {
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  auto msg = [&](Constraint c) {
    try {
      structured::Matcher::compile(vocab, c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(compiled)");
  };
  EXPECT_NE(msg(Constraint::json_schema("{\"type\":")).find("the JSON schema is not valid JSON"), std::string::npos);
  EXPECT_NE(msg(Constraint::json_schema("[1]")).find("must be a JSON object"), std::string::npos);
  Constraint bad = Constraint::json_schema(R"({"type":"object","properties":{"a":{"type":"foo"}}})");
  bad.field = "response_format.json_schema.schema";
  EXPECT_NE(msg(bad).find("response_format.json_schema.schema (a JSON schema) does not compile: "), std::string::npos)
      << msg(bad);
  EXPECT_NE(msg(bad).find("foo"), std::string::npos);
  EXPECT_NE(msg(Constraint::regex("[a-")).find("the regex does not compile"), std::string::npos);
  EXPECT_NE(msg(Constraint::grammar("start: nope")).find("the Lark grammar does not compile"), std::string::npos);
  EXPECT_NE(msg(Constraint::grammar("root ::= \"a\"")).find("GBNF"), std::string::npos);
}

TEST(StructuredMatcher, JsonWhitespaceIsBoundedUnlessTheSchemaSaysOtherwise) {
  auto g = structured::llguidance_grammar(Constraint::json_schema(R"({"type":"object","properties":{"b":{},"a":{}}})"));
  json j = json::parse(g.data);
  EXPECT_EQ(j["x-guidance"]["whitespace_pattern"], "[\\x20\\x0A\\x0D\\x09]{0,20}");
  EXPECT_LT(g.data.find("\"b\""), g.data.find("\"a\""));  // key order kept: properties come out in it
  g = structured::llguidance_grammar(Constraint::json_schema(R"({"x-guidance":{"whitespace_flexible":false}})"));
  EXPECT_EQ(json::parse(g.data)["x-guidance"], (json{{"whitespace_flexible", false}}));
  // and it holds: after "{" at most 20 whitespace characters, then only the key
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  auto m = structured::Matcher::compile(
      vocab, Constraint::json_schema(R"({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]})"));
  ASSERT_TRUE(m.consume('{'));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(m.consume(' ')) << i;
  EXPECT_FALSE(m.consume(' '));
}

TEST(StructuredSeqConstraint, MinTokensHoldsEosBackButNeverEmptiesTheMask) {
  Tokenizer tok = test_tokenizer();
  structured::Vocabulary vocab(tok, kVocab, {kEos});
  structured::SeqConstraint many(structured::Matcher::compile(vocab, Constraint::regex("a+")));
  ASSERT_EQ(many.consume('a'), structured::SeqConstraint::Step::Continue);
  many.prepare(1, 3, {kEos});
  std::vector<uint32_t> mask(many.mask(), many.mask() + many.mask_words());
  EXPECT_EQ(allowed_ids(mask), (std::vector<int>{'a'}));  // eos held back: 1 < min_tokens
  std::vector<float> logits(kVocab, 1.0f);
  many.apply(logits.data(), kVocab);
  EXPECT_EQ(logits['a'], 1.0f);
  EXPECT_EQ(logits[kEos], -INFINITY);
  EXPECT_EQ(logits[0], -INFINITY);

  // A grammar that can take nothing more is done at once (the sequence ends, min_tokens or not).
  structured::SeqConstraint one(structured::Matcher::compile(vocab, Constraint::regex("a")));
  EXPECT_EQ(one.consume('a'), structured::SeqConstraint::Step::Done);
  EXPECT_EQ(one.consume('a'), structured::SeqConstraint::Step::Rejected);
  EXPECT_NE(one.error().find("structured output"), std::string::npos);
}

// ------------------------------------------------------------------ the engine

namespace {

EngineConfig tiny_config(const std::string& sampler, bool async = true) {
  EngineConfig c;
  c.synthetic = "tiny";
  c.tokenizer = tokenizer_dir();
  c.kv_cache_bytes = int64_t(32) << 20;
  c.max_model_len = 1024;
  c.sampler = sampler;
  c.async_scheduling = async;
  return c;
}

struct Out {
  std::string text, finish_reason, error;
  std::vector<int32_t> ids;
};

std::vector<Out> run_all(Engine& e, const std::vector<std::vector<int32_t>>& prompts, const std::vector<SamplingParams>& ps) {
  std::vector<RequestHandle> hs;
  for (size_t i = 0; i < prompts.size(); ++i) hs.push_back(e.submit(prompts[i], ps[i]));
  std::vector<Out> r;
  for (auto& h : hs) {
    RequestOutput o;
    std::vector<Out> outs;
    while (h.next(o)) {
      if (outs.size() <= size_t(o.index)) outs.resize(size_t(o.index) + 1);
      Out& x = outs[size_t(o.index)];
      x.text += o.new_text;
      x.ids.insert(x.ids.end(), o.new_token_ids.begin(), o.new_token_ids.end());
      if (o.finished) {
        x.finish_reason = o.finish_reason;
        x.error = o.error;
      }
    }
    r.insert(r.end(), outs.begin(), outs.end());
  }
  return r;
}

const char* kSchema = R"({"type":"object","properties":{
  "ok":{"type":"boolean"},
  "n":{"type":"integer","minimum":-5,"maximum":99},
  "name":{"enum":["name","true",null]},
  "list":{"type":"array","items":{"type":"string","maxLength":3},"minItems":1,"maxItems":3},
  "opt":{"type":"integer","minimum":0,"maximum":1}},
  "required":["ok","n","name","list"],"additionalProperties":false})";

void expect_follows_schema(const Out& o) {
  ASSERT_EQ(o.error, "");
  ASSERT_EQ(o.finish_reason, "stop") << o.text;
  json j;
  ASSERT_NO_THROW(j = json::parse(o.text)) << o.text;
  ASSERT_TRUE(j.is_object()) << o.text;
  EXPECT_TRUE(j["ok"].is_boolean()) << o.text;
  ASSERT_TRUE(j["n"].is_number_integer()) << o.text;
  EXPECT_GE(j["n"].get<int>(), -5);
  EXPECT_LE(j["n"].get<int>(), 99);
  EXPECT_TRUE(j["name"] == "name" || j["name"] == "true" || j["name"].is_null()) << o.text;
  ASSERT_TRUE(j["list"].is_array() && !j["list"].empty() && j["list"].size() <= 3) << o.text;
  for (auto& s : j["list"]) EXPECT_TRUE(s.is_string()) << o.text;
  for (auto& [k, v] : j.items()) EXPECT_TRUE(k == "ok" || k == "n" || k == "name" || k == "list" || k == "opt") << k;
}

}  // namespace

TEST(StructuredEngine, SampledJsonFollowsTheSchemaOnEverySampler) {
  for (const char* sampler : {"host", "device"}) {
    Engine e(tiny_config(sampler));
    std::vector<std::vector<int32_t>> prompts;
    std::vector<SamplingParams> ps;
    for (int i = 0; i < 12; ++i) {
      prompts.push_back({int32_t(1 + i), 2, 3});
      SamplingParams p;
      p.temperature = 1.0f;
      p.seed = uint64_t(i);
      p.max_tokens = 400;
      p.constraint = Constraint::json_schema(kSchema);
      ps.push_back(p);
    }
    for (auto& o : run_all(e, prompts, ps)) expect_follows_schema(o);
  }
}

TEST(StructuredEngine, GreedyTheSameOnHostDeviceAndAsyncAndNextToUnconstrained) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingParams> ps;
  for (int i = 0; i < 6; ++i) {
    prompts.push_back({int32_t(5 + i), 7, 11, int32_t(13 + i)});
    SamplingParams p;
    p.temperature = 0;
    p.max_tokens = 800;  // greedy on random weights likes whitespace: up to 20 characters a gap
    if (i % 3 == 0) p.constraint = Constraint::json_schema(kSchema);
    if (i % 3 == 1) p.constraint = Constraint::regex("[a-z]{2,6}=[0-9]{1,3};");
    if (i % 3 == 2) p.ignore_eos = true, p.max_tokens = 12;  // unconstrained, in the same batches
    ps.push_back(p);
  }
  std::vector<std::vector<Out>> runs;
  for (auto [sampler, async] : {std::pair{"host", false}, {"device", false}, {"device", true}}) {
    Engine e(tiny_config(sampler, async));
    runs.push_back(run_all(e, prompts, ps));
    if (async) EXPECT_GT(e.impl().ahead_steps.load(), 0);  // the masks did not stop steps being enqueued ahead
  }
  for (size_t r = 1; r < runs.size(); ++r)
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(runs[r][i].ids, runs[0][i].ids) << "run " << r << " request " << i;
  const std::regex re("[a-z]{2,6}=[0-9]{1,3};");
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (i % 3 == 0) expect_follows_schema(runs[0][i]);
    if (i % 3 == 1) EXPECT_TRUE(std::regex_match(runs[0][i].text, re)) << runs[0][i].text;
    if (i % 3 == 2) EXPECT_EQ(runs[0][i].ids.size(), 12u);
  }
}

TEST(StructuredEngine, ChoiceRegexGrammarAndNGreaterThanOne) {
  Engine e(tiny_config("device"));
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 7;
  p.max_tokens = 100;
  p.n = 4;
  p.constraint = Constraint::choice({"yes", "no", "maybe \"so\""});
  for (auto& o : run_all(e, {{1, 2}}, {p})) {
    EXPECT_TRUE(o.text == "yes" || o.text == "no" || o.text == "maybe \"so\"") << o.text;
    EXPECT_EQ(o.finish_reason, "stop");
  }
  p.constraint = Constraint::regex("(ab|cd)[0-9]{2,3}");
  const std::regex re("(ab|cd)[0-9]{2,3}");
  for (auto& o : run_all(e, {{3, 4}}, {p})) EXPECT_TRUE(std::regex_match(o.text, re)) << o.text;
  p.constraint = Constraint::grammar("start: \"v=\" NUM (\",\" NUM)* \";\"\nNUM: /[0-9]{1,3}/\n");
  const std::regex gre("v=[0-9]{1,3}(,[0-9]{1,3})*;");
  for (auto& o : run_all(e, {{5, 6}}, {p})) {
    if (o.finish_reason == "stop") EXPECT_TRUE(std::regex_match(o.text, gre)) << o.text;
    else EXPECT_EQ(o.finish_reason, "length");
  }
}

TEST(StructuredEngine, MinTokensWithAGrammar) {
  Engine e(tiny_config("host"));
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 3;
  p.max_tokens = 50;
  p.min_tokens = 6;
  p.n = 4;
  p.constraint = Constraint::regex("a+");
  for (auto& o : run_all(e, {{1, 2}}, {p})) {
    EXPECT_GE(o.ids.size(), 6u);
    EXPECT_TRUE(std::regex_match(o.text, std::regex("a+"))) << o.text;
  }
}

TEST(StructuredEngine, FailsClosedWithoutHurtingOthers) {
  Engine e(tiny_config("device"));
  SamplingParams good;
  good.max_tokens = 8;
  good.ignore_eos = true;
  RequestHandle h = e.submit(std::vector<int32_t>{1, 2, 3}, good);
  SamplingParams bad = good;
  bad.constraint = Constraint::json_schema(R"({"type":"object","properties":{"a":{"type":"foo"}}})");
  try {
    e.submit(std::vector<int32_t>{1, 2, 3}, bad);
    FAIL() << "an uncompilable schema was accepted";
  } catch (const Error& ex) {
    EXPECT_NE(std::string(ex.what()).find("does not compile"), std::string::npos) << ex.what();
  }
  bad.constraint = Constraint::choice({});
  EXPECT_THROW(e.submit(std::vector<int32_t>{1, 2, 3}, bad), Error);
  RequestOutput o;
  int n = 0;
  while (h.next(o)) n += int(o.new_token_ids.size());
  EXPECT_EQ(n, 8);

  EngineConfig no_tok = tiny_config("host");
  no_tok.tokenizer.clear();
  Engine e2(no_tok);
  SamplingParams c;
  c.constraint = Constraint::regex("a");
  try {
    e2.submit(std::vector<int32_t>{1, 2}, c);
    FAIL() << "a constraint without a tokenizer was accepted";
  } catch (const Error& ex) {
    EXPECT_NE(std::string(ex.what()).find("needs the model's tokenizer"), std::string::npos) << ex.what();
  }
}

// The mask of step N+1 is computed on the CPU after step N's tokens are taken and after step N+1
// has been enqueued on the device (Engine::Impl::step_async: forward_device, then prepare_masks,
// then launch_draw): a constrained sequence keeps every decode step enqueued ahead.
TEST(StructuredEngine, MasksDoNotStopStepsBeingEnqueuedAhead) {
  for (bool async : {true, false}) {
    Engine e(tiny_config("device", async));
    SamplingParams p;
    p.temperature = 1.0f;
    p.seed = 11;
    p.max_tokens = 100;
    p.n = 3;
    p.constraint = Constraint::regex("[a-z]{40}");
    size_t tokens = 0;
    for (auto& o : run_all(e, {{1, 2, 3}}, {p})) {
      EXPECT_TRUE(std::regex_match(o.text, std::regex("[a-z]{40}"))) << o.text;
      EXPECT_EQ(o.finish_reason, "stop");
      tokens = std::max(tokens, o.ids.size());
    }
    ASSERT_GT(tokens, 20u);
    if (async) {
      // every step after the first decode step went ahead, but the last (nothing left to plan)
      EXPECT_GE(e.impl().ahead_steps.load(), int64_t(tokens) - 3) << tokens << " tokens";
    } else {
      EXPECT_EQ(e.impl().ahead_steps.load(), 0);
    }
  }
}
