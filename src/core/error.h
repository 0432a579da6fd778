// Error type: every message names what is wrong and where (file, field, tensor).
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace tritium {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Concatenates its arguments with operator<< into one message.
template <typename... Args>
std::string str_cat(Args&&... args);

}  // namespace tritium

#include <sstream>
namespace tritium {
template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace tritium

#define TRITIUM_CHECK(cond, ...)                                   \
  do {                                                             \
    if (!(cond)) throw ::tritium::Error(::tritium::str_cat(__VA_ARGS__)); \
  } while (0)
