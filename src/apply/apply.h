// The versioned apply path shared by the loader, `tandem dlq retry` and the
// backfill: change events in, versioned _bulk requests to the secondary out,
// every event settled exactly one way -- applied, already newer (409),
// obsolete (its index is gone on the primary too), or dead-lettered.
// Retryable failures are retried with backoff until they succeed or the
// caller stops; an event is never dropped.
//
// Versions (Invariant 1): index/delete events are written with
// version_type=external and version = external_version(epoch, seq_no) of the
// event. Reconcile events read the primary now; see apply_reconcile() for
// the delete case and why it is race-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mutex.h"
#include "core/status.h"
#include "es/es.h"
#include "event/event.h"
#include "state/state.h"

namespace tandem::apply {

// ---- retry policy -----------------------------------------------------------

// Retry policy shared by the loader and the backfill: which answers from the
// secondary are worth retrying, which are "already there", which are a
// permanent verdict on one document, and how long to wait between tries.
//
// Classification of one _bulk item (versioned index/delete):
//   2xx                               -> kDone
//   404 delete, no error (not_found)  -> kDone (a versioned tombstone is left)
//   409 version conflict              -> kAlreadyNewer (a newer-or-equal state
//                                        is there: Invariant 1 makes it success)
//   404 index_not_found_exception     -> kIndexMissing (create, then retry)
//   429, 5xx, 408, cluster_block_exception (e.g. flood-stage disk block)
//                                     -> kRetry (exponential backoff, never drop)
//   any other 4xx (mapper_parsing_exception, illegal_argument ...)
//                                     -> kPermanent (dead letter; blocks nothing)

enum class ItemClass { kDone, kAlreadyNewer, kIndexMissing, kRetry, kPermanent };
std::string_view item_class_name(ItemClass c);

ItemClass classify_item(const es::BulkItem& item);

// A kPermanent item refused for its mapping: strict_dynamic_mapping_exception,
// mapper_parsing_exception / document_parsing_exception (8.8+), or an
// illegal_argument_exception about a mapping or field. Such a document may
// only be waiting for a mapping change the loader has not applied yet, so
// it earns one more try after the index's mapping is brought from the
// primary (Applier, Sink::heal_mapping) before it is dead-lettered.
bool is_mapping_error(const es::BulkItem& item);

// Whole-request failures (no per-item answer): es::is_transient decides
// (one rule for every component that asks again): transport errors (refused,
// reset, timeout) and 429/5xx answers are retried; everything else is not.
bool is_retryable(const Status& s);

// Exponential backoff with "equal jitter": attempt n waits
// d/2 + U[0, d/2] with d = min(max, initial * 2^n). Jitter spreads many
// loaders hitting one overloaded cluster; the floor of d/2 keeps the wait
// growing so a 429 storm really backs off.
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{30000};
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy p, uint64_t seed = std::random_device{}()) : p_(p), rng_(seed) {}
  std::chrono::milliseconds next();
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  BackoffPolicy p_;
  std::mt19937_64 rng_;
  int attempt_ = 0;
};

// ---- applying ---------------------------------------------------------------

