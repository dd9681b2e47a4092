// Unit tests of the embedded file log: tmp dirs only, no network.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "event/event.h"
#include "log/file_log_format.h"
#include "log/file_log_test_util.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using testing::Ack;
using testing::append_and_wait;
using testing::must_open;
using testing::open_consumer;
using testing::options;
using testing::read_n;
using testing::segment_files;
using testing::TmpDir;

std::vector<std::pair<std::string, std::string>> kvs(int n, int keys = 10,
                                                     const std::string& tag = "v") {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i)
    out.emplace_back("key-" + std::to_string(i % keys), tag + std::to_string(i));
  return out;
}

void append_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void flip_byte(const std::string& path, uint64_t pos) {
  int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char c;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(pos)), 1);
  c ^= 0x40;
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(pos)), 1);
  ::close(fd);
}

uint64_t file_size(const std::string& path) {
  return std::filesystem::file_size(path);
}

// --- ordering and offsets --------------------------------------------------

// An explicit partition overrides the key (the proxy puts one request's
// events in one partition); one the log does not have is refused for good.
TEST(FileLog, ExplicitPartitionOverridesTheKeyAndOutOfRangeIsRefused) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 4));
  ASSERT_TRUE(log);
  auto acks = std::make_shared<std::vector<Ack>>(41);
  std::vector<AppendRecord> batch;
  for (int i = 0; i < 41; ++i) {
    AppendRecord r{"key-" + std::to_string(i), "v" + std::to_string(i),
                   [acks, i](const Status& s, Partition p, Offset o) {
                     (*acks)[i] = Ack{s, p.get(), o.get()};
                   }};
    r.partition = i < 40 ? 2 : 4;
    batch.push_back(std::move(r));
  }
  log->append(std::move(batch));
  ASSERT_TRUE(log->flush(std::chrono::seconds(60)).is_ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE((*acks)[i].status.is_ok()) << (*acks)[i].status.to_string();
    EXPECT_EQ((*acks)[i].partition, 2);
    EXPECT_EQ((*acks)[i].offset, i) << "append order kept within the partition";
  }
  EXPECT_EQ((*acks)[40].status.code(), Code::kInvalidArgument) << (*acks)[40].status.to_string();
  EXPECT_NE((*acks)[40].status.message().find("no partition 4"), std::string::npos);
  auto c = log->consumer("g");
  ASSERT_TRUE(c.is_ok());
  auto got = read_n(**c, 40);
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(got->size(), 40u);
  EXPECT_EQ((*got)[7].key, "key-7") << "the key is kept as given";
}

TEST(FileLog, SameKeySamePartitionInAppendOrderWithDenseOffsets) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 4));
  ASSERT_TRUE(log);
  EXPECT_EQ(log->describe(), "file log at " + dir.path());
  auto in = kvs(1000);
  auto acks = append_and_wait(*log, in);
  std::map<int32_t, std::set<int64_t>> offsets;
  std::map<std::string, int64_t> last_offset_for_key;
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_TRUE(acks[i].status.is_ok()) << acks[i].status.to_string();
    EXPECT_EQ(acks[i].partition, event::partition_for(in[i].first, 4));
    EXPECT_TRUE(offsets[acks[i].partition].insert(acks[i].offset).second);
    auto it = last_offset_for_key.find(in[i].first);
    if (it != last_offset_for_key.end()) {
      EXPECT_GT(acks[i].offset, it->second);
    }
    last_offset_for_key[in[i].first] = acks[i].offset;
  }
  auto ends = log->end_offsets();
  ASSERT_TRUE(ends.is_ok());
  for (auto& [p, set] : offsets) {
    EXPECT_EQ(*set.begin(), 0);
    EXPECT_EQ(*set.rbegin(), static_cast<int64_t>(set.size()) - 1);  // dense
    EXPECT_EQ((*ends)[p].get(), static_cast<int64_t>(set.size()));
  }

  auto c = log->consumer("g");
  ASSERT_TRUE(c.is_ok());
  auto recs = read_n(**c, 1000);
  ASSERT_TRUE(recs.is_ok()) << recs.status().to_string();
  ASSERT_EQ(recs->size(), 1000u);
  std::map<int32_t, int64_t> next;
  std::map<std::pair<int32_t, int64_t>, size_t> by_pos;
  for (size_t i = 0; i < in.size(); ++i) by_pos[{acks[i].partition, acks[i].offset}] = i;
  for (auto& r : *recs) {
    EXPECT_EQ(r.offset.get(), next[r.partition.get()]++) << "offset order within a partition";
    size_t i = by_pos.at({r.partition.get(), r.offset.get()});
    EXPECT_EQ(r.key, in[i].first);
    EXPECT_EQ(r.value, in[i].second);
  }
}

