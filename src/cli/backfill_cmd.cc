// `tandem backfill`: copies existing documents blue -> green with external
// versions; resumable (see src/backfill and docs/loader.md).
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "apply/apply.h"
#include "backfill/backfill.h"
#include "cli/cli.h"
#include "es/es.h"
#include "state/state.h"

namespace tandem::cli {
namespace {

struct BackfillFlags {
  BlueGreenFlags clusters{.timeout_ms = 120000};
  std::string index = "*", state, job = "backfill";
  LogFlags log;
  int slices = 4;
  int workers = 0;
  double throttle = 0;
  int bulk_mb = 5;
  size_t bulk_bytes = 0;  // overrides bulk_mb when set
  int batch = 1000;
  int epoch = 0;
  bool force_scroll = false;
  bool create_missing = false;
  int progress_s = 2;
  std::string mode = "scan";
  std::string repo_path, snapshot, group, rename_suffix;
};

int run_snapshot_mode(const BackfillFlags& f, es::Client& blue, es::Client& green,
                      state::Store& store, log::Log* log, apply::Sink& sink) {
  if (!log) {
    return fail(Status(Code::kInvalidArgument,
                       "--mode snapshot needs the change log (--kafka/--topic or --log-dir): "
                       "its end marks are recorded before the snapshot"));
  }
  backfill::SnapshotOptions o;
  o.index_pattern = f.index;
  o.repo_path = f.repo_path;
  o.snapshot = f.snapshot;
  o.loader_group = f.group;
  o.rename_suffix = f.rename_suffix;
  o.epoch = Epoch(static_cast<uint32_t>(f.epoch));
  o.stop = &stop_on_signals();
  auto rep = backfill::run_snapshot(blue, green, sink, store, *log, o);
  if (!rep.is_ok()) return fail(rep.status());
  std::fputs(rep->summary().c_str(), stderr);
  return 0;
}

int run_backfill(const BackfillFlags& f) {
  auto clusters = f.clusters.connect();
  if (!clusters.is_ok()) return fail(clusters.status());
  es::Client& blue = *clusters->blue;
  es::Client& green = *clusters->green;
  auto store = state::open_store(f.state);
  if (!store.is_ok()) return fail(store.status());
  std::unique_ptr<log::Log> log;
  if (f.log.configured()) {
    auto l = open_log(f.log);
    if (!l.is_ok()) return fail(l.status());
    log = std::move(l).value();
  }
  apply::EsSinkOptions so;
  so.create_missing_indices = f.create_missing;
  auto sink = apply::make_es_sink(blue, green, so);
  if (f.mode == "snapshot") return run_snapshot_mode(f, blue, green, **store, log.get(), *sink);
  backfill::Options o;
  o.job = f.job;
  o.index_pattern = f.index;
  o.slices = f.slices;
  o.workers = f.workers;
  o.throttle_docs_per_s = f.throttle;
  o.bulk_bytes = f.bulk_bytes > 0 ? f.bulk_bytes : static_cast<size_t>(f.bulk_mb) << 20;
  o.batch_size = f.batch;
  o.epoch = Epoch(static_cast<uint32_t>(f.epoch));
  o.force_scroll = f.force_scroll;
  o.progress_interval = std::chrono::seconds(f.progress_s);
  o.tty = ::isatty(STDERR_FILENO) == 1;
  o.stop = &stop_on_signals();
  auto rep = backfill::run(blue, *sink, **store, log.get(), o);
  if (!rep.is_ok()) return fail(rep.status());
  std::fputs(rep->summary().c_str(), stderr);
  return rep->ok() ? 0 : 1;
}

}  // namespace

void register_backfill(CLI::App& app) {
  auto f = std::make_shared<BackfillFlags>();
  auto* cmd = app.add_subcommand("backfill", "Copy existing documents blue -> green (resumable)");
  f->clusters.add_to(*cmd);
  cmd->add_option("--index", f->index, "Index pattern on blue")->capture_default_str();
  cmd->add_option("--slices", f->slices, "Slices per index (parallel scans)")
      ->capture_default_str();
  cmd->add_option("--workers", f->workers, "Concurrent slices (default: --slices)");
  cmd->add_option("--state", f->state, "State file (checkpoints, dead letters)")->required();
  cmd->add_option("--job", f->job, "Job name: checkpoints are kept per job")->capture_default_str();
  cmd->add_option("--throttle", f->throttle, "Max documents per second (0: unlimited)")
      ->capture_default_str();
  cmd->add_option("--bulk-mb", f->bulk_mb, "Bulk request size")->capture_default_str();
  cmd->add_option("--bulk-bytes", f->bulk_bytes,
                  "Bulk request size in bytes (overrides --bulk-mb)");
  cmd->add_option("--batch", f->batch, "Scan page size")->capture_default_str();
  cmd->add_option("--epoch", f->epoch, "Epoch of the versions written")->capture_default_str();
  cmd->add_flag("--force-scroll", f->force_scroll, "Sliced scroll even where PIT is available");
  cmd->add_flag("--create-missing", f->create_missing,
                "Create indices missing on green from blue's metadata (else: error, run "
                "`tandem meta apply` first)");
  cmd->add_option("--progress-s", f->progress_s, "Seconds between progress updates")
      ->capture_default_str();
  cmd->add_option("--mode", f->mode,
                  "scan: copy documents (any supported pair); snapshot: restore a snapshot of "
                  "blue on green (N -> N+1 only), then reconcile the gap from the log")
      ->check(CLI::IsMember({"scan", "snapshot"}))
      ->capture_default_str();
  cmd->add_option("--repo-path", f->repo_path,
                  "--mode snapshot: shared directory in path.repo of both clusters");
  cmd->add_option("--snapshot-name", f->snapshot, "--mode snapshot: snapshot name");
  cmd->add_option("--group", f->group,
                  "--mode snapshot: the loader's consumer group, started at the marks");
  cmd->add_option("--rename-suffix", f->rename_suffix,
                  "--mode snapshot: restore each index as <name><suffix> behind an alias <name> "
                  "(writes, the loader and verify keep using blue's names)");
  f->log.add_to(*cmd);
  cmd->callback([f] {
    int rc = run_backfill(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
