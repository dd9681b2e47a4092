// The file log's shared reader (open_file_log_reader): reads a log another
// process writes. Here the writer is in the same process (a reader takes no
// writer lock, so that works too) or the files are made by hand; the
// cross-process run is in file_log_reader_it.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "log/file_log_format.h"
#include "log/file_log_test_util.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using testing::append_and_wait;
using testing::must_open;
using testing::open_consumer;
using testing::options;
using testing::read_n;
using testing::segment_files;
using testing::TmpDir;
namespace fmt = file_log_format;

std::unique_ptr<Log> must_open_reader(const std::string& dir) {
  auto r = open_file_log_reader(dir);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return nullptr;
  return std::move(r).value();
}

std::vector<std::pair<std::string, std::string>> kvs(int n, const std::string& tag = "v",
                                                     int keys = 10) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i)
    out.emplace_back("key-" + std::to_string(i % keys), tag + std::to_string(i));
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), {});
}

void write_bytes(const std::string& path, const std::string& bytes, bool append = true) {
  std::ofstream f(path, std::ios::binary | (append ? std::ios::app : std::ios::trunc));
  f << bytes;
}

// A hand-made one-partition log with no DIR/published: what a writer older
// than the shared reader leaves (the reader reads it tolerantly).
std::string hand_made_log(const TmpDir& dir) {
  const std::string d = dir.sub("log");
  std::filesystem::create_directories(d + "/p0");
  std::filesystem::create_directories(d + "/groups");
  write_bytes(d + "/meta", "tandem-file-log 1\npartitions 1\n", false);
  return d;
}

std::string record(int64_t off, const std::string& key, const std::string& value) {
  std::string out;
  fmt::append_record(out, off, 0, key, value);
  return out;
}

// Rewritten in place, never truncated: a reader may have it mapped.
void set_published(const std::string& dir, const std::vector<int64_t>& ends) {
  const std::string path = dir + "/published";
  if (!std::filesystem::exists(path)) write_bytes(path, "", false);
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.write(reinterpret_cast<const char*>(ends.data()),
          static_cast<std::streamsize>(ends.size() * sizeof(int64_t)));
}

TEST(FileLogReader, ReadsWhileTheWriterHoldsTheLogAndSeesNewAppends) {
  TmpDir dir;
  auto writer = must_open(options(dir.path(), 3));
  append_and_wait(*writer, kvs(50, "a"));
  auto reader = must_open_reader(dir.path());
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->partitions(), 3);
  EXPECT_NE(reader->describe().find(dir.path()), std::string::npos);
  EXPECT_EQ(*reader->end_offsets(), *writer->end_offsets());
  EXPECT_EQ(*reader->begin_offsets(), *writer->begin_offsets());
  auto c = open_consumer(*reader, "loader");
  auto first = read_n(*c, 50);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_EQ(first->size(), 50u);
  std::map<int32_t, int64_t> next;
  for (auto& r : *first) EXPECT_EQ(r.offset.get(), next[r.partition.get()]++);

  // A poll waiting for data wakes up when the writer appends.
  std::thread later([&] {
    std::this_thread::sleep_for(100ms);
    append_and_wait(*writer, kvs(5, "b"));
  });
  auto more = c->poll(100, 5s);
  later.join();
  ASSERT_TRUE(more.is_ok()) << more.status().to_string();
  ASSERT_FALSE(more->empty());
  EXPECT_EQ((*more)[0].value.substr(0, 1), "b");
  auto rest = read_n(*c, 5 - more->size());
  EXPECT_EQ(more->size() + rest->size(), 5u);
}

TEST(FileLogReader, NeverWritesTheLogAndRefusesAppends) {
  TmpDir dir;
  {
    auto writer = must_open(options(dir.path(), 1));
    append_and_wait(*writer, kvs(3));
  }
  const std::string seg = segment_files(dir.path(), 0).back();
  write_bytes(seg, std::string("\x10\x00\x00", 3));  // a torn tail the writer would cut
  const std::string before = slurp(seg);
  auto reader = must_open_reader(dir.path());
  auto c = open_consumer(*reader, "g");
  EXPECT_EQ(read_n(*c, 10)->size(), 3u);
  EXPECT_EQ(slurp(seg), before) << "a reader must not truncate or repair";

  Status got;
  reader->append({AppendRecord{"k", "v", [&](const Status& s, Partition, Offset) { got = s; }}});
  EXPECT_EQ(got.code(), Code::kFailedPrecondition);
  EXPECT_NE(got.message().find("shared reader"), std::string::npos) << got.message();

  auto missing = open_file_log_reader(dir.sub("nope"));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.sub("nope")), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.sub("nope")));
}

