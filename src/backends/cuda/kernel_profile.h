// TRITIUM_KERNEL_PROFILE=1: times every kernel launched outside a graph capture, every graph
// replay and every stream-ordered copy with a pair of events and sums the GPU time per kernel
// variant (or "cuda graph replay", "copy ..."), for a table of where a step's time goes (run
// with --enforce-eager to break decode steps down: graph replays are one row).
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
// Times fn() on `stream` as `name` when profiling is on and the stream is not capturing.
template <typename F>
void kernel_profile_scope(int device_index, StreamHandle stream, const char* name, F&& fn);
void kernel_profile_reset();

bool kernel_profile_stream_capturing(StreamHandle stream);

template <typename F>
void kernel_profile_scope(int device_index, StreamHandle stream, const char* name, F&& fn) {
  const bool timed = kernel_profile_enabled() && !kernel_profile_stream_capturing(stream);
  if (timed) kernel_profile_before(device_index, stream);
  fn();
  if (timed) kernel_profile_after(name, stream);
}

}  // namespace tritium::cuda
