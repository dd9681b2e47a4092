// tandem load: applies the change log to the secondary.
//
// Guarantees (docs/loader.md has the long form)
//  - At-least-once consumption, idempotent application: every write uses
//    version_type=external with the primary's seq_no (Invariant 1), so
//    redeliveries, retries and out-of-order bulks converge; 409 = success.
//  - Positions are committed only past contiguous settled records per
//    partition (CommitTracker), so a crash re-applies, never skips.
//  - 429 / 5xx / connection failures are retried with backoff and jitter,
//    forever (until stopped); nothing is dropped.
//  - Permanent per-document failures go to the dead-letter store and block
//    nothing.
//  - Memory is bounded: polling pauses while in-flight events or bytes are
//    at their caps.
//  - Meta events are a barrier: everything polled before them is applied
//    first, and nothing after them starts until they are applied.
// Several loaders share work through the consumer group of the log.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apply/apply.h"
#include "core/status.h"
#include "load/commit.h"
#include "log/log.h"
#include "state/state.h"

namespace tandem::load {

struct LoaderOptions {
  size_t bulk_bytes = 5u << 20;           // a bulk is sent at this many body bytes...
  size_t bulk_docs = 2000;                // ...or this many events, whichever first
  size_t max_inflight_bytes = 64u << 20;  // polled but not settled (record bytes)
  size_t max_inflight_events = 100000;
  int workers = 4;  // concurrent bulk requests
  std::chrono::milliseconds poll_timeout{200};
  std::chrono::milliseconds commit_interval{1000};
  std::chrono::milliseconds progress_interval{5000};  // 0: no progress lines
  bool until_lag_zero = false;                        // return ok once everything is applied
  std::chrono::milliseconds lag_check_interval{500};
  // How long in-flight bulks may finish after stop() before they are
  // abandoned (abandoned = not committed = redelivered later).
  std::chrono::milliseconds stop_grace{10000};
  apply::ApplyOptions apply;
  // When set, events it refuses are settled without being applied: the
  // reverse-replication origin filter (an event is never applied to the
  // cluster that produced it; docs/cutover.md).
  std::function<bool(const event::ChangeEvent&)> accept;
  // Progress lines; default writes them to stderr.
  std::function<void(std::string_view)> progress;
  // Called (from the polling thread) after each successful commit with the
  // committed next offsets; must be quick (hand them to another thread).
  std::function<void(const std::map<Partition, Offset>&)> on_commit;
};

struct LoaderStatus {
  uint64_t polled = 0;
  uint64_t applied = 0;
  uint64_t indexed = 0;  // of applied (reconcile writes included)
  uint64_t deleted = 0;  // of applied (reconcile writes included)
  uint64_t conflicts = 0;
  uint64_t dead_lettered = 0;
  uint64_t retries = 0;
  uint64_t obsolete = 0;
  uint64_t skipped = 0;  // refused by LoaderOptions::accept
  uint64_t reconciled = 0;
  uint64_t meta_applied = 0;
  uint64_t bulks = 0;
  uint64_t inflight_events = 0;
  uint64_t inflight_bytes = 0;
  uint64_t paused_ms = 0;  // time polling was paused by back-pressure
  int64_t lag = -1;        // total records behind the log end; -1 unknown
  double rate = 0;         // settled events/s over the last progress interval
  uint64_t settled = 0;    // polled records done with (applied, 409, dlq, ...)
  // Why the latest retry happened, if within the last progress interval
  // (names the cluster and, where known, the index and id); else "".
  std::string last_retry;
};

// Why run() returned, for the summary line.
enum class LoaderExit { kLagZero, kStopped, kError };

class Loader {
 public:
  virtual ~Loader() = default;
  // Runs until stop() (callable from any thread), a fatal error (e.g. 401 from the
  // secondary, the dead-letter store failing), or -- with until_lag_zero --
  // until every record of the log is applied and committed.
  virtual Status run() = 0;
  virtual void stop() = 0;
  virtual LoaderStatus status() const = 0;
};

// `consumer`, `sink` and `store` must outlive the loader. `store` holds dead
// letters and verify marks.
std::unique_ptr<Loader> make_loader(log::Consumer& consumer, apply::Sink& sink, state::Store& store,
                                    LoaderOptions opts);

// One progress line: "load applied=... 409s=... dlq=... lag=...".
std::string format_status(const LoaderStatus& s);

// The one line run() prints last, whatever stopped it (lag zero, stop(),
// an error), through LoaderOptions::progress:
//   load done exit=lag-zero applied=120000 index=119000 delete=1000
//   reconciled=0 meta=3 409s=310 dlq=1 retries=42 obsolete=0 elapsed=15.2s
//   rate=7900/s lag=0
// rate is settled events per second over the whole run.
std::string format_summary(const LoaderStatus& s, LoaderExit exit, double elapsed_s);

}  // namespace tandem::load
