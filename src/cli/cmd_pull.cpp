// tritium pull: download a model from the Hugging Face hub into its cache (shared with
// huggingface_hub) and print the snapshot directory.
//   tritium pull ORG/NAME[@REV] [--include GLOB ...] [--quiet]
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/command.h"
#include "core/error.h"
#include "tritium/model_files.h"

namespace tritium::cli {
namespace {

struct PullArgs {
  std::string repo;
  std::vector<std::string> include;
  bool quiet = false;
};

void run_pull(const PullArgs& a) {
  if (!is_hub_ref(a.repo) && a.repo.find('/') == std::string::npos)
    throw Error(str_cat("pull: '", a.repo, "' is not a hub repository (ORG/NAME[@REV])"));
  ResolveOptions o;
  o.include = a.include;
  o.progress = !a.quiet;
  o.refresh = true;
  std::string path = resolve_model(a.repo, o);
  std::printf("%s\n", path.c_str());
}

RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<PullArgs>();
  CLI::App* c = app.add_subcommand(
      "pull",
      "Download a model from the Hugging Face hub (HF_ENDPOINT, HF_TOKEN) into its cache (HF_HUB_CACHE, else "
      "HF_HOME/hub, else ~/.cache/huggingface/hub) and print the snapshot directory");
  c->add_option("repo", a->repo, "ORG/NAME[@REV] (REV: a branch, tag or commit; default main), or ORG/NAME/FILE.gguf")
      ->required();
  c->add_option("--include", a->include,
                "Only the repository files matching this glob ('*' stays within a directory; repeatable). Default: "
                "the top-level *.json, *.jinja and *.safetensors, or the one .gguf file");
  c->add_flag("-q,--quiet", a->quiet, "No progress output");
  c->callback([a] { run_pull(*a); });
});

}  // namespace
}  // namespace tritium::cli
