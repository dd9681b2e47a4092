// File-backed intent journal; format and guarantees in intents.h.
#include "proxy/intents.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/crc.hpp>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <thread>
#include <unordered_map>

#include "core/mutex.h"
#include "core/thread_name.h"

namespace tandem::proxy {
namespace {

constexpr char kIntent = 'I';
constexpr char kAutoId = 'A';
constexpr char kDone = 'D';
constexpr size_t kMaxPayload = 64u << 20;

Status io_error(const std::string& what, const std::string& path) {
  return error(Code::kIo, what + " " + path + ": " + std::strerror(errno));
}

uint32_t crc32(std::string_view s) {
  boost::crc_32_type c;
  c.process_bytes(s.data(), s.size());
  return c.checksum();
}

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_str(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out += s;
}

void append_record(std::string& out, char kind, uint64_t id, const Intent* intent) {
  std::string payload;
  payload += kind;
  put_u64(payload, id);
  if (intent) {
    put_str(payload, intent->index.get());
    if (kind == kIntent) {
      put_str(payload, intent->id->get());
      payload += static_cast<char>(intent->routing ? 1 : 0);
      if (intent->routing) put_str(payload, *intent->routing);
    }
  }
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, crc32(payload));
  out += payload;
}

struct Reader {
  std::string_view data;
  size_t pos = 0;
  bool u32(uint32_t& v) {
    if (data.size() - pos < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t(uint8_t(data[pos + i])) << (8 * i);
    pos += 4;
    return true;
  }
  bool u64(uint64_t& v) {
    if (data.size() - pos < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(data[pos + i])) << (8 * i);
    pos += 8;
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || data.size() - pos < n) return false;
    s.assign(data.substr(pos, n));
    pos += n;
    return true;
  }
  bool byte(char& c) {
    if (pos >= data.size()) return false;
    c = data[pos++];
    return true;
  }
};

Status write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

class FileIntentJournal final : public IntentJournal {
 public:
  FileIntentJournal(IntentsOptions opts, std::string path, int fd, int lock_fd)
      : opts_(std::move(opts)), path_(std::move(path)), fd_(fd), lock_fd_(lock_fd) {}
  ~FileIntentJournal() override {
    {
      MutexLock lk(mu_);
      stopping_ = true;
    }
    sync_cv_.notify_all();
    if (syncer_.joinable()) syncer_.join();  // it settles every waiter first
    if (fd_ >= 0) ::close(fd_);
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  }

  Status load(std::vector<Intent>* recovered) {
    // Runs once in open(), before the journal is shared; the lock costs
    // nothing and lets the analysis check every access.
    MutexLock lk(mu_);
    std::string data;
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::pread(fd_, buf, sizeof(buf), static_cast<off_t>(data.size()));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("read", path_);
      }
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    Reader r{data};
    size_t good = 0;
    uint64_t max_id = 0;
    while (r.pos < data.size()) {
      uint32_t len = 0, crc = 0;
      if (!r.u32(len) || !r.u32(crc) || len > kMaxPayload || data.size() - r.pos < len) break;
      std::string_view payload = std::string_view(data).substr(r.pos, len);
      if (crc32(payload) != crc) break;
      r.pos += len;
      Reader p{payload};
      char kind = 0;
      uint64_t id = 0;
      if (!p.byte(kind) || !p.u64(id)) break;
      max_id = std::max(max_id, id);
      if (kind == kDone) {
        erase_open(id);
      } else if (kind == kIntent || kind == kAutoId) {
        Intent in;
        if (!p.str(in.index.get())) break;
        if (kind == kIntent) {
          std::string idv, routing;
          char has_routing = 0;
          if (!p.str(idv) || !p.byte(has_routing)) break;
          in.id = DocId(std::move(idv));
          if (has_routing) {
            if (!p.str(routing)) break;
            in.routing = std::move(routing);
          }
        }
        add_open(id, std::move(in));
      } else {
        break;
      }
      good = r.pos;
    }
    if (good < data.size()) {
      // Torn or corrupt tail: a crash mid-append. Cut it so new records
      // don't hide behind it.
      if (::ftruncate(fd_, static_cast<off_t>(good)) != 0) return io_error("truncate", path_);
    }
    written_ = synced_ = good;
    next_id_ = max_id + 1;
    recovered_ids_.clear();
    for (const auto& [id, list] : open_) {
      recovered_ids_.push_back(id);
      if (recovered) recovered->insert(recovered->end(), list.begin(), list.end());
    }
    return Status::ok();
  }

