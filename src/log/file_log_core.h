// Internal to the file log: the state of an open log that its writer
// (file_log_writer.cc), retention (file_log_retention.cc), recovery and
// locking (file_log_recovery.cc) and its own consumers (file_log.cc) share.
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
//                     only. Readers see progress through
//                     PartitionState::end, published with release order
//                     after fdatasync (Segment::durable_bytes, stored just
//                     before it, is what retention counts).
//   Core::data_mu     only guards the "new data" generation counter that
//                     poll() sleeps on.
//   Core::groups_mu   serializes read-modify-write of a group's offsets
//                     (GroupLock keeps other consumers of the group, in
//                     this process or another, out entirely).
// Readers in other processes (file_log_reader.cc) see DIR/published, which
// write_part updates after each fdatasync. Every reader -- these consumers,
// shared readers and recovery -- runs the one read loop of file_log_read.h;
// Core is the read source of this process's consumers.
// Readers use pread on their own buffers and never take q_mu, so a slow
// consumer cannot stall appends and vice versa.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "log/file_log_io.h"
#include "log/file_log_read.h"
#include "log/log.h"

namespace tandem::log::detail {

using Clock = std::chrono::steady_clock;

struct Segment : SegmentFile {
  using SegmentFile::SegmentFile;
  // Whole records, fdatasync'd: the size retention counts.
  std::atomic<uint64_t> durable_bytes{0};
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
  Mutex q_mu;
  CondVar q_cv;     // writer waits for work
  CondVar done_cv;  // flush() waits for completions
  std::deque<Pending> queue TANDEM_GUARDED_BY(q_mu);
  size_t queued_bytes TANDEM_GUARDED_BY(q_mu) = 0;
  Clock::time_point first_enqueued TANDEM_GUARDED_BY(q_mu);
  uint64_t enqueued TANDEM_GUARDED_BY(q_mu) = 0;   // records ever enqueued
  uint64_t completed TANDEM_GUARDED_BY(q_mu) = 0;  // records whose callback has run
  bool stopping TANDEM_GUARDED_BY(q_mu) = false;

  // --- seg_mu ------------------------------------------------------------
  Mutex seg_mu;
  std::vector<SegmentPtr> segments TANDEM_GUARDED_BY(seg_mu);  // ascending base; back() is active

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

// Core is the read source of the writer's own consumers: they may read up
// to PartitionState::end (published after fdatasync), find segments in the
// in-memory list, and continue from the oldest offset when theirs was
// deleted by retention.
struct Core final : ReadSource {
  FileLogOptions opts;
  int lock_fd = -1;
  std::vector<std::unique_ptr<PartitionState>> parts;

  Mutex data_mu;
  CondVar data_cv;
  uint64_t data_gen TANDEM_GUARDED_BY(data_mu) = 0;

  // Serialises commits of the groups' offsets files: the state it guards
  // is those files, not a member.
  Mutex groups_mu;

  // DIR/published: the end offsets other processes' readers may read up to.
  std::unique_ptr<PublishedEnds> published;

  ~Core() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  std::string groups_dir() const { return opts.dir + "/groups"; }

  void notify_data() {
    {
      MutexLock lk(data_mu);
      ++data_gen;
    }
    data_cv.notify_all();
  }

  // ---- writer side (file_log_writer.cc) ------------------------------------

  Result<SegmentPtr> create_segment(PartitionState& ps, int64_t base);

  // Writes ps.buf (records [first, first+count)) to the active segment and
  // makes it durable, then publishes it to readers.
  Status write_part(PartitionState& ps, int64_t next_after);

  Status roll(PartitionState& ps);

  // Writes a batch; returns how many leading records are durable and the
  // status for the rest.
  std::pair<size_t, Status> write_batch(PartitionState& ps, std::deque<Pending>& batch,
                                        std::vector<Status>& per_record);

  void writer_loop(PartitionState& ps);

  // ---- retention (file_log_retention.cc) -----------------------------------

  // Deletes whole sealed segments beyond retention_bytes / retention_age.
  // Never the active one. Readers holding a deleted segment keep reading it
  // through their shared_ptr (the fd outlives the unlink).
  void apply_retention(PartitionState& ps);

  // Deletes the sealed segments holding only records below `before`: a
  // segment ends where the next one begins, so it goes when that base is
  // <= before. Never the active one. Like apply_retention, readers holding
  // a deleted segment keep reading it through their shared_ptr. Returns how
  // many records were freed.
  int64_t reclaim_before(PartitionState& ps, int64_t before);

  // ---- read source of the writer's consumers (file_log.cc) -----------------

  SegmentPtr find_segment(PartitionState& ps, int64_t offset);

  int64_t final_end(int32_t p) override;

  Result<SegmentFilePtr> segment_for(int32_t p, int64_t offset) override;

  Result<int64_t> base_after(int32_t p, int64_t base) override;

  Result<int64_t> oldest(int32_t p) override;

  // Like Kafka's auto.offset.reset=earliest: continue from the oldest
  // retained offset.
  Result<int64_t> deleted(int32_t, int64_t, int64_t oldest) override;
};

// ---- recovery and locking (file_log_recovery.cc) ----------------------------

// DIR exists and is a directory, creating it (not its parents).
Status prepare_dir(const std::string& dir);
// Takes DIR/LOCK for this writer, or names the holder's pid.
Status lock_dir(Core& core);
// Creates DIR/meta or checks its partition count.
Status check_meta(Core& core);
Status ensure_dir(const std::string& path);
// Opens a partition's segments and recovers its last one (truncating a torn
// tail); sets the writer's position and the published begin and end.
Status open_partition(Core& core, PartitionState& ps);

}  // namespace tandem::log::detail
