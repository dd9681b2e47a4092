// Read sampling, the read-capture store and the tap the server session
// calls. See reads.h and docs/proxy.md, "Read capture and shadow reads".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "proxy/reads.h"

#include "core/thread_name.h"

namespace tandem::proxy {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t thread_seed() {
  uint64_t x = static_cast<uint64_t>(Clock::now().time_since_epoch().count());
  x ^= std::hash<std::thread::id>()(std::this_thread::get_id()) * 0x9E3779B97F4A7C15ull;
  return x ? x : 0x2545F4914F6CDD1Dull;
}

uint64_t next_random() {
  thread_local uint64_t x = thread_seed();
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return x;
}

// Decoded body bytes, or nullopt for a coding that does not decode.
std::optional<std::string> decoded(std::string_view coding, std::string_view bytes) {
  auto c = http::parse_content_coding(coding);
  if (c == http::ContentCoding::kIdentity) return std::string(bytes);
  auto d = http::decode_content(c, bytes, 256ull << 20);
  if (!d.is_ok()) return std::nullopt;
  return std::move(d).value();
}

}  // namespace

// ---- sampling ----------------------------------------------------------------

ReadSampler::ReadSampler(double rate, uint32_t max_per_second) : max_per_second_(max_per_second) {
  if (!(rate > 0) || max_per_second == 0) {
    threshold_ = 0;
  } else if (rate >= 1) {
    threshold_ = ~uint64_t{0};
  } else {
    threshold_ = static_cast<uint64_t>(std::ldexp(rate, 64));
    if (threshold_ == 0) threshold_ = 1;
  }
}

bool ReadSampler::take() {
  if (threshold_ == 0) return false;
  if (threshold_ != ~uint64_t{0} && next_random() >= threshold_) return false;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  int64_t s = second_.load(std::memory_order_relaxed);
  if (s != now && second_.compare_exchange_strong(s, now, std::memory_order_relaxed)) {
    used_.store(0, std::memory_order_relaxed);
  }
  if (used_.fetch_add(1, std::memory_order_relaxed) >= max_per_second_) {
    over_budget_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  return true;
}

bool is_replayable_read(std::string_view method, std::string_view target) {
  const bool get = method == "GET" || method == "HEAD";
  if (!get && method != "POST") return false;
  // Runs for every read while sampling is on: no allocation.
  std::string_view path = target.substr(0, target.find('?'));
  auto next_segment = [&path]() -> std::string_view {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    const size_t j = std::min(path.find('/'), path.size());
    std::string_view seg = path.substr(0, j);
    path.remove_prefix(j);
    return seg;
  };
  for (std::string_view s = next_segment(); !s.empty(); s = next_segment()) {
    if (s.front() != '_' || s == "_all") continue;
    const std::string_view next = next_segment();
    if (s == "_search") return next != "scroll";
    if (s == "_doc" || s == "_source") return get && !next.empty();
    return s == "_msearch" || s == "_count" || s == "_mget" || s == "_field_caps" ||
           s == "_explain" || s == "_termvectors" || s == "_mtermvectors" || s == "_validate";
  }
  return false;
}

std::string prometheus_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ---- the store ---------------------------------------------------------------

Result<std::unique_ptr<ReadCaptureStore>> ReadCaptureStore::open(const ReadCaptureOptions& opts,
                                                                 log::Log* log) {
  if (opts.file.empty()) {
    return error(Code::kInvalidArgument, "read capture: no file configured (reads.capture.file)");
  }
  // 0600: captured answers hold documents.
  const int fd = ::open(opts.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return error(Code::kFailedPrecondition,
                 "read capture file '" + opts.file + "': " + std::strerror(errno));
  }
  struct stat st {};
  uint64_t size = 0;
  if (::fstat(fd, &st) == 0) size = static_cast<uint64_t>(st.st_size);
  if (size > 0) {
    // A torn last record (crash mid-write) must not swallow the next one:
    // start on a fresh line; the reader reports the torn one as corrupt.
    const int rfd = ::open(opts.file.c_str(), O_RDONLY | O_CLOEXEC);
    char last = '\n';
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, static_cast<off_t>(size - 1)) != 1) last = '\n';
      ::close(rfd);
    }
    if (last != '\n' && ::write(fd, "\n", 1) == 1) ++size;
  }
  return std::unique_ptr<ReadCaptureStore>(new ReadCaptureStore(opts, log, fd, size));
}

ReadCaptureStore::ReadCaptureStore(const ReadCaptureOptions& opts, log::Log* log, int fd,
                                   uint64_t bytes)
    : opts_(opts), log_(log), fd_(fd), sampler_(opts.rate, opts.max_per_second) {
  stats_.bytes = bytes;
  if (bytes >= opts_.max_bytes) {
    stats_.full = true;
    stats_.last_error = "read capture store '" + opts_.file + "' is full (" +
                        std::to_string(bytes) + " of " + std::to_string(opts_.max_bytes) +
                        " bytes): sampling stopped; move the file away or raise "
                        "reads.capture.max_bytes";
  }
  thread_ = std::thread([this] {
    name_this_thread("tandem-readcap");
    run();
  });
}

ReadCaptureStore::~ReadCaptureStore() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
}

void ReadCaptureStore::offer(std::shared_ptr<const ReadSample> s) {
  const uint64_t n = s->body.size() + s->answer.size() + s->target.size();
  {
    MutexLock lock(mu_);
    if (stats_.full) {
      ++stats_.dropped_store_full;
      return;
    }
    if (queue_.size() >= opts_.queue_max || queued_bytes_ + n > opts_.queue_max_bytes) {
      ++stats_.dropped_queue_full;
      return;
    }
    queued_bytes_ += n;
    queue_.push_back(std::move(s));
  }
  cv_.notify_one();
}

