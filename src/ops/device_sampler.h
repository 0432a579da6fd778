// Sampling on the logits' device (ops::sample): the host sends the rows' controls in one
// upload and gets back only the chosen ids, instead of copying [rows, vocab] logits out.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "ops/runtime.h"
#include "tritium/sampling_params.h"

namespace tritium {

struct RowSampling {
  float temperature = 0;  // <= 0: greedy
  int32_t top_k = 0;
  float top_p = 1;
  float min_p = 0;
  uint64_t seed = 0;
  int32_t step = 0;  // tokens the row's sequence generated so far
};

// Whether ops::sample does for `p` what the host sampler (choose_next_token) would, for a
// sequence that has generated `num_generated` tokens: no penalties, no logprobs, and no eos
// to mask for min_tokens. (The random draws differ: the device uses Philox streams.)
bool device_can_sample(const SamplingParams& p, int64_t num_generated);
RowSampling row_sampling(const SamplingParams& p, uint64_t seed, int64_t num_generated);

class DeviceSampler {
 public:
  // One token per row of logits [R, V] (R = rows.size()), on logits' device; waits for them.
  std::vector<int32_t> sample(const Tensor& logits, std::span<const RowSampling> rows);

  // The same in two halves, so that the host can enqueue more work on the device (a next
  // step that reads device_ids()) before it waits: launch() enqueues the draw and the copy
  // of the ids to the host, wait() returns them. A launch drops the ids of an earlier one
  // that was not waited for.
  void launch(const Tensor& logits, std::span<const RowSampling> rows);
  // The same for tokens drawn already on the device (ids [R] I32, e.g. the greedy tokens of a
  // step with ForwardBatch::argmax_only): only their copy back is enqueued. ids must stay
  // unchanged until work enqueued after this launch (stream-ordered) overwrites them.
  void launch_ids(const Tensor& ids);
  const Tensor& device_ids() const { return ids_; }  // [R] I32 of the last launch, stream-ordered
  std::vector<int32_t> wait();

 private:
  ops::StagingBuffer staging_;  // packed controls on the host
  Tensor device_;               // ... on the device, plus the ids; reused while large enough
  int64_t capacity_ = 0;        // rows device_ holds
  Tensor ids_;                  // the ids section of device_, [R]
  Tensor host_ids_;             // page-locked, [capacity_] I32: where the ids come back
  ops::Fence copied_;           // recorded after the ids' copy back
  void reserve(Device dev, int64_t rows);
  bool launched_ = false;
};

}  // namespace tritium
