// Subcommands register themselves here; main.cpp builds the CLI11 app from the list.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace tritium::cli {

using CommandSetup = std::function<void(CLI::App& root)>;

std::vector<CommandSetup>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(CommandSetup fn) { command_registry().push_back(std::move(fn)); }
};

}  // namespace tritium::cli
