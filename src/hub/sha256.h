// SHA-256 (FIPS 180-4), for checking downloads against the hub's LFS object ids.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tritium::hub {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  std::string hex_digest();  // finishes the hash; lower-case hex

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// The SHA-256 of a file's bytes, as lower-case hex; throws naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace tritium::hub
