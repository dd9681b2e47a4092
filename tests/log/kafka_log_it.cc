// Kafka-specific behaviour beyond the shared conformance suite: topic
// creation rules, the "all partitions" consumer mode, and rebalances in a
// consumer group (at-least-once: nothing skipped).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"
#include "support/services.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;
using ::testing::Not;

KafkaLogOptions options(int32_t partitions = 3) {
  KafkaLogOptions o;
  o.brokers = testing::kafka_brokers();
  o.topic = testing::unique_name("tandem-kafka");
  o.partitions = partitions;
  o.replication = 1;
  return o;
}

std::unique_ptr<Log> open_or_fail(const KafkaLogOptions& o) {
  auto r = open_kafka_log(o);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  return r.is_ok() ? std::move(r).value() : nullptr;
}

void append_n(Log& log, int n, const std::string& tag) {
  std::vector<AppendRecord> batch;
  for (int i = 0; i < n; ++i) {
    batch.push_back(AppendRecord{
        "key-" + std::to_string(i % 12), tag + std::to_string(i),
        [](const Status& s, Partition, Offset) { EXPECT_TRUE(s.is_ok()) << s.to_string(); }});
  }
  log.append(std::move(batch));
  ASSERT_TRUE(log.flush(30s).is_ok());
}

TEST(KafkaLog, ExistingTopicKeepsItsPartitionCount) {
  auto o = options(3);
  auto first = open_or_fail(o);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->partitions(), 3);
  EXPECT_EQ(first->describe(), "kafka topic " + o.topic + " at " + o.brokers);
  o.partitions = 5;
  auto second = open_or_fail(o);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->partitions(), 3) << "the existing topic's partition count wins";
}

// A request's records go to librdkafka as one batch per partition run. A
// queue smaller than the batch (10 of 150) makes the batch call refuse most
// of them for a full queue; those must go through one by one, waiting for
// room, each delivered once to the partition asked for.
TEST(KafkaLog, BatchLargerThanTheProducerQueueIsDeliveredWhole) {
  auto o = options(3);
  o.properties["queue.buffering.max.messages"] = "10";
  o.properties["tandem.append.block.ms"] = "20000";
  auto log = open_or_fail(o);
  ASSERT_TRUE(log);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> misplaced{0};
  std::vector<AppendRecord> batch;
  for (int i = 0; i < 150; ++i) {
    const int32_t want = i < 60 ? 2 : (i < 120 ? 0 : -1);
    AppendRecord r{"key-" + std::to_string(i), "v" + std::to_string(i),
                   [&, want](const Status& s, Partition p, Offset) {
                     if (!s.is_ok()) {
                       ADD_FAILURE() << s.to_string();
                       ++failed;
                       return;
                     }
                     if (want >= 0 && p.get() != want) ++misplaced;
                     ++ok;
                   }};
    r.partition = want;
    batch.push_back(std::move(r));
  }
  log->append(std::move(batch));
  ASSERT_TRUE(log->flush(30s).is_ok());
  EXPECT_EQ(ok.load(), 150);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(misplaced.load(), 0);
  auto ends = log->end_offsets();
  ASSERT_TRUE(ends.is_ok()) << ends.status().to_string();
  int64_t total = 0;
  for (Offset e : *ends) total += e.get();
  EXPECT_EQ(total, 150);
  EXPECT_GE((*ends)[2].get(), 60);
  EXPECT_GE((*ends)[0].get(), 60);
}

TEST(KafkaLog, ReplicationAboveTheBrokerCountIsAClearError) {
  auto o = options();
  o.replication = 3;
  auto r = open_kafka_log(o);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(o.brokers));
  EXPECT_THAT(r.status().message(), HasSubstr("replication 3"));
}

TEST(KafkaLog, EmptyGroupIsRefused) {
  auto log = open_or_fail(options());
  ASSERT_TRUE(log);
  EXPECT_EQ(log->consumer("").status().code(), Code::kInvalidArgument);
}