// What applying needs from the two clusters. The real one (make_es_sink)
// wraps es::Client and meta's ensure_index/apply_meta_event; tests use fakes.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<es::BulkResponse> bulk(const es::BulkBuilder& b) = 0;
  // Reads documents (es::Client::mget): one Doc per ref, in order;
  // found=false for a missing document or index.
  virtual Result<std::vector<es::Doc>> mget_primary(const std::vector<es::DocRef>& refs) = 0;
  virtual Result<std::vector<es::Doc>> mget_secondary(const std::vector<es::DocRef>& refs) = 0;
  // Makes sure `idx` exists on the secondary, creating it from the
  // primary's metadata when missing (if allowed). Called before every bulk
  // for each index in it, so implementations cache indices known to exist.
  // kNotFound: the primary has no such index either (it was deleted).
  virtual Status ensure_index(const IndexName& idx) = 0;
  // Applies a captured metadata write; forgets cached index existence.
  virtual Status apply_meta(std::string_view meta_json) = 0;
  // Whether bulk action lines need "_type" (6.x secondaries).
  virtual bool bulk_with_type() const { return false; }
  // Whether the primary runs documents of `idx` through an ingest pipeline
  // (index.default_pipeline / index.final_pipeline), so the source a client
  // sent -- what an index event carries -- may differ from what the primary
  // stored. Such events are applied as reconciles (read the primary's
  // stored document). Cached; apply_meta forgets the cache. An error means
  // "don't know": the caller reconciles, which is always correct.
  virtual Result<bool> primary_rewrites_sources(const IndexName& idx) {
    (void)idx;
    return false;
  }
  // Before `sources` (index events' documents) are written into `idx`:
  // makes sure the secondary maps every field they use as the primary does
  // (MappingGuard::cover). Default: nothing to do.
  virtual Status cover_fields(const IndexName& idx, const std::vector<std::string_view>& sources) {
    (void)idx;
    (void)sources;
    return Status::ok();
  }
  // The secondary refused a document of `idx` for its mapping: bring the
  // primary's mapping of `idx` over (MappingGuard::heal). Default: nothing.
  virtual Status heal_mapping(const IndexName& idx) {
    (void)idx;
    return Status::ok();
  }
};

// ---- mappings before documents ----------------------------------------------

// The field paths a mapping defines ("a", "a.b", "a.b.c"), as given to the
// secondary: typeless {"properties":...,"runtime":...}, or one 6.x type
// wrapping that.
class FieldMap {
 public:
  enum class Kind {
    kLeaf,    // a value field: what is inside its values is not a path
    kObject,  // object / nested: its sub-fields are paths of their own
    kOpaque,  // not indexed below (enabled: false, flattened): no sub-paths
  };
  FieldMap() = default;
  explicit FieldMap(const nlohmann::json& mappings);
  const Kind* find(std::string_view path) const;
  size_t size() const { return paths_.size(); }

 private:
  void add(const nlohmann::json& properties, const std::string& prefix, int depth);
  // Hashed, looked up by string_view without a copy: the walk does one
  // lookup per field of every document it checks.
  struct PathHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Kind, PathHash, std::equal_to<>> paths_;
};

// The paths of the JSON object `source` that `fields` does not define and
// that a dynamic mapping would map (a null, an empty array or an array of
// nulls maps nothing), walking no deeper than a known leaf or opaque field;
// at most `max`. kInvalidArgument when `source` is not a JSON object.
Result<std::vector<std::string>> unmapped_paths(std::string_view source, const FieldMap& fields,
                                                size_t max = 8);

// Keeps the secondary's mapping of each index ahead of the documents
// written into it, whatever order the change log delivers them in
// (docs/loader.md, "Mappings before documents"). A field the primary mapped
// dynamically has no metadata event at all, and one mapped by a _mapping
// request may sit in a partition this loader reads later (or not at all):
// either way, a document using a field the secondary was not given would be
// refused (strict) or, worse, mapped by the secondary's own guess (long vs
// float, date detection) with no error. So before a bulk, the paths of its
// documents are checked against the mapping last brought from the primary;
// any unknown path brings the primary's current mapping over first
// (`sync`). The primary mapped every field of a document before
// acknowledging it, so after the sync the document's fields are mapped as
// there. Paths the primary does not map either (dynamic: false) are
// remembered, and trigger a new sync at most once per `min_interval`.
// Thread-safe; one per sink.
class MappingGuard {
 public:
  // Reads the primary's current mapping of `idx`, puts it on the
  // secondary, returns it as put (meta::sync_index_mapping). kNotFound: the
  // primary has no such index.
  using Sync = std::function<Result<nlohmann::json>(const IndexName& idx)>;
  explicit MappingGuard(Sync sync,
                        std::chrono::milliseconds min_interval = std::chrono::seconds(5));

