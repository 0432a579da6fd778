#include "ops/device_sampler.h"

#include <cstring>

#include "ops/ops.h"
#include "ops/runtime.h"

namespace tritium {

bool device_can_sample(const SamplingParams& p, int64_t num_generated) {
  return p.repetition_penalty == 1.0f && p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f && !p.logprobs &&
         p.logit_bias.empty() && num_generated >= p.min_tokens;
}

RowSampling row_sampling(const SamplingParams& p, uint64_t seed, int64_t num_generated) {
  RowSampling r;
  r.temperature = p.greedy() ? 0.0f : p.temperature;
  r.top_k = p.top_k > 0 ? p.top_k : 0;
  r.top_p = p.top_p;
  r.min_p = p.min_p;
  r.seed = seed;
  r.step = int32_t(num_generated);
  return r;
}

std::vector<int32_t> DeviceSampler::sample(const Tensor& logits, std::span<const RowSampling> rows) {
  launch(logits, rows);
  return wait();
}

void DeviceSampler::launch(const Tensor& logits, std::span<const RowSampling> rows) {
  const Device dev = logits.device();
  const int64_t R = int64_t(rows.size());
  TRITIUM_CHECK(logits.dim() == 2 && logits.size(0) == R, "DeviceSampler: logits ", logits.str(), " for ", R, " rows");
  copied_.wait();  // host_ids_ is about to be written again
  launched_ = false;
  if (R == 0) {
    ids_ = Tensor();
    launched_ = true;
    return;
  }
  // Layout (each section 16-byte aligned, Rp = R rounded up to 4): seeds i64 [Rp], then
  // temperature, top_p, min_p (f32), top_k, steps, out ids (i32), [Rp] each.
  const int64_t Rp = (R + 3) / 4 * 4;
  const int64_t bytes = 8 * Rp + 6 * 4 * Rp;
  reserve(dev, R);
  char* h = static_cast<char*>(staging_.host(dev, size_t(bytes)));
  auto* seeds = reinterpret_cast<int64_t*>(h);
  auto* temp = reinterpret_cast<float*>(h + 8 * Rp);
  auto* top_p = temp + Rp;
  auto* min_p = top_p + Rp;
  auto* top_k = reinterpret_cast<int32_t*>(min_p + Rp);
  auto* steps = top_k + Rp;
  for (int64_t i = 0; i < R; ++i) {
    const RowSampling& r = rows[size_t(i)];
    seeds[i] = int64_t(r.seed & 0x7fffffffffffffffull);
    temp[i] = r.temperature;
    top_p[i] = r.top_p;
    min_p[i] = r.min_p;
    top_k[i] = r.top_k;
    steps[i] = r.step;
  }
  staging_.upload(device_, size_t(28 * Rp));  // the controls; the ids section is output
  auto view = [&](int64_t off, DType dt) {
    return Tensor::from_blob(static_cast<char*>(device_.data()) + off, {R}, dt, dev, device_.holder());
  };
  ops::SampleArgs a;
  a.seeds = view(0, DType::I64);
  a.temperature = view(8 * Rp, DType::F32);
  a.top_p = view(12 * Rp, DType::F32);
  a.min_p = view(16 * Rp, DType::F32);
  a.top_k = view(20 * Rp, DType::I32);
  a.steps = view(24 * Rp, DType::I32);
  ids_ = view(28 * Rp, DType::I32);
  ops::sample(logits, a, ids_);
  Tensor back = host_ids_.narrow(0, 0, R);
  ops::download_async(back, ids_);
  copied_.record(dev);
  launched_ = true;
}

void DeviceSampler::reserve(Device dev, int64_t rows) {
  const int64_t Rp = (rows + 3) / 4 * 4;
  if (rows > capacity_ || !device_.defined() || device_.device() != dev) {
    capacity_ = std::max<int64_t>(Rp, 64);
    device_ = Tensor::empty({8 * capacity_ + 6 * 4 * capacity_}, DType::U8, dev);
    host_ids_ = ops::staging_tensor({capacity_}, DType::I32, dev);
  }
}

void DeviceSampler::launch_ids(const Tensor& ids) {
  TRITIUM_CHECK(ids.dim() == 1 && ids.dtype() == DType::I32 && ids.is_contiguous(), "DeviceSampler: token ids ",
                ids.str(), " should be contiguous I32 [R]");
  const Device dev = ids.device();
  copied_.wait();  // host_ids_ is about to be written again
  launched_ = false;
  ids_ = ids;
  if (ids.numel() > 0) {
    reserve(dev, ids.numel());
    Tensor back = host_ids_.narrow(0, 0, ids.numel());
    ops::download_async(back, ids_);
    copied_.record(dev);
  } else {
    ids_ = Tensor();
  }
  launched_ = true;
}

std::vector<int32_t> DeviceSampler::wait() {
  TRITIUM_CHECK(launched_, "DeviceSampler::wait: nothing was launched");
  launched_ = false;
  if (!ids_.defined()) return {};
  copied_.wait();
  const int32_t* p = host_ids_.data<int32_t>();
  return std::vector<int32_t>(p, p + ids_.numel());
}

}  // namespace tritium
