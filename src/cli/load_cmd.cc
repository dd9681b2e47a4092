// `tandem load`: applies the change log to the secondary (see src/load and
// docs/loader.md). Credentials: TANDEM_BLUE_* / TANDEM_GREEN_* variables.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli/cli.h"
#include "core/mutex.h"
#include "es/es.h"
#include "load/load.h"
#include "migrate/migrate.h"
#include "state/state.h"

namespace tandem::cli {
namespace {

struct LoadFlags {
  BlueGreenFlags clusters;
  std::string group = "tandem-loader", state;
  LogFlags log;
  int epoch = -1;
  bool until_lag_zero = false;
  int max_inflight_mb = 64;
  int bulk_mb = 5;
  int bulk_docs = 2000;
  int workers = 4;
  int progress_s = 5;
  // Short: the loader commits when a poll comes back empty, and a cutover's
  // catch-up waits for that commit (docs/cutover.md, "The pause").
  int poll_ms = 25;
  // Under steady traffic polls are never empty: commit this often, so the
  // committed lag a flip's pre-drain reads stays close to what was applied.
  int commit_ms = 100;
  std::string gc_deletes = "24h";
  std::string instance_id;
  bool reverse = false;   // apply to blue what green produced
  std::string from;       // blue | green: apply only events this cluster produced
  int base_epoch = 0;     // the epoch at which blue was the primary
  std::string migration;  // stop when `tandem migrate finalize` stops replication
};

// The cluster that produced an event: every flip bumps the epoch by one and
// swaps the roles (docs/cutover.md), so blue is the primary at base_epoch,
// base_epoch+2, ... and green in between.
std::string origin_of(Epoch e, int base_epoch) {
  const int64_t d = static_cast<int64_t>(e.get()) - base_epoch;
  return d >= 0 && d % 2 == 1 ? "green" : "blue";
}

int run_load(const LoadFlags& f) {
  auto clusters = f.clusters.connect();
  if (!clusters.is_ok()) return fail(clusters.status());
  // Reverse: the source is green and the target blue (the sink reads the
  // source for reconciles and metadata, and writes the target).
  es::Client& blue = f.reverse ? *clusters->green : *clusters->blue;
  es::Client& green = f.reverse ? *clusters->blue : *clusters->green;
  const std::string from = !f.from.empty() ? f.from : (f.reverse ? "green" : "");
  if (!from.empty() && from != "blue" && from != "green") {
    return fail(Status(Code::kInvalidArgument, "--from: '" + from + "' is not blue or green"));
  }
  auto store = state::open_store(f.state);
  if (!store.is_ok()) return fail(store.status());
  LogFlags lf = f.log;
  if (!f.instance_id.empty()) {
    if (f.log.brokers.empty()) {
      return fail(error(Code::kInvalidArgument,
                        "--instance-id is a Kafka consumer group setting; the file log has "
                        "one reader per group"));
    }
    lf.properties["consumer.group.instance.id"] = f.instance_id;
  }
  auto log = open_log(lf);
  if (!log.is_ok()) return fail(log.status());
  auto consumer = (*log)->consumer(f.group);
  if (!consumer.is_ok()) return fail(consumer.status());
  apply::EsSinkOptions so;
  so.gc_deletes = f.gc_deletes;
  auto sink = apply::make_es_sink(blue, green, so);
  load::LoaderOptions o;
  o.bulk_bytes = static_cast<size_t>(f.bulk_mb) << 20;
  o.bulk_docs = static_cast<size_t>(f.bulk_docs);
  o.max_inflight_bytes = static_cast<size_t>(f.max_inflight_mb) << 20;
  o.workers = f.workers;
  o.until_lag_zero = f.until_lag_zero;
  o.progress_interval = std::chrono::seconds(f.progress_s);
  o.poll_timeout = std::chrono::milliseconds(std::max(1, f.poll_ms));
  o.commit_interval = std::chrono::milliseconds(std::max(1, f.commit_ms));
  if (f.epoch >= 0) o.apply.reconcile_epoch = Epoch(static_cast<uint32_t>(f.epoch));
  if (!from.empty()) {
    o.accept = [from, base = f.base_epoch](const event::ChangeEvent& ev) {
      return origin_of(ev.epoch, base) == from;
    };
  }
  // With --migration, committed positions go to the state store (below), so
  // a flip's catch-up sees them without a round trip per partition to the
  // log (docs/cutover.md, "The pause"). The polling thread only hands them
  // over; the watch thread writes them.
  struct PositionQueue {
    Mutex mu;
    CondVar cv;
    std::map<int32_t, int64_t> pending TANDEM_GUARDED_BY(mu);
  } posq;
  if (!f.migration.empty()) {
    o.on_commit = [&](const std::map<Partition, Offset>& next) {
      {
        MutexLock l(posq.mu);
        for (const auto& [p, off] : next) posq.pending[p.get()] = off.get();
      }
      posq.cv.notify_one();
    };
  }
  auto loader = load::make_loader(**consumer, *sink, **store, o);
  const std::atomic<bool>& stop = stop_on_signals();
  std::atomic<bool> done{false};
  // Its own connection to the store: the loader's threads use theirs.
  std::unique_ptr<state::Store> mstore;
  if (!f.migration.empty()) {
    auto ms = state::open_store(f.state);
    if (!ms.is_ok()) return fail(ms.status());
    mstore = std::move(ms).value();
  }
  std::atomic<bool> finalized{false};
  std::thread watch([&] {
    auto next_check = std::chrono::steady_clock::now();
    while (!done) {
      if (stop) {
        loader->stop();
        return;
      }
      if (mstore) {
        std::map<int32_t, int64_t> pos;
        {
          MutexLock l(posq.mu);
          // Woken by a commit: record it at once (a flip may be waiting).
          const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
          while (posq.pending.empty() && std::chrono::steady_clock::now() < until) {
            posq.cv.wait_until(posq.mu, until);
          }
          pos.swap(posq.pending);
        }
        if (!pos.empty()) {
          Status ps = migrate::record_loader_positions(*mstore, f.migration, f.group, pos);
          if (!ps.is_ok()) {
            std::fprintf(stderr, "load: recording committed positions failed: %s\n",
                         ps.to_string().c_str());
          }
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (mstore && std::chrono::steady_clock::now() >= next_check) {
        next_check += std::chrono::milliseconds(500);
        auto st = migrate::replication_stopped(*mstore, f.migration);
        if (st.is_ok() && *st) {
          finalized = true;
          loader->stop();
          return;
        }
      }
    }
  });
  std::fprintf(stderr, "load: %s -> cluster '%s' (group %s%s%s)\n", (*log)->describe().c_str(),
               green.label().c_str(), f.group.c_str(), from.empty() ? "" : ", events from ",
               from.c_str());
  Status s = loader->run();
  done = true;
  watch.join();
  if (!s.is_ok()) return fail(s);
  if (finalized) {
    // What it applied over its life is in its own log; the acknowledgement
    // carries this run's totals for finalize's summary.
    const auto st = loader->status();
    const nlohmann::json ack = {{"applied", st.applied},     {"indexed", st.indexed},
                                {"deleted", st.deleted},     {"meta", st.meta_applied},
                                {"skipped", st.skipped},     {"dead_lettered", st.dead_lettered},
                                {"conflicts", st.conflicts}, {"to", green.label()}};
    Status a = migrate::ack_loader_stopped(*mstore, f.migration, f.group, ack.dump());
    if (!a.is_ok()) return fail(a.context("acknowledging the stop of replication"));
    std::fprintf(stderr, "load: migration %s finalized: replication stopped\n",
                 f.migration.c_str());
  }
  return 0;
}

}  // namespace

void register_load(CLI::App& app) {
  auto f = std::make_shared<LoadFlags>();
  auto* cmd = app.add_subcommand("load", "Apply the change log to the secondary (green)");
  f->clusters.add_to(*cmd);
  f->log.add_to(*cmd);
  cmd->add_option("--group", f->group, "Consumer group; loaders in one group share partitions")
      ->capture_default_str();
  cmd->add_option("--state", f->state, "State file (dead letters, verify marks)")->required();
  cmd->add_option("--epoch", f->epoch,
                  "Epoch for reconcile writes (default: the event's own epoch)");
  cmd->add_flag("--until-lag-zero", f->until_lag_zero,
                "Exit 0 once every record of the log is applied and committed");
  cmd->add_option("--max-inflight-mb", f->max_inflight_mb,
                  "Pause polling while this much is polled but not applied")
      ->capture_default_str();
  cmd->add_option("--bulk-mb", f->bulk_mb, "Bulk request size")->capture_default_str();
  cmd->add_option("--bulk-docs", f->bulk_docs, "Max events per bulk")->capture_default_str();
  cmd->add_option("--workers", f->workers, "Concurrent bulk requests")->capture_default_str();
  cmd->add_option("--progress-s", f->progress_s, "Seconds between progress lines (0: none)")
      ->capture_default_str();
  cmd->add_option("--instance-id", f->instance_id,
                  "Kafka static group membership (group.instance.id): a loader restarted "
                  "with the same id takes its partitions back at once instead of after the "
                  "session timeout; unique per loader in the group");
  cmd->add_option("--gc-deletes", f->gc_deletes,
                  "index.gc_deletes for indices the loader creates on green")
      ->capture_default_str();
  cmd->add_flag("--reverse", f->reverse,
                "Reverse replication after a cutover: apply green's events to blue (implies "
                "--from green)");
  cmd->add_option("--from", f->from,
                  "Apply only events produced by this cluster (blue|green); the others are "
                  "skipped, so no event is applied back to the cluster it came from");
  cmd->add_option("--poll-ms", f->poll_ms,
                  "Longest wait of one poll of the log; an empty poll commits what was applied")
      ->capture_default_str();
  cmd->add_option("--commit-ms", f->commit_ms,
                  "Commit applied positions at least this often under steady traffic")
      ->capture_default_str();
  cmd->add_option("--migration", f->migration,
                  "Migration name (plan's `name`): stop when `tandem migrate finalize` stops "
                  "replication, and acknowledge in the state store");
  cmd->add_option("--base-epoch", f->base_epoch, "The epoch at which blue was the primary")
      ->capture_default_str();
  cmd->callback([f] {
    int rc = run_load(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
