// `tandem dlq retry`: dead letters go back through the loader's apply path.
#include <utility>

#include "apply/apply.h"

namespace tandem::load {

Result<DlqRetryReport> retry_dead_letters(state::Store& store, Sink& sink,
                                          std::optional<int64_t> id, ApplyOptions opts) {
  // A failure keeps the original entry; it must not add a second one.
  opts.dead_letter = false;
  DlqRetryReport rep;
  Counters c;
  std::atomic<bool> never{false};
  Applier a(sink, &store, c, opts, &never);
  int64_t after = 0;
  bool found_id = false;
  for (;;) {
    TANDEM_ASSIGN_OR_RETURN(auto page, store.dead_letters(100000));
    bool progressed = false;
    for (auto& d : page) {
      if (d.id <= after) continue;
      after = d.id;
      progressed = true;
      if (id && d.id != *id) continue;
      found_id = true;
      ++rep.attempted;
      auto ev = event::decode(d.event);
      if (!ev.is_ok()) {
        rep.failures.push_back("id " + std::to_string(d.id) + ": " + ev.status().message());
        continue;
      }
      Item it{std::move(*ev), d.event, std::nullopt};
      auto r = a.apply_one(it);
      if (!r.is_ok()) {
        rep.failures.push_back("id " + std::to_string(d.id) + ": " + r.status().message());
        continue;
      }
      TANDEM_RETURN_IF_ERROR(store.remove_dead_letter(d.id));
      ++rep.succeeded;
    }
    if (!progressed || page.size() < 100000) break;
  }
  if (id && !found_id) {
    return Status(Code::kNotFound, "no dead letter with id " + std::to_string(*id));
  }
  return rep;
}

}  // namespace tandem::load
