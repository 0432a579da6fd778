// Whole-file reads with errors that name the file.
#pragma once
#include <optional>
#include <string>

namespace tritium {

// The file's bytes; throws Error ("<path>: cannot read ...") if it cannot be read.
std::string read_file(const std::string& path);
// The file's bytes, or nullopt when it does not exist or cannot be opened.
std::optional<std::string> try_read_file(const std::string& path);

}  // namespace tritium
