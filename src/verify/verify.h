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

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
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
  // Across epochs (Options::epoch > 0): documents on both sides whose
  // secondary version is from an earlier epoch's regime. Their versions are
  // not comparable (docs/verify.md, "Across epochs"); they count as matched
  // by id and are proven by content (`verify --deep`).
  uint64_t prior_epoch = 0;
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
  // The epoch now. "blue" is the side that takes the writes at this epoch
  // (the primary) and "green" the side that follows it, whichever clusters
  // those are after a flip.
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

// The secondary's concrete indices that a primary index name reaches as an
// alias there (a snapshot restored with --rename-suffix puts blue's name on
// the renamed index): they are that primary index under another name, not
// "only on green". Both verifies skip them in their extra-index pass.
Result<std::set<std::string>> reached_through_alias(es::Client& secondary,
                                                    const std::vector<es::IndexStats>& primary);

// Every (index, id) with a dead letter in the state store (all of them, not
// just the first page).
Result<std::set<std::pair<std::string, std::string>>> dead_letter_keys(state::Store& store);

// Human table: index, blue, green, missing, extra, stale, dead-lettered,
// parity; then "parity: 100.00% (N documents, M indices)".
std::string render_table(const Report& r);
nlohmann::json to_json(const Report& r);

// ---- last result, for cutover gates ---------------------------------------

// The latest verification, stored under the state store key
// "verify.last" as JSON. `quick` and `deep` both record it.
struct LastResult {
  std::string kind;     // "quick" / "deep"
  int64_t time_ms = 0;  // wall clock (ms since the Unix epoch) when it finished
  double parity_percent = 0;
  uint64_t unexplained = 0;
  uint64_t documents = 0;
  size_t indices = 0;
  std::string direction;  // "blue->green" / "green->blue"
  bool repaired = false;  // a --repair run (the numbers are its re-verify)
};
Status record_last(state::Store& store, const LastResult& r);
Result<std::optional<LastResult>> last_result(state::Store& store);

// ---- deep verification ----------------------------------------------------
//
// Content parity per document (docs/verify.md has the full contract):
//   1. per index, scan both sides (sliced, both at once) and fold every
//      document into its bucket: bucket = id_hash(id) % B, bucket digest =
//      (sum of doc_digest(id, routing, canonical_hash(_source)), count);
//   2. compare the B bucket digests;
//   3. scan again, keeping only documents of differing buckets (in groups
//      of at most `max_docs_in_memory`), and compare them one by one;
//   4. re-check each difference by reading both sides, over a grace
//      window, before reporting it;
//   5. with `repair`, rewrite each confirmed difference from the primary
//      through the versioned path, then verify the index again.

// Canonical hash of a JSON value: object key order, string escapes,
// whitespace and number spelling do not matter (1, 1.0, 1e0 and 10e-1 are
// one number; 1.5 and 1.50 too); everything else does. `ignore` holds
// dotted paths of object members left out ("a.b" skips member b of top-level
// object a). kInvalidArgument for text that is not JSON.
Result<uint64_t> canonical_hash(std::string_view json, const std::vector<std::string>& ignore = {});
// The same equality on parsed values (for diffs).
bool canonical_equal(const nlohmann::json& a, const nlohmann::json& b);
// Field-level differences of the secondary against the primary, one line
// each, at most `max_lines` (then "... N more"): "price: 10 -> 12",
// "tags[1]: added \"x\"", "color: removed \"red\"". Values are shortened.
std::vector<std::string> field_diff(std::string_view primary_json, std::string_view secondary_json,
                                    const std::vector<std::string>& ignore = {},
                                    size_t max_lines = 10);

uint64_t id_hash(std::string_view id);
uint64_t doc_digest(uint64_t id_hash, const std::optional<std::string>& routing,
                    uint64_t content_hash);

// Order-independent digests of documents per bucket: adding the same
// documents in any order (or split across slices and merged) gives equal
// sets.
class BucketSet {
 public:
  explicit BucketSet(size_t buckets);
  size_t size() const { return sum_.size(); }
  size_t bucket_of(uint64_t id_hash) const { return id_hash % sum_.size(); }
  void add(uint64_t id_hash, uint64_t digest);
  void merge(const BucketSet& o);
  uint64_t count(size_t b) const { return count_[b]; }
  uint64_t total() const;
  // Buckets whose digest or count differ (sizes must match).
  std::vector<uint32_t> differing(const BucketSet& o) const;

 private:
  std::vector<uint64_t> sum_;
  std::vector<uint64_t> count_;
};
// Number of buckets for an index of `docs` documents: about 16 documents per
// bucket, between 1 and 65536.
size_t bucket_count(uint64_t docs);
// Splits differing buckets into groups each holding at most `max_docs`
// documents on the larger side (a bucket bigger than that is a group of its
// own), so each drill-down scan keeps bounded memory.
std::vector<std::vector<uint32_t>> plan_drilldown(const BucketSet& a, const BucketSet& b,
                                                  const std::vector<uint32_t>& differing,
                                                  size_t max_docs);

