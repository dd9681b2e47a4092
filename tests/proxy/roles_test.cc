// RoleTable: the role switch state machine and its write gate, no sockets.
#include "proxy/roles.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace tandem::proxy {
namespace {

using namespace std::chrono_literals;

RoleTable make_table(size_t max_held = 100) {
  return RoleTable(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(3),
                   max_held);
}

TEST(RoleTableTest, StartsWithConfiguredRoles) {
  auto t = make_table();
  auto s = t.snapshot();
  EXPECT_EQ(s->primary.name, "blue");
  EXPECT_EQ(s->secondary.name, "green");
  EXPECT_EQ(s->epoch, Epoch(3));
  EXPECT_EQ(t.generation(), 0u);
}

TEST(RoleTableTest, SwitchSwapsRolesAndBumpsEpoch) {
  auto t = make_table();
  Epoch seen{0};
  auto r = t.switch_roles(100ms, [&](const RoleSnapshot& next) {
    seen = next.epoch;
    return Status::ok();
  });
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(seen, Epoch(4));
  EXPECT_EQ(t.snapshot()->primary.name, "green");
  EXPECT_EQ(t.snapshot()->secondary.name, "blue");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(4));
  EXPECT_EQ(t.generation(), 1u);
  EXPECT_EQ(r->before.primary.name, "blue");
  EXPECT_EQ(r->after.primary.name, "green");
  // And back (rollback is one more switch).
  ASSERT_TRUE(t.switch_roles(100ms, nullptr).is_ok());
  EXPECT_EQ(t.snapshot()->primary.name, "blue");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(5));
  EXPECT_EQ(t.stats().switches, 2u);
}

TEST(RoleTableTest, AdmitsImmediatelyWhenNotSwitching) {
  auto t = make_table();
  auto a = t.admit_write([](WriteLease) { FAIL() << "must not queue"; });
  ASSERT_TRUE(a.is_ok());
  ASSERT_TRUE(a.value().has_value());
  EXPECT_EQ(t.stats().writes_in_flight, 1);
  a.value()->release();
  EXPECT_EQ(t.stats().writes_in_flight, 0);
}

TEST(RoleTableTest, SwitchTimesOutWithWriteInFlightAndChangesNothing) {
  auto t = make_table();
  auto a = t.admit_write(nullptr);
  ASSERT_TRUE(a.is_ok() && a.value().has_value());
  bool hook_ran = false;
  auto r = t.switch_roles(30ms, [&](const RoleSnapshot&) {
    hook_ran = true;
    return Status::ok();
  });
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kTimeout);
  EXPECT_NE(r.status().message().find("1 write(s) still in flight"), std::string::npos);
  EXPECT_FALSE(hook_ran);
  EXPECT_EQ(t.snapshot()->primary.name, "blue");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(3));
  EXPECT_FALSE(t.stats().switching);
}

TEST(RoleTableTest, SwitchWaitsForInFlightWriteThenProceeds) {
  auto t = make_table();
  auto a = t.admit_write(nullptr);
  ASSERT_TRUE(a.is_ok() && a.value().has_value());
  WriteLease lease = std::move(*a.value());
  std::thread releaser([&] {
    std::this_thread::sleep_for(50ms);
    lease.release();
  });
  auto r = t.switch_roles(5s, nullptr);
  releaser.join();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_GE(r->held, 40ms);
  EXPECT_EQ(t.snapshot()->primary.name, "green");
}

