// A GGUF writer for tests: metadata of any type, tensors of raw bytes, and knobs to write
// malformed files (wrong counts, offsets, alignment, truncation).
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace tritium::test {

class GgufWriter {
 public:
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count, kv_count;  // overrides of the real counts
  uint64_t alignment = 32;                          // how the data is laid out (general.alignment if set)

  // --- metadata
  void u32(const std::string& k, uint32_t v) { kv(k, 4, pod(v)); }
  void i32(const std::string& k, int32_t v) { kv(k, 5, pod(v)); }
  void f32(const std::string& k, float v) { kv(k, 6, pod(v)); }
  void u64(const std::string& k, uint64_t v) { kv(k, 10, pod(v)); }
  void boolean(const std::string& k, bool v) { kv(k, 7, std::string(1, char(v ? 1 : 0))); }
  void str(const std::string& k, const std::string& v) { kv(k, 8, string(v)); }
  void strs(const std::string& k, const std::vector<std::string>& v) {
    std::string b = pod(uint32_t(8)) + pod(uint64_t(v.size()));
    for (auto& s : v) b += string(s);
    kv(k, 9, b);
  }
  void i32s(const std::string& k, const std::vector<int32_t>& v) {
    std::string b = pod(uint32_t(5)) + pod(uint64_t(v.size()));
    for (auto x : v) b += pod(x);
    kv(k, 9, b);
  }
  void f32s(const std::string& k, const std::vector<float>& v) {
    std::string b = pod(uint32_t(6)) + pod(uint64_t(v.size()));
    for (auto x : v) b += pod(x);
    kv(k, 9, b);
  }
  // Any value: its type id and encoded bytes.
  void kv(const std::string& key, uint32_t type, const std::string& value) { kvs_.push_back(string(key) + pod(type) + value); }

  // --- tensors (ne in ggml order: ne[0] is the row length)
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    std::string data;
    std::optional<uint64_t> offset;  // override of the laid-out offset
  };
  T& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, std::string data) {
    tensors_.push_back({name, std::move(ne), type, std::move(data), std::nullopt});
    return tensors_.back();
  }
  std::vector<T>& tensors() { return tensors_; }

  std::string bytes() const {
    std::string h = pod(magic) + pod(version) + pod(tensor_count.value_or(tensors_.size())) +
                    pod(kv_count.value_or(kvs_.size()));
    for (auto& k : kvs_) h += k;
    std::vector<uint64_t> offs;
    uint64_t off = 0;
    for (auto& t : tensors_) {
      offs.push_back(t.offset.value_or(off));
      off += t.data.size();
      off = (off + alignment - 1) / alignment * alignment;
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const T& t = tensors_[i];
      h += string(t.name) + pod(uint32_t(t.ne.size()));
      for (auto d : t.ne) h += pod(d);
      h += pod(t.type) + pod(offs[i]);
    }
    while (h.size() % alignment) h += '\0';
    std::string data;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      if (!tensors_[i].offset) {
        data.resize(std::max<size_t>(data.size(), offs[i]), '\0');
        data.replace(offs[i], tensors_[i].data.size(), tensors_[i].data);
      }
    }
    return h + data;
  }
  void write(const std::string& path, std::optional<size_t> truncate_to = std::nullopt) const {
    std::string b = bytes();
    if (truncate_to) b.resize(*truncate_to);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(b.data(), std::streamsize(b.size()));
    if (!out) throw Error(path + ": cannot write");
  }

  template <typename X>
  static std::string pod(X v) {
    std::string s(sizeof(X), '\0');
    std::memcpy(s.data(), &v, sizeof(X));
    return s;
  }
  static std::string string(const std::string& s) { return pod(uint64_t(s.size())) + s; }

 private:
  std::vector<std::string> kvs_;
  std::vector<T> tensors_;
};

}  // namespace tritium::test
