// tandem backfill: copies the documents the primary already has to the
// secondary, with the same versions the loader uses, so backfill copies and
// live events commute (Invariant 1): whichever arrives last, the newer seq_no
// wins, and a 409 means "a newer state is already there".
//
// Flow
//  1. Record the log's end positions (once per job; a resumed job keeps the
//     first mark) under "backfill.<job>.log_end" in the state store.
//  2. List the primary's indices matching the pattern (dot-prefixed system
//     indices only when the pattern names them).
//  3. Scan every index in S slices in parallel (PIT + search_after where the
//     primary supports it, sliced scroll otherwise), write versioned bulks,
//     and checkpoint each slice after every page it has written.
//  4. Resume after kill -9 from the checkpoints (docs/loader.md has the
//     exact semantics per scan mode).
// Failures of one index (deleted or closed mid-way, missing on the
// secondary) are reported and the other indices continue; the run then
// returns a report whose ok() is false.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "es/es.h"
#include "load/apply.h"
#include "log/log.h"
#include "state/state.h"

namespace tandem::backfill {

struct Options {
  std::string job = "backfill";  // checkpoint namespace in the state store
  std::string index_pattern = "*";
  int slices = 4;
  int workers = 0;                 // concurrent slices; 0 = slices
  double throttle_docs_per_s = 0;  // 0 = unlimited
  size_t bulk_bytes = 5u << 20;
  int batch_size = 1000;  // scan page size
  Epoch epoch{0};
  std::string keep_alive = "5m";
  bool force_scroll = false;
  int max_reopens = 10;  // expired PIT/scroll reopen attempts per slice
  std::chrono::milliseconds progress_interval{2000};  // 0: only a final line
  bool tty = false;                                   // progress bar instead of structured lines
  std::function<void(std::string_view)> progress;     // default: stderr
  load::ApplyOptions apply;                           // dlq_source is forced to "backfill"
  const std::atomic<bool>* stop = nullptr;
};

struct IndexReport {
  IndexName index;
  uint64_t total = 0;      // the primary's count when the index started
  uint64_t docs = 0;       // documents copied (this run + resumed)
  uint64_t conflicts = 0;  // 409: newer already there
  uint64_t dead_lettered = 0;
  int slices_done = 0;
  bool resumed = false;
  std::string error;  // empty when the index completed
};

struct Report {
  std::vector<IndexReport> indices;
  std::vector<Offset> log_end;  // recorded start mark (empty without a log)
  bool stopped = false;
  bool ok() const;
  std::string summary() const;  // multi-line, one line per index
};

// Token bucket in documents per second (burst = one second's worth).
class Throttle {
 public:
  explicit Throttle(double per_s) : rate_(per_s) {}
  // Blocks until n documents may go; returns false if `stop` was raised.
  bool acquire(size_t n, const std::atomic<bool>* stop);

 private:
  double rate_;
  std::mutex mu_;
  double tokens_ = 0;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_;
};

// Runs (or resumes) a backfill job. `log` may be null (no start mark).
// Fatal errors (unreachable primary, state store failure) are a Status;
// per-index failures are in the Report.
Result<Report> run(es::Client& primary, load::Sink& secondary, state::Store& store, log::Log* log,
                   Options opts);

}  // namespace tandem::backfill
