#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/file.h"

namespace tritium {

namespace fs = std::filesystem;
using nlohmann::json;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(str_cat(path, ": cannot open (", std::strerror(errno), ")"));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(str_cat(path, ": cannot stat"));
  }
  size_t size = size_t(st.st_size);
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  if (size < 8) {
    ::close(fd);
    throw Error(str_cat(path, ": file is ", size, " bytes, too short for a safetensors header"));
  }
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error(str_cat(path, ": mmap failed (", std::strerror(errno), ")"));
  f->map_ = m;
  f->map_size_ = size;
  SafetensorsHeader h = parse_safetensors_header(static_cast<const char*>(m), size, path);
  f->data_ = static_cast<const char*>(m) + h.data_offset;
  f->tensors_ = std::move(h.tensors);
  f->metadata_ = std::move(h.metadata);
  f->self_ = f;
  return f;
}

SafetensorsHeader parse_safetensors_header(const char* base, size_t size, const std::string& path) {
  SafetensorsHeader out;
  if (size < 8) throw Error(str_cat(path, ": file is ", size, " bytes, too short for a safetensors header"));
  uint64_t hlen = 0;
  std::memcpy(&hlen, base, 8);  // little-endian on every platform we build for
  if (hlen > kMaxSafetensorsHeaderBytes)
    throw Error(str_cat(path, ": header length ", hlen, " bytes is more than the limit (", kMaxSafetensorsHeaderBytes,
                        " bytes)"));
  if (hlen > size - 8)
    throw Error(str_cat(path, ": header length ", hlen, " exceeds the file (", size - 8, " bytes after the length)"));
  out.data_offset = 8 + hlen;
  size_t data_size = size - 8 - hlen;
  json header;
  try {
    header = json::parse(base + 8, base + 8 + hlen);
  } catch (const json::exception& e) {
    throw Error(str_cat(path, ": header is not valid JSON (", e.what(), ")"));
  }
  if (!header.is_object()) throw Error(str_cat(path, ": header is not a JSON object"));

  std::vector<const TensorInfo*> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (it->is_object())
        for (auto m2 = it->begin(); m2 != it->end(); ++m2)
          if (m2->is_string()) out.metadata[m2.key()] = m2->get<std::string>();
      continue;
    }
    const json& e = it.value();
    auto where = [&] { return str_cat(path, ": tensor '", name, "'"); };
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw Error(where() + ": entry must have dtype, shape and data_offsets");
    if (!e["dtype"].is_string()) throw Error(where() + ": dtype is not a string");
    std::string dts = e["dtype"].get<std::string>();
    auto dt = dtype_from_safetensors(dts);
    if (!dt)
      throw Error(str_cat(where(), ": unknown dtype '", dts, "' (supported: F32, F16, BF16, I32, I64, U8, F8_E4M3)"));
    TensorInfo info;
    info.name = name;
    info.dtype = *dt;
    if (!e["shape"].is_array()) throw Error(where() + ": shape is not an array");
    uint64_t numel = 1;
    for (auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) throw Error(where() + ": shape holds a non-integer or negative dimension");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > (uint64_t(1) << 48) / v) throw Error(where() + ": shape is absurdly large");
      numel *= v;
      info.shape.push_back(int64_t(v));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw Error(where() + ": data_offsets must be two non-negative integers");
    info.begin = off[0].get<uint64_t>();
    info.end = off[1].get<uint64_t>();
    if (info.end < info.begin) throw Error(str_cat(where(), ": data_offsets [", info.begin, ", ", info.end, ") end before begin"));
    uint64_t want = numel * dtype_size(info.dtype);
    if (info.end - info.begin != want)
      throw Error(str_cat(where(), ": shape ", shape_str(info.shape), " x ", dts, " is ", want,
                          " bytes but data_offsets span ", info.end - info.begin));
    if (info.end > data_size)
      throw Error(str_cat(where(), ": data_offsets [", info.begin, ", ", info.end,
                          ") fall outside the data section (", data_size, " bytes)"));
    out.tensors[name] = std::move(info);
  }
  for (auto& [n, i] : out.tensors) ranges.push_back(&i);
  std::sort(ranges.begin(), ranges.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  const TensorInfo* reach = nullptr;  // the earlier tensor whose range ends furthest
  for (const TensorInfo* r : ranges) {
    if (r->end == r->begin) continue;  // empty tensors occupy nothing
    if (reach && r->begin < reach->end)
      throw Error(str_cat(path, ": tensors '", reach->name, "' and '", r->name, "' have overlapping byte ranges"));
    if (!reach || r->end > reach->end) reach = r;
  }
  return out;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, map_size_);
}

