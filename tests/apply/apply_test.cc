#include <gtest/gtest.h>

#include "apply/apply.h"
#include "apply/fakes.h"
#include "apply/test_util.h"

namespace tandem::load {
namespace {

using namespace tandem::load::testing;

std::vector<const Item*> ptrs(const std::vector<Item>& v) {
  std::vector<const Item*> out;
  for (auto& i : v) out.push_back(&i);
  return out;
}

TEST(Applier, WritesExternalVersionsAndCountsConflictsAsSuccess) {
  FakeSink sink;
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "1", 5, R"({"a":2})")),
                          item(ev_index("i", "1", 3, R"({"a":1})")),  // older: 409
                          item(ev_index("i", "2", 0, R"({"a":3})", 1)),
                          item(ev_delete("i", "3", 9))};
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data(ptrs(items), &fate).is_ok());
  auto docs = sink.docs();
  EXPECT_EQ(docs["i/1"].version, 6u);
  EXPECT_EQ(docs["i/1"].source, R"({"a":2})");
  EXPECT_EQ(docs["i/2"].version, (uint64_t{1} << 48) | 1);
  EXPECT_FALSE(docs["i/3"].exists);
  EXPECT_EQ(docs["i/3"].version, 10u);  // tombstone
  EXPECT_EQ(fate[1], Settled::kAlreadyNewer);
  EXPECT_EQ(c.applied, 3u);
  EXPECT_EQ(c.conflicts, 1u);
}

TEST(Applier, RetriesThrottledItemsUntilApplied) {
  FakeSink sink;
  int n429 = 0;
  sink.inject_item = [&](const std::string&, const std::string& id) {
    if (id == "b" && n429 < 3) {
      ++n429;
      return 429;
    }
    return 0;
  };
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "a", 1, "{}")), item(ev_index("i", "b", 1, "{}"))};
  ASSERT_TRUE(a.apply_data(ptrs(items)).is_ok());
  EXPECT_EQ(sink.docs()["i/b"].version, 2u);
  EXPECT_EQ(c.retries, 3u);
  EXPECT_EQ(c.applied, 2u);
  EXPECT_EQ(sink.bulk_calls(), 4);  // first + 3 retries of the one item
}

TEST(Applier, RetriesWholeRequestOnUnavailable) {
  FakeSink sink;
  int fails = 2;
  sink.inject_request = [&] {
    if (fails-- > 0) return Status(Code::kUnavailable, "connection refused");
    return Status::ok();
  };
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "a", 1, "{}"))};
  ASSERT_TRUE(a.apply_data(ptrs(items)).is_ok());
  EXPECT_EQ(c.retries, 2u);
  EXPECT_TRUE(sink.docs()["i/a"].exists);
}

TEST(Applier, FatalRequestErrorIsReturnedNotDropped) {
  FakeSink sink;
  sink.inject_request = [] {
    return Status(Code::kUnauthorized, "cluster 'green': 401").with_http_status(401);
  };
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "a", 1, "{}"))};
  Status s = a.apply_data(ptrs(items));
  EXPECT_EQ(s.code(), Code::kUnauthorized);
  EXPECT_EQ(*(*store).count_dead_letters(), 0);
}

TEST(Applier, StopAbortsRetriesWithoutSettling) {
  FakeSink sink;
  sink.inject_item = [](const std::string&, const std::string&) { return 503; };
  TempStore store;
  Counters c;
  std::atomic<bool> stop{false};
  ApplyOptions o = fast_options();
  Applier a(sink, store.get(), c, o, &stop);
  std::vector<Item> items{item(ev_index("i", "a", 1, "{}"))};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop = true;
  });
  Status s = a.apply_data(ptrs(items));
  t.join();
  EXPECT_FALSE(s.is_ok());
  EXPECT_GT(c.retries, 0u);
  EXPECT_EQ(c.applied, 0u);
}

TEST(Applier, PermanentFailureIsDeadLetteredAndRestContinues) {
  FakeSink sink;
  sink.strict_long_field.insert("i");
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "bad", 4, R"({"n":"str"})")),
                          item(ev_index("i", "good", 4, R"({"n":1})"))};
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data(ptrs(items), &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kDeadLettered);
  EXPECT_EQ(fate[1], Settled::kApplied);
  auto dl = (*store).dead_letters();
  ASSERT_TRUE(dl.is_ok());
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].error_type, "mapper_parsing_exception");
  EXPECT_EQ((*dl)[0].doc_id.get(), "bad");
  EXPECT_EQ((*dl)[0].source, "load");
  auto back = event::decode((*dl)[0].event);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->seq_no.get(), 4);
}

TEST(Applier, MissingIndexIsCreatedThenRetried) {
  FakeSink sink;
  sink.missing_indices.insert("new");
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("new", "1", 0, "{}")), item(ev_index("new", "2", 0, "{}"))};
  ASSERT_TRUE(a.apply_data(ptrs(items)).is_ok());
  EXPECT_EQ(sink.ensure_calls(), 1);
  EXPECT_TRUE(sink.docs()["new/1"].exists);
  EXPECT_EQ(c.applied, 2u);
}

