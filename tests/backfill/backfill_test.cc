#include <gtest/gtest.h>

#include <thread>

#include "backfill/backfill.h"
#include "backfill/progress.h"

namespace tandem::backfill {
namespace {

using Clock = std::chrono::steady_clock;

TEST(Throttle, HoldsTheRate) {
  Throttle t(2000);
  auto t0 = Clock::now();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.acquire(100, nullptr));
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(s, 0.45);  // 1000 docs at 2000/s from an empty bucket
  EXPECT_LT(s, 2.0);
}

TEST(Throttle, SharedByThreads) {
  Throttle t(4000);
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int k = 0; k < 4; ++k) {
    ts.emplace_back([&] {
      for (int i = 0; i < 5; ++i) t.acquire(100, nullptr);
    });
  }
  for (auto& th : ts) th.join();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(s, 0.45);  // 2000 docs at 4000/s
}

TEST(Throttle, ZeroMeansUnlimitedAndStopInterrupts) {
  Throttle none(0);
  auto t0 = Clock::now();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(none.acquire(1000, nullptr));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 0.5);
  Throttle slow(1);
  std::atomic<bool> stop{false};
  std::thread th([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop = true;
  });
  t0 = Clock::now();
  EXPECT_FALSE(slow.acquire(1000, &stop));  // would take 1000 s
  th.join();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.0);
}

TEST(Progress, StructuredLine) {
  IndexProgress p;
  p.index = "products";
  p.total = 50000;
  p.slices = 4;
  p.docs = 12000;
  p.docs_this_run = 12000;
  p.slices_done = 2;
  EXPECT_EQ(progress_line(p, 1.5),
            "backfill index=products slices=2/4 docs=12000/50000 rate=8000/s eta=5s");
  p.finished = true;
  EXPECT_NE(progress_line(p, 1.5).find("eta=0s"), std::string::npos);
}

TEST(Progress, BarAndEta) {
  IndexProgress p;
  p.index = "logs";
  p.total = 100;
  p.docs = 50;
  p.docs_this_run = 50;
  std::string bar = progress_bar(p, 10, 10);
  EXPECT_NE(bar.find("[#####.....]"), std::string::npos) << bar;
  EXPECT_NE(bar.find("50%"), std::string::npos) << bar;
  EXPECT_EQ(format_eta(-1), "?");
  EXPECT_EQ(format_eta(59), "59s");
  EXPECT_EQ(format_eta(61), "1m01s");
  EXPECT_EQ(format_eta(3700), "1h01m");
}

TEST(Progress, PrinterStructuredSkipsIdleAndPrintsFinishedOnce) {
  std::vector<std::string> out;
  ProgressPrinter pr(false, [&](std::string_view l) { out.emplace_back(l); });
  IndexProgress a, b;
  a.index = "a";
  a.started = true;
  b.index = "b";  // not started: not printed
  pr.render({&a, &b}, false);
  ASSERT_EQ(out.size(), 1u);
  a.finished = true;
  pr.render({&a, &b}, false);
  EXPECT_EQ(out.size(), 1u);
  pr.render({&a, &b}, true);
  EXPECT_EQ(out.size(), 2u);
}

TEST(Report, SummaryAndOk) {
  Report r;
  IndexReport a;
  a.index = IndexName("a");
  a.total = 10;
  a.docs = 10;
  r.indices.push_back(a);
  EXPECT_TRUE(r.ok());
  IndexReport b;
  b.index = IndexName("b");
  b.error = "index 'b' disappeared from cluster 'blue' during the backfill (deleted?)";
  r.indices.push_back(b);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.summary().find("1 failed of 2"), std::string::npos) << r.summary();
  EXPECT_NE(r.summary().find("FAILED: index 'b'"), std::string::npos);
}

}  // namespace
}  // namespace tandem::backfill
