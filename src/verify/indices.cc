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
  TANDEM_ASSIGN_OR_RETURN(auto all, secondary.get_aliases());
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
