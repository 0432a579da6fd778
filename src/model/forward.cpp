// The forward pass of the Llama family over a flattened batch, written with ops only.
//
// Step metadata (token ids, slots, cu_seqlens, seq_lens, block tables, rope rows, logits rows)
// goes to the device as one packed I32 upload from page-locked memory. Decode steps (one query
// token per sequence) can run as graphs captured per (batch bucket, block-table width bucket):
// the batch is padded to the bucket with rows that write no KV (slot -1) and are dropped, and
// activations live in a workspace sized for the largest bucket, so every graph reuses it.
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>

#include "model/model.h"
#include "model/moe.h"
#include "model/rope.h"
#include "ops/ops.h"
#include "ops/runtime.h"

namespace tritium {

namespace {

int64_t up4(int64_t n) { return (n + 3) / 4 * 4; }  // I32 sections start 16-byte aligned

// Room for the activations of fp8 linears (Linear::fp8): q [T, >= K] F8E4M3, s [T] F32.
struct Fp8Act {
  Tensor q, s;
  // x quantized per row into q's first K columns (ops::quantize_fp8_rows)
  Tensor quantize(const Tensor& x) const {
    TRITIUM_CHECK(q.defined() && q.size(0) == x.size(0) && q.size(1) >= x.size(1), "fp8 linear: no room to quantize ",
                  x.str());
    Tensor xq = q.narrow(1, 0, x.size(1)), scales = s;  // views of the same storage
    ops::quantize_fp8_rows(x, xq, scales);
    return xq;
  }
};

// out[:, cols of part i] = x @ W_i^T + b_i. prequantized: an fp8 linear's input is already in f8
// (a norm wrote it there: ops::rms_norm_fp8), x itself unused.
void run_linear(const Tensor& x, const Linear& lin, Tensor& out, const Fp8Act& f8, bool prequantized = false) {
  const Tensor xq = !lin.fp8() ? Tensor() : prequantized ? f8.q.narrow(1, 0, x.size(1)) : f8.quantize(x);
  int64_t col = 0;
  for (size_t i = 0; i < lin.weights.size(); ++i) {
    int64_t n = lin.weights[i].size(0);
    Tensor o = lin.weights.size() == 1 ? out : out.narrow(1, col, n);
    const Tensor* bias = lin.biases.empty() ? nullptr : &lin.biases[i];
    if (lin.fp8())
      ops::linear_fp8(xq, f8.s, lin.weights[i], lin.scales[i], bias, o);
    else
      ops::linear(x, lin.weights[i], bias, o);
    col += n;
  }
}

// x @ W^T (+ b), added to residual, and normed with `norm` into `normed` when norm is given
// (else the linear's output is left in `out` and residual is untouched).
void linear_add_norm(const Tensor& x, const Linear& lin, Tensor& residual, const Tensor* norm, Tensor& normed,
                     Tensor& out, float eps, const Fp8Act& f8) {
  if (norm && lin.weights.size() == 1 && !lin.fp8()) {
    ops::linear_add_rms_norm(x, lin.weights[0], lin.biases.empty() ? nullptr : &lin.biases[0], residual, *norm, eps,
                             normed, out);
    return;
  }
  run_linear(x, lin, out, f8);
  if (norm) ops::add_rms_norm(out, residual, *norm, eps, normed);
}

bool identity_rows(const ForwardBatch& b) {
  if (b.logits_indices.size() != b.token_ids.size()) return false;
  for (size_t i = 0; i < b.logits_indices.size(); ++i)
    if (b.logits_indices[i] != int32_t(i)) return false;
  return true;
}

// Decode batch sizes are padded up to one of these.
int64_t batch_bucket(int64_t n) {
  if (n <= 8) return int64_t(std::bit_ceil(uint64_t(std::max<int64_t>(n, 1))));
  const int64_t step = n <= 64 ? 8 : n <= 128 ? 16 : n <= 256 ? 32 : 64;
  return (n + step - 1) / step * step;
}
// Programmatic dependent launch (sm90 kernels that let the next kernel launch while they
// finish) for steps of at most this many tokens. H100: llama-1b decode at batch 1 -3%, batch 64
// -0.7%, llama-8b batch 64 -1.1% a step; llama-1b at batch 256 +1.5%, so larger steps go without.
constexpr int64_t kDependentLaunchMaxTokens = 64;

int64_t width_bucket(int64_t w) { return std::max<int64_t>(16, int64_t(std::bit_ceil(uint64_t(std::max<int64_t>(w, 1))))); }

}  // namespace

// Offsets (in I32 elements) of the sections of the packed step metadata.
struct Model::MetaLayout {
  int64_t T = 0, S = 0, W = 0, R = 0;
  int64_t ids = 0, slots = 0, cu = 0, lens = 0, tables = 0, cs = 0, rows = 0, total = 0;
  MetaLayout(int64_t t, int64_t s, int64_t w, int64_t r) : T(t), S(s), W(w), R(r) {
    int64_t o = 0;
    auto take = [&](int64_t n) {
      int64_t at = o;
      o += up4(n);
      return at;
    };
    ids = take(T);
    slots = take(T);
    cu = take(S + 1);
    lens = take(S);
    tables = take(S * W);
    cs = take(T);
    rows = take(R);
    total = std::max<int64_t>(o, 4);
  }
};

// Device views of one step's metadata.
struct Model::StepMeta {
  Tensor ids, slots, cu, lens, tables, cs_index, rows_idx;
};

// Activations of up to `rows` tokens, reused by every decode graph.
struct Model::Workspace {
  int64_t rows = 0;
  Tensor residual, normed, qkv, attn, hidden, gate_up, mlp, logits;
  Tensor ids;  // I32: the greedy tokens of an argmax-only step
  Tensor xq, xs;  // fp8 linears: the quantized activations [rows, max K] and their scales [rows]
};

struct Model::DecodeGraphs {
  int64_t max_batch = 0;
  std::unique_ptr<ops::DeviceGraphs> graphs;  // null on the CPU: the padded path runs eagerly
  Workspace ws;
  std::map<int64_t, Tensor> inputs;  // key -> the graph's packed metadata on the device
  std::vector<const void*> kv_id;    // the KV cache the graphs were captured with (its layers' addresses)
  int64_t captures = 0, steps = 0;
  int64_t last_key = -1;  // the graph replayed last
};

Model::Model() = default;
Model::~Model() = default;

void Model::enable_decode_graphs(int64_t max_batch, bool capture) {
  if (max_batch <= 0) {
    graphs_.reset();
    return;
  }
  const ModelSpec& s = spec_;
  auto g = std::make_unique<DecodeGraphs>();
  g->max_batch = batch_bucket(max_batch);
  if (capture) g->graphs = ops::make_graphs(device_);
  Workspace& w = g->ws;
  const int64_t B = g->max_batch, H = s.hidden_size, hd = s.head_dim;
  w.rows = B;
  w.residual = Tensor::empty({B, H}, compute_dtype_, device_);
  w.normed = Tensor::empty({B, H}, compute_dtype_, device_);
  w.qkv = Tensor::empty({B, (s.num_heads + 2 * s.num_kv_heads) * hd}, compute_dtype_, device_);
  w.attn = Tensor::empty({B, s.num_heads * hd}, compute_dtype_, device_);
  w.hidden = Tensor::empty({B, H}, compute_dtype_, device_);
  w.gate_up = Tensor::empty({B, 2 * s.intermediate_size}, compute_dtype_, device_);
  w.mlp = Tensor::empty({B, s.intermediate_size}, compute_dtype_, device_);
  w.logits = Tensor::empty({B, s.vocab_size}, compute_dtype_, device_);
  w.ids = Tensor::empty({B}, DType::I32, device_);
  if (quantization_) {
    w.xq = Tensor::empty({B, fp8_act_cols()}, DType::F8E4M3, device_);
    w.xs = Tensor::empty({B}, DType::F32, device_);
  }
  graphs_ = std::move(g);
}

int64_t Model::decode_graph_max_batch() const { return graphs_ ? graphs_->max_batch : 0; }
size_t Model::num_decode_graphs() const { return graphs_ && graphs_->graphs ? graphs_->graphs->size() : 0; }
int64_t Model::num_graph_captures() const { return graphs_ ? graphs_->captures : 0; }
int64_t Model::num_graph_steps() const { return graphs_ ? graphs_->steps : 0; }

double Model::time_graph_replays(int n, double* launch_s) {
  if (launch_s) *launch_s = 0;
  if (!graphs_ || !graphs_->graphs || graphs_->last_key < 0 || n <= 0) return 0;
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  if (launch_s) {
    ops::synchronize(device_);
    const auto t0 = clock::now();
    graphs_->graphs->replay(graphs_->last_key);
    *launch_s = secs(t0, clock::now());
  }
  ops::synchronize(device_);
  const auto t0 = clock::now();
  for (int i = 0; i < n; ++i) graphs_->graphs->replay(graphs_->last_key);
  ops::synchronize(device_);
  return secs(t0, clock::now()) / n;
}

int64_t Model::workspace_bytes(int64_t rows) const {
  const ModelSpec& s = spec_;
  const int64_t per_row = 5 * s.hidden_size + (s.num_heads + 2 * s.num_kv_heads) * s.head_dim +
                          s.num_heads * s.head_dim + 3 * s.intermediate_size + s.vocab_size + 2;  // + the id
  const int64_t fp8_row = quantization_ ? fp8_act_cols() + 4 : 0;
  return batch_bucket(rows) * (per_row * int64_t(dtype_size(compute_dtype_)) + fp8_row);
}

// Packs the step's metadata for Tp tokens / Sp sequences (>= the batch's: padding rows) with
// block tables W wide into `host`, laid out as L.
void Model::pack_meta(const ForwardBatch& b, const MetaLayout& L, bool rope_rows, int32_t* host) {
  const int64_t T = b.num_tokens(), S = b.num_seqs();
  std::memset(host, 0, size_t(L.total) * 4);
  std::copy(b.token_ids.begin(), b.token_ids.end(), host + L.ids);
  std::copy(b.slot_mapping.begin(), b.slot_mapping.end(), host + L.slots);
  std::fill(host + L.slots + T, host + L.slots + L.T, -1);  // padding rows write no KV
  std::copy(b.cu_seqlens_q.begin(), b.cu_seqlens_q.end(), host + L.cu);
  for (int64_t s = S; s < L.S; ++s) host[L.cu + s + 1] = host[L.cu + s] + 1;  // one token each
  std::copy(b.seq_lens.begin(), b.seq_lens.end(), host + L.lens);
  std::fill(host + L.lens + S, host + L.lens + L.S, 1);
  for (int64_t s = 0; s < S; ++s)
    std::copy_n(b.block_tables.begin() + s * b.max_blocks_per_seq, b.max_blocks_per_seq, host + L.tables + s * L.W);
  if (rope_rows)
    for (int64_t t = 0; t < T; ++t) host[L.cs + t] = int32_t(t);
  else
    std::copy(b.positions.begin(), b.positions.end(), host + L.cs);
  std::copy(b.logits_indices.begin(), b.logits_indices.end(), host + L.rows);
}

Model::StepMeta Model::upload_meta(const ForwardBatch& b, const MetaLayout& L, bool rope_rows, Tensor* dst) {
  const size_t bytes = size_t(L.total) * 4;
  pack_meta(b, L, rope_rows, static_cast<int32_t*>(staging_.host(device_, bytes)));
  Tensor dev = dst ? *dst : Tensor::empty({L.total}, DType::I32, device_);
  staging_.upload(dev, bytes);
  StepMeta m;
  m.ids = dev.narrow(0, L.ids, L.T);
  m.slots = dev.narrow(0, L.slots, L.T);
  m.cu = dev.narrow(0, L.cu, L.S + 1);
  m.lens = dev.narrow(0, L.lens, L.S);
  m.tables = dev.narrow(0, L.tables, L.S * L.W).view({L.S, L.W});
  m.cs_index = dev.narrow(0, L.cs, L.T);
  m.rows_idx = dev.narrow(0, L.rows, L.R);
  return m;
}

Tensor Model::run_layers(const StepMeta& m, int64_t T, int64_t max_q, int64_t decode_seqs, const Tensor& cos_sin,
                         KVCache& kv, Workspace* ws, bool all_rows, bool argmax) {
  const ModelSpec& s = spec_;
  const Device dev = device_;
  const DType act = compute_dtype_;
  const int64_t H = s.hidden_size, nh = s.num_heads, nkv = s.num_kv_heads, hd = s.head_dim;
  const int64_t qkv_dim = (nh + 2 * nkv) * hd, I = s.intermediate_size;
  auto buf = [&](Tensor Workspace::*field, int64_t cols) {
    return ws ? (ws->*field).narrow(0, 0, T) : Tensor::empty({T, cols}, act, dev);
  };
  Tensor residual = buf(&Workspace::residual, H), normed = buf(&Workspace::normed, H);
  Tensor qkv = buf(&Workspace::qkv, qkv_dim), attn = buf(&Workspace::attn, nh * hd);
  Tensor hidden = buf(&Workspace::hidden, H);  // output of o_proj / down_proj
  Tensor gate_up = buf(&Workspace::gate_up, 2 * I), mlp = buf(&Workspace::mlp, I);

  Fp8Act f8;
  if (quantization_) {
    f8.q = ws ? ws->xq.narrow(0, 0, T) : Tensor::empty({T, fp8_act_cols()}, DType::F8E4M3, dev);
    f8.s = ws ? ws->xs.narrow(0, 0, T) : Tensor::empty({T}, DType::F32, dev);
  }

  ops::RopeArgs ra{nh, nkv, hd, s.rotary_dim, s.rope.layout == RopeLayout::Neox};
  const float eps = float(s.rms_norm_eps);
  // fp8 linears (all four of a layer or none): each norm writes the next linear's input as fp8
  // codes and scales (ops::rms_norm_fp8, the normed activations never stored); the attention
  // output and the MLP's product are quantized by the linears that take them.
  const bool q8 = quantization_.has_value();
  auto norm_fp8 = [&](const Tensor* x, const Tensor& w) {
    Tensor q = f8.q.narrow(1, 0, H), sc = f8.s;
    ops::rms_norm_fp8(x, residual, w, eps, q, sc);
  };
  ops::embedding(m.ids, embed_, residual);
  if (q8)
    norm_fp8(nullptr, layers_[0].input_norm);
  else
    ops::rms_norm(residual, layers_[0].input_norm, eps, normed);
  for (int64_t l = 0; l < s.num_layers; ++l) {
    const LayerWeights& L = layers_[size_t(l)];
    run_linear(normed, L.qkv, qkv, f8, q8);
    if (s.qk_norm) {
      Tensor q3 = qkv.narrow(1, 0, nh * hd).view_strided({T, nh, hd}, {qkv_dim, hd, 1});
      Tensor k3 = qkv.narrow(1, nh * hd, nkv * hd).view_strided({T, nkv, hd}, {qkv_dim, hd, 1});
      ops::rms_norm(q3, L.q_norm, eps, q3);
      ops::rms_norm(k3, L.k_norm, eps, k3);
    }
    ops::AttentionArgs aa{float(1.0 / std::sqrt(double(hd))), s.sliding_window[size_t(l)], decode_seqs,
                          L.sinks.defined() ? &L.sinks : nullptr};
    ops::rope_attention(qkv, cos_sin, m.cs_index, m.slots, kv.k[size_t(l)], kv.v[size_t(l)], m.tables, m.cu, m.lens,
                        max_q, ra, aa, attn);
    // o_proj, then residual add and the MLP's norm (one fused op where the backend has it)
    if (q8) {
      run_linear(attn, L.o, hidden, f8);
      norm_fp8(&hidden, L.post_norm);
    } else {
      linear_add_norm(attn, L.o, residual, &L.post_norm, normed, hidden, eps, f8);
    }
    const Tensor* next = l + 1 < s.num_layers ? &layers_[size_t(l + 1)].input_norm : all_rows ? &final_norm_ : nullptr;
    if (s.moe_layer(l)) {  // experts (model/moe.cpp), then residual add and the next norm as below
      run_moe_mlp(s, L, normed, hidden);
      if (next) ops::add_rms_norm(hidden, residual, *next, eps, normed);
      continue;
    }
    if (L.gate_up.weights.size() == 1 && L.gate_up.biases.empty()) {
      if (q8)
        ops::linear_fp8_silu_mul(f8.q.narrow(1, 0, H), f8.s, L.gate_up.weights[0], L.gate_up.scales[0], mlp, gate_up);
      else
        ops::linear_silu_mul(normed, L.gate_up.weights[0], mlp, gate_up);
    } else {
      run_linear(normed, L.gate_up, gate_up, f8, q8);
      ops::silu_and_mul(gate_up, mlp);
    }
    // down_proj, then residual add and the next layer's norm (the final norm after the last
    // layer when every row's logits are wanted; otherwise the wanted rows are gathered below)
    if (q8 && next) {
      run_linear(mlp, L.down, hidden, f8);
      if (l + 1 < s.num_layers)
        norm_fp8(&hidden, *next);
      else
        ops::add_rms_norm(hidden, residual, *next, eps, normed);  // the final norm: the lm_head is not fp8
    } else {
      linear_add_norm(mlp, L.down, residual, next, normed, hidden, eps, f8);
    }
  }

  // Final norm only for the rows whose logits are wanted.
  Tensor last;
  const int64_t R = all_rows ? T : m.rows_idx.numel();
  if (all_rows) {
    last = normed;  // the last layer's fused add & final norm
  } else {
    // Gather the wanted rows with the embedding op (one launch each, whatever R is).
    Tensor rows_h = Tensor::empty({R, H}, act, dev), rows_r = Tensor::empty({R, H}, act, dev);
    last = Tensor::empty({R, H}, act, dev);
    ops::embedding(m.rows_idx, hidden, rows_h);
    ops::embedding(m.rows_idx, residual, rows_r);
    ops::add_rms_norm(rows_h, rows_r, final_norm_, eps, last);
  }
  if (argmax) {  // greedy rows: only their tokens, the logits never written
    Tensor ids = ws ? ws->ids.narrow(0, 0, R) : Tensor::empty({R}, DType::I32, dev);
    ops::linear_argmax(last, lm_head_, ids);
    return ids;
  }
  Tensor logits = ws ? ws->logits.narrow(0, 0, R) : Tensor::empty({R, s.vocab_size}, act, dev);
  ops::linear(last, lm_head_, nullptr, logits);
  return logits;
}

namespace {
// The step's token ids from the device, where the batch names them there.
void take_device_ids(const ForwardBatch& b, const Tensor& ids) {
  if (!b.device_token_ids.defined()) return;
  const int64_t T = b.num_tokens();
  TRITIUM_CHECK(b.device_token_ids.dtype() == DType::I32 && b.device_token_ids.numel() == T &&
                    b.device_token_ids.device() == ids.device(),
                "forward: device token ids ", b.device_token_ids.str(), " for ", T, " tokens on ", ids.device().str());
  Tensor dst = ids.narrow(0, 0, T);
  dst.copy_from(b.device_token_ids);
}
}  // namespace

Tensor Model::forward_device(const ForwardBatch& b, KVCache& kv) {
  const ModelSpec& s = spec_;
  const int64_t T = b.num_tokens(), S = b.num_seqs();
  TRITIUM_CHECK(T > 0 && S > 0, "forward: empty batch");
  TRITIUM_CHECK(int64_t(b.positions.size()) == T && int64_t(b.slot_mapping.size()) == T &&
                    int64_t(b.cu_seqlens_q.size()) == S + 1 && int64_t(b.block_tables.size()) == S * b.max_blocks_per_seq,
                "forward: inconsistent batch metadata");
  TRITIUM_CHECK(int64_t(kv.k.size()) == s.num_layers, "forward: KV cache has ", kv.k.size(), " layers, model ",
                s.num_layers);
  const int64_t R = int64_t(b.logits_indices.size());
  TRITIUM_CHECK(R > 0, "forward: no logits requested");
  for (int32_t t : b.logits_indices) TRITIUM_CHECK(t >= 0 && t < T, "forward: logits index ", t, " out of range");
  const Device dev = device_;

  // RoPE rows: the precomputed table, unless dynamic NTK scaling is active for a sequence
  // whose context outgrew max_position_embeddings; then per-token rows for this step.
  bool need_rows = false;
  for (int64_t i = 0; i < T; ++i) need_rows |= b.positions[size_t(i)] >= rope_table_.size(0);
  if (s.rope.type == RopeType::Dynamic)
    for (int64_t q = 0; q < S; ++q) need_rows |= b.seq_lens[size_t(q)] > s.max_position_embeddings;
  const int64_t max_q = b.max_query_len();
  const bool all_rows = identity_rows(b);
  // TRITIUM_ARGMAX_LM_HEAD=0: greedy steps return logits as any other (for measuring)
  static const bool argmax_allowed = [] {
    const char* e = std::getenv("TRITIUM_ARGMAX_LM_HEAD");
    return !(e && std::string(e) == "0");
  }();
  const bool argmax = b.argmax_only && argmax_allowed && ops::has_linear_argmax(dev);
  argmax_steps_ += argmax ? 1 : 0;

  if (graphs_ && !need_rows && max_q == 1 && T == S && all_rows && S <= graphs_->max_batch) {
    DecodeGraphs& g = *graphs_;
    std::vector<const void*> kv_id;
    for (size_t l = 0; l < kv.k.size(); ++l) kv_id.insert(kv_id.end(), {kv.k[l].data(), kv.v[l].data()});
    if (!kv.k.empty()) kv_id.push_back(reinterpret_cast<const void*>(uintptr_t(kv.k[0].size(0))));
    if (kv_id != g.kv_id) {  // graphs hold the cache's addresses
      if (g.graphs) g.graphs->clear();
      g.inputs.clear();
      g.last_key = -1;
      g.kv_id = kv_id;
    }
    const int64_t B = batch_bucket(S), W = width_bucket(b.max_blocks_per_seq);
    const int64_t key = (B << 32) | (W << 1) | (argmax ? 1 : 0);
    MetaLayout L(B, B, W, 0);
    Tensor& in = g.inputs[key];
    if (!in.defined()) in = Tensor::empty({L.total}, DType::I32, dev);
    StepMeta m = upload_meta(b, L, false, &in);
    take_device_ids(b, m.ids);
    auto body = [&, m] { run_layers(m, B, 1, B, rope_table_, kv, &g.ws, true, argmax); };
    ops::set_dependent_launch(dev, B <= kDependentLaunchMaxTokens);  // captured with the graph
    ++g.steps;
    if (!g.graphs) {
      body();
    } else {
      if (!g.graphs->contains(key)) {
        // Run the step once eagerly first: loads every kernel it needs outside the capture.
        // Replaying it afterwards is harmless: it rewrites the same K/V and recomputes the logits.
        body();
        g.graphs->capture(key, body);
        ++g.captures;
      }
      g.graphs->replay(key);
      g.last_key = key;
    }
    return argmax ? g.ws.ids.narrow(0, 0, S) : g.ws.logits.narrow(0, 0, S);
  }

  Tensor cos_sin = rope_table_;
  if (need_rows) {
    Tensor rows = Tensor::empty({T, s.rotary_dim}, DType::F32);
    float af = s.rope.type == RopeType::Yarn ? float(s.rope.attention_factor) : 1.0f;
    for (int64_t q = 0; q < S; ++q) {
      auto inv = rope_inv_freq(s, b.seq_lens[size_t(q)]);
      for (int32_t t = b.cu_seqlens_q[size_t(q)]; t < b.cu_seqlens_q[size_t(q) + 1]; ++t)
        rope_row(inv, af, b.positions[size_t(t)], rows.data<float>() + int64_t(t) * s.rotary_dim);
    }
    cos_sin = dev.is_cpu() ? rows : rows.to(dev);
  }
  MetaLayout L(T, S, std::max<int64_t>(b.max_blocks_per_seq, 1), all_rows ? 0 : R);
  StepMeta m = upload_meta(b, L, need_rows, nullptr);
  take_device_ids(b, m.ids);
  ops::set_dependent_launch(dev, T <= kDependentLaunchMaxTokens);
  // The leading decodes of a mixed batch (the scheduler puts running decodes first).
  int64_t decodes = 0;
  while (b.cu_seqlens_q[0] == 0 && decodes < S && b.cu_seqlens_q[size_t(decodes) + 1] - b.cu_seqlens_q[size_t(decodes)] == 1) ++decodes;
  return run_layers(m, T, max_q, decodes, cos_sin, kv, nullptr, all_rows, argmax);
}

Tensor logits_to_host_f32(const Tensor& logits) {
  Tensor h = logits.device().is_cpu() ? logits : logits.contiguous().to(Device::cpu());
  Tensor out = Tensor::empty(h.shape(), DType::F32);
  out.copy_from(h);  // a copy even on the CPU: logits may be a view of the workspace
  return out;
}

Tensor Model::forward(const ForwardBatch& b, KVCache& kv) { return logits_to_host_f32(forward_device(b, kv)); }

}  // namespace tritium