  Result<uint64_t> begin(const std::vector<Intent>& intents) override {
    std::promise<Result<uint64_t>> p;
    auto f = p.get_future();
    begin_async(intents, [&p](Result<uint64_t> r) { p.set_value(std::move(r)); });
    return f.get();
  }

  void begin_async(const std::vector<Intent>& intents, BeginCallback done) override {
    MutexLock lk(mu_);
    uint64_t id = next_id_++;
    std::string bytes;
    for (const Intent& in : intents) append_record(bytes, in.id ? kIntent : kAutoId, id, &in);
    Status st = append_locked(bytes);
    if (!st.is_ok()) {
      lk.unlock();
      return done(st);
    }
    for (const Intent& in : intents) add_open(id, in);
    if (!opts_.sync || synced_ >= written_) {
      lk.unlock();
      return done(id);
    }
    waiters_.push_back({written_, id, std::move(done)});
    start_syncer_locked();
    sync_cv_.notify_one();
  }
  void done(uint64_t request_id) override {
    MutexLock lk(mu_);
    if (!open_.count(request_id)) return;
    erase_open(request_id);
    std::string bytes;
    append_record(bytes, kDone, request_id, nullptr);
    // Best effort: a lost done record costs one redundant reconcile.
    (void)append_locked(bytes);
    if (written_ > opts_.compact_bytes) (void)compact_locked();
  }

  std::vector<Intent> intents_of(uint64_t request_id) const override {
    MutexLock lk(mu_);
    auto it = open_.find(request_id);
    return it == open_.end() ? std::vector<Intent>{} : it->second;
  }

  size_t open_requests() const override {
    MutexLock lk(mu_);
    return open_.size();
  }
  size_t open_intents() const override {
    MutexLock lk(mu_);
    return open_intent_count_;
  }

  Status reset_recovered() override {
    MutexLock lk(mu_);
    for (uint64_t id : recovered_ids_) erase_open(id);
    recovered_ids_.clear();
    return compact_locked();
  }

  std::string path() const override { return path_; }

 private:
  struct Waiter {
    uint64_t offset;  // durable once synced_ >= offset
    uint64_t id;
    BeginCallback done;
  };

  void start_syncer_locked() TANDEM_REQUIRES(mu_) {
    if (!syncer_.joinable()) {
      syncer_ = std::thread([this] {
        name_this_thread("tandem-intents");
        sync_loop();
      });
    }
  }

