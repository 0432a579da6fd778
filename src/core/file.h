// Whole-file reads with errors that name the file.
#pragma once
#include <cstddef>
#include <optional>
#include <string>

namespace tritium {

// The file's bytes; throws Error ("<path>: cannot read ...") if it cannot be read.
std::string read_file(const std::string& path);
// The file's bytes, or nullopt when it does not exist or cannot be opened.
std::optional<std::string> try_read_file(const std::string& path);

// The same with a size limit: a file larger than max_bytes is refused before it is read, with
// an Error naming the file, its size and the limit (`what` says which limit, e.g. "tokenizer.json").
std::string read_file(const std::string& path, size_t max_bytes, const char* what);
std::optional<std::string> try_read_file(const std::string& path, size_t max_bytes, const char* what);

// Size limits for the files of a model directory. No real checkpoint comes near them; a larger
// file is corrupt or hostile, and refusing it early keeps a bad file from costing memory and time.
inline constexpr size_t kMaxConfigJsonBytes = 4u << 20;          // config.json, generation_config.json
inline constexpr size_t kMaxTokenizerJsonBytes = 256u << 20;     // tokenizer.json
inline constexpr size_t kMaxTokenizerConfigBytes = 32u << 20;    // tokenizer_config.json, special_tokens_map.json
inline constexpr size_t kMaxChatTemplateBytes = 4u << 20;        // chat_template.jinja
inline constexpr size_t kMaxSafetensorsIndexBytes = 64u << 20;   // model.safetensors.index.json

}  // namespace tritium
