// safetensors files, mmap'd and validated; tensors are zero-copy views of the mapping.
// A checkpoint is one file or shards listed by model.safetensors.index.json.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tritium {

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range in the data section
};

class SafetensorsFile {
 public:
  // Maps and validates the file; throws Error naming the file and the problem.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // A CPU tensor viewing the mapped bytes; keeps the mapping alive.
  Tensor get(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const char* data_ = nullptr;  // start of the data section
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<SafetensorsFile> self_;
};

// All tensors of a checkpoint directory: model.safetensors, or the shards named in
// model.safetensors.index.json, or every *.safetensors file in the directory.
class Checkpoint {
 public:
  static Checkpoint open(const std::string& dir);
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  Tensor get(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& file_of(const std::string& name) const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

// No real checkpoint header comes near this; a larger one is corrupt or hostile.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

struct SafetensorsHeader {
  std::map<std::string, TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  size_t data_offset = 0;  // where the data section starts
};
// Parses and validates the header of a safetensors file held in bytes [base, base + size): every
// tensor's dtype, shape and byte range (inside the data section, no overlaps). Throws Error
// naming `path` and the problem.
SafetensorsHeader parse_safetensors_header(const char* base, size_t size, const std::string& path);

// model.safetensors.index.json text -> weight_map (tensor name -> shard file name); shard names
// must stay inside the directory. Throws Error naming `where`.
std::map<std::string, std::string> parse_safetensors_index(const std::string& text, const std::string& where);

// Writes a safetensors file (tests, tools). Tensors must be contiguous CPU tensors.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace tritium
