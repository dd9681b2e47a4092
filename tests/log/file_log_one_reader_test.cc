// The file log's one read loop (src/log/file_log_read.h) serves the writer's
// own consumers, shared readers and recovery. These tests run the same
// situation through more than one of them and check that they agree, or
// differ exactly where docs/file-log-format.md says they do (a position
// deleted by retention).
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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

std::vector<std::pair<std::string, std::string>> kvs(int n, const std::string& tag = "v") {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; ++i)
    out.emplace_back("key-" + std::to_string(i % 10), tag + std::to_string(i % 10));
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

std::unique_ptr<Log> must_open_reader(const std::string& dir) {
  auto r = open_file_log_reader(dir);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return nullptr;
  return std::move(r).value();
}

// Polls until an error, an empty poll or `limit` polls; returns the records
// and the error (ok if none).
std::pair<std::vector<Record>, Status> read_until_error(Consumer& c, int limit = 200) {
  std::vector<Record> got;
  for (int i = 0; i < limit; ++i) {
    auto r = c.poll(7, 50ms);
    if (!r.is_ok()) return {got, r.status()};
    if (r->empty()) break;
    for (auto& x : *r) got.push_back(std::move(x));
  }
  return {got, Status::ok()};
}

// "own": the writer's consumer (the proxy's spill drainer); "shared": a
// shared reader opened next to the writer (tandem load --log-dir).
class BothReaders : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Consumer> consumer(Log& writer, const std::string& dir,
                                     std::unique_ptr<Log>& keep) {
    if (GetParam() == "own") return open_consumer(writer, "g");
    keep = must_open_reader(dir);
    return keep ? open_consumer(*keep, "g") : nullptr;
  }
};

// Damage below the writer's durable end of the active segment (the old
// in-process reader only ever met it in sealed segments): an error naming the
// file and byte, never data, and the consumer stays on the record.
TEST_P(BothReaders, DamageInTheActiveSegmentIsCorruptionAtItsByteAndTheReaderStaysOnIt) {
  TmpDir dir;
  auto writer = must_open(options(dir.path(), 1));
  append_and_wait(*writer, kvs(10));  // ten records of equal size
  const std::string seg = segment_files(dir.path(), 0).back();
  const uint64_t rec = std::filesystem::file_size(seg) / 10;
  flip_byte(seg, 4 * rec + 30);  // inside record #4's payload

  std::unique_ptr<Log> reader;
  auto c = consumer(*writer, dir.path(), reader);
  ASSERT_TRUE(c);
  auto [got, err] = read_until_error(*c);
  ASSERT_EQ(got.size(), 4u) << "the records before the damage are returned";
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].offset.get(), static_cast<int64_t>(i));
  EXPECT_EQ(err.code(), Code::kCorruption) << err.to_string();
  EXPECT_NE(err.message().find(seg + " at byte " + std::to_string(4 * rec)), std::string::npos)
      << err.message();
  EXPECT_NE(err.message().find("checksum mismatch"), std::string::npos) << err.message();
  auto again = c->poll(10, 10ms);
  ASSERT_FALSE(again.is_ok()) << "it stays on the bad record";
  EXPECT_EQ(again.status().code(), Code::kCorruption);
}

// Retention deletes the segments after the one a consumer is reading. The
// writer's consumer goes on from the oldest retained offset (like Kafka's
// auto.offset.reset=earliest); a shared reader reports the loss.
TEST_P(BothReaders, RetentionOvertakingAReaderMidSegment) {
  TmpDir dir;
  auto o = options(dir.path(), 1);
  o.segment_bytes = 4096;
  o.retention_bytes = 8192;
  auto writer = must_open(o);
  const std::string big(300, 'x');
  append_and_wait(*writer, kvs(5, big));
  std::unique_ptr<Log> reader;
  auto c = consumer(*writer, dir.path(), reader);
  ASSERT_TRUE(c);
  auto first = c->poll(3, 200ms);
  ASSERT_TRUE(first.is_ok()) << first.status().to_string();
  ASSERT_EQ(first->size(), 3u);
  // Enough to fill segment 0 and delete it and the next few.
  for (int i = 0; i < 10; ++i) append_and_wait(*writer, kvs(20, big));
  const int64_t begin = (*writer->begin_offsets())[0].get();
  const int64_t end = (*writer->end_offsets())[0].get();
  ASSERT_EQ(end, 205);
  ASSERT_GT(begin, 30) << "segments after segment 0 were deleted too";

  auto [got, err] = read_until_error(*c);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().offset.get(), 3) << "the held segment is read to its end";
  for (size_t i = 1; i < got.size(); ++i) EXPECT_GT(got[i].offset.get(), got[i - 1].offset.get());
  if (GetParam() == "own") {
    ASSERT_TRUE(err.is_ok()) << err.to_string();
    EXPECT_EQ(got.back().offset.get(), end - 1);
    int64_t retained = 0;
    for (auto& r : got) retained += r.offset.get() >= begin ? 1 : 0;
    EXPECT_EQ(retained, end - begin) << "everything retained is read, in order";
  } else {
    EXPECT_EQ(err.code(), Code::kNotFound) << err.to_string();
    const int64_t lost = got.back().offset.get() + 1;
    EXPECT_NE(err.message().find("offset " + std::to_string(lost) + " is no longer in the log"),
              std::string::npos)
        << err.message();
    EXPECT_NE(err.message().find("oldest retained offset is " + std::to_string(begin)),
              std::string::npos)
        << err.message();
    EXPECT_LT(got.back().offset.get(), begin);
  }
}

