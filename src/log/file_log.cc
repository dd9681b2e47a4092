// The embedded file log: Log for one machine, no services. Format and
// recovery rules: docs/file-log-format.md.
//
// Structure and lock discipline (share nothing between partitions):
//   Core              one per open log; owned by the FileLog and by every
//                     Consumer (shared_ptr), so a consumer never dangles.
//   PartitionState    one per partition, with its own writer thread. Two
//                     locks, never held together and never held while a
//                     callback or any I/O runs:
//                       q_mu   the append queue and the enqueued/completed
//                              counters flush() waits on;
//                       seg_mu the segment list (writer adds and retires
//                              segments; readers look segments up).
//                     Everything else the writer touches (next offset,
//                     active segment size, sticky error) is writer-thread
//                     only. Readers see progress through two atomics
//                     published with release order after fdatasync:
//                     Segment::durable_bytes, then PartitionState::end.
//   Core::data_mu     only guards the "new data" generation counter that
//                     poll() sleeps on.
//   Core::groups_mu   serializes read-modify-write of a group's offsets
//                     (GroupLock keeps other consumers of the group, in
//                     this process or another, out entirely).
// Readers in other processes (file_log_reader.cc) see DIR/published, which
// write_part updates after each fdatasync.
// Readers use pread on their own buffers and never take q_mu, so a slow
// consumer cannot stall appends and vice versa.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "event/event.h"
#include "log/file_log_format.h"
#include "log/file_log_io.h"
#include "log/log.h"

namespace tandem::log {
namespace {

namespace fmt = file_log_format;
using Clock = std::chrono::steady_clock;

// A batch is written with one pwrite and one fdatasync; this caps how much
// one batch holds so a burst does not build one giant buffer.
constexpr size_t kMaxBatchBytes = 16u << 20;
constexpr size_t kReadChunkBytes = 1u << 20;
// How often an idle writer wakes to apply age retention.
constexpr auto kRetentionTick = std::chrono::seconds(1);

using namespace file_log_io;

struct Segment : SegmentFile {
  using SegmentFile::SegmentFile;
  // Bytes readers may read: whole records, fdatasync'd.
  std::atomic<uint64_t> durable_bytes{0};
  // Set once the writer has moved on; nothing is appended after this.
  std::atomic<bool> sealed{false};
};
using SegmentPtr = std::shared_ptr<Segment>;

struct Pending {
  std::string key;
  std::string value;
  AppendCallback done;
  int64_t ts = 0;
};

struct Core;

struct PartitionState {
  int32_t id = 0;
  std::string dir;

  // --- q_mu --------------------------------------------------------------
  std::mutex q_mu;
  std::condition_variable q_cv;     // writer waits for work
  std::condition_variable done_cv;  // flush() waits for completions
  std::deque<Pending> queue;
  size_t queued_bytes = 0;
  Clock::time_point first_enqueued;
  uint64_t enqueued = 0;   // records ever enqueued
  uint64_t completed = 0;  // records whose callback has run
  bool stopping = false;

  // --- seg_mu ------------------------------------------------------------
  std::mutex seg_mu;
  std::vector<SegmentPtr> segments;  // ascending base; back() is active

  // --- published to readers (release after fdatasync) --------------------
  std::atomic<int64_t> end{0};
  std::atomic<int64_t> begin{0};

  // --- writer thread only ------------------------------------------------
  SegmentPtr active;
  uint64_t active_size = 0;
  int64_t next_offset = 0;
  Status sticky;  // set when the file state is unknown (fdatasync failed)
  std::string buf;
  std::thread writer;
};

struct Core {
  FileLogOptions opts;
  int lock_fd = -1;
  std::vector<std::unique_ptr<PartitionState>> parts;

  std::mutex data_mu;
  std::condition_variable data_cv;
  uint64_t data_gen = 0;

  std::mutex groups_mu;

  // DIR/published: the end offsets other processes' readers may read up to.
  std::unique_ptr<PublishedEnds> published;

  ~Core() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  std::string groups_dir() const { return opts.dir + "/groups"; }

  void notify_data() {
    {
      std::lock_guard<std::mutex> lk(data_mu);
      ++data_gen;
    }
    data_cv.notify_all();
  }

  // ---- writer side --------------------------------------------------------

  Result<SegmentPtr> create_segment(PartitionState& ps, int64_t base) {
    std::string path = ps.dir + "/" + fmt::segment_file_name(base);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error(path, "create segment", errno);
    // The new name must survive a crash before any record in it is
    // acknowledged.
    Status s = fsync_dir(ps.dir);
    if (!s.is_ok()) {
      ::close(fd);
      return s;
    }
    return std::make_shared<Segment>(base, std::move(path), fd);
  }

