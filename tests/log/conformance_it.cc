// The change-log contract (log/log.h), checked against every backend:
//   file  -> open_file_log in a fresh temporary directory
//   kafka -> open_kafka_log on a fresh topic at TANDEM_KAFKA_BROKERS
//            (default 127.0.0.1:19092, started by scripts/services)
// A backend that cannot be opened fails the test, naming where it looked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "log/log.h"
#include "support/services.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int32_t kPartitions = 3;

struct Ack {
  Status status;
  Partition partition{-1};
  Offset offset{-1};
  bool done = false;
};

class LogConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override {
    log_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Opens the backend under test; fails the test (never skips) if it can't.
  Log* open(int32_t partitions = kPartitions) {
    Result<std::unique_ptr<Log>> r = Status(Code::kInternal, "unknown backend " + GetParam());
    if (GetParam() == "file") {
      std::string tmpl = (std::filesystem::temp_directory_path() / "tandem-conf-XXXXXX").string();
      if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl;
      dir_ = tmpl;
      FileLogOptions o;
      o.dir = dir_ + "/log";
      o.partitions = partitions;
      r = open_file_log(o);
    } else if (GetParam() == "kafka") {
      KafkaLogOptions o;
      o.brokers = testing::kafka_brokers();
      o.topic = testing::unique_name("tandem-conf");
      o.partitions = partitions;
      o.replication = 1;
      r = open_kafka_log(o);
    }
    if (!r.is_ok()) {
      ADD_FAILURE() << "cannot open the " << GetParam() << " log: " << r.status().to_string();
      return nullptr;
    }
    log_ = std::move(r).value();
    EXPECT_EQ(log_->partitions(), partitions) << log_->describe();
    return log_.get();
  }

  std::unique_ptr<Consumer> consumer(const std::string& group) {
    auto c = log_->consumer(group);
    EXPECT_TRUE(c.is_ok()) << c.status().to_string();
    return c.is_ok() ? std::move(c).value() : nullptr;
  }

  // Appends (key, value) pairs in one batch and waits for every callback.
  std::vector<Ack> append_all(const std::vector<std::pair<std::string, std::string>>& kvs,
                              std::chrono::milliseconds deadline = 60s) {
    auto acks = std::make_shared<std::vector<Ack>>(kvs.size());
    auto mu = std::make_shared<std::mutex>();
    std::vector<AppendRecord> batch;
    batch.reserve(kvs.size());
    for (size_t i = 0; i < kvs.size(); ++i) {
      batch.push_back(AppendRecord{kvs[i].first, kvs[i].second,
                                   [acks, mu, i](const Status& s, Partition p, Offset o) {
                                     std::lock_guard<std::mutex> l(*mu);
                                     Ack& a = (*acks)[i];
                                     EXPECT_FALSE(a.done) << "callback ran twice for record " << i;
                                     a = Ack{s, p, o, true};
                                   }});
    }
    log_->append(std::move(batch));
    Status f = log_->flush(deadline);
    EXPECT_TRUE(f.is_ok()) << f.to_string();
    std::lock_guard<std::mutex> l(*mu);
    size_t failed = 0;
    for (const Ack& a : *acks) {
      EXPECT_TRUE(a.done) << "flush returned before a callback ran";
      if (!a.status.is_ok() && failed++ < 5) ADD_FAILURE() << a.status.to_string();
    }
    EXPECT_EQ(failed, 0u);
    return *acks;
  }

  // Polls until `n` records arrived or the deadline passed.
  static std::vector<Record> consume(Consumer& c, size_t n,
                                     std::chrono::milliseconds within = 45s) {
    std::vector<Record> out;
    const auto deadline = Clock::now() + within;
    while (out.size() < n && Clock::now() < deadline) {
      auto r = c.poll(std::min<size_t>(n - out.size(), 10000), 500ms);
      if (!r.is_ok()) {
        ADD_FAILURE() << r.status().to_string();
        break;
      }
      for (Record& rec : r.value()) out.push_back(std::move(rec));
    }
    EXPECT_EQ(out.size(), n) << "records consumed before the deadline";
    return out;
  }