TEST(Applier, IndexGoneOnBothSidesIsObsolete) {
  FakeSink sink;
  sink.missing_indices.insert("gone");
  sink.primary_missing.insert("gone");
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("gone", "1", 0, "{}"))};
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data(ptrs(items), &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kObsolete);
  EXPECT_EQ(c.obsolete, 1u);
}

TEST(Applier, WholeBulk400IsBisectedToTheCulprit) {
  FakeSink sink;
  sink.inject_request = [] { return Status::ok(); };
  TempStore store;
  Counters c;
  // A sink that rejects any request containing the poison document.
  struct Poison : FakeSink {
    Result<es::BulkResponse> bulk(const es::BulkBuilder& b) override {
      if (b.body().find("poison") != std::string::npos) {
        return Status(Code::kInvalidArgument, "x_content_parse_exception").with_http_status(400);
      }
      return FakeSink::bulk(b);
    }
  } poison;
  Applier a(poison, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items;
  for (int i = 0; i < 9; ++i) items.push_back(item(ev_index("i", std::to_string(i), 1, "{}")));
  items.push_back(item(ev_index("i", "poison", 1, "{}")));
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data(ptrs(items), &fate).is_ok());
  EXPECT_EQ(c.applied, 9u);
  EXPECT_EQ(fate[9], Settled::kDeadLettered);
  EXPECT_EQ(*(*store).count_dead_letters(), 1);
}

TEST(Applier, ReconcileCopiesThePrimarysDocument) {
  FakeSink sink;
  sink.primary["i/x"] = FakeDoc{true, 8, R"({"v":"primary"})"};  // seq_no 7
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  event::ChangeEvent e = ev_index("i", "x", -1, "");
  e.op = event::Op::kReconcile;
  auto r = a.apply_reconcile(item(e));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(sink.docs()["i/x"].version, 8u);
  EXPECT_EQ(sink.docs()["i/x"].source, R"({"v":"primary"})");
  EXPECT_EQ(c.reconciled, 1u);
}

TEST(Applier, ReconcileDeletesAStaleCopyJustAboveItsVersion) {
  FakeSink sink;
  sink.put("i/x", FakeDoc{true, 5, "{}"});  // secondary has seq_no 4; primary has none
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  event::ChangeEvent e = ev_index("i", "x", -1, "");
  e.op = event::Op::kReconcile;
  ASSERT_TRUE(a.apply_reconcile(item(e)).is_ok());
  auto d = sink.docs()["i/x"];
  EXPECT_FALSE(d.exists);
  EXPECT_EQ(d.version, 6u);
  // The real delete (seq 5 -> version 6) ties: 409 = fine; a recreation at a
  // later seq_no wins.
  std::vector<Item> later{item(ev_delete("i", "x", 5)), item(ev_index("i", "x", 6, R"({"r":1})"))};
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data({&later[0], &later[1]}, &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kAlreadyNewer);
  EXPECT_TRUE(sink.docs()["i/x"].exists);
}

TEST(Applier, ReconcileWithNothingAnywhereMarksVerify) {
  FakeSink sink;
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  event::ChangeEvent e = ev_index("i", "x", -1, "");
  e.op = event::Op::kReconcile;
  ASSERT_TRUE(a.apply_reconcile(item(e)).is_ok());
  auto marks = (*store).needs_verify();
  ASSERT_TRUE(marks.is_ok());
  ASSERT_EQ(marks->size(), 1u);
  EXPECT_EQ((*marks)[0].index.get(), "i");
}

// A batch of reconciles: each document settles by its own case (copy,
// tombstone above the stale copy, nothing anywhere), with one bulk in all.
TEST(Applier, ReconcileBatchSettlesEachCaseWithOneBulk) {
  FakeSink sink;
  sink.primary["i/copy"] = FakeDoc{true, 8, R"({"v":"primary"})"};
  sink.put("i/stale", FakeDoc{true, 5, "{}"});
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items;
  for (const char* id : {"copy", "stale", "nowhere"}) {
    event::ChangeEvent e = ev_index("i", id, -1, "");
    e.op = event::Op::kReconcile;
    items.push_back(item(e));
  }
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_reconciles(ptrs(items), &fate).is_ok());
  ASSERT_EQ(fate.size(), 3u);
  EXPECT_EQ(sink.bulk_calls(), 1);
  EXPECT_EQ(c.reconciled, 3u);
  auto docs = sink.docs();
  EXPECT_EQ(docs["i/copy"].version, 8u);
  EXPECT_TRUE(docs["i/copy"].exists);
  EXPECT_FALSE(docs["i/stale"].exists);
  EXPECT_EQ(docs["i/stale"].version, 6u);
  EXPECT_EQ(docs.count("i/nowhere"), 0u);
  auto marks = (*store).needs_verify();
  ASSERT_TRUE(marks.is_ok());
  EXPECT_EQ(marks->size(), 1u);
}

TEST(Applier, EventWithoutSeqNoIsDeadLettered) {
  FakeSink sink;
  TempStore store;
  Counters c;
  Applier a(sink, store.get(), c, fast_options(), nullptr);
  std::vector<Item> items{item(ev_index("i", "a", -1, "{}"))};
  std::vector<Settled> fate;
  ASSERT_TRUE(a.apply_data(ptrs(items), &fate).is_ok());
  EXPECT_EQ(fate[0], Settled::kDeadLettered);
}

}  // namespace
}  // namespace tandem::load
