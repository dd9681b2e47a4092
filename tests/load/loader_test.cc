#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "apply/fakes.h"
#include "apply/test_util.h"
#include "load/load.h"

namespace tandem::load {
namespace {

using namespace tandem::apply::testing;

LoaderOptions quick() {
  LoaderOptions o;
  o.apply = fast_options();
  o.poll_timeout = std::chrono::milliseconds(5);
  o.commit_interval = std::chrono::milliseconds(5);
  o.lag_check_interval = std::chrono::milliseconds(5);
  o.progress_interval = std::chrono::milliseconds(0);
  o.progress = [](std::string_view) {};
  return o;
}

int32_t part_of(const std::string& id, int32_t n) {
  return event::partition_for(id, n);
}

// Random history per document (index/delete with rising seq_no), each doc's
// events in its own partition in seq order -- as the proxy produces them --
// plus redelivered duplicates. The result must equal the last state.
TEST(Loader, ConvergesUnderThrottlingAndDuplicates) {
  FakeSink sink;
  std::mt19937 rng(1);
  std::atomic<int> injected{0};
  sink.inject_item = [&](const std::string&, const std::string&) {
    static thread_local std::mt19937 r(std::hash<std::thread::id>{}(std::this_thread::get_id()));
    if (r() % 10 == 0) {
      ++injected;
      return 429;
    }
    return 0;
  };
  FakeConsumer log(4);
  std::map<std::string, FakeDoc> expect;
  int64_t seq = 0;
  for (int round = 0; round < 6; ++round) {
    for (int d = 0; d < 80; ++d) {
      std::string id = "doc" + std::to_string(d);
      bool del = rng() % 4 == 0;
      ++seq;
      auto e = del ? ev_delete("idx", id, seq)
                   : ev_index("idx", id, seq, R"({"r":)" + std::to_string(round) + "}");
      std::string enc = event::encode(e);
      log.append(part_of(id, 4), enc);
      if (rng() % 5 == 0) log.append(part_of(id, 4), enc);  // duplicate delivery
      expect["idx/" + id] = FakeDoc{!del, static_cast<uint64_t>(seq + 1), del ? "" : e.source};
    }
  }
  TempStore store;
  LoaderOptions o = quick();
  o.until_lag_zero = true;
  o.bulk_docs = 37;
  o.workers = 3;
  auto loader = make_loader(log, sink, *store, o);
  Status s = loader->run();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  auto docs = sink.docs();
  for (auto& [k, d] : expect) {
    ASSERT_EQ(docs[k].exists, d.exists) << k;
    ASSERT_EQ(docs[k].version, d.version) << k;
    if (d.exists) {
      ASSERT_EQ(docs[k].source, d.source) << k;
    }
  }
  auto st = loader->status();
  EXPECT_EQ(st.lag, 0);
  EXPECT_GT(injected.load(), 0);
  EXPECT_GT(st.retries, 0u);
  EXPECT_EQ(st.dead_lettered, 0u);
  EXPECT_EQ(st.inflight_events, 0u);
  auto lag = log.lag();
  for (auto& p : *lag) EXPECT_EQ(p.lag(), 0) << p.partition.get();
}

TEST(Loader, BackPressureBoundsInflight) {
  FakeSink sink;
  std::atomic<int> slow{0};
  sink.inject_request = [&] {
    ++slow;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return Status::ok();
  };
  FakeConsumer log(2);
  for (int i = 0; i < 500; ++i) {
    log.append(i % 2, event::encode(ev_index("i", std::to_string(i), i, "{}")));
  }
  TempStore store;
  LoaderOptions o = quick();
  o.until_lag_zero = true;
  o.bulk_docs = 10;
  o.max_inflight_events = 25;
  o.workers = 2;
  auto loader = make_loader(log, sink, *store, o);
  std::atomic<bool> done{false};
  uint64_t max_seen = 0;
  std::thread watch([&] {
    while (!done) {
      max_seen = std::max<uint64_t>(max_seen, loader->status().inflight_events);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  Status s = loader->run();
  done = true;
  watch.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_LE(max_seen, 25u);
  EXPECT_EQ(sink.docs().size(), 500u);
  EXPECT_GT(loader->status().paused_ms, 0u);
}

TEST(Loader, MetaIsABarrierAndCorruptRecordsAreDeadLettered) {
  FakeSink sink;
  FakeConsumer log(1);
  log.append(0, event::encode(ev_index("i", "a", 1, "{}")));
  event::ChangeEvent m;
  m.op = event::Op::kMeta;
  m.index = IndexName("i");
  m.meta = R"({"method":"PUT","path":"/i/_mapping","body":{}})";
  log.append(0, event::encode(m));
  log.append(0, "this is not an event");
  log.append(0, event::encode(ev_index("i", "b", 2, "{}")));
  TempStore store;
  LoaderOptions o = quick();
  o.until_lag_zero = true;
  auto loader = make_loader(log, sink, *store, o);
  ASSERT_TRUE(loader->run().is_ok());
  EXPECT_EQ(sink.meta_applied.size(), 1u);
  EXPECT_EQ(sink.docs().size(), 2u);
  auto dl = (*store).dead_letters();
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].error_type, "event_decode");
  EXPECT_NE((*dl)[0].error_reason.find("offset 2"), std::string::npos);
  EXPECT_EQ(log.committed_map()[0], 4);
}

// The gap of issue 14: a mapping change in one partition, the documents
// that need it in another, read first (the loader polls partition 0 before
// partition 1) -- and a second loader of the group that reads only the
// documents' partition never sees the meta event at all. Green is strict:
// before, the documents were dead letters waiting for `tandem dlq retry`.
// Blue mapped the field before acknowledging the documents, so the guard
// brings blue's mapping over before the bulk; nothing is dead-lettered.
TEST(Loader, DocumentsReadBeforeTheirMappingChangeAreNotDeadLettered) {
  for (bool sees_meta : {true, false}) {
    SCOPED_TRACE(sees_meta ? "one loader reads both partitions" : "the meta's partition unread");
    FakeSink sink;
    sink.guard_mappings = true;
    sink.strict_indices.insert("i");
    sink.set_secondary_field("i", "a", "keyword");
    // Blue, after PUT /i/_mapping {"properties":{"b":{"type":"long"}}}.
    sink.primary_fields["i"] = {{"a", "keyword"}, {"b", "long"}};
    FakeConsumer log(2);
    for (int k = 0; k < 5; ++k) {
      log.append(0, event::encode(ev_index("i", "d" + std::to_string(k), k,
                                           R"({"a":"x","b":)" + std::to_string(k) + "}")));
    }
    if (sees_meta) {
      event::ChangeEvent m;
      m.op = event::Op::kMeta;
      m.index = IndexName("i");
      m.meta =
          R"({"method":"PUT","path":"/i/_mapping","body":{"properties":{"b":{"type":"long"}}}})";
      log.append(1, event::encode(m));
    }
    TempStore store;
    LoaderOptions o = quick();
    o.until_lag_zero = true;
    auto loader = make_loader(log, sink, *store, o);
    ASSERT_TRUE(loader->run().is_ok());
    EXPECT_EQ(sink.docs().size(), 5u);
    EXPECT_EQ(*(*store).count_dead_letters(), 0);
    EXPECT_EQ(sink.secondary_fields()["i"]["b"], "long");
    EXPECT_EQ(sink.meta_applied.size(), sees_meta ? 1u : 0u);
    EXPECT_EQ(loader->status().dead_lettered, 0u);
  }
}

TEST(Loader, StopNeverCommitsUnappliedRecords) {
  FakeSink sink;
  std::atomic<bool> healthy{false};
  sink.inject_item = [&](const std::string&, const std::string& id) {
    return (!healthy && id == "5") ? 503 : 0;
  };
  FakeConsumer log(1);
  for (int i = 0; i < 10; ++i)
    log.append(0, event::encode(ev_index("i", std::to_string(i), i, "{}")));
  TempStore store;
  LoaderOptions o = quick();
  o.bulk_docs = 1;  // one event per bulk so 6..9 can finish while 5 retries
  o.stop_grace = std::chrono::milliseconds(50);
  auto loader = make_loader(log, sink, *store, o);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    loader->stop();
  });
  Status s = loader->run();
  t.join();
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  // Offset 5 never applied: the committed position must not pass it.
  EXPECT_LE(log.committed_map()[0], 5);
  EXPECT_FALSE(sink.docs().count("i/5") && sink.docs()["i/5"].exists);

