// The migration as one object: the plan (YAML), the persisted phase
// machine, the gates a cutover or rollback must pass, and the durable
// record of a fenced flip (docs/cutover.md).
//
// This component holds no sockets: the CLI (src/cli/migrate_cmd.cc) reads
// the clusters, the log and the proxies and hands the facts to the gates,
// and drives the flip's steps against the proxies' admin APIs. Everything
// that must survive kill -9 lives in the state store (src/state), so every
// `tandem migrate` subcommand can be re-run and resumes where it stopped.
//
//   planned -> capturing -> copying -> converging -> verified -> cut-over
//   cut-over <-> rolled-back;  cut-over -> finalized
//   any phase before cut-over (and rolled-back) -> aborted
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/types.h"
#include "state/state.h"

namespace tandem::migrate {

// ---- the plan --------------------------------------------------------------

struct TlsSpec {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool insecure = false;
};

struct ClusterSpec {
  std::string url;         // credentials in the URL are refused
  std::string env_prefix;  // <prefix>_USERNAME/_PASSWORD(_FILE), _API_KEY(_FILE)
  TlsSpec tls;
};

struct LogSpec {
  enum class Backend { kFile, kKafka };
  Backend backend = Backend::kFile;
  std::string dir;      // file
  std::string brokers;  // kafka
  std::string topic = "tandem-changes";
  std::string kafka_config;           // key=value librdkafka properties file (secrets)
  std::string group = "tandem-load";  // the forward loader's consumer group
  std::string reverse_group = "tandem-load-reverse";
};

struct ProxiesSpec {
  std::vector<std::string> admin;  // admin base URLs, e.g. http://10.0.0.5:9290
  std::string token_file;          // bearer token for every admin API (may be empty)
};

struct GateThresholds {
  int64_t max_lag = 0;  // events; above it the flip is refused, below it the fence drains them
  std::chrono::seconds verify_max_age{3600};
  std::string min_health = "yellow";  // of the cluster that becomes primary
  // Query parity (`tandem compare --state`, issue 10): the last compare's
  // match rate must be at least this many percent, and no older than
  // verify_max_age. Unset: the gate is not run.
  std::optional<double> min_query_match;
};

struct FlipSpec {
  std::chrono::milliseconds drain{5000};     // per proxy: in-flight writes must drain
  std::chrono::milliseconds hold{10000};     // per proxy: past it, held writes get 503
  std::chrono::milliseconds catchup{30000};  // the loader must reach the fence
  // Pre-drain, before any write is held: the flip starts only once the
  // loader's committed lag is at most `predrain_lag` events, waiting at most
  // `predrain` (past it the flip is refused, nothing held). What the loader
  // still has to apply when writes are held is what the fenced window
  // waits for (docs/cutover.md, "The pause").
  std::chrono::milliseconds predrain{10000};
  int64_t predrain_lag = 50;
};

// How `migrate start` copies (tandem backfill's options): parallel slices,
// scan page size, and a rate limit (documents per second, 0 = none) that
// keeps the copy from crowding out blue's live traffic.
struct BackfillSpec {
  int64_t slices = 4;
  int64_t batch_size = 1000;
  int64_t throttle = 0;
};

struct Plan {
  std::string name;  // one migration per name in a state store
  ClusterSpec blue;
  ClusterSpec green;
  bool upgrade = true;  // green must be at least blue's version
  LogSpec log;
  std::vector<std::string> indices;  // patterns, e.g. products*, orders
  ProxiesSpec proxies;
  std::string state;  // state store path
  GateThresholds gates;
  FlipSpec flip;
  BackfillSpec backfill;
};

// Unknown keys are refused with the key named; `origin` (the file name)
// starts every error. Relative paths stay as written (the CLI resolves them
// against the plan's directory).
Result<Plan> parse_plan(std::string_view yaml, std::string_view origin);
Result<Plan> load_plan(const std::string& path);

// ---- the phase machine -----------------------------------------------------

enum class Phase {
  kPlanned,
  kCapturing,
  kCopying,
  kConverging,
  kVerified,
  kCutOver,
  kRolledBack,
  kFinalized,
  kAborted,
};
std::string_view phase_name(Phase p);  // "cut-over", ...
Result<Phase> parse_phase(std::string_view s);
// ok, or kFailedPrecondition naming both phases and what to do instead.
// Staying in the same phase is allowed (idempotent re-runs).
Status check_transition(Phase from, Phase to);

struct PhaseChange {
  Phase phase = Phase::kPlanned;
  int64_t at_ms = 0;
  std::string note;
};

struct ForceRecord {
  int64_t at_ms = 0;
  std::string action;  // "cutover", "rollback"
  std::string reason;
  std::vector<std::string> failing_gates;
};

struct FlipProxyResult {
  std::string proxy;  // admin URL
  int64_t held_us = -1;
  std::string error;
};

// The durable record of one fenced flip: enough for a re-run after kill -9
// to finish it (after the decision) or abort it (before).
struct FlipRecord {
  std::string id;
  std::string kind;  // "cutover" | "rollback"
  // preparing -> prepared -> caught-up -> committed -> released, or aborted
  std::string step;
  Epoch from_epoch{0};
  Epoch to_epoch{0};
  std::string from_primary;
  std::string to_primary;
  std::vector<int64_t> fence;  // the log's end offsets after every proxy prepared
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  int64_t decided_ms = 0;  // the decision's timestamp on the control channel
  bool decided_commit = false;
  std::string abort_reason;
  std::vector<FlipProxyResult> proxies;
  int64_t total_held_us = -1;  // first hold .. last release, as the coordinator saw it
  // Where the held time went, as the coordinator saw it (microseconds):
  // prepare round trip (drain + flush on every proxy), fence read,
  // catch-up wait, decision record, commit round trip.
  int64_t prepare_us = -1, fence_us = -1, catchup_us = -1, decide_us = -1, commit_us = -1;
  // Before the hold (not part of it): how long the pre-drain waited, and
  // the loader's committed lag when the hold began.
  int64_t predrain_us = -1;
  int64_t lag_at_hold = -1;
};

struct MigrationState {
  Phase phase = Phase::kPlanned;
  Epoch epoch{0};
  std::string primary = "blue";
  std::vector<PhaseChange> history;
  std::vector<ForceRecord> forced;
  std::vector<FlipRecord> flips;  // finished flips, oldest first
};

class Migration {
 public:
  // Loads (or creates, in phase planned) the migration `name`.
  static Result<std::unique_ptr<Migration>> open(state::Store& store, std::string name,
                                                 Epoch initial_epoch = Epoch(0));

