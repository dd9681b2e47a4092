// Dead letters explain differences: a document green rejected is parked in
// the state store with its event, so verify reports it as explained.

#include "verify/verify.h"

namespace tandem::verify {

Result<std::set<std::pair<std::string, std::string>>> dead_letter_keys(state::Store& store) {
  TANDEM_ASSIGN_OR_RETURN(int64_t n, store.count_dead_letters());
  // One read of all of them: dead letters are few by design (each is an
  // operator-visible failure), so the set fits in memory.
  TANDEM_ASSIGN_OR_RETURN(auto all, store.dead_letters(static_cast<size_t>(n) + 1));
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& d : all) keys.emplace(d.index.get(), d.doc_id.get());
  return keys;
}

}  // namespace tandem::verify
