// EventSink: deadline -> spill, spill failure -> fail-closed, recovery and
// draining, with a fake main log that fails on demand and a real file log
// as the spill journal.
#include "proxy/durability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "capture_testdata.h"

namespace tandem::proxy {
namespace {

using proxy::testing::eventually;
using proxy::testing::FakeLog;
using namespace std::chrono_literals;

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("tandem-dur-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

std::vector<event::ChangeEvent> events(int n, const std::string& index = "i") {
  std::vector<event::ChangeEvent> out;
  for (int k = 0; k < n; ++k) {
    event::ChangeEvent e;
    e.op = event::Op::kIndex;
    e.index = IndexName(index);
    e.id = DocId("doc" + std::to_string(k));
    e.seq_no = SeqNo(k);
    e.primary_term = PrimaryTerm(1);
    e.source = "{\"k\":" + std::to_string(k) + "}";
    out.push_back(std::move(e));
  }
  return out;
}

SinkOptions fast(const std::string& spill_dir) {
  SinkOptions o;
  o.log_deadline = 150ms;
  o.spill_deadline = 1000ms;
  o.probe_interval = 50ms;
  o.spill_dir = spill_dir;
  return o;
}

// A spill factory that hands out a log the test keeps a handle on.
struct SpillHandle {
  FakeLog* log = nullptr;
  std::function<Result<std::unique_ptr<log::Log>>()> factory() {
    return [this]() -> Result<std::unique_ptr<log::Log>> {
      auto l = std::make_unique<FakeLog>();
      log = l.get();
      log->set_mode(FakeLog::Mode::kFail);
      return std::unique_ptr<log::Log>(std::move(l));
    };
  }
};

TEST(Durability, AckedBatchSettlesDurable) {
  FakeLog main;
  auto sink = EventSink::start(fast(temp_dir("ack")), &main);
  ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
  EXPECT_TRUE((*sink)->publish_and_wait(events(5)));
  auto s = (*sink)->stats();
  EXPECT_EQ(s.published, 5u);
  EXPECT_EQ(s.logged, 5u);
  EXPECT_EQ(s.spilled, 0u);
  EXPECT_EQ(s.inflight, 0u);
  EXPECT_TRUE(s.spill_open);
  EXPECT_EQ(main.records().size(), 5u);
  auto e = event::decode(main.records()[3].value);
  ASSERT_TRUE(e.is_ok());
  EXPECT_EQ(e->id.get(), "doc3");
}

// Issue 14: one request, one partition, one log round trip. A 100-event
// batch whose keys alone would spread over all 8 partitions of a real file
// log lands in one partition, each record still keyed by its document.
TEST(Durability, OneRequestsEventsShareOnePartition) {
  const std::string dir = temp_dir("one-partition");
  log::FileLogOptions fo;
  fo.dir = dir + "/main";
  fo.partitions = 8;
  auto main = log::open_file_log(fo);
  ASSERT_TRUE(main.is_ok()) << main.status().to_string();
  auto sink = EventSink::start(fast(dir + "/spill"), main->get());
  ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
  auto evs = events(100);
  std::set<int32_t> by_key;
  for (const auto& e : evs) by_key.insert(event::partition_for(event::partition_key(e), 8));
  ASSERT_GT(by_key.size(), 4u);
  EXPECT_TRUE((*sink)->publish_and_wait(evs));
  auto ends = (*main)->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  const int32_t want = event::partition_for(event::partition_key(evs[0]), 8);
  for (int32_t p = 0; p < 8; ++p) {
    EXPECT_EQ((*ends)[p].get(), p == want ? 100 : 0) << "partition " << p;
  }
  auto c = (*main)->consumer("check");
  ASSERT_TRUE(c.is_ok());
  auto got = (*c)->poll(200, 2s);
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(got->size(), 100u);
  for (size_t i = 0; i < got->size(); ++i) {
    auto e = event::decode((*got)[i].value);
    ASSERT_TRUE(e.is_ok());
    EXPECT_EQ((*got)[i].key, event::partition_key(*e)) << "records keep their document key";
  }
}

TEST(Durability, RefusedEventsSpillThenDrainWhenTheLogRecovers) {
  FakeLog main;
  main.set_mode(FakeLog::Mode::kFail);
  auto sink = EventSink::start(fast(temp_dir("spill")), &main);
  ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
  EXPECT_TRUE((*sink)->publish_and_wait(events(20)));
  EXPECT_EQ((*sink)->stats().spilled, 20u);
  EXPECT_TRUE((*sink)->accepting());
  EXPECT_TRUE(main.records().empty());
  main.set_mode(FakeLog::Mode::kAck);
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 20; }))
      << (*sink)->stats().last_error;
  EXPECT_EQ(main.records().size(), 20u);
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
}

