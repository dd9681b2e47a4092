#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "load/commit.h"

namespace tandem::load {
namespace {

Partition P(int p) {
  return Partition(p);
}
Offset O(int64_t o) {
  return Offset(o);
}

TEST(CommitTracker, CommitsOnlyPastContiguousDone) {
  CommitTracker t;
  for (int o = 0; o < 5; ++o) t.add(P(0), O(o));
  EXPECT_EQ(t.pending(), 5u);
  auto c = t.take_committable();
  // Nothing done: position stays at the first pending offset.
  EXPECT_EQ(c[P(0)], O(0));
  t.done(P(0), O(2));
  t.done(P(0), O(3));
  EXPECT_TRUE(t.take_committable().empty());  // 0 still pending
  t.done(P(0), O(0));
  c = t.take_committable();
  EXPECT_EQ(c.at(P(0)), O(1));  // 1 is the hole
  t.done(P(0), O(1));
  c = t.take_committable();
  EXPECT_EQ(c.at(P(0)), O(4));
  t.done(P(0), O(4));
  EXPECT_EQ(t.take_committable().at(P(0)), O(5));
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_TRUE(t.take_committable().empty());  // unchanged: nothing to commit
}

TEST(CommitTracker, PartitionsAreIndependent) {
  CommitTracker t;
  t.add(P(0), O(10));
  t.add(P(1), O(20));
  t.add(P(1), O(21));
  t.done(P(1), O(21));
  t.done(P(1), O(20));
  auto c = t.take_committable();
  EXPECT_EQ(c.at(P(0)), O(10));
  EXPECT_EQ(c.at(P(1)), O(22));
}

TEST(CommitTracker, SparseOffsets) {
  CommitTracker t;
  t.add(P(0), O(3));
  t.add(P(0), O(7));
  t.done(P(0), O(7));
  EXPECT_EQ(t.positions().at(P(0)), O(3));
  t.done(P(0), O(3));
  EXPECT_EQ(t.positions().at(P(0)), O(8));
}

TEST(CommitTracker, RewindLetsPositionMoveBack) {
  CommitTracker t;
  t.add(P(0), O(0));
  t.add(P(0), O(1));
  t.done(P(0), O(0));
  t.done(P(0), O(1));
  EXPECT_EQ(t.take_committable().at(P(0)), O(2));
  // Redelivered from offset 1 (e.g. after a rebalance).
  t.add(P(0), O(1));
  EXPECT_EQ(t.take_committable().at(P(0)), O(1));
  t.done(P(0), O(1));
  EXPECT_EQ(t.take_committable().at(P(0)), O(2));
}

TEST(CommitTracker, ForgetReportedRepeatsPositions) {
  CommitTracker t;
  t.add(P(0), O(0));
  t.done(P(0), O(0));
  EXPECT_EQ(t.take_committable().size(), 1u);
  EXPECT_TRUE(t.take_committable().empty());
  t.forget_reported();
  EXPECT_EQ(t.take_committable().at(P(0)), O(1));
}

// Property: for any completion order, the committed position never passes
// an offset that is not done, and ends one past the last.
TEST(CommitTracker, RandomCompletionOrderNeverPassesUndone) {
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    CommitTracker t;
    const int n = 200;
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) {
      order[i] = i;
      t.add(P(round % 3), O(i));
    }
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<bool> done(n, false);
    int64_t last = -1;
    for (int o : order) {
      t.done(P(round % 3), O(o));
      done[o] = true;
      auto c = t.take_committable();
      if (c.count(P(round % 3)) == 0) continue;
      int64_t next = c.at(P(round % 3)).get();
      for (int64_t k = 0; k < next; ++k) ASSERT_TRUE(done[k]) << "passed undone " << k;
      ASSERT_GE(next, last);
      last = next;
    }
    EXPECT_EQ(last, n);
  }
}

}  // namespace
}  // namespace tandem::load