// Without DIR/published: a torn tail is "not written yet", returned once
// the rest of the record is there.
TEST(FileLogReader, TornTailIsNotReturnedUntilCompleted) {
  TmpDir dir;
  const std::string d = hand_made_log(dir);
  const std::string seg = d + "/p0/" + fmt::segment_file_name(0);
  const std::string r2 = record(2, "k", "third");
  write_bytes(seg, record(0, "k", "first") + record(1, "k", "second") + r2.substr(0, 11));
  auto reader = must_open_reader(d);
  auto c = open_consumer(*reader, "g");
  auto got = read_n(*c, 10, 50ms);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*reader->end_offsets())[0].get(), 2);
  auto none = c->poll(10, 100ms);
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());

  write_bytes(seg, r2.substr(11));
  auto third = read_n(*c, 1, 500ms);
  ASSERT_TRUE(third.is_ok()) << third.status().to_string();
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ((*third)[0].offset.get(), 2);
  EXPECT_EQ((*third)[0].value, "third");
  EXPECT_EQ((*reader->end_offsets())[0].get(), 3);

  // A tail of zeros (extended, never written) is not yet written either.
  write_bytes(seg, std::string(64, '\0'));
  none = c->poll(10, 60ms);
  ASSERT_TRUE(none.is_ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
}

// With DIR/published: nothing at or past the writer's mark is read, even a
// complete record; below it every record must be intact.
TEST(FileLogReader, PublishedEndBoundsWhatIsRead) {
  TmpDir dir;
  const std::string d = hand_made_log(dir);
  const std::string seg = d + "/p0/" + fmt::segment_file_name(0);
  write_bytes(seg, record(0, "k", "a") + record(1, "k", "b") + record(2, "k", "c"));
  set_published(d, {2});
  auto reader = must_open_reader(d);
  EXPECT_EQ((*reader->end_offsets())[0].get(), 2);
  auto c = open_consumer(*reader, "g");
  auto got = read_n(*c, 10, 50ms);
  ASSERT_EQ(got->size(), 2u);
  set_published(d, {3});
  got = read_n(*c, 1, 500ms);
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].value, "c");

  // Published but incomplete: corruption, naming the file and byte.
  write_bytes(seg, record(3, "k", "dddd").substr(0, 20));
  set_published(d, {4});
  auto bad = c->poll(10, 100ms);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  const uint64_t pos = 3 * fmt::record_size(1, 1);
  EXPECT_NE(bad.status().message().find(seg + " at byte " + std::to_string(pos)), std::string::npos)
      << bad.status().message();
  // It stays on the bad record.
  EXPECT_FALSE(c->poll(10, 10ms).is_ok());
}

TEST(FileLogReader, CorruptRecordInTheMiddleIsAnErrorNeverData) {
  TmpDir dir;
  const std::string d = hand_made_log(dir);
  const std::string seg = d + "/p0/" + fmt::segment_file_name(0);
  std::string bytes = record(0, "k", "good") + record(1, "k", "flipped") + record(2, "k", "after");
  const size_t pos = fmt::record_size(1, 4);
  bytes[pos + fmt::kHeaderBytes + 22] ^= 0x40;  // inside record 1's value
  write_bytes(seg, bytes);
  auto reader = must_open_reader(d);
  auto c = open_consumer(*reader, "g");
  auto first = c->poll(10, 50ms);
  ASSERT_TRUE(first.is_ok());
  ASSERT_EQ(first->size(), 1u);
  auto bad = c->poll(10, 50ms);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_NE(bad.status().message().find(seg + " at byte " + std::to_string(pos)), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("checksum mismatch"), std::string::npos);
}

TEST(FileLogReader, FollowsSegmentRolloverWhileTheWriterAppends) {
  TmpDir dir;
  auto o = options(dir.path(), 2);
  o.segment_bytes = 4096;
  auto writer = must_open(o);
  append_and_wait(*writer, kvs(100, std::string(200, 'x')));
  auto reader = must_open_reader(dir.path());
  auto c = open_consumer(*reader, "g");
  std::thread more([&] {
    for (int i = 0; i < 10; ++i) append_and_wait(*writer, kvs(30, "m" + std::to_string(i) + "-"));
  });
  std::vector<Record> all;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (all.size() < 400 && std::chrono::steady_clock::now() < deadline) {
    auto r = c->poll(64, 100ms);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    for (auto& rec : *r) all.push_back(std::move(rec));
  }
  more.join();
  ASSERT_EQ(all.size(), 400u);
  EXPECT_GT(segment_files(dir.path(), 0).size(), 3u);
  std::map<int32_t, int64_t> next;
  for (auto& r : all) ASSERT_EQ(r.offset.get(), next[r.partition.get()]++);
  EXPECT_EQ((*reader->end_offsets())[0].get(), next[0]);
}