TEST(Durability, SpilledEventsSurviveARestartAndDrainLater) {
  std::string dir = temp_dir("restart");
  {
    FakeLog down;
    down.set_mode(FakeLog::Mode::kFail);
    auto sink = EventSink::start(fast(dir), &down);
    ASSERT_TRUE(sink.is_ok());
    EXPECT_TRUE((*sink)->publish_and_wait(events(7)));
  }
  FakeLog up;
  auto sink = EventSink::start(fast(dir), &up);
  ASSERT_TRUE(sink.is_ok());
  ASSERT_TRUE(eventually([&] { return up.records().size() == 7; }));
}

TEST(Durability, SlowLogSpillsAtTheDeadline) {
  FakeLog main;
  main.set_mode(FakeLog::Mode::kHang);
  auto sink = EventSink::start(fast(temp_dir("slow")), &main);
  ASSERT_TRUE(sink.is_ok());
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE((*sink)->publish_and_wait(events(3)));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 2000ms);
  EXPECT_EQ((*sink)->stats().spilled, 3u);
  // The late acks are harmless: the events are in both places (the drainer
  // may also have handed the spilled copies to the hung log: duplicates,
  // which external versions make idempotent).
  main.release_held(true);
  EXPECT_GE(main.records().size(), 3u);
}

TEST(Durability, LogAndSpillDownIsFailClosedUntilRecovery) {
  FakeLog main;
  main.set_mode(FakeLog::Mode::kFail);
  SpillHandle spill;
  SinkOptions o = fast("");
  o.open_spill = spill.factory();
  auto sink = EventSink::start(o, &main);
  ASSERT_TRUE(sink.is_ok());
  ASSERT_NE(spill.log, nullptr);
  EXPECT_FALSE((*sink)->publish_and_wait(events(4)));
  auto s = (*sink)->stats();
  EXPECT_TRUE(s.fail_closed);
  EXPECT_EQ(s.stranded, 4u);
  EXPECT_FALSE((*sink)->accepting());
  EXPECT_NE((*sink)->fail_reason().find("spill journal"), std::string::npos);
  // Still down: the prober keeps them.
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE((*sink)->accepting());
  // The spill journal recovers first: the stranded events land there.
  spill.log->set_mode(FakeLog::Mode::kAck);
  ASSERT_TRUE(eventually([&] { return (*sink)->accepting(); }));
  EXPECT_EQ(spill.log->records().size(), 4u);
}

TEST(Durability, SpillThatCannotOpenAndLogDownIsFailClosed) {
  FakeLog main;
  main.set_mode(FakeLog::Mode::kFail);
  SinkOptions o = fast("");
  std::atomic<int> attempts{0};
  o.open_spill = [&]() -> Result<std::unique_ptr<log::Log>> {
    ++attempts;
    return error(Code::kIo, "spill dir /nope: permission denied");
  };
  auto sink = EventSink::start(o, &main);
  ASSERT_TRUE(sink.is_ok());
  EXPECT_FALSE((*sink)->stats().spill_open);
  EXPECT_TRUE((*sink)->accepting());  // the main log may well be fine
  EXPECT_FALSE((*sink)->publish_and_wait(events(2)));
  EXPECT_FALSE((*sink)->accepting());
  EXPECT_TRUE(eventually([&] { return attempts.load() >= 3; }));  // probing
  main.set_mode(FakeLog::Mode::kAck);
  ASSERT_TRUE(eventually([&] { return (*sink)->accepting(); }));
  EXPECT_EQ(main.records().size(), 2u);
  EXPECT_EQ((*sink)->stats().stranded, 0u);
}