  // Writes ps.buf (records [first, first+count)) to the active segment and
  // makes it durable, then publishes it to readers.
  Status write_part(PartitionState& ps, int64_t next_after) {
    if (ps.buf.empty()) return Status::ok();
    Segment& seg = *ps.active;
    Status s = pwrite_all(seg.fd, seg.path, ps.buf.data(), ps.buf.size(), ps.active_size);
    if (!s.is_ok()) {
      // Cut off whatever part of the batch landed so the segment still
      // ends at a record boundary and later batches can go on (ENOSPC may
      // clear). If even that fails the file state is unknown: go sticky.
      if (::ftruncate(seg.fd, static_cast<off_t>(ps.active_size)) != 0) {
        ps.sticky = io_error(seg.path, "truncate after failed write", errno)
                        .context("log is unusable until reopened");
      }
      return s;
    }
    if (::fdatasync(seg.fd) != 0) {
      // After a failed fdatasync the kernel may have dropped the dirty
      // pages (the "fsyncgate" lesson): nothing written since the last
      // good sync can be trusted, so refuse further writes until a reopen
      // rescans the segment.
      s = io_error(seg.path, "fdatasync", errno);
      ps.sticky = s;
      return s;
    }
    ps.active_size += ps.buf.size();
    ps.buf.clear();
    ps.next_offset = next_after;
    seg.durable_bytes.store(ps.active_size, std::memory_order_release);
    ps.end.store(next_after, std::memory_order_release);
    // Only now, after fdatasync, may shared readers in other processes see
    // these records.
    published->store(ps.id, next_after);
    return Status::ok();
  }

  Status roll(PartitionState& ps) {
    TANDEM_ASSIGN_OR_RETURN(SegmentPtr seg, create_segment(ps, ps.next_offset));
    ps.active->sealed.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(ps.seg_mu);
      ps.segments.push_back(seg);
    }
    ps.active = std::move(seg);
    ps.active_size = 0;
    return Status::ok();
  }

  // Writes a batch; returns how many leading records are durable and the
  // status for the rest.
  std::pair<size_t, Status> write_batch(PartitionState& ps, std::deque<Pending>& batch,
                                        std::vector<Status>& per_record) {
    per_record.assign(batch.size(), Status::ok());
    if (!ps.sticky.is_ok()) {
      for (auto& s : per_record) s = ps.sticky;
      return {0, ps.sticky};
    }
    ps.buf.clear();
    int64_t off = ps.next_offset;
    size_t durable_upto = 0;  // index into batch of the first record not yet durable
    for (size_t i = 0; i < batch.size(); ++i) {
      Pending& r = batch[i];
      const uint64_t payload = fmt::kPayloadFixedBytes + r.key.size() + r.value.size();
      if (payload > fmt::kMaxPayloadBytes) {
        // Refused for good (the Log contract's kInvalidArgument).
        per_record[i] = error(Code::kInvalidArgument, "file log " + ps.dir + ": record of " +
                                                          std::to_string(payload) +
                                                          " bytes exceeds the 1 GiB record limit");
        continue;
      }
      const size_t rec = fmt::record_size(r.key.size(), r.value.size());
      const uint64_t in_seg = ps.active_size + ps.buf.size();
      if (in_seg > 0 && in_seg + rec > opts.segment_bytes) {
        Status s = write_part(ps, off);
        if (s.is_ok()) s = roll(ps);
        if (!s.is_ok()) {
          for (size_t j = durable_upto; j < batch.size(); ++j) {
            if (per_record[j].is_ok()) per_record[j] = s;
          }
          ps.buf.clear();
          return {durable_upto, s};
        }
        durable_upto = i;
      }
      fmt::append_record(ps.buf, off, r.ts, r.key, r.value);
      ++off;
    }
    Status s = write_part(ps, off);
    if (!s.is_ok()) {
      for (size_t j = durable_upto; j < batch.size(); ++j) {
        if (per_record[j].is_ok()) per_record[j] = s;
      }
      ps.buf.clear();
      return {durable_upto, s};
    }
    return {batch.size(), Status::ok()};
  }

  void writer_loop(PartitionState& ps) {
    std::deque<Pending> batch;
    std::vector<Status> per_record;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(ps.q_mu);
        ps.q_cv.wait_for(lk, kRetentionTick, [&] { return ps.stopping || !ps.queue.empty(); });
        if (ps.queue.empty()) {
          if (ps.stopping) return;
          lk.unlock();
          apply_retention(ps);
          continue;
        }
        // Group commit: everything queued now goes into one write + sync;
        // what arrives during that sync goes into the next. An optional
        // window (fsync_interval > 0) gives other appenders until
        // first_enqueued + fsync_interval to join; off by default, as it
        // only ever delayed an idle log (docs/benchmarks.md).
        if (opts.fsync_interval.count() > 0) {
          ps.q_cv.wait_until(lk, ps.first_enqueued + opts.fsync_interval,
                             [&] { return ps.stopping || ps.queued_bytes >= kMaxBatchBytes; });
        }
        size_t bytes = 0;
        while (!ps.queue.empty() && (batch.empty() || bytes < kMaxBatchBytes)) {
          bytes += ps.queue.front().key.size() + ps.queue.front().value.size();
          batch.push_back(std::move(ps.queue.front()));
          ps.queue.pop_front();
        }
        // Leftovers keep their first_enqueued: they have waited already.
        ps.queued_bytes -= std::min(ps.queued_bytes, bytes);
      }

