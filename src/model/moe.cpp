// Mixture-of-experts layers: checkpoint tensors, placement for the ops, the MLP (model/moe.h).
#include "model/moe.h"

#include <array>
#include <cmath>
#include <cstring>
#include <functional>

#include "core/thread_pool.h"
#include "model/model.h"

namespace tritium {

namespace {

bool is_mixtral(const ModelSpec& s) { return s.architecture == "MixtralForCausalLM"; }
bool is_gpt_oss(const ModelSpec& s) { return s.architecture == "GptOssForCausalLM"; }

std::string layer_prefix(const ModelSpec& s, int64_t l) {
  return str_cat("model.layers.", l, is_mixtral(s) ? ".block_sparse_moe." : ".mlp.");
}

// Per-expert tensor names of Mixtral / Qwen3-MoE: gate, up, down.
std::array<std::string, 3> expert_names(const ModelSpec& s, int64_t l, int64_t e) {
  const std::string p = str_cat(layer_prefix(s, l), "experts.", e, ".");
  if (is_mixtral(s)) return {p + "w1.weight", p + "w3.weight", p + "w2.weight"};
  return {p + "gate_proj.weight", p + "up_proj.weight", p + "down_proj.weight"};
}

// out[e, n, :] = rows of src [E, R, C] (a host tensor, contiguous) with, per expert, row n taken
// from source row src_row(n), or (transpose) from source column src_row(n) (out is then [E, C, R]).
// Elements are copied as they are (same dtype); experts run in parallel.
template <typename Elem>
void gather_rows(const Tensor& src, Tensor& out, bool transpose, const std::function<int64_t(int64_t)>& src_row) {
  const int64_t E = src.size(0), R = src.size(1), C = src.numel() / (E * R);
  const int64_t N = out.size(1), K = out.numel() / (E * N);
  const Elem* in = static_cast<const Elem*>(src.data());
  Elem* o = static_cast<Elem*>(out.data());
  parallel_for(E * N, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t e = r / N, n = r % N, from = src_row(n);
      Elem* dst = o + r * K;
      if (!transpose) {
        std::memcpy(dst, in + (e * R + from) * C, size_t(K) * sizeof(Elem));
      } else {
        const Elem* col = in + e * R * C + from;
        for (int64_t k = 0; k < K; ++k) dst[k] = col[k * C];
      }
    }
  });
}

// src [E, R, C...] host tensor -> [E, N, K...] with rows reordered / transposed (see gather_rows).
Tensor reorder_rows(const Tensor& src, const Shape& out_shape, bool transpose, std::function<int64_t(int64_t)> src_row) {
  Tensor c = src.contiguous();
  Tensor out = Tensor::empty(out_shape, c.dtype());
  switch (dtype_size(c.dtype())) {
    case 1: gather_rows<uint8_t>(c, out, transpose, src_row); break;
    case 2: gather_rows<uint16_t>(c, out, transpose, src_row); break;
    case 4: gather_rows<uint32_t>(c, out, transpose, src_row); break;
    default: throw Error(str_cat("experts: unsupported element size of ", c.str()));
  }
  return out;
}

}  // namespace

bool is_mxfp4_tensor(const std::string& name) {
  auto ends = [&](const char* suf) {
    const size_t n = std::strlen(suf);
    return name.size() >= n && name.compare(name.size() - n, n, suf) == 0;
  };
  return ends("_blocks") || ends("_scales");
}

