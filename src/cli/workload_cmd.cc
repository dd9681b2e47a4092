// `tandem workload seed|traffic`: the synthetic product catalog and the live
// traffic generator used by `make demo`, tests and benchmarks.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/cli.h"
#include "es/es.h"
#include "workload/workload.h"

namespace tandem::cli {
namespace {

struct SeedArgs {
  ClusterFlags cluster;
  std::string index = "products";
  workload::SeedOptions opts;
};

struct TrafficArgs {
  ClusterFlags target;
  std::string index = "products";
  double seconds = 30;
  workload::TrafficOptions opts;
};

int run_seed(const SeedArgs& a) {
  auto es = a.cluster.connect("seed target");
  if (!es.is_ok()) return fail(es.status());
  const auto start = std::chrono::steady_clock::now();
  Status s = workload::seed_catalog(**es, IndexName{a.index}, a.opts);
  if (!s.is_ok()) return fail(s);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("seeded {} documents into '{}' in {:.1f}s ({:.0f} docs/s)\n", a.opts.docs, a.index,
             secs, a.opts.docs / std::max(secs, 1e-3));
  return 0;
}

int run_traffic(TrafficArgs a) {
  auto o = a.target.client_options();
  if (!o.is_ok()) return fail(o.status());
  const std::atomic<bool>& stop = stop_on_signals();
  a.opts.duration = std::chrono::milliseconds(static_cast<int64_t>(a.seconds * 1000));
  workload::TrafficStats stats;
  const auto start = std::chrono::steady_clock::now();
  Status s = workload::run_traffic(*o, IndexName{a.index}, a.opts, stats, stop);
  if (!s.is_ok()) return fail(s);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "traffic: {} requests in {:.1f}s ({:.0f}/s): {} creates, {} auto-id creates, {} updates, "
      "{} deletes, {} recreates, {} searches; {} transport/5xx errors, {} unexpected 4xx\n",
      stats.total(), secs, stats.total() / std::max(secs, 1e-3), stats.creates.load(),
      stats.auto_creates.load(), stats.updates.load(), stats.deletes.load(), stats.recreates.load(),
      stats.searches.load(), stats.errors.load(), stats.rejected.load());
  return stats.errors.load() == 0 ? 0 : 1;
}

}  // namespace

void register_workload(CLI::App& app) {
  auto* wl = app.add_subcommand("workload", "Synthetic catalog data and live traffic");
  wl->require_subcommand(1);

  auto seed = std::make_shared<SeedArgs>();
  auto* s = wl->add_subcommand("seed", "Create and bulk-load the product catalog index");
  seed->cluster.add_to(*s, "url");
  s->add_option("--index", seed->index)->capture_default_str();
  s->add_option("--docs", seed->opts.docs)->capture_default_str();
  s->add_option("--parallel", seed->opts.parallel)->capture_default_str();
  s->add_option("--doc-bytes", seed->opts.doc_bytes)->capture_default_str();
  s->callback([seed] {
    if (int rc = run_seed(*seed)) throw CLI::RuntimeError(rc);
  });

  auto traffic = std::make_shared<TrafficArgs>();
  auto* t =
      wl->add_subcommand("traffic", "Mixed writes and searches over HTTP (e.g. via the proxy)");
  traffic->target.add_to(*t, "url");
  t->add_option("--index", traffic->index)->capture_default_str();
  t->add_option("--seconds", traffic->seconds, "Run time; SIGTERM stops early")
      ->capture_default_str();
  t->add_option("--clients", traffic->opts.clients)->capture_default_str();
  t->add_option("--rate", traffic->opts.ops_per_sec, "Target requests/s in total (0 = max)")
      ->capture_default_str();
  t->add_option("--id-space", traffic->opts.id_space, "Seeded ids 0..N-1")->capture_default_str();
  t->callback([traffic] {
    if (int rc = run_traffic(*traffic)) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
