#include <gtest/gtest.h>

#include "apply/retry.h"

namespace tandem::load {
namespace {

es::BulkItem item(std::string op, int status, std::string type = "") {
  es::BulkItem it;
  it.op = std::move(op);
  it.status = status;
  it.error_type = std::move(type);
  return it;
}

TEST(ClassifyItem, Table) {
  EXPECT_EQ(classify_item(item("index", 201)), ItemClass::kDone);
  EXPECT_EQ(classify_item(item("index", 200)), ItemClass::kDone);
  EXPECT_EQ(classify_item(item("delete", 404)), ItemClass::kDone);  // tombstone written
  EXPECT_EQ(classify_item(item("index", 409, "version_conflict_engine_exception")),
            ItemClass::kAlreadyNewer);
  EXPECT_EQ(classify_item(item("delete", 409, "version_conflict_engine_exception")),
            ItemClass::kAlreadyNewer);
  EXPECT_EQ(classify_item(item("index", 404, "index_not_found_exception")),
            ItemClass::kIndexMissing);
  EXPECT_EQ(classify_item(item("delete", 404, "index_not_found_exception")),
            ItemClass::kIndexMissing);
  EXPECT_EQ(classify_item(item("index", 429, "es_rejected_execution_exception")),
            ItemClass::kRetry);
  EXPECT_EQ(classify_item(item("index", 503, "unavailable_shards_exception")), ItemClass::kRetry);
  EXPECT_EQ(classify_item(item("index", 500)), ItemClass::kRetry);
  EXPECT_EQ(classify_item(item("index", 403, "cluster_block_exception")), ItemClass::kRetry);
  EXPECT_EQ(classify_item(item("index", 400, "mapper_parsing_exception")), ItemClass::kPermanent);
  EXPECT_EQ(classify_item(item("index", 400, "illegal_argument_exception")), ItemClass::kPermanent);
  EXPECT_EQ(classify_item(item("index", 404, "routing_missing_exception")), ItemClass::kPermanent);
}

TEST(IsRetryable, RequestLevel) {
  EXPECT_TRUE(is_retryable(Status(Code::kUnavailable, "connection refused")));
  EXPECT_TRUE(is_retryable(Status(Code::kTimeout, "deadline")));
  EXPECT_TRUE(is_retryable(Status(Code::kUnavailable, "x").with_http_status(429)));
  EXPECT_TRUE(is_retryable(Status(Code::kUnavailable, "x").with_http_status(503)));
  EXPECT_TRUE(is_retryable(Status(Code::kInternal, "x").with_http_status(500)));
  EXPECT_FALSE(is_retryable(Status(Code::kUnauthorized, "x").with_http_status(401)));
  EXPECT_FALSE(is_retryable(Status(Code::kInvalidArgument, "x").with_http_status(400)));
  EXPECT_FALSE(is_retryable(Status(Code::kTls, "bad cert")));
  EXPECT_FALSE(is_retryable(Status::ok()));
}

TEST(Backoff, GrowsWithJitterAndIsCapped) {
  Backoff b(BackoffPolicy{std::chrono::milliseconds(100), std::chrono::milliseconds(1600)}, 42);
  int64_t prev_cap = 0;
  for (int i = 0; i < 12; ++i) {
    int64_t cap = std::min<int64_t>(100LL << i, 1600);
    auto d = b.next().count();
    EXPECT_GE(d, cap / 2) << "attempt " << i;
    EXPECT_LE(d, cap) << "attempt " << i;
    EXPECT_GE(cap, prev_cap);
    prev_cap = cap;
  }
  EXPECT_EQ(b.attempts(), 12);
  b.reset();
  EXPECT_LE(b.next().count(), 100);
}

TEST(Backoff, JitterSpreadsDifferentSeeds) {
  std::set<int64_t> seen;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Backoff b(BackoffPolicy{std::chrono::milliseconds(1000), std::chrono::milliseconds(60000)},
              seed);
    b.next();
    seen.insert(b.next().count());
  }
  EXPECT_GT(seen.size(), 5u);
}

}  // namespace
}  // namespace tandem::load