  // A fresh loader resumes from the commit and finishes once green heals.
  healthy = true;
  FakeConsumer log2(1);
  for (int i = 0; i < 10; ++i)
    log2.append(0, event::encode(ev_index("i", std::to_string(i), i, "{}")));
  ASSERT_TRUE(log2.seek(Partition(0), Offset(log.committed_map()[0])).is_ok());
  LoaderOptions o2 = quick();
  o2.until_lag_zero = true;
  auto again = make_loader(log2, sink, *store, o2);
  ASSERT_TRUE(again->run().is_ok());
  EXPECT_TRUE(sink.docs()["i/5"].exists);
  EXPECT_EQ(sink.docs().size(), 10u);
}

TEST(Loader, FatalErrorStopsWithItsStatus) {
  FakeSink sink;
  sink.inject_request = [] {
    return Status(Code::kUnauthorized, "cluster 'green': security_exception (401)")
        .with_http_status(401);
  };
  FakeConsumer log(1);
  log.append(0, event::encode(ev_index("i", "a", 1, "{}")));
  TempStore store;
  LoaderOptions o = quick();
  o.until_lag_zero = true;
  auto loader = make_loader(log, sink, *store, o);
  Status s = loader->run();
  EXPECT_EQ(s.code(), Code::kUnauthorized);
  EXPECT_LE(log.committed_map()[0], 0);
}

// Whatever ends a run, the last line through `progress` is one summary:
// counts by kind, 409s, dead letters, elapsed, rate, final lag.
TEST(Loader, PrintsOneSummaryLineOnExit) {
  auto lines = std::make_shared<std::vector<std::string>>();
  auto capture = [lines](std::string_view l) { lines->emplace_back(l); };
  {
    FakeSink sink;
    FakeConsumer log(2);
    log.append(0, event::encode(ev_index("i", "a", 1, "{}")));
    log.append(1, event::encode(ev_index("i", "b", 2, "{}")));
    log.append(1, event::encode(ev_delete("i", "b", 3)));
    log.append(0, event::encode(ev_index("i", "a", 1, "{}")));  // redelivered: 409
    log.append(0, "not an event");                              // dead-lettered
    TempStore store;
    LoaderOptions o = quick();
    o.until_lag_zero = true;
    o.progress = capture;
    auto loader = make_loader(log, sink, *store, o);
    ASSERT_TRUE(loader->run().is_ok());
    ASSERT_FALSE(lines->empty());
    const std::string& l = lines->back();
    EXPECT_EQ(l.rfind("load done exit=lag-zero applied=3 index=2 delete=1 reconciled=0 meta=0 "
                      "409s=1 dlq=1 retries=0 obsolete=0 elapsed=",
                      0),
              0u)
        << l;
    EXPECT_NE(l.find("/s lag=0"), std::string::npos) << l;
    EXPECT_EQ(l.find('\n'), std::string::npos);
  }
  lines->clear();
  {
    FakeSink sink;
    FakeConsumer log(1);
    log.append(0, event::encode(ev_index("i", "a", 1, "{}")));
    TempStore store;
    LoaderOptions o = quick();
    o.progress = capture;
    auto loader = make_loader(log, sink, *store, o);
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      loader->stop();
    });
    ASSERT_TRUE(loader->run().is_ok());
    t.join();
    ASSERT_FALSE(lines->empty());
    EXPECT_EQ(lines->back().rfind("load done exit=stopped applied=1 ", 0), 0u) << lines->back();
  }
  lines->clear();
  {
    FakeSink sink;
    sink.inject_request = [] {
      return Status(Code::kUnauthorized, "cluster 'green': security_exception (401)")
          .with_http_status(401);
    };
    FakeConsumer log(1);
    log.append(0, event::encode(ev_index("i", "a", 1, "{}")));
    TempStore store;
    LoaderOptions o = quick();
    o.until_lag_zero = true;
    o.progress = capture;
    auto loader = make_loader(log, sink, *store, o);
    EXPECT_EQ(loader->run().code(), Code::kUnauthorized);
    ASSERT_FALSE(lines->empty());
    EXPECT_EQ(lines->back().rfind("load done exit=error applied=0 ", 0), 0u) << lines->back();
    EXPECT_NE(lines->back().find(" lag=1"), std::string::npos) << lines->back();
  }
}