  // Before writing `sources` into `idx`. Errors are the sync's (the caller
  // retries retryable ones); an index the primary no longer has is ok (the
  // bulk's obsolete path decides). After a sync failed for good, the index
  // is not synced again by cover() within min_interval.
  Status cover(const IndexName& idx, const std::vector<std::string_view>& sources);
  // After the secondary refused a document of `idx` for its mapping: syncs,
  // unless a heal of `idx` already synced within min_interval. Bounded so
  // that a stream of simply bad documents does not make every bulk read the
  // primary's mapping.
  Status heal(const IndexName& idx);
  // After a metadata event: an index may have been deleted and recreated.
  void forget();
  uint64_t syncs() const { return syncs_; }

 private:
  struct Entry {
    FieldMap fields;
    std::set<std::string, std::less<>> unmapped;  // also unmapped on the primary
    std::chrono::steady_clock::time_point synced{};
  };
  Result<std::shared_ptr<const Entry>> sync_locked(const IndexName& idx,
                                                   const std::shared_ptr<const Entry>& old,
                                                   const std::vector<std::string>& seen)
      TANDEM_REQUIRES(sync_mu_);
  std::shared_ptr<const Entry> entry(const std::string& idx) const;

  Sync sync_;
  std::chrono::milliseconds min_interval_;
  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> entries_ TANDEM_GUARDED_BY(mu_);
  Mutex sync_mu_;  // one sync at a time: concurrent bulks wait for its result
  std::map<std::string, std::chrono::steady_clock::time_point> last_heal_
      TANDEM_GUARDED_BY(sync_mu_);
  // Last failed sync per index: a mapping the secondary refuses (or the
  // transform cannot express) is not asked for again by every bulk.
  std::map<std::string, std::chrono::steady_clock::time_point> last_failure_
      TANDEM_GUARDED_BY(sync_mu_);
  std::atomic<uint64_t> syncs_{0};
};

struct EsSinkOptions {
  // false: a missing index on the secondary is an error telling the user to
  // run `tandem meta apply` (the backfill's default).
  bool create_missing_indices = true;
  std::string gc_deletes = "24h";
};
// The Sink over real clusters. Both clients must outlive the sink.
std::unique_ptr<Sink> make_es_sink(es::Client& primary, es::Client& secondary,
                                   EsSinkOptions opts = {});

// Totals; atomics so a progress reporter can read them while workers run.
struct Counters {
  std::atomic<uint64_t> applied{0};    // 2xx (incl. delete of a missing doc)
  std::atomic<uint64_t> indexed{0};    // of applied: index writes
  std::atomic<uint64_t> deleted{0};    // of applied: deletes
  std::atomic<uint64_t> conflicts{0};  // 409: newer or equal already there
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> retries{0};   // retried requests or items
  std::atomic<uint64_t> obsolete{0};  // index gone on both sides
  std::atomic<uint64_t> reconciled{0};
  std::atomic<uint64_t> meta_applied{0};
  std::atomic<uint64_t> bulks{0};
  std::atomic<uint64_t> bytes{0};  // bulk body bytes sent (first tries)

  // Counts `n` retries and remembers why (the status names the cluster and,
  // where known, the index), so progress lines can say what is being
  // retried, not only how often.
  void note_retry(const Status& why, uint64_t n = 1);
  // The reason of the latest retry if it happened within `recent`, else "".
  std::string recent_retry(std::chrono::milliseconds recent) const;

 private:
  mutable Mutex retry_mu_;
  std::string last_retry_ TANDEM_GUARDED_BY(retry_mu_);
  std::chrono::steady_clock::time_point last_retry_at_ TANDEM_GUARDED_BY(retry_mu_){};
};

