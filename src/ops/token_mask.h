// Structured output's token masks on a step's logits, on their device: the host packs the
// constrained rows' mask words and row indices into one upload, then ops::apply_token_bitmask
// sets the logits of tokens the grammar does not allow to -inf, before the draw (stream-ordered,
// so the host does not wait for the device).
#pragma once
#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "ops/runtime.h"

namespace tritium {

class DeviceTokenMask {
 public:
  // logits [R, V] on their device; rows[i] < R, distinct; masks[i] points to `words` uint32
  // (words >= cdiv(V, 32); bit t of word t / 32: token t allowed), read before this returns.
  void apply(Tensor logits, std::span<const int32_t> rows, std::span<const uint32_t* const> masks, size_t words);

 private:
  ops::StagingBuffer staging_;  // packed rows + masks on the host
  Tensor device_;               // ... on the device; reused while large enough
};

}  // namespace tritium