TEST(Durability, UnwritableSpillDirectory) {
  // A directory below a regular file can't be created, even by root
  // (who ignores permission bits).
  std::string base = temp_dir("unwritable");
  std::string file = base + "/a-file";
  { std::ofstream(file) << "x"; }
  FakeLog main;
  main.set_mode(FakeLog::Mode::kFail);
  SinkOptions o = fast(file + "/spill");
  auto sink = EventSink::start(o, &main);
  ASSERT_TRUE(sink.is_ok());
  EXPECT_FALSE((*sink)->stats().spill_open);
  EXPECT_FALSE((*sink)->publish_and_wait(events(1)));
  EXPECT_FALSE((*sink)->accepting());
  EXPECT_NE((*sink)->stats().last_error.find(file), std::string::npos)
      << (*sink)->stats().last_error;
}

TEST(Durability, DestructorWaitsForHungBatchesBoundedByDeadlines) {
  FakeLog main;
  main.set_mode(FakeLog::Mode::kHang);
  std::promise<bool> settled;
  auto t0 = std::chrono::steady_clock::now();
  {
    auto sink = EventSink::start(fast(temp_dir("dtor")), &main);
    ASSERT_TRUE(sink.is_ok());
    (*sink)->publish(events(2), [&](bool ok) { settled.set_value(ok); });
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3000ms);
  auto f = settled.get_future();
  ASSERT_EQ(f.wait_for(0ms), std::future_status::ready);
  EXPECT_TRUE(f.get());     // spilled
  main.release_held(true);  // late callbacks after the sink is gone: no crash
}

TEST(Durability, ConcurrentPublishers) {
  FakeLog main;
  auto sink = EventSink::start(fast(temp_dir("conc")), &main);
  ASSERT_TRUE(sink.is_ok());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 50; ++k) {
        if ((*sink)->publish_and_wait(events(3, "i" + std::to_string(t)))) ++ok;
        if (k == 25 && t == 0) main.set_mode(FakeLog::Mode::kFail);
        if (k == 40 && t == 0) main.set_mode(FakeLog::Mode::kAck);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 200);
  auto s = (*sink)->stats();
  EXPECT_EQ(s.logged + s.spilled, 600u);
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == s.spilled; }));
  EXPECT_EQ(main.records().size(), 600u);
}

// ---- spill reclaim -------------------------------------------------------------

// A main log that acknowledges `budget` more records, then fails the rest
// (appends come from one thread at a time: the live path, then the drainer).
class BudgetLog : public FakeLog {
 public:
  std::atomic<int64_t> budget{0};
  void append(std::vector<log::AppendRecord> batch) override {
    std::vector<log::AppendRecord> ok, refused;
    for (auto& r : batch) (budget.fetch_sub(1) > 0 ? ok : refused).push_back(std::move(r));
    set_mode(Mode::kAck);
    FakeLog::append(std::move(ok));
    set_mode(Mode::kFail);
    FakeLog::append(std::move(refused));
  }
};