TEST(KafkaLog, AllPartitionsModeReadsEverythingAndResumesAtTheCommit) {
  auto o = options(4);
  o.properties["tandem.consumer.assignment"] = "all";
  auto log = open_or_fail(o);
  ASSERT_TRUE(log);
  append_n(*log, 200, "all-");
  const std::string group = testing::unique_name("all");
  std::map<Partition, Offset> commit;
  {
    auto c = log->consumer(group);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    // Seeking works immediately in this mode: re-read partition 0 from 0.
    std::vector<Record> got;
    const auto deadline = Clock::now() + 30s;
    while (got.size() < 200 && Clock::now() < deadline) {
      auto r = (*c)->poll(1000, 500ms);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      got.insert(got.end(), r->begin(), r->end());
    }
    ASSERT_EQ(got.size(), 200u);
    for (const Record& r : got) commit[r.partition] = Offset(r.offset.get() + 1);
    commit[Partition(0)] = Offset(0);
    ASSERT_TRUE((*c)->commit(commit).is_ok());
  }
  auto ends = log->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  auto c = log->consumer(group);
  ASSERT_TRUE(c.is_ok());
  std::vector<Record> again;
  const auto deadline = Clock::now() + 30s;
  while (again.size() < static_cast<size_t>(ends.value()[0].get()) && Clock::now() < deadline) {
    auto r = (*c)->poll(1000, 500ms);
    ASSERT_TRUE(r.is_ok());
    again.insert(again.end(), r->begin(), r->end());
  }
  ASSERT_EQ(again.size(), static_cast<size_t>(ends.value()[0].get()));
  for (const Record& r : again) EXPECT_EQ(r.partition, Partition(0));

  // seek() repositions at once.
  ASSERT_TRUE((*c)->seek(Partition(1), Offset(0)).is_ok());
  auto r = (*c)->poll(1000, 10s);
  ASSERT_TRUE(r.is_ok());
  ASSERT_FALSE(r->empty());
  EXPECT_EQ(r->front().partition, Partition(1));
  EXPECT_EQ(r->front().offset, Offset(0));
}

// group_lag() keeps one reader per group between calls (a cutover polls it
// while writes are held): every call still reads the committed positions
// and the end afresh, and the reader never joins the group, so the group's
// own consumer keeps every partition.
TEST(KafkaLog, GroupLagIsFreshOnEveryCallAndNeverJoinsTheGroup) {
  auto log = open_or_fail(options(2));
  ASSERT_TRUE(log);
  append_n(*log, 40, "lag-");
  const std::string group = testing::unique_name("lag");
  auto sum = [&]() -> int64_t {
    auto l = log->group_lag(group);
    EXPECT_TRUE(l.is_ok()) << l.status().to_string();
    int64_t t = 0;
    if (l.is_ok()) {
      for (const auto& p : *l) t += p.lag();
    }
    return t;
  };
  EXPECT_EQ(sum(), 40);  // nothing committed yet
  auto c = log->consumer(group);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  std::vector<Record> got;
  const auto deadline = Clock::now() + 30s;
  while (got.size() < 40 && Clock::now() < deadline) {
    auto r = (*c)->poll(1000, 500ms);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    got.insert(got.end(), r->begin(), r->end());
    EXPECT_GE(sum(), 0);  // read while the member polls: it must keep its partitions
  }
  ASSERT_EQ(got.size(), 40u) << "the group's member lost records to the lag reader";
  std::map<Partition, Offset> next;
  for (const Record& r : got) next[r.partition] = Offset(r.offset.get() + 1);
  ASSERT_TRUE((*c)->commit(next).is_ok());
  EXPECT_EQ(sum(), 0);
  append_n(*log, 5, "more-");
  EXPECT_EQ(sum(), 5);  // the end moved: read again, not remembered
}

