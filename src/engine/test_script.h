// A test fixture: scripted replies for a model whose own output is meaningless (tiny random
// weights), so that tests of the server and the CLI can ask for known text (tool calls,
// reasoning, stop strings) and still run every request through the real engine: the forward
// pass, the KV cache, sampling, detokenizing and stop rules. See EngineConfig::test_script.
//
// File: {"rules": [{"when": "text in the prompt", "reply": "text", "repeat": false}, ...]}
// (a bare list of rules is accepted too). A prompt is matched against the rules on its decoded
// text (special tokens kept); the rule whose `when` occurs latest in it wins (at the same place, the
// longer `when`), so in a conversation the newest message decides. The reply's tokens are then forced one per step by
// adding kForceBias to their logit; after the last one, end-of-sequence is forced (unless the
// request sets ignore_eos), or with "repeat": true the reply starts over. When the prompt already
// ends with the start of the reply (at least 4 characters of it: a server's forced tool-call
// opening, say), the reply continues from there instead of starting over.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tritium/sampling_params.h"

namespace tritium {

namespace tok {
class Tokenizer;
}

struct ScriptedReply {
  std::vector<int32_t> ids;  // the reply, tokenized (special tokens parsed, no BOS)
  bool repeat = false;
  // `logits` with the token this reply wants at output position `num_generated` raised by
  // kForceBias (written to `scratch`, which is returned); `logits` itself when it wants none.
  const float* bias(std::span<const float> logits, int64_t num_generated, const SamplingParams& p,
                    const std::vector<int32_t>& eos_ids, std::vector<float>& scratch) const;
};

class TestScript {
 public:
  static constexpr float kForceBias = 1000.0f;
  // Throws tritium::Error naming the file and the rule when it is malformed.
  static TestScript load(const std::string& path, const tok::Tokenizer& tok);
  // The reply for a prompt, or nullptr when no rule matches.
  std::shared_ptr<const ScriptedReply> match(const std::vector<int32_t>& prompt) const;

 private:
  struct Rule {
    std::string when;
    std::string text;  // the reply as written
    std::shared_ptr<const ScriptedReply> reply;
  };
  std::vector<Rule> rules_;
  const tok::Tokenizer* tok_ = nullptr;
};

}  // namespace tritium
