// tritium: command-line entry point. Each subcommand lives in cmd_<name>.cpp.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>

#include "cli/command.h"
#include "core/error.h"

namespace tritium::cli {
std::vector<std::pair<int, CommandSetup>>& command_registry() {
  static std::vector<std::pair<int, CommandSetup>> r;
  return r;
}
}  // namespace tritium::cli

int main(int argc, char** argv) {
  CLI::App app{"tritium: LLM inference engine (Triton kernels, C++ runtime)", "tritium"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tritium 0.1.0");
  auto& reg = tritium::cli::command_registry();
  std::stable_sort(reg.begin(), reg.end(), [](auto& a, auto& b) { return a.first < b.first; });
  for (auto& [order, setup] : reg) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tritium::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