void ReadCaptureStore::flush() {
  MutexLock lock(mu_);
  while (!queue_.empty() || busy_) idle_cv_.wait(mu_);
}

void ReadCaptureStore::refresh_lag() {
  if (!log_) return;
  const auto now = Clock::now();
  if (lag_at_ != Clock::time_point{} && now - lag_at_ < opts_.lag_refresh) return;
  lag_at_ = now;
  if (auto ends = log_->end_offsets(); ends.is_ok()) {
    int64_t sum = 0;
    for (const auto& o : ends.value()) sum += o.get();
    log_end_ = sum;
  }
  if (auto lags = log_->group_lag(opts_.loader_group); lags.is_ok()) {
    int64_t sum = 0;
    for (const auto& l : lags.value()) sum += l.lag();
    loader_lag_ = sum;
  } else {
    loader_lag_ = -1;  // unknown (no such group yet, log unreachable)
  }
}

std::string ReadCaptureStore::encode(const ReadSample& s) {
  auto body = decoded(s.body_coding, s.body);
  auto answer = decoded(s.answer_coding, s.answer);
  if (!body || !answer) return {};
  json j = {{"v", 1},
            {"time_ms", s.time_ms},
            {"method", s.method},
            {"path", s.target},
            {"body", *body},
            {"status", s.status},
            {"answer", *answer},
            {"log_end", log_end_ >= 0 ? json(log_end_) : json()},
            {"loader_lag", loader_lag_ >= 0 ? json(loader_lag_) : json()}};
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

void ReadCaptureStore::run() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && queue_.empty()) cv_.wait(mu_);
    if (queue_.empty()) {
      if (stop_) return;
      continue;
    }
    auto s = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= s->body.size() + s->answer.size() + s->target.size();
    busy_ = true;
    lock.unlock();

    refresh_lag();
    std::string line = encode(*s);
    std::string err;
    bool full = false;
    uint64_t wrote = 0;
    if (line.empty()) {
      err = "a sampled read's body or answer did not decode (" + s->method + " " +
            s->target.substr(0, s->target.find('?')) + "): not captured";
    } else {
      uint64_t used;
      {
        MutexLock g(mu_);
        used = stats_.bytes;
      }
      if (used + line.size() > opts_.max_bytes) {
        full = true;
      } else {
        const char* p = line.data();
        size_t left = line.size();
        while (left > 0) {
          const ssize_t n = ::write(fd_, p, left);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) {
            err = "read capture file '" + opts_.file + "': " + std::strerror(errno);
            break;
          }
          p += n;
          left -= static_cast<size_t>(n);
          wrote += static_cast<uint64_t>(n);
        }
      }
    }

    lock.lock();
    busy_ = false;
    stats_.bytes += wrote;
    if (full) {
      ++stats_.dropped_store_full;
      if (!stats_.full) {
        stats_.full = true;
        stats_.last_error = "read capture store '" + opts_.file + "' is full (" +
                            std::to_string(stats_.bytes) + " of " +
                            std::to_string(opts_.max_bytes) +
                            " bytes): sampling stopped; move the file away or raise "
                            "reads.capture.max_bytes";
        if (opts_.log) opts_.log("warn", stats_.last_error);
      }
    } else if (!err.empty()) {
      ++stats_.failed;
      if (opts_.log && stats_.last_error != err) opts_.log("warn", err);
      stats_.last_error = err;
    } else {
      ++stats_.written;
    }
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

ReadCaptureStore::Stats ReadCaptureStore::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

ReadCaptureStatus ReadCaptureStore::status() const {
  Stats s = stats();
  ReadCaptureStatus out;
  out.file = opts_.file;
  out.rate = opts_.rate;
  out.max_per_second = opts_.max_per_second;
  out.written = s.written;
  out.bytes = s.bytes;
  out.max_bytes = opts_.max_bytes;
  out.full = s.full;
  out.dropped_queue_full = s.dropped_queue_full;
  out.dropped_store_full = s.dropped_store_full;
  out.over_budget = sampler_.over_budget();
  out.failed = s.failed;
  out.last_error = std::move(s.last_error);
  return out;
}

// ---- the tap -----------------------------------------------------------------

void ReadTap::on_read(std::string_view current_primary, std::string_view method,
                      std::string_view target, std::string_view body, std::string_view body_coding,
                      int status, std::string_view answer, std::string_view answer_coding) {
  const bool c = capture_ && capture_->sampler().enabled();
  const bool sh = shadow_ && shadow_->sampler().enabled() && current_primary == primary_name_;
  if (!c && !sh) return;
  if (!is_replayable_read(method, target)) return;
  const bool take_c = c && capture_->sampler().take();
  const bool take_s = sh && shadow_->sampler().take();
  if (!take_c && !take_s) return;
  auto s = std::make_shared<ReadSample>();
  s->method = std::string(method);
  s->target = std::string(target);
  s->body = std::string(body);
  s->body_coding = std::string(body_coding);
  s->status = status;
  s->answer = std::string(answer);
  s->answer_coding = std::string(answer_coding);
  s->time_ms = wall_ms();
  if (take_c) capture_->offer(s);
  if (take_s) shadow_->offer(std::move(s));
}

ReadsStatus ReadTap::status() const {
  ReadsStatus out;
  if (capture_) out.capture = capture_->status();
  if (shadow_) out.shadow = shadow_->status();
  return out;
}

}  // namespace tandem::proxy
