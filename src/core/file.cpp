#include "core/file.h"

#include <sys/stat.h>

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

std::optional<std::string> try_read_file(const std::string& path, size_t max_bytes, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (S_ISREG(st.st_mode) && uint64_t(st.st_size) > max_bytes)
    throw Error(str_cat(path, ": file is ", uint64_t(st.st_size), " bytes, more than the limit for ", what, " (",
                        max_bytes, " bytes)"));
  auto s = try_read_file(path);
  // Not a regular file (a pipe, say): the limit applies to what was read.
  if (s && s->size() > max_bytes)
    throw Error(str_cat(path, ": more than the limit for ", what, " (", max_bytes, " bytes)"));
  return s;
}

std::string read_file(const std::string& path, size_t max_bytes, const char* what) {
  auto s = try_read_file(path, max_bytes, what);
  if (!s) throw Error(str_cat(path, ": cannot read (", std::strerror(errno), ")"));
  return *s;
}

}  // namespace tritium