// Base offsets of the spill journal's segment files, ascending.
std::vector<int64_t> segments(const std::string& spill_dir) {
  std::vector<int64_t> out;
  for (const auto& e : std::filesystem::directory_iterator(spill_dir + "/p0")) {
    const std::string name = e.path().filename().string();
    if (name.size() == 24 && name.substr(20) == ".seg")
      out.push_back(std::stoll(name.substr(0, 20)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<event::ChangeEvent> padded_events(int n) {
  auto out = events(n);
  for (auto& e : out) e.source = "{\"pad\":\"" + std::string(300, 'p') + "\"}";
  return out;
}

SinkOptions small_segments(const std::string& dir) {
  SinkOptions o = fast(dir);
  o.spill_segment_bytes = 4096;  // ~10 events a segment
  o.drain_batch = 25;
  return o;
}

// A run whose main log is down throughout: `n` padded events go to the
// spill journal in `dir` (small segments) and stay there.
void spill_while_log_down(const std::string& dir, int n) {
  FakeLog down;
  down.set_mode(FakeLog::Mode::kFail);
  auto sink = EventSink::start(small_segments(dir), &down);
  ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
  ASSERT_TRUE((*sink)->publish_and_wait(padded_events(n)));
}

TEST(Durability, DrainedSpillSegmentsAreDeletedNeverBefore) {
  const std::string dir = temp_dir("reclaim");
  BudgetLog main;  // budget 0: refuses everything
  auto sink = EventSink::start(small_segments(dir), &main);
  ASSERT_TRUE(sink.is_ok()) << sink.status().to_string();
  ASSERT_TRUE((*sink)->publish_and_wait(padded_events(200)));
  ASSERT_EQ((*sink)->stats().spilled, 200u);
  const std::vector<int64_t> all = segments(dir);
  ASSERT_GE(all.size(), 10u);
  EXPECT_EQ(all.front(), 0);

  // The main log is down: the drainer tries (and fails) for a while; not one
  // segment may go.
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 200; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(segments(dir), all);
  EXPECT_EQ((*sink)->stats().reclaimed, 0u);

  // It takes 60 events, then fails again: two batches of 25 are committed,
  // the third is not (its first 10 events reached the log: duplicates
  // later, harmless). Only segments wholly below offset 50 may go.
  main.budget = 60;
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 50; }));
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().reclaimed > 0; }));
  std::this_thread::sleep_for(300ms);  // more failed attempts change nothing
  auto s = (*sink)->stats();
  EXPECT_EQ(s.drained, 50u);
  auto left = segments(dir);
  ASSERT_FALSE(left.empty());
  EXPECT_GT(left.front(), 0);
  EXPECT_LE(left.front(), 50) << "a segment with undrained events was deleted";
  EXPECT_EQ(static_cast<int64_t>(s.reclaimed), left.front());
  EXPECT_EQ(left.back(), all.back());
  for (int64_t base : left) EXPECT_TRUE(std::count(all.begin(), all.end(), base)) << base;
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 150; }));
  EXPECT_EQ(main.records().size(), 60u);

  // The log recovers: everything drains, only the active segment stays.
  main.budget = 1'000'000;
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 200; }))
      << (*sink)->stats().last_error;
  ASSERT_TRUE(eventually([&] { return segments(dir).size() == 1; }));
  EXPECT_EQ(segments(dir).front(), all.back());
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
  // Every spilled event reached the main log (10 of them twice).
  std::set<std::string> ids;
  for (const auto& r : main.records()) ids.insert(event::decode(r.value)->id.get());
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(main.records().size(), 210u);
}

TEST(Durability, ReclaimAfterRestartAndSpillKeepsWorking) {
  const std::string dir = temp_dir("reclaim-restart");
  ASSERT_NO_FATAL_FAILURE(spill_while_log_down(dir, 100));
  const size_t spilled_segments = segments(dir).size();
  ASSERT_GE(spilled_segments, 5u);
  FakeLog up;
  {
    auto sink = EventSink::start(small_segments(dir), &up);
    ASSERT_TRUE(sink.is_ok());
    ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 100; }));
    ASSERT_TRUE(eventually([&] { return segments(dir).size() == 1; }));
    EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
  }
  EXPECT_EQ(up.records().size(), 100u);

  // The next run finds the committed position past the deleted segments:
  // nothing is drained twice, and a new outage spills and drains as before.
  BudgetLog main;
  auto sink = EventSink::start(small_segments(dir), &main);
  ASSERT_TRUE(sink.is_ok());
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ((*sink)->stats().drained, 0u);
  EXPECT_TRUE(main.records().empty());
  ASSERT_TRUE((*sink)->publish_and_wait(padded_events(40)));
  EXPECT_EQ((*sink)->stats().spilled, 40u);
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 40; }));
  main.budget = 1'000'000;
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 40; }))
      << (*sink)->stats().last_error;
  EXPECT_EQ(main.records().size(), 40u);
  ASSERT_TRUE(eventually([&] { return segments(dir).size() == 1; }));
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
}

TEST(Durability, StartupReclaimsWhatAPreviousRunDrainedButDidNotDelete) {
  // A previous run drained and committed, then stopped before deleting
  // (simulated: the journal opened with a log that cannot reclaim).
  const std::string dir = temp_dir("reclaim-late");
  ASSERT_NO_FATAL_FAILURE(spill_while_log_down(dir, 60));
  const size_t before = segments(dir).size();
  ASSERT_GE(before, 3u);
  {
    auto journal = log::open_file_log({dir, 1, 4096});
    ASSERT_TRUE(journal.is_ok()) << journal.status().to_string();
    auto c = (*journal)->consumer("spill-drain");
    ASSERT_TRUE(c.is_ok());
    ASSERT_TRUE((*c)->commit({{Partition(0), Offset(60)}}).is_ok());
  }
  EXPECT_EQ(segments(dir).size(), before);
  FakeLog up;
  auto sink = EventSink::start(small_segments(dir), &up);
  ASSERT_TRUE(sink.is_ok());
  ASSERT_TRUE(eventually([&] { return segments(dir).size() == 1; }));
  EXPECT_TRUE(up.records().empty()) << "nothing is drained twice";
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
}

