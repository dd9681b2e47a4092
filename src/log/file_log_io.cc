// See file_log_io.h.
#include "log/file_log_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>

#include "log/file_log_format.h"

namespace tandem::log::detail {

SegmentFile::SegmentFile(int64_t b, std::string p, int f) : base(b), path(std::move(p)), fd(f) {}
SegmentFile::~SegmentFile() {
  if (fd >= 0) ::close(fd);
}

namespace fmt = file_log_format;

namespace {
std::string errno_text(int err) {
  return std::strerror(err);
}

// One mapping from errno to Status, so every error says "file log <path>:
// <what>" and disk-full is always kResourceExhausted.
}  // namespace

Status io_error(const std::string& path, std::string_view what, int err) {
  std::string prefix = "file log " + path + ": ";
  switch (err) {
    case ENOSPC:
      return error(Code::kResourceExhausted, prefix + "disk full (" + std::string(what) + ")");
    case EDQUOT:
      return error(Code::kResourceExhausted,
                   prefix + "disk quota exceeded (" + std::string(what) + ")");
    case EFBIG:
      return error(Code::kResourceExhausted, prefix + "file too large (" + std::string(what) + ")");
    case EACCES:
    case EPERM:
      return error(Code::kIo, prefix + "permission denied (" + std::string(what) + ")");
    case EROFS:
      return error(Code::kIo, prefix + "read-only file system (" + std::string(what) + ")");
    case ENOENT:
      return error(Code::kNotFound, prefix + std::string(what) + ": " + errno_text(err));
    default:
      return error(Code::kIo, prefix + std::string(what) + ": " + errno_text(err));
  }
}

Status corruption(const std::string& path, uint64_t pos, std::string_view what) {
  return error(Code::kCorruption,
               "file log " + path + " at byte " + std::to_string(pos) + ": " + std::string(what));
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error(dir, "open directory", errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error(dir, "fsync directory", err);
  return Status::ok();
}

Status pwrite_all(int fd, const std::string& path, const char* p, size_t n, uint64_t pos) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "write of " + std::to_string(n) + " bytes at " + std::to_string(pos),
                      errno);
    }
    p += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
  return Status::ok();
}

// Reads exactly n bytes unless the file is shorter; *got says how many.
Status pread_full(int fd, const std::string& path, char* p, size_t n, uint64_t pos, size_t* got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = ::pread(fd, p + *got, n - *got, static_cast<off_t>(pos + *got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "read at byte " + std::to_string(pos + *got), errno);
    }
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::ok();
}

// Writes a small file atomically: temp + fsync + rename + fsync(dir).
Status write_file_atomically(const std::string& dir, const std::string& name,
                             const std::string& content) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(tmp, "create", errno);
  Status s = pwrite_all(fd, tmp, content.data(), content.size(), 0);
  if (s.is_ok() && ::fsync(fd) != 0) s = io_error(tmp, "fsync", errno);
  ::close(fd);
  if (s.is_ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = io_error(path, "rename", errno);
  if (!s.is_ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return fsync_dir(dir);
}

Result<std::string> read_small_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error(path, "open", errno);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error(path, "read", err);
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

bool all_zero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Group names become file names; anything outside [A-Za-z0-9_-] (and a
// leading '.') is %XX-escaped so a name can neither escape groups/ nor
// collide with another.
std::string group_file_stem(const std::string& group) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < group.size(); ++i) {
    const auto c = static_cast<unsigned char>(group[i]);
    bool plain = std::isalnum(c) || c == '_' || c == '-' || (c == '.' && i > 0);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::vector<int64_t>> list_segments(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return io_error(dir, "list directory", errno);
  std::vector<int64_t> bases;
  while (struct dirent* e = ::readdir(d)) {
    int64_t b = fmt::parse_segment_file_name(e->d_name);
    if (b >= 0) bases.push_back(b);
  }
  ::closedir(d);
  std::sort(bases.begin(), bases.end());
  return bases;
}

Result<std::map<Partition, Offset>> read_group_offsets(const std::string& groups_dir,
                                                       const std::string& group) {
  const std::string path = groups_dir + "/" + group_file_stem(group) + ".offsets";
  std::map<Partition, Offset> out;
  if (::access(path.c_str(), F_OK) != 0) return out;
  TANDEM_ASSIGN_OR_RETURN(std::string text, read_small_file(path));
  auto bad = [&](std::string_view why) {
    return error(Code::kCorruption, "file log " + path + ": " + std::string(why));
  };
  size_t pos = 0;
  auto next_line = [&](std::string& line) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) return false;
    line = text.substr(pos, nl - pos);
    pos = nl + 1;
    return true;
  };
  std::string line;
  if (!next_line(line) || line != "tandem-file-log-offsets 1") return bad("unknown header");
  bool ended = false;
  while (next_line(line)) {
    if (line == "end") {
      ended = true;
      break;
    }
    long long p = -1, o = -1;
    char extra;
    if (std::sscanf(line.c_str(), "%lld %lld%c", &p, &o, &extra) != 2 || p < 0 || o < 0) {
      return bad("bad line \"" + line + "\"");
    }
    out[Partition(static_cast<int32_t>(p))] = Offset(o);
  }
  if (!ended) return bad("truncated (no end marker)");
  return out;
}

