// Store::compare_and_put: the atomic step the cutover lock is built on,
// including across two connections to one file (two processes).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "state/state.h"

namespace tandem::state {
namespace {

TEST(CompareAndPut, AbsentPresentAndAcrossConnections) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tandem-cas-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "s.db").string();
  auto a = open_store(path);
  auto b = open_store(path);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  auto r = (*a)->compare_and_put("k", std::nullopt, "1");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(*r);
  r = (*b)->compare_and_put("k", std::nullopt, "2");  // present: refused
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(*r);
  r = (*b)->compare_and_put("k", std::string_view("x"), "2");  // wrong expectation
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(*r);
  r = (*b)->compare_and_put("k", std::string_view("1"), "2");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(*r);
  auto v = (*a)->get("k");
  ASSERT_TRUE(v.is_ok() && v->has_value());
  EXPECT_EQ(**v, "2");
  r = (*a)->compare_and_put("k", std::string_view("1"), "3");  // stale expectation
  ASSERT_TRUE(r.is_ok());
  EXPECT_FALSE(*r);
  a->reset();
  b->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tandem::state