  // Nothing more arrives within `quiet`.
  static void expect_no_more(Consumer& c, std::chrono::milliseconds quiet = 1500ms) {
    const auto deadline = Clock::now() + quiet;
    while (Clock::now() < deadline) {
      auto r = c.poll(100, 200ms);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      ASSERT_TRUE(r->empty()) << r->size() << " unexpected record(s), first p"
                              << r->front().partition.get() << "@" << r->front().offset.get();
    }
  }

  std::unique_ptr<Log> log_;
  std::string dir_;
};

std::vector<std::pair<std::string, std::string>> interleaved(int keys, int per_key,
                                                             const std::string& tag) {
  std::vector<std::pair<std::string, std::string>> kvs;
  for (int i = 0; i < per_key; ++i) {
    for (int k = 0; k < keys; ++k) {
      kvs.emplace_back("key-" + std::to_string(k),
                       tag + ":" + std::to_string(k) + ":" + std::to_string(i));
    }
  }
  return kvs;
}

TEST_P(LogConformance, SameKeyKeepsAppendOrderAcrossInterleavedKeys) {
  ASSERT_TRUE(open());
  Log& log = *log_;
  const auto kvs = interleaved(3, 200, "order");
  const auto acks = append_all(kvs);
  std::map<std::string, Partition> partition_of;
  std::map<std::string, int64_t> last_offset;
  for (size_t i = 0; i < kvs.size(); ++i) {
    const std::string& key = kvs[i].first;
    ASSERT_GE(acks[i].partition.get(), 0);
    ASSERT_LT(acks[i].partition.get(), log.partitions());
    auto [it, fresh] = partition_of.emplace(key, acks[i].partition);
    EXPECT_EQ(it->second, acks[i].partition) << "key " << key << " changed partition";
    if (!fresh) {
      EXPECT_GT(acks[i].offset.get(), last_offset[key]) << "key " << key;
    }
    last_offset[key] = acks[i].offset.get();
  }

  auto c = consumer(testing::unique_name("order"));
  ASSERT_TRUE(c);
  const auto recs = consume(*c, kvs.size());
  std::map<std::string, int> next_seq;
  std::map<std::pair<int32_t, int64_t>, size_t> by_position;
  for (size_t i = 0; i < acks.size(); ++i) {
    by_position[{acks[i].partition.get(), acks[i].offset.get()}] = i;
  }
  for (const Record& r : recs) {
    const std::string expected =
        "order:" + r.key.substr(4) + ":" + std::to_string(next_seq[r.key]++);
    ASSERT_EQ(r.value, expected) << "key " << r.key << " out of order";
    auto it = by_position.find({r.partition.get(), r.offset.get()});
    ASSERT_NE(it, by_position.end()) << "record at a position no callback reported";
    EXPECT_EQ(kvs[it->second].second, r.value);
  }
  for (int k = 0; k < 3; ++k) EXPECT_EQ(next_seq["key-" + std::to_string(k)], 200);
}

// The proxy's placement (one request, one partition): an explicit
// partition overrides the key, keeps append order and the record's key; a
// partition the log does not have is refused for good (kInvalidArgument).
TEST_P(LogConformance, ExplicitPartitionOverridesTheKey) {
  ASSERT_TRUE(open());
  auto acks = std::make_shared<std::vector<Ack>>(31);
  auto mu = std::make_shared<std::mutex>();
  std::vector<AppendRecord> batch;
  for (int i = 0; i < 31; ++i) {
    AppendRecord r{"doc-" + std::to_string(i), "v" + std::to_string(i),
                   [acks, mu, i](const Status& s, Partition p, Offset o) {
                     std::lock_guard<std::mutex> l(*mu);
                     (*acks)[i] = Ack{s, p, o, true};
                   }};
    r.partition = i < 30 ? 1 : kPartitions;
    batch.push_back(std::move(r));
  }
  log_->append(std::move(batch));
  ASSERT_TRUE(log_->flush(60s).is_ok());
  {
    std::lock_guard<std::mutex> l(*mu);
    for (int i = 0; i < 30; ++i) {
      ASSERT_TRUE((*acks)[i].status.is_ok()) << (*acks)[i].status.to_string();
      EXPECT_EQ((*acks)[i].partition.get(), 1) << "record " << i;
      if (i > 0) {
        EXPECT_GT((*acks)[i].offset.get(), (*acks)[i - 1].offset.get());
      }
    }
    ASSERT_TRUE((*acks)[30].done);
    EXPECT_EQ((*acks)[30].status.code(), Code::kInvalidArgument) << (*acks)[30].status.to_string();
  }
  auto c = consumer(testing::unique_name("explicit"));
  ASSERT_TRUE(c);
  const auto recs = consume(*c, 30);
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].partition.get(), 1);
    EXPECT_EQ(recs[i].key, "doc-" + std::to_string(i));
    EXPECT_EQ(recs[i].value, "v" + std::to_string(i));
  }
}

