// CUDA ops::sample: kernels/triton/sampling.py sample_kernel, one program per row.
// The variant with vectorized loads needs the row stride and V to be multiples of 16; the
// "_anyv" variant takes any vocabulary size.
#include <algorithm>

#include "backends/cuda/cuda_ops.h"
#include "backends/cuda/cuda_ops_util.h"

namespace tritium::cuda {

using namespace detail;

void sample(const Tensor& logits, const ops::SampleArgs& a, Tensor& out_ids) {
  const char* op = "sample";
  const Device dev = logits.device();
  check_device(logits, dev, op, "logits");
  TRITIUM_CHECK(logits.dim() == 2 && logits.stride(1) == 1, "sample (cuda): logits ", describe(logits),
                " must be [R, V] with a contiguous last dim");
  const int64_t R = logits.size(0), V = logits.size(1);
  auto arg = [&](const Tensor& t, DType dt, const char* name) {
    check_device(t, dev, op, name);
    TRITIUM_CHECK(t.dtype() == dt && t.numel() == R && t.is_contiguous(), "sample (cuda): ", name, " ",
                  describe(t), " must be contiguous ", dtype_name(dt), "[", R, "]");
  };
  arg(a.temperature, DType::F32, "temperature");
  arg(a.top_k, DType::I32, "top_k");
  arg(a.top_p, DType::F32, "top_p");
  arg(a.min_p, DType::F32, "min_p");
  arg(a.seeds, DType::I64, "seeds");
  arg(a.steps, DType::I32, "steps");
  check_i32(out_ids, dev, R, op, "out_ids");
  if (R == 0) return;
  TRITIUM_CHECK(V > 0, "sample (cuda): empty vocabulary");
  const Catalog& cat = Catalog::for_device(dev.index);
  auto variants = cat.find("sample_kernel", "logits_ptr", logits.dtype());
  TRITIUM_CHECK(!variants.empty(), "sample (cuda): no sample_kernel for ", triton_type(logits.dtype()),
                " logits in the kernel pack ", cat.origin());
  const int32_t stride = to_i32(logits.stride(0), op, "logits row stride"), v32 = to_i32(V, op, "vocabulary size");
  // The specialized variants first: the first whose hints the arguments meet is launched.
  std::stable_partition(variants.begin(), variants.end(),
                        [](const Variant* v) { return v->name.find("_anyv") == std::string::npos; });
  std::string why;
  for (const Variant* v : variants) {
    std::string bad =
        check_launch(dev, *v, {logits, stride, v32, a.temperature, a.top_k, a.top_p, a.min_p, a.seeds, a.steps, out_ids});
    if (!bad.empty()) {
      why += str_cat("\n  ", v->name, ": ", bad);
      continue;
    }
    launch(dev, *v, {grid_dim(R, op)},
           {logits, stride, v32, a.temperature, a.top_k, a.top_p, a.min_p, a.seeds, a.steps, out_ids}, op);
    return;
  }
  throw Error(str_cat("sample (cuda): no sample_kernel variant takes these arguments:", why));
}

}  // namespace tritium::cuda
