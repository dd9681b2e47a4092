// Unit tests for verification report arithmetic and rendering (no network).
#include <gtest/gtest.h>

#include <string>

#include "verify/verify.h"

namespace tandem::verify {
namespace {

IndexReport clean(const std::string& name, uint64_t n) {
  IndexReport r;
  r.index = IndexName(name);
  r.blue_count = r.green_count = r.matched = n;
  return r;
}

TEST(Report, FullParity) {
  Report rep;
  rep.indices.push_back(clean("a", 10));
  rep.indices.push_back(clean("b", 0));
  EXPECT_TRUE(rep.ok());
  EXPECT_DOUBLE_EQ(rep.parity_percent(), 100.0);
  EXPECT_EQ(rep.documents(), 10u);
  std::string t = render_table(rep);
  EXPECT_NE(t.find("parity: 100.00% (10 documents, 2 indices); 0 explained, 0 unexplained"),
            std::string::npos)
      << t;
}

TEST(Report, DeadLettersAreExplainedButNotParity) {
  Report rep;
  IndexReport r = clean("a", 9999);
  r.blue_count = 10000;
  r.dead_lettered = 1;
  rep.indices.push_back(r);
  EXPECT_TRUE(rep.ok());
  EXPECT_NEAR(rep.parity_percent(), 99.99, 1e-9);
  std::string t = render_table(rep);
  EXPECT_NE(t.find("parity: 99.99%"), std::string::npos) << t;
  EXPECT_NE(t.find("1 explained, 0 unexplained"), std::string::npos) << t;
}

TEST(Report, NeverRoundsUpToHundred) {
  Report rep;
  IndexReport r = clean("a", 99999);
  r.blue_count = 100000;
  r.missing = 1;
  rep.indices.push_back(r);
  EXPECT_FALSE(rep.ok());
  std::string t = render_table(rep);
  EXPECT_NE(t.find("parity: 99.99%"), std::string::npos) << t;
}

TEST(Report, ProblemsAreUnexplained) {
  Report rep;
  IndexReport r;
  r.index = IndexName("gone");
  r.problem = "closed on blue; not verified";
  rep.indices.push_back(r);
  EXPECT_EQ(rep.unexplained(), 1u);
  EXPECT_DOUBLE_EQ(r.parity_percent(), 0.0);
  auto j = to_json(rep);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["indices"][0]["problem"], "closed on blue; not verified");
}

TEST(Report, SamplesRendered) {
  Report rep;
  IndexReport r = clean("a", 3);
  r.stale = 1;
  r.samples.push_back({IndexName("a"), DocId("7"), DiffKind::kStale, std::nullopt, 5, 3});
  r.samples.push_back(
      {IndexName("a"), DocId("8"), DiffKind::kDeadLettered, DiffKind::kMissing, 9, -1});
  rep.indices.push_back(r);
  std::string t = render_table(rep);
  EXPECT_NE(t.find("stale id=7 expected_version=5 green_version=3"), std::string::npos) << t;
  EXPECT_NE(t.find("dead-lettered id=8 expected_version=9 green_version=-1 (missing)"),
            std::string::npos)
      << t;
  EXPECT_EQ(diff_kind_name(DiffKind::kNewer), "newer");
}

}  // namespace
}  // namespace tandem::verify
