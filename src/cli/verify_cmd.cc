// `tandem verify --quick` (per-document version parity) and `--deep`
// (per-document content parity, optionally `--repair`) of blue and green.
//
// Exit codes: 0 parity (every difference explained by a dead letter),
// 5 unexplained differences, otherwise the error codes of fail().
#include <fmt/format.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <set>
#include <utility>

#include "apply/apply.h"
#include "cli/cli.h"
#include "es/es.h"
#include "event/event.h"
#include "state/state.h"
#include "verify/verify.h"

namespace tandem::cli {
namespace {

constexpr int kExitDifferences = 5;

struct VerifyFlags {
  bool quick = false;
  bool deep = false;
  bool repair = false;
  bool dry_run = false;
  std::string direction = "blue-to-green";
  int slices = 2;
  int grace_ms = 1000;
  int scan_retry_ms = 60'000;
  int recheck_attempts = 3;
  size_t max_docs = 500'000;
  std::vector<std::string> ignore_fields;
  BlueGreenFlags clusters;
  std::string index = "*";
  std::string state;
  int64_t epoch = -1;  // -1: from the state store ("epoch" key), else 0
  bool json = false;
  int batch = 1000;
  size_t max_ids = 2'000'000;
  size_t recheck_limit = 10'000;
};

Result<Epoch> epoch_from(state::Store& store) {
  TANDEM_ASSIGN_OR_RETURN(auto v, store.get("epoch"));
  if (!v) return Epoch(0);
  uint32_t e = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), e);
  if (ec != std::errc() || p != v->data() + v->size()) {
    return Status(Code::kCorruption, "state store key 'epoch' is not a number: " + *v);
  }
  return Epoch(e);
}

// Repair's versioned path: the loader's reconcile (apply::Applier), which
// reads the secondary, then the primary, and writes what the primary has
// with the external version of its _seq_no (or a versioned delete).
class ApplierRepairer final : public verify::Repairer {
 public:
  ApplierRepairer(es::Client& primary, es::Client& secondary, state::Store* store, Epoch epoch)
      : sink_(apply::make_es_sink(primary, secondary, sink_opts())),
        applier_(*sink_, store, counters_, apply_opts(epoch), &stop_on_signals()),
        epoch_(epoch) {}

  Result<std::vector<verify::RepairFate>> reconcile(const std::vector<es::DocRef>& refs) override {
    std::vector<apply::Settled> fates;
    TANDEM_RETURN_IF_ERROR(applier_.reconcile_docs(refs, epoch_, &fates));
    std::vector<verify::RepairFate> out;
    for (auto f : fates) {
      out.push_back(f == apply::Settled::kApplied        ? verify::RepairFate::kApplied
                    : f == apply::Settled::kAlreadyNewer ? verify::RepairFate::kAlreadyNewer
                                                         : verify::RepairFate::kFailed);
    }
    return out;
  }