enum class DeepKind {
  kMissing,  // on the primary, not on the secondary
  kExtra,    // on the secondary, not on the primary
  kContent,  // both, _source differs (canonically)
  kRouting,  // both, different _routing
};
std::string_view deep_kind_name(DeepKind k);

struct DeepDiff {
  IndexName index;
  DocId id;
  DeepKind kind = DeepKind::kMissing;
  bool dead_lettered = false;  // explained by a dead letter
  std::optional<std::string> primary_routing, secondary_routing;
  int64_t primary_version = -1;     // external version the primary's _seq_no implies; -1 absent
  int64_t secondary_version = -1;   // -1 absent
  std::vector<std::string> fields;  // field_diff for kContent
  std::string repair;               // what --repair did or (--dry-run) would do
};

struct SideSizes {
  uint64_t docs = 0, store_bytes = 0, primary_store_bytes = 0;
};

struct DeepIndexReport {
  IndexName index;
  uint64_t primary_count = 0, secondary_count = 0;  // documents scanned
  SideSizes primary_sizes, secondary_sizes;         // from _stats (reported, never failing)
  size_t buckets = 0, differing_buckets = 0, drilldown_scans = 0;
  uint64_t missing = 0, extra = 0, content = 0, routing = 0, dead_lettered = 0;
  uint64_t resolved_in_flight = 0;  // drill-down differences a re-check cleared
  uint64_t unchecked = 0;           // over the re-check limit (unexplained)
  std::string problem;
  std::vector<DeepDiff> samples;  // first `max_samples` differences
  // --repair
  uint64_t repaired = 0, repair_already_newer = 0, repair_failed = 0;
  uint64_t unexplained() const {
    return missing + extra + content + routing + unchecked + (problem.empty() ? 0 : 1);
  }
  double parity_percent() const;
};

struct DeepReport {
  std::string primary, secondary;  // cluster labels
  std::vector<DeepIndexReport> indices;
  bool repair = false, dry_run = false;
  std::vector<DeepIndexReport> before_repair;  // first pass of a --repair run
  uint64_t documents() const;
  uint64_t unexplained() const;
  bool ok() const { return unexplained() == 0; }
  double parity_percent() const;
};

// What repair needs from the loader's versioned apply path (wired in the
// CLI: verify does not depend on load). reconcile() reads the primary now
// and writes what is there to the secondary with the external version of
// its _seq_no, or places a versioned delete when the primary has no such
// document (apply::Applier::apply_reconciles).
enum class RepairFate { kApplied, kAlreadyNewer, kFailed };
class Repairer {
 public:
  virtual ~Repairer() = default;
  virtual Result<std::vector<RepairFate>> reconcile(const std::vector<es::DocRef>& refs) = 0;
};

