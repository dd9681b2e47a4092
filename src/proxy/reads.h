// The proxy's read side, off the request path: sampled reads are captured
// to a read-capture store (replayed later by `tandem compare --captured`)
// and/or mirrored to the secondary as live shadow reads whose answers are
// compared asynchronously. docs/proxy.md, "Read capture and shadow reads",
// is the contract (record format, bounds, metrics).
//
// Hot-path cost: the session calls ReadTap::on_read() after the primary
// answered a read. Unsampled reads cost a few relaxed atomics; a sampled
// read costs a copy of its request and answer bytes and a bounded queue
// push under a mutex. Everything else (decoding, JSON, file writes, the
// secondary round trip, comparing) happens on the store's and the
// shadow's own threads. A full queue drops the sample and counts it;
// nothing ever waits.
//
// Never captured or mirrored: request headers. The Authorization header
// (and every other credential) therefore cannot reach the store; shadow
// reads authenticate with tandem's own credentials for the secondary.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "http/http.h"
#include "log/log.h"

namespace tandem::proxy {

// One read and the primary's answer, as the client exchanged them.
struct ReadSample {
  std::string method;
  std::string target;       // the client's request-target (path + query)
  std::string body;         // request body bytes as sent
  std::string body_coding;  // request Content-Encoding ("" = identity)
  int status = 0;
  std::string answer;         // the primary's answer bytes as sent
  std::string answer_coding;  // answer Content-Encoding
  int64_t time_ms = 0;        // wall clock when the primary answered
};

// A fraction `rate` (0..1) of calls, at most `max_per_second` per wall
// second. Lock-free; called on the I/O threads.
class ReadSampler {
 public:
  ReadSampler(double rate, uint32_t max_per_second);
  bool enabled() const { return threshold_ != 0; }
  bool take();
  uint64_t over_budget() const { return over_budget_.load(std::memory_order_relaxed); }

 private:
  uint64_t threshold_;  // rate scaled to 2^64
  uint32_t max_per_second_;
  std::atomic<int64_t> second_{0};
  std::atomic<uint32_t> used_{0};
  std::atomic<uint64_t> over_budget_{0};
};

// Reads whose answer depends only on the documents and the request, so a
// replay on another cluster can be compared: _search, _msearch, _count,
// _mget, GET/HEAD of a document or its _source, _field_caps, _explain,
// _termvectors, _mtermvectors, _validate. Not scroll continuations, PITs,
// _cat, _cluster, _nodes (cluster-specific or stateful).
bool is_replayable_read(std::string_view method, std::string_view target);

// ---- read-capture store ------------------------------------------------------

// What the read-capture store reports, at one instant: its settings and
// counts since it opened. The admin API renders /status's
// "reads.capture" object and the tandem_proxy_read_capture_* metrics from
// it (admin.cc); docs/proxy.md lists them.
struct ReadCaptureStatus {
  std::string file;
  double rate = 0;
  uint32_t max_per_second = 0;
  uint64_t written = 0;             // samples appended to the file
  uint64_t bytes = 0;               // size of the file
  uint64_t max_bytes = 0;           // then capture stops
  bool full = false;                // reached max_bytes
  uint64_t dropped_queue_full = 0;  // the writer's queue was full
  uint64_t dropped_store_full = 0;  // the file was full
  uint64_t over_budget = 0;         // sampled past max_per_second
  uint64_t failed = 0;              // undecodable body, write error
  std::string last_error;           // "" none
};

struct ReadCaptureOptions {
  double rate = 0;  // 0 = off
  uint32_t max_per_second = 50;
  std::string file;                   // JSON lines, appended
  uint64_t max_bytes = 256ull << 20;  // then capture stops (see status)
  size_t queue_max = 1000;            // samples waiting for the writer
  uint64_t queue_max_bytes = 64ull << 20;
  std::string loader_group = "tandem-load";  // lag is read for this group
  std::chrono::milliseconds lag_refresh{1000};
  // Told once when the store fills up and on write errors (optional).
  std::function<void(std::string_view level, std::string_view msg)> log;
};

class ReadCaptureStore {
 public:
  // Opens (creates or appends to) the file and starts the writer thread.
  // `log` (may be null) is asked, at most every lag_refresh and only on
  // the writer thread, for its end offsets and the loader group's lag;
  // it must outlive the store. Errors: the file cannot be opened
  // (naming it). A file already at max_bytes opens as full: the proxy
  // runs, nothing is captured, and status says why.
  static Result<std::unique_ptr<ReadCaptureStore>> open(const ReadCaptureOptions& opts,
                                                        log::Log* log);
  ~ReadCaptureStore();  // writes what is queued, then stops

  ReadSampler& sampler() { return sampler_; }
  // Non-blocking: queues the sample or drops and counts it.
  void offer(std::shared_ptr<const ReadSample> s);
  // Waits (tests) until everything queued so far was written or dropped.
  void flush();

  struct Stats {
    uint64_t written = 0, dropped_queue_full = 0, dropped_store_full = 0, failed = 0;
    uint64_t bytes = 0;
    bool full = false;
    std::string last_error;
  };
  Stats stats() const;
  ReadCaptureStatus status() const;

 private:
  ReadCaptureStore(const ReadCaptureOptions& opts, log::Log* log, int fd, uint64_t bytes);
  void run();
  void refresh_lag();
  std::string encode(const ReadSample& s);

