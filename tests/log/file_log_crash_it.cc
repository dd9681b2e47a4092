// Crash test of the file log: a forked writer appends as fast as it can and
// reports each acknowledged append (partition, offset, value hash) through
// a pipe *from the callback*, i.e. only after the log said it is durable.
// The parent kill -9's it at a random moment, reopens the log and checks
// that every acknowledged append is there with its exact bytes, that
// offsets are dense, and that no record with bad contents is ever returned.
//
// kill -9 keeps the page cache, so on its own it rarely tears a record (a
// pwrite is seldom cut short). To exercise recovery the way power loss
// would, the parent then damages what a power cut may damage: bytes after
// the last *acknowledged* record of a partition's last segment, which were
// possibly never fdatasync'd. It truncates there at a random byte, or
// zero-fills the rest of the file (what ext4/xfs show for blocks whose
// data never reached the disk). Recovery must cut that tail and keep every
// acknowledged record.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

#include "log/file_log_format.h"
#include "log/file_log_test_util.h"

namespace tandem::log {
namespace {

using namespace std::chrono_literals;
using testing::TmpDir;

struct AckMsg {
  int32_t partition;
  int32_t pad;
  int64_t offset;
  uint64_t hash;
};
static_assert(sizeof(AckMsg) <= PIPE_BUF, "pipe writes of one ack must be atomic");

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Values carry their own checksum in the last 16 hex digits, so even a
// record that was never acknowledged can be checked for damage.
std::string make_value(std::mt19937_64& rng, int iter, uint64_t seq) {
  std::string v = "iter=" + std::to_string(iter) + " seq=" + std::to_string(seq) + " ";
  size_t n = 10 + rng() % 2000;
  for (size_t i = 0; i < n; ++i) v += static_cast<char>('a' + rng() % 26);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(fnv1a(v)));
  return v + hex;
}

bool value_is_intact(const std::string& v) {
  if (v.size() < 16) return false;
  char hex[17];
  std::snprintf(
      hex, sizeof(hex), "%016llx",
      static_cast<unsigned long long>(fnv1a(std::string_view(v).substr(0, v.size() - 16))));
  return v.compare(v.size() - 16, 16, hex) == 0;
}

FileLogOptions crash_options(const std::string& dir) {
  FileLogOptions o;
  o.dir = dir;
  o.partitions = 4;
  o.segment_bytes = 256 << 10;  // roll often so kills land around rolls too
  o.fsync_interval = 1ms;
  return o;
}

[[noreturn]] void writer_child(const std::string& dir, int ack_fd, int iter) {
  auto r = open_file_log(crash_options(dir));
  if (!r.is_ok()) {
    std::fprintf(stderr, "child: %s\n", r.status().to_string().c_str());
    ::_exit(3);
  }
  auto log = std::move(r).value();
  std::mt19937_64 rng(static_cast<uint64_t>(iter) * 7919 + static_cast<uint64_t>(::getpid()));
  uint64_t seq = 0;
  for (int round = 0;; ++round) {
    std::vector<AppendRecord> batch;
    const size_t n = 1 + rng() % 200;
    for (size_t i = 0; i < n; ++i) {
      std::string v = make_value(rng, iter, seq++);
      const uint64_t h = fnv1a(v);
      batch.push_back(AppendRecord{"key-" + std::to_string(rng() % 1000), std::move(v),
                                   [ack_fd, h](const Status& s, Partition p, Offset o) {
                                     if (!s.is_ok()) {
                                       std::fprintf(stderr, "child append: %s\n",
                                                    s.to_string().c_str());
                                       ::_exit(4);
                                     }
                                     AckMsg m{p.get(), 0, o.get(), h};
                                     // One write of < PIPE_BUF bytes: atomic.
                                     if (::write(ack_fd, &m, sizeof(m)) != sizeof(m)) ::_exit(5);
                                   }});
    }
    log->append(std::move(batch));
    // Bound memory, but keep several batches in flight most of the time.
    if (round % 8 == 7 && !log->flush(30s).is_ok()) ::_exit(6);
  }
}

// Simulates losing unsynced data: see the comment at the top.
void damage_unacknowledged_tail(const std::string& dir, int32_t p, int64_t max_acked,
                                std::mt19937& rng) {
  auto segs = testing::segment_files(dir, p);
  if (segs.empty()) return;  // killed while the first open created the layout
  const std::string& seg = segs.back();
  std::string bytes;
  {
    std::ifstream f(seg, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), {});
  }
  // Byte end of the last acknowledged record in this segment.
  size_t keep = 0, pos = 0;
  while (pos < bytes.size()) {
    file_log_format::ParsedRecord r;
    if (file_log_format::parse_record(bytes.data() + pos, bytes.size() - pos, &r) !=
        file_log_format::ParseStatus::kOk) {
      break;
    }
    pos += r.size;
    if (r.offset <= max_acked) keep = pos;
  }
  if (keep >= bytes.size()) return;
  const size_t cut = std::uniform_int_distribution<size_t>(keep, bytes.size())(rng);
  if (rng() % 2) {
    std::filesystem::resize_file(seg, cut);
  } else {
    std::fstream f(seg, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(static_cast<std::streamoff>(cut));
    std::string zeros(bytes.size() - cut, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
}

// Reads every record at or after `from` and checks it against `acked`.
void verify(const std::string& dir, const std::map<std::pair<int32_t, int64_t>, uint64_t>& acked,
            const std::vector<Offset>& from, std::vector<Offset>* ends_out, size_t* checked_out) {
  auto r = open_file_log(crash_options(dir));
  ASSERT_TRUE(r.is_ok()) << "reopen after kill -9: " << r.status().to_string();
  auto log = std::move(r).value();
  auto ends = *log->end_offsets();
  auto c = testing::open_consumer(*log, "verify");
  ASSERT_TRUE(c);
  for (int32_t p = 0; p < 4; ++p) ASSERT_TRUE(c->seek(Partition(p), from[p]).is_ok());
  std::map<std::pair<int32_t, int64_t>, uint64_t> found;
  std::vector<int64_t> next(4);
  for (int32_t p = 0; p < 4; ++p) next[p] = from[p].get();
  for (;;) {
    auto got = c->poll(10000, 0ms);
    ASSERT_TRUE(got.is_ok()) << "a read returned an error: " << got.status().to_string();
    if (got->empty()) break;
    for (auto& rec : *got) {
      const int32_t p = rec.partition.get();
      ASSERT_EQ(rec.offset.get(), next[p]) << "dense offsets in partition " << p;
      ++next[p];
      ASSERT_TRUE(value_is_intact(rec.value))
          << "damaged record returned at p" << p << " offset " << rec.offset.get();
      found[{p, rec.offset.get()}] = fnv1a(rec.value);
    }
  }
  for (int32_t p = 0; p < 4; ++p) ASSERT_EQ(next[p], ends[p].get()) << "read up to the end";
  size_t checked = 0;
  for (auto& [pos, h] : acked) {
    if (pos.second < from[pos.first].get()) continue;
    auto it = found.find(pos);
    ASSERT_NE(it, found.end()) << "acknowledged append lost: p" << pos.first << " offset "
                               << pos.second;
    ASSERT_EQ(it->second, h) << "acknowledged append changed: p" << pos.first << " offset "
                             << pos.second;
    ++checked;
  }
  *ends_out = ends;
  *checked_out = checked;
}

TEST(FileLogCrash, KillNineNeverLosesOrCorruptsAnAcknowledgedAppend) {
  TmpDir dir;
  const unsigned seed = static_cast<unsigned>(std::random_device{}());
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kIterations = 60;

  std::map<std::pair<int32_t, int64_t>, uint64_t> acked;
  std::vector<Offset> start(4, Offset(0));
  size_t total_checked = 0, kills_with_acks = 0;

  for (int iter = 0; iter < kIterations; ++iter) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      writer_child(dir.path(), fds[1], iter);
    }
    ::close(fds[1]);

    const auto kill_at = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 150)(rng));
    std::string pending;
    size_t acks_this_round = 0;
    auto consume = [&](const char* p, size_t n) {
      pending.append(p, n);
      size_t whole = pending.size() / sizeof(AckMsg) * sizeof(AckMsg);
      for (size_t off = 0; off < whole; off += sizeof(AckMsg)) {
        AckMsg m;
        std::memcpy(&m, pending.data() + off, sizeof(m));
        auto [it, fresh] = acked.emplace(std::make_pair(m.partition, m.offset), m.hash);
        ASSERT_TRUE(fresh || it->second == m.hash)
            << "offset acknowledged twice with different data: p" << m.partition << " " << m.offset;
        ++acks_this_round;
      }
      pending.erase(0, whole);
    };
    char buf[1 << 16];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          kill_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      struct pollfd pfd {
        fds[0], POLLIN, 0
      };
      if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
      ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;  // child died on its own: the waitpid below reports it
      consume(buf, static_cast<size_t>(n));
    }
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "writer child failed before the kill (exit "
        << (WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1) << ")";
    // Acks written before the kill are still in the pipe.
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      consume(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    ASSERT_TRUE(pending.empty()) << "torn ack message";
    if (acks_this_round > 0) ++kills_with_acks;

    if (rng() % 3 != 0) {
      std::vector<int64_t> max_acked(4, -1);
      for (auto& [pos, h] : acked)
        max_acked[pos.first] = std::max(max_acked[pos.first], pos.second);
      // What the last reopen showed readers was synced by recovery: it is
      // as durable as an acknowledged record.
      for (int32_t p = 0; p < 4; ++p) max_acked[p] = std::max(max_acked[p], start[p].get() - 1);
      for (int32_t p = 0; p < 4; ++p) {
        if (rng() % 2) damage_unacknowledged_tail(dir.path(), p, max_acked[p], rng);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }

    // Check this round's appends; every tenth round, everything so far.
    const bool full = iter % 10 == 9 || iter == kIterations - 1;
    std::vector<Offset> from = full ? std::vector<Offset>(4, Offset(0)) : start;
    size_t checked = 0;
    verify(dir.path(), acked, from, &start, &checked);
    if (::testing::Test::HasFatalFailure()) return;
    total_checked += checked;
  }
  EXPECT_GT(kills_with_acks, size_t{kIterations / 2})
      << "the writer should make progress most rounds";
  std::printf("crash test: %d kills, %zu acknowledged appends, %zu ack checks, seed %u\n",
              kIterations, acked.size(), total_checked, seed);
}

}  // namespace
}  // namespace tandem::log
