// Loader against real blue (7.17) / green (8.x) / Kafka.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>

#include "apply/test_util.h"
#include "load/it_util.h"
#include "load/load.h"
#include "load/throttling_shim.h"
#include "log/log.h"
#include "support/process.h"
#include "support/relay.h"
#include "support/services.h"

namespace tandem::load {
namespace {

using namespace tandem::load::it;
using tandem::apply::testing::TempStore;

class LoaderIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", tandem::testing::blue_url());
    green_ = connect_or_die("green", tandem::testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    idx_ = tandem::testing::unique_name("ld-it");
    nlohmann::json body = {{"settings", {{"number_of_shards", 2}, {"number_of_replicas", 0}}}};
    ASSERT_TRUE(blue_->create_index(IndexName(idx_), body).is_ok());
    body["settings"]["index.gc_deletes"] = "1h";
    if (create_green_) {
      ASSERT_TRUE(green_->create_index(IndexName(idx_), body).is_ok());
    }
    log::KafkaLogOptions ko;
    ko.brokers = tandem::testing::kafka_brokers();
    ko.topic = tandem::testing::unique_name("ld-it-topic");
    ko.partitions = 4;
    auto l = log::open_kafka_log(ko);
    ASSERT_TRUE(l.is_ok()) << "Kafka at " << ko.brokers << ": " << l.status().to_string();
    log_ = std::move(l).value();
  }
  void TearDown() override {
    if (blue_) (void)blue_->delete_index(IndexName(idx_));
    if (green_) (void)green_->delete_index(IndexName(idx_));
  }

  // A write on blue, as the proxy would capture it.
  event::ChangeEvent write(const std::string& id, bool del, const std::string& src) {
    if (del) {
      auto w = blue_->delete_doc(IndexName(idx_), DocId(id));
      EXPECT_TRUE(w.is_ok()) << w.status().to_string();
      return event_from(idx_, id, *w, true, "");
    }
    auto w = blue_->index_doc(IndexName(idx_), DocId(id), src);
    EXPECT_TRUE(w.is_ok()) << w.status().to_string();
    return event_from(idx_, id, *w, false, src);
  }

  void append(const std::vector<event::ChangeEvent>& evs) {
    std::vector<log::AppendRecord> batch;
    for (auto& e : evs)
      batch.push_back(log::AppendRecord{event::partition_key(e), event::encode(e), {}});
    log_->append(std::move(batch));
    ASSERT_TRUE(log_->flush(std::chrono::seconds(30)).is_ok());
  }

  // Runs a loader until lag 0 (bounded: 180 s).
  Status run_loader(es::Client& green, state::Store& store, LoaderStatus* st = nullptr,
                    int workers = 3, es::Client* blue = nullptr) {
    auto consumer = log_->consumer(tandem::testing::unique_name("ld-it-group"));
    if (!consumer.is_ok()) return consumer.status();
    auto sink = apply::make_es_sink(blue ? *blue : *blue_, green);
    LoaderOptions o;
    o.until_lag_zero = true;
    o.workers = workers;
    o.bulk_docs = 50;
    o.progress_interval = std::chrono::seconds(2);
    o.apply.backoff.initial = std::chrono::milliseconds(20);
    o.apply.backoff.max = std::chrono::milliseconds(500);
    auto loader = make_loader(**consumer, *sink, store, o);
    std::atomic<bool> done{false};
    std::thread guard([&] {
      for (int i = 0; i < 1800 && !done; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!done) {
        ADD_FAILURE() << "loader did not reach lag 0 within 180 s";
        loader->stop();
      }
    });
    Status s = loader->run();
    done = true;
    guard.join();
    if (st) *st = loader->status();
    return s;
  }