      const int64_t first = ps.next_offset;
      auto [durable, status] = write_batch(ps, batch, per_record);
      (void)status;
      if (durable > 0) notify_data();
      // Before the callbacks, so that once flush() returns, begin_offsets()
      // already reflects the appends it waited for.
      apply_retention(ps);
      // Callbacks run with no lock held, strictly after fdatasync.
      int64_t off = first;
      for (size_t i = 0; i < batch.size(); ++i) {
        const bool ok = per_record[i].is_ok();
        Offset o(ok ? off++ : -1);
        if (batch[i].done) batch[i].done(per_record[i], Partition(ps.id), o);
      }
      const size_t n = batch.size();
      batch.clear();
      {
        std::lock_guard<std::mutex> lk(ps.q_mu);
        ps.completed += n;
      }
      ps.done_cv.notify_all();
    }
  }

  // Deletes whole sealed segments beyond retention_bytes / retention_age.
  // Never the active one. Readers holding a deleted segment keep reading it
  // through their shared_ptr (the fd outlives the unlink).
  void apply_retention(PartitionState& ps) {
    if (opts.retention_bytes == 0 && opts.retention_age.count() == 0) return;
    std::vector<SegmentPtr> doomed;
    {
      std::lock_guard<std::mutex> lk(ps.seg_mu);
      uint64_t total = 0;
      for (auto& s : ps.segments) total += s->durable_bytes.load(std::memory_order_acquire);
      const auto cutoff = std::chrono::system_clock::now() - opts.retention_age;
      while (ps.segments.size() > 1) {
        Segment& oldest = *ps.segments.front();
        const uint64_t sz = oldest.durable_bytes.load(std::memory_order_acquire);
        bool drop = opts.retention_bytes > 0 && total - sz >= opts.retention_bytes;
        if (!drop && opts.retention_age.count() > 0) {
          struct stat st;
          if (::fstat(oldest.fd, &st) == 0) {
            auto mtime = std::chrono::system_clock::time_point(
                std::chrono::seconds(st.st_mtim.tv_sec) +
                std::chrono::duration_cast<std::chrono::system_clock::duration>(
                    std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
            drop = mtime < cutoff;
          }
        }
        if (!drop) break;
        total -= sz;
        doomed.push_back(ps.segments.front());
        ps.segments.erase(ps.segments.begin());
      }
      ps.begin.store(ps.segments.front()->base, std::memory_order_release);
    }
    // Oldest first, so a crash midway leaves a contiguous suffix.
    for (auto& s : doomed) ::unlink(s->path.c_str());
  }

  // Deletes the sealed segments holding only records below `before`: a
  // segment ends where the next one begins, so it goes when that base is
  // <= before. Never the active one. Like apply_retention, readers holding
  // a deleted segment keep reading it through their shared_ptr. Returns how
  // many records were freed.
  int64_t reclaim_before(PartitionState& ps, int64_t before) {
    std::vector<SegmentPtr> doomed;
    int64_t freed = 0;
    {
      std::lock_guard<std::mutex> lk(ps.seg_mu);
      const int64_t old_begin = ps.segments.front()->base;
      while (ps.segments.size() > 1 && ps.segments[1]->base <= before) {
        doomed.push_back(ps.segments.front());
        ps.segments.erase(ps.segments.begin());
      }
      if (doomed.empty()) return 0;
      ps.begin.store(ps.segments.front()->base, std::memory_order_release);
      freed = ps.segments.front()->base - old_begin;
    }
    // Oldest first, so a crash midway leaves a contiguous suffix.
    for (auto& s : doomed) ::unlink(s->path.c_str());
    return freed;
  }

  // ---- reader side --------------------------------------------------------

  SegmentPtr find_segment(PartitionState& ps, int64_t offset) {
    std::lock_guard<std::mutex> lk(ps.seg_mu);
    SegmentPtr found;
    for (auto& s : ps.segments) {
      if (s->base <= offset)
        found = s;
      else
        break;
    }
    return found;
  }
};

// A read position in one partition: the segment, the byte position and the
// offset of the record at that position, plus a read-ahead buffer.
struct Cursor {
  SegmentPtr seg;
  uint64_t pos = 0;
  int64_t at = 0;    // offset of the record at pos
  int64_t next = 0;  // next offset to return to the caller
  std::string buf;
  uint64_t buf_pos = 0;  // file position of buf[0]

  void invalidate() {
    seg.reset();
    buf.clear();
  }
};

// Makes [pos, pos+n) available in c.buf, reading from the segment no
// further than `limit` (its durable size).
Status fill(Cursor& c, uint64_t pos, size_t n, uint64_t limit, size_t* avail) {
  if (pos >= c.buf_pos && pos + n <= c.buf_pos + c.buf.size()) {
    *avail = c.buf_pos + c.buf.size() - pos;
    return Status::ok();
  }
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(std::max(n, kReadChunkBytes), limit - pos));
  c.buf.resize(want);
  size_t got = 0;
  Status s = pread_full(c.seg->fd, c.seg->path, c.buf.data(), want, pos, &got);
  c.buf.resize(got);
  c.buf_pos = pos;
  if (!s.is_ok()) return s;
  *avail = got;
  return Status::ok();
}