  // Group commit off the callers' threads: one fdatasync covers every
  // record written before it started; the waiters it covers are completed
  // outside the lock. A failed fdatasync fails the waiters it was for (their
  // intents are dropped: the writes are refused, never forwarded).
  void sync_loop() {
    MutexLock lk(mu_);
    while (true) {
      while (!stopping_ && waiters_.empty()) sync_cv_.wait(mu_);
      if (waiters_.empty()) return;  // stopping, nothing left to settle
      if (syncing_) {
        while (syncing_) cv_.wait(mu_);
        continue;
      }
      syncing_ = true;
      uint64_t target = written_;
      int fd = fd_;
      lk.unlock();
      int rc = ::fdatasync(fd);
      int err = errno;
      lk.lock();
      syncing_ = false;
      cv_.notify_all();
      std::vector<Waiter> ready;
      Status failure = Status::ok();
      if (rc == 0) {
        synced_ = std::max(synced_, target);
      } else {
        errno = err;
        failure = io_error("fdatasync", path_);
      }
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (it->offset <= target) {
          if (!failure.is_ok()) erase_open(it->id);
          ready.push_back(std::move(*it));
          it = waiters_.erase(it);
        } else {
          ++it;
        }
      }
      lk.unlock();
      for (Waiter& w : ready) {
        if (failure.is_ok()) {
          w.done(w.id);
        } else {
          w.done(failure);
        }
      }
      lk.lock();
    }
  }

  void add_open(uint64_t id, Intent in) TANDEM_REQUIRES(mu_) {
    open_[id].push_back(std::move(in));
    ++open_intent_count_;
  }
  void erase_open(uint64_t id) TANDEM_REQUIRES(mu_) {
    auto it = open_.find(id);
    if (it == open_.end()) return;
    open_intent_count_ -= it->second.size();
    open_.erase(it);
  }

  Status append_locked(std::string_view bytes) TANDEM_REQUIRES(mu_) {
    Status st = write_all(fd_, bytes, path_);
    if (!st.is_ok()) {
      // Cut a partial record, or later records would hide behind it.
      (void)::ftruncate(fd_, static_cast<off_t>(written_));
      return st;
    }
    written_ += bytes.size();
    return Status::ok();
  }

  Status compact_locked() TANDEM_REQUIRES(mu_) {
    while (syncing_) cv_.wait(mu_);
    std::string tmp = path_ + ".tmp";
    std::string bytes;
    for (const auto& [id, list] : open_) {
      for (const Intent& in : list) append_record(bytes, in.id ? kIntent : kAutoId, id, &in);
    }
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("create", tmp);
    Status st = write_all(fd, bytes, tmp);
    if (st.is_ok() && ::fdatasync(fd) != 0) st = io_error("fdatasync", tmp);
    if (st.is_ok() && ::rename(tmp.c_str(), path_.c_str()) != 0) st = io_error("rename", tmp);
    if (!st.is_ok()) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return st;
    }
    std::string dir = std::filesystem::path(path_).parent_path().string();
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
    ::close(fd_);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    ::close(fd);
    if (fd_ < 0) return io_error("reopen", path_);
    written_ = synced_ = bytes.size();
    // Waiting records are open intents, so the compacted file holds them
    // and is synced: the next pass of the syncer completes them.
    for (Waiter& w : waiters_) w.offset = 0;
    sync_cv_.notify_one();
    return Status::ok();
  }

  IntentsOptions opts_;
  std::string path_;
  mutable Mutex mu_;
  int fd_ TANDEM_GUARDED_BY(mu_) = -1;  // replaced by compaction
  int lock_fd_ = -1;
  CondVar cv_;  // syncing_ went false
  uint64_t written_ TANDEM_GUARDED_BY(mu_) = 0;
  uint64_t synced_ TANDEM_GUARDED_BY(mu_) = 0;
  bool syncing_ TANDEM_GUARDED_BY(mu_) = false;
  uint64_t next_id_ TANDEM_GUARDED_BY(mu_) = 1;
  std::unordered_map<uint64_t, std::vector<Intent>> open_ TANDEM_GUARDED_BY(mu_);
  size_t open_intent_count_ TANDEM_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> recovered_ids_ TANDEM_GUARDED_BY(mu_);
  CondVar sync_cv_;  // a waiter arrived, or stopping_
  std::deque<Waiter> waiters_ TANDEM_GUARDED_BY(mu_);
  bool stopping_ TANDEM_GUARDED_BY(mu_) = false;
  std::thread syncer_ TANDEM_GUARDED_BY(mu_);  // started on the first waiter
};

}  // namespace

Result<std::unique_ptr<IntentJournal>> IntentJournal::open(const IntentsOptions& opts,
                                                           std::vector<Intent>* recovered) {
  if (opts.dir.empty()) return error(Code::kInvalidArgument, "intents: intents_dir is required");
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) return error(Code::kIo, "intents: create " + opts.dir + ": " + ec.message());
  std::string lock_path = opts.dir + "/intents.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) return io_error("intents: open", lock_path);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return error(Code::kFailedPrecondition,
                 "intents: " + opts.dir + " is in use by another tandem process");
  }
  std::string path = opts.dir + "/intents.journal";
  // O_RDWR for the recovery read; appends always go to the end.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    Status st = io_error("intents: open", path);
    ::close(lock_fd);
    return st;
  }
  auto j = std::make_unique<FileIntentJournal>(opts, path, fd, lock_fd);
  TANDEM_RETURN_IF_ERROR(j->load(recovered).context("intents"));
  return std::unique_ptr<IntentJournal>(std::move(j));
}

}  // namespace tandem::proxy