  // Runs a loader (2 workers) over what append() put in the log while
  // `side` ("blue" or "green") goes away 100 ms in, for 2 s: connections
  // refused, pooled ones reset. The loader must retry (else the outage came
  // too late to test anything), dead-letter nothing and end at parity.
  void loader_survives_outage_of(const std::string& side) {
    const std::string url =
        side == "blue" ? tandem::testing::blue_url() : tandem::testing::green_url();
    auto parsed = http::Url::parse(url);
    ASSERT_TRUE(parsed.is_ok()) << url;
    tandem::testing::FlakyEndpoint endpoint(parsed->host, parsed->port);
    auto via = connect_or_die(side, endpoint.url());
    ASSERT_TRUE(via);
    endpoint.outage(std::chrono::milliseconds(100), std::chrono::seconds(2));
    TempStore store;
    LoaderStatus st;
    Status s = side == "blue" ? run_loader(*green_, *store, &st, /*workers=*/2, via.get())
                              : run_loader(*via, *store, &st, /*workers=*/2);
    ASSERT_TRUE(s.is_ok()) << s.to_string();
    EXPECT_GT(st.retries, 0u) << "the outage came after the loader finished: nothing was tested";
    EXPECT_EQ(st.dead_lettered, 0u);
    EXPECT_EQ(parity(*blue_, *green_, idx_), "");
  }

  bool create_green_ = true;
  std::unique_ptr<es::Client> blue_, green_;
  std::unique_ptr<log::Log> log_;
  std::string idx_;
};

// Same events shuffled, with duplicates: green ends equal to blue.
TEST_F(LoaderIt, OrderIndependentWithDuplicatesAndDeleteRecreate) {
  std::mt19937 rng(11);
  std::vector<event::ChangeEvent> evs;
  for (int round = 0; round < 4; ++round) {
    for (int d = 0; d < 40; ++d) {
      std::string id = "d" + std::to_string(d);
      bool del = round > 0 && rng() % 3 == 0;
      evs.push_back(write(
          id, del, R"({"round":)" + std::to_string(round) + R"(,"d":)" + std::to_string(d) + "}"));
    }
  }
  // delete-then-recreate of one id, last state = recreated
  evs.push_back(write("churn", false, R"({"v":1})"));
  evs.push_back(write("churn", true, ""));
  evs.push_back(write("churn", false, R"({"v":2})"));
  std::vector<event::ChangeEvent> dup;
  for (auto& e : evs) {
    dup.push_back(e);
    if (rng() % 4 == 0) dup.push_back(e);
  }
  std::shuffle(dup.begin(), dup.end(), rng);
  append(dup);
  TempStore store;
  LoaderStatus st;
  ASSERT_TRUE(run_loader(*green_, *store, &st).is_ok());
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
  EXPECT_GT(st.conflicts, 0u);  // duplicates / older events lost to newer ones
  EXPECT_EQ(st.dead_lettered, 0u);
}

// Issue 14: the proxy puts one request's events in one partition, so one
// document's events end up in several partitions, read in no defined order
// across them. Adversarial placement: event k of every document goes to
// partition k % 4, each partition holds its events newest first, and every
// document's oldest event is repeated at the end of every partition. Green
// must still end equal to blue (external versions commute, Invariant 1).
TEST_F(LoaderIt, OneDocumentsEventsSplitAcrossPartitionsInAdversarialOrder) {
  std::mt19937 rng(14);
  std::map<std::string, std::vector<event::ChangeEvent>> by_doc;
  for (int round = 0; round < 6; ++round) {
    for (int d = 0; d < 30; ++d) {
      std::string id = "s" + std::to_string(d);
      // delete-then-recreate on some documents; the last round always
      // writes so most documents exist at the end, a few stay deleted
      bool del = round > 0 && round < 5 && rng() % 3 == 0;
      if (round == 5 && d % 10 == 0) del = true;
      by_doc[id].push_back(write(
          id, del, R"({"round":)" + std::to_string(round) + R"(,"d":)" + std::to_string(d) + "}"));
    }
  }
  std::vector<std::vector<event::ChangeEvent>> parts(4);
  for (auto& [id, evs] : by_doc) {
    for (size_t k = 0; k < evs.size(); ++k) parts[k % 4].push_back(evs[k]);
  }
  for (auto& p : parts) {
    std::stable_sort(p.begin(), p.end(),
                     [](const auto& a, const auto& b) { return a.seq_no.get() > b.seq_no.get(); });
    for (auto& [id, evs] : by_doc) p.push_back(evs.front());
  }
  std::vector<log::AppendRecord> batch;
  for (int32_t p = 0; p < 4; ++p) {
    for (auto& e : parts[p]) {
      log::AppendRecord r{event::partition_key(e), event::encode(e), {}};
      r.partition = p;
      batch.push_back(std::move(r));
    }
  }
  log_->append(std::move(batch));
  ASSERT_TRUE(log_->flush(std::chrono::seconds(30)).is_ok());
  auto ends = log_->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  for (int32_t p = 0; p < 4; ++p) {
    EXPECT_EQ((*ends)[p].get(), static_cast<int64_t>(parts[p].size())) << "partition " << p;
  }
  TempStore store;
  LoaderStatus st;
  ASSERT_TRUE(run_loader(*green_, *store, &st, /*workers=*/4).is_ok());
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
  EXPECT_GT(st.conflicts, 0u);  // older events and duplicates lost to newer ones
  EXPECT_EQ(st.dead_lettered, 0u);
}

// Concurrent traffic with heavy delete/recreate churn on few ids while the
// loader runs: no resurrection, no lost update.
TEST_F(LoaderIt, ConcurrentChurnNoResurrectionNoLostUpdate) {
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937 rng(5);
    for (int i = 0; i < 400; ++i) {
      std::string id = "c" + std::to_string(rng() % 8);
      bool del = rng() % 3 == 0;
      auto e = write(id, del, R"({"i":)" + std::to_string(i) + "}");
      append({e});
    }
    writing = false;
  });
  TempStore store;
  // First loader runs concurrently with the writes (ends at a lag-0 moment),
  // then one more pass after the writer finished.
  ASSERT_TRUE(run_loader(*green_, *store).is_ok());
  writer.join();
  ASSERT_TRUE(run_loader(*green_, *store).is_ok());
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
}