// Reads up to `max` records at or after c.next from one partition.
Status read_partition(Core& core, PartitionState& ps, Cursor& c, size_t max,
                      std::vector<Record>& out) {
  size_t produced = 0;
  while (produced < max) {
    const int64_t end = ps.end.load(std::memory_order_acquire);
    if (c.next >= end) return Status::ok();
    if (!c.seg || c.next < c.at) {
      // (Re)position: records below begin were deleted by retention; like
      // Kafka's auto.offset.reset=earliest, continue from begin.
      const int64_t begin = ps.begin.load(std::memory_order_acquire);
      if (c.next < begin) c.next = begin;
      c.buf.clear();
      c.seg = core.find_segment(ps, c.next);
      if (!c.seg) {
        return error(Code::kInternal,
                     "file log " + ps.dir + ": no segment holds offset " + std::to_string(c.next));
      }
      c.pos = 0;
      c.at = c.seg->base;
    }
    const uint64_t limit = c.seg->durable_bytes.load(std::memory_order_acquire);
    if (c.pos >= limit) {
      if (!c.seg->sealed.load(std::memory_order_acquire)) return Status::ok();
      // End of a sealed segment: the next one must start exactly here.
      SegmentPtr nxt = core.find_segment(ps, c.at);
      if (!nxt || nxt == c.seg || nxt->base != c.at) {
        const int64_t begin = ps.begin.load(std::memory_order_acquire);
        if (c.at < begin) {
          c.invalidate();
          continue;
        }
        return corruption(
            c.seg->path, c.pos,
            "segment ends at offset " + std::to_string(c.at) + " but no segment starts there");
      }
      c.seg = std::move(nxt);
      c.buf.clear();
      c.pos = 0;
      continue;
    }
    size_t avail = 0;
    TANDEM_RETURN_IF_ERROR(fill(c, c.pos, fmt::kHeaderBytes, limit, &avail));
    fmt::ParsedRecord rec;
    size_t need = 0;
    auto st = fmt::parse_record(c.buf.data() + (c.pos - c.buf_pos), avail, &rec, &need);
    if (st == fmt::ParseStatus::kNeedMore) {
      if (c.pos + need > limit) {
        return corruption(c.seg->path, c.pos, "record extends past the end of durable data");
      }
      TANDEM_RETURN_IF_ERROR(fill(c, c.pos, need, limit, &avail));
      st = fmt::parse_record(c.buf.data() + (c.pos - c.buf_pos), avail, &rec, &need);
    }
    switch (st) {
      case fmt::ParseStatus::kOk:
        break;
      case fmt::ParseStatus::kNeedMore:
        return corruption(c.seg->path, c.pos, "short read of a durable record");
      case fmt::ParseStatus::kBadLength:
        return corruption(c.seg->path, c.pos, "bad record length");
      case fmt::ParseStatus::kBadCrc:
        return corruption(c.seg->path, c.pos, "checksum mismatch");
      case fmt::ParseStatus::kBadKeyLen:
        return corruption(c.seg->path, c.pos, "bad key length");
    }
    if (rec.offset != c.at) {
      return corruption(
          c.seg->path, c.pos,
          "record has offset " + std::to_string(rec.offset) + ", expected " + std::to_string(c.at));
    }
    if (c.at >= c.next) {
      out.push_back(Record{Partition(ps.id), Offset(rec.offset), std::string(rec.key),
                           std::string(rec.value)});
      ++produced;
      c.next = c.at + 1;
    }
    c.pos += rec.size;
    ++c.at;
  }
  return Status::ok();
}

// ---- recovery -------------------------------------------------------------

