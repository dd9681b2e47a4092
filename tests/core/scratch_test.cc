#include "core/scratch.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem {
namespace {

// A string is measured as half its capacity (geometric growth): one sized
// for up to the bound is kept, contents too; one above it is released.
TEST(Scratch, KeepsUpToTheBoundAndReleasesAbove) {
  std::string kept;
  kept.reserve(2 * kScratchKeepBytes);
  kept.assign(kScratchKeepBytes, 'x');
  const size_t cap = kept.capacity();
  release_scratch_above(kept);
  EXPECT_EQ(kept.capacity(), cap);
  EXPECT_EQ(kept.size(), kScratchKeepBytes);

  std::string big(2 * kScratchKeepBytes + 2, 'x');
  release_scratch_above(big);
  EXPECT_LE(big.capacity(), std::string().capacity());  // the storage is gone
  EXPECT_TRUE(big.empty());
  big.assign(10, 'y');  // and the object is usable again
  EXPECT_EQ(big, "yyyyyyyyyy");
}

// The padded copy of an answer at the bound, grown the way read_top_object
// grows it (assign, then the padding), is kept: its capacity may double.
TEST(Scratch, KeepsAGrownCopyOfAnInputAtTheBound) {
  std::string padded;
  padded.assign(std::string(1000, 'x'));
  padded.assign(std::string(kScratchKeepBytes - 64, 'x'));
  padded.resize(kScratchKeepBytes);
  const size_t cap = padded.capacity();
  release_scratch_above(padded);
  EXPECT_EQ(padded.capacity(), cap);
}

// Clearing a std::string keeps its buffer; an assignment from a short one
// does too (libstdc++ copies into it): why the helper swaps.
TEST(Scratch, ReleasesWhatClearingWouldKeep) {
  std::string s(4 * kScratchKeepBytes, 'x');
  s.clear();
  ASSERT_GT(s.capacity(), 2 * kScratchKeepBytes);
  release_scratch_above(s);
  EXPECT_LE(s.capacity(), std::string().capacity());
}

TEST(Scratch, CustomBound) {
  std::string s(200, 'x');
  release_scratch_above(s, 64);
  EXPECT_TRUE(s.empty());
}

// A parser-like type: all the helper needs is capacity() and a fresh
// default-constructed object.
struct FakeParser {
  size_t cap = 0;
  size_t capacity() const { return cap; }
};

TEST(Scratch, BoundReleasesOnEveryWayOut) {
  FakeParser p;
  auto use = [&](size_t n, bool fail) {
    const ScratchBound keep(p);
    p.cap = n;
    if (fail) return false;      // an early return releases too
    EXPECT_EQ(p.capacity(), n);  // nothing is released while in use
    return true;
  };
  EXPECT_TRUE(use(1000, false));
  EXPECT_EQ(p.capacity(), 1000u);  // a small input's storage is kept
  EXPECT_TRUE(use(kScratchKeepBytes + 1, false));
  EXPECT_EQ(p.capacity(), 0u);
  EXPECT_FALSE(use(kScratchKeepBytes * 8, true));
  EXPECT_EQ(p.capacity(), 0u);
}

}  // namespace
}  // namespace tandem