 private:
  static apply::EsSinkOptions sink_opts() {
    apply::EsSinkOptions o;
    o.create_missing_indices = false;  // repair fixes documents, not indices
    return o;
  }
  static apply::ApplyOptions apply_opts(Epoch e) {
    apply::ApplyOptions o;
    o.dlq_source = "verify";
    o.reconcile_epoch = e;
    return o;
  }
  std::unique_ptr<apply::Sink> sink_;
  apply::Counters counters_;
  apply::Applier applier_;
  Epoch epoch_;
};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run(const VerifyFlags& f) {
  if (f.quick == f.deep) {
    return fail(Status(Code::kInvalidArgument, "pass exactly one of --quick or --deep"));
  }
  if (f.scan_retry_ms < 0) {
    return fail(Status(Code::kInvalidArgument, "--scan-retry-ms must be 0 or more"));
  }
  if ((f.repair || f.dry_run) && !f.deep) {
    return fail(Status(Code::kInvalidArgument, "--repair and --dry-run need --deep"));
  }
  if (f.dry_run && !f.repair) {
    return fail(Status(Code::kInvalidArgument, "--dry-run goes with --repair"));
  }
  if (f.direction != "blue-to-green" && f.direction != "green-to-blue") {
    return fail(
        Status(Code::kInvalidArgument,
               "--direction must be blue-to-green or green-to-blue, not '" + f.direction + "'"));
  }
  auto clusters = f.clusters.connect();
  if (!clusters.is_ok()) return fail(clusters.status());
  std::unique_ptr<es::Client>& blue = clusters->blue;
  std::unique_ptr<es::Client>& green = clusters->green;

  std::unique_ptr<state::Store> store;
  Epoch epoch(0);
  std::set<std::pair<std::string, std::string>> dead_letters;
  if (f.epoch > int64_t{0xFFFF}) {
    return fail(Status(Code::kInvalidArgument, "--epoch must be at most 65535"));
  }
  if (f.epoch >= 0) epoch = Epoch(static_cast<uint32_t>(f.epoch));
  if (!f.state.empty()) {
    auto st = state::open_store(f.state);
    if (!st.is_ok()) return fail(st.status());
    store = std::move(st).value();
    auto keys = verify::dead_letter_keys(*store);
    if (!keys.is_ok()) return fail(keys.status());
    dead_letters = std::move(keys).value();
    if (f.epoch < 0) {
      auto e = epoch_from(*store);
      if (!e.is_ok()) return fail(e.status());
      epoch = *e;
    }
  }
  if (f.deep) {
    const bool swap = f.direction == "green-to-blue";
    es::Client& primary = swap ? *green : *blue;
    es::Client& secondary = swap ? *blue : *green;
    verify::DeepOptions d;
    d.index_pattern = f.index;
    d.epoch = epoch;
    d.slices = f.slices;
    d.batch_size = f.batch;
    d.max_docs_in_memory = f.max_docs;
    d.recheck_limit = f.recheck_limit;
    d.recheck_attempts = f.recheck_attempts;
    d.grace = std::chrono::milliseconds(f.grace_ms);
    d.scan_retry = std::chrono::milliseconds(f.scan_retry_ms);
    d.on_retry = [](const std::string& line) { fmt::print(stderr, "verify --deep: {}\n", line); };
    d.ignore_fields = f.ignore_fields;
    d.dead_letters = std::move(dead_letters);
    d.repair = f.repair;
    d.dry_run = f.dry_run;
    std::unique_ptr<ApplierRepairer> repairer;
    if (f.repair && !f.dry_run) {
      repairer = std::make_unique<ApplierRepairer>(primary, secondary, store.get(), epoch);
      d.repairer = repairer.get();
    }
    auto rep = verify::deep(primary, secondary, d);
    if (!rep.is_ok()) return fail(rep.status());
    if (store && !f.dry_run) {
      verify::LastResult lr{"deep",
                            now_ms(),
                            rep->parity_percent(),
                            rep->unexplained(),
                            rep->documents(),
                            rep->indices.size(),
                            primary.label() + "->" + secondary.label(),
                            f.repair};
      if (auto s = verify::record_last(*store, lr); !s.is_ok()) return fail(s);
    }
    if (f.json) {
      fmt::print("{}\n", verify::deep_to_json(*rep).dump());
    } else {
      fmt::print("{}", verify::render_deep(*rep));
    }
    return rep->ok() ? 0 : kExitDifferences;
  }

  verify::Options o;
  o.index_pattern = f.index;
  o.batch_size = f.batch;
  o.max_ids_in_memory = f.max_ids;
  o.recheck_limit = f.recheck_limit;
  o.epoch = epoch;
  o.dead_letters = std::move(dead_letters);
  auto rep = verify::quick(*blue, *green, o);
  if (!rep.is_ok()) return fail(rep.status());
  if (store) {
    verify::LastResult lr{"quick",
                          now_ms(),
                          rep->parity_percent(),
                          rep->unexplained(),
                          rep->documents(),
                          rep->indices.size(),
                          "blue->green",
                          false};
    if (auto s = verify::record_last(*store, lr); !s.is_ok()) return fail(s);
  }
  if (f.json) {
    fmt::print("{}\n", verify::to_json(*rep).dump());
  } else {
    fmt::print("{}", verify::render_table(*rep));
  }
  return rep->ok() ? 0 : kExitDifferences;
}

