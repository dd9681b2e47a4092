// Quick verification: proves per-document parity between the primary
// (blue) and the secondary (green) by comparing, for every document id, the
// external version green holds with the version blue's current _seq_no
// implies: version = (epoch << 48) | (_seq_no + 1) (Invariant 1).
//
// Per index:
//   1. refresh both sides, count both sides;
//   2. scan blue (_seq_no per hit) into id -> expected version;
//   3. scan green (_version per hit), matching ids off the map: equal is
//      parity, lower is "stale", higher is "newer", unknown is "extra";
//      ids left in the map are "missing";
//   4. re-check every candidate with GETs on both sides (traffic may still
//      flow: a change in flight between the two scans is not a difference),
//      up to `recheck_attempts` times, `recheck_delay` apart;
//   5. differences whose (index, id) has a dead letter are "dead-lettered"
//      (explained); everything else is unexplained.
//
// Memory: the map holds one entry per blue document of one bucket: about
// 80 bytes + the id. With more than `max_ids_in_memory` documents the ids
// are split into B = ceil(count / max) hash buckets and both sides are
// scanned B times, keeping memory bounded at the cost of B full scans.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"
#include "state/state.h"

namespace tandem::verify {

enum class DiffKind {
  kMissing,       // on blue, not on green
  kExtra,         // on green, not on blue
  kStale,         // green holds an older version than blue's current
  kNewer,         // green holds a newer version than blue's current (unexplained)
  kDeadLettered,  // any of the above, explained by a dead letter
};
std::string_view diff_kind_name(DiffKind k);

struct Difference {
  IndexName index;
  DocId id;
  DiffKind kind = DiffKind::kMissing;
  std::optional<DiffKind> underlying;  // for kDeadLettered: what it would be
  uint64_t expected_version = 0;       // from blue's seq_no; 0 if not on blue
  int64_t green_version = -1;          // -1 if not on green
};

struct IndexReport {
  IndexName index;
  uint64_t blue_count = 0;
  uint64_t green_count = 0;
  uint64_t matched = 0;  // same id, same version
  uint64_t missing = 0, extra = 0, stale = 0, newer = 0, dead_lettered = 0;
  uint64_t resolved_in_flight = 0;  // scan differences a re-check cleared
  uint64_t unchecked = 0;           // differences over the re-check limit (unexplained)
  std::string problem;              // e.g. "missing on green", "closed on blue"
  std::vector<Difference> samples;  // first `max_samples` differences
  uint64_t unexplained() const {
    return missing + extra + stale + newer + unchecked + (problem.empty() ? 0 : 1);
  }
  double parity_percent() const;  // (matched + dead_lettered) / max(blue, green docs)
};

struct Report {
  std::vector<IndexReport> indices;
  uint64_t documents() const;  // blue documents compared
  uint64_t unexplained() const;
  bool ok() const { return unexplained() == 0; }
  double parity_percent() const;
};

struct Options {
  std::string index_pattern = "*";
  Epoch epoch{0};
  int batch_size = 1000;
  size_t max_ids_in_memory = 2'000'000;
  size_t recheck_limit = 10'000;  // per index; beyond it differences are "unchecked"
  int recheck_attempts = 3;
  std::chrono::milliseconds recheck_delay{500};
  size_t max_samples = 20;
  // (index, id) pairs parked in the dead-letter store.
  std::set<std::pair<std::string, std::string>> dead_letters;
};

// Runs quick verification over every blue index matching the pattern (and
// green indices matching it that blue lacks). Errors are for failures to
// talk to a cluster; differences are in the report.
Result<Report> quick(es::Client& blue, es::Client& green, const Options& opts);

// One index (exposed for tests and for cutover's drill-down).
Result<IndexReport> quick_index(es::Client& blue, es::Client& green, const IndexName& idx,
                                const Options& opts);

// Every (index, id) with a dead letter in the state store (all of them, not
// just the first page).
Result<std::set<std::pair<std::string, std::string>>> dead_letter_keys(state::Store& store);

// Human table: index, blue, green, missing, extra, stale, dead-lettered,
// parity; then "parity: 100.00% (N documents, M indices)".
std::string render_table(const Report& r);
nlohmann::json to_json(const Report& r);

}  // namespace tandem::verify
