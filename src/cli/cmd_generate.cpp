// tritium generate: run a prompt (token ids) through a model and print the continuation.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "engine/generator.h"

namespace tritium::cli {
namespace {

struct GenerateArgs {
  ModelArgs model;
  std::string prompt_ids;
  SamplingArgs sampling;
  int64_t prefill_chunk = 0;
  bool json = false;
};

void run_generate(const GenerateArgs& a) {
  std::vector<int32_t> prompt = parse_id_list(a.prompt_ids, "--prompt-ids");
  auto model = load_model(a.model);
  SamplingParams sp = a.sampling.params();
  int64_t block_size = a.model.block_size;
  int64_t blocks = kv_blocks_for(*model, a.model, int64_t(prompt.size()) + sp.max_tokens);
  Generator gen(*model, blocks, block_size);
  GenerationResult r = gen.generate({prompt}, sp, a.prefill_chunk)[0];
  double prefill_tps = r.prefill_seconds > 0 ? double(r.prompt_tokens) / r.prefill_seconds : 0;
  double decode_tps = r.decode_seconds > 0 ? double(r.decode_steps) / r.decode_seconds : 0;
  if (a.json) {
    nlohmann::json j;
    j["output_ids"] = r.output_ids;
    j["finish_reason"] = r.finish_reason;
    j["prompt_tokens"] = r.prompt_tokens;
    j["prefill_tokens_per_s"] = prefill_tps;
    j["decode_tokens_per_s"] = decode_tps;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::ostringstream ids;
  for (size_t i = 0; i < r.output_ids.size(); ++i) ids << (i ? "," : "") << r.output_ids[i];
  std::printf("%s\n", ids.str().c_str());
  std::printf("finish_reason: %s\nprefill: %lld tokens, %.1f tokens/s\ndecode: %lld tokens, %.1f tokens/s\n",
               r.finish_reason.c_str(), (long long)r.prompt_tokens, prefill_tps, (long long)r.decode_steps, decode_tps);
}

RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  CLI::App* c = app.add_subcommand("generate", "Generate a continuation of a prompt");
  add_model_options(c, a->model);
  c->add_option("--prompt-ids", a->prompt_ids, "Prompt as comma-separated token ids, e.g. 1,2,3")->required();
  add_sampling_options(c, a->sampling);
  c->add_option("--prefill-chunk", a->prefill_chunk, "Feed the prompt in chunks of this many tokens (0 = at once)")
      ->check(CLI::NonNegativeNumber);
  c->add_flag("--json", a->json, "Print one JSON object (output_ids, finish_reason, prefill/decode tokens/s)");
  c->callback([a] { run_generate(*a); });
});

}  // namespace
}  // namespace tritium::cli