Tensor SafetensorsFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(str_cat(path_, ": no tensor named '", name, "'"));
  const TensorInfo& i = it->second;
  return Tensor::from_blob(const_cast<char*>(data_ + i.begin), i.shape, i.dtype, Device::cpu(),
                           std::static_pointer_cast<void>(self_.lock()));
}

Checkpoint Checkpoint::open(const std::string& dir) {
  Checkpoint c;
  fs::path d(dir);
  if (!fs::is_directory(d)) throw Error(str_cat(dir, ": not a directory"));
  std::vector<std::string> files;
  fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::map<std::string, std::string> wm = parse_safetensors_index(
        read_file(index.string(), kMaxSafetensorsIndexBytes, "model.safetensors.index.json"), index.string());
    for (auto& [name, fname] : wm)
      if (std::find(files.begin(), files.end(), fname) == files.end()) files.push_back(fname);
    std::sort(files.begin(), files.end());
    for (auto& fn : files) c.files_.push_back(SafetensorsFile::open((d / fn).string()));
    for (auto& [name, fn] : wm) {
      size_t k = size_t(std::find(files.begin(), files.end(), fn) - files.begin());
      if (!c.files_[k]->has(name))
        throw Error(str_cat(index.string(), ": tensor '", name, "' is listed in ", fn, " but that file does not hold it"));
      c.where_[name] = k;
    }
    return c;
  }
  if (fs::exists(d / "model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    for (auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
  }
  if (files.empty()) throw Error(str_cat(dir, ": no model.safetensors, no index, no *.safetensors files"));
  for (auto& fn : files) {
    c.files_.push_back(SafetensorsFile::open((d / fn).string()));
    for (auto& [name, _] : c.files_.back()->tensors()) {
      if (c.where_.count(name))
        throw Error(str_cat(dir, ": tensor '", name, "' appears in more than one file"));
      c.where_[name] = c.files_.size() - 1;
    }
  }
  return c;
}

std::map<std::string, std::string> parse_safetensors_index(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(str_cat(where, ": not valid JSON (", e.what(), ")"));
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(str_cat(where, ": missing object 'weight_map'"));
  std::map<std::string, std::string> wm;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it->is_string()) throw Error(str_cat(where, ": weight_map['", it.key(), "'] is not a string"));
    std::string fname = it->get<std::string>();
    if (fname.empty() || fname.find('/') != std::string::npos || fname.find("..") != std::string::npos)
      throw Error(str_cat(where, ": weight_map['", it.key(), "'] names a file outside the directory"));
    wm[it.key()] = fname;
  }
  return wm;
}

Tensor Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(str_cat("checkpoint has no tensor named '", name, "'"));
  return files_[it->second]->get(name);
}

const TensorInfo& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) throw Error(str_cat("checkpoint has no tensor named '", name, "'"));
  return files_[it->second]->tensors().at(name);
}

const std::string& Checkpoint::file_of(const std::string& name) const {
  return files_[where_.at(name)]->path();
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> r;
  for (auto& [n, _] : where_) r.push_back(n);
  return r;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  size_t off = 0;
  for (auto& [name, t] : tensors) {
    TRITIUM_CHECK(t.device().is_cpu() && t.is_contiguous(), "save_safetensors: '", name, "' must be contiguous on the CPU");
    h[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + t.nbytes()}}};
    off += t.nbytes();
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(str_cat(path, ": cannot write"));
  uint64_t n = hs.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(hs.data(), std::streamsize(hs.size()));
  for (auto& [name, t] : tensors) out.write(static_cast<const char*>(t.data()), std::streamsize(t.nbytes()));
  if (!out) throw Error(str_cat(path, ": write failed"));
}

}  // namespace tritium
