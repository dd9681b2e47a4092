// Backfill against real blue (7.17) / green (8.x), with and without a
// concurrent loader.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "backfill/backfill.h"
#include "load/it_util.h"
#include "load/load.h"
#include "apply/test_util.h"
#include "log/log.h"
#include "support/relay.h"
#include "support/services.h"

namespace tandem::backfill {
namespace {

using namespace tandem::load::it;
using tandem::load::testing::TempStore;

nlohmann::json index_body(int shards) {
  return {{"settings", {{"number_of_shards", shards}, {"number_of_replicas", 0}}}};
}

class BackfillIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", tandem::testing::blue_url());
    green_ = connect_or_die("green", tandem::testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    prefix_ = tandem::testing::unique_name("bf-it");
  }
  void TearDown() override {
    for (auto& i : created_) {
      if (blue_) (void)blue_->delete_index(IndexName(i));
      if (green_) (void)green_->delete_index(IndexName(i));
    }
  }
  std::string make_index(const std::string& suffix, int docs, bool on_green = true) {
    std::string idx = prefix_ + "-" + suffix;
    created_.push_back(idx);
    EXPECT_TRUE(blue_->create_index(IndexName(idx), index_body(2)).is_ok());
    if (on_green) {
      auto b = index_body(2);
      b["settings"]["index.gc_deletes"] = "1h";
      EXPECT_TRUE(green_->create_index(IndexName(idx), b).is_ok());
    }
    es::BulkBuilder bb;
    for (int i = 0; i < docs; ++i) {
      std::optional<std::string> routing;
      if (i % 10 == 0) routing = "r" + std::to_string(i % 3);
      bb.index(IndexName(idx), DocId("id" + std::to_string(i)),
               R"({"i":)" + std::to_string(i) + R"(,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"})",
               routing);
      if (bb.size() >= 1000 || i + 1 == docs) {
        auto r = blue_->bulk(bb, "true");
        EXPECT_TRUE(r.is_ok() && !r->errors);
        bb.clear();
      }
    }
    return idx;
  }
  Options opts() {
    Options o;
    o.job = tandem::testing::unique_name("job");
    o.index_pattern = prefix_ + "-*";
    o.slices = 3;
    o.batch_size = 200;
    o.progress_interval = std::chrono::milliseconds(500);
    o.apply.backoff.initial = std::chrono::milliseconds(20);
    return o;
  }

  // Keeps the run's progress lines instead of printing them.
  void capture_progress(Options& o) {
    o.progress = [this](std::string_view line) {
      std::lock_guard<std::mutex> g(progress_mu_);
      progress_.emplace_back(line);
    };
  }
  // How many captured lines contain `a` (and `b`, when given).
  size_t progress_lines_with(std::string_view a, std::string_view b = {}) {
    std::lock_guard<std::mutex> g(progress_mu_);
    size_t n = 0;
    for (const auto& l : progress_)
      n += l.find(a) != std::string::npos && (b.empty() || l.find(b) != std::string::npos);
    return n;
  }

  // Copies `idx` from `blue` (2 slices, pages of 100, throttled so the
  // copy takes about a second) while `vanish` -- which makes blue forget
  // scan contexts -- runs every 150 ms, at most 6 times, on its own thread.
  // The copy must end complete, at parity, with at least one slice having
  // reopened from its checkpoint (else nothing was tested).
  void copy_while_contexts_vanish(es::Client& blue, Options o, const std::string& idx,
                                  const std::function<void()>& vanish) {
    TempStore store;
    auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
    o.slices = 2;
    o.batch_size = 100;
    o.throttle_docs_per_s = 3000;
    capture_progress(o);
    std::atomic<bool> done{false};
    std::thread disrupter([&] {
      for (int i = 0; i < 6 && !done; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(150));
        vanish();
      }
    });
    auto rep = run(blue, *sink, *store, nullptr, o);
    done = true;
    disrupter.join();
    ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
    EXPECT_TRUE(rep->ok()) << rep->summary();
    EXPECT_EQ(parity(*blue_, *green_, idx), "");
    EXPECT_GT(progress_lines_with("reopening from the checkpoint"), 0u)
        << "no scan context was lost mid-copy: the test did not test anything";
  }

  // Backfills every test index (1 slice each, `workers` indices at a time,
  // throttled so the copy lasts a few seconds) while `act` -- something
  // done to one index on blue -- runs 500 ms in, on its own thread.
  Result<Report> copy_while(int workers, const std::function<void()>& act) {
    TempStore store;
    auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
    Options o = opts();
    o.slices = 1;
    o.workers = workers;
    o.batch_size = 100;
    o.throttle_docs_per_s = 2500;
    std::thread t([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      act();
    });
    auto rep = run(*blue_, *sink, *store, nullptr, o);
    t.join();
    return rep;
  }

  std::unique_ptr<es::Client> blue_, green_;
  std::string prefix_;
  std::mutex progress_mu_;
  std::vector<std::string> progress_;
  std::vector<std::string> created_;
};

