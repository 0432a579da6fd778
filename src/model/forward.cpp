// The forward pass of the Llama family over a flattened batch, written with ops only.
#include <cmath>

#include "model/model.h"
#include "model/rope.h"
#include "ops/ops.h"

namespace tritium {

namespace {

Tensor i32_tensor(const std::vector<int32_t>& v, Shape shape, Device dev) {
  Tensor h = Tensor::from_blob(const_cast<int32_t*>(v.data()), shape, DType::I32, Device::cpu(), nullptr);
  return dev.is_cpu() ? h : h.to(dev);
}

// out[:, cols of part i] = x @ W_i^T + b_i
void run_linear(const Tensor& x, const Linear& lin, Tensor& out) {
  int64_t col = 0;
  for (size_t i = 0; i < lin.weights.size(); ++i) {
    int64_t n = lin.weights[i].size(0);
    Tensor o = lin.weights.size() == 1 ? out : out.narrow(1, col, n);
    ops::linear(x, lin.weights[i], lin.biases.empty() ? nullptr : &lin.biases[i], o);
    col += n;
  }
}

}  // namespace

Tensor Model::forward(const ForwardBatch& b, KVCache& kv) {
  const ModelSpec& s = spec_;
  const int64_t T = b.num_tokens(), S = b.num_seqs();
  TRITIUM_CHECK(T > 0 && S > 0, "forward: empty batch");
  TRITIUM_CHECK(int64_t(b.positions.size()) == T && int64_t(b.slot_mapping.size()) == T &&
                    int64_t(b.cu_seqlens_q.size()) == S + 1 && int64_t(b.block_tables.size()) == S * b.max_blocks_per_seq,
                "forward: inconsistent batch metadata");
  TRITIUM_CHECK(int64_t(kv.k.size()) == s.num_layers, "forward: KV cache has ", kv.k.size(), " layers, model ",
                s.num_layers);
  const Device dev = device_;
  const DType act = compute_dtype_;
  const int64_t H = s.hidden_size, nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim;
  const int64_t qkv_dim = (nh + 2 * nkv) * hd, I = s.intermediate_size;

  Tensor ids = i32_tensor(b.token_ids, {T}, dev);
  Tensor slots = i32_tensor(b.slot_mapping, {T}, dev);
  Tensor cu = i32_tensor(b.cu_seqlens_q, {S + 1}, dev);
  Tensor lens = i32_tensor(b.seq_lens, {S}, dev);
  Tensor tables = i32_tensor(b.block_tables, {S, b.max_blocks_per_seq}, dev);

  // RoPE rows: the precomputed table, unless dynamic NTK scaling is active for a sequence
  // whose context outgrew max_position_embeddings; then per-token rows for this step.
  Tensor cos_sin = rope_table_, cs_index;
  bool need_rows = false;
  for (int64_t i = 0; i < T; ++i) need_rows |= b.positions[size_t(i)] >= rope_table_.size(0);
  if (s.rope.type == RopeType::Dynamic)
    for (int64_t q = 0; q < S; ++q) need_rows |= b.seq_lens[size_t(q)] > s.max_position_embeddings;
  std::vector<int32_t> arange;
  if (need_rows) {
    Tensor rows = Tensor::empty({T, s.rotary_dim}, DType::F32);
    float af = s.rope.type == RopeType::Yarn ? float(s.rope.attention_factor) : 1.0f;
    for (int64_t q = 0; q < S; ++q) {
      auto inv = rope_inv_freq(s, b.seq_lens[size_t(q)]);
      for (int32_t t = b.cu_seqlens_q[size_t(q)]; t < b.cu_seqlens_q[size_t(q) + 1]; ++t)
        rope_row(inv, af, b.positions[size_t(t)], rows.data<float>() + int64_t(t) * s.rotary_dim);
    }
    cos_sin = rows.to(dev);
    arange.resize(size_t(T));
    for (int64_t i = 0; i < T; ++i) arange[size_t(i)] = int32_t(i);
    cs_index = i32_tensor(arange, {T}, dev);
  } else {
    cs_index = i32_tensor(b.positions, {T}, dev);
  }

  Tensor residual = Tensor::empty({T, H}, act, dev);
  Tensor normed = Tensor::empty({T, H}, act, dev);
  Tensor qkv = Tensor::empty({T, qkv_dim}, act, dev);
  Tensor attn = Tensor::empty({T, nh * hd}, act, dev);
  Tensor hidden = Tensor::empty({T, H}, act, dev);  // output of o_proj / down_proj
  Tensor gate_up = Tensor::empty({T, 2 * I}, act, dev);
  Tensor mlp = Tensor::empty({T, I}, act, dev);

  ops::RopeArgs ra{nh, nkv, hd, s.rotary_dim, s.rope.layout == RopeLayout::Neox};
  const int64_t max_q = b.max_query_len();

  ops::embedding(ids, embed_, residual);
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const LayerWeights& L = layers_[size_t(l)];
    if (l == 0)
      ops::rms_norm(residual, L.input_norm, float(s.rms_norm_eps), normed);
    else
      ops::add_rms_norm(hidden, residual, L.input_norm, float(s.rms_norm_eps), normed);
    run_linear(normed, L.qkv, qkv);
    if (s.qk_norm) {
      Tensor q3 = qkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
      Tensor k3 = qkv.narrow(1, nh * hd, nkv * hd).view_strided({T, nkv, hd}, {qkv_dim, hd, 1});
      ops::rms_norm(q3, L.q_norm, float(s.rms_norm_eps), q3);
      ops::rms_norm(k3, L.k_norm, float(s.rms_norm_eps), k3);
    }
    ops::rope_write_kv(qkv, cos_sin, cs_index, slots, kv.k[size_t(l)], kv.v[size_t(l)], ra);
    Tensor q3 = qkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
    ops::AttentionArgs aa{float(1.0 / std::sqrt(double(hd))), s.sliding_window[size_t(l)]};
    ops::attention(q3, kv.k[size_t(l)], kv.v[size_t(l)], tables, cu, lens, max_q, aa, attn);
    run_linear(attn, L.o, hidden);
    ops::add_rms_norm(hidden, residual, L.post_norm, float(s.rms_norm_eps), normed);
    run_linear(normed, L.gate_up, gate_up);
    ops::silu_and_mul(gate_up, mlp);
    run_linear(mlp, L.down, hidden);
  }

  // Final norm only for the rows whose logits are wanted.
  const int64_t R = int64_t(b.logits_indices.size());
  TRITIUM_CHECK(R > 0, "forward: no logits requested");
  Tensor rows_h = Tensor::empty({R, H}, act, dev), rows_r = Tensor::empty({R, H}, act, dev);
  Tensor last = Tensor::empty({R, H}, act, dev);
  for (int32_t t : b.logits_indices) TRITIUM_CHECK(t >= 0 && t < T, "forward: logits index ", t, " out of range");
  // Gather the wanted rows with the embedding op (one launch each, whatever R is).
  Tensor rows_idx = i32_tensor(b.logits_indices, {R}, dev);
  ops::embedding(rows_idx, hidden, rows_h);
  ops::embedding(rows_idx, residual, rows_r);
  ops::add_rms_norm(rows_h, rows_r, final_norm_, float(s.rms_norm_eps), last);
  Tensor logits = Tensor::empty({R, s.vocab_size}, act == DType::F32 ? DType::F32 : act, dev);
  ops::linear(last, lm_head_, nullptr, logits);
  if (dev.is_cpu()) return logits;
  return logits.to(Device::cpu()).to(DType::F32);
}

}  // namespace tritium
