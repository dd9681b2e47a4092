// Which secondary indices are the primary's indices under another name.
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "verify/verify.h"

namespace tandem::verify {

Result<std::set<std::string>> reached_through_alias(es::Client& secondary,
                                                    const std::vector<es::IndexStats>& primary) {
  std::set<std::string> names;
  for (const auto& st : primary) names.insert(st.index.get());
  std::set<std::string> out;
  if (names.empty()) return out;
  // GET /_alias: {"<concrete>": {"aliases": {"<alias>": {...}}}}, every
  // version tandem supports; an index without aliases has an empty object.
  // All aliases of the cluster: a user whose role may not list them (a 403
  // here) still gets a verify, only without this rename detection; the
  // renamed index then shows as "only on green", an honest finding.
  auto listed = secondary.get_aliases();
  if (!listed.is_ok()) return out;
  const auto& all = *listed;
  if (!all.is_object()) return out;
  for (const auto& [concrete, body] : all.items()) {
    const auto it = body.find("aliases");
    if (it == body.end() || !it->is_object()) continue;
    for (const auto& [alias, _] : it->items()) {
      if (names.contains(alias) && !names.contains(concrete)) out.insert(concrete);
    }
  }
  return out;
}

}  // namespace tandem::verify