// Scans the last segment of a partition, truncating a torn tail. Returns
// the offset after the last good record.
Result<int64_t> recover_segment(Segment& seg, uint64_t* size_out) {
  struct stat st;
  if (::fstat(seg.fd, &st) != 0) return io_error(seg.path, "stat", errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Cursor c;
  c.seg = std::shared_ptr<Segment>(&seg, [](Segment*) {});  // borrowed
  uint64_t pos = 0;
  int64_t at = seg.base;
  auto torn_at = [&](uint64_t p) -> Result<int64_t> {
    if (::ftruncate(seg.fd, static_cast<off_t>(p)) != 0) {
      return io_error(seg.path, "truncate torn tail at byte " + std::to_string(p), errno);
    }
    if (::fdatasync(seg.fd) != 0) return io_error(seg.path, "fdatasync after truncation", errno);
    *size_out = p;
    return at;
  };
  // Bytes [p, size) are all zero: the file was extended but the data
  // never reached the disk (a crash before fdatasync returned).
  auto rest_is_zero = [&](uint64_t p) -> Result<bool> {
    std::string tmp(std::min<uint64_t>(size - p, kReadChunkBytes), '\0');
    for (uint64_t q = p; q < size;) {
      size_t got = 0;
      size_t n = static_cast<size_t>(std::min<uint64_t>(size - q, tmp.size()));
      TANDEM_RETURN_IF_ERROR(pread_full(seg.fd, seg.path, tmp.data(), n, q, &got));
      if (got == 0) break;
      if (!all_zero(tmp.data(), got)) return false;
      q += got;
    }
    return true;
  };
  while (pos < size) {
    size_t avail = 0;
    TANDEM_RETURN_IF_ERROR(fill(c, pos, fmt::kHeaderBytes, size, &avail));
    fmt::ParsedRecord rec;
    size_t need = 0;
    auto ps = fmt::parse_record(c.buf.data() + (pos - c.buf_pos), avail, &rec, &need);
    if (ps == fmt::ParseStatus::kNeedMore) {
      // Short header or a record running past EOF: the classic torn tail
      // of a write cut short.
      if (pos + need > size) return torn_at(pos);
      TANDEM_RETURN_IF_ERROR(fill(c, pos, need, size, &avail));
      ps = fmt::parse_record(c.buf.data() + (pos - c.buf_pos), avail, &rec, &need);
      if (ps == fmt::ParseStatus::kNeedMore) return torn_at(pos);
    }
    if (ps == fmt::ParseStatus::kOk) {
      if (rec.offset != at) {
        return corruption(
            seg.path, pos,
            "record has offset " + std::to_string(rec.offset) + ", expected " + std::to_string(at));
      }
      pos += rec.size;
      ++at;
      continue;
    }
    // A bad record is a torn tail only if nothing acknowledged can follow
    // it: it is the last record in the file, or everything after it is
    // zeros. Anything else is damage to acknowledged data and is reported,
    // never skipped or truncated away.
    uint64_t after = pos;
    if (ps == fmt::ParseStatus::kBadCrc) {
      uint32_t len;
      std::memcpy(&len, c.buf.data() + (pos - c.buf_pos), 4);
      after = pos + fmt::kHeaderBytes + len;
      if (after >= size) return torn_at(pos);
    }
    TANDEM_ASSIGN_OR_RETURN(bool zero, rest_is_zero(after));
    if (zero) return torn_at(pos);
    const char* what = ps == fmt::ParseStatus::kBadCrc      ? "checksum mismatch"
                       : ps == fmt::ParseStatus::kBadLength ? "bad record length"
                                                            : "bad key length";
    return corruption(seg.path, pos,
                      std::string(what) + " in the middle of the segment (" +
                          std::to_string(size - pos) +
                          " bytes follow); refusing to open rather than drop acknowledged records");
  }
  // Records the crashed writer wrote but never synced are about to become
  // visible to readers; sync them first so nothing a consumer sees can
  // vanish in a later power cut and have its offset reused.
  if (size > 0 && ::fdatasync(seg.fd) != 0) return io_error(seg.path, "fdatasync on open", errno);
  *size_out = size;
  return at;
}

Status ensure_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0) return Status::ok();
  if (errno != EEXIST) return io_error(path, "create directory", errno);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return io_error(path, "stat", errno);
  if (!S_ISDIR(st.st_mode))
    return error(Code::kFailedPrecondition, "file log " + path + ": not a directory");
  return Status::ok();
}

Status open_partition(Core& core, PartitionState& ps) {
  TANDEM_RETURN_IF_ERROR(ensure_dir(ps.dir));
  TANDEM_ASSIGN_OR_RETURN(std::vector<int64_t> bases, list_segments(ps.dir));
  if (bases.empty()) {
    TANDEM_ASSIGN_OR_RETURN(SegmentPtr seg, core.create_segment(ps, 0));
    ps.segments.push_back(std::move(seg));
  } else {
    for (size_t i = 0; i < bases.size(); ++i) {
      std::string path = ps.dir + "/" + fmt::segment_file_name(bases[i]);
      int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) return io_error(path, "open segment", errno);
      auto seg = std::make_shared<Segment>(bases[i], path, fd);
      if (i + 1 < bases.size()) {
        // Sealed segments were fully fdatasync'd before the next one was
        // created; their records are checked (CRC, offsets) when read.
        struct stat st;
        if (::fstat(fd, &st) != 0) return io_error(path, "stat", errno);
        seg->durable_bytes.store(static_cast<uint64_t>(st.st_size));
        seg->sealed.store(true);
        if (bases[i + 1] <= bases[i]) {
          return error(Code::kCorruption,
                       "file log " + ps.dir + ": segment base offsets not increasing");
        }
      }
      ps.segments.push_back(std::move(seg));
    }
  }
  Segment& last = *ps.segments.back();
  uint64_t size = 0;
  TANDEM_ASSIGN_OR_RETURN(int64_t end, recover_segment(last, &size));
  last.durable_bytes.store(size);
  ps.active = ps.segments.back();
  ps.active_size = size;
  ps.next_offset = end;
  ps.end.store(end);
  ps.begin.store(ps.segments.front()->base);
  return Status::ok();
}