INSTANTIATE_TEST_SUITE_P(Readers, BothReaders, ::testing::Values("own", "shared"));

// Recovery and a tolerant shared reader (a log without DIR/published) judge a
// damaged tail by the same rule, because it is the same loop: what recovery
// cuts off, the reader does not return, and neither reports an error.
class TailRule : public ::testing::TestWithParam<std::string> {};

TEST_P(TailRule, RecoveryAndATolerantReaderAgree) {
  TmpDir dir;
  {
    auto log = must_open(options(dir.path(), 1));
    append_and_wait(*log, kvs(10));
  }
  std::filesystem::remove(dir.sub("published"));  // as an older writer left it
  const std::string seg = segment_files(dir.path(), 0).back();
  const uint64_t good = std::filesystem::file_size(seg);
  std::string rec;
  fmt::append_record(rec, 10, 0, "key-0", "never acknowledged");
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
  {
    auto reader = must_open_reader(dir.path());
    ASSERT_TRUE(reader);
    EXPECT_EQ((*reader->end_offsets())[0].get(), 10);
    auto c = open_consumer(*reader, "g");
    auto got = read_n(*c, 100, 50ms);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_EQ(got->size(), 10u);
  }
  auto log = must_open(options(dir.path(), 1));
  ASSERT_TRUE(log);
  EXPECT_EQ(std::filesystem::file_size(seg), good) << "torn tail cut off";
  EXPECT_EQ((*log->end_offsets())[0].get(), 10);
}

INSTANTIATE_TEST_SUITE_P(Kinds, TailRule,
                         ::testing::Values("half_record", "short_header", "bad_crc_last", "zeros",
                                           "bad_crc_then_zeros"));

// A complete, valid record with the wrong offset at the end of the last
// segment is not something a crash leaves: recovery refuses to open and a
// tolerant shared reader reports it, both naming the file and byte.
TEST(FileLogOneReader, WrongOffsetAtTheTailIsCorruptionForRecoveryAndReaders) {
  TmpDir dir;
  {
    auto log = must_open(options(dir.path(), 1));
    append_and_wait(*log, kvs(10));
  }
  std::filesystem::remove(dir.sub("published"));
  const std::string seg = segment_files(dir.path(), 0).back();
  const uint64_t good = std::filesystem::file_size(seg);
  std::string rec;
  fmt::append_record(rec, 11, 0, "key-0", "misplaced");  // 10 expected
  append_bytes(seg, rec);
  const std::string where = seg + " at byte " + std::to_string(good);

  // The reader first: a writer's open (even a refused one) creates DIR/published.
  {
    auto reader = must_open_reader(dir.path());
    ASSERT_TRUE(reader);
    auto c = open_consumer(*reader, "g");
    auto [got, err] = read_until_error(*c);
    EXPECT_EQ(got.size(), 10u);
    EXPECT_EQ(err.code(), Code::kCorruption) << err.to_string();
    EXPECT_NE(err.message().find(where), std::string::npos) << err.message();
  }
  auto opened = open_file_log(options(dir.path(), 1));
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), Code::kCorruption);
  EXPECT_NE(opened.status().message().find(where), std::string::npos) << opened.status().message();
  EXPECT_NE(opened.status().message().find("record has offset 11, expected 10"), std::string::npos)
      << opened.status().message();
  EXPECT_EQ(std::filesystem::file_size(seg), good + rec.size()) << "nothing truncated";
}

}  // namespace
}  // namespace tandem::log