  const MigrationState& state() const { return st_; }
  Phase phase() const { return st_.phase; }

  // Moves to `to` (persisted before it returns); same phase is a no-op.
  Status advance(Phase to, std::string_view note);
  Status record_force(ForceRecord f);

  // The flip in progress, if any.
  Result<std::optional<FlipRecord>> current_flip();
  Status save_flip(const FlipRecord& f);
  // Ends the current flip: appends it to the history, sets epoch/primary
  // (committed) and the phase (`to`), clears the current flip. One write.
  Status finish_flip(const FlipRecord& f, std::optional<Phase> to);

  // The last verify the migration ran.
  struct VerifySummary {
    int64_t at_ms = 0;
    bool parity = false;
    int64_t differences = 0;
    int64_t explained = 0;  // differences explained by dead letters
    std::string direction;  // "blue->green" / "green->blue" (primary -> follower)
    int64_t epoch = 0;      // the epoch it ran at: a flip makes it stale
  };
  Status record_verify(const VerifySummary& v);
  Result<std::optional<VerifySummary>> last_verify();

  // The cutover lock: one flip at a time per migration, across processes.
  // `holder` says who (pid@host). A holder that `is_alive` says is gone
  // (kill -9) is taken over; the returned string is the previous holder
  // (empty if none) so the caller can report a takeover.
  Result<std::string> acquire_lock(const std::string& holder,
                                   const std::function<bool(const std::string&)>& is_alive);
  Status release_lock(const std::string& holder);

  // Small free-form values the CLI keeps per migration (end marks, backfill
  // progress): key is namespaced under the migration.
  Status put(std::string_view key, std::string_view value);
  Result<std::optional<std::string>> get(std::string_view key);