// ---- public objects -------------------------------------------------------

class FileConsumer final : public Consumer {
 public:
  FileConsumer(std::shared_ptr<Core> core, std::string group, std::map<Partition, Offset> start)
      : core_(std::move(core)), group_(std::move(group)), cursors_(core_->parts.size()) {
    for (size_t p = 0; p < cursors_.size(); ++p) {
      auto it = start.find(Partition(static_cast<int32_t>(p)));
      cursors_[p].next = it != start.end() ? it->second.get()
                                           : core_->parts[p]->begin.load(std::memory_order_acquire);
    }
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override {
    std::vector<Record> out;
    if (!pending_error_.is_ok()) {
      Status s = std::move(pending_error_);
      pending_error_ = Status::ok();
      return s;
    }
    if (max_records == 0) return out;
    const auto deadline = Clock::now() + timeout;
    const size_t n = cursors_.size();
    for (;;) {
      uint64_t gen;
      {
        std::lock_guard<std::mutex> lk(core_->data_mu);
        gen = core_->data_gen;
      }
      // Round robin over partitions so one busy partition cannot starve
      // the rest; order within a partition is offset order.
      for (size_t i = 0; i < n && out.size() < max_records; ++i) {
        size_t p = (rr_ + i) % n;
        Status s =
            read_partition(*core_, *core_->parts[p], cursors_[p], max_records - out.size(), out);
        if (!s.is_ok()) {
          // Records already taken advanced their cursors: hand them out
          // now and report the error on the next poll, so nothing is
          // silently skipped. The failing cursor stays on the bad record.
          if (out.empty()) return s;
          pending_error_ = s;
          return out;
        }
      }
      rr_ = (rr_ + 1) % n;
      if (!out.empty() || Clock::now() >= deadline) return out;
      std::unique_lock<std::mutex> lk(core_->data_mu);
      core_->data_cv.wait_until(lk, deadline, [&] { return core_->data_gen != gen; });
    }
  }

  Status commit(const std::map<Partition, Offset>& next_offsets) override {
    for (auto& [p, o] : next_offsets) {
      if (p.get() < 0 || p.get() >= static_cast<int32_t>(cursors_.size())) {
        return error(Code::kInvalidArgument,
                     "file log " + core_->opts.dir + ": commit for partition " +
                         std::to_string(p.get()) + " of " + std::to_string(cursors_.size()));
      }
      if (o.get() < 0) {
        return error(Code::kInvalidArgument,
                     "file log " + core_->opts.dir + ": negative commit offset");
      }
    }
    std::lock_guard<std::mutex> lk(core_->groups_mu);
    TANDEM_ASSIGN_OR_RETURN(auto merged, read_group_offsets(core_->groups_dir(), group_));
    for (auto& [p, o] : next_offsets) merged[p] = o;
    return write_group_offsets(core_->groups_dir(), group_, merged);
  }

  Result<std::map<Partition, Offset>> committed() override {
    std::lock_guard<std::mutex> lk(core_->groups_mu);
    return read_group_offsets(core_->groups_dir(), group_);
  }

  Status seek(Partition p, Offset next) override {
    if (p.get() < 0 || p.get() >= static_cast<int32_t>(cursors_.size())) {
      return error(Code::kInvalidArgument,
                   "file log " + core_->opts.dir + ": no partition " + std::to_string(p.get()));
    }
    PartitionState& ps = *core_->parts[p.get()];
    const int64_t end = ps.end.load(std::memory_order_acquire);
    if (next.get() < 0 || next.get() > end) {
      return error(Code::kInvalidArgument, "file log " + ps.dir + ": seek to " +
                                               std::to_string(next.get()) + " outside [0, " +
                                               std::to_string(end) + "]");
    }
    Cursor& c = cursors_[p.get()];
    c.invalidate();
    c.next = next.get();
    return Status::ok();
  }

  Result<std::vector<PartitionLag>> lag() override {
    TANDEM_ASSIGN_OR_RETURN(auto com, committed());
    std::vector<PartitionLag> out;
    for (size_t p = 0; p < core_->parts.size(); ++p) {
      auto it = com.find(Partition(static_cast<int32_t>(p)));
      out.push_back(PartitionLag{Partition(static_cast<int32_t>(p)),
                                 it != com.end() ? it->second : Offset(-1),
                                 Offset(core_->parts[p]->end.load(std::memory_order_acquire))});
    }
    return out;
  }

  void hold(std::unique_ptr<GroupLock> lock) { lock_ = std::move(lock); }

 private:
  std::shared_ptr<Core> core_;
  std::string group_;
  std::unique_ptr<GroupLock> lock_;  // one consumer per group (any process)
  std::vector<Cursor> cursors_;
  size_t rr_ = 0;
  Status pending_error_;
};

class FileLog final : public Log {
 public:
  explicit FileLog(std::shared_ptr<Core> core) : core_(std::move(core)) {}