TEST_P(LogConformance, RecordsAfterTheLastCommitAreRedelivered) {
  ASSERT_TRUE(open());
  const auto kvs = interleaved(6, 20, "redeliver");
  append_all(kvs);
  const std::string group = testing::unique_name("redeliver");

  std::map<Partition, Offset> commit;
  {
    auto a = consumer(group);
    ASSERT_TRUE(a);
    const auto first = consume(*a, kvs.size());
    // Commit the middle of each partition, having read all of it.
    std::map<Partition, std::vector<int64_t>> seen;
    for (const Record& r : first) seen[r.partition].push_back(r.offset.get());
    for (auto& [p, offs] : seen) commit[p] = Offset(offs[offs.size() / 2]);
    ASSERT_TRUE(a->commit(commit).is_ok());
  }  // destroyed with the rest uncommitted

  auto b = consumer(group);
  ASSERT_TRUE(b);
  auto got = b->committed();
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got.value(), commit);
  auto ends = log_->end_offsets();
  ASSERT_TRUE(ends.is_ok()) << ends.status().to_string();
  size_t expected = 0;
  for (const auto& [p, o] : commit) expected += ends.value()[p.get()].get() - o.get();
  const auto again = consume(*b, expected);
  std::set<std::pair<int32_t, int64_t>> positions;
  for (const Record& r : again) {
    EXPECT_GE(r.offset, commit[r.partition]) << "redelivered a committed record";
    positions.insert({r.partition.get(), r.offset.get()});
  }
  EXPECT_EQ(positions.size(), expected) << "duplicates or gaps in the redelivery";
  expect_no_more(*b);
}

TEST_P(LogConformance, CommitMovesTheGroupPositionAndCommittedReportsIt) {
  ASSERT_TRUE(open());
  const auto kvs = interleaved(6, 10, "commit");
  append_all(kvs);
  const std::string group = testing::unique_name("commit");
  std::map<Partition, Offset> first_commit, second_commit;
  {
    auto c = consumer(group);
    ASSERT_TRUE(c);
    auto none = c->committed();
    ASSERT_TRUE(none.is_ok()) << none.status().to_string();
    EXPECT_TRUE(none->empty()) << "a fresh group has no committed positions";

    const auto recs = consume(*c, kvs.size());
    std::map<Partition, std::vector<Offset>> offs;
    for (const Record& r : recs) offs[r.partition].push_back(r.offset);
    for (auto& [p, v] : offs) {
      first_commit[p] = Offset(v[2].get() + 1);
      second_commit[p] = Offset(v[v.size() - 3].get() + 1);
    }
    ASSERT_TRUE(c->commit(first_commit).is_ok());
    auto got = c->committed();
    ASSERT_TRUE(got.is_ok());
    EXPECT_EQ(got.value(), first_commit);
    ASSERT_TRUE(c->commit(second_commit).is_ok());
    got = c->committed();
    ASSERT_TRUE(got.is_ok());
    EXPECT_EQ(got.value(), second_commit);
    ASSERT_TRUE(c->commit({}).is_ok());  // nothing to do
  }
  {
    auto other = consumer(testing::unique_name("commit-other"));
    ASSERT_TRUE(other);
    auto got = other->committed();
    ASSERT_TRUE(got.is_ok());
    EXPECT_TRUE(got->empty()) << "groups are independent";
  }
  auto c = consumer(group);
  ASSERT_TRUE(c);
  size_t expected = 0;
  auto ends = log_->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  for (const auto& [p, o] : second_commit) expected += ends.value()[p.get()].get() - o.get();
  const auto rest = consume(*c, expected);
  std::map<Partition, Offset> first_seen;
  for (const Record& r : rest) first_seen.emplace(r.partition, r.offset);
  EXPECT_EQ(first_seen, second_commit) << "a new consumer resumes at the committed positions";
}