 private:
  Migration(state::Store& store, std::string name) : store_(store), name_(std::move(name)) {}
  Status save();
  std::string key(std::string_view k) const { return "migrate/" + name_ + "/" + std::string(k); }

  state::Store& store_;
  std::string name_;
  MigrationState st_;
};

// ---- stopping replication (finalize) ---------------------------------------

// `finalize` tells the loaders to stop through the state store they already
// share with the migration (docs/cutover.md, "finalize"): it records
// "replication stopped"; a loader started with `--migration <name>` polls
// the mark, stops (committing what it applied) and acknowledges with its
// final status line under its consumer group. The store, not the control
// channel: loaders do not read the control channel, and they already need
// the state store for dead letters.
Status stop_replication(state::Store& store, std::string_view migration);
Result<bool> replication_stopped(state::Store& store, std::string_view migration);
Status ack_loader_stopped(state::Store& store, std::string_view migration, std::string_view group,
                          std::string_view summary);
Result<std::optional<std::string>> loader_stopped(state::Store& store, std::string_view migration,
                                                  std::string_view group);

// The loader's committed positions, as it reports them (docs/cutover.md,
// "The pause"): a loader started with `--migration <name>` records, after
// each successful commit to the log, the next offset of every partition it
// committed. A flip's catch-up reads them from the store instead of asking
// the log for the group's offsets (a round trip per partition). The record
// can only lag behind the log's own committed offsets (it is written after
// the commit, and commits never move back), so "recorded >= fence" proves
// "committed >= fence".
Status record_loader_positions(state::Store& store, std::string_view migration,
                               std::string_view group,
                               const std::map<int32_t, int64_t>& next_offsets);
// The recorded next offset of `partition`, nullopt when none was recorded.
Result<std::optional<int64_t>> loader_position(state::Store& store, std::string_view migration,
                                               std::string_view group, int32_t partition);

// ---- gates -----------------------------------------------------------------

// The facts the gates judge, gathered by the caller. Unknown facts stay
// empty and fail their gate ("could not read ...").
struct GateInputs {
  int64_t now_ms = 0;
  std::string target;          // the cluster that becomes primary
  std::optional<int64_t> lag;  // events the loader into the target... has not applied
  std::optional<Migration::VerifySummary> last_verify;
  std::vector<std::string> needs_verify;     // indices marked
  std::optional<int64_t> dead_letters;       // unresolved
  std::string target_health;                 // green|yellow|red, "" unknown
  std::optional<std::string> alias_problem;  // "" = aliases agree; nullopt = not checked
  // The alias guard after a flip: indices outside the plan that sit under
  // an alias of a plan index on the current primary ("" = none; nullopt =
  // not checked). The duplicate-documents incident: an alias that suddenly
  // spans a second, unreplicated index.
  std::optional<std::string> alias_guard_problem;
  // The epoch now: a verify from an earlier epoch proves nothing about the
  // direction replication runs in today.
  int64_t epoch = 0;
  // The last `tandem compare` recorded in the state store.
  struct QueryMatch {
    int64_t at_ms = 0;
    double match_rate = 0;  // percent
    int64_t queries = 0;
    int64_t lagging = 0;
  };
  std::optional<QueryMatch> last_compare;
};

struct GateResult {
  std::string gate;
  bool passed = false;
  std::string detail;
};

// One check. Later gates (query match rate) implement this and are added
// to the list the CLI builds.
class Gate {
 public:
  virtual ~Gate() = default;
  virtual std::string name() const = 0;
  virtual GateResult check(const GateInputs& in) const = 0;
};

std::vector<std::unique_ptr<Gate>> default_gates(const GateThresholds& t);

struct GateReport {
  std::vector<GateResult> results;
  bool passed() const;
  std::vector<std::string> failing() const;
  // "gate 'lag': 12 events not applied (threshold 0); gate '...': ..."
  std::string describe_failures() const;
};
GateReport run_gates(const std::vector<std::unique_ptr<Gate>>& gates, const GateInputs& in);

int64_t now_ms();

}  // namespace tandem::migrate
