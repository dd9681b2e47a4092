// `tandem meta plan|apply|finalize`: copy indices, mappings, aliases and
// templates from blue to green, transformed for green's version.
//
//   plan      prints what apply would do ("+" change, "=" already identical,
//             "!" alias-guard conflict); exit 0, or 5 with conflicts
//   apply     applies the plan idempotently (templates, indices, aliases);
//             --load-tuning also sets replicas 0 / refresh -1 on the
//             migrated indices, recording the originals in --state
//   finalize  restores replicas/refresh (recorded or blue's), gc_deletes
//             (blue's) and blue's index blocks on green
#include <fmt/format.h>

#include <memory>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "es/es.h"
#include "meta/meta.h"
#include "state/state.h"

namespace tandem::cli {
namespace {

constexpr int kExitConflicts = 5;

struct MetaFlags {
  BlueGreenFlags clusters;
  std::string index = "*";
  std::string templates = "*";
  bool no_templates = false;
  std::string gc_deletes = "24h";
  bool load_tuning = false;
  std::string state;
};

// state::Store as meta's KeyValue (meta does not link the state component).
class StoreKeyValue final : public meta::KeyValue {
 public:
  explicit StoreKeyValue(state::Store& s) : s_(s) {}
  Status put(std::string_view k, std::string_view v) override { return s_.put(k, v); }
  Result<std::optional<std::string>> get(std::string_view k) override { return s_.get(k); }

 private:
  state::Store& s_;
};

void add_common(CLI::App& cmd, MetaFlags& f) {
  f.clusters.add_to(cmd);
  cmd.add_option("--index", f.index, "Index pattern (comma list, -exclusions)")
      ->capture_default_str();
}

void add_plan_flags(CLI::App& cmd, MetaFlags& f) {
  cmd.add_option("--template", f.templates, "Template name pattern")->capture_default_str();
  cmd.add_flag("--no-templates", f.no_templates, "Leave templates alone");
}

int run(const MetaFlags& f, const std::string& what) {
  auto clusters = f.clusters.connect();
  if (!clusters.is_ok()) return fail(clusters.status());
  es::Client& b = *clusters->blue;
  es::Client& g = *clusters->green;

  std::unique_ptr<state::Store> store;
  if (!f.state.empty()) {
    auto s = state::open_store(f.state);
    if (!s.is_ok()) return fail(s.status());
    store = std::move(s).value();
  }
  if (what == "finalize") {
    if (!store) return fail(Status(Code::kInvalidArgument, "finalize needs --state"));
    StoreKeyValue kv(*store);
    Status s = meta::finalize(b, g, f.index, kv);
    if (!s.is_ok()) return fail(s);
    fmt::print("finalized green indices matching '{}'\n", f.index);
    return 0;
  }

  meta::PlanOptions po;
  po.index_pattern = f.index;
  po.templates = !f.no_templates;
  po.template_pattern = f.templates;
  auto plan = meta::make_plan(b, g, po);
  if (!plan.is_ok()) return fail(plan.status());
  fmt::print("blue {} -> green {}\n{}", b.info().version.to_string(), g.info().version.to_string(),
             meta::render_plan(*plan));
  if (what == "plan") return plan->conflicts.empty() ? 0 : kExitConflicts;

  if (f.load_tuning && !store) {
    return fail(Status(Code::kInvalidArgument, "--load-tuning needs --state to record originals"));
  }
  meta::MigrationOptions mo;
  mo.gc_deletes = f.gc_deletes;
  Status s = meta::apply_plan(g, *plan, mo);
  if (!s.is_ok() && s.code() != Code::kConflict) return fail(s);
  if (f.load_tuning) {
    std::vector<IndexName> indices;
    for (const auto& a : plan->actions) {
      if (a.kind == meta::ActionKind::kCreateIndex) indices.emplace_back(a.name);
    }
    StoreKeyValue kv(*store);
    Status t = meta::tune_for_load(g, indices, kv);
    if (!t.is_ok()) return fail(t);
    fmt::print("load tuning: {} index(es) at replicas 0, refresh -1 (undo: tandem meta finalize)\n",
               indices.size());
  }
  if (!s.is_ok()) {
    std::fprintf(stderr, "error: %s\n", s.message().c_str());
    return kExitConflicts;
  }
  fmt::print("applied {} change(s)\n", plan->changes());
  return 0;
}

}  // namespace

void register_meta(CLI::App& app) {
  auto* meta = app.add_subcommand("meta", "Copy metadata (templates, indices, aliases) to green");
  meta->require_subcommand(1);
  auto flags = std::make_shared<MetaFlags>();

  auto* plan = meta->add_subcommand("plan", "Show what apply would change on green");
  add_common(*plan, *flags);
  add_plan_flags(*plan, *flags);
  plan->callback([flags] {
    int rc = run(*flags, "plan");
    if (rc != 0) throw CLI::RuntimeError(rc);
  });

  auto* apply = meta->add_subcommand("apply", "Apply the plan to green (idempotent)");
  add_common(*apply, *flags);
  add_plan_flags(*apply, *flags);
  apply
      ->add_option("--gc-deletes", flags->gc_deletes,
                   "index.gc_deletes for created indices (delete tombstone lifetime)")
      ->capture_default_str();
  apply->add_flag("--load-tuning", flags->load_tuning,
                  "Set replicas 0 and refresh -1 on created indices for the load");
  apply->add_option("--state", flags->state, "State store file (records original settings)");
  apply->callback([flags] {
    int rc = run(*flags, "apply");
    if (rc != 0) throw CLI::RuntimeError(rc);
  });

  auto* fin = meta->add_subcommand("finalize", "Restore green's settings after the load");
  add_common(*fin, *flags);
  fin->add_option("--state", flags->state, "State store file")->required();
  fin->callback([flags] {
    int rc = run(*flags, "finalize");
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
