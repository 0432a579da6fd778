// The scheduler: continuous batching over the paged KV cache (vLLM-style).
// Each step: running sequences first (decodes and unfinished prefill chunks), then waiting
// sequences admitted in priority / arrival order, all within max_num_batched_tokens and
// max_num_seqs. When blocks run out, the most recently admitted running sequence is
// preempted: its blocks are freed and it waits to be recomputed.
#pragma once
#include <deque>
#include <list>
#include <memory>
#include <vector>

#include "engine/sequence.h"
#include "kv/block_pool.h"

namespace tritium {

struct SchedulerConfig {
  int64_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 2048;
  int64_t max_model_len = 4096;
};

struct ScheduledSeq {
  Sequence* seq;
  int64_t num_tokens;  // new tokens computed this step
  bool samples;        // the step reaches the end of its known tokens: sample one
};

struct SchedulerOutput {
  std::vector<ScheduledSeq> seqs;
  std::vector<Sequence*> preempted;
  int64_t num_tokens = 0;
  bool empty() const { return seqs.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& cfg, BlockPool& pool);

  void add(std::unique_ptr<Sequence> seq);
  SchedulerOutput schedule();
  // After the forward pass: advances num_computed and registers newly full blocks in the
  // prefix cache. Call before appending sampled tokens.
  void after_step(const SchedulerOutput& out);
  // Called after after_step, while the step's tokens are still being drawn: the step
  // schedule() will give next if nothing changes meanwhile, in the steady state where it can
  // be known now (nothing waits, every running sequence is drawing a token and decodes it
  // next, within the token budget): each running sequence with one token. Reserves the blocks
  // those tokens need (they stay with the sequence either way). Empty when not in that state.
  SchedulerOutput plan_continuation();
  // Frees a sequence's blocks and drops it (finished or aborted). Returns it.
  std::unique_ptr<Sequence> finish(Sequence* seq, const std::string& reason);
  Sequence* find(uint64_t seq_id);

  int64_t num_waiting() const { return int64_t(waiting_.size()); }
  int64_t num_running() const { return int64_t(running_.size()); }
  bool has_work() const { return !waiting_.empty() || !running_.empty(); }
  int64_t num_preemptions() const { return preemptions_; }
  std::vector<Sequence*> all();

 private:
  void preempt(Sequence* s);
  // Takes cached prefix blocks for a sequence about to start; returns tokens covered.
  int64_t take_cached_prefix(Sequence* s);
  bool ensure_blocks(Sequence* s, int64_t total_tokens);

  SchedulerConfig cfg_;
  BlockPool& pool_;
  std::list<std::unique_ptr<Sequence>> waiting_;  // ordered by (priority, arrival)
  std::vector<std::unique_ptr<Sequence>> running_;  // admission order
  int64_t preemptions_ = 0;
};

}  // namespace tritium