struct CompareFlags {
  BlueGreenFlags clusters;
  std::string queries;
  std::string captured;
  int lag_grace_ms = 1000;
  std::string direction = "blue-to-green";
  std::string state;
  bool json = false;
  double tolerance = 1e-4;
  size_t top = 10;
};

int run_compare(const CompareFlags& f) {
  if (f.direction != "blue-to-green" && f.direction != "green-to-blue") {
    return fail(
        Status(Code::kInvalidArgument,
               "--direction must be blue-to-green or green-to-blue, not '" + f.direction + "'"));
  }
  if (f.queries.empty() == f.captured.empty()) {
    return fail(Status(Code::kInvalidArgument,
                       "give either --queries FILE or --captured FILE (the proxy's read-capture "
                       "store)"));
  }
  const std::string& path = f.queries.empty() ? f.captured : f.queries;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(Status(Code::kInvalidArgument,
                       std::string(f.queries.empty() ? "cannot read read-capture file '"
                                                     : "cannot read query file '") +
                           path + "'"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::vector<verify::Query> queries;
  verify::CapturedReads captured;
  if (!f.queries.empty()) {
    auto qs = verify::parse_queries(ss.str());
    if (!qs.is_ok()) return fail(qs.status().context("'" + f.queries + "'"));
    if (qs->empty())
      return fail(Status(Code::kInvalidArgument, "no queries in '" + f.queries + "'"));
    queries = std::move(qs).value();
  } else {
    captured = verify::parse_captured_reads(ss.str());
    if (captured.reads.empty()) {
      return fail(Status(
          Code::kInvalidArgument,
          "no readable captured reads in '" + f.captured + "' (" +
              std::to_string(captured.corrupt) + " corrupt record(s)" +
              (captured.problems.empty() ? std::string() : ", first: " + captured.problems[0]) +
              "); is the proxy's reads.capture.rate set?"));
    }
    for (const auto& p : captured.problems) {
      fmt::print(stderr, "warning: read capture '{}' {}\n", f.captured, p);
    }
    if (captured.corrupt > 0) {
      fmt::print(stderr, "warning: read capture '{}': {} corrupt record(s) skipped\n", f.captured,
                 captured.corrupt);
    }
  }
  auto clusters = f.clusters.connect();
  if (!clusters.is_ok()) return fail(clusters.status());
  std::unique_ptr<es::Client>& blue = clusters->blue;
  std::unique_ptr<es::Client>& green = clusters->green;
  const bool swap = f.direction == "green-to-blue";
  verify::CompareOptions o;
  o.tolerance = f.tolerance;
  o.top = f.top;
  o.lag_grace = std::chrono::milliseconds(f.lag_grace_ms);
  auto rep =
      f.queries.empty()
          ? verify::compare_captured(swap ? *green : *blue, swap ? *blue : *green, captured, o)
          : verify::compare(swap ? *green : *blue, swap ? *blue : *green, queries, o);
  if (!rep.is_ok()) return fail(rep.status());
  if (!f.state.empty()) {
    auto st = state::open_store(f.state);
    if (!st.is_ok()) return fail(st.status());
    if (auto s = verify::record_compare(**st, *rep, now_ms()); !s.is_ok()) return fail(s);
  }
  if (f.json) {
    fmt::print("{}\n", verify::compare_to_json(*rep).dump());
  } else {
    fmt::print("{}", verify::render_compare(*rep, f.top));
  }
  return rep->ok() ? 0 : kExitDifferences;
}

void register_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compare",
      "Replay read queries (a file, or reads the proxy captured) on both clusters; match rate");
  auto f = std::make_shared<CompareFlags>();
  f->clusters.add_to(*cmd);
  cmd->add_option("--queries", f->queries,
                  "JSON lines: {\"method\":..,\"path\":..,\"body\":..} (reads only)");
  cmd->add_option("--captured", f->captured,
                  "The proxy's read-capture store (reads.capture.file): replay captured reads, "
                  "telling lag from differences");
  cmd->add_option("--lag-grace-ms", f->lag_grace_ms,
                  "Captured reads whose documents changed since capture are re-asked after this")
      ->capture_default_str();
  cmd->add_option("--direction", f->direction, "blue-to-green (blue answers are the reference)")
      ->capture_default_str();
  cmd->add_option("--state", f->state, "State store: record the result for cutover gates");
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->add_option("--tolerance", f->tolerance, "Relative tolerance for floats (scores)")
      ->capture_default_str();
  cmd->add_option("--top", f->top, "Mismatching shapes shown with an example")
      ->capture_default_str();
  cmd->callback([f] {
    int rc = run_compare(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

void register_verify(CLI::App& app) {
  // `compare` lives here: it is the query half of proving parity.
  register_compare(app);
  auto* cmd = app.add_subcommand("verify", "Prove parity between blue and green");
  auto f = std::make_shared<VerifyFlags>();
  cmd->add_flag("--quick", f->quick, "Counts plus a complete (id, version) comparison");
  cmd->add_flag("--deep", f->deep,
                "Content parity per document (bucketed digests of canonical _source)");
  cmd->add_flag("--repair", f->repair,
                "With --deep: rewrite differing documents from the primary (versioned), re-verify");
  cmd->add_flag("--dry-run", f->dry_run,
                "With --repair: print what would be written; write nothing");
  cmd->add_option("--direction", f->direction,
                  "blue-to-green (blue is the primary) or green-to-blue (after cutover)")
      ->capture_default_str();
  cmd->add_option("--slices", f->slices, "Deep: parallel slices per side")->capture_default_str();
  cmd->add_option("--grace-ms", f->grace_ms,
                  "Deep: a difference must persist this long (re-checks) to be reported")
      ->capture_default_str();
  cmd->add_option("--scan-retry-ms", f->scan_retry_ms,
                  "Deep: how long a scan page may keep failing (unreachable, 429/5xx) before the "
                  "run fails; PIT pages are asked again unchanged")
      ->capture_default_str();
  cmd->add_option("--recheck-attempts", f->recheck_attempts,
                  "Deep: re-checks over the grace window")
      ->capture_default_str();
  cmd->add_option("--max-docs", f->max_docs, "Deep: documents held per drill-down scan")
      ->capture_default_str();
  cmd->add_option("--ignore-field", f->ignore_fields,
                  "Deep: dotted _source path left out of the comparison (repeatable)");
  f->clusters.add_to(*cmd);
  cmd->add_option("--index", f->index, "Index pattern")->capture_default_str();
  cmd->add_option("--state", f->state, "State store (dead letters explain differences; epoch)");
  cmd->add_option("--epoch", f->epoch, "Epoch of the versions on green (default: state, else 0)");
  cmd->add_flag("--json", f->json, "Print the report as JSON");
  cmd->add_option("--batch", f->batch, "Scan page size")->capture_default_str();
  cmd->add_option("--max-ids", f->max_ids, "Ids held in memory per pass (more: hash buckets)")
      ->capture_default_str();
  cmd->add_option("--recheck-limit", f->recheck_limit, "Differences re-checked by GET per index")
      ->capture_default_str();
  cmd->callback([f] {
    int rc = run(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
