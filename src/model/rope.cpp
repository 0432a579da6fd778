#include "model/rope.h"

#include <algorithm>
#include <cmath>

namespace tritium {

std::vector<float> rope_inv_freq(const ModelSpec& spec, int64_t seq_len) {
  const RopeSpec& r = spec.rope;
  const int64_t dim = spec.rotary_dim, half = dim / 2;
  float base = float(r.theta);
  if (r.type == RopeType::Dynamic) {
    double sl = double(std::max(seq_len, spec.max_position_embeddings));
    double b = r.theta * std::pow(r.factor * sl / double(spec.max_position_embeddings) - (r.factor - 1.0),
                                  double(dim) / double(dim - 2));
    base = float(b);
  }
  std::vector<float> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    float e = float(2 * i) / float(dim);
    inv[size_t(i)] = 1.0f / std::pow(base, e);
  }
  switch (r.type) {
    case RopeType::Default:
    case RopeType::Dynamic:
      break;
    case RopeType::Linear:
      for (auto& f : inv) f = f / float(r.factor);
      break;
    case RopeType::Llama3: {
      const double old_ctx = double(r.original_max_position_embeddings);
      const double low_wl = old_ctx / r.low_freq_factor, high_wl = old_ctx / r.high_freq_factor;
      for (auto& f : inv) {
        double wl = 2.0 * M_PI / double(f);
        if (wl > low_wl) {
          f = float(double(f) / r.factor);
        } else if (wl >= high_wl) {  // medium frequencies: blend
          double smooth = (old_ctx / wl - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
          f = float((1.0 - smooth) * double(f) / r.factor + smooth * double(f));
        }
      }
      break;
    }
    case RopeType::Yarn: {
      const double orig = double(r.original_max_position_embeddings);
      auto corr_dim = [&](double rot) {
        return double(dim) * std::log(orig / (rot * 2.0 * M_PI)) / (2.0 * std::log(r.theta));
      };
      double low = corr_dim(r.beta_fast), high = corr_dim(r.beta_slow);
      if (r.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
      }
      low = std::max(low, 0.0);
      high = std::min(high, double(dim - 1));
      if (low == high) high += 0.001;
      for (int64_t i = 0; i < half; ++i) {
        float pos_freq = std::pow(float(r.theta), float(2 * i) / float(dim));
        float extra = 1.0f / pos_freq;
        float inter = 1.0f / (float(r.factor) * pos_freq);
        float ramp = std::clamp(float((double(i) - low) / (high - low)), 0.0f, 1.0f);
        float extra_factor = 1.0f - ramp;
        inv[size_t(i)] = inter * (1.0f - extra_factor) + extra * extra_factor;
      }
      break;
    }
  }
  if (!r.freq_factors.empty()) {
    TRITIUM_CHECK(r.freq_factors.size() == inv.size(), "rope: ", r.freq_factors.size(), " frequency factors for ",
                  inv.size(), " frequencies");
    for (size_t i = 0; i < inv.size(); ++i) inv[i] = inv[i] / r.freq_factors[i];
  }
  return inv;
}

void rope_row(const std::vector<float>& inv, float attention_factor, int64_t pos, float* row) {
  const size_t half = inv.size();
  for (size_t i = 0; i < half; ++i) {
    float arg = float(pos) * inv[i];
    row[i] = float(std::cos(double(arg))) * attention_factor;
    row[half + i] = float(std::sin(double(arg))) * attention_factor;
  }
}

Tensor rope_table(const ModelSpec& spec, int64_t n) {
  Tensor t = Tensor::empty({n, spec.rotary_dim}, DType::F32);
  auto inv = rope_inv_freq(spec, 0);
  float af = spec.rope.type == RopeType::Yarn ? float(spec.rope.attention_factor) : 1.0f;
  for (int64_t p = 0; p < n; ++p) rope_row(inv, af, p, t.data<float>() + p * spec.rotary_dim);
  return t;
}

}  // namespace tritium