void moe_expected_tensors(const ModelSpec& s, int64_t l, std::vector<std::pair<std::string, Shape>>& out) {
  const int64_t H = s.hidden_size, E = s.moe.num_experts, I = s.moe.intermediate_size;
  const std::string p = layer_prefix(s, l);
  if (!is_gpt_oss(s)) {
    out.push_back({p + "gate.weight", {E, H}});
    for (int64_t e = 0; e < E; ++e) {
      auto n = expert_names(s, l, e);
      out.push_back({n[0], {I, H}});
      out.push_back({n[1], {I, H}});
      out.push_back({n[2], {H, I}});
    }
    return;
  }
  out.push_back({p + "router.weight", {E, H}});
  out.push_back({p + "router.bias", {E}});
  out.push_back({p + "experts.gate_up_proj_bias", {E, 2 * I}});
  out.push_back({p + "experts.down_proj_bias", {E, H}});
  if (s.moe.mxfp4[size_t(l)]) {
    out.push_back({p + "experts.gate_up_proj_blocks", {E, 2 * I, H / 32, 16}});
    out.push_back({p + "experts.gate_up_proj_scales", {E, 2 * I, H / 32}});
    out.push_back({p + "experts.down_proj_blocks", {E, H, I / 32, 16}});
    out.push_back({p + "experts.down_proj_scales", {E, H, I / 32}});
  } else {
    out.push_back({p + "experts.gate_up_proj", {E, H, 2 * I}});
    out.push_back({p + "experts.down_proj", {E, I, H}});
  }
}

void load_moe_layer(const ModelSpec& s, int64_t l, const std::function<Tensor(const std::string&)>& fetch,
                    Device device, DType compute, LayerWeights& L) {
  const bool cpu = device.is_cpu();
  const int64_t H = s.hidden_size, E = s.moe.num_experts, I = s.moe.intermediate_size;
  const std::string p = layer_prefix(s, l);
  // CPU: float weights keep the checkpoint's dtype, vectors (biases) become F32; a GPU gets
  // every float tensor in the compute dtype.
  auto place = [&](const Tensor& host) { return cpu ? host : host.to(device); };
  auto floats = [&](const Tensor& host, bool vector) {
    if (cpu) return vector ? host.to(DType::F32) : host;
    return host.to(compute).to(device);
  };
  L.router.weights.push_back(floats(fetch(p + (is_gpt_oss(s) ? "router.weight" : "gate.weight")), false));
  if (s.moe.router_bias) L.router.biases.push_back(floats(fetch(p + "router.bias"), true));

  ops::MoeExperts& x = L.experts;
  x.activation = s.moe.activation == ExpertActivation::Silu ? ops::MoeActivation::Silu : ops::MoeActivation::SwigluClamp;
  x.alpha = float(s.moe.swiglu_alpha);
  x.limit = float(s.moe.swiglu_limit);
  if (!is_gpt_oss(s)) {  // per-expert tensors, stacked: gate rows then up rows
    Tensor gu, down;
    for (int64_t e = 0; e < E; ++e) {
      auto n = expert_names(s, l, e);
      Tensor g = fetch(n[0]), u = fetch(n[1]), d = fetch(n[2]);
      if (e == 0) {  // the CPU keeps the checkpoint's dtype
        const DType keep = cpu ? g.dtype() : compute;
        gu = Tensor::empty({E, 2 * I, H}, keep);
        down = Tensor::empty({E, H, I}, keep);
      }
      auto put = [](Tensor& dst, int64_t at, const Tensor& t) {
        Tensor c = t.to(dst.dtype()).contiguous();
        std::memcpy(static_cast<char*>(dst.data()) + at * int64_t(dtype_size(dst.dtype())), c.data(), c.nbytes());
      };
      put(gu, e * 2 * I * H, g);
      put(gu, (e * 2 + 1) * I * H, u);
      put(down, e * H * I, d);
    }
    x.gate_up.w = place(gu);
    x.down.w = place(down);
    return;
  }
  // gpt-oss: gate = even rows of gate_up. The CPU keeps that (zero-copy MXFP4); a GPU gets gate
  // rows then up rows.
  x.interleaved = cpu;
  auto gu_row = [cpu, I](int64_t n) { return cpu ? n : n < I ? 2 * n : 2 * (n - I) + 1; };
  auto same = [](int64_t n) { return n; };
  auto gu_rows = [&](const Tensor& t, const Shape& shape) { return cpu ? t : reorder_rows(t, shape, false, gu_row); };
  const std::string q = p + "experts.";
  Tensor gu_bias = fetch(q + "gate_up_proj_bias");
  x.gate_up.bias = floats(gu_rows(gu_bias, {E, 2 * I}), true);
  x.down.bias = floats(fetch(q + "down_proj_bias"), true);
  if (s.moe.mxfp4[size_t(l)]) {
    x.gate_up.w = place(gu_rows(fetch(q + "gate_up_proj_blocks"), {E, 2 * I, H / 32, 16}));
    x.gate_up.scales = place(gu_rows(fetch(q + "gate_up_proj_scales"), {E, 2 * I, H / 32}));
    x.down.w = place(fetch(q + "down_proj_blocks"));
    x.down.scales = place(fetch(q + "down_proj_scales"));
  } else {  // transformers' [E, K, N]: transposed to [E, N, K]
    x.gate_up.w = floats(reorder_rows(fetch(q + "gate_up_proj"), {E, 2 * I, H}, true, gu_row), false);
    x.down.w = floats(reorder_rows(fetch(q + "down_proj"), {E, H, I}, true, same), false);
  }
}