TEST_F(BackfillIt, CopiesEveryIndexWithVersionsAndRouting) {
  auto a = make_index("a", 2500);
  auto b = make_index("b", 10);
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  auto rep = run(*blue_, *sink, *store, nullptr, opts());
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok()) << rep->summary();
  ASSERT_EQ(rep->indices.size(), 2u);
  EXPECT_EQ(rep->indices[0].docs, 2500u) << rep->summary();
  EXPECT_EQ(parity(*blue_, *green_, a), "");
  EXPECT_EQ(parity(*blue_, *green_, b), "");
  // Routed documents kept their routing.
  auto g = green_->get(IndexName(a), DocId("id10"), std::string("r1"));
  ASSERT_TRUE(g.is_ok());
  EXPECT_TRUE(g->found);
  // A second run is a no-op (all slices done).
  auto again = run(*blue_, *sink, *store, nullptr, opts());
  ASSERT_TRUE(again.is_ok());
}

TEST_F(BackfillIt, StopAndResumeFromCheckpoint) {
  auto a = make_index("r", 3000);
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  Options o = opts();
  o.throttle_docs_per_s = 3000;
  std::atomic<bool> stop{false};
  o.stop = &stop;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    stop = true;
  });
  auto first = run(*blue_, *sink, *store, nullptr, o);
  t.join();
  ASSERT_TRUE(first.is_ok());
  EXPECT_TRUE(first->stopped);
  EXPECT_LT(first->indices[0].docs, 3000u);
  stop = false;
  o.throttle_docs_per_s = 0;
  auto second = run(*blue_, *sink, *store, nullptr, o);
  ASSERT_TRUE(second.is_ok());
  EXPECT_TRUE(second->ok()) << second->summary();
  EXPECT_TRUE(second->indices[0].resumed);
  EXPECT_EQ(parity(*blue_, *green_, a), "");
  // Changing the slice count of a job is refused.
  o.slices = 5;
  auto bad = run(*blue_, *sink, *store, nullptr, o);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("--slices"), std::string::npos);
}

TEST_F(BackfillIt, ScrollModeAlsoConverges) {
  auto a = make_index("s", 1200);
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  Options o = opts();
  o.force_scroll = true;
  auto rep = run(*blue_, *sink, *store, nullptr, o);
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok()) << rep->summary();
  EXPECT_EQ(parity(*blue_, *green_, a), "");
}

// Scroll contexts vanishing mid-copy (expiry, a node restart, an operator's
// DELETE): each slice reopens from its checkpoint and nothing is skipped.
TEST_F(BackfillIt, ExpiredScrollResumesFromTheCheckpoint) {
  auto a = make_index("x", 3000);
  Options o = opts();
  o.force_scroll = true;
  copy_while_contexts_vanish(*blue_, o, a, [&] {
    (void)blue_->send({"DELETE", "/_search/scroll/_all"});
  });
}

// Point-in-time contexts freed mid-copy (what keep_alive expiry does, but
// now instead of after search.keep_alive_interval): blue's traffic goes
// through a recording relay, and every PIT id blue has handed out is freed
// with a real DELETE /_pit. Each slice reopens from its search_after
// checkpoint and nothing is skipped.
TEST_F(BackfillIt, ExpiredPitResumesFromTheCheckpoint) {
  auto a = make_index("p", 3000);
  auto blue_url = http::Url::parse(tandem::testing::blue_url());
  ASSERT_TRUE(blue_url.is_ok());
  tandem::testing::RecordingRelay relay(blue_url->host, blue_url->port);
  auto via = connect_or_die("blue", "http://127.0.0.1:" + std::to_string(relay.port()));
  ASSERT_TRUE(via);
  ASSERT_TRUE(via->info().caps.pit_scan && via->info().caps.pit_slicing)
      << "blue " << tandem::testing::blue_url() << " cannot scan with sliced PITs";
  std::set<std::string> freed;
  copy_while_contexts_vanish(*via, opts(), a, [&] {
    for (const auto& ex : relay.exchanges()) {
      auto body = nlohmann::json::parse(ex.response_body, nullptr, false);
      if (ex.status != 200 || !body.is_object()) continue;
      // Opening a PIT answers {"id"}; each search answers {"pit_id"}.
      const char* key = ex.target.find("/_pit") != std::string::npos ? "id" : "pit_id";
      if (!body.contains(key) || !body[key].is_string() || freed.count(body[key])) continue;
      auto r = blue_->send({"DELETE", "/_pit", nlohmann::json{{"id", body[key]}}.dump()});
      if (r.is_ok() && r->status == 200) freed.insert(body[key]);
    }
  });
  EXPECT_FALSE(freed.empty()) << "no PIT was freed: the test did not test anything";
}

