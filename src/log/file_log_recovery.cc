// The file log's recovery and locking on open: the directory, its LOCK and
// meta, and every partition's segments with the last one scanned by the one
// read loop and a torn tail cut off. docs/file-log-format.md, "Recovery".

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <limits>

#include "log/file_log_core.h"
#include "log/file_log_format.h"

namespace tandem::log::detail {
namespace {

namespace fmt = file_log_format;

// The last segment of a partition, as a read source for recovery: nothing is
// known to be final, so the read loop applies the tolerant torn-tail rules,
// and there is no later segment (one would prove the tail final).
class LastSegment final : public ReadSource {
 public:
  explicit LastSegment(SegmentFilePtr seg) : seg_(std::move(seg)) {}
  int64_t final_end(int32_t) override { return -1; }
  Result<SegmentFilePtr> segment_for(int32_t, int64_t) override { return seg_; }
  Result<int64_t> base_after(int32_t, int64_t) override { return int64_t{-1}; }
  Result<int64_t> oldest(int32_t) override { return seg_->base; }
  Result<int64_t> deleted(int32_t, int64_t offset, int64_t) override {
    return error(Code::kInternal, "file log " + seg_->path + ": recovery asked for offset " +
                                      std::to_string(offset) + " before the segment");
  }

 private:
  SegmentFilePtr seg_;
};

// Scans the last segment of a partition with the one read loop, truncating
// a torn tail (the rules: docs/file-log-format.md, "Recovery"). Returns the
// offset after the last good record.
Result<int64_t> recover_segment(Segment& seg, uint64_t* size_out) {
  LastSegment src(SegmentFilePtr(&seg, [](SegmentFile*) {}));  // borrowed
  ReadCursor c;
  c.next = seg.base;
  Status s = read_part(src, 0, c, std::numeric_limits<size_t>::max(), nullptr);
  if (!s.is_ok()) {
    // Damage with data after it is not what a crash leaves: acknowledged
    // records would follow it, so open refuses instead of truncating them.
    if (s.code() == Code::kCorruption) {
      return error(Code::kCorruption,
                   s.message() + "; refusing to open rather than drop acknowledged records");
    }
    return s;
  }
  struct stat st;
  if (::fstat(seg.fd, &st) != 0) return io_error(seg.path, "stat", errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t good = c.seg ? c.pos : 0;
  const int64_t end = c.seg ? c.at : seg.base;
  if (good < size) {
    // A torn tail: the last batch's write was cut short by the crash.
    if (::ftruncate(seg.fd, static_cast<off_t>(good)) != 0) {
      return io_error(seg.path, "truncate torn tail at byte " + std::to_string(good), errno);
    }
    if (::fdatasync(seg.fd) != 0) return io_error(seg.path, "fdatasync after truncation", errno);
    *size_out = good;
    return end;
  }
  // Records the crashed writer wrote but never synced are about to become
  // visible to readers; sync them first so nothing a consumer sees can
  // vanish in a later power cut and have its offset reused.
  if (size > 0 && ::fdatasync(seg.fd) != 0) return io_error(seg.path, "fdatasync on open", errno);
  *size_out = size;
  return end;
}

}  // namespace

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
  std::vector<SegmentPtr> segs;  // published to ps.segments once complete
  if (bases.empty()) {
    TANDEM_ASSIGN_OR_RETURN(SegmentPtr seg, core.create_segment(ps, 0));
    segs.push_back(std::move(seg));
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
        if (bases[i + 1] <= bases[i]) {
          return error(Code::kCorruption,
                       "file log " + ps.dir + ": segment base offsets not increasing");
        }
      }
      segs.push_back(std::move(seg));
    }
  }
  Segment& last = *segs.back();
  uint64_t size = 0;
  TANDEM_ASSIGN_OR_RETURN(int64_t end, recover_segment(last, &size));
  last.durable_bytes.store(size);
  ps.active = segs.back();
  ps.active_size = size;
  ps.next_offset = end;
  ps.end.store(end);
  ps.begin.store(segs.front()->base);
  MutexLock lk(ps.seg_mu);
  ps.segments = std::move(segs);
  return Status::ok();
}

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

}  // namespace tandem::log::detail
