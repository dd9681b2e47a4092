// The embedded file log: Log for one machine, no services. Format and
// recovery rules: docs/file-log-format.md. The shared state and its lock
// discipline: file_log_core.h. Here: the read source of the writer's own
// consumers, the consumer, the Log and open_file_log.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "core/thread_name.h"
#include "event/event.h"
#include "log/file_log_core.h"
#include "log/file_log_format.h"
#include "log/file_log_io.h"
#include "log/file_log_read.h"
#include "log/log.h"

namespace tandem::log {
namespace detail {

SegmentPtr Core::find_segment(PartitionState& ps, int64_t offset) {
  MutexLock lk(ps.seg_mu);
  SegmentPtr found;
  for (auto& s : ps.segments) {
    if (s->base <= offset)
      found = s;
    else
      break;
  }
  return found;
}

int64_t Core::final_end(int32_t p) {
  return parts[p]->end.load(std::memory_order_acquire);
}

Result<SegmentFilePtr> Core::segment_for(int32_t p, int64_t offset) {
  SegmentPtr seg = find_segment(*parts[p], offset);
  if (!seg) {
    return error(Code::kInternal, "file log " + parts[p]->dir + ": no segment holds offset " +
                                      std::to_string(offset));
  }
  return SegmentFilePtr(std::move(seg));
}

Result<int64_t> Core::base_after(int32_t p, int64_t base) {
  PartitionState& ps = *parts[p];
  MutexLock lk(ps.seg_mu);
  for (auto& s : ps.segments) {
    if (s->base > base) return s->base;
  }
  return int64_t{-1};
}

Result<int64_t> Core::oldest(int32_t p) {
  return parts[p]->begin.load(std::memory_order_acquire);
}

// Like Kafka's auto.offset.reset=earliest: continue from the oldest
// retained offset.
Result<int64_t> Core::deleted(int32_t, int64_t, int64_t oldest) {
  return oldest;
}

}  // namespace detail

namespace {

namespace fmt = file_log_format;
using namespace detail;

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
    for (;;) {
      uint64_t gen;
      {
        MutexLock lk(core_->data_mu);
        gen = core_->data_gen;
      }
      TANDEM_RETURN_IF_ERROR(
          poll_round_robin(*core_, cursors_, &rr_, max_records, &out, &pending_error_));
      if (!out.empty() || Clock::now() >= deadline) return out;
      MutexLock lk(core_->data_mu);
      while (core_->data_gen == gen && Clock::now() < deadline) {
        core_->data_cv.wait_until(core_->data_mu, deadline);
      }
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
    MutexLock lk(core_->groups_mu);
    TANDEM_ASSIGN_OR_RETURN(auto merged, read_group_offsets(core_->groups_dir(), group_));
    for (auto& [p, o] : next_offsets) merged[p] = o;
    return write_group_offsets(core_->groups_dir(), group_, merged);
  }

  Result<std::map<Partition, Offset>> committed() override {
    MutexLock lk(core_->groups_mu);
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
    ReadCursor& c = cursors_[p.get()];
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
  std::vector<ReadCursor> cursors_;
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
        MutexLock lk(ps->q_mu);
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
        MutexLock lk(ps.q_mu);
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
      MutexLock lk(ps->q_mu);
      const uint64_t target = ps->enqueued;
      while (ps->completed < target && Clock::now() < until)
        ps->done_cv.wait_until(ps->q_mu, until);
      if (ps->completed < target) {
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
      MutexLock lk(core_->groups_mu);
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
    ps->writer = std::thread([c, raw] {
      name_this_thread("tandem-flog-" + std::to_string(raw->id));
      c->writer_loop(*raw);
    });
  }
  return std::unique_ptr<Log>(std::make_unique<FileLog>(std::move(core)));
}

}  // namespace tandem::log