  ~FileLog() override {
    // Drain: every queued append is written and its callback runs.
    for (auto& ps : core_->parts) {
      {
        std::lock_guard<std::mutex> lk(ps->q_mu);
        ps->stopping = true;
      }
      ps->q_cv.notify_all();
    }
    for (auto& ps : core_->parts) {
      if (ps->writer.joinable()) ps->writer.join();
    }
    // Release the directory now, not when the last consumer goes away.
    if (core_->lock_fd >= 0) {
      ::close(core_->lock_fd);
      core_->lock_fd = -1;
    }
  }

  std::string describe() const override { return "file log at " + core_->opts.dir; }
  int32_t partitions() const override { return static_cast<int32_t>(core_->parts.size()); }
  uint64_t max_record_bytes() const override {
    return fmt::kMaxPayloadBytes - fmt::kPayloadFixedBytes;
  }

  void append(std::vector<AppendRecord> batch) override {
    const auto n = static_cast<int32_t>(core_->parts.size());
    const int64_t ts = now_ms();
    // Bucket first so each partition's lock is taken once per call.
    std::vector<std::vector<Pending>> buckets(n);
    for (auto& r : batch) {
      if (r.partition >= n) {
        if (r.done) {
          r.done(error(Code::kInvalidArgument, "file log " + core_->opts.dir + ": no partition " +
                                                   std::to_string(r.partition) + " (it has " +
                                                   std::to_string(n) + ")"),
                 Partition(-1), Offset(-1));
        }
        continue;
      }
      const int32_t p = r.partition >= 0 ? r.partition : event::partition_for(r.key, n);
      buckets[p].push_back(Pending{std::move(r.key), std::move(r.value), std::move(r.done), ts});
    }
    for (int32_t p = 0; p < n; ++p) {
      if (buckets[p].empty()) continue;
      PartitionState& ps = *core_->parts[p];
      {
        std::lock_guard<std::mutex> lk(ps.q_mu);
        if (ps.queue.empty()) ps.first_enqueued = Clock::now();
        for (auto& r : buckets[p]) {
          ps.queued_bytes += r.key.size() + r.value.size();
          ps.queue.push_back(std::move(r));
        }
        ps.enqueued += buckets[p].size();
      }
      ps.q_cv.notify_one();
    }
  }

  Status flush(std::chrono::milliseconds deadline) override {
    const auto until = Clock::now() + deadline;
    for (auto& ps : core_->parts) {
      std::unique_lock<std::mutex> lk(ps->q_mu);
      const uint64_t target = ps->enqueued;
      if (!ps->done_cv.wait_until(lk, until, [&] { return ps->completed >= target; })) {
        return error(Code::kTimeout, "file log " + core_->opts.dir + ": flush timed out with " +
                                         std::to_string(target - ps->completed) +
                                         " appends outstanding in partition " +
                                         std::to_string(ps->id));
      }
    }
    return Status::ok();
  }

  Result<std::vector<Offset>> end_offsets() override {
    std::vector<Offset> out;
    for (auto& ps : core_->parts) out.emplace_back(ps->end.load(std::memory_order_acquire));
    return out;
  }

  Result<std::vector<Offset>> begin_offsets() override {
    std::vector<Offset> out;
    for (auto& ps : core_->parts) out.emplace_back(ps->begin.load(std::memory_order_acquire));
    return out;
  }

  Result<std::vector<PartitionLag>> group_lag(const std::string& group) override {
    std::map<Partition, Offset> com;
    {
      std::lock_guard<std::mutex> lk(core_->groups_mu);
      TANDEM_ASSIGN_OR_RETURN(com, read_group_offsets(core_->groups_dir(), group));
    }
    std::vector<PartitionLag> out;
    for (size_t p = 0; p < core_->parts.size(); ++p) {
      auto it = com.find(Partition(static_cast<int32_t>(p)));
      out.push_back(PartitionLag{Partition(static_cast<int32_t>(p)),
                                 it != com.end() ? it->second : Offset(-1),
                                 Offset(core_->parts[p]->end.load(std::memory_order_acquire))});
    }
    return out;
  }

  Result<int64_t> reclaim_before(Partition p, Offset before) override {
    if (p.get() < 0 || p.get() >= partitions()) {
      return error(Code::kInvalidArgument,
                   "file log " + core_->opts.dir + ": no partition " + std::to_string(p.get()));
    }
    return core_->reclaim_before(*core_->parts[p.get()], before.get());
  }

  Result<std::unique_ptr<Consumer>> consumer(const std::string& group) override {
    if (group.empty()) {
      return error(Code::kInvalidArgument,
                   "file log " + core_->opts.dir + ": empty consumer group name");
    }
    TANDEM_ASSIGN_OR_RETURN(auto lock, GroupLock::acquire(core_->opts.dir, group));
    auto c = std::make_unique<FileConsumer>(core_, group, std::map<Partition, Offset>{});
    c->hold(std::move(lock));
    TANDEM_ASSIGN_OR_RETURN(auto start, c->committed());
    for (auto& [p, o] : start) {
      if (p.get() < partitions())
        TANDEM_RETURN_IF_ERROR(
            c->seek(p, Offset(std::min(o.get(), core_->parts[p.get()]->end.load()))));
    }
    return std::unique_ptr<Consumer>(std::move(c));
  }

