// RoleTable's fenced-flip steps (prepare / commit / abort / hold bound),
// no sockets. The cross-process behaviour is in tests/e2e/cutover_e2e_it.cc.
#include <gtest/gtest.h>

#include <thread>

#include "proxy/roles.h"

namespace tandem::proxy {
namespace {

using namespace std::chrono_literals;

RoleTable make_table(size_t max_held = 100) {
  return RoleTable(Endpoint{"blue", "http://b:9200"}, Endpoint{"green", "http://g:9200"}, Epoch(3),
                   max_held);
}

struct Held {
  std::vector<WriteLease> leases;
  int empty = 0;
  std::function<void(WriteLease)> cb() {
    return [this](WriteLease l) {
      if (l.held()) {
        leases.push_back(std::move(l));
      } else {
        ++empty;
      }
    };
  }
};

TEST(FlipTest, PrepareHoldsCommitSwapsAndReleasesToTheNewPrimary) {
  auto t = make_table();
  int flushed = 0;
  auto p = t.prepare_flip("f1", 100ms, 10s, [&] {
    ++flushed;
    return Status::ok();
  });
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(flushed, 1);
  EXPECT_EQ(p->primary.name, "blue");
  Held h;
  auto a = t.admit_write(h.cb());
  ASSERT_TRUE(a.is_ok());
  EXPECT_FALSE(a.value().has_value());  // held
  EXPECT_EQ(t.flip_status().step, FlipStep::kPrepared);
  EXPECT_EQ(t.flip_status().writes_held, 1u);
  // Prepare again (a coordinator retry) is idempotent.
  ASSERT_TRUE(t.prepare_flip("f1", 100ms, 10s, nullptr).is_ok());
  EXPECT_EQ(flushed, 1);
  // A different flip is refused while one is prepared; so is a plain switch.
  EXPECT_FALSE(t.prepare_flip("f2", 100ms, 10s, nullptr).is_ok());
  EXPECT_FALSE(t.switch_roles(10ms, nullptr).is_ok());
  // Wrong epoch refused, nothing released.
  auto bad = t.commit_flip("f1", Epoch(9), nullptr);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_TRUE(h.leases.empty());
  Epoch hook_epoch{0};
  std::string primary_when_released;
  auto c = t.commit_flip("f1", Epoch(4), [&](const RoleSnapshot& next) {
    hook_epoch = next.epoch;
    return Status::ok();
  });
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  EXPECT_EQ(hook_epoch, Epoch(4));
  EXPECT_EQ(c->after.primary.name, "green");
  EXPECT_EQ(c->writes_held, 1u);
  ASSERT_EQ(h.leases.size(), 1u);  // released after the swap
  EXPECT_EQ(t.snapshot()->primary.name, "green");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(4));
  // Commit again: the same report; abort after commit: refused.
  auto again = t.commit_flip("f1", Epoch(4), nullptr);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->after.epoch, Epoch(4));
  auto ab = t.abort_flip("f1");
  ASSERT_FALSE(ab.is_ok());
  EXPECT_EQ(ab.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(t.snapshot()->primary.name, "green");
  h.leases.clear();
}

TEST(FlipTest, AbortReleasesToTheUnchangedPrimary) {
  auto t = make_table();
  ASSERT_TRUE(t.prepare_flip("f1", 100ms, 10s, nullptr).is_ok());
  Held h;
  ASSERT_FALSE(t.admit_write(h.cb()).value().has_value());
  auto ab = t.abort_flip("f1");
  ASSERT_TRUE(ab.is_ok());
  EXPECT_EQ(ab->step, FlipStep::kAborted);
  EXPECT_EQ(h.leases.size(), 1u);
  EXPECT_EQ(t.snapshot()->primary.name, "blue");
  EXPECT_EQ(t.snapshot()->epoch, Epoch(3));
  EXPECT_FALSE(t.commit_flip("f1", Epoch(4), nullptr).is_ok());     // aborted stays aborted
  EXPECT_FALSE(t.prepare_flip("f1", 100ms, 10s, nullptr).is_ok());  // ids are single-use
  // Abort of a flip never prepared here is a no-op success.
  EXPECT_TRUE(t.abort_flip("never").is_ok());
  h.leases.clear();
  // Writes flow again.
  auto a = t.admit_write([](WriteLease) {});
  ASSERT_TRUE(a.is_ok() && a.value().has_value());
}

TEST(FlipTest, PrepareTimesOutWithAWriteInFlightAndChangesNothing) {
  auto t = make_table();
  auto in_flight = t.admit_write([](WriteLease) {});
  ASSERT_TRUE(in_flight.is_ok() && in_flight.value().has_value());
  auto p = t.prepare_flip("f1", 20ms, 10s, nullptr);
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), Code::kTimeout);
  EXPECT_FALSE(t.stats().switching);
  in_flight.value()->release();
}

TEST(FlipTest, FailedFlushAbortsThePrepare) {
  auto t = make_table();
  auto p =
      t.prepare_flip("f1", 20ms, 10s, [] { return Status(Code::kUnavailable, "kafka is down"); });
  ASSERT_FALSE(p.is_ok());
  EXPECT_NE(p.status().message().find("kafka is down"), std::string::npos);
  EXPECT_FALSE(t.stats().switching);
}

TEST(FlipTest, FailedCommitHookKeepsHolding) {
  auto t = make_table();
  ASSERT_TRUE(t.prepare_flip("f1", 20ms, 10s, nullptr).is_ok());
  Held h;
  ASSERT_FALSE(t.admit_write(h.cb()).value().has_value());
  auto c = t.commit_flip("f1", Epoch(4),
                         [](const RoleSnapshot&) { return Status(Code::kUnavailable, "x"); });
  ASSERT_FALSE(c.is_ok());
  // Never released to the old primary: still prepared, still holding.
  EXPECT_TRUE(h.leases.empty());
  EXPECT_EQ(t.flip_status().step, FlipStep::kPrepared);
  ASSERT_TRUE(t.commit_flip("f1", Epoch(4), nullptr).is_ok());
  EXPECT_EQ(h.leases.size(), 1u);
  h.leases.clear();
}

TEST(FlipTest, PastTheBoundHeldWritesGet503AndTheHoldStays) {
  auto t = make_table();
  ASSERT_TRUE(t.prepare_flip("f1", 20ms, 30ms, nullptr).is_ok());
  Held h;
  ASSERT_FALSE(t.admit_write(h.cb()).value().has_value());
  EXPECT_EQ(t.expire_held_past_bound(), 0u);  // not yet
  std::this_thread::sleep_for(40ms);
  EXPECT_EQ(t.expire_held_past_bound(), 1u);
  EXPECT_EQ(h.empty, 1);  // the session answers 503
  EXPECT_TRUE(h.leases.empty());
  auto late = t.admit_write(h.cb());
  ASSERT_FALSE(late.is_ok());
  EXPECT_EQ(late.status().code(), Code::kUnavailable);
  EXPECT_TRUE(t.flip_status().past_bound);
  EXPECT_EQ(t.flip_status().rejected_past_bound, 2u);
  EXPECT_EQ(t.snapshot()->primary.name, "blue");  // it did not guess
  ASSERT_TRUE(t.commit_flip("f1", Epoch(4), nullptr).is_ok());
  auto after = t.admit_write([](WriteLease) {});
  ASSERT_TRUE(after.is_ok() && after.value().has_value());
  EXPECT_EQ(t.snapshot()->primary.name, "green");
}

}  // namespace
}  // namespace tandem::proxy
