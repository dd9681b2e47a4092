// A file log writer and a shared reader in two processes, the way `tandem
// proxy` and `tandem load` share one on a machine: a forked child holds the
// log as its writer and appends in small batches, rolling segments; the
// parent consumes everything in order while the writer is alive, commits,
// "restarts" (closes and reopens the reader) in the middle, and resumes
// from the committed position.
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "log/file_log_test_util.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using testing::TmpDir;

constexpr int kRecords = 4000;
constexpr int kKeys = 37;
constexpr int32_t kPartitions = 4;

std::string value_of(int i) {
  return "v" + std::to_string(i) + "-" + std::string(static_cast<size_t>(50 + i % 200), 'x');
}

int index_of(const std::string& v) {
  return std::stoi(v.substr(1, v.find('-') - 1));
}

// The child: the writer. Exit code 0 = every append acknowledged.
[[noreturn]] void run_writer(const std::string& dir) {
  FileLogOptions o;
  o.dir = dir;
  o.partitions = kPartitions;
  o.segment_bytes = 16 << 10;  // many rollovers
  auto log = open_file_log(o);
  if (!log.is_ok()) ::_exit(10);
  std::atomic<int> failed{0};
  for (int i = 0; i < kRecords;) {
    std::vector<AppendRecord> batch;
    for (int j = 0; j < 40 && i < kRecords; ++j, ++i) {
      batch.push_back(AppendRecord{"k" + std::to_string(i % kKeys), value_of(i),
                                   [&failed](const Status& s, Partition, Offset) {
                                     if (!s.is_ok()) ++failed;
                                   }});
    }
    (*log)->append(std::move(batch));
    std::this_thread::sleep_for(1ms);
  }
  if (!(*log)->flush(60s).is_ok()) ::_exit(11);
  // Stay alive (holding the writer lock) a little after the last append.
  std::this_thread::sleep_for(300ms);
  log->reset();
  ::_exit(failed.load() == 0 ? 0 : 12);
}

std::unique_ptr<Log> open_reader_when_ready(const std::string& dir) {
  auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    auto r = open_file_log_reader(dir);
    if (r.is_ok()) return std::move(r).value();
    if (std::chrono::steady_clock::now() > until) {
      ADD_FAILURE() << r.status().to_string();
      return nullptr;
    }
    std::this_thread::sleep_for(20ms);
  }
}

TEST(FileLogReaderIt, ReaderProcessConsumesAWritersAppendsInOrderAcrossARestart) {
  TmpDir tmp;
  const std::string dir = tmp.sub("log");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) run_writer(dir);

  std::set<int> seen;
  std::map<int32_t, int64_t> next;    // expected next offset per partition
  std::map<std::string, int> by_key;  // last index per key: append order
  auto check = [&](const Record& r) {
    ASSERT_EQ(r.offset.get(), next[r.partition.get()]) << "partition " << r.partition.get();
    next[r.partition.get()] = r.offset.get() + 1;
    const int i = index_of(r.value);
    ASSERT_EQ(r.value, value_of(i));
    ASSERT_EQ(r.key, "k" + std::to_string(i % kKeys));
    auto it = by_key.find(r.key);
    if (it != by_key.end()) {
      ASSERT_GT(i, it->second) << r.key;
    }
    by_key[r.key] = i;
    ASSERT_TRUE(seen.insert(i).second) << "record " << i << " delivered twice";
  };

  std::map<Partition, Offset> committed;
  {
    auto reader = open_reader_when_ready(dir);
    ASSERT_TRUE(reader);
    ASSERT_EQ(reader->partitions(), kPartitions);
    auto c = testing::open_consumer(*reader, "it-loader");
    ASSERT_TRUE(c);
    auto until = std::chrono::steady_clock::now() + 60s;
    while (seen.size() < kRecords / 2 && std::chrono::steady_clock::now() < until) {
      auto r = c->poll(100, 200ms);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
      for (auto& rec : *r) check(rec);
    }
    ASSERT_GE(seen.size(), static_cast<size_t>(kRecords / 2));
    for (auto& [p, o] : next) committed[Partition(p)] = Offset(o);
    ASSERT_TRUE(c->commit(committed).is_ok());
  }  // reader "restarts": consumer and log closed

  auto reader = open_reader_when_ready(dir);
  ASSERT_TRUE(reader);
  auto c = testing::open_consumer(*reader, "it-loader");
  ASSERT_TRUE(c);
  auto got = c->committed();
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(*got, committed);
  auto until = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < static_cast<size_t>(kRecords) && std::chrono::steady_clock::now() < until) {
    auto r = c->poll(100, 200ms);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    for (auto& rec : *r) check(rec);
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRecords));

  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "writer process failed";

  // After the writer is gone the reader still reads the whole log's ends.
  auto ends = reader->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  int64_t total = 0;
  for (int32_t p = 0; p < kPartitions; ++p) {
    EXPECT_EQ((*ends)[p].get(), next[p]);
    total += (*ends)[p].get();
  }
  EXPECT_EQ(total, kRecords);
  EXPECT_GT(testing::segment_files(dir, 0).size(), 2u) << "segments should have rolled";
}

}  // namespace
}  // namespace tandem::log