TEST(RoleTableTest, WritesArrivingDuringSwitchAreHeldThenReleasedToNewPrimary) {
  auto t = make_table();
  std::atomic<int> resumed{0};
  std::string primary_at_resume;
  std::vector<WriteLease> leases;
  auto r = t.switch_roles(1s, [&](const RoleSnapshot&) {
    // Writes arriving now are held: nothing may be in flight during the hook.
    for (int i = 0; i < 3; ++i) {
      auto a = t.admit_write([&](WriteLease l) {
        primary_at_resume = t.snapshot()->primary.name;
        resumed++;
        leases.push_back(std::move(l));
      });
      EXPECT_TRUE(a.is_ok());
      EXPECT_FALSE(a.value().has_value());
    }
    EXPECT_EQ(t.stats().writes_held, 3u);
    EXPECT_EQ(t.stats().writes_in_flight, 0);
    return Status::ok();
  });
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->writes_held, 3u);
  EXPECT_EQ(resumed.load(), 3);
  EXPECT_EQ(primary_at_resume, "green");
  EXPECT_EQ(t.stats().writes_in_flight, 3);
  leases.clear();
  EXPECT_EQ(t.stats().writes_in_flight, 0);
}

TEST(RoleTableTest, HeldQueueIsBounded) {
  auto t = make_table(/*max_held=*/1);
  auto r = t.switch_roles(1s, [&](const RoleSnapshot&) {
    auto a1 = t.admit_write([](WriteLease) {});
    EXPECT_TRUE(a1.is_ok());
    auto a2 = t.admit_write([](WriteLease) {});
    EXPECT_FALSE(a2.is_ok());
    EXPECT_EQ(a2.status().code(), Code::kUnavailable);
    return Status::ok();
  });
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(t.stats().rejected_while_held, 1u);
}

TEST(RoleTableTest, HookFailureAbortsAndReleasesHeldWritesToOldPrimary) {
  auto t = make_table();
  std::string resumed_primary;
  WriteLease kept;
  auto r = t.switch_roles(1s, [&](const RoleSnapshot&) {
    auto a = t.admit_write([&](WriteLease l) {
      resumed_primary = t.snapshot()->primary.name;
      kept = std::move(l);
    });
    EXPECT_TRUE(a.is_ok());
    return error(Code::kFailedPrecondition, "capture cannot change epoch");
  });
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("roles unchanged"), std::string::npos);
  EXPECT_NE(r.status().message().find("capture cannot change epoch"), std::string::npos);
  EXPECT_EQ(resumed_primary, "blue");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(3));
  EXPECT_TRUE(kept.held());
}

TEST(RoleTableTest, ConcurrentSwitchIsRefused) {
  auto t = make_table();
  auto r = t.switch_roles(1s, [&](const RoleSnapshot&) {
    auto inner = t.switch_roles(10ms, nullptr);
    EXPECT_FALSE(inner.is_ok());
    EXPECT_EQ(inner.status().code(), Code::kFailedPrecondition);
    return Status::ok();
  });
  EXPECT_TRUE(r.is_ok());
}

TEST(RoleTableTest, ManyThreadsNeverStraddleASwitch) {
  // Writers record the epoch at admission and at release; a switch must
  // never happen between the two.
  auto t = make_table(100000);
  std::atomic<bool> stop{false};
  std::atomic<int> straddles{0}, writes{0};
  std::vector<std::thread> writers;
  for (int i = 0; i < 4; ++i) {
    writers.emplace_back([&] {
      while (!stop) {
        auto a = t.admit_write([&](WriteLease l) {
          // Resumed on the switching thread: check and release right away.
          l.release();
          writes++;
        });
        if (!a.is_ok() || !a.value()) continue;
        const auto e0 = t.snapshot()->epoch;
        std::this_thread::yield();
        if (t.snapshot()->epoch != e0) straddles++;
        a.value()->release();
        writes++;
      }
    });
  }
  // Interleave for real: each switch waits (bounded) until writers made
  // progress, else on a busy machine all switches can finish before any
  // writer thread is scheduled and the test checks nothing.
  auto wait_for_progress = [&] {
    const int seen = writes.load();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (writes.load() == seen && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  };
  for (int i = 0; i < 20; ++i) {
    wait_for_progress();
    auto r = t.switch_roles(2s, nullptr);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(straddles.load(), 0);
  EXPECT_GT(writes.load(), 0);
  EXPECT_EQ(t.snapshot()->epoch, Epoch(23));
  EXPECT_EQ(t.stats().writes_in_flight, 0);
}

}  // namespace
}  // namespace tandem::proxy