TEST(FileLog, CallbackRunsOnlyOnceTheRecordIsOnDisk) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 1));
  std::mutex mu;
  std::vector<std::string> problems;
  std::atomic<int> calls{0};
  std::vector<AppendRecord> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(AppendRecord{
        "k", "value-" + std::to_string(i), [&, i](const Status& s, Partition, Offset o) {
          ++calls;
          // Re-read the segment through a fresh fd: the
          // record must already be there, whole.
          std::string seg = segment_files(dir.path(), 0).back();
          std::ifstream f(seg, std::ios::binary);
          std::string bytes((std::istreambuf_iterator<char>(f)), {});
          std::lock_guard<std::mutex> lk(mu);
          if (!s.is_ok()) problems.push_back(s.to_string());
          if (o.get() != i) problems.push_back("offset " + std::to_string(o.get()));
          if (bytes.find("value-" + std::to_string(i)) == std::string::npos) {
            problems.push_back("record " + std::to_string(i) + " not on disk");
          }
        }});
  }
  log->append(std::move(batch));
  ASSERT_TRUE(log->flush(10s).is_ok());
  EXPECT_EQ(calls.load(), 50);
  EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST(FileLog, ManyThreadsAppendConcurrently) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 3));
  constexpr int kThreads = 8, kPer = 500;
  std::mutex mu;
  std::map<int32_t, std::set<int64_t>> seen;
  std::atomic<int> errors{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        std::vector<AppendRecord> b;
        b.push_back(AppendRecord{"t" + std::to_string(t) + "-" + std::to_string(i % 7), "x",
                                 [&](const Status& s, Partition p, Offset o) {
                                   if (!s.is_ok()) ++errors;
                                   std::lock_guard<std::mutex> lk(mu);
                                   seen[p.get()].insert(o.get());
                                 }});
        log->append(std::move(b));
        if (i % 100 == 0) {
          EXPECT_TRUE(log->flush(10s).is_ok());
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  ASSERT_TRUE(log->flush(30s).is_ok());
  EXPECT_EQ(errors.load(), 0);
  size_t total = 0;
  auto ends = *log->end_offsets();
  for (auto& [p, s] : seen) {
    total += s.size();
    EXPECT_EQ(static_cast<int64_t>(s.size()), ends[p].get());
    EXPECT_EQ(*s.rbegin(), static_cast<int64_t>(s.size()) - 1);
  }
  EXPECT_EQ(total, size_t{kThreads * kPer});
}

// --- durability and consumer groups ------------------------------------------

TEST(FileLog, ReopenKeepsEverythingAndContinuesOffsets) {
  TmpDir dir;
  auto in = kvs(300);
  std::vector<Offset> ends_before;
  {
    auto log = must_open(options(dir.path()));
    append_and_wait(*log, in);
    ends_before = *log->end_offsets();
  }
  auto log = must_open(options(dir.path()));
  EXPECT_EQ(*log->end_offsets(), ends_before);
  auto c = open_consumer(*log, "g");
  auto recs = read_n(*c, 1000);
  ASSERT_TRUE(recs.is_ok());
  EXPECT_EQ(recs->size(), 300u);
  auto more = append_and_wait(*log, {{"key-1", "after-reopen"}});
  ASSERT_TRUE(more[0].status.is_ok());
  EXPECT_EQ(more[0].offset, ends_before[more[0].partition].get());
}

TEST(FileLog, GroupsResumeFromCommittedPositionsAcrossReopen) {
  TmpDir dir;
  {
    auto log = must_open(options(dir.path(), 2));
    append_and_wait(*log, kvs(100));
    auto c = open_consumer(*log, "loader");
    auto first = read_n(*c, 40);
    ASSERT_TRUE(first.is_ok());
    ASSERT_EQ(first->size(), 40u);
    std::map<Partition, Offset> pos;
    for (auto& r : *first) pos[r.partition] = Offset(r.offset.get() + 1);
    ASSERT_TRUE(c->commit(pos).is_ok());
    auto com = c->committed();
    ASSERT_TRUE(com.is_ok());
    EXPECT_EQ(*com, pos);
  }
  auto log = must_open(options(dir.path(), 2));
  auto c = open_consumer(*log, "loader");
  auto rest = read_n(*c, 1000);
  ASSERT_TRUE(rest.is_ok());
  EXPECT_EQ(rest->size(), 60u) << "resumes after the committed records";
  auto other = open_consumer(*log, "verify");
  auto all = read_n(*other, 1000);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(all->size(), 100u) << "another group starts at the beginning";
  auto com = *other->committed();
  EXPECT_TRUE(com.empty());
}

TEST(FileLog, LagAndEndOffsets) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 2));
  auto acks = append_and_wait(*log, kvs(50));
  auto c = open_consumer(*log, "g");
  auto lag = c->lag();
  ASSERT_TRUE(lag.is_ok());
  ASSERT_EQ(lag->size(), 2u);
  auto ends = *log->end_offsets();
  int64_t total = 0;
  for (auto& l : *lag) {
    EXPECT_EQ(l.committed.get(), -1);
    EXPECT_EQ(l.end, ends[l.partition.get()]);
    total += l.lag();
  }
  EXPECT_EQ(total, 50);
  ASSERT_TRUE(
      c->commit({{Partition(0), Offset(ends[0].get())}, {Partition(1), Offset(1)}}).is_ok());
  lag = c->lag();
  EXPECT_EQ((*lag)[0].lag(), 0);
  EXPECT_EQ((*lag)[1].lag(), ends[1].get() - 1);
  EXPECT_EQ((*lag)[1].committed.get(), 1);
  EXPECT_EQ(c->commit({{Partition(9), Offset(0)}}).code(), Code::kInvalidArgument);
}

