#include "core/status.h"

#include <gtest/gtest.h>

#include "core/types.h"

namespace tandem {
namespace {

Result<int> half(int x) {
  if (x % 2) return error(Code::kInvalidArgument, "odd: " + std::to_string(x));
  return x / 2;
}

Result<int> quarter(int x) {
  TANDEM_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

TEST(Status, ContextPrependsWhatFailed) {
  Status s = error(Code::kIo, "disk full").context("log segment p0/000.seg");
  EXPECT_EQ(s.message(), "log segment p0/000.seg: disk full");
  EXPECT_EQ(s.to_string(), "io_error: log segment p0/000.seg: disk full");
}

TEST(Status, AssignOrReturnPropagatesFirstError) {
  EXPECT_EQ(quarter(8).value(), 2);
  auto r = quarter(6);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

TEST(Types, ExternalVersionEpochDominatesSeqNo) {
  EXPECT_EQ(external_version(Epoch{0}, SeqNo{0}), 1u);
  EXPECT_LT(external_version(Epoch{0}, SeqNo{kMaxSeqNo}), external_version(Epoch{1}, SeqNo{0}));
  EXPECT_LT(external_version(Epoch{1}, SeqNo{5}), external_version(Epoch{1}, SeqNo{6}));
}

}  // namespace
}  // namespace tandem
