#include "ops/token_mask.h"

#include <cstring>

#include "core/error.h"
#include "ops/ops.h"

namespace tritium {

void DeviceTokenMask::apply(Tensor logits, std::span<const int32_t> rows, std::span<const uint32_t* const> masks,
                            size_t words) {
  TRITIUM_CHECK(rows.size() == masks.size(), "DeviceTokenMask: ", rows.size(), " rows for ", masks.size(), " masks");
  TRITIUM_CHECK(logits.dim() == 2 && int64_t(words) * 32 >= logits.size(1), "DeviceTokenMask: masks of ", words,
                " words for logits ", logits.str());
  const int64_t M = int64_t(rows.size());
  if (M == 0) return;
  const Device dev = logits.device();
  // Layout: rows I32 [Mp] (Mp = M rounded up to 4: the masks start 16-byte aligned), then the
  // masks I32 [M, words].
  const int64_t Mp = (M + 3) / 4 * 4;
  const size_t bytes = size_t(Mp) * 4 + size_t(M) * words * 4;
  char* h = static_cast<char*>(staging_.host(dev, bytes));
  std::memset(h, 0, size_t(Mp) * 4);
  std::memcpy(h, rows.data(), size_t(M) * 4);
  for (int64_t m = 0; m < M; ++m) std::memcpy(h + size_t(Mp) * 4 + size_t(m) * words * 4, masks[size_t(m)], words * 4);
  if (!device_.defined() || device_.device() != dev || device_.nbytes() < bytes)
    device_ = Tensor::empty({int64_t(bytes + bytes / 4)}, DType::U8, dev);
  staging_.upload(device_, bytes);
  char* d = static_cast<char*>(device_.data());
  Tensor rows_t = Tensor::from_blob(d, {M}, DType::I32, dev, device_.holder());
  Tensor mask_t = Tensor::from_blob(d + Mp * 4, {M, int64_t(words)}, DType::I32, dev, device_.holder());
  ops::apply_token_bitmask(logits, mask_t, rows_t);
}

}  // namespace tritium
