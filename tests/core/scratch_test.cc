#include "core/scratch.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem {
namespace {

TEST(Scratch, KeepsUpToTheBoundAndReleasesAbove) {
  std::string small(kScratchKeepBytes, 'x');
  const size_t kept = small.capacity();
  release_scratch_above(small);
  EXPECT_EQ(small.capacity(), kept);  // at the bound: kept, contents too
  EXPECT_EQ(small.size(), kScratchKeepBytes);

  std::string big(kScratchKeepBytes + 1, 'x');
  release_scratch_above(big);
  EXPECT_LE(big.capacity(), std::string().capacity());  // the storage is gone
  EXPECT_TRUE(big.empty());
  big.assign(10, 'y');  // and the object is usable again
  EXPECT_EQ(big, "yyyyyyyyyy");
}

// Clearing a std::string keeps its buffer; an assignment from a short one
// does too (libstdc++ copies into it): why the helper swaps.
TEST(Scratch, ReleasesWhatClearingWouldKeep) {
  std::string s(4 * kScratchKeepBytes, 'x');
  s.clear();
  ASSERT_GT(s.capacity(), kScratchKeepBytes);
  release_scratch_above(s);
  EXPECT_LE(s.capacity(), std::string().capacity());
}

TEST(Scratch, CustomBound) {
  std::string s(100, 'x');
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