TEST_F(LoaderIt, BackPressureFrom429ShimLosesNothing) {
  std::vector<event::ChangeEvent> evs;
  for (int d = 0; d < 300; ++d) evs.push_back(write("p" + std::to_string(d), false, R"({"x":1})"));
  append(evs);
  ThrottlingShim shim(tandem::testing::green_url(), 0.4);
  auto via = connect_or_die("green", shim.url());
  ASSERT_TRUE(via);
  TempStore store;
  LoaderStatus st;
  ASSERT_TRUE(run_loader(*via, *store, &st).is_ok());
  EXPECT_GT(shim.rejected(), 0u);
  EXPECT_GT(st.retries, 0u);
  EXPECT_EQ(st.dead_lettered, 0u);
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
}

// Green goes away mid-run (connections refused, pooled ones reset) and
// comes back two seconds later: the loader retries, loses and skips nothing.
TEST_F(LoaderIt, GreenUnreachableForAWhileLosesNothing) {
  std::vector<event::ChangeEvent> evs;
  for (int d = 0; d < 6000; ++d) {
    evs.push_back(
        write("g" + std::to_string(d % 1500), d % 7 == 6, R"({"x":)" + std::to_string(d) + "}"));
  }
  append(evs);
  loader_survives_outage_of("green");
}

// Blue goes away while the loader is applying reconcile events (which read
// the document from blue) and comes back two seconds later: the loader
// retries, and every reconciled document ends as blue has it, deletes
// included.
TEST_F(LoaderIt, BlueUnreachableDuringReconcileLosesNothing) {
  std::vector<event::ChangeEvent> evs;
  for (int d = 0; d < 3000; ++d) {
    auto e =
        write("b" + std::to_string(d % 1000), d % 5 == 4, R"({"x":)" + std::to_string(d) + "}");
    // What the proxy emits when it knows a document changed but not how.
    e.op = event::Op::kReconcile;
    e.source.clear();
    evs.push_back(e);
  }
  append(evs);
  loader_survives_outage_of("blue");
}