void run_moe_mlp(const ModelSpec& s, const LayerWeights& L, const Tensor& x, Tensor& out) {
  const int64_t T = x.size(0), k = s.moe.top_k;
  const Device dev = x.device();
  ops::MoeRouteArgs ra;
  ra.top_k = k;
  ra.kind = s.moe.router == RouterKind::TopKSoftmax ? ops::MoeRouting::TopKSoftmax : ops::MoeRouting::SoftmaxTopK;
  ra.renormalize = s.moe.renormalize;
  Tensor ids = Tensor::empty({T, k}, DType::I32, dev), w = Tensor::empty({T, k}, DType::F32, dev);
  ops::moe_route(x, L.router.weights[0], L.router.biases.empty() ? nullptr : &L.router.biases[0], ra, ids, w);
  ops::moe_experts(x, ids, w, L.experts, out);
}

std::vector<std::string> moe_synthetic_names() {
  return {"tiny-moe", "gpt-oss-20b", "gpt-oss-120b", "mixtral-8x7b", "qwen3-30b-a3b"};
}

bool moe_synthetic_spec(const std::string& name, ModelSpec& s) {
  MoeSpec& m = s.moe;
  s.weight_dtype = DType::BF16;
  if (name == "gpt-oss-20b" || name == "gpt-oss-120b" || name == "tiny-moe") {
    const bool tiny = name == "tiny-moe";
    s.architecture = "GptOssForCausalLM";
    s.model_type = "gpt_oss";
    s.vocab_size = tiny ? 512 : 201088;
    s.hidden_size = s.intermediate_size = tiny ? 128 : 2880;
    s.num_layers = tiny ? 2 : name == "gpt-oss-20b" ? 24 : 36;
    s.num_heads = tiny ? 4 : 64;
    s.num_kv_heads = tiny ? 2 : 8;
    s.head_dim = tiny ? 32 : 64;
    s.rms_norm_eps = 1e-5;
    s.max_position_embeddings = tiny ? 2048 : 131072;
    s.rope.type = RopeType::Yarn;
    s.rope.theta = 150000.0;
    s.rope.factor = 32.0;
    s.rope.original_max_position_embeddings = tiny ? 64 : 4096;
    s.rope.truncate = false;
    s.rope.attention_factor = 0.1 * std::log(32.0) + 1.0;
    s.qkv_bias = s.o_bias = s.attention_sinks = true;
    s.sliding_window.assign(size_t(s.num_layers), 0);
    for (int64_t l = 0; l < s.num_layers; l += 2) s.sliding_window[size_t(l)] = tiny ? 16 : 128;
    m.num_experts = tiny ? 8 : name == "gpt-oss-20b" ? 32 : 128;
    m.top_k = 4;
    m.intermediate_size = s.intermediate_size;
    m.router = RouterKind::TopKSoftmax;
    m.router_bias = m.expert_bias = m.interleaved_gate_up = true;
    m.activation = ExpertActivation::SwigluClamp;
    m.mxfp4.assign(size_t(s.num_layers), true);
  } else if (name == "mixtral-8x7b") {
    s.architecture = "MixtralForCausalLM";
    s.model_type = "mixtral";
    s.vocab_size = 32000;
    s.hidden_size = 4096;
    s.intermediate_size = 14336;
    s.num_layers = 32;
    s.num_heads = 32;
    s.num_kv_heads = 8;
    s.head_dim = 128;
    s.rms_norm_eps = 1e-5;
    s.max_position_embeddings = 32768;
    s.rope.theta = 1000000.0;
    m.num_experts = 8;
    m.top_k = 2;
    m.intermediate_size = s.intermediate_size;
    m.mxfp4.assign(size_t(s.num_layers), false);
  } else if (name == "qwen3-30b-a3b") {
    s.architecture = "Qwen3MoeForCausalLM";
    s.model_type = "qwen3_moe";
    s.vocab_size = 151936;
    s.hidden_size = 2048;
    s.intermediate_size = 6144;
    s.num_layers = 48;
    s.num_heads = 32;
    s.num_kv_heads = 4;
    s.head_dim = 128;
    s.rms_norm_eps = 1e-6;
    s.max_position_embeddings = 40960;
    s.rope.theta = 1000000.0;
    s.qk_norm = true;
    m.num_experts = 128;
    m.top_k = 8;
    m.intermediate_size = 768;
    m.mxfp4.assign(size_t(s.num_layers), false);
  } else {
    return false;
  }
  m.layers.assign(size_t(s.num_layers), true);
  s.rotary_dim = s.head_dim;
  if (s.sliding_window.empty()) s.sliding_window.assign(size_t(s.num_layers), 0);
  return true;
}

