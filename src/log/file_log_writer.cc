// The file log's writer: one thread per partition takes its append queue,
// writes each batch with one pwrite and one fdatasync, publishes the new end
// and runs the callbacks. docs/file-log-format.md, "Writing: group commit".

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "log/file_log_core.h"
#include "log/file_log_format.h"

namespace tandem::log::detail {
namespace {

namespace fmt = file_log_format;

// A batch is written with one pwrite and one fdatasync; this caps how much
// one batch holds so a burst does not build one giant buffer.
constexpr size_t kMaxBatchBytes = 16u << 20;
// How often an idle writer wakes to apply age retention.
constexpr auto kRetentionTick = std::chrono::seconds(1);

}  // namespace

Result<SegmentPtr> Core::create_segment(PartitionState& ps, int64_t base) {
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
Status Core::write_part(PartitionState& ps, int64_t next_after) {
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

Status Core::roll(PartitionState& ps) {
  TANDEM_ASSIGN_OR_RETURN(SegmentPtr seg, create_segment(ps, ps.next_offset));
  {
    MutexLock lk(ps.seg_mu);
    ps.segments.push_back(seg);
  }
  ps.active = std::move(seg);
  ps.active_size = 0;
  return Status::ok();
}

// Writes a batch; returns how many leading records are durable and the
// status for the rest.
std::pair<size_t, Status> Core::write_batch(PartitionState& ps, std::deque<Pending>& batch,
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

void Core::writer_loop(PartitionState& ps) {
  std::deque<Pending> batch;
  std::vector<Status> per_record;
  for (;;) {
    bool idle = false;
    {
      MutexLock lk(ps.q_mu);
      const auto tick_end = Clock::now() + kRetentionTick;
      while (!ps.stopping && ps.queue.empty() && Clock::now() < tick_end) {
        ps.q_cv.wait_until(ps.q_mu, tick_end);
      }
      if (ps.queue.empty()) {
        if (ps.stopping) return;
        idle = true;
      }
    }
    if (idle) {
      apply_retention(ps);
      continue;
    }
    {
      MutexLock lk(ps.q_mu);
      // Group commit: everything queued now goes into one write + sync;
      // what arrives during that sync goes into the next. An optional
      // window (fsync_interval > 0) gives other appenders until
      // first_enqueued + fsync_interval to join; off by default, as it
      // only ever delayed an idle log (docs/benchmarks.md).
      if (opts.fsync_interval.count() > 0) {
        const auto window_end = ps.first_enqueued + opts.fsync_interval;
        while (!ps.stopping && ps.queued_bytes < kMaxBatchBytes && Clock::now() < window_end) {
          ps.q_cv.wait_until(ps.q_mu, window_end);
        }
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
      MutexLock lk(ps.q_mu);
      ps.completed += n;
    }
    ps.done_cv.notify_all();
  }
}

}  // namespace tandem::log::detail
