// TRITIUM_KERNEL_PROFILE=1: times every kernel launched outside a graph capture with a pair of
// events and sums the GPU time per kernel variant, for a table of where a step's time goes
// (run with --enforce-eager to see decode steps: graph replays are not broken down).
#pragma once
#include <string>

#include "backends/cuda/cuda_types.h"

namespace tritium::cuda {

bool kernel_profile_enabled();
void kernel_profile_enable(bool on);  // overrides the environment
// Called by the launch wrapper around one launch on `stream` (not while capturing).
void kernel_profile_before(int device_index, StreamHandle stream);
void kernel_profile_after(const std::string& variant, StreamHandle stream);
// Waits for the pending launches; the table, slowest total first ("" when nothing was timed).
std::string kernel_profile_report();
void kernel_profile_reset();

}  // namespace tritium::cuda
