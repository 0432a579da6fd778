#include "core/file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace tritium {

std::optional<std::string> try_read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(str_cat(path, ": read error"));
  return ss.str();
}

std::string read_file(const std::string& path) {
  auto s = try_read_file(path);
  if (!s) throw Error(str_cat(path, ": cannot read (", std::strerror(errno), ")"));
  return *s;
}

}  // namespace tritium