TEST(FileLog, SeekRepositionsReading) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 1));
  append_and_wait(*log, kvs(20));
  auto c = open_consumer(*log, "g");
  ASSERT_EQ(read_n(*c, 20)->size(), 20u);
  ASSERT_TRUE(c->seek(Partition(0), Offset(15)).is_ok());
  auto tail = *read_n(*c, 100);
  ASSERT_EQ(tail.size(), 5u);
  EXPECT_EQ(tail[0].offset.get(), 15);
  EXPECT_EQ(tail[0].value, "v15");
  EXPECT_EQ(c->seek(Partition(0), Offset(21)).code(), Code::kInvalidArgument);
  EXPECT_EQ(c->seek(Partition(1), Offset(0)).code(), Code::kInvalidArgument);
}

TEST(FileLog, PollWakesUpForNewData) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 2));
  auto c = open_consumer(*log, "g");
  auto t0 = std::chrono::steady_clock::now();
  auto empty = c->poll(10, 50ms);
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);
    append_and_wait(*log, {{"k", "late"}});
  });
  auto got = c->poll(10, 10s);
  writer.join();
  ASSERT_TRUE(got.is_ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].value, "late");
}

// --- recovery --------------------------------------------------------------

class TornTail : public ::testing::TestWithParam<std::string> {};

TEST_P(TornTail, IsTruncatedOnOpenAndAppendsContinue) {
  TmpDir dir;
  {
    auto log = must_open(options(dir.path(), 1));
    append_and_wait(*log, kvs(10));
  }
  const std::string seg = segment_files(dir.path(), 0).back();
  const uint64_t good = file_size(seg);
  std::string rec;
  file_log_format::append_record(rec, 10, 0, "key-0", "never acknowledged");
  const std::string kind = GetParam();
  if (kind == "half_record") append_bytes(seg, rec.substr(0, rec.size() / 2));
  if (kind == "short_header") append_bytes(seg, rec.substr(0, 3));
  if (kind == "bad_crc_last") {
    rec[rec.size() - 2] ^= 1;
    append_bytes(seg, rec);
  }
  if (kind == "zeros") append_bytes(seg, std::string(4096, '\0'));
  if (kind == "bad_crc_then_zeros") {
    rec[rec.size() - 2] ^= 1;
    append_bytes(seg, rec + std::string(8192, '\0'));
  }
  ASSERT_GT(file_size(seg), good);

  auto log = must_open(options(dir.path(), 1));
  ASSERT_TRUE(log);
  EXPECT_EQ(file_size(seg), good) << "torn tail cut off";
  EXPECT_EQ((*log->end_offsets())[0].get(), 10);
  auto acks = append_and_wait(*log, {{"key-0", "after"}});
  EXPECT_EQ(acks[0].offset, 10);
  auto c = open_consumer(*log, "g");
  auto recs = read_n(*c, 100);
  ASSERT_TRUE(recs.is_ok()) << recs.status().to_string();
  ASSERT_EQ(recs->size(), 11u);
  EXPECT_EQ(recs->back().value, "after");
}