// ---- events the log refuses for good ---------------------------------------

event::ChangeEvent big_index_event(const std::string& id, size_t bytes) {
  event::ChangeEvent e;
  e.op = event::Op::kIndex;
  e.index = IndexName("big");
  e.id = DocId(id);
  e.routing = "r1";
  e.seq_no = SeqNo(41);
  e.primary_term = PrimaryTerm(1);
  e.source = "{\"blob\":\"" + std::string(bytes, 'x') + "\"}";
  return e;
}

// Decoded records of a log, in order.
std::vector<event::ChangeEvent> decoded(const FakeLog& log) {
  std::vector<event::ChangeEvent> out;
  for (const log::Record& r : log.records()) {
    auto e = event::decode(r.value);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    if (e.is_ok()) out.push_back(*e);
  }
  return out;
}

struct DeadLetters {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> got;
  std::function<void(const std::string&, const std::string&)> hook() {
    return [this](const std::string& i, const std::string& r) {
      std::lock_guard lk(mu);
      got.emplace_back(i, r);
    };
  }
  size_t size() {
    std::lock_guard lk(mu);
    return got.size();
  }
};

TEST(Durability, EventAboveTheAnnouncedLimitIsSentAsAReconcileAtOnce) {
  FakeLog main;
  main.set_max_record_bytes(64 * 1024, 64 * 1024);
  auto sink = EventSink::start(fast(temp_dir("oversize")), &main);
  ASSERT_TRUE(sink.is_ok());
  std::vector<event::ChangeEvent> batch = events(2);
  batch.insert(batch.begin() + 1, big_index_event("huge", 200 * 1024));
  EXPECT_TRUE((*sink)->publish_and_wait(batch));
  auto got = decoded(main);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1].op, event::Op::kReconcile);
  EXPECT_EQ(got[1].index.get(), "big");
  EXPECT_EQ(got[1].id.get(), "huge");
  ASSERT_TRUE(got[1].routing.has_value());
  EXPECT_EQ(*got[1].routing, "r1");
  EXPECT_TRUE(got[1].source.empty());
  EXPECT_EQ(got[0].op, event::Op::kIndex);
  EXPECT_EQ(main.refused_count(), 0u) << "never sent to be refused";
  auto s = (*sink)->stats();
  EXPECT_EQ(s.refused, 1u);
  EXPECT_EQ(s.spilled, 0u);
  EXPECT_EQ(s.dead_lettered, 0u);
  EXPECT_NE(s.last_error.find("[big][huge]"), std::string::npos) << s.last_error;
}

TEST(Durability, EventTheLogRefusesLiveGoesThroughTheSpillAsAReconcile) {
  // The limit is not announced (a topic below the producer's limit): the
  // log answers kInvalidArgument. The reconcile is spilled and drained.
  FakeLog main;
  main.set_max_record_bytes(UINT64_MAX, 64 * 1024);
  auto sink = EventSink::start(fast(temp_dir("refused-live")), &main);
  ASSERT_TRUE(sink.is_ok());
  std::vector<event::ChangeEvent> batch = events(3);
  batch.push_back(big_index_event("huge", 200 * 1024));
  EXPECT_TRUE((*sink)->publish_and_wait(batch));
  EXPECT_TRUE((*sink)->accepting());
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 1; }))
      << (*sink)->stats().last_error;
  auto got = decoded(main);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].op, event::Op::kReconcile);
  EXPECT_EQ(got[3].id.get(), "huge");
  EXPECT_EQ((*sink)->stats().refused, 1u);
  EXPECT_EQ(main.refused_count(), 1u) << "refused once, never retried as it was";
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
}

