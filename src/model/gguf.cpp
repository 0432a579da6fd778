#include "model/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "model/gguf_dequant.h"

namespace tritium {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxKeyBytes = 65535;  // the GGUF spec's limit on key length
constexpr int kMaxArrayDepth = 4;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

size_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    case GgufValueType::U64: case GgufValueType::I64: case GgufValueType::F64: return 8;
    default: return 0;
  }
}

bool valid_type(uint32_t t) { return t <= uint32_t(GgufValueType::F64); }

// Reads the header fields in order; every read is checked against the end of the file.
struct Cursor {
  const char* base;
  size_t size;
  size_t pos = 0;
  const std::string& path;

  size_t left() const { return size - pos; }
  void need(size_t n, const std::string& what) const {
    if (n > left())
      throw Error(str_cat(path, ": truncated: ", what, " needs ", n, " bytes at offset ", pos, " but the file has ",
                          left(), " left (", size, " bytes in all)"));
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, base + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  std::string_view string(const std::string& what, uint64_t limit = UINT64_MAX) {
    uint64_t n = read<uint64_t>(what + " length");
    if (n > limit) throw Error(str_cat(path, ": ", what, " is ", n, " bytes long, above the limit of ", limit));
    if (n > left())
      throw Error(str_cat(path, ": ", what, " length ", n, " exceeds the file (", left(), " bytes left at offset ", pos,
                          " of ", size, "): truncated or corrupt"));
    std::string_view s(base + pos, size_t(n));
    pos += size_t(n);
    return s;
  }
};

// One scalar of type t at p (little-endian, as every platform tritium builds for).
void decode_scalar(GgufValueType t, const char* p, GgufValue& v) {
  auto get = [&](auto x) {
    std::memcpy(&x, p, sizeof(x));
    return x;
  };
  v.type = t;
  switch (t) {
    case GgufValueType::U8: case GgufValueType::BOOL: v.i = get(uint8_t()); break;
    case GgufValueType::I8: v.i = get(int8_t()); break;
    case GgufValueType::U16: v.i = get(uint16_t()); break;
    case GgufValueType::I16: v.i = get(int16_t()); break;
    case GgufValueType::U32: v.i = get(uint32_t()); break;
    case GgufValueType::I32: v.i = get(int32_t()); break;
    case GgufValueType::U64: v.u = get(uint64_t()); v.i = int64_t(v.u); break;
    case GgufValueType::I64: v.i = get(int64_t()); break;
    case GgufValueType::F32: v.f = get(float()); break;
    case GgufValueType::F64: v.f = get(double()); break;
    default: break;
  }
  if (t == GgufValueType::F32 || t == GgufValueType::F64) return;
  if (t != GgufValueType::U64) v.u = uint64_t(v.i);
  v.f = t == GgufValueType::U64 ? double(v.u) : double(v.i);
}

void read_scalar(Cursor& c, GgufValueType t, GgufValue& v, const std::string& what) {
  size_t n = scalar_size(t);
  c.need(n, what);
  decode_scalar(t, c.base + c.pos, v);
  if (t == GgufValueType::BOOL && v.i > 1)
    throw Error(str_cat(c.path, ": ", what, " is a bool holding ", v.i, " (must be 0 or 1)"));
  c.pos += n;
}

void read_value(Cursor& c, GgufValueType t, GgufValue& v, const std::string& what, int depth) {
  v.type = t;
  if (t == GgufValueType::STRING) {
    v.str = c.string(what);
    return;
  }
  if (t != GgufValueType::ARRAY) {
    read_scalar(c, t, v, what);
    return;
  }
  if (depth >= kMaxArrayDepth)
    throw Error(str_cat(c.path, ": ", what, " nests arrays more than ", kMaxArrayDepth, " deep"));
  uint32_t et = c.read<uint32_t>(what + " element type");
  if (!valid_type(et)) throw Error(str_cat(c.path, ": ", what, " has unknown element type ", et));
  v.elem = GgufValueType(et);
  v.count = c.read<uint64_t>(what + " element count");
  // Every element takes at least one byte (strings: their 8-byte length), so a count larger
  // than what is left of the file is corrupt: refuse it before reserving anything.
  size_t min_elem = v.elem == GgufValueType::STRING ? 8 : v.elem == GgufValueType::ARRAY ? 12 : scalar_size(v.elem);
  if (v.count > c.left() / min_elem)
    throw Error(str_cat(c.path, ": ", what, " claims ", v.count, " elements of ", gguf_value_type_name(v.elem),
                        ", more than the ", c.left(), " bytes left in the file can hold"));
  if (v.elem == GgufValueType::STRING) {
    v.strings.reserve(size_t(v.count));
    for (uint64_t k = 0; k < v.count; ++k) v.strings.push_back(c.string(str_cat(what, "[", k, "]")));
  } else if (v.elem == GgufValueType::ARRAY) {
    v.items.resize(size_t(v.count));
    for (uint64_t k = 0; k < v.count; ++k) read_value(c, GgufValueType::ARRAY, v.items[k], str_cat(what, "[", k, "]"), depth + 1);
  } else {
    v.raw = c.base + c.pos;
    c.pos += size_t(v.count) * min_elem;
    if (v.elem == GgufValueType::BOOL)
      for (uint64_t k = 0; k < v.count; ++k)
        if (uint8_t(v.raw[k]) > 1) throw Error(str_cat(c.path, ": ", what, "[", k, "] is a bool holding ", int(uint8_t(v.raw[k]))));
  }
}

}  // namespace

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: return "uint8";
    case GgufValueType::I8: return "int8";
    case GgufValueType::U16: return "uint16";
    case GgufValueType::I16: return "int16";
    case GgufValueType::U32: return "uint32";
    case GgufValueType::I32: return "int32";
    case GgufValueType::F32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::U64: return "uint64";
    case GgufValueType::I64: return "int64";
    case GgufValueType::F64: return "float64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::U16: case GgufValueType::I16:
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::U64: case GgufValueType::I64:
    case GgufValueType::BOOL:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_number() const { return is_integer() || type == GgufValueType::F32 || type == GgufValueType::F64; }

