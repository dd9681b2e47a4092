// The file log's shared reader: consumes a file log that another process
// (`tandem proxy`) holds as its writer. Rules: docs/file-log-format.md,
// "Shared readers".
//
// What it may read. The writer publishes, per partition, the offset after
// its last durable record in DIR/published (memory-mapped, see
// file_log_io.h), after each fdatasync. The reader returns records below
// that mark only; everything below it is complete and synced, so a damaged
// or incomplete record there is corruption (an error naming file and byte,
// never data). Bytes past the mark may be a batch being written, or one the
// writer will cut off after a failed write, so they are never returned and
// never kept in a buffer across polls: a buffer is trusted only for records
// that were published before it was read.
//
// A log whose writer predates DIR/published (or is still creating it) is
// read "tolerantly": complete records with a valid checksum and the
// expected offset are returned, and an incomplete or torn tail is "not
// written yet" and read again later -- unless a later segment exists,
// which proves the tail final (then it is corruption).
//
// The reader never creates, truncates, repairs or deletes anything in the
// log. It writes only its consumer group's files in groups/.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>

#include "core/mutex.h"
#include "log/file_log_format.h"
#include "log/file_log_io.h"
#include "log/file_log_read.h"
#include "log/log.h"

namespace tandem::log {
namespace {

namespace fmt = file_log_format;
using namespace detail;
using Clock = std::chrono::steady_clock;

// How often an idle poll looks again: the published marks are a memory
// load, so this can be short; without them it means stat/read calls.
constexpr auto kTickPublished = std::chrono::milliseconds(5);
constexpr auto kTickTolerant = std::chrono::milliseconds(50);
// How often a reader without DIR/published checks whether it appeared.
constexpr auto kRetryPublished = std::chrono::seconds(1);

class ReaderCore final : public ReadSource {
 public:
  ReaderCore(std::string dir, int32_t partitions)
      : dir_(std::move(dir)), parts_(partitions), scan_(static_cast<size_t>(partitions)) {}

  const std::string& dir() const { return dir_; }
  int32_t partitions() const { return parts_; }
  std::string pdir(int32_t p) const { return dir_ + "/p" + std::to_string(p); }
  std::string groups_dir() const { return dir_ + "/groups"; }

  // The writer's published end of partition p, or -1 when there is no
  // DIR/published (tolerant reading).
  int64_t final_end(int32_t p) override {
    MutexLock lk(mu_);
    if (!published_ && Clock::now() >= next_try_) {
      next_try_ = Clock::now() + kRetryPublished;
      auto r = PublishedEnds::open_reader(dir_, parts_);
      if (r.is_ok()) published_ = std::move(r).value();
    }
    return published_ ? published_->load(p) : -1;
  }

  Result<std::vector<int64_t>> bases(int32_t p) {
    TANDEM_ASSIGN_OR_RETURN(auto b, list_segments(pdir(p)));
    if (b.empty()) {
      return error(Code::kNotFound, "file log " + pdir(p) + ": no segments");
    }
    return b;
  }

  Result<int64_t> oldest(int32_t p) override {
    TANDEM_ASSIGN_OR_RETURN(auto b, bases(p));
    return b.front();
  }

  // A shared reader reports a position deleted by retention rather than
  // skipping the events it lost.
  Result<int64_t> deleted(int32_t p, int64_t offset, int64_t oldest) override {
    return error(Code::kNotFound, "file log " + pdir(p) + ": offset " + std::to_string(offset) +
                                      " is no longer in the log (deleted by retention; the "
                                      "oldest retained offset is " +
                                      std::to_string(oldest) + ")");
  }

  // Opens the segment holding `offset`.
  Result<SegmentFilePtr> segment_for(int32_t p, int64_t offset) override {
    for (int attempt = 0;; ++attempt) {
      TANDEM_ASSIGN_OR_RETURN(auto b, bases(p));
      if (offset < b.front()) return deleted(p, offset, b.front()).status();
      int64_t base = b.front();
      for (int64_t x : b) {
        if (x <= offset) base = x;
      }
      std::string path = pdir(p) + "/" + fmt::segment_file_name(base);
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) return std::make_shared<SegmentFile>(base, std::move(path), fd);
      // Retention may have deleted it since the listing: list again.
      if (errno != ENOENT || attempt >= 3) return io_error(path, "open segment", errno);
    }
  }

  // The base of the first segment after `base`, or -1 if there is none.
  Result<int64_t> base_after(int32_t p, int64_t base) override {
    TANDEM_ASSIGN_OR_RETURN(auto b, bases(p));
    for (int64_t x : b) {
      if (x > base) return x;
    }
    return int64_t{-1};
  }

  // The offset the next record of p will get, as far as this reader can
  // tell: the writer's published end, or (tolerant) the end of the complete
  // records found so far.
  Result<int64_t> end_of(int32_t p);
  Result<std::vector<PartitionLag>> lag_of(const std::map<Partition, Offset>& com);