// Two members share a group; one leaves mid-way without committing its last
// batch. Everything is processed at least once, and what the leaver had not
// committed is read again by the survivor.
//
// `a` joins alone and takes a first batch before `b` exists, so `a` surely
// owns partitions when it leaves: if both joined at once, `b` could be
// assigned everything and drain the topic before `a` was given any work.
TEST(KafkaLog, RebalanceSkipsNothing) {
  auto log = open_or_fail(options(6));
  ASSERT_TRUE(log);
  append_n(*log, 600, "rb-");
  const std::string group = testing::unique_name("rebalance");

  std::multiset<std::string> seen;
  std::set<std::string> distinct;
  std::set<int32_t> partitions_of_a;
  // Processes one poll's records; returns the positions to commit.
  auto take = [&](const std::vector<Record>& records, bool is_a) {
    std::map<Partition, Offset> next;
    for (const Record& rec : records) {
      seen.insert(rec.value);
      distinct.insert(rec.value);
      next[rec.partition] = Offset(rec.offset.get() + 1);
      if (is_a) partitions_of_a.insert(rec.partition.get());
    }
    return next;
  };
  // A commit may fail while the group rebalances; that is redelivery, not
  // loss. The member retries until its commit lands.
  auto commit = [](Consumer& c, const std::map<Partition, Offset>& next) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      if (c.commit(next).is_ok()) return;
      std::this_thread::sleep_for(100ms);
    }
  };

  auto a = log->consumer(group);
  ASSERT_TRUE(a.is_ok());
  std::unique_ptr<Consumer> ca = std::move(a).value();
  const auto deadline = Clock::now() + 40s;
  while (partitions_of_a.empty() && Clock::now() < deadline) {
    auto r = ca->poll(50, 200ms);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    commit(*ca, take(r.value(), true));
  }
  ASSERT_FALSE(partitions_of_a.empty()) << "a alone in the group was never given records";
  ASSERT_LT(distinct.size(), 600u) << "a drained the topic before b joined";

  auto b = log->consumer(group);
  ASSERT_TRUE(b.is_ok());
  std::unique_ptr<Consumer> cb = std::move(b).value();
  bool a_gone = false;
  const size_t before_b = seen.size();
  while (distinct.size() < 600 && Clock::now() < deadline) {
    for (Consumer* c : {ca.get(), cb.get()}) {
      if (!c) continue;
      auto r = c->poll(50, 200ms);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      const auto next = take(r.value(), c == ca.get());
      // `a` leaves with its first batch after b joined still uncommitted.
      if (c == ca.get() && !r->empty() && seen.size() > before_b) {
        ca.reset();
        a_gone = true;
        continue;
      }
      commit(*c, next);
    }
  }
  EXPECT_EQ(distinct.size(), 600u) << "every record processed at least once";
  EXPECT_TRUE(a_gone) << "a was given no records after b joined";
  std::printf("processed %zu deliveries of 600 records (a owned %zu partitions)\n", seen.size(),
              partitions_of_a.size());
  // The survivor's commits cover every partition up to the end.
  auto lag = cb->lag();
  ASSERT_TRUE(lag.is_ok()) << lag.status().to_string();
  for (const PartitionLag& l : lag.value()) EXPECT_EQ(l.lag(), 0) << l.partition.get();
}

TEST(KafkaConfig, UnreachableBrokerIsUnavailableNamingTheBrokersInTime) {
  KafkaLogOptions o;
  o.brokers = "127.0.0.1:1";  // nothing listens on port 1
  o.topic = "tandem-unreachable";
  o.admin_timeout = std::chrono::milliseconds(1500);
  o.properties = {{"sasl.password", "Sup3r-S3cret-Passw0rd"}};
  const auto start = std::chrono::steady_clock::now();
  auto r = open_kafka_log(o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().to_string();
  EXPECT_THAT(r.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("Sup3r-S3cret-Passw0rd")));
  EXPECT_LT(took, o.admin_timeout + std::chrono::seconds(3));
}

}  // namespace
}  // namespace tandem::log