TEST(FileLogReader, PositionDeletedByRetentionIsAnErrorNamingIt) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  {
    auto writer = must_open(o);
    append_and_wait(*writer, kvs(60, std::string(300, 'x')));
  }
  {
    auto reader = must_open_reader(dir.path());
    auto c = open_consumer(*reader, "slow");
    ASSERT_TRUE(c->commit({{Partition(0), Offset(2)}}).is_ok());
  }
  o.retention_bytes = 8192;
  auto writer = must_open(o);
  const int64_t begin = (*writer->begin_offsets())[0].get();
  ASSERT_GT(begin, 2);
  auto reader = must_open_reader(dir.path());
  EXPECT_EQ((*reader->begin_offsets())[0].get(), begin);
  auto c = open_consumer(*reader, "slow");
  auto r = c->poll(10, 50ms);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("offset 2 is no longer in the log"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("oldest retained offset is " + std::to_string(begin)),
            std::string::npos);
  // Seeking to what is retained goes on.
  ASSERT_TRUE(c->seek(Partition(0), Offset(begin)).is_ok());
  auto ok = read_n(*c, 5);
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  ASSERT_EQ(ok->size(), 5u);
  EXPECT_EQ((*ok)[0].offset.get(), begin);
}

TEST(FileLogReader, CommitsAreDurableAndOneConsumerPerGroup) {
  TmpDir dir;
  auto writer = must_open(options(dir.path(), 2));
  append_and_wait(*writer, kvs(20));
  auto reader = must_open_reader(dir.path());
  {
    auto c = open_consumer(*reader, "loader");
    auto all = read_n(*c, 20);
    ASSERT_EQ(all->size(), 20u);
    std::map<Partition, Offset> commit;
    for (auto& r : *all) commit[r.partition] = Offset(r.offset.get() + 1);
    commit[Partition(0)] = Offset(1);  // partition 0: only its first record
    ASSERT_TRUE(c->commit(commit).is_ok());

    // A second consumer of the group is refused, from a reader or the writer.
    auto again = reader->consumer("loader");
    ASSERT_FALSE(again.is_ok());
    EXPECT_EQ(again.status().code(), Code::kFailedPrecondition);
    EXPECT_NE(again.status().message().find("consumer group 'loader' is in use"), std::string::npos)
        << again.status().message();
    EXPECT_NE(again.status().message().find("pid " + std::to_string(::getpid())),
              std::string::npos);
    EXPECT_EQ(writer->consumer("loader").status().code(), Code::kFailedPrecondition);
    // Lag is readable without joining the group.
    auto lag = reader->group_lag("loader");
    ASSERT_TRUE(lag.is_ok()) << lag.status().to_string();
    EXPECT_EQ((*lag)[0].committed.get(), 1);
    EXPECT_EQ((*lag)[1].lag(), 0);
  }
  // Released (and no lock file left behind); the next consumer resumes from
  // the commit, and the writer's own consumers see the same file.
  EXPECT_FALSE(std::filesystem::exists(dir.sub("groups/loader.lock")));
  auto reopened = must_open_reader(dir.path());
  auto c = open_consumer(*reopened, "loader");
  auto rest = read_n(*c, 100);
  ASSERT_TRUE(rest.is_ok());
  const int64_t p0 = (*reopened->end_offsets())[0].get();
  ASSERT_EQ(static_cast<int64_t>(rest->size()), p0 - 1);
  EXPECT_EQ((*rest)[0].offset.get(), 1);
  c.reset();
  auto wc = open_consumer(*writer, "loader");
  EXPECT_EQ(wc->committed()->at(Partition(0)).get(), 1);
  EXPECT_EQ(slurp(dir.sub("groups/loader.offsets")).substr(0, 25), "tandem-file-log-offsets 1");
}

TEST(FileLogReader, WriterPublishesEndsAfterRecovery) {
  TmpDir dir;
  {
    auto writer = must_open(options(dir.path(), 2));
    append_and_wait(*writer, kvs(10));
  }
  std::filesystem::remove(dir.sub("published"));  // as an older writer left it
  auto reader = must_open_reader(dir.path());
  const auto tolerant_end = *reader->end_offsets();
  auto writer = must_open(options(dir.path(), 2));
  EXPECT_EQ(std::filesystem::file_size(dir.sub("published")), 16u);
  EXPECT_EQ(*writer->end_offsets(), tolerant_end);
  auto fresh = must_open_reader(dir.path());
  EXPECT_EQ(*fresh->end_offsets(), tolerant_end);
}

}  // namespace
}  // namespace tandem::log
