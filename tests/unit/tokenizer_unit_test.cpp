// Tokenizer unit tests that need no reference data: load errors, UTF-8 helpers, the
// byte-level alphabet, regex classes, config files, and the incremental detokenizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <atomic>
#include <thread>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

using nlohmann::json;
using tritium::Error;
using tritium::tok::IncrementalDetokenizer;
using tritium::tok::Tokenizer;
namespace tk = tritium::tok;

// A byte-level BPE: the 256 byte characters plus a few merges.
json byte_level_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[tk::utf8_encode(tk::byte_to_char(static_cast<uint8_t>(b)))] = b;
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  vocab["\xC4\xA0w"] = 260;  // "Ġw"
  return json{
      {"version", "1.0"},
      {"added_tokens",
       json::array({json{{"id", 261}, {"content", "<|end|>"}, {"special", true}, {"normalized", false},
                         {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
                    json{{"id", 262}, {"content", "<x>"}, {"special", false}, {"normalized", false},
                         {"lstrip", false}, {"rstrip", false}, {"single_word", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({json{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                json{{"SpecialToken", {{"id", "<|end|>"}, {"type_id", 0}}}}})},
        {"pair", json::array()},
        {"special_tokens", {{"<|end|>", {{"id", "<|end|>"}, {"ids", {261}}, {"tokens", {"<|end|>"}}}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"h e", "l l", "he ll", json::array({"hell", "o"}), "\xC4\xA0 w"})}}}};
}

std::string error_of(const json& j) {
  try {
    Tokenizer::from_json(j.dump());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Tokenizer, EncodeDecodeBasics) {
  Tokenizer t = Tokenizer::from_json(byte_level_json().dump());
  EXPECT_EQ(t.encode("hello", false), (std::vector<int32_t>{259}));
  EXPECT_EQ(t.encode("hello", true), (std::vector<int32_t>{259, 261}));
  EXPECT_EQ(t.encode("", true), (std::vector<int32_t>{261}));
  EXPECT_EQ(t.encode("", false), (std::vector<int32_t>{}));
  // Special token in text, and the switch that treats it as plain text.
  auto ids = t.encode("hello<|end|>", false);
  EXPECT_EQ(ids, (std::vector<int32_t>{259, 261}));
  auto plain = t.encode("hello<|end|>", false, false);
  EXPECT_GT(plain.size(), 2u);
  EXPECT_EQ(t.decode(plain), "hello<|end|>");
  // Non-special added tokens are matched either way.
  EXPECT_EQ(t.encode("<x>", false, false), (std::vector<int32_t>{262}));
  EXPECT_EQ(t.decode({259, 261}), "hello<|end|>");
  EXPECT_EQ(t.decode({259, 261}, true), "hello");
  EXPECT_EQ(t.decode({259, 99999, -5}), "hello");  // unknown ids are dropped
  EXPECT_EQ(t.vocab_size(), 263u);
  EXPECT_EQ(t.token_to_id("<|end|>"), 261);
  EXPECT_EQ(t.token_to_id("hello"), 259);
  EXPECT_EQ(t.id_to_token(260), "\xC4\xA0w");
  EXPECT_FALSE(t.id_to_token(5000).has_value());
  EXPECT_TRUE(t.is_special(261));
  EXPECT_FALSE(t.is_special(262));
  EXPECT_EQ(t.special_ids(), (std::vector<int32_t>{261}));
}

TEST(Tokenizer, InvalidUtf8InputIsReplaced) {
  Tokenizer t = Tokenizer::from_json(byte_level_json().dump());
  std::string bad = "he\xFF\xC3llo";
  EXPECT_EQ(t.decode(t.encode(bad, false)), "he\xEF\xBF\xBD\xEF\xBF\xBDllo");
}

TEST(Tokenizer, UnsupportedComponentsAreNamed) {
  json j = byte_level_json();
  j["pre_tokenizer"] = {{"type", "Foo"}};
  EXPECT_NE(error_of(j).find("pre_tokenizer type \"Foo\" is not supported"), std::string::npos) << error_of(j);
  j = byte_level_json();
  j["normalizer"] = {{"type", "Precompiled"}, {"precompiled_charsmap", ""}};
  EXPECT_NE(error_of(j).find("normalizer type \"Precompiled\" is not supported"), std::string::npos);
  j = byte_level_json();
  j["decoder"] = {{"type", "Sequence"}, {"decoders", json::array({json{{"type", "CTC"}}})}};
  EXPECT_NE(error_of(j).find("decoder type \"CTC\" is not supported"), std::string::npos);
  j = byte_level_json();
  j["post_processor"] = {{"type", "Bar"}};
  EXPECT_NE(error_of(j).find("post_processor type \"Bar\" is not supported"), std::string::npos);
  for (const char* m : {"Unigram", "WordPiece", "WordLevel"}) {
    j = byte_level_json();
    j["model"]["type"] = m;
    EXPECT_NE(error_of(j).find(std::string("model type \"") + m + "\" is not supported"), std::string::npos);
  }
  j = byte_level_json();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_NE(error_of(j).find("does not compile"), std::string::npos);
  j = byte_level_json();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", "x"}}}, {"behavior", "Sideways"}};
  EXPECT_NE(error_of(j).find("behavior \"Sideways\""), std::string::npos);
  j = byte_level_json();
  j["model"]["merges"].push_back("a b c");
  EXPECT_NE(error_of(j).find("merge 6"), std::string::npos);
  j = byte_level_json();
  j["model"]["merges"].push_back("zz q");
  EXPECT_NE(error_of(j).find("not in the vocab"), std::string::npos);
  EXPECT_THROW(Tokenizer::from_json("{not json"), Error);
  EXPECT_THROW(Tokenizer::from_dir("/nonexistent/dir"), Error);
}

TEST(Tokenizer, FromDirReadsConfigs) {
  std::string dir = tritium::test::temp_dir("tokenizer_dir");
  std::ofstream(dir + "/tokenizer.json") << byte_level_json().dump();
  std::ofstream(dir + "/tokenizer_config.json")
      << json{{"bos_token", {{"content", "<x>"}}},
              {"eos_token", "<|end|>"},
              {"added_tokens_decoder",
               {{"262", {{"content", "<x>"}, {"special", true}, {"normalized", false}, {"lstrip", false},
                         {"rstrip", false}, {"single_word", false}}}}}}
             .dump();
  std::ofstream(dir + "/generation_config.json") << R"({"eos_token_id": [261, 5]})";
  Tokenizer t = Tokenizer::from_dir(dir);
  EXPECT_EQ(t.bos_id(), 262);
  EXPECT_EQ(t.eos_ids(), (std::vector<int32_t>{261, 5}));
  EXPECT_TRUE(t.is_special(262));  // added_tokens_decoder overrides the flags
  EXPECT_EQ(t.decode({262, 259}, true), "hello");
  EXPECT_FALSE(t.adds_bos());
}

TEST(Tokenizer, ConcurrentEncodeIsSafe) {
  Tokenizer t = Tokenizer::from_json(byte_level_json().dump());
  std::vector<std::string> texts = {"hello world", "hello<|end|> hello", "\xE4\xBD\xA0\xE5\xA5\xBD hello", "w w w"};
  std::vector<std::vector<int32_t>> want;
  for (auto& s : texts) want.push_back(t.encode(s));
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        size_t j = static_cast<size_t>(i + k) % texts.size();
        if (t.encode(texts[j]) != want[j] || t.decode(want[j]) != t.decode(want[j])) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Unicode, LossyMatchesRust) {
  // Maximal subparts: E0 80 is two errors; F0 9F 98 is one (truncated) error.
  EXPECT_EQ(tk::utf8_lossy("a\xE0\x80z"), "a\xEF\xBF\xBD\xEF\xBF\xBDz");
  EXPECT_EQ(tk::utf8_lossy("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(tk::utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(tk::utf8_lossy("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_TRUE(tk::utf8_valid("\xF4\x8F\xBF\xBF"));
  EXPECT_FALSE(tk::utf8_valid("\xF4\x90\x80\x80"));
  EXPECT_EQ(tk::utf8_incomplete_tail("ab\xE4\xBD"), 2u);
  EXPECT_EQ(tk::utf8_incomplete_tail("ab\xE4\xBD\xA0"), 0u);
}

TEST(Unicode, ByteLevelAlphabetRoundTrips) {
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(tk::char_to_byte(tk::byte_to_char(static_cast<uint8_t>(b))), b);
  }
  EXPECT_EQ(tk::byte_to_char(' '), U'\u0120');
  EXPECT_EQ(tk::byte_to_char('\n'), U'\u010A');
  EXPECT_EQ(tk::char_to_byte(U'\u4e00'), -1);
}

TEST(Unicode, RegexClassesFollowOniguruma) {
  tk::Regex ws("\\s+", "test");
  // U+180E is not White_Space (PCRE2's \s would match it).
  EXPECT_TRUE(ws.find_all("a\xE1\xA0\x8E" "b").empty());
  EXPECT_EQ(ws.find_all("a\xC2\xA0\xE3\x80\x80z").size(), 1u);
  tk::Regex w("\\w+", "test");
  auto m = w.find_all("e\xCC\x81x_1 y");  // combining mark is a word character
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], std::make_pair(size_t{0}, size_t{6}));
  tk::Regex empty("x*", "test");
  EXPECT_EQ(empty.find_all("axxb").size(), 3u);  // "" at 0, "xx", "" at 4 ("" right after "xx" skipped)
}

TEST(IncrementalDetokenizer, HoldsIncompleteCharacters) {
  Tokenizer t = Tokenizer::from_json(byte_level_json().dump());
  // "你" = E4 BD A0: three byte tokens.
  std::vector<int32_t> ids;
  for (unsigned char c : std::string("\xE4\xBD\xA0")) {
    ids.push_back(static_cast<int32_t>(*t.token_to_id(tk::utf8_encode(tk::byte_to_char(c)))));
  }
  IncrementalDetokenizer d(t);
  EXPECT_EQ(d.push(259), "hello");
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.push(ids[1]), "");
  EXPECT_EQ(d.push(ids[2]), "\xE4\xBD\xA0");
  EXPECT_EQ(d.push(ids[0]), "");
  EXPECT_EQ(d.finish(), "\xEF\xBF\xBD");  // an unfinished character ends as U+FFFD, as in decode
  EXPECT_EQ(d.ids().size(), 5u);
}

}  // namespace
