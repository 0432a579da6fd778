// Subcommands register themselves here; main.cpp builds the CLI11 app from the list.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace tritium::cli {

using CommandSetup = std::function<void(CLI::App& root)>;

// (order, setup); setups run by ascending order (then registration order), so a file can add a
// subcommand to a command another file made (order 1 runs after the default 0).
std::vector<std::pair<int, CommandSetup>>& command_registry();

struct RegisterCommand {
  explicit RegisterCommand(CommandSetup fn, int order = 0) { command_registry().emplace_back(order, std::move(fn)); }
};

}  // namespace tritium::cli
