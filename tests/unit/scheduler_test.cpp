// Scheduler and prefix cache, without a model: admission order, chunking, preemption,
// cache hits / partial hits / misses / eviction, and no leaked blocks.
#include <gtest/gtest.h>

#include "engine/scheduler.h"

using namespace tritium;

namespace {

std::unique_ptr<Sequence> seq(uint64_t id, int64_t prompt_len, int priority = 0, int32_t first_tok = 1) {
  auto s = std::make_unique<Sequence>();
  s->seq_id = id;
  s->arrival = id;
  s->priority = priority;
  for (int64_t i = 0; i < prompt_len; ++i) s->tokens.push_back(first_tok + int32_t(i));
  s->prompt_len = prompt_len;
  return s;
}

// Runs a step as the engine would: advance, then append one sampled token.
void complete(Scheduler& sch, SchedulerOutput& out) {
  sch.after_step(out);
  for (auto& ss : out.seqs)
    if (ss.samples) ss.seq->tokens.push_back(7);
}

TEST(Scheduler, ChunksPrefillWithinTokenBudget) {
  BlockPool pool(64, 4);
  Scheduler sch({8, 10, 1000}, pool);
  sch.add(seq(1, 25));
  auto out = sch.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].num_tokens, 10);
  EXPECT_FALSE(out.seqs[0].samples);
  complete(sch, out);
  out = sch.schedule();
  EXPECT_EQ(out.seqs[0].num_tokens, 10);
  complete(sch, out);
  out = sch.schedule();
  EXPECT_EQ(out.seqs[0].num_tokens, 5);
  EXPECT_TRUE(out.seqs[0].samples);
  complete(sch, out);
  out = sch.schedule();
  EXPECT_EQ(out.seqs[0].num_tokens, 1);  // decode
}

TEST(Scheduler, DecodesFirstThenAdmitsByPriority) {
  BlockPool pool(64, 4);
  Scheduler sch({8, 6, 1000}, pool);
  sch.add(seq(1, 3));
  auto out = sch.schedule();
  complete(sch, out);
  sch.add(seq(2, 4, /*priority=*/5));
  sch.add(seq(3, 4, /*priority=*/-1));
  out = sch.schedule();
  ASSERT_EQ(out.seqs.size(), 3u);
  EXPECT_EQ(out.seqs[0].seq->seq_id, 1u);  // the running decode
  EXPECT_EQ(out.seqs[0].num_tokens, 1);
  EXPECT_EQ(out.seqs[1].seq->seq_id, 3u);  // higher priority (lower number) first
  EXPECT_EQ(out.seqs[1].num_tokens, 4);
  EXPECT_EQ(out.seqs[2].seq->seq_id, 2u);  // the budget's last token starts its prefill
  EXPECT_EQ(out.seqs[2].num_tokens, 1);
  EXPECT_FALSE(out.seqs[2].samples);
}

TEST(Scheduler, MaxNumSeqsCapsTheBatch) {
  BlockPool pool(64, 4);
  Scheduler sch({2, 100, 1000}, pool);
  for (uint64_t i = 1; i <= 4; ++i) sch.add(seq(i, 3));
  auto out = sch.schedule();
  EXPECT_EQ(out.seqs.size(), 2u);
  EXPECT_EQ(sch.num_running(), 2);
}

TEST(Scheduler, PreemptsYoungestAndResumes) {
  BlockPool pool(4, 4);  // 16 tokens in all
  Scheduler sch({8, 100, 1000}, pool);
  sch.add(seq(1, 7));
  sch.add(seq(2, 7));
  auto out = sch.schedule();  // both admitted: 2 blocks each
  ASSERT_EQ(out.seqs.size(), 2u);
  complete(sch, out);
  out = sch.schedule();  // 8 tokens each now: both still fit (token 8 is in block 2)
  complete(sch, out);
  out = sch.schedule();  // token 9 needs a third block each: the youngest (2) is preempted
  ASSERT_EQ(out.preempted.size(), 1u);
  EXPECT_EQ(out.preempted[0]->seq_id, 2u);
  EXPECT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(sch.num_waiting(), 1);
  EXPECT_EQ(sch.find(2)->num_computed, 0);
  complete(sch, out);
  // Finish 1; 2 is readmitted and recomputes prompt + its generated tokens.
  auto done = sch.finish(sch.find(1), "length");
  out = sch.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  EXPECT_EQ(out.seqs[0].seq->seq_id, 2u);
  EXPECT_EQ(out.seqs[0].num_tokens, 9);
  EXPECT_TRUE(out.seqs[0].samples);
  sch.finish(sch.find(2), "length");
  EXPECT_EQ(pool.num_free(), 4);
}