// Blue goes away mid-copy (connections refused, pooled ones reset) and comes
// back 1.5 s later: each slice reopens from its checkpoint, with backoff,
// and the copy completes with nothing skipped.
TEST_F(BackfillIt, BlueUnreachableForAWhileResumesFromTheCheckpoint) {
  auto a = make_index("u", 4000);
  auto blue_url = http::Url::parse(tandem::testing::blue_url());
  ASSERT_TRUE(blue_url.is_ok());
  tandem::testing::FlakyEndpoint endpoint(blue_url->host, blue_url->port);
  auto via = connect_or_die("blue", endpoint.url());
  ASSERT_TRUE(via);
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  Options o = opts();
  o.slices = 2;
  o.batch_size = 100;
  o.throttle_docs_per_s = 4000;
  o.apply.backoff.max = std::chrono::milliseconds(1000);
  capture_progress(o);
  endpoint.outage(std::chrono::milliseconds(300), std::chrono::milliseconds(1500));
  auto rep = run(*via, *sink, *store, nullptr, o);
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_TRUE(rep->ok()) << rep->summary();
  EXPECT_EQ(parity(*blue_, *green_, a), "");
  EXPECT_GT(progress_lines_with("reopening from the checkpoint", "blue"), 0u)
      << "the outage came after the copy finished: nothing was tested";
}

// An index closed on blue mid-copy fails alone, named, with blue's reason;
// the other index is copied completely.
TEST_F(BackfillIt, IndexClosedMidCopyFailsAloneNamingIt) {
  auto keep = make_index("ckeep", 1500);
  auto closing = make_index("closing", 3000);
  auto rep = copy_while(/*workers=*/2, [&] {
    EXPECT_TRUE(blue_->send({"POST", "/" + closing + "/_close"}).is_ok());
  });
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_FALSE(rep->ok()) << rep->summary();
  bool named = false;
  for (auto& i : rep->indices) {
    if (i.index.get() == keep) {
      EXPECT_EQ(i.error, "") << rep->summary();
    }
    if (i.index.get() == closing) {
      named =
          i.error.find(closing) != std::string::npos && i.error.find("closed") != std::string::npos;
      EXPECT_TRUE(named) << rep->summary();
    }
  }
  EXPECT_EQ(parity(*blue_, *green_, keep), "");
  (void)blue_->send({"POST", "/" + closing + "/_open"});
}

TEST_F(BackfillIt, DeletedIndexFailsAloneAndMissingGreenIndexSaysMetaApply) {
  auto keep = make_index("keep", 2000);
  auto drop = make_index("drop", 2000);
  auto nogreen = make_index("nogreen", 5, /*on_green=*/false);
  auto rep =
      copy_while(/*workers=*/3, [&] { EXPECT_TRUE(blue_->delete_index(IndexName(drop)).is_ok()); });
  ASSERT_TRUE(rep.is_ok()) << rep.status().to_string();
  EXPECT_FALSE(rep->ok());
  std::string sum = rep->summary();
  for (auto& i : rep->indices) {
    if (i.index.get() == keep) {
      EXPECT_EQ(i.error, "") << sum;
    }
    if (i.index.get() == drop) {
      EXPECT_NE(i.error.find(drop), std::string::npos) << sum;
    }
    if (i.index.get() == nogreen) {
      EXPECT_NE(i.error.find("tandem meta apply"), std::string::npos) << sum;
    }
  }
  EXPECT_EQ(parity(*blue_, *green_, keep), "");
}