double GgufValue::number_at(uint64_t k) const {
  GgufValue v;
  decode_scalar(elem, raw + k * scalar_size(elem), v);
  return v.f;
}

int64_t GgufValue::integer_at(uint64_t k) const {
  GgufValue v;
  decode_scalar(elem, raw + k * scalar_size(elem), v);
  return v.i;
}

Shape GgufTensorInfo::shape() const { return Shape(ne.rbegin(), ne.rend()); }

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

std::shared_ptr<GgufFile> GgufFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(str_cat(path, ": cannot open (", std::strerror(errno), ")"));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(str_cat(path, ": cannot stat"));
  }
  std::shared_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  f->size_ = size_t(st.st_size);
  if (f->size_ < 24) {
    ::close(fd);
    throw Error(str_cat(path, ": file is ", f->size_, " bytes, too short for a GGUF header (24 bytes)"));
  }
  void* m = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error(str_cat(path, ": mmap failed (", std::strerror(errno), ")"));
  f->map_ = m;
  Cursor c{static_cast<const char*>(m), f->size_, 0, f->path_};

  uint32_t magic = c.read<uint32_t>("magic");
  if (magic != kMagic) {
    std::string shown;
    for (int k = 0; k < 4; ++k) {
      char ch = char((magic >> (8 * k)) & 0xff);
      shown += (ch >= 32 && ch < 127) ? std::string(1, ch) : str_cat("\\x", std::hex, int(uint8_t(ch)));
    }
    throw Error(str_cat(path, ": not a GGUF file (magic '", shown, "', expected 'GGUF')"));
  }
  f->version_ = c.read<uint32_t>("version");
  if (f->version_ == 1)
    throw Error(str_cat(path, ": GGUF version 1 is not supported (its 32-bit counts predate the format's stable "
                              "layout; versions 2 and 3 are read)"));
  if (f->version_ != 2 && f->version_ != 3)
    throw Error(str_cat(path, ": GGUF version ", f->version_, " is not supported (versions 2 and 3 are read",
                        (f->version_ & 0xffff) == 0 ? "; this looks like a big-endian file" : "", ")"));
  uint64_t n_tensors = c.read<uint64_t>("tensor_count");
  uint64_t n_kv = c.read<uint64_t>("kv_count");
  // A key/value pair takes at least 13 bytes (key length, type, one byte), a tensor entry 32.
  if (n_kv > c.left() / 13)
    throw Error(str_cat(path, ": kv_count ", n_kv, " is absurd for a file of ", f->size_, " bytes"));
  if (n_tensors > c.left() / 32)
    throw Error(str_cat(path, ": tensor_count ", n_tensors, " is absurd for a file of ", f->size_, " bytes"));

  f->kv_.reserve(size_t(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string what = str_cat("metadata key ", k);
    std::string key(c.string(what, kMaxKeyBytes));
    if (key.empty()) throw Error(str_cat(path, ": ", what, " is empty"));
    what = str_cat("metadata '", key, "'");
    uint32_t t = c.read<uint32_t>(what + " type");
    if (!valid_type(t)) throw Error(str_cat(path, ": ", what, " has unknown value type ", t));
    GgufValue v;
    read_value(c, GgufValueType(t), v, what, 0);
    if (f->kv_index_.count(key)) throw Error(str_cat(path, ": duplicate metadata key '", key, "'"));
    f->kv_index_[key] = f->kv_.size();
    f->kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = f->find("general.alignment")) {
    if (!a->is_integer() || a->type == GgufValueType::BOOL)
      throw Error(str_cat(path, ": general.alignment must be an integer, not ", gguf_value_type_name(a->type)));
    if (a->u == 0 || (a->u & (a->u - 1)) != 0 || a->u > (1u << 20))
      throw Error(str_cat(path, ": general.alignment must be a power of two (at most 1 MiB), got ", a->i));
    f->alignment_ = a->u;
  }

  f->tensors_.reserve(size_t(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = std::string(c.string(str_cat("tensor ", k, " name"), kMaxKeyBytes));
    std::string what = str_cat("tensor '", t.name, "'");
    uint32_t nd = c.read<uint32_t>(what + " n_dims");
    if (nd == 0 || nd > kMaxDims) throw Error(str_cat(path, ": ", what, " has ", nd, " dimensions (1 to ", kMaxDims, " allowed)"));
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      uint64_t v = c.read<uint64_t>(str_cat(what, " dimension ", d));
      if (v == 0) throw Error(str_cat(path, ": ", what, " dimension ", d, " is 0"));
      if (v > (uint64_t(1) << 48) / numel) throw Error(str_cat(path, ": ", what, " has an absurdly large shape"));
      numel *= v;
      t.ne.push_back(int64_t(v));
    }
    t.type = c.read<uint32_t>(what + " type");
    const GgmlTypeInfo* ti = ggml_type_info(t.type);
    if (!ti) throw Error(str_cat(path, ": ", what, " has unknown ggml type id ", t.type));
    if (t.ne[0] % ti->block_size != 0)
      throw Error(str_cat(path, ": ", what, " rows of ", t.ne[0], " elements are not a whole number of ", ti->name,
                          " blocks (", ti->block_size, " elements each)"));
    t.nbytes = numel / uint64_t(ti->block_size) * uint64_t(ti->block_bytes);
    t.offset = c.read<uint64_t>(what + " offset");
    if (t.offset % f->alignment_ != 0)
      throw Error(str_cat(path, ": ", what, " offset ", t.offset, " is not a multiple of the alignment ", f->alignment_));
    if (f->tensor_index_.count(t.name)) throw Error(str_cat(path, ": duplicate tensor name '", t.name, "'"));
    f->tensor_index_[t.name] = f->tensors_.size();
    f->tensors_.push_back(std::move(t));
  }
  // The data section starts at the next multiple of the alignment.
  uint64_t start = (uint64_t(c.pos) + f->alignment_ - 1) / f->alignment_ * f->alignment_;
  if (start > f->size_ && !f->tensors_.empty())
    throw Error(str_cat(path, ": truncated: the data section would start at byte ", start, " but the file has ",
                        f->size_, " bytes"));
  f->data_offset_ = size_t(std::min<uint64_t>(start, f->size_));
  const uint64_t data_size = f->size_ - f->data_offset_;
  std::vector<const GgufTensorInfo*> order;
  for (auto& t : f->tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      throw Error(str_cat(path, ": tensor '", t.name, "' (", shape_str(t.shape()), " ", ggml_type_name(t.type), ", ",
                          t.nbytes, " bytes at offset ", t.offset, ") falls outside the data section (", data_size,
                          " bytes): the file is truncated or the shape does not match the data"));
    t.data = static_cast<const char*>(m) + f->data_offset_ + t.offset;
    order.push_back(&t);
  }
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo *a = order[k - 1], *b = order[k];
    if (a->offset + a->nbytes > b->offset)
      throw Error(str_cat(path, ": tensor '", a->name, "' (", shape_str(a->shape()), " ", ggml_type_name(a->type), ", ",
                          a->nbytes, " bytes at offset ", a->offset, ") overlaps tensor '", b->name, "' at offset ",
                          b->offset, ": the shape and type do not match the data"));
  }
  f->self_ = f;
  return f;
}