INSTANTIATE_TEST_SUITE_P(Kinds, TornTail,
                         ::testing::Values("half_record", "short_header", "bad_crc_last", "zeros",
                                           "bad_crc_then_zeros"));

TEST(FileLog, MidSegmentCorruptionRefusesToOpenNamingFileAndByte) {
  TmpDir dir;
  {
    auto log = must_open(options(dir.path(), 1));
    append_and_wait(*log, kvs(10));
  }
  const std::string seg = segment_files(dir.path(), 0).back();
  const uint64_t rec = file_size(seg) / 10;  // all records have equal size here
  flip_byte(seg, 4 * rec + 30);              // inside record #4's payload
  auto r = open_file_log(options(dir.path(), 1));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find(seg), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("at byte " + std::to_string(4 * rec)), std::string::npos)
      << r.status().message();
}

TEST(FileLog, CorruptionInSealedSegmentIsAnErrorNeverData) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 200; ++i)
    in.emplace_back("k", "value-" + std::to_string(i) + std::string(50, 'x'));
  {
    auto log = must_open(o);
    append_and_wait(*log, in);
  }
  auto segs = segment_files(dir.path(), 0);
  ASSERT_GE(segs.size(), 3u);
  flip_byte(segs[0], file_size(segs[0]) / 2);
  auto log = must_open(o);  // only the last segment is scanned on open
  ASSERT_TRUE(log);
  auto c = open_consumer(*log, "g");
  std::vector<Record> got;
  Status err;
  for (int i = 0; i < 100; ++i) {
    auto r = c->poll(7, 50ms);
    if (!r.is_ok()) {
      err = r.status();
      break;
    }
    if (r->empty()) break;
    for (auto& x : *r) got.push_back(x);
  }
  EXPECT_EQ(err.code(), Code::kCorruption);
  EXPECT_NE(err.message().find(segs[0]), std::string::npos) << err.message();
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offset.get(), static_cast<int64_t>(i));
    EXPECT_EQ(got[i].value, in[i].second) << "no corrupt data is ever returned";
  }
  EXPECT_LT(got.size(), in.size());
  // The error is sticky at that position, not skipped on the next poll.
  auto again = c->poll(7, 50ms);
  EXPECT_FALSE(again.is_ok());
}

// --- locking and configuration -----------------------------------------------

TEST(FileLog, SecondOpenInSameProcessIsRefused) {
  TmpDir dir;
  auto log = must_open(options(dir.path()));
  auto r = open_file_log(options(dir.path()));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "file log " + dir.path() + " is held by another process (pid " +
                                      std::to_string(::getpid()) + ")");
  log.reset();
  EXPECT_TRUE(open_file_log(options(dir.path())).is_ok()) << "released on close";
}

TEST(FileLog, OpenHeldByAnotherProcessIsRefusedWithItsPid) {
  TmpDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = open_file_log(options(dir.path()));
    char c = r.is_ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();  // hold the lock until killed
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto r = open_file_log(options(dir.path()));
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("(pid " + std::to_string(child) + ")"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(open_file_log(options(dir.path())).is_ok()) << "the dead holder's lock is gone";
}

TEST(FileLog, PartitionCountIsFixedAtCreation) {
  TmpDir dir;
  { must_open(options(dir.path(), 4)); }
  auto r = open_file_log(options(dir.path(), 8));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("created with 4 partitions"), std::string::npos)
      << r.status().message();
}

TEST(FileLog, CreatesDirButNotMissingParents) {
  TmpDir dir;
  auto log = must_open(options(dir.sub("fresh")));
  EXPECT_TRUE(std::filesystem::is_directory(dir.sub("fresh/p0")));
  const std::string deep = dir.sub("no/such/parent/log");
  auto r = open_file_log(options(deep));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find(dir.sub("no/such/parent")), std::string::npos)
      << r.status().message();
}

TEST(FileLog, PermissionDeniedNamesThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TmpDir dir;
  std::filesystem::create_directory(dir.sub("ro"));
  ::chmod(dir.sub("ro").c_str(), 0555);
  auto r = open_file_log(options(dir.sub("ro/log")));
  ::chmod(dir.sub("ro").c_str(), 0755);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("permission denied"), std::string::npos);
  EXPECT_NE(r.status().message().find(dir.sub("ro/log")), std::string::npos);
}

