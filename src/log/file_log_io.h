// File-system helpers shared by the file log's writer (file_log.cc) and its
// shared reader (file_log_reader.cc): errno -> Status mapping that names the
// path, atomic small-file replacement, group offset files and locks, and the
// published-end watermark. docs/file-log-format.md describes the files.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"

namespace tandem::log::detail {

// One open segment file: the offset of its first record, its path and a
// descriptor that is closed with the last reference (a reader keeps reading
// a segment retention already deleted).
struct SegmentFile {
  SegmentFile(int64_t b, std::string p, int f);
  ~SegmentFile();
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;

  const int64_t base;
  const std::string path;
  const int fd;
};

// "file log <path>: <what>"; ENOSPC/EDQUOT/EFBIG are kResourceExhausted,
// ENOENT kNotFound, the rest kIo.
Status io_error(const std::string& path, std::string_view what, int err);
// kCorruption "file log <path> at byte <pos>: <what>".
Status corruption(const std::string& path, uint64_t pos, std::string_view what);

int64_t now_ms();
Status fsync_dir(const std::string& dir);
Status pwrite_all(int fd, const std::string& path, const char* p, size_t n, uint64_t pos);
// Reads exactly n bytes unless the file is shorter; *got says how many.
Status pread_full(int fd, const std::string& path, char* p, size_t n, uint64_t pos, size_t* got);
// temp + fsync + rename + fsync(dir).
Status write_file_atomically(const std::string& dir, const std::string& name,
                             const std::string& content);
Result<std::string> read_small_file(const std::string& path);
bool all_zero(const char* p, size_t n);
// Segment base offsets found in a partition directory, ascending.
Result<std::vector<int64_t>> list_segments(const std::string& dir);

// ---- consumer groups --------------------------------------------------------

// "<escaped group>" (no suffix): %XX outside [A-Za-z0-9_.-] and a leading '.'.
std::string group_file_stem(const std::string& group);
// Committed positions in DIR/groups/<stem>.offsets; empty when none.
Result<std::map<Partition, Offset>> read_group_offsets(const std::string& groups_dir,
                                                       const std::string& group);
// Replaces the group's offsets file atomically with `offsets`.
Status write_group_offsets(const std::string& groups_dir, const std::string& group,
                           const std::map<Partition, Offset>& offsets);

// An exclusive claim on a consumer group: flock(LOCK_EX|LOCK_NB) on
// groups/<stem>.lock, held until destroyed, which unlinks the file so
// nothing is left behind. acquire() checks after locking that the path
// still names the locked inode (a releaser may have unlinked it meanwhile)
// and retries if not, so two holders can never both succeed.
class GroupLock {
 public:
  GroupLock() = default;
  ~GroupLock();
  GroupLock(const GroupLock&) = delete;
  GroupLock& operator=(const GroupLock&) = delete;

  // kFailedPrecondition naming the group, the directory and the holder's
  // pid when another consumer (any process) holds it.
  static Result<std::unique_ptr<GroupLock>> acquire(const std::string& log_dir,
                                                    const std::string& group);

 private:
  int fd_ = -1;
  std::string path_;
};

// ---- published ends ---------------------------------------------------------

// DIR/published: one little-endian int64 per partition, the offset after the
// last record the writer has made durable (fdatasync returned). Memory-mapped
// shared, so a reader in another process sees each store as soon as it is
// made. The writer stores after every durable batch and after recovery.
class PublishedEnds {
 public:
  PublishedEnds() = default;
  ~PublishedEnds();
  PublishedEnds(const PublishedEnds&) = delete;
  PublishedEnds& operator=(const PublishedEnds&) = delete;

  // Writer: creates or reuses the file (never truncated below its size).
  static Result<std::unique_ptr<PublishedEnds>> open_writer(const std::string& log_dir,
                                                            int32_t partitions);
  // Reader: nullptr (not an error) while the file is missing or shorter
  // than `partitions` entries (an older writer, or one still creating it).
  static Result<std::unique_ptr<PublishedEnds>> open_reader(const std::string& log_dir,
                                                            int32_t partitions);

  void store(int32_t partition, int64_t end);
  int64_t load(int32_t partition) const;

 private:
  int64_t* ends_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tandem::log::detail