GgufFile::~GgufFile() {
  if (map_) munmap(map_, size_);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer() || v->type == GgufValueType::BOOL)
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type), ", expected an integer"));
  if (v->type == GgufValueType::U64 && v->u > uint64_t(INT64_MAX))
    throw Error(str_cat(path_, ": metadata '", key, "' = ", v->u, " is out of range"));
  return v->i;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_number() || v->type == GgufValueType::BOOL)
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type), ", expected a number"));
  return v->f;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::BOOL)
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type), ", expected a bool"));
  return v->i != 0;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::STRING)
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type), ", expected a string"));
  return std::string(v->str);
}

std::optional<std::vector<std::string_view>> GgufFile::get_strings(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::ARRAY || v->elem != GgufValueType::STRING)
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type),
                        v->type == GgufValueType::ARRAY ? str_cat(" of ", gguf_value_type_name(v->elem)) : "",
                        ", expected an array of strings"));
  return v->strings;
}

std::optional<std::vector<int64_t>> GgufFile::get_ints(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  GgufValue probe;
  probe.type = v->elem;
  if (v->type != GgufValueType::ARRAY || !probe.is_integer())
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type),
                        v->type == GgufValueType::ARRAY ? str_cat(" of ", gguf_value_type_name(v->elem)) : "",
                        ", expected an array of integers"));
  std::vector<int64_t> r(size_t(v->count));
  for (uint64_t k = 0; k < v->count; ++k) r[k] = v->integer_at(k);
  return r;
}

std::optional<std::vector<float>> GgufFile::get_floats(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  GgufValue probe;
  probe.type = v->elem;
  if (v->type != GgufValueType::ARRAY || !probe.is_number())
    throw Error(str_cat(path_, ": metadata '", key, "' is a ", gguf_value_type_name(v->type),
                        v->type == GgufValueType::ARRAY ? str_cat(" of ", gguf_value_type_name(v->elem)) : "",
                        ", expected an array of numbers"));
  std::vector<float> r(size_t(v->count));
  if (v->elem == GgufValueType::F32) {
    std::memcpy(r.data(), v->raw, r.size() * 4);
  } else {
    for (uint64_t k = 0; k < v->count; ++k) r[k] = float(v->number_at(k));
  }
  return r;
}

bool is_gguf_path(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  uint32_t magic = 0;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::read(fd, &magic, 4) == 4 && magic == kMagic;
  ::close(fd);
  return ok;
}

}  // namespace tritium
