// CPU ops other than linear and attention: embedding, RMSNorm, SiLU-and-mul, RoPE + KV write.
#include "backends/cpu/cpu_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/simd.h"
#include "core/half.h"
#include "core/thread_pool.h"

namespace tritium::cpu {

namespace {

// Row r of a tensor whose last dim is contiguous: leading dims are walked with their strides.
inline int64_t row_offset(const Tensor& t, int64_t r) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 2; d >= 0; --d) {
    int64_t sz = t.size(d);
    off += (r % sz) * t.stride(d);
    r /= sz;
  }
  return off;
}

inline int64_t num_rows(const Tensor& t) { return t.numel() / std::max<int64_t>(1, t.size(-1)); }

void load_row(const Tensor& t, int64_t r, float* dst) {
  int64_t n = t.size(-1), off = row_offset(t, r);
  switch (t.dtype()) {
    case DType::F32: std::memcpy(dst, t.data<float>() + off, size_t(n) * 4); break;
    case DType::BF16: for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(t.data<uint16_t>()[off + i]); break;
    case DType::F16: for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(t.data<uint16_t>()[off + i]); break;
    default: throw Error(str_cat("cpu: unsupported dtype ", dtype_name(t.dtype()), " for ", t.str()));
  }
}

const float* f32_weights(const Tensor& w, std::vector<float>& tmp) {
  if (w.dtype() == DType::F32) return w.data<float>();
  tmp.resize(size_t(w.numel()));
  for (int64_t i = 0; i < w.numel(); ++i) tmp[size_t(i)] = load_as_float(w, i);
  return tmp.data();
}

void check_f32_last_contig(const Tensor& t, const char* op, const char* name) {
  TRITIUM_CHECK(t.dtype() == DType::F32, op, " (cpu): ", name, " must be F32, got ", t.str());
  TRITIUM_CHECK(t.stride(-1) == 1, op, " (cpu): ", name, " must have a contiguous last dim");
}

}  // namespace

void embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  TRITIUM_CHECK(ids.dtype() == DType::I32, "embedding: ids must be I32");
  check_f32_last_contig(out, "embedding", "out");
  const int64_t T = ids.numel(), V = table.size(0), H = table.size(1);
  TRITIUM_CHECK(out.size(0) == T && out.size(1) == H, "embedding: out ", out.str(), " should be [", T, ", ", H, "]");
  const int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < T; ++t) {
    TRITIUM_CHECK(id[t] >= 0 && id[t] < V, "token id ", id[t], " is outside the vocabulary (size ", V, ")");
    load_row(table, id[t], out.data<float>() + t * out.stride(0));
  }
}

static void rms_row(const float* x, const float* w, float eps, float* out, int64_t n) {
  float ss = dot(x, x, n);
  // Mean in double keeps the tiny fixtures and long rows equally exact.
  float inv = float(1.0 / std::sqrt(double(ss) / double(n) + double(eps)));
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * inv) * w[i];
}

void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& out) {
  check_f32_last_contig(x, "rms_norm", "x");
  check_f32_last_contig(out, "rms_norm", "out");
  const int64_t n = x.size(-1), R = num_rows(x);
  TRITIUM_CHECK(w.numel() == n && num_rows(out) == R && out.size(-1) == n, "rms_norm: shapes x ", x.str(), " w ",
                w.str(), " out ", out.str(), " disagree");
  std::vector<float> tmp;
  const float* wp = f32_weights(w, tmp);
  parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      rms_row(x.data<float>() + row_offset(x, r), wp, eps, out.data<float>() + row_offset(out, r), n);
  });
}

void add_rms_norm(const Tensor& x, Tensor& residual, const Tensor& w, float eps, Tensor& out) {
  check_f32_last_contig(x, "add_rms_norm", "x");
  check_f32_last_contig(residual, "add_rms_norm", "residual");
  check_f32_last_contig(out, "add_rms_norm", "out");
  const int64_t n = x.size(-1), R = num_rows(x);
  TRITIUM_CHECK(w.numel() == n && num_rows(residual) == R && num_rows(out) == R, "add_rms_norm: shapes disagree");
  std::vector<float> tmp;
  const float* wp = f32_weights(w, tmp);
  parallel_for(R, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x.data<float>() + row_offset(x, r);
      float* rr = residual.data<float>() + row_offset(residual, r);
      for (int64_t i = 0; i < n; ++i) rr[i] += xr[i];
      rms_row(rr, wp, eps, out.data<float>() + row_offset(out, r), n);
    }
  });
}