  const ReadCaptureOptions opts_;
  log::Log* log_;
  int fd_;
  ReadSampler sampler_;
  mutable Mutex mu_;
  CondVar cv_, idle_cv_;
  std::deque<std::shared_ptr<const ReadSample>> queue_ TANDEM_GUARDED_BY(mu_);
  uint64_t queued_bytes_ TANDEM_GUARDED_BY(mu_) = 0;
  bool stop_ TANDEM_GUARDED_BY(mu_) = false;
  bool busy_ TANDEM_GUARDED_BY(mu_) = false;
  Stats stats_ TANDEM_GUARDED_BY(mu_);
  // Writer thread only.
  std::chrono::steady_clock::time_point lag_at_{};
  int64_t log_end_ = -1, loader_lag_ = -1;
  std::thread thread_;
};

// ---- live shadow reads -----------------------------------------------------

struct ShadowStatus;  // below ShadowReads: it names ShadowReads::ShapeCount

// How shadow answers are compared: the same normalizer as `tandem
// compare` (src/verify), handed in by the CLI so the proxy does not
// depend on verify.
struct ShadowVerdict {
  bool match = true;
  std::vector<std::string> diff;  // a few lines for the first mismatch of a shape
};
class ShadowJudge {
 public:
  virtual ~ShadowJudge() = default;
  // The query with its values stripped (a metric label). Bodies here and
  // below are decoded (identity).
  virtual std::string shape(std::string_view method, std::string_view target,
                            std::string_view body) const = 0;
  virtual ShadowVerdict judge(int primary_status, std::string_view primary_body,
                              int secondary_status, std::string_view secondary_body) const = 0;
};

struct ShadowOptions {
  double rate = 0;  // 0 = off
  uint32_t max_per_second = 100;
  size_t queue_max = 256;
  int threads = 1;  // each with its own connections to the secondary
  std::chrono::milliseconds connect_timeout{200};
  std::chrono::milliseconds timeout{1000};
  // After a failure to reach the secondary, samples are dropped (and
  // counted) for this long instead of queueing behind timeouts.
  std::chrono::milliseconds down_backoff{1000};
  size_t max_shapes = 64;  // beyond: counted under "(other)"
};

class ShadowReads {
 public:
  // `secondary`: URL, TLS and the env prefix of tandem's credentials for
  // it (never the client's). `judge` must outlive this object.
  static Result<std::unique_ptr<ShadowReads>> start(const ShadowOptions& opts,
                                                    const std::string& secondary_url,
                                                    const http::TlsOptions& tls,
                                                    const std::string& env_prefix,
                                                    const ShadowJudge* judge);
  ~ShadowReads();

  ReadSampler& sampler() { return sampler_; }
  void offer(std::shared_ptr<const ReadSample> s);
  void flush();  // tests: wait until the queue is empty and idle

  struct ShapeCount {
    uint64_t total = 0, matched = 0, mismatched = 0;
    std::vector<std::string> example_diff;
    std::string example;
  };
  struct Stats {
    uint64_t sent = 0, matched = 0, mismatched = 0, errors = 0;
    uint64_t dropped_queue_full = 0, dropped_target_down = 0;
    std::string last_error;
    std::map<std::string, ShapeCount> shapes;
  };
  Stats stats() const;
  ShadowStatus status() const;

 private:
  ShadowReads(const ShadowOptions& opts, const ShadowJudge* judge);
  void run(http::Client* client);

  const ShadowOptions opts_;
  const ShadowJudge* judge_;
  ReadSampler sampler_;
  std::vector<std::unique_ptr<http::Client>> clients_;
  mutable Mutex mu_;
  CondVar cv_, idle_cv_;
  std::deque<std::shared_ptr<const ReadSample>> queue_ TANDEM_GUARDED_BY(mu_);
  int busy_ TANDEM_GUARDED_BY(mu_) = 0;
  bool stop_ TANDEM_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point down_until_ TANDEM_GUARDED_BY(mu_){};
  Stats stats_ TANDEM_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// What the shadow reads report, at one instant: settings and counts since
// they started. The admin API renders /status's "reads.shadow" object and
// the tandem_proxy_shadow_* metrics from it (admin.cc).
struct ShadowStatus {
  double rate = 0;
  uint32_t max_per_second = 0;
  uint64_t sent = 0;  // answered by the secondary and compared
  uint64_t matched = 0;
  uint64_t mismatched = 0;
  uint64_t errors = 0;  // the secondary could not be asked
  uint64_t dropped_queue_full = 0;
  uint64_t dropped_target_down = 0;                       // dropped while backing off a failure
  uint64_t over_budget = 0;                               // sampled past max_per_second
  std::string last_error;                                 // "" none
  std::map<std::string, ShadowReads::ShapeCount> shapes;  // per query shape
};

// Both read-side reports; a part is absent when it is not configured
// (rendered as null in /status, no metrics).
struct ReadsStatus {
  std::optional<ReadCaptureStatus> capture;
  std::optional<ShadowStatus> shadow;
};

// What the server session calls for every read the primary answered.
class ReadTap {
 public:
  // Either may be null. `primary_name`: shadow reads run only while this
  // endpoint is the primary (after a switch the configured secondary is
  // the primary, and mirroring to it would compare it with itself).
  ReadTap(ReadCaptureStore* capture, ShadowReads* shadow, std::string primary_name)
      : capture_(capture), shadow_(shadow), primary_name_(std::move(primary_name)) {}
  bool active() const { return capture_ || shadow_; }
  // Answer headers are looked up by the caller; nothing else of the
  // request's headers is passed in.
  void on_read(std::string_view current_primary, std::string_view method, std::string_view target,
               std::string_view body, std::string_view body_coding, int status,
               std::string_view answer, std::string_view answer_coding);
  ReadsStatus status() const;  // for /status and /metrics (admin.cc)

 private:
  ReadCaptureStore* capture_;
  ShadowReads* shadow_;
  std::string primary_name_;
};

// Prometheus label value escaping (\\, \", \n).
std::string prometheus_label(std::string_view v);

}  // namespace tandem::proxy