TEST(PrefixCache, HitPartialHitMissAndEviction) {
  BlockPool pool(8, 4, /*prefix_caching=*/true);
  Scheduler sch({8, 100, 1000}, pool);
  sch.add(seq(1, 13));  // 3 full blocks + 1 token
  auto out = sch.schedule();
  complete(sch, out);
  auto a = sch.finish(sch.find(1), "stop");
  EXPECT_EQ(pool.num_cached(), 3);
  EXPECT_EQ(pool.num_free(), 8);

  // Full hit: same 13-token prompt reuses 3 blocks and computes 1 token.
  sch.add(seq(2, 13));
  out = sch.schedule();
  EXPECT_EQ(out.seqs[0].num_tokens, 1);
  EXPECT_EQ(sch.find(2)->num_cached_prompt, 12);
  complete(sch, out);
  sch.finish(sch.find(2), "stop");

  // Partial hit: first 8 tokens equal, then different.
  auto s3 = seq(3, 13);
  s3->tokens[9] = 99;
  sch.add(std::move(s3));
  out = sch.schedule();
  EXPECT_EQ(sch.find(3)->num_cached_prompt, 8);
  EXPECT_EQ(out.seqs[0].num_tokens, 5);
  complete(sch, out);
  sch.finish(sch.find(3), "stop");

  // Miss: different first token.
  sch.add(seq(4, 13, 0, /*first_tok=*/50));
  out = sch.schedule();
  EXPECT_EQ(sch.find(4)->num_cached_prompt, 0);
  complete(sch, out);
  sch.finish(sch.find(4), "stop");

  // Pressure: a prompt that needs every block evicts the cached ones.
  sch.add(seq(5, 32, 0, 200));
  out = sch.schedule();
  ASSERT_EQ(out.seqs.size(), 1u);
  complete(sch, out);
  EXPECT_LE(pool.num_cached(), 8);
  sch.finish(sch.find(5), "stop");
  EXPECT_EQ(pool.num_free(), 8);
  EXPECT_GT(pool.hits(), 0);

  sch.add(seq(6, 13));  // the first prefix was evicted under pressure
  out = sch.schedule();
  EXPECT_EQ(sch.find(6)->num_cached_prompt, 0);
}

TEST(PrefixCache, SharedBlocksAreRefCounted) {
  BlockPool pool(8, 4, true);
  Scheduler sch({8, 100, 1000}, pool);
  sch.add(seq(1, 9));
  auto out = sch.schedule();
  complete(sch, out);
  sch.add(seq(2, 9));  // shares 2 full blocks with the running sequence 1
  out = sch.schedule();
  int32_t b0 = sch.find(1)->table.blocks()[0];
  EXPECT_EQ(sch.find(2)->table.blocks()[0], b0);
  EXPECT_EQ(pool.ref_count(b0), 2);
  sch.finish(sch.find(1), "stop");
  EXPECT_EQ(pool.ref_count(b0), 1);
  sch.finish(sch.find(2), "stop");
  EXPECT_EQ(pool.num_free(), 8);
}

}  // namespace

// plan_continuation (called between after_step and appending the drawn tokens) gives what
// schedule() gives next in the steady decode state, and nothing otherwise.
TEST(Scheduler, PlanContinuationMatchesTheNextSchedule) {
  BlockPool pool(64, 4);
  Scheduler sch({8, 100, 1000}, pool);
  sch.add(seq(1, 25));
  sch.add(seq(2, 3));
  auto out = sch.schedule();
  sch.after_step(out);
  // Both prompts done and drawing their first token: the plan is one decode each.
  auto plan = sch.plan_continuation();
  ASSERT_EQ(plan.seqs.size(), 2u);
  for (auto& ss : out.seqs) ss.seq->tokens.push_back(7);
  for (int step = 0; step < 6; ++step) {  // crosses block boundaries: the plan reserved them
    const size_t free_before = size_t(pool.num_free());
    auto next = sch.schedule();
    EXPECT_EQ(size_t(pool.num_free()), free_before) << "schedule() needed blocks the plan had not reserved";
    ASSERT_EQ(next.seqs.size(), plan.seqs.size());
    for (size_t k = 0; k < next.seqs.size(); ++k) {
      EXPECT_EQ(next.seqs[k].seq, plan.seqs[k].seq);
      EXPECT_EQ(next.seqs[k].num_tokens, 1);
      EXPECT_TRUE(next.seqs[k].samples);
    }
    sch.after_step(next);
    plan = sch.plan_continuation();
    for (auto& ss : next.seqs) ss.seq->tokens.push_back(7);
  }
  // Something waiting: no plan (schedule() would admit it).
  sch.add(seq(3, 2));
  auto next = sch.schedule();
  sch.after_step(next);
  for (auto& ss : next.seqs)
    if (ss.samples) ss.seq->tokens.push_back(7);
  sch.add(seq(4, 2));
  EXPECT_TRUE(sch.plan_continuation().empty());
}

TEST(Scheduler, NoPlanWhileAPromptIsStillBeingChunked) {
  BlockPool pool(64, 4);
  Scheduler sch({8, 10, 1000}, pool);
  sch.add(seq(1, 25));
  auto out = sch.schedule();  // 10 of 25 prompt tokens
  sch.after_step(out);
  EXPECT_TRUE(sch.plan_continuation().empty());
}