void silu_and_mul(const Tensor& gate_up, Tensor& out) {
  check_f32_last_contig(gate_up, "silu_and_mul", "gate_up");
  check_f32_last_contig(out, "silu_and_mul", "out");
  const int64_t T = gate_up.size(0), I = out.size(1);
  TRITIUM_CHECK(gate_up.size(1) == 2 * I && out.size(0) == T, "silu_and_mul: gate_up ", gate_up.str(), " vs out ",
                out.str());
  parallel_for(T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float* g = gate_up.data<float>() + t * gate_up.stride(0);
      const float* u = g + I;
      float* o = out.data<float>() + t * out.stride(0);
      for (int64_t i = 0; i < I; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    }
  });
}

void rope_write_kv(Tensor& qkv, const Tensor& cos_sin, const Tensor& cs_index, const Tensor& slot_mapping,
                   Tensor& k_cache, Tensor& v_cache, const ops::RopeArgs& a) {
  check_f32_last_contig(qkv, "rope", "qkv");
  TRITIUM_CHECK(cos_sin.dtype() == DType::F32 && cos_sin.is_contiguous() && cos_sin.size(1) == a.rotary_dim,
                "rope: cos_sin must be contiguous F32 [N, rotary_dim]");
  const DType kv_dt = k_cache.dtype();
  TRITIUM_CHECK((kv_dt == DType::F32 || kv_dt == DType::F8E4M3) && v_cache.dtype() == kv_dt,
                "rope (cpu): the KV cache must be F32 or F8_E4M3, got ", k_cache.str(), " and ", v_cache.str());
  const int64_t T = qkv.size(0), hd = a.head_dim, nh = a.num_heads, nkv = a.num_kv_heads, rot = a.rotary_dim;
  TRITIUM_CHECK(qkv.size(1) == (nh + 2 * nkv) * hd, "rope: qkv ", qkv.str(), " does not hold ", nh, "+2x", nkv,
                " heads of ", hd);
  const int64_t block_size = k_cache.size(1), num_slots = k_cache.size(0) * block_size;
  const int32_t* idx = cs_index.data<int32_t>();
  const int32_t* slots = slot_mapping.data<int32_t>();
  const int64_t half = rot / 2;
  parallel_for(T, 4, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      TRITIUM_CHECK(idx[t] >= 0 && idx[t] < cos_sin.size(0), "rope: position ", idx[t], " outside the table");
      const float* cs = cos_sin.data<float>() + int64_t(idx[t]) * rot;
      const float* cosv = cs;
      const float* sinv = cs + half;
      float* row = qkv.data<float>() + t * qkv.stride(0);
      for (int64_t h = 0; h < nh + nkv; ++h) {
        float* v = row + h * hd;
        for (int64_t i = 0; i < half; ++i) {
          int64_t i0 = a.neox ? i : 2 * i, i1 = a.neox ? i + half : 2 * i + 1;
          float x0 = v[i0], x1 = v[i1];
          v[i0] = x0 * cosv[i] - x1 * sinv[i];
          v[i1] = x1 * cosv[i] + x0 * sinv[i];
        }
      }
      int64_t slot = slots[t];
      if (slot < 0) continue;
      TRITIUM_CHECK(slot < num_slots, "rope: slot ", slot, " outside the KV cache (", num_slots, " slots)");
      if (kv_dt == DType::F32) {
        std::memcpy(k_cache.data<float>() + slot * nkv * hd, row + nh * hd, size_t(nkv * hd) * 4);
        std::memcpy(v_cache.data<float>() + slot * nkv * hd, row + (nh + nkv) * hd, size_t(nkv * hd) * 4);
      } else {  // fp8 e4m3: nearest even, saturating (as the GPU kernels store)
        uint8_t* kd = k_cache.data<uint8_t>() + slot * nkv * hd;
        uint8_t* vd = v_cache.data<uint8_t>() + slot * nkv * hd;
        for (int64_t i = 0; i < nkv * hd; ++i) {
          kd[i] = f32_to_fp8e4m3(row[nh * hd + i]);
          vd[i] = f32_to_fp8e4m3(row[(nh + nkv) * hd + i]);
        }
      }
    }
  });
}

const ops::OpTable& op_table() {
  static const ops::OpTable t = {&embedding, &rms_norm, &add_rms_norm, &linear, &silu_and_mul, &rope_write_kv,
                                 &attention, &sample, nullptr, nullptr, nullptr,  // fusions: composed (ops.h)
                                 &linear_argmax, &quantize_fp8_rows, &linear_fp8, nullptr, nullptr,
                                 &apply_token_bitmask, &moe_route, &moe_experts};
  return t;
}

}  // namespace tritium::cpu