struct DeepOptions {
  std::string index_pattern = "*";
  Epoch epoch{0};  // of the versions the secondary holds (repair writes)
  int slices = 2;  // per side; both sides are scanned at once
  int batch_size = 1000;
  size_t buckets = 0;                   // 0: bucket_count(docs)
  size_t max_docs_in_memory = 500'000;  // per drill-down scan, both sides
  size_t recheck_limit = 10'000;        // per index
  int recheck_attempts = 3;
  std::chrono::milliseconds grace{1000};  // first to last re-check
  size_t max_samples = 20;
  size_t max_diff_lines = 8;
  std::vector<std::string> ignore_fields;  // dotted _source paths left out of the comparison
  std::set<std::pair<std::string, std::string>> dead_letters;
  bool force_scroll = false;
  // How long one scan page may keep failing transiently (cluster
  // unreachable, timeouts, 429/5xx) before the run fails. A PIT page is
  // asked again unchanged every `scan_retry_interval`, so an outage shorter
  // than this (and than the PIT keep-alive) costs only the wait. A scroll
  // page is never asked again (it could skip a page): the run fails on its
  // first failure after the transport's own retries. 0: no waiting.
  std::chrono::milliseconds scan_retry{60'000};
  std::chrono::milliseconds scan_retry_interval{500};
  // Told about each page that is being asked again (cluster, index, error),
  // so a long outage is visible while it lasts. May be empty.
  std::function<void(const std::string&)> on_retry;
  // Repair.
  bool repair = false;
  bool dry_run = false;  // with repair: say what would be done, write nothing
  Repairer* repairer = nullptr;
  // Test hook: runs after repair read the primary and before it writes a
  // same-version overwrite (to race a concurrent update deterministically).
  std::function<void(const DeepDiff&)> before_overwrite;
  // Test hook: runs after each scan page is read, with the side (0 primary,
  // 1 secondary), to cut a cluster off mid-scan deterministically.
  std::function<void(int side)> after_page;
};

// Errors are failures to talk to a cluster; differences are in the report.
Result<DeepReport> deep(es::Client& primary, es::Client& secondary, const DeepOptions& opts);
Result<DeepIndexReport> deep_index(es::Client& primary, es::Client& secondary, const IndexName& idx,
                                   const DeepOptions& opts);

std::string render_deep(const DeepReport& r);
nlohmann::json deep_to_json(const DeepReport& r);

// ---- query parity (`tandem compare`) --------------------------------------
//
// Replays read requests against both clusters and compares the answers
// after normalization (docs/verify.md, "Query parity"). Diffy-style noise
// baseline: the primary is asked twice; what differs between its two
// answers is noise and is not held against the secondary.

struct Query {
  std::string method = "GET";
  std::string path;  // request target: path + query string, already URL-encoded
  std::string body;  // raw JSON, or empty
};
// JSON lines: {"method":"POST","path":"/idx/_search","body":{...}}; body may
// be an object, a string (e.g. NDJSON for _msearch) or absent; blank lines
// and lines starting with # are skipped. Errors name the line.
Result<std::vector<Query>> parse_queries(std::string_view jsonl);
// Only reads are replayed: GET/HEAD anywhere, POST to a read endpoint
// (_search, _msearch, _count, _mget, _field_caps, _validate, _explain,
// _termvectors, _mtermvectors).
bool is_read(const Query& q);
// "_search", "_count", "_doc" ... or "/" + segment count for other paths.
std::string endpoint_of(std::string_view path);
// The query with its values stripped: METHOD endpoint ?params {body keys}.
std::string query_shape(const Query& q);
// Drops took, _shards, timed_out, scroll/PIT ids, _clusters; hits.total
// becomes its value; _type, _version, _seq_no, _primary_term, _node,
// _shard go; hits of equal score are ordered by _id; error answers keep
// only status and error type. Recurses into _msearch responses.
nlohmann::json normalize_answer(int status, std::string_view body);
// Differences between two normalized answers: (path, line). Numbers are
// equal within a relative `tolerance` (scores, averages).
std::vector<std::pair<std::string, std::string>> answer_diff(const nlohmann::json& a,
                                                             const nlohmann::json& b,
                                                             double tolerance);

// Reads the proxy captured (docs/proxy.md, "Read-capture store"): one
// JSON object per line with method, path, body, the primary's status and
// answer at capture time, time_ms and loader_lag (null: unknown).
struct CapturedRead {
  Query query;
  int status = 0;
  std::string answer;  // the primary's answer when the read was captured
  int64_t time_ms = 0;
  int64_t loader_lag = -1;  // events the loader was behind then; -1 unknown
  size_t line = 0;
};
struct CapturedReads {
  std::vector<CapturedRead> reads;
  uint64_t corrupt = 0;               // lines that are not a capture record
  std::vector<std::string> problems;  // the first few: "line N: why"
};
// Never fails: unreadable lines (a torn last record, garbage, a record
// missing a field) are counted in `corrupt` and named in `problems`.
CapturedReads parse_captured_reads(std::string_view jsonl);

struct ShapeStats {
  std::string endpoint, shape;
  uint64_t total = 0, matched = 0, mismatched = 0, noisy = 0;
  uint64_t lagging = 0;                   // captured reads explained by the secondary lagging
  std::vector<std::string> example_diff;  // of the first mismatch
  std::string example;                    // its request line
};

struct CompareReport {
  std::string primary, secondary;
  uint64_t total = 0, skipped = 0, matched = 0, mismatched = 0, noisy = 0;
  // Captured reads only: the secondary differed from the primary's answer
  // now, but the documents behind the answer changed after capture and
  // the secondary answers as the primary did then, or caught up within
  // lag_grace. Reported, not counted against the secondary.
  uint64_t lagging = 0;
  uint64_t corrupt = 0;            // unreadable capture records (skipped)
  std::vector<ShapeStats> shapes;  // most mismatches first
  // matched / (total - skipped - lagging), 100 when none
  double match_rate() const;
  bool ok() const { return mismatched == 0; }
};

struct CompareOptions {
  double tolerance = 1e-4;
  size_t max_diff_lines = 5;
  size_t top = 10;  // mismatching shapes listed
  // Captured reads whose documents changed since capture are asked again
  // on both sides after this long before they count as a mismatch.
  std::chrono::milliseconds lag_grace{1000};
};

Result<CompareReport> compare(es::Client& primary, es::Client& secondary,
                              const std::vector<Query>& queries, const CompareOptions& opts);
// Replays captured reads; each is also judged against the answer the
// primary gave at capture time to tell lag from real differences.
Result<CompareReport> compare_captured(es::Client& primary, es::Client& secondary,
                                       const CapturedReads& reads, const CompareOptions& opts);
std::string render_compare(const CompareReport& r, size_t top = 10);
nlohmann::json compare_to_json(const CompareReport& r);
// The latest compare under the state store key "compare.last":
// {"time_ms","queries","match_rate","mismatched","lagging"}.
Status record_compare(state::Store& store, const CompareReport& r, int64_t time_ms);
struct CompareSummary {
  int64_t time_ms = 0;
  int64_t queries = 0;
  double match_rate = 0;  // percent, lagging reads not counted
  int64_t mismatched = 0;
  int64_t lagging = 0;
};
// The record above, typed; nullopt when no compare was recorded.
Result<std::optional<CompareSummary>> last_compare(state::Store& store);

}  // namespace tandem::verify
