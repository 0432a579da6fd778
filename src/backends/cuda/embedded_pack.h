// The kernel pack (kernels/pack: manifest.json and sm*/NAME.cubin) embedded into libtritium at
// build time by kernels/CMakeLists.txt. The definition is generated (embedded_pack.cpp in the
// build tree); it is empty when kernels/pack was empty.
#pragma once
#include <cstddef>

namespace tritium::cuda {

struct EmbeddedFile {
  const char* path;  // relative to kernels/pack, e.g. "sm90/rms_norm_bf16.cubin"
  const unsigned char* data;
  size_t size;
};

// The embedded files; *count is set to their number (0 when nothing was embedded).
const EmbeddedFile* embedded_pack_files(size_t* count);

}  // namespace tritium::cuda
