// GGUF files (llama.cpp's format, versions 2 and 3), mmap'd and validated: the metadata
// key/value pairs and the tensor directory, every field checked against the file's size before
// it is read, with errors that name the file, the field and the limit. Tensor data stays in the
// mapping (zero-copy); gguf_dequant.h turns blocks into floats.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace tritium {

// Value types of the metadata (gguf_type in ggml).
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
  U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

struct GgufValue {
  GgufValueType type = GgufValueType::U8;
  // Scalars: integers and bools in `i` (and `u`, for U64 above INT64_MAX), floats in `f`.
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
  std::string_view str;  // STRING: bytes in the mapping
  // ARRAY: the element type and count; numeric elements stay in the mapping at `raw`,
  // strings are listed in `strings`, nested arrays in `items`.
  GgufValueType elem = GgufValueType::U8;
  uint64_t count = 0;
  const char* raw = nullptr;
  std::vector<std::string_view> strings;
  std::vector<GgufValue> items;

  bool is_integer() const;  // U8..I64 and BOOL
  bool is_number() const;   // integers and floats
  // Element k of a numeric array as a double / an integer.
  double number_at(uint64_t k) const;
  int64_t integer_at(uint64_t k) const;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t type = 0;               // ggml type id (gguf_dequant.h)
  std::vector<int64_t> ne;         // ggml order: ne[0] is the contiguous (innermost) dimension
  uint64_t offset = 0;             // from the start of the data section
  uint64_t nbytes = 0;
  const char* data = nullptr;      // in the mapping
  // The shape as row-major tensors (and Hugging Face checkpoints) write it: ne reversed.
  Shape shape() const;
  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps and validates the file; throws Error naming the file and the field.
  static std::shared_ptr<GgufFile> open(const std::string& path);
  ~GgufFile();

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  size_t file_size() const { return size_; }
  size_t data_offset() const { return data_offset_; }  // the data section's start in the file

  // Metadata in file order, and by key.
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed reads: nullopt when the key is absent; an Error naming the key and the types when
  // it holds something else.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // floats and integers
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // Arrays: the whole array (empty optional when absent).
  std::optional<std::vector<std::string_view>> get_strings(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_ints(std::string_view key) const;
  std::optional<std::vector<float>> get_floats(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* tensor(std::string_view name) const;
  // The mapping's owner, for tensors that view its bytes.
  std::shared_ptr<void> holder() const { return std::static_pointer_cast<void>(self_.lock()); }

 private:
  GgufFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  std::weak_ptr<GgufFile> self_;
};

// True when `path` names a GGUF file: ends in .gguf, or starts with the GGUF magic.
bool is_gguf_path(const std::string& path);

}  // namespace tritium