 private:
  const std::string dir_;
  const int32_t parts_;
  // Tolerant end offsets: scans that only advance, resumed on every call so
  // each record is read once.
  Mutex scan_mu_;
  std::vector<ReadCursor> scan_ TANDEM_GUARDED_BY(scan_mu_);
  Mutex mu_;
  std::unique_ptr<PublishedEnds> published_ TANDEM_GUARDED_BY(mu_);
  Clock::time_point next_try_ TANDEM_GUARDED_BY(mu_){};
};

Result<int64_t> ReaderCore::end_of(int32_t p) {
  const int64_t mark = final_end(p);
  if (mark >= 0) return mark;
  MutexLock lk(scan_mu_);
  ReadCursor& c = scan_[static_cast<size_t>(p)];
  if (!c.seg) {
    TANDEM_ASSIGN_OR_RETURN(auto b, bases(p));
    c.next = std::max(c.next, b.front());
  }
  TANDEM_RETURN_IF_ERROR(read_part(*this, p, c, std::numeric_limits<size_t>::max(), nullptr));
  return c.seg ? c.at : c.next;
}

Result<std::vector<PartitionLag>> ReaderCore::lag_of(const std::map<Partition, Offset>& com) {
  std::vector<PartitionLag> out;
  for (int32_t p = 0; p < parts_; ++p) {
    auto it = com.find(Partition(p));
    TANDEM_ASSIGN_OR_RETURN(int64_t e, end_of(p));
    out.push_back(PartitionLag{Partition(p), it != com.end() ? it->second : Offset(-1), Offset(e)});
  }
  return out;
}

class ReaderConsumer final : public Consumer {
 public:
  ReaderConsumer(std::shared_ptr<ReaderCore> core, std::string group,
                 std::unique_ptr<GroupLock> lock)
      : core_(std::move(core)),
        group_(std::move(group)),
        lock_(std::move(lock)),
        cursors_(static_cast<size_t>(core_->partitions())) {}

  Status start(const std::vector<int64_t>& begin, const std::vector<int64_t>& end) {
    TANDEM_ASSIGN_OR_RETURN(auto com, committed());
    for (size_t p = 0; p < cursors_.size(); ++p) {
      auto it = com.find(Partition(static_cast<int32_t>(p)));
      cursors_[p].next = it != com.end() ? std::min(it->second.get(), end[p]) : begin[p];
    }
    return Status::ok();
  }

  Result<std::vector<Record>> poll(size_t max_records, std::chrono::milliseconds timeout) override;

  Status commit(const std::map<Partition, Offset>& next_offsets) override {
    for (auto& [p, o] : next_offsets) {
      if (p.get() < 0 || p.get() >= core_->partitions()) {
        return error(Code::kInvalidArgument,
                     "file log " + core_->dir() + ": commit for partition " +
                         std::to_string(p.get()) + " of " + std::to_string(core_->partitions()));
      }
      if (o.get() < 0) {
        return error(Code::kInvalidArgument,
                     "file log " + core_->dir() + ": negative commit offset");
      }
    }
    MutexLock lk(mu_);
    TANDEM_ASSIGN_OR_RETURN(auto merged, read_group_offsets(core_->groups_dir(), group_));
    for (auto& [p, o] : next_offsets) merged[p] = o;
    return write_group_offsets(core_->groups_dir(), group_, merged);
  }

  Result<std::map<Partition, Offset>> committed() override {
    MutexLock lk(mu_);
    return read_group_offsets(core_->groups_dir(), group_);
  }

  Status seek(Partition p, Offset next) override;
  Result<std::vector<PartitionLag>> lag() override;

 private:
  std::shared_ptr<ReaderCore> core_;  // shared: a consumer may outlive its Log
  std::string group_;
  std::unique_ptr<GroupLock> lock_;
  // Serialises commit() and committed() on the group's offsets file: the
  // state it guards is that file, not a member. Everything else here is
  // used by the one thread that polls (Consumer's contract).
  Mutex mu_;
  std::vector<ReadCursor> cursors_;
  size_t rr_ = 0;
  Status pending_error_;
};

class ReaderLog final : public Log {
 public:
  explicit ReaderLog(std::shared_ptr<ReaderCore> core) : core_(std::move(core)) {}

  std::string describe() const override { return "file log at " + core_->dir() + " (reader)"; }
  int32_t partitions() const override { return core_->partitions(); }
  uint64_t max_record_bytes() const override { return 0; }  // appends always fail

  void append(std::vector<AppendRecord> batch) override {
    const Status s =
        error(Code::kFailedPrecondition,
              "file log " + core_->dir() + " is open as a shared reader; only its writer appends");
    for (auto& r : batch) {
      if (r.done) r.done(s, Partition(-1), Offset(-1));
    }
  }

  Status flush(std::chrono::milliseconds) override { return Status::ok(); }

