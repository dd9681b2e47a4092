// compare.last: what `tandem compare --state` records and the cutover's
// query-match gate reads back, typed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "state/state.h"
#include "verify/verify.h"

namespace tandem::verify {
namespace {

std::string temp_store_path() {
  auto dir = std::filesystem::temp_directory_path() /
             ("tandem-compare-record-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "state.db").string();
}

TEST(CompareRecord, RoundTripsThroughTheStateStore) {
  const std::string path = temp_store_path();
  auto store = state::open_store(path);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  auto none = last_compare(**store);
  ASSERT_TRUE(none.is_ok());
  EXPECT_FALSE(none->has_value());

  CompareReport r;
  r.total = 12;
  r.skipped = 1;
  r.lagging = 1;
  r.matched = 9;
  r.mismatched = 1;
  ASSERT_TRUE(record_compare(**store, r, 1234).is_ok());
  auto got = last_compare(**store);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->time_ms, 1234);
  EXPECT_EQ((*got)->queries, 11);
  EXPECT_DOUBLE_EQ((*got)->match_rate, 90.0);
  EXPECT_EQ((*got)->mismatched, 1);
  EXPECT_EQ((*got)->lagging, 1);

  ASSERT_TRUE((*store)->put("compare.last", "{\"oops\":1}").is_ok());
  auto bad = last_compare(**store);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_NE(bad.status().message().find("compare.last"), std::string::npos);
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace tandem::verify