Status write_group_offsets(const std::string& groups_dir, const std::string& group,
                           const std::map<Partition, Offset>& offsets) {
  std::string text = "tandem-file-log-offsets 1\n";
  for (auto& [p, o] : offsets)
    text += std::to_string(p.get()) + " " + std::to_string(o.get()) + "\n";
  text += "end\n";
  return write_file_atomically(groups_dir, group_file_stem(group) + ".offsets", text);
}

GroupLock::~GroupLock() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock: a waiter that opened this inode
  // sees, after its flock succeeds, that the path no longer names it and
  // retries on a fresh file.
  ::unlink(path_.c_str());
  ::close(fd_);
}

Result<std::unique_ptr<GroupLock>> GroupLock::acquire(const std::string& log_dir,
                                                      const std::string& group) {
  const std::string path = log_dir + "/groups/" + group_file_stem(group) + ".lock";
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error(path, "open group lock", errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err != EWOULDBLOCK) {
        ::close(fd);
        return io_error(path, "lock group", err);
      }
      char buf[32] = {};
      ssize_t r = ::pread(fd, buf, sizeof(buf) - 1, 0);
      ::close(fd);
      std::string holder = r > 0 ? std::string(buf, static_cast<size_t>(r)) : "unknown";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return error(Code::kFailedPrecondition,
                   "file log " + log_dir + ": consumer group '" + group +
                       "' is in use by another consumer (pid " + holder +
                       "); one consumer per group at a time on a file log");
    }
    struct stat mine, named;
    if (::fstat(fd, &mine) != 0) {
      int err = errno;
      ::close(fd);
      return io_error(path, "stat group lock", err);
    }
    if (::stat(path.c_str(), &named) != 0 || named.st_ino != mine.st_ino ||
        named.st_dev != mine.st_dev) {
      ::close(fd);  // released and unlinked under us: try the new file
      continue;
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
      int err = errno;
      ::close(fd);
      return io_error(path, "write pid to group lock", err);
    }
    auto lock = std::make_unique<GroupLock>();
    lock->fd_ = fd;
    lock->path_ = path;
    return lock;
  }
  return error(Code::kFailedPrecondition,
               "file log " + log_dir + ": consumer group '" + group + "' lock keeps changing");
}

PublishedEnds::~PublishedEnds() {
  if (ends_ != nullptr) ::munmap(ends_, bytes_);
}

namespace {

// Maps and closes fd (the mapping keeps the file).
Status map_ends(int fd, const std::string& path, size_t bytes, bool writable, int64_t** out) {
  void* p =
      ::mmap(nullptr, bytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (p == MAP_FAILED) return io_error(path, "mmap", err);
  *out = static_cast<int64_t*>(p);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<PublishedEnds>> PublishedEnds::open_writer(const std::string& log_dir,
                                                                  int32_t partitions) {
  const std::string path = log_dir + "/published";
  const size_t bytes = static_cast<size_t>(partitions) * sizeof(int64_t);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return io_error(path, "open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error(path, "stat", err);
  }
  // Never shrink: a reader may have it mapped, and a mapping past EOF
  // faults. The partition count is fixed, so the size only ever grows once.
  if (static_cast<size_t>(st.st_size) < bytes && ::ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    int err = errno;
    ::close(fd);
    return io_error(path, "extend", err);
  }
  int64_t* ends = nullptr;
  TANDEM_RETURN_IF_ERROR(map_ends(fd, path, bytes, true, &ends));
  auto pe = std::make_unique<PublishedEnds>();
  pe->ends_ = ends;
  pe->bytes_ = bytes;
  return pe;
}

Result<std::unique_ptr<PublishedEnds>> PublishedEnds::open_reader(const std::string& log_dir,
                                                                  int32_t partitions) {
  const std::string path = log_dir + "/published";
  const size_t bytes = static_cast<size_t>(partitions) * sizeof(int64_t);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::unique_ptr<PublishedEnds>();
    return io_error(path, "open", errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
    ::close(fd);
    return std::unique_ptr<PublishedEnds>();
  }
  int64_t* ends = nullptr;
  TANDEM_RETURN_IF_ERROR(map_ends(fd, path, bytes, false, &ends));
  auto pe = std::make_unique<PublishedEnds>();
  pe->ends_ = ends;
  pe->bytes_ = bytes;
  return pe;
}

// Aligned 8-byte atomics on a MAP_SHARED page: the same physical page in
// every process, so release/acquire orders them across processes too.
void PublishedEnds::store(int32_t partition, int64_t end) {
  __atomic_store_n(&ends_[partition], end, __ATOMIC_RELEASE);
}

int64_t PublishedEnds::load(int32_t partition) const {
  return __atomic_load_n(&ends_[partition], __ATOMIC_ACQUIRE);
}

}  // namespace tandem::log::detail
