#include "engine/scheduler.h"

#include <algorithm>

namespace tritium {

Scheduler::Scheduler(const SchedulerConfig& cfg, BlockPool& pool) : cfg_(cfg), pool_(pool) {}

static bool before(const Sequence& a, const Sequence& b) {
  return a.priority != b.priority ? a.priority < b.priority : a.arrival < b.arrival;
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  seq->status = SeqStatus::Waiting;
  auto it = waiting_.begin();
  while (it != waiting_.end() && !before(*seq, **it)) ++it;
  waiting_.insert(it, std::move(seq));
}

Sequence* Scheduler::find(uint64_t id) {
  for (auto& s : running_) if (s->seq_id == id) return s.get();
  for (auto& s : waiting_) if (s->seq_id == id) return s.get();
  return nullptr;
}

std::vector<Sequence*> Scheduler::all() {
  std::vector<Sequence*> r;
  for (auto& s : running_) r.push_back(s.get());
  for (auto& s : waiting_) r.push_back(s.get());
  return r;
}

bool Scheduler::ensure_blocks(Sequence* s, int64_t total) { return s->table.reserve(pool_, total); }

void Scheduler::preempt(Sequence* s) {
  // Recompute later: drop the blocks (full ones stay findable in the prefix cache).
  s->table.release(pool_);
  s->block_keys.clear();
  s->num_computed = 0;
  s->num_cached_prompt = 0;
  ++s->num_preemptions;
  ++preemptions_;
  auto it = std::find_if(running_.begin(), running_.end(), [&](auto& p) { return p.get() == s; });
  std::unique_ptr<Sequence> owned = std::move(*it);
  running_.erase(it);
  add(std::move(owned));
}

int64_t Scheduler::take_cached_prefix(Sequence* s) {
  if (!pool_.prefix_caching() || s->num_computed > 0) return 0;
  const int64_t bs = pool_.block_size();
  // Leave at least one token to compute so the step yields logits.
  const int64_t max_blocks = (int64_t(s->tokens.size()) - 1) / bs;
  uint64_t parent = 0;
  int64_t got = 0;
  for (int64_t i = 0; i < max_blocks; ++i) {
    std::span<const int32_t> blk(s->tokens.data() + i * bs, size_t(bs));
    uint64_t key = BlockPool::hash_block(parent, blk);
    int32_t b = pool_.lookup(key);
    if (b < 0) break;
    s->table.mutable_blocks().push_back(b);
    s->block_keys.push_back(key);
    parent = key;
    ++got;
  }
  s->num_computed = got * bs;
  s->num_cached_prompt = std::min<int64_t>(s->num_computed, s->prompt_len);
  return s->num_computed;
}

SchedulerOutput Scheduler::schedule() {
  SchedulerOutput out;
  int64_t budget = cfg_.max_num_batched_tokens;

  // 1. Running sequences, oldest first. A sequence that cannot get a block preempts the
  //    youngest running one (possibly itself).
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* s = running_[i].get();
    int64_t remaining = int64_t(s->tokens.size()) - s->num_computed;
    int64_t n = std::min(remaining, budget);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool ok = ensure_blocks(s, s->num_computed + n);
    while (!ok) {
      Sequence* victim = running_.back().get();
      out.preempted.push_back(victim);
      preempt(victim);
      if (victim == s) break;
      ok = ensure_blocks(s, s->num_computed + n);
    }
    if (!ok) break;  // s itself was preempted; everything after it was too
    out.seqs.push_back({s, n, s->num_computed + n == int64_t(s->tokens.size())});
    budget -= n;
    ++i;
  }

  // 2. Waiting sequences, in (priority, arrival) order, while budget, seats and blocks last.
  //    Preempted sequences were not sent back to waiting this step to be readmitted at once.
  while (!waiting_.empty() && budget > 0 && int64_t(running_.size()) < cfg_.max_num_seqs) {
    Sequence* s = waiting_.front().get();
    if (std::find(out.preempted.begin(), out.preempted.end(), s) != out.preempted.end()) break;
    take_cached_prefix(s);
    int64_t remaining = int64_t(s->tokens.size()) - s->num_computed;
    int64_t n = std::min(remaining, budget);
    if (!ensure_blocks(s, s->num_computed + n)) {
      // Not enough blocks now: give back cached blocks taken above and wait.
      s->table.release(pool_);
      s->block_keys.clear();
      s->num_computed = 0;
      s->num_cached_prompt = 0;
      break;
    }
    std::unique_ptr<Sequence> owned = std::move(waiting_.front());
    waiting_.pop_front();
    owned->status = SeqStatus::Running;
    out.seqs.push_back({s, n, s->num_computed + n == int64_t(s->tokens.size())});
    running_.push_back(std::move(owned));
    budget -= n;
  }
  for (auto& ss : out.seqs) out.num_tokens += ss.num_tokens;
  return out;
}

void Scheduler::after_step(const SchedulerOutput& out) {
  const int64_t bs = pool_.block_size();
  for (auto& ss : out.seqs) {
    Sequence* s = ss.seq;
    s->num_computed += ss.num_tokens;
    // Register blocks that became full (their tokens all computed).
    int64_t full = s->num_computed / bs;
    while (int64_t(s->block_keys.size()) < full) {
      size_t i = s->block_keys.size();
      uint64_t parent = i ? s->block_keys[i - 1] : 0;
      uint64_t key = BlockPool::hash_block(parent, std::span<const int32_t>(s->tokens.data() + i * bs, size_t(bs)));
      pool_.register_block(s->table.blocks()[i], key);
      s->block_keys.push_back(key);
    }
  }
}

SchedulerOutput Scheduler::plan_continuation() {
  SchedulerOutput out;
  if (!waiting_.empty() || running_.empty() || int64_t(running_.size()) > cfg_.max_num_batched_tokens) return out;
  for (auto& p : running_)
    if (int64_t(p->tokens.size()) != p->num_computed) return out;  // not every one is drawing a token
  for (auto& p : running_) {
    if (!ensure_blocks(p.get(), p->num_computed + 1)) return SchedulerOutput{};  // schedule() will preempt
    out.seqs.push_back({p.get(), 1, true});
  }
  out.num_tokens = int64_t(out.seqs.size());
  return out;
}

std::unique_ptr<Sequence> Scheduler::finish(Sequence* s, const std::string& reason) {
  std::unique_ptr<Sequence> owned;
  auto it = std::find_if(running_.begin(), running_.end(), [&](auto& p) { return p.get() == s; });
  if (it != running_.end()) {
    owned = std::move(*it);
    running_.erase(it);
  } else {
    auto w = std::find_if(waiting_.begin(), waiting_.end(), [&](auto& p) { return p.get() == s; });
    TRITIUM_CHECK(w != waiting_.end(), "scheduler: finishing an unknown sequence");
    owned = std::move(*w);
    waiting_.erase(w);
  }
  owned->table.release(pool_);
  owned->status = SeqStatus::Finished;
  owned->finish_reason = reason;
  return owned;
}

}  // namespace tritium