TEST(Durability, SpilledEventTheLogRefusesNeverBlocksTheJournal) {
  // Spilled during an outage, refused for good when the log returns: its
  // reconcile goes in its place, and everything spilled after it drains.
  FakeLog main;
  main.set_mode(FakeLog::Mode::kFail);
  main.set_max_record_bytes(UINT64_MAX, 64 * 1024);
  auto sink = EventSink::start(fast(temp_dir("refused-drain")), &main);
  ASSERT_TRUE(sink.is_ok());
  EXPECT_TRUE((*sink)->publish_and_wait({big_index_event("huge", 200 * 1024)}));
  EXPECT_TRUE((*sink)->publish_and_wait(events(10)));
  EXPECT_EQ((*sink)->stats().spilled, 11u);
  main.set_mode(FakeLog::Mode::kAck);
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }))
      << (*sink)->stats().last_error;
  auto got = decoded(main);
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(got[0].op, event::Op::kReconcile);
  EXPECT_EQ(got[0].id.get(), "huge");
  EXPECT_EQ(main.refused_count(), 1u);
  EXPECT_EQ((*sink)->stats().refused, 1u);
}

TEST(Durability, SpilledEventsDrainAfterARestartPastARefusedOne) {
  // The journal's depth returns to 0 after a restart too (the old drain
  // retried such an event forever, in every run).
  const std::string dir = temp_dir("refused-restart");
  {
    FakeLog down;
    down.set_mode(FakeLog::Mode::kFail);
    auto sink = EventSink::start(fast(dir), &down);
    ASSERT_TRUE(sink.is_ok());
    EXPECT_TRUE((*sink)->publish_and_wait({big_index_event("huge", 200 * 1024)}));
    EXPECT_TRUE((*sink)->publish_and_wait(events(5)));
  }
  FakeLog up;
  up.set_max_record_bytes(UINT64_MAX, 64 * 1024);
  auto sink = EventSink::start(fast(dir), &up);
  ASSERT_TRUE(sink.is_ok());
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().drained == 6; }))
      << (*sink)->stats().last_error;
  EXPECT_EQ(up.records().size(), 6u);
  EXPECT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }));
}

TEST(Durability, MetaEventThatFitsNoLogIsADeadLetterAndBlocksNothing) {
  FakeLog main;
  main.set_max_record_bytes(64 * 1024, 64 * 1024);
  DeadLetters dl;
  SinkOptions o = fast(temp_dir("dead-meta"));
  o.dead_letter = dl.hook();
  auto sink = EventSink::start(std::move(o), &main);
  ASSERT_TRUE(sink.is_ok());
  event::ChangeEvent meta;
  meta.op = event::Op::kMeta;
  meta.index = IndexName("mapped");
  meta.meta = "{\"method\":\"PUT\",\"path\":\"/mapped/_mapping\",\"body\":\"" +
              std::string(100 * 1024, 'm') + "\"}";
  std::vector<event::ChangeEvent> batch = events(2);
  batch.push_back(meta);
  EXPECT_TRUE((*sink)->publish_and_wait(batch)) << "a recorded dead letter settles";
  EXPECT_EQ(main.records().size(), 2u);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl.got[0].first, "mapped");
  EXPECT_NE(dl.got[0].second.find("meta event refused by the change log"), std::string::npos)
      << dl.got[0].second;
  EXPECT_EQ((*sink)->stats().dead_lettered, 1u);
  EXPECT_TRUE((*sink)->accepting());
  // A batch of nothing but dead letters settles too.
  EXPECT_TRUE((*sink)->publish_and_wait({meta}));
  EXPECT_EQ((*sink)->stats().dead_lettered, 2u);
  EXPECT_EQ((*sink)->stats().inflight, 0u);
}

TEST(Durability, ReconcileTheLogStillRefusesIsADeadLetterNotALoop) {
  // A log so small that not even the reconcile fits (unannounced): the
  // drainer records a dead letter and the journal empties.
  FakeLog main;
  main.set_max_record_bytes(UINT64_MAX, 16);
  DeadLetters dl;
  SinkOptions o = fast(temp_dir("dead-reconcile"));
  o.dead_letter = dl.hook();
  auto sink = EventSink::start(std::move(o), &main);
  ASSERT_TRUE(sink.is_ok());
  EXPECT_TRUE((*sink)->publish_and_wait({big_index_event("huge", 1024)}));
  ASSERT_TRUE(eventually([&] { return (*sink)->stats().spill_depth == 0; }))
      << (*sink)->stats().last_error;
  EXPECT_EQ(dl.size(), 1u);
  EXPECT_EQ((*sink)->stats().dead_lettered, 1u);
  EXPECT_TRUE((*sink)->accepting());
}

}  // namespace
}  // namespace tandem::proxy
