// Log::reclaim_before on the file log: whole sealed segments below the
// given offset go, nothing at or above it, never the active segment.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "log/file_log_format.h"
#include "log/file_log_test_util.h"
#include "log/log.h"

namespace tandem::log {
namespace {

using testing::append_and_wait;
using testing::must_open;
using testing::open_consumer;
using testing::options;
using testing::read_n;
using testing::segment_files;
using testing::TmpDir;

std::vector<int64_t> bases(const std::string& dir) {
  std::vector<int64_t> out;
  for (const auto& f : segment_files(dir, 0)) {
    out.push_back(
        file_log_format::parse_segment_file_name(std::filesystem::path(f).filename().string()));
  }
  return out;
}

void fill(Log& log, int n) {
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < n; ++i) kvs.emplace_back("k", std::string(100, 'r') + std::to_string(i));
  append_and_wait(log, kvs);
}

TEST(FileLogReclaim, DeletesOnlySegmentsWhollyBelowTheOffset) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  auto log = must_open(o);
  fill(*log, 200);
  const auto all = bases(dir.path());
  ASSERT_GE(all.size(), 4u);

  // Below the end of the first segment: nothing to delete.
  auto none = log->reclaim_before(Partition(0), Offset(all[1] - 1));
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_EQ(*none, 0);
  EXPECT_EQ(bases(dir.path()), all);

  // Exactly at the third segment's base: the first two go.
  auto two = log->reclaim_before(Partition(0), Offset(all[2]));
  ASSERT_TRUE(two.is_ok());
  EXPECT_EQ(*two, all[2]);
  EXPECT_EQ(bases(dir.path()), std::vector<int64_t>(all.begin() + 2, all.end()));
  EXPECT_EQ((*log->begin_offsets())[0].get(), all[2]);

  // Inside a segment: it stays, with the records at and above the offset.
  const int64_t mid = all[3] + 1;
  ASSERT_TRUE(log->reclaim_before(Partition(0), Offset(mid)).is_ok());
  EXPECT_EQ(bases(dir.path()).front(), all[3]);
  auto c = open_consumer(*log, "g");
  ASSERT_TRUE(c->seek(Partition(0), Offset(mid)).is_ok());
  auto got = read_n(*c, 1000);
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(static_cast<int64_t>(got->size()), 200 - mid);
  EXPECT_EQ(got->front().offset.get(), mid);

  // Past the end: everything but the active segment; appends go on.
  ASSERT_TRUE(log->reclaim_before(Partition(0), Offset(1'000'000)).is_ok());
  EXPECT_EQ(bases(dir.path()), std::vector<int64_t>{all.back()});
  fill(*log, 10);
  EXPECT_EQ((*log->end_offsets())[0].get(), 210);
}

TEST(FileLogReclaim, SurvivesReopenAndNamesABadPartition) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  int64_t begin = 0;
  {
    auto log = must_open(o);
    fill(*log, 100);
    ASSERT_TRUE(log->reclaim_before(Partition(0), Offset(60)).is_ok());
    begin = (*log->begin_offsets())[0].get();
    EXPECT_GT(begin, 0);
    EXPECT_LE(begin, 60);
    auto bad = log->reclaim_before(Partition(3), Offset(1));
    ASSERT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(dir.path()), std::string::npos);
  }
  auto log = must_open(o);
  EXPECT_EQ((*log->begin_offsets())[0].get(), begin);
  EXPECT_EQ((*log->end_offsets())[0].get(), 100);
  auto c = open_consumer(*log, "fresh");
  auto got = read_n(*c, 1000);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(static_cast<int64_t>(got->size()), 100 - begin);
}

}  // namespace
}  // namespace tandem::log