TEST_F(BackfillIt, RejectedDocIsDeadLettered) {
  std::string idx = prefix_ + "-rej";
  created_.push_back(idx);
  ASSERT_TRUE(blue_->create_index(IndexName(idx), index_body(1)).is_ok());
  nlohmann::json strict = index_body(1);
  strict["mappings"] = {{"properties", {{"n", {{"type", "long"}}}}}};
  ASSERT_TRUE(green_->create_index(IndexName(idx), strict).is_ok());
  ASSERT_TRUE(blue_->index_doc(IndexName(idx), DocId("good"), R"({"n":"1"})").is_ok());
  ASSERT_TRUE(blue_->index_doc(IndexName(idx), DocId("bad"), R"({"n":"abc"})").is_ok());
  ASSERT_TRUE(blue_->refresh(IndexName(idx)).is_ok());
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  auto rep = run(*blue_, *sink, *store, nullptr, opts());
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok()) << rep->summary();  // a dead letter is not an index failure
  auto dl = (*store).dead_letters();
  ASSERT_EQ(dl->size(), 1u);
  EXPECT_EQ((*dl)[0].source, "backfill");
  EXPECT_EQ((*dl)[0].doc_id.get(), "bad");
  // 8.x says document_parsing_exception, 7.x mapper_parsing_exception.
  EXPECT_NE((*dl)[0].error_type.find("parsing_exception"), std::string::npos)
      << (*dl)[0].error_type;
}

// Backfill and loader at once while blue takes writes: the copies and the
// events commute; green ends equal to blue.
TEST_F(BackfillIt, InterleavedWithLiveLoaderConverges) {
  auto idx = make_index("live", 2000);
  log::KafkaLogOptions ko;
  ko.brokers = tandem::testing::kafka_brokers();
  ko.topic = tandem::testing::unique_name("bf-it-topic");
  ko.partitions = 4;
  auto log = log::open_kafka_log(ko);
  ASSERT_TRUE(log.is_ok()) << "Kafka at " << ko.brokers << ": " << log.status().to_string();
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937 rng(3);
    for (int i = 0; i < 600; ++i) {
      // Ids the seeding routed (i % 10 == 0) are left alone: a write without
      // the routing would create a second document with the same id.
      int n = static_cast<int>(rng() % 2500);
      if (n % 10 == 0) ++n;
      std::string id = "id" + std::to_string(n);  // updates, deletes, new ids
      bool del = rng() % 4 == 0;
      event::ChangeEvent e;
      if (del) {
        auto w = blue_->delete_doc(IndexName(idx), DocId(id));
        ASSERT_TRUE(w.is_ok());
        e = event_from(idx, id, *w, true, "");
      } else {
        std::string src = R"({"live":)" + std::to_string(i) + "}";
        auto w = blue_->index_doc(IndexName(idx), DocId(id), src);
        ASSERT_TRUE(w.is_ok());
        e = event_from(idx, id, *w, false, src);
      }
      (*log)->append({log::AppendRecord{event::partition_key(e), event::encode(e), {}}});
    }
    ASSERT_TRUE((*log)->flush(std::chrono::seconds(30)).is_ok());
    writing = false;
  });
  TempStore store;
  auto sink = load::make_es_sink(*blue_, *green_, load::EsSinkOptions{false, "1h"});
  auto consumer = (*log)->consumer(tandem::testing::unique_name("bf-it-group"));
  ASSERT_TRUE(consumer.is_ok());
  load::LoaderOptions lo;
  lo.progress_interval = std::chrono::seconds(0);
  auto loader = load::make_loader(**consumer, *sink, *store, lo);
  std::thread lt([&] { EXPECT_TRUE(loader->run().is_ok()); });
  Options o = opts();
  o.throttle_docs_per_s = 4000;  // overlap the writes
  auto rep = run(*blue_, *sink, *store, (*log).get(), o);
  writer.join();
  ASSERT_TRUE(rep.is_ok());
  EXPECT_TRUE(rep->ok()) << rep->summary();
  EXPECT_EQ(rep->log_end.size(), 4u);
  // Wait (bounded) for the loader to drain, then stop it.
  for (int i = 0; i < 600; ++i) {
    auto st = loader->status();
    if (st.inflight_events == 0 && st.polled >= 600) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  loader->stop();
  lt.join();
  EXPECT_EQ(parity(*blue_, *green_, idx), "");
}

}  // namespace
}  // namespace tandem::backfill
