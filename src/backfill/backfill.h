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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "apply/apply.h"
#include "core/mutex.h"
#include "core/status.h"
#include "es/es.h"
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
  apply::ApplyOptions apply;                          // dlq_source is forced to "backfill"
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
  Mutex mu_;
  double tokens_ TANDEM_GUARDED_BY(mu_) = 0;
  bool started_ TANDEM_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point last_ TANDEM_GUARDED_BY(mu_);
};

// ---- snapshot mode (`tandem backfill --mode snapshot`) ---------------------
//
// For N -> N+1 moves of large clusters: restore a snapshot of the primary on
// the secondary instead of scanning, then close the gap from the log.
//  1. Refuse a restore the secondary cannot read (check_snapshot_pair).
//  2. Register one shared `fs` repository on both clusters (read-only on the
//     secondary); its directory must be in both clusters' path.repo.
//  3. Record the log's end offsets (the marks) BEFORE the snapshot, and
//     commit them for the loader's group when it has no position yet, so the
//     loader starts exactly there.
//  4. Snapshot the primary's indices; restore them on the secondary (the
//     indices must not exist there yet: the restore creates them with the
//     primary's settings and mappings, plus index.gc_deletes).
//  5. Gap reconcile: every document with an event between the marks and the
//     log's end after the restore is re-read from the primary and written
//     with the external version of its current _seq_no. See
//     docs/backfill-snapshot.md for why (restored documents carry the
//     primary's internal _version, not tandem's external version).
struct SnapshotOptions {
  std::string index_pattern = "*";
  std::string repo_path;  // directory in path.repo of both clusters (shared)
  std::string repository = "tandem-backfill";
  std::string snapshot;      // default: "tandem-<unix ms>"
  std::string loader_group;  // marks are committed for it if it has no position
  std::string gc_deletes = "24h";
  // Restore each index `i` as `i + rename_suffix` and point an alias `i` at
  // it, so everything that writes blue's names (the gap reconcile, the
  // loader, verify) reaches the restored index, and a later reindex or
  // cutover can move the alias. A suffix, not ES's rename regex: tandem must
  // know the restored names exactly, and a Java regex evaluated by a C++
  // engine could disagree on corner cases. Empty: no rename.
  std::string rename_suffix;
  Epoch epoch{0};
  std::chrono::seconds timeout{3600};              // snapshot, restore and gap, each
  std::function<void(std::string_view)> progress;  // default: stderr
  const std::atomic<bool>* stop = nullptr;
};

struct SnapshotReport {
  std::string snapshot;
  std::vector<std::string> indices;   // blue's names
  std::vector<std::string> restored;  // green's: the same, or renamed (alias = blue's name)
  std::vector<Offset> marks;
  uint64_t gap_events = 0;  // data events between the marks and the end
  uint64_t gap_docs = 0;    // distinct documents among them, reconciled
  double snapshot_s = 0, restore_s = 0, gap_s = 0;
  std::string summary() const;
};

// ok when `secondary` can restore a snapshot taken on `primary`:
// Elasticsearch -> the same or the next major Elasticsearch, OpenSearch ->
// the same or the next major OpenSearch. Refused (kFailedPrecondition, with
// the reason and `--mode scan` as the alternative): N+2 and beyond (6.8 ->
// 8.x), downgrades, Elasticsearch -> OpenSearch (OpenSearch cannot read an
// Elasticsearch 8 repository, and tandem does not restore 7.x ones into it),
// OpenSearch -> Elasticsearch.
Status check_snapshot_pair(const es::ClusterInfo& primary, const es::ClusterInfo& secondary);

Result<SnapshotReport> run_snapshot(es::Client& primary, es::Client& secondary, apply::Sink& sink,
                                    state::Store& store, log::Log& log, SnapshotOptions opts);

// Runs (or resumes) a backfill job. `log` may be null (no start mark).
// Fatal errors (unreachable primary, state store failure) are a Status;
// per-index failures are in the Report.
Result<Report> run(es::Client& primary, apply::Sink& secondary, state::Store& store, log::Log* log,
                   Options opts);

}  // namespace tandem::backfill
