// CUDA ops other than linear and attention: embedding, RMSNorm (rows, per-head, with
// residual), SiLU-and-mul, RoPE + KV-cache write; and the op table registration.
// Each op validates its tensors, picks a kernel variant from the pack by its constexprs
// (docs/KERNELS.md) and launches it on the current stream.
#include "backends/cuda/cuda_ops.h"

#include <algorithm>
#include <mutex>

#include "backends/cuda/cuda_ops_util.h"
#include "backends/cuda/driver.h"

namespace tritium::cuda {

using namespace detail;

namespace {

// The smallest-BLOCK_N variant of a row kernel that holds rows of n elements.
const Variant* row_variant(const Catalog& cat, const char* kernel, DType dt, int64_t n) {
  const Variant* best = nullptr;
  for (const Variant* v : cat.find(kernel, "x_ptr", dt)) {
    int64_t bn = v->cx("BLOCK_N");
    if (bn >= n && (!best || bn < best->cx("BLOCK_N"))) best = v;
  }
  return best;
}

const Variant& need_row_variant(const Catalog& cat, const char* kernel, DType dt, int64_t n, const char* op) {
  const Variant* v = row_variant(cat, kernel, dt, n);
  TRITIUM_CHECK(v, op, " (cuda): no ", kernel, " variant for ", triton_type(dt), " rows of ", n,
                " elements in the kernel pack ", cat.origin(), " (BLOCK_N available: ",
                cat.values_of(kernel, "x_ptr", dt, "BLOCK_N"), "; see docs/KERNELS.md)");
  return *v;
}

void check_div16(int64_t v, const char* op, const char* what) {
  TRITIUM_CHECK(v % 16 == 0, op, " (cuda): ", what, " = ", v,
                " is not a multiple of 16, which the kernels assume (docs/KERNELS.md)");
}

// Row-wise RMSNorm over rows of n elements: `rows` rows starting at x / out, row strides given.
void launch_row_norm(Device dev, const Catalog& cat, DType dt, const void* x, const Tensor& w, void* out,
                     int64_t rows, int64_t x_stride, int64_t out_stride, int64_t n, float eps) {
  const char* op = "rms_norm";
  check_div16(n, op, "row length");
  const Variant& v = need_row_variant(cat, "rms_norm_kernel", dt, n, op);
  launch(dev, v, {grid_dim(rows, op)},
         {x, w, static_cast<const void*>(out), to_i32(x_stride, op, "x row stride"),
          to_i32(out_stride, op, "out row stride"), to_i32(n, op, "row length"), eps},
         op);
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const char* op = "embedding";
  const Device dev = table.device();
  check_device(table, dev, op, "table");
  TRITIUM_CHECK(table.dim() == 2 && table.stride(1) == 1, op, " (cuda): table ", describe(table),
                " must be 2-D with a contiguous last dim");
  check_i32(ids, dev, -1, op, "ids");
  check_device(out, dev, op, "out");
  TRITIUM_CHECK(out.dim() == 2 && out.stride(1) == 1, op, " (cuda): out ", describe(out), " must be 2-D [T, H]");
  check_same_dtype(out, table, op, "out");
  const int64_t T = ids.numel(), H = table.size(1);
  TRITIUM_CHECK(out.size(0) == T && out.size(1) == H, op, " (cuda): out ", describe(out), " should be [", T, ", ",
                H, "]");
  if (T == 0) return;
  check_div16(H, op, "hidden size");
  const Catalog& cat = Catalog::for_device(dev.index);
  auto vs = cat.find("embedding_kernel", "table_ptr", table.dtype());
  TRITIUM_CHECK(!vs.empty(), op, " (cuda): no embedding kernel for ", triton_type(table.dtype()),
                " tables in the kernel pack ", cat.origin());
  const Variant& v = *vs.front();
  const int64_t block = v.cx("BLOCK");
  launch(dev, v, {grid_dim(T, op), grid_dim(cdiv(H, block), op)},
         {ids, table, out, to_i32(H, op, "H"), to_i32(table.stride(0), op, "table row stride"),
          to_i32(out.stride(0), op, "out row stride")},
         op);
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  const char* op = "rms_norm";
  const Device dev = x.device();
  check_act(x, dev, op, "x");
  check_act(out, dev, op, "out");
  check_same_dtype(out, x, op, "out");
  check_device(w, dev, op, "weight");
  check_same_dtype(w, x, op, "weight");
  TRITIUM_CHECK(w.is_contiguous(), op, " (cuda): weight ", describe(w), " must be contiguous");
  TRITIUM_CHECK(out.shape() == x.shape(), op, " (cuda): out ", describe(out), " and x ", describe(x),
                " differ in shape");
  const int64_t n = x.size(-1);
  TRITIUM_CHECK(w.numel() == n, op, " (cuda): weight ", describe(w), " should have ", n, " elements");
  const Catalog& cat = Catalog::for_device(dev.index);
  const DType dt = x.dtype();
  if (x.dim() == 2) {
    if (x.size(0) == 0) return;
    launch_row_norm(dev, cat, dt, x.data(), w, out.data(), x.size(0), x.stride(0), out.stride(0), n, eps);
    return;
  }
  TRITIUM_CHECK(x.dim() == 3, op, " (cuda): x ", describe(x), " must be 2-D [T, D] or 3-D [T, heads, D]");
  const int64_t T = x.size(0), H = x.size(1);
  if (T == 0 || H == 0) return;
  // Per-head norm (q/k norm on a strided view of qkv): heads must be D apart inside a token row.
  if (x.stride(1) == n && out.stride(1) == n) {
    for (const Variant* v : cat.find("rms_norm_heads_kernel", "x_ptr", dt)) {
      if (v->cx("HEAD_DIM") != n) continue;
      const int64_t bh = v->cx("BLOCK_HEADS");
      launch(dev, *v, {grid_dim(T, op), grid_dim(cdiv(H, bh), op)},
             {x, w, out, to_i32(x.stride(0), op, "x token stride"), to_i32(out.stride(0), op, "out token stride"),
              to_i32(H, op, "heads"), eps},
             op);
      return;
    }
  }
  // Rows evenly spaced (x.stride(0) == H * x.stride(1), same for out): one launch over T*H rows.
  if (x.stride(0) == H * x.stride(1) && out.stride(0) == H * out.stride(1)) {
    launch_row_norm(dev, cat, dt, x.data(), w, out.data(), T * H, x.stride(1), out.stride(1), n, eps);
    return;
  }
  // Otherwise one launch per head over T rows (e.g. head_dim without an rms_norm_heads variant).
  for (int64_t h = 0; h < H; ++h)
    launch_row_norm(dev, cat, dt, offset_ptr(x, h * x.stride(1)), w,
                    const_cast<void*>(offset_ptr(out, h * out.stride(1))), T, x.stride(0), out.stride(0), n, eps);
}

void add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out) {
  const char* op = "add_rms_norm";
  const Device dev = x.device();
  check_act(x, dev, op, "x");
  check_act(residual, dev, op, "residual");
  check_act(out, dev, op, "out");
  check_same_dtype(residual, x, op, "residual");
  check_same_dtype(out, x, op, "out");
  check_device(w, dev, op, "weight");
  check_same_dtype(w, x, op, "weight");
  TRITIUM_CHECK(w.is_contiguous(), op, " (cuda): weight ", describe(w), " must be contiguous");
  TRITIUM_CHECK(x.dim() == 2 && residual.shape() == x.shape() && out.shape() == x.shape(), op,
                " (cuda): x ", describe(x), ", residual ", describe(residual), " and out ", describe(out),
                " must be 2-D of one shape");
  const int64_t T = x.size(0), n = x.size(1);
  TRITIUM_CHECK(w.numel() == n, op, " (cuda): weight ", describe(w), " should have ", n, " elements");
  if (T == 0) return;
  check_div16(n, op, "row length");
  const Catalog& cat = Catalog::for_device(dev.index);
  const Variant& v = need_row_variant(cat, "rms_norm_residual_kernel", x.dtype(), n, op);
  launch(dev, v, {grid_dim(T, op)},
         {x, residual, w, out, to_i32(x.stride(0), op, "x row stride"),
          to_i32(residual.stride(0), op, "residual row stride"), to_i32(out.stride(0), op, "out row stride"),
          to_i32(n, op, "row length"), eps},
         op);
}

void silu_and_mul(const Tensor& gate_up, Tensor& out) {
  const char* op = "silu_and_mul";
  const Device dev = out.device();
  check_act(gate_up, dev, op, "gate_up");
  check_act(out, dev, op, "out");
  check_same_dtype(out, gate_up, op, "out");
  TRITIUM_CHECK(gate_up.dim() == 2 && out.dim() == 2, op, " (cuda): gate_up and out must be 2-D");
  const int64_t T = gate_up.size(0), I = out.size(1);
  TRITIUM_CHECK(gate_up.size(1) == 2 * I && out.size(0) == T, op, " (cuda): gate_up ", describe(gate_up),
                " vs out ", describe(out));
  if (T == 0 || I == 0) return;
  check_div16(I, op, "intermediate size");
  const Catalog& cat = Catalog::for_device(dev.index);
  const Variant* v = nullptr;
  for (const Variant* c : cat.find("act_and_mul_kernel", "x_ptr", gate_up.dtype()))
    if (c->cx("ACT") == 0) v = c;
  TRITIUM_CHECK(v, op, " (cuda): no SiLU act_and_mul kernel for ", triton_type(gate_up.dtype()),
                " in the kernel pack ", cat.origin());
  launch(dev, *v, {grid_dim(T, op), grid_dim(cdiv(I, v->cx("BLOCK")), op)},
         {gate_up, out, to_i32(gate_up.stride(0), op, "gate_up row stride"), to_i32(out.stride(0), op, "out row stride"),
          to_i32(I, op, "intermediate size")},
         op);
}

void rope_write_kv(Tensor& qkv, const Tensor& cos_sin, const Tensor& cs_index, const Tensor& slot_mapping,
                   Tensor& k_cache, Tensor& v_cache, const ops::RopeArgs& a) {
  const char* op = "rope_write_kv";
  const Device dev = qkv.device();
  check_act(qkv, dev, op, "qkv");
  TRITIUM_CHECK(qkv.dim() == 2, op, " (cuda): qkv ", describe(qkv), " must be 2-D [T, (nh + 2 nkv) hd]");
  const int64_t T = qkv.size(0), hd = a.head_dim, nh = a.num_heads, nkv = a.num_kv_heads, rot = a.rotary_dim;
  TRITIUM_CHECK(qkv.size(1) == (nh + 2 * nkv) * hd, op, " (cuda): qkv ", describe(qkv), " does not hold ", nh,
                "+2x", nkv, " heads of ", hd);
  check_device(cos_sin, dev, op, "cos_sin");
  TRITIUM_CHECK(cos_sin.dtype() == DType::F32 && cos_sin.is_contiguous() && cos_sin.dim() == 2 &&
                    cos_sin.size(1) == rot,
                op, " (cuda): cos_sin ", describe(cos_sin), " must be contiguous F32 [N, ", rot, "]");
  check_i32(cs_index, dev, T, op, "cos_sin_index");
  check_i32(slot_mapping, dev, T, op, "slot_mapping");
  for (const Tensor* c : {&k_cache, &v_cache}) {
    check_kv_dtype(*c, qkv, dev, op);
    TRITIUM_CHECK(c->is_contiguous() && c->dim() == 4 && c->size(2) == nkv && c->size(3) == hd, op,
                  " (cuda): KV cache ", describe(*c), " must be contiguous [blocks, block_size, ", nkv, ", ", hd, "]");
  }
  TRITIUM_CHECK(v_cache.dtype() == k_cache.dtype(), op, " (cuda): K cache ", describe(k_cache), " and V cache ",
                describe(v_cache), " differ in dtype");
  if (T == 0) return;
  const Catalog& cat = Catalog::for_device(dev.index);
  const Variant* v = nullptr;
  std::string have;
  for (const Variant* c : cat.find("rope_kv_write_kernel", "qkv_ptr", qkv.dtype())) {
    if (c->cx("IS_NEOX") != (a.neox ? 1 : 0) || !kv_cache_is(*c, k_cache.dtype())) continue;
    have += (have.empty() ? "" : ", ") + std::to_string(c->cx("HEAD_DIM")) + "/" + std::to_string(c->cx("ROT_DIM"));
    if (c->cx("HEAD_DIM") == hd && c->cx("ROT_DIM") == rot) v = c;
  }
  TRITIUM_CHECK(v, op, " (cuda): the kernel pack ", cat.origin(), " has no ", a.neox ? "neox" : "gptj",
                " RoPE kernel for head_dim ", hd, " with rotary_dim ", rot, " (", triton_type(qkv.dtype()), ", ",
                triton_type(k_cache.dtype()), " KV cache; head_dim/rotary_dim available: ", have.empty() ? "none" : have,
                k_cache.dtype() == DType::F8E4M3 ? "; fp8 KV caches need bfloat16 on sm89 or newer" : "",
                "; see docs/KERNELS.md)");
  const int32_t stride = to_i32(qkv.stride(0), op, "qkv row stride");
  launch(dev, *v, {grid_dim(T, op)},
         {qkv, qkv, cs_index, cos_sin, slot_mapping, k_cache, v_cache, stride, stride, to_i32(nh, op, "num_heads"),
          to_i32(nkv, op, "num_kv_heads")},
         op);
}

const ops::OpTable& op_table() {
  static const ops::OpTable t = {&embedding, &rms_norm, &add_rms_norm, &linear, &silu_and_mul, &rope_write_kv,
                                 &attention, &sample, &linear_add_rms_norm, &linear_silu_mul,
                                 &rope_attention, &linear_argmax, &quantize_fp8_rows, &linear_fp8,
                                 &linear_fp8_silu_mul, &rms_norm_fp8, &apply_token_bitmask, &moe_route, &moe_experts};
  return t;
}

void register_ops() {
  static std::once_flag once;
  std::call_once(once, [] {
    ops::register_op_table(DeviceType::CUDA, &op_table());
    register_runtime();
  });
}

void init_backend(int device_index) {
  init(device_index);
  register_ops();
}

}  // namespace tritium::cuda