 private:
  std::shared_ptr<Core> core_;
};

Status lock_dir(Core& core) {
  const std::string path = core.opts.dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(path, "open lock file", errno);
  // flock locks belong to the open file description, so a second open in
  // this same process is refused too, exactly like another process.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder = "unknown";
    if (err == EWOULDBLOCK) {
      char buf[32] = {};
      ssize_t r = ::pread(fd, buf, sizeof(buf) - 1, 0);
      if (r > 0) {
        holder = std::string(buf, static_cast<size_t>(r));
        while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
          holder.pop_back();
      }
      ::close(fd);
      return error(
          Code::kFailedPrecondition,
          "file log " + core.opts.dir + " is held by another process (pid " + holder + ")");
    }
    ::close(fd);
    return io_error(path, "lock", err);
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    int err = errno;
    ::close(fd);
    return io_error(path, "write pid", err);
  }
  core.lock_fd = fd;
  return Status::ok();
}

Status check_meta(Core& core) {
  const std::string path = core.opts.dir + "/meta";
  const std::string want =
      "tandem-file-log 1\npartitions " + std::to_string(core.opts.partitions) + "\n";
  if (::access(path.c_str(), F_OK) != 0) {
    return write_file_atomically(core.opts.dir, "meta", want);
  }
  TANDEM_ASSIGN_OR_RETURN(std::string have, read_small_file(path));
  int parts = -1;
  if (std::sscanf(have.c_str(), "tandem-file-log 1\npartitions %d", &parts) != 1 || parts <= 0) {
    return error(Code::kCorruption, "file log " + path + ": unreadable meta file");
  }
  if (parts != core.opts.partitions) {
    return error(Code::kFailedPrecondition,
                 "file log " + core.opts.dir + " was created with " + std::to_string(parts) +
                     " partitions; opening it with " + std::to_string(core.opts.partitions) +
                     " would move keys between partitions");
  }
  return Status::ok();
}

Status prepare_dir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return error(Code::kFailedPrecondition, "file log " + dir + ": not a directory");
    return Status::ok();
  }
  std::string parent = dir;
  while (parent.size() > 1 && parent.back() == '/') parent.pop_back();
  auto slash = parent.rfind('/');
  parent = slash == std::string::npos ? "." : slash == 0 ? "/" : parent.substr(0, slash);
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return error(Code::kNotFound,
                 "file log " + dir + ": parent directory " + parent +
                     " does not exist (tandem creates the log directory, not its parents)");
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    return io_error(dir, "create log directory", errno);
  return fsync_dir(parent);
}

}  // namespace

Result<std::unique_ptr<Log>> open_file_log(const FileLogOptions& opts) {
  if (opts.dir.empty()) return error(Code::kInvalidArgument, "file log: no directory given");
  if (opts.shared_reader) return open_file_log_reader(opts.dir);
  if (opts.partitions <= 0 || opts.partitions > 4096) {
    return error(Code::kInvalidArgument, "file log " + opts.dir +
                                             ": partitions must be in [1, 4096], got " +
                                             std::to_string(opts.partitions));
  }
  if (opts.segment_bytes < 4096) {
    return error(Code::kInvalidArgument, "file log " + opts.dir + ": segment_bytes below 4096");
  }
  auto core = std::make_shared<Core>();
  core->opts = opts;
  while (core->opts.dir.size() > 1 && core->opts.dir.back() == '/') core->opts.dir.pop_back();
  TANDEM_RETURN_IF_ERROR(prepare_dir(core->opts.dir));
  TANDEM_RETURN_IF_ERROR(lock_dir(*core));
  TANDEM_RETURN_IF_ERROR(check_meta(*core));
  TANDEM_RETURN_IF_ERROR(ensure_dir(core->groups_dir()));
  TANDEM_ASSIGN_OR_RETURN(core->published,
                          PublishedEnds::open_writer(core->opts.dir, opts.partitions));
  for (int32_t p = 0; p < opts.partitions; ++p) {
    auto ps = std::make_unique<PartitionState>();
    ps->id = p;
    ps->dir = core->opts.dir + "/p" + std::to_string(p);
    TANDEM_RETURN_IF_ERROR(open_partition(*core, *ps));
    // Recovery has synced the last segment: everything in it is durable.
    core->published->store(p, ps->end.load());
    core->parts.push_back(std::move(ps));
  }
  TANDEM_RETURN_IF_ERROR(fsync_dir(core->opts.dir));
  for (auto& ps : core->parts) core->apply_retention(*ps);
  // Threads last: nothing above can fail after a thread exists.
  for (auto& ps : core->parts) {
    PartitionState* raw = ps.get();
    Core* c = core.get();
    ps->writer = std::thread([c, raw] { c->writer_loop(*raw); });
  }
  return std::unique_ptr<Log>(std::make_unique<FileLog>(std::move(core)));
}

}  // namespace tandem::log
