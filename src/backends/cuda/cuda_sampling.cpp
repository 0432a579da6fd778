// CUDA ops::sample: kernels/triton/sampling.py. sample_partial_kernel first scans each row in
// pieces, many programs a row (a row of 128k logits read by one program is latency-bound:
// greedy decode then waits on 64 programs), then sample_kernel, one program per row, starts
// from the pieces' max / argmax / min. The variants with vectorized loads need the row stride
// and V (and the piece length) to be multiples of 16; the "_anyv" variants take any vocabulary.
#include <algorithm>
#include <cstdlib>

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
  auto specialized_first = [](std::vector<const Variant*>& vs) {
    std::stable_partition(vs.begin(), vs.end(),
                          [](const Variant* v) { return v->name.find("_anyv") == std::string::npos; });
  };
  specialized_first(variants);

  // Pieces: about eight programs per SM over all rows, each piece at least kMinPiece logits
  // (TRITIUM_SAMPLE_PIECES caps the pieces a row, 0 = one program a row, for measuring).
  constexpr int64_t kMinPiece = 4096;
  static const int64_t max_pieces = [] {
    const char* e = std::getenv("TRITIUM_SAMPLE_PIECES");
    return e && *e ? std::max<int64_t>(0, std::atoll(e)) : int64_t(1) << 30;
  }();
  auto partial = cat.find("sample_partial_kernel", "logits_ptr", logits.dtype());
  specialized_first(partial);
  const int64_t block_p = variants.front()->cx("BLOCK_P");
  int64_t pieces = std::min({cdiv(8 * int64_t(cat.sm_count()), R), V / kMinPiece, block_p, max_pieces});
  Tensor part, part_id;
  int32_t num_parts = 0;
  if (pieces >= 2 && !partial.empty()) {
    const int64_t chunk = cdiv(cdiv(V, pieces), 16) * 16;
    pieces = cdiv(V, chunk);
    part = Tensor::empty({R, pieces, 2}, DType::F32, dev);
    part_id = Tensor::empty({R, pieces}, DType::I32, dev);
    const int32_t c32 = to_i32(chunk, op, "piece length");
    std::string why;
    for (const Variant* v : partial) {
      std::string bad = check_launch(dev, *v, {logits, stride, v32, c32, part, part_id});
      if (!bad.empty()) {
        why += str_cat("\n  ", v->name, ": ", bad);
        continue;
      }
      launch(dev, *v, {grid_dim(R, op), grid_dim(pieces, op)}, {logits, stride, v32, c32, part, part_id}, op);
      num_parts = int32_t(pieces);
      break;
    }
    TRITIUM_CHECK(num_parts > 0, "sample (cuda): no sample_partial_kernel variant takes these arguments:", why);
  } else {
    part = Tensor::empty({1, 2}, DType::F32, dev);  // unread stand-ins
    part_id = Tensor::empty({1}, DType::I32, dev);
  }

  std::string why;
  for (const Variant* v : variants) {
    std::string bad = check_launch(dev, *v, {logits, stride, v32, a.temperature, a.top_k, a.top_p, a.min_p, a.seeds,
                                             a.steps, out_ids, part, part_id, num_parts});
    if (!bad.empty()) {
      why += str_cat("\n  ", v->name, ": ", bad);
      continue;
    }
    launch(dev, *v, {grid_dim(R, op)},
           {logits, stride, v32, a.temperature, a.top_k, a.top_p, a.min_p, a.seeds, a.steps, out_ids, part, part_id,
            num_parts},
           op);
    return;
  }
  throw Error(str_cat("sample (cuda): no sample_kernel variant takes these arguments:", why));
}

}  // namespace tritium::cuda
