// ensure_index: create a missing index on the secondary from the primary's
// metadata, on demand (the loader calls it before the first data event of
// an index it has not seen).
#include <string>
#include <vector>

#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {

using nlohmann::json;

namespace detail {

// Settings added to every index tandem creates on the secondary.
void add_migration_settings(json& body, const std::string& gc_deletes) {
  if (gc_deletes.empty()) return;
  if (!body.contains("settings") || !body["settings"].is_object())
    body["settings"] = json::object();
  body["settings"]["index.gc_deletes"] = gc_deletes;
}

}  // namespace detail

Status ensure_index(es::Client& blue, es::Client& green, const IndexName& idx,
                    const MigrationOptions& opts) {
  const std::string where = "ensure index '" + idx.get() + "'";
  TANDEM_ASSIGN_OR_RETURN(bool exists, detail::index_exists(green, idx));
  if (exists) return Status::ok();
  auto meta = blue.get_index(idx);
  if (!meta.is_ok()) return meta.status().context(where);
  Target to(green.info(), blue.info());
  if (to.typed()) {
    // 6.x: the index gets the one type a matching template of green's
    // would give it (two types in one index are refused), else "_doc".
    auto type = detail::mapping_type_on(green, idx);
    if (!type.is_ok()) return type.status().context(where);
    to.mapping_type = *type;
  }
  auto t = transform_index(*meta, to);
  if (!t.is_ok())
    return t.status().context(where + " (" + blue.label() + " " + blue.info().version.to_string() +
                              " -> " + green.label() + " " + green.info().version.to_string() +
                              ")");
  json body = std::move(t->body);
  // Aliases are added afterwards through the alias guard: creating the index
  // with them could add a second write index or join an alias that points
  // elsewhere on green.
  json aliases = body.contains("aliases") ? body["aliases"] : json::object();
  body.erase("aliases");
  detail::add_migration_settings(body, opts.gc_deletes);
  std::vector<std::string> notes;
  // Into an older side (reverse replication) a setting it does not know is
  // refused by it, naming the setting, rather than dropped unseen.
  TANDEM_RETURN_IF_ERROR(
      detail::create_index_tolerant(green, idx, std::move(body), &notes, !to.older_than_source()));
  Status first_conflict;
  for (auto it = aliases.begin(); it != aliases.end(); ++it) {
    Status s = detail::sync_alias(blue, green, it.key());
    if (!s.is_ok() && first_conflict.is_ok()) first_conflict = s.context(where);
  }
  return first_conflict;
}

}  // namespace tandem::meta