Tensor synthetic_mxfp4(const std::string& name, const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::U8);
  uint8_t* p = t.data<uint8_t>();
  const int64_t n = t.numel();
  const bool scales = name.size() > 7 && name.compare(name.size() - 7, 7, "_scales") == 0;
  // e2m1 codes drawn uniformly have an rms of sqrt(68.5 / 8) ~ 2.93; 2^(s - 127) brings it to 1/sqrt(K)
  const double K = double(shape.at(2)) * (scales ? 32.0 : 2.0);
  const uint8_t scale = uint8_t(127 + std::lround(std::log2(1.0 / (2.93 * std::sqrt(K)))));
  const uint64_t s0 = 0x9e3779b97f4a7c15ull * (seed + 1);
  parallel_for(n, 1 << 18, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (scales) {
        p[i] = scale;
        continue;
      }
      uint64_t z = s0 + uint64_t(i) * 0xbf58476d1ce4e5b9ull;  // splitmix64
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      p[i] = uint8_t(z ^ (z >> 31));
    }
  });
  return t;
}

int64_t expert_bytes(const LayerWeights& L) {
  const int64_t E = L.experts.num_experts();
  if (E == 0) return 0;
  int64_t b = 0;
  for (const ops::ExpertLinear* l : {&L.experts.gate_up, &L.experts.down})
    for (const Tensor* t : {&l->w, &l->scales, &l->bias})
      if (t->defined()) b += int64_t(t->nbytes());
  return b / E;
}

double expected_active_experts(int64_t num_experts, int64_t top_k, int64_t tokens) {
  if (num_experts <= 0) return 0;
  const double E = double(num_experts), k = double(std::min(top_k, num_experts));
  return E * (1.0 - std::pow(1.0 - k / E, double(std::max<int64_t>(tokens, 0))));
}

}  // namespace tritium
