// CUDA ops::apply_token_bitmask (structured output's masks): kernels/triton/token_mask.py.
#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"

namespace tritium::cuda {

using namespace detail;

void apply_token_bitmask(Tensor& logits, const Tensor& bitmask, const Tensor& rows) {
  const char* op = "apply_token_bitmask";
  const Device dev = logits.device();
  check_device(logits, dev, op, "logits");
  TRITIUM_CHECK(logits.dim() == 2 && logits.stride(1) == 1, "apply_token_bitmask (cuda): logits ", describe(logits),
                " must be [R, V] with a contiguous last dim");
  const int64_t V = logits.size(1), M = rows.numel();
  check_i32(rows, dev, -1, op, "rows");
  check_i32(bitmask, dev, -1, op, "bitmask");
  TRITIUM_CHECK(bitmask.dim() == 2 && bitmask.size(0) == M && bitmask.size(1) * 32 >= V,
                "apply_token_bitmask (cuda): bitmask ", describe(bitmask), " must be I32 [", M, ", >= ", cdiv(V, 32),
                "] for ", M, " rows of ", V, " logits");
  if (M == 0 || V == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  auto variants = cat.find("apply_token_bitmask_kernel", "logits_ptr", logits.dtype());
  TRITIUM_CHECK(!variants.empty(), "apply_token_bitmask (cuda): no apply_token_bitmask_kernel for ",
                triton_type(logits.dtype()), " logits in the kernel pack ", cat.origin());
  const Variant& v = *variants.front();
  const int64_t block = v.cx("BLOCK");
  launch(dev, v, {grid_dim(M, op), grid_dim(cdiv(V, block), op)},
         {logits, to_i32(logits.stride(0), op, "logits row stride"), to_i32(V, op, "vocabulary size"), bitmask,
          to_i32(bitmask.size(1), op, "bitmask words"), rows},
         op);
}

}  // namespace tritium::cuda