TEST_P(LogConformance, EndOffsetsMarkTheBackfillStart) {
  ASSERT_TRUE(open());
  Log& log = *log_;
  auto before = log.end_offsets();
  ASSERT_TRUE(before.is_ok()) << before.status().to_string();
  ASSERT_EQ(before->size(), static_cast<size_t>(log.partitions()));
  auto begin = log.begin_offsets();
  ASSERT_TRUE(begin.is_ok()) << begin.status().to_string();
  for (int32_t p = 0; p < log.partitions(); ++p) {
    EXPECT_EQ(before.value()[p], Offset(0)) << "fresh log, partition " << p;
    EXPECT_EQ(begin.value()[p], Offset(0)) << "fresh log, partition " << p;
  }

  const auto acks = append_all(interleaved(5, 10, "before-mark"));
  auto mark = log.end_offsets();
  ASSERT_TRUE(mark.is_ok()) << mark.status().to_string();
  std::vector<int64_t> per_partition(log.partitions(), 0);
  for (const Ack& a : acks) {
    ++per_partition[a.partition.get()];
    EXPECT_LT(a.offset, mark.value()[a.partition.get()]) << "acknowledged record after the mark";
  }
  for (int32_t p = 0; p < log.partitions(); ++p) {
    EXPECT_EQ(mark.value()[p].get() - before.value()[p].get(), per_partition[p])
        << "partition " << p;
  }

  const auto later = interleaved(4, 10, "after-mark");
  append_all(later);
  auto c = consumer(testing::unique_name("mark"));
  ASSERT_TRUE(c);
  for (int32_t p = 0; p < log.partitions(); ++p) {
    ASSERT_TRUE(c->seek(Partition(p), mark.value()[p]).is_ok());
  }
  const auto recs = consume(*c, later.size());
  for (const Record& r : recs) {
    EXPECT_EQ(r.value.rfind("after-mark:", 0), 0u) << r.value;
    EXPECT_GE(r.offset, mark.value()[r.partition.get()]);
  }
  expect_no_more(*c);
}

TEST_P(LogConformance, EventsOfTenMegabytesAndMore) {
  ASSERT_TRUE(open());
  std::vector<std::pair<std::string, std::string>> kvs;
  for (size_t size : {size_t{10} << 20, (size_t{10} << 20) + 12345, size_t{12} << 20}) {
    std::string v(size, '\0');
    for (size_t i = 0; i < size; ++i) v[i] = static_cast<char>((i * 131 + size) % 251);
    kvs.emplace_back("big-" + std::to_string(size), std::move(v));
  }
  kvs.emplace_back("small", "{}");
  append_all(kvs);
  auto c = consumer(testing::unique_name("big"));
  ASSERT_TRUE(c);
  const auto recs = consume(*c, kvs.size());
  std::map<std::string, const std::string*> want;
  for (const auto& [k, v] : kvs) want[k] = &v;
  for (const Record& r : recs) {
    ASSERT_TRUE(want.count(r.key)) << r.key;
    EXPECT_EQ(r.value.size(), want[r.key]->size()) << r.key;
    EXPECT_TRUE(r.value == *want[r.key]) << "payload of " << r.key << " differs";
  }
}