TEST(FileLog, DiskFullFailsEveryCallbackWithResourceExhaustedNamingTheSegment) {
  TmpDir dir;
  std::filesystem::create_directories(dir.sub("log/p0"));
  const std::string seg = dir.sub("log/p0/" + file_log_format::segment_file_name(0));
  // /dev/full answers every write with ENOSPC.
  ASSERT_EQ(::symlink("/dev/full", seg.c_str()), 0);
  auto log = must_open(options(dir.sub("log"), 1));
  ASSERT_TRUE(log);
  auto acks = append_and_wait(*log, {{"a", "1"}, {"b", "2"}, {"c", "3"}});
  for (auto& a : acks) {
    EXPECT_EQ(a.status.code(), Code::kResourceExhausted) << a.status.to_string();
    EXPECT_NE(a.status.message().find(seg + ": disk full"), std::string::npos)
        << a.status.message();
    EXPECT_EQ(a.offset, -1);
  }
  EXPECT_EQ((*log->end_offsets())[0].get(), 0);
}

TEST(FileLog, FlushTimesOutWhileAGroupCommitWindowIsOpen) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.fsync_interval = 2000ms;
  auto log = must_open(o);
  log->append({AppendRecord{"k", "v", nullptr}});
  Status s = log->flush(20ms);
  EXPECT_EQ(s.code(), Code::kTimeout);
  EXPECT_TRUE(log->flush(10s).is_ok());
}

TEST(FileLog, GroupCommitGathersAppendsWithinTheWindow) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.fsync_interval = 200ms;
  auto log = must_open(o);
  using Clock = std::chrono::steady_clock;
  std::mutex mu;
  std::vector<Clock::time_point> done(3);
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) {
    log->append(
        {AppendRecord{"k", "v" + std::to_string(i), [&, i](const Status& s, Partition, Offset) {
                        EXPECT_TRUE(s.is_ok());
                        std::lock_guard<std::mutex> lk(mu);
                        done[i] = Clock::now();
                      }}});
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(log->flush(10s).is_ok());
  // All three joined one batch: none was acknowledged before the window
  // closed, and they were acknowledged together.
  EXPECT_GE(done[0] - t0, 150ms);
  EXPECT_LT(done[2] - done[0], 50ms);
}

// --- segments and retention ---------------------------------------------------

TEST(FileLog, SegmentsRollAtSegmentBytesAndReadAcrossThem) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 1000; ++i)
    in.emplace_back("k", std::string(100, char('a' + i % 26)) + std::to_string(i));
  {
    auto log = must_open(o);
    for (size_t i = 0; i < in.size(); i += 100) {
      append_and_wait(*log, std::vector(in.begin() + i, in.begin() + i + 100));
    }
  }
  auto segs = segment_files(dir.path(), 0);
  ASSERT_GT(segs.size(), 20u);
  int64_t prev_base = -1;
  for (auto& s : segs) {
    EXPECT_LE(file_size(s), 4096u);
    int64_t base =
        file_log_format::parse_segment_file_name(std::filesystem::path(s).filename().string());
    EXPECT_GT(base, prev_base);
    prev_base = base;
  }
  auto log = must_open(o);
  auto c = open_consumer(*log, "g");
  auto got = read_n(*c, 2000);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ((*got)[i].value, in[i].second);
}

TEST(FileLog, RetentionBySizeDeletesWholeOldSegments) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  o.retention_bytes = 3 * 4096;
  auto log = must_open(o);
  for (int i = 0; i < 20; ++i) append_and_wait(*log, kvs(50, 1, std::string(100, 'z')));
  auto begins = *log->begin_offsets();
  auto ends = *log->end_offsets();
  EXPECT_GT(begins[0].get(), 0);
  EXPECT_EQ(ends[0].get(), 1000);
  auto segs = segment_files(dir.path(), 0);
  uint64_t total = 0;
  for (auto& s : segs) total += file_size(s);
  EXPECT_LE(total, o.retention_bytes + 4096);
  EXPECT_EQ(
      file_log_format::parse_segment_file_name(std::filesystem::path(segs[0]).filename().string()),
      begins[0].get());
  // A group starts at begin and reads a contiguous suffix.
  auto c = open_consumer(*log, "g");
  auto got = *read_n(*c, 2000);
  ASSERT_EQ(static_cast<int64_t>(got.size()), ends[0].get() - begins[0].get());
  EXPECT_EQ(got.front().offset, begins[0]);
}

