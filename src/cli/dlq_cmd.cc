// `tandem dlq list|retry`: dead letters of the loader and the backfill.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "apply/apply.h"
#include "cli/cli.h"
#include "es/es.h"
#include "state/state.h"

namespace tandem::cli {
namespace {

struct DlqFlags {
  std::string state, blue, green;
  int64_t id = 0;
  size_t limit = 1000;
  int timeout_ms = 60000;
};

int run_list(const DlqFlags& f) {
  auto store = state::open_store(f.state);
  if (!store.is_ok()) return fail(store.status());
  auto n = (*store)->count_dead_letters();
  if (!n.is_ok()) return fail(n.status());
  auto list = (*store)->dead_letters(f.limit);
  if (!list.is_ok()) return fail(list.status());
  for (const auto& d : *list) {
    if (f.id != 0 && d.id != f.id) continue;
    fmt::print("{}\t{}\tindex={}\tid={}\t{}: {}\n", d.id, d.source, d.index.get(),
               es::json_quote(d.doc_id.get()), d.error_type,
               es::sanitize_snippet(d.error_reason, 300));
  }
  std::fprintf(stderr, "%lld dead letter(s)\n", static_cast<long long>(*n));
  return 0;
}

int run_retry(const DlqFlags& f) {
  auto clusters = connect_blue_green(f.blue, f.green, f.timeout_ms);
  if (!clusters.is_ok()) return fail(clusters.status());
  es::Client& blue = *clusters->blue;
  es::Client& green = *clusters->green;
  auto store = state::open_store(f.state);
  if (!store.is_ok()) return fail(store.status());
  auto sink = load::make_es_sink(blue, green);
  std::optional<int64_t> id;
  if (f.id != 0) id = f.id;
  auto rep = load::retry_dead_letters(**store, *sink, id);
  if (!rep.is_ok()) return fail(rep.status());
  for (const auto& e : rep->failures) std::fprintf(stderr, "still failing: %s\n", e.c_str());
  std::fprintf(stderr, "dlq retry: %zu attempted, %zu applied and removed, %zu still failing\n",
               rep->attempted, rep->succeeded, rep->failures.size());
  return rep->failures.empty() ? 0 : 1;
}

}  // namespace

void register_dlq(CLI::App& app) {
  auto* dlq = app.add_subcommand("dlq", "Dead letters: documents green rejected");
  dlq->require_subcommand(1);
  auto f = std::make_shared<DlqFlags>();
  auto* list = dlq->add_subcommand("list", "List dead letters");
  list->add_option("--state", f->state, "State file")->required();
  list->add_option("--id", f->id, "Only this entry");
  list->add_option("--limit", f->limit, "Max entries")->capture_default_str();
  list->callback([f] {
    int rc = run_list(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
  auto* retry = dlq->add_subcommand("retry", "Re-apply dead letters; remove those that succeed");
  retry->add_option("--state", f->state, "State file")->required();
  retry->add_option("--blue", f->blue, "Primary URL (credentials: TANDEM_BLUE_*)")->required();
  retry->add_option("--green", f->green, "Secondary URL (credentials: TANDEM_GREEN_*)")->required();
  retry->add_option("--id", f->id, "Only this entry (default: all)");
  retry->callback([f] {
    int rc = run_retry(*f);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace tandem::cli