TEST_P(LogConformance, HundredThousandEventsAllAcknowledgedAndConsumedInOrder) {
  ASSERT_TRUE(open());
  constexpr int kKeys = 1000, kEvents = 100000;
  std::vector<std::pair<std::string, std::string>> kvs;
  kvs.reserve(kEvents);
  const std::string pad(64, 'x');
  for (int i = 0; i < kEvents; ++i) {
    const int k = i % kKeys;
    kvs.emplace_back("doc-" + std::to_string(k),
                     std::to_string(k) + ":" + std::to_string(i / kKeys) + ":" + pad);
  }
  const auto start = Clock::now();
  const auto acks = append_all(kvs, 60s);
  const auto appended = Clock::now();
  size_t ok = 0;
  for (const Ack& a : acks) ok += a.status.is_ok() ? 1 : 0;
  EXPECT_EQ(ok, kvs.size());

  auto c = consumer(testing::unique_name("bulk"));
  ASSERT_TRUE(c);
  const auto recs = consume(*c, kEvents, 60s);
  const auto consumed = Clock::now();
  std::vector<int> next(kKeys, 0);
  for (const Record& r : recs) {
    const size_t colon = r.value.find(':');
    const int k = std::stoi(r.value.substr(0, colon));
    const int seq = std::stoi(r.value.substr(colon + 1));
    ASSERT_EQ(r.key, "doc-" + std::to_string(k));
    ASSERT_EQ(seq, next[k]) << "key " << r.key << " out of order or duplicated";
    ++next[k];
  }
  for (int k = 0; k < kKeys; ++k) ASSERT_EQ(next[k], kEvents / kKeys) << "key " << k;
  std::printf("[ %s ] 100k events: append+ack %lld ms, consume %lld ms\n", GetParam().c_str(),
              static_cast<long long>((appended - start) / 1ms),
              static_cast<long long>((consumed - appended) / 1ms));
}

TEST_P(LogConformance, LagPerPartitionIsEndMinusCommitted) {
  ASSERT_TRUE(open());
  Log& log = *log_;
  append_all(interleaved(6, 10, "lag"));
  auto c = consumer(testing::unique_name("lag"));
  ASSERT_TRUE(c);
  auto ends = log.end_offsets();
  ASSERT_TRUE(ends.is_ok());

  auto lag = c->lag();
  ASSERT_TRUE(lag.is_ok()) << lag.status().to_string();
  ASSERT_EQ(lag->size(), static_cast<size_t>(log.partitions()));
  int64_t total = 0;
  for (const PartitionLag& l : lag.value()) {
    EXPECT_EQ(l.committed, Offset(-1)) << "nothing committed yet, partition " << l.partition.get();
    EXPECT_EQ(l.end, ends.value()[l.partition.get()]);
    EXPECT_EQ(l.lag(), l.end.get());
    total += l.lag();
  }
  EXPECT_EQ(total, 60);

  const auto recs = consume(*c, 60);
  std::map<Partition, Offset> half;
  std::map<Partition, std::vector<Offset>> offs;
  for (const Record& r : recs) offs[r.partition].push_back(r.offset);
  for (auto& [p, v] : offs) half[p] = Offset(v[v.size() / 2].get());
  ASSERT_TRUE(c->commit(half).is_ok());
  lag = c->lag();
  ASSERT_TRUE(lag.is_ok()) << lag.status().to_string();
  for (const PartitionLag& l : lag.value()) {
    auto it = half.find(l.partition);
    const int64_t committed = it == half.end() ? -1 : it->second.get();
    EXPECT_EQ(l.committed.get(), committed);
    EXPECT_EQ(l.lag(), ends.value()[l.partition.get()].get() - std::max<int64_t>(committed, 0));
  }

  std::map<Partition, Offset> all;
  for (int32_t p = 0; p < log.partitions(); ++p) all[Partition(p)] = ends.value()[p];
  ASSERT_TRUE(c->commit(all).is_ok());
  lag = c->lag();
  ASSERT_TRUE(lag.is_ok());
  for (const PartitionLag& l : lag.value()) EXPECT_EQ(l.lag(), 0) << l.partition.get();
}

INSTANTIATE_TEST_SUITE_P(Backends, LogConformance, ::testing::Values("file", "kafka"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace tandem::log