// Two loaders in one consumer group split the log's partitions: each
// applies part of the workload and green ends equal to blue. A loader that
// joins while the other already owns every partition gets work only after
// the rebalance, so small probe batches are appended until both have
// polled something; then the real workload goes in.
TEST_F(LoaderIt, TwoLoadersShareTheWorkThroughOneConsumerGroup) {
  const std::string group = tandem::testing::unique_name("ld-it-shared");
  struct Member {
    std::unique_ptr<log::Consumer> consumer;
    std::unique_ptr<apply::Sink> sink;
    TempStore store;
    std::unique_ptr<Loader> loader;
    std::thread thread;
    Status result = Status::ok();
  };
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < 2; ++i) {
    auto m = std::make_unique<Member>();
    auto c = log_->consumer(group);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    m->consumer = std::move(c).value();
    m->sink = apply::make_es_sink(*blue_, *green_);
    LoaderOptions o;
    o.workers = 2;
    o.bulk_docs = 50;
    o.progress_interval = std::chrono::milliseconds(0);
    m->loader = make_loader(*m->consumer, *m->sink, *m->store, o);
    Member* raw = m.get();
    m->thread = std::thread([raw] { raw->result = raw->loader->run(); });
    members.push_back(std::move(m));
  }
  auto stop_all = [&] {
    for (auto& m : members) {
      m->loader->stop();
      if (m->thread.joinable()) m->thread.join();
    }
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int probe = 0;
  while ((members[0]->loader->status().polled == 0 || members[1]->loader->status().polled == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::vector<event::ChangeEvent> evs;
    for (int d = 0; d < 40; ++d)
      evs.push_back(write("probe" + std::to_string(probe++), false, "{}"));
    append(evs);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  const uint64_t before0 = members[0]->loader->status().polled;
  const uint64_t before1 = members[1]->loader->status().polled;
  if (before0 == 0 || before1 == 0) {
    stop_all();
    FAIL() << "a member of group " << group << " was never given a partition";
  }
  std::vector<event::ChangeEvent> evs;
  for (int d = 0; d < 4000; ++d) {
    evs.push_back(
        write("s" + std::to_string(d % 1000), d % 7 == 6, R"({"x":)" + std::to_string(d) + "}"));
  }
  append(evs);
  std::string diff = "not checked";
  while (std::chrono::steady_clock::now() < deadline) {
    const auto a = members[0]->loader->status(), b = members[1]->loader->status();
    if (a.polled + b.polled >= before0 + before1 + evs.size() && a.settled == a.polled &&
        b.settled == b.polled) {
      diff = parity(*blue_, *green_, idx_);
      if (diff.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  stop_all();
  for (auto& m : members) EXPECT_TRUE(m->result.is_ok()) << m->result.to_string();
  EXPECT_EQ(diff, "");
  const uint64_t share0 = members[0]->loader->status().polled - before0;
  const uint64_t share1 = members[1]->loader->status().polled - before1;
  std::printf("the two loaders polled %llu and %llu of %zu events\n",
              static_cast<unsigned long long>(share0), static_cast<unsigned long long>(share1),
              evs.size());
  EXPECT_GT(share0, 0u);
  EXPECT_GT(share1, 0u);
  EXPECT_LT(share0, evs.size()) << "one loader did all the work";
}

// Kafka stops mid-run and comes back: the loader waits, then carries on
// from its position; nothing is lost, skipped or applied out of order.
TEST_F(LoaderIt, KafkaUnavailableForAWhileLosesNothing) {
  const char* stop_cmd = std::getenv("TANDEM_KAFKA_STOP_CMD");
  const char* start_cmd = std::getenv("TANDEM_KAFKA_START_CMD");
  if (!stop_cmd || !start_cmd)
    GTEST_SKIP() << "needs TANDEM_KAFKA_STOP_CMD and TANDEM_KAFKA_START_CMD (make test sets them)";
  std::vector<event::ChangeEvent> evs;
  for (int d = 0; d < 6000; ++d) {
    evs.push_back(
        write("k" + std::to_string(d % 1500), d % 7 == 6, R"({"x":)" + std::to_string(d) + "}"));
  }
  append(evs);
  std::thread outage([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(tandem::testing::run_shell(stop_cmd), 0) << stop_cmd;
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(tandem::testing::run_shell(start_cmd), 0) << start_cmd;
  });
  TempStore store;
  LoaderStatus st;
  Status s = run_loader(*green_, *store, &st, /*workers=*/1);
  outage.join();
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(st.dead_lettered, 0u);
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
}

TEST_F(LoaderIt, MissingIndexOnGreenIsCreatedFromBlue) {
  std::string other = tandem::testing::unique_name("ld-it-new");
  nlohmann::json body = {{"settings", {{"number_of_shards", 1}, {"number_of_replicas", 0}}},
                         {"mappings", {{"properties", {{"n", {{"type", "long"}}}}}}}};
  ASSERT_TRUE(blue_->create_index(IndexName(other), body).is_ok());
  auto w = blue_->index_doc(IndexName(other), DocId("1"), R"({"n":5})");
  ASSERT_TRUE(w.is_ok());
  append({event_from(other, "1", *w, false, R"({"n":5})")});
  TempStore store;
  Status s = run_loader(*green_, *store);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(parity(*blue_, *green_, other), "");
  auto gi = green_->get_index(IndexName(other));
  ASSERT_TRUE(gi.is_ok()) << gi.status().to_string();
  EXPECT_NE(gi->dump().find("long"), std::string::npos) << gi->dump();
  (void)blue_->delete_index(IndexName(other));
  (void)green_->delete_index(IndexName(other));
}

class RejectIt : public LoaderIt {
 protected:
  void SetUp() override {
    create_green_ = false;
    LoaderIt::SetUp();
    nlohmann::json strict = {{"settings", {{"number_of_shards", 1}, {"number_of_replicas", 0}}},
                             {"mappings", {{"properties", {{"n", {{"type", "long"}}}}}}}};
    ASSERT_TRUE(green_->create_index(IndexName(idx_), strict).is_ok());
  }
};

TEST_F(RejectIt, DocGreenRejectsIsDeadLetteredWithReason) {
  // "bad" first so blue maps n as text; green's mapping says long.
  std::vector<event::ChangeEvent> evs;
  evs.push_back(write("bad", false, R"({"n":"not a number"})"));
  evs.push_back(write("ok", false, R"({"n":"12"})"));
  append(evs);
  TempStore store;
  LoaderStatus st;
  ASSERT_TRUE(run_loader(*green_, *store, &st).is_ok());
  EXPECT_EQ(st.dead_lettered, 1u);
  auto dl = (*store).dead_letters();
  ASSERT_TRUE(dl.is_ok());
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].doc_id.get(), "bad");
  // 8.x says document_parsing_exception, 7.x mapper_parsing_exception.
  EXPECT_NE((*dl)[0].error_type.find("parsing_exception"), std::string::npos)
      << (*dl)[0].error_type << ": " << (*dl)[0].error_reason;
  EXPECT_NE((*dl)[0].error_reason.find("[n]"), std::string::npos) << (*dl)[0].error_reason;
  auto g = green_->get(IndexName(idx_), DocId("ok"));
  ASSERT_TRUE(g.is_ok());
  EXPECT_TRUE(g->found);
}

}  // namespace
}  // namespace tandem::load

namespace tandem::load {
namespace {

// An index with an ingest pipeline on blue: what the client sent (the
// event's source) is not what blue stored. The loader applies such events
// by reading blue's stored document, so green matches blue.
TEST_F(LoaderIt, IndexWithIngestPipelineIsAppliedFromBluesStoredDocument) {
  const std::string pipeline = idx_ + "-noop";
  // The test distributions have no ingest processors; an empty pipeline is
  // enough for the setting to be real.
  auto put = blue_->call(
      "PUT", "/_ingest/pipeline/" + pipeline,
      nlohmann::json{{"description", "tandem test"}, {"processors", nlohmann::json::array()}});
  ASSERT_TRUE(put.is_ok()) << put.status().to_string();
  ASSERT_TRUE(blue_->put_settings(IndexName(idx_), {{"index.default_pipeline", pipeline}}).is_ok());
  std::vector<event::ChangeEvent> evs;
  for (int i = 0; i < 20; ++i) {
    auto e = write("p" + std::to_string(i), false, R"({"stored":)" + std::to_string(i) + "}");
    e.source = R"({"as_sent_by_the_client":true})";  // what a pipeline would have changed
    evs.push_back(e);
  }
  append(evs);
  TempStore store;
  LoaderStatus st;
  ASSERT_TRUE(run_loader(*green_, *store, &st).is_ok());
  EXPECT_EQ(st.reconciled, 20u);
  EXPECT_EQ(parity(*blue_, *green_, idx_), "");
  (void)blue_->send({"DELETE", "/_ingest/pipeline/" + pipeline});
}

}  // namespace
}  // namespace tandem::load
