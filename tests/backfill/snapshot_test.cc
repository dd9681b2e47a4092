// Which restores `backfill --mode snapshot` accepts (N -> N+1 of one
// product) and how it refuses the rest. Pure: no network.
#include <gtest/gtest.h>

#include <string>

#include "backfill/backfill.h"

namespace tandem::backfill {
namespace {

using es::Flavor;

es::ClusterInfo info(Flavor f, es::Version v) {
  es::ClusterInfo i;
  i.flavor = f;
  i.version = v;
  i.caps = es::Capabilities::derive(f, v);
  return i;
}

TEST(SnapshotPair, SameOrNextMajorOfOneProductIsAccepted) {
  const std::pair<es::ClusterInfo, es::ClusterInfo> ok[] = {
      {info(Flavor::kElasticsearch, {7, 17, 29}), info(Flavor::kElasticsearch, {8, 19, 7})},
      {info(Flavor::kElasticsearch, {8, 19, 7}), info(Flavor::kElasticsearch, {9, 2, 4})},
      {info(Flavor::kElasticsearch, {6, 8, 23}), info(Flavor::kElasticsearch, {7, 17, 29})},
      {info(Flavor::kElasticsearch, {8, 19, 7}), info(Flavor::kElasticsearch, {8, 19, 7})},
      {info(Flavor::kOpenSearch, {2, 19, 6}), info(Flavor::kOpenSearch, {3, 8, 0})},
  };
  for (const auto& [p, s] : ok) {
    Status st = check_snapshot_pair(p, s);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
}

TEST(SnapshotPair, RefusalsNameTheReasonAndScanMode) {
  struct Row {
    es::ClusterInfo p, s;
    const char* why;
  };
  const Row rows[] = {
      {info(Flavor::kElasticsearch, {6, 8, 23}), info(Flavor::kElasticsearch, {8, 19, 7}), "N+2"},
      {info(Flavor::kElasticsearch, {7, 17, 29}), info(Flavor::kElasticsearch, {9, 2, 4}), "N+2"},
      {info(Flavor::kElasticsearch, {8, 19, 7}), info(Flavor::kOpenSearch, {3, 8, 0}),
       "OpenSearch cannot read an Elasticsearch 8+"},
      {info(Flavor::kElasticsearch, {7, 17, 29}), info(Flavor::kOpenSearch, {2, 19, 6}),
       "across flavors"},
      {info(Flavor::kOpenSearch, {2, 19, 6}), info(Flavor::kElasticsearch, {8, 19, 7}),
       "cannot read OpenSearch"},
      {info(Flavor::kElasticsearch, {8, 19, 7}), info(Flavor::kElasticsearch, {7, 17, 29}),
       "older version"},
  };
  for (const Row& r : rows) {
    Status st = check_snapshot_pair(r.p, r.s);
    ASSERT_FALSE(st.is_ok()) << r.why;
    const std::string msg = st.to_string();
    EXPECT_EQ(st.code(), Code::kFailedPrecondition) << msg;
    EXPECT_NE(msg.find(r.why), std::string::npos) << msg;
    EXPECT_NE(msg.find("--mode scan"), std::string::npos) << msg;
    EXPECT_NE(msg.find(r.p.version.to_string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(r.s.version.to_string()), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace tandem::backfill