struct ApplyOptions {
  std::string dlq_source = "load";  // DeadLetter::source
  // false: a permanent failure is returned as kFailedPrecondition instead of
  // becoming a new dead letter (`dlq retry` keeps the original entry).
  bool dead_letter = true;
  // Epoch for reconcile writes (their seq_no is read from the primary now);
  // nullopt: the event's own epoch.
  std::optional<Epoch> reconcile_epoch;
  BackoffPolicy backoff;
};

// One event to apply; `encoded` is what goes into a dead letter.
struct Item {
  event::ChangeEvent ev;
  std::string encoded;  // empty: event::encode(ev) when needed
  // Set only by reconcile deletes, whose version is derived from the
  // secondary's (see apply_reconcile); otherwise external_version(epoch,
  // seq_no) of the event.
  std::optional<uint64_t> version;
};

enum class Settled { kApplied, kAlreadyNewer, kObsolete, kDeadLettered };

class Applier {
 public:
  // `dlq` may be null only in tests that never dead-letter (a permanent
  // failure without a store is returned as an error). `stop` aborts
  // retries: the call then returns kUnavailable "stopped" and the events
  // are not settled (not to be committed).
  Applier(Sink& sink, state::Store* dlq, Counters& counters, ApplyOptions opts,
          const std::atomic<bool>* stop);

  // index/delete events: one or more bulk requests. On ok every item is
  // settled; `out` (optional) receives each item's fate in order.
  Status apply_data(const std::vector<const Item*>& items, std::vector<Settled>* out = nullptr);
  // One reconcile event: read the primary, write what is there.
  Result<Settled> apply_reconcile(const Item& item);
  // Many reconcile events with two _mget round trips and one bulk in all,
  // instead of three requests per event. On ok every item is settled;
  // `out` (optional) receives each item's fate in order.
  Status apply_reconciles(const std::vector<const Item*>& items,
                          std::vector<Settled>* out = nullptr);
  // Reconciles the documents `refs` at `epoch` (each read from the primary
  // and written to the secondary through the path above): the repair of
  // `verify --deep`. `out` gets one fate per ref, in order.
  Status reconcile_docs(const std::vector<es::DocRef>& refs, Epoch epoch,
                        std::vector<Settled>* out);
  // One meta event (through Sink::apply_meta, with retries).
  Result<Settled> apply_meta(const Item& item);
  // Dispatches on the op; used by `dlq retry`.
  Result<Settled> apply_one(const Item& item);
  // An index event whose source can't be trusted to be what the primary
  // stored (its index has an ingest pipeline there): apply it as a
  // reconcile instead.
  bool needs_reconcile(const Item& item);

 private:
  Status apply_bulk(const std::vector<const Item*>& items, std::vector<Settled>& fate,
                    const std::vector<size_t>& which);
  Status dead_letter(const Item& item, std::string type, std::string reason);
  Status ensure_index(const IndexName& idx, bool* obsolete);
  // Calls `f` until it succeeds, fails for good, or the applier is stopped,
  // with backoff between retryable failures (counted, named by `what`).
  Status retrying(const std::function<Status()>& f, const std::string& what);
  bool sleep_backoff(Backoff& b);
  Status stopped() const;

  Sink& sink_;
  state::Store* dlq_;
  Counters& c_;
  ApplyOptions opts_;
  const std::atomic<bool>* stop_;
};

// ---- dead letters -----------------------------------------------------------

struct DlqRetryReport {
  size_t attempted = 0;
  size_t succeeded = 0;               // removed from the store
  std::vector<std::string> failures;  // "id N: <reason>" (entry kept)
};

// Re-applies dead letters (all, or the one with `id`) through the same path
// as the loader; an entry is removed only once its event is settled
// (applied, already newer, or obsolete).
Result<DlqRetryReport> retry_dead_letters(state::Store& store, Sink& sink,
                                          std::optional<int64_t> id, ApplyOptions opts = {});

}  // namespace tandem::apply