TEST(FileLog, RetentionByAgeUsesSegmentModificationTime) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  {
    auto log = must_open(o);
    for (int i = 0; i < 5; ++i) append_and_wait(*log, kvs(50, 1, std::string(100, 'z')));
  }
  auto segs = segment_files(dir.path(), 0);
  ASSERT_GE(segs.size(), 3u);
  // Age all but the last two segments by two hours.
  for (size_t i = 0; i + 2 < segs.size(); ++i) {
    struct timespec ts[2];
    ::clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 7200;
    ts[1] = ts[0];
    ASSERT_EQ(::utimensat(AT_FDCWD, segs[i].c_str(), ts, 0), 0);
  }
  o.retention_age = std::chrono::hours(1);
  auto log = must_open(o);
  auto begins = *log->begin_offsets();
  EXPECT_EQ(begins[0].get(), file_log_format::parse_segment_file_name(
                                 std::filesystem::path(segs[segs.size() - 2]).filename().string()));
  EXPECT_EQ(segment_files(dir.path(), 0).size(), 2u);
  // A committed position below begin resumes at begin.
  auto c = open_consumer(*log, "g");
  ASSERT_TRUE(c->commit({{Partition(0), Offset(1)}}).is_ok());
  c.reset();  // one consumer per group at a time
  auto c2 = open_consumer(*log, "g");
  auto got = *read_n(*c2, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, begins[0]);
}

// --- sizes -------------------------------------------------------------------

TEST(FileLog, TenMegabyteRecord) {
  TmpDir dir;
  auto log = must_open(options(dir.path(), 2));
  std::string big(10 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 2654435761u) >> 13);
  auto acks = append_and_wait(*log, {{"small", "before"}, {"big", big}, {"small", "after"}});
  for (auto& a : acks) ASSERT_TRUE(a.status.is_ok()) << a.status.to_string();
  log.reset();
  log = must_open(options(dir.path(), 2));
  auto c = open_consumer(*log, "g");
  auto got = read_n(*c, 3);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 3u);
  bool found = false;
  for (auto& r : *got) {
    if (r.key == "big") {
      found = true;
      EXPECT_TRUE(r.value == big);
    }
  }
  EXPECT_TRUE(found);
}

TEST(FileLog, HundredThousandRecordBatch) {
  TmpDir dir;
  auto o = options(dir.path(), 8);
  o.segment_bytes = 1 << 20;  // and roll a few times on the way
  auto log = must_open(o);
  constexpr int kN = 100000;
  std::atomic<int> ok{0};
  std::vector<AppendRecord> batch;
  batch.reserve(kN);
  for (int i = 0; i < kN; ++i) {
    batch.push_back(AppendRecord{"doc-" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}",
                                 [&ok](const Status& s, Partition, Offset) {
                                   if (s.is_ok()) ++ok;
                                 }});
  }
  log->append(std::move(batch));
  ASSERT_TRUE(log->flush(120s).is_ok());
  EXPECT_EQ(ok.load(), kN);
  int64_t total = 0;
  auto ends = *log->end_offsets();
  for (auto& e : ends) total += e.get();
  EXPECT_EQ(total, kN);
  auto c = open_consumer(*log, "g");
  auto got = read_n(*c, kN + 1);
  ASSERT_TRUE(got.is_ok());
  EXPECT_EQ(got->size(), size_t{kN});
}

TEST(FileLog, GroupNamesCannotEscapeTheGroupsDirectory) {
  TmpDir dir;
  auto log = must_open(options(dir.sub("log"), 1));
  auto c = open_consumer(*log, "../../evil/x");
  ASSERT_TRUE(c->commit({{Partition(0), Offset(0)}}).is_ok());
  EXPECT_FALSE(std::filesystem::exists(dir.sub("evil")));
  c.reset();  // its group lock file goes with it
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.sub("log/groups"))) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);
  EXPECT_EQ(log->consumer("").status().code(), Code::kInvalidArgument);
}

TEST(FileLog, InvalidOptionsAreRejected) {
  TmpDir dir;
  auto o = options(dir.path(), 0);
  EXPECT_EQ(open_file_log(o).status().code(), Code::kInvalidArgument);
  o = options("");
  EXPECT_EQ(open_file_log(o).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem::log