TEST(Loader, FormatSummary) {
  LoaderStatus s;
  s.applied = 10;
  s.indexed = 7;
  s.deleted = 3;
  s.conflicts = 2;
  s.settled = 12;
  s.lag = -1;
  EXPECT_EQ(format_summary(s, LoaderExit::kStopped, 4.0),
            "load done exit=stopped applied=10 index=7 delete=3 reconciled=0 meta=0 409s=2 dlq=0 "
            "retries=0 obsolete=0 elapsed=4.0s rate=3/s lag=?");
}

TEST(DeadLetters, RetryRemovesOnlySettledEntries) {
  FakeSink sink;
  sink.strict_long_field.insert("i");
  TempStore store;
  apply::Counters c;
  apply::Applier a(sink, store.get(), c, fast_options(), nullptr);
  auto bad = item(ev_index("i", "bad", 1, R"({"n":"x"})"));
  auto bad2 = item(ev_index("i", "bad2", 1, R"({"n":"y"})"));
  ASSERT_TRUE(a.apply_data({&bad, &bad2}).is_ok());
  ASSERT_EQ(*(*store).count_dead_letters(), 2);
  // Still rejected: both kept, no new entries.
  auto r = apply::retry_dead_letters(*store, sink, std::nullopt, fast_options());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->attempted, 2u);
  EXPECT_EQ(r->succeeded, 0u);
  EXPECT_EQ(r->failures.size(), 2u);
  EXPECT_EQ(*(*store).count_dead_letters(), 2);
  // Mapping fixed: retry one by id, then the rest.
  sink.strict_long_field.clear();
  auto list = (*store).dead_letters();
  r = apply::retry_dead_letters(*store, sink, (*list)[0].id, fast_options());
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->succeeded, 1u);
  EXPECT_EQ(*(*store).count_dead_letters(), 1);
  r = apply::retry_dead_letters(*store, sink, std::nullopt, fast_options());
  EXPECT_EQ(r->succeeded, 1u);
  EXPECT_EQ(*(*store).count_dead_letters(), 0);
  EXPECT_EQ(apply::retry_dead_letters(*store, sink, 12345).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace tandem::load