  Result<std::vector<Offset>> end_offsets() override {
    std::vector<Offset> out;
    for (int32_t p = 0; p < core_->partitions(); ++p) {
      TANDEM_ASSIGN_OR_RETURN(int64_t e, core_->end_of(p));
      out.emplace_back(e);
    }
    return out;
  }

  Result<std::vector<Offset>> begin_offsets() override {
    std::vector<Offset> out;
    for (int32_t p = 0; p < core_->partitions(); ++p) {
      TANDEM_ASSIGN_OR_RETURN(auto b, core_->bases(p));
      out.emplace_back(b.front());
    }
    return out;
  }

  Result<std::vector<PartitionLag>> group_lag(const std::string& group) override {
    TANDEM_ASSIGN_OR_RETURN(auto com, read_group_offsets(core_->groups_dir(), group));
    return core_->lag_of(com);
  }

  Result<std::unique_ptr<Consumer>> consumer(const std::string& group) override {
    if (group.empty()) {
      return error(Code::kInvalidArgument,
                   "file log " + core_->dir() + ": empty consumer group name");
    }
    TANDEM_ASSIGN_OR_RETURN(auto lock, GroupLock::acquire(core_->dir(), group));
    std::vector<int64_t> begin, end;
    for (int32_t p = 0; p < core_->partitions(); ++p) {
      TANDEM_ASSIGN_OR_RETURN(auto b, core_->bases(p));
      begin.push_back(b.front());
      // Only to clamp the committed position; damage is reported by poll(),
      // at the record, not here.
      auto e = core_->end_of(p);
      end.push_back(e.is_ok() ? *e : std::numeric_limits<int64_t>::max());
    }
    auto c = std::make_unique<ReaderConsumer>(core_, group, std::move(lock));
    TANDEM_RETURN_IF_ERROR(c->start(begin, end));
    return std::unique_ptr<Consumer>(std::move(c));
  }

 private:
  std::shared_ptr<ReaderCore> core_;
};

Result<std::vector<Record>> ReaderConsumer::poll(size_t max_records,
                                                 std::chrono::milliseconds timeout) {
  std::vector<Record> out;
  if (!pending_error_.is_ok()) {
    Status s = std::move(pending_error_);
    pending_error_ = Status::ok();
    return s;
  }
  if (max_records == 0) return out;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    TANDEM_RETURN_IF_ERROR(
        poll_round_robin(*core_, cursors_, &rr_, max_records, &out, &pending_error_));
    const auto now = Clock::now();
    if (!out.empty() || now >= deadline) return out;
    const auto tick = core_->final_end(0) >= 0 ? kTickPublished : kTickTolerant;
    std::this_thread::sleep_for(std::min<Clock::duration>(
        tick, std::chrono::duration_cast<Clock::duration>(deadline - now)));
  }
}

Status ReaderConsumer::seek(Partition p, Offset next) {
  if (p.get() < 0 || p.get() >= core_->partitions()) {
    return error(Code::kInvalidArgument,
                 "file log " + core_->dir() + ": no partition " + std::to_string(p.get()));
  }
  TANDEM_ASSIGN_OR_RETURN(int64_t end, core_->end_of(p.get()));
  if (next.get() < 0 || next.get() > end) {
    return error(Code::kInvalidArgument, "file log " + core_->pdir(p.get()) + ": seek to " +
                                             std::to_string(next.get()) + " outside [0, " +
                                             std::to_string(end) + "]");
  }
  ReadCursor& c = cursors_[static_cast<size_t>(p.get())];
  c.invalidate();
  c.next = next.get();
  return Status::ok();
}

Result<std::vector<PartitionLag>> ReaderConsumer::lag() {
  TANDEM_ASSIGN_OR_RETURN(auto com, committed());
  return core_->lag_of(com);
}

}  // namespace

Result<std::unique_ptr<Log>> open_file_log_reader(const std::string& dir_in) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) return error(Code::kInvalidArgument, "file log: no directory given");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return error(Code::kNotFound,
                 "no file log at " + dir + " (its writer, e.g. `tandem proxy`, creates it)");
  }
  const std::string meta = dir + "/meta";
  if (::access(meta.c_str(), F_OK) != 0) {
    return error(Code::kNotFound, "file log " + dir +
                                      ": no meta file; not a file log, or its writer has not "
                                      "created it yet");
  }
  TANDEM_ASSIGN_OR_RETURN(std::string have, read_small_file(meta));
  int parts = -1;
  if (std::sscanf(have.c_str(), "tandem-file-log 1\npartitions %d", &parts) != 1 || parts <= 0 ||
      parts > 4096) {
    return error(Code::kCorruption, "file log " + meta + ": unreadable meta file");
  }
  auto core = std::make_shared<ReaderCore>(dir, parts);
  for (int32_t p = 0; p < parts; ++p) TANDEM_RETURN_IF_ERROR(core->bases(p).status());
  return std::unique_ptr<Log>(std::make_unique<ReaderLog>(std::move(core)));
}

}  // namespace tandem::log
