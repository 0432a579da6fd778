// RoPE frequency tables for every scaling of ModelSpec::rope, computed the way Hugging Face
// transformers does (float32 inverse frequencies, cos/sin times the attention factor).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "model/config.h"

namespace tritium {

// Inverse frequencies (rotary_dim / 2 of them). seq_len matters only for dynamic NTK.
std::vector<float> rope_inv_freq(const ModelSpec& spec, int64_t seq_len);

// Writes cos (first half) then sin (second half) for position `pos` into row[rotary_dim].
void rope_row(const std::vector<float>& inv_freq, float attention_factor, int64_t pos, float* row);

// A [num_positions, rotary_dim] F32 table for positions 0..num_positions-1.
Tensor rope_table(const ModelSpec& spec, int64_t num_positions);

}  // namespace tritium
