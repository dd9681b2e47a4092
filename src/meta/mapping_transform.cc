// Mapping, alias, index and template transforms (pure). The 8.x removals
// below were probed against Elasticsearch 8.19.7, which rejects each of
// them with a mapper_parsing_exception when an index is created.
#include <string>
#include <string_view>

#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {
namespace {

using nlohmann::json;

// Root-level mapping parameters of a typeless mapping. Anything else at the
// root is a 6.x mapping type name.
constexpr std::string_view kRootParams[] = {
    "properties",
    "dynamic",
    "dynamic_templates",
    "_source",
    "_routing",
    "_meta",
    "_field_names",
    "_all",
    "_size",
    "date_detection",
    "numeric_detection",
    "dynamic_date_formats",
    "enabled",
    "runtime",
    "_data_stream_timestamp",
    "subobjects",
    "_parent",
    "_timestamp",
    "_ttl",
    "_index",
    "_id",
    "_doc_count",
    "_tier",
    "_source_mode",
};

bool is_root_param(std::string_view k) {
  for (std::string_view p : kRootParams) {
    if (k == p) return true;
  }
  return false;
}

// Field types whose mappers in 8.x reject text-only parameters that 7.x
// accepted (and ignored with a deprecation warning).
bool is_point_type(std::string_view t) {
  for (std::string_view p :
       {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
        "unsigned_long", "date", "date_nanos", "boolean", "ip"}) {
    if (t == p) return true;
  }
  return false;
}

void drop_param(json& field, const char* param, const std::string& path, const std::string& why,
                std::vector<std::string>& notes) {
  if (field.contains(param)) {
    field.erase(param);
    notes.push_back("dropped " + path + "." + param + " (" + why + ")");
  }
}

void transform_properties(json& props, const std::string& path, const es::Version& target,
                          std::vector<std::string>& notes);

// One field definition (also a dynamic template's "mapping").
void transform_field(json& field, const std::string& path, const es::Version& target,
                     std::vector<std::string>& notes) {
  if (!field.is_object()) return;
  std::string type =
      field.contains("type") && field["type"].is_string() ? field["type"].get<std::string>() : "";
  if (target.major >= 7)
    drop_param(field, "include_in_all", path, "_all was removed in 7.0", notes);
  if (target.major >= 8) {
    drop_param(field, "boost", path, "index-time boosts removed in 8.0; boost at query time",
               notes);
    if (is_point_type(type)) {
      drop_param(field, "index_options", path, "not a parameter of " + type + " in 8.x", notes);
      drop_param(field, "norms", path, "not a parameter of " + type + " in 8.x", notes);
      drop_param(field, "similarity", path, "not a parameter of " + type + " in 8.x", notes);
    }
    if (type == "keyword") drop_param(field, "fielddata", path, "keyword has doc values", notes);
    if (type == "geo_shape") {
      // Prefix-tree indexing is gone in 8.x; shapes are indexed as BKD
      // triangles, which answers the same queries.
      for (const char* p :
           {"tree", "tree_levels", "precision", "strategy", "distance_error_pct", "points_only"}) {
        drop_param(field, p, path, "legacy prefix-tree geo_shape parameter removed in 8.0", notes);
      }
    }
  }
  if (field.contains("properties")) transform_properties(field["properties"], path, target, notes);
  if (field.contains("fields") && field["fields"].is_object()) {
    for (auto it = field["fields"].begin(); it != field["fields"].end(); ++it) {
      transform_field(*it, path + "." + it.key(), target, notes);
    }
  }
}

void transform_properties(json& props, const std::string& path, const es::Version& target,
                          std::vector<std::string>& notes) {
  if (!props.is_object()) return;
  for (auto it = props.begin(); it != props.end(); ++it) {
    transform_field(*it, path.empty() ? it.key() : path + "." + it.key(), target, notes);
  }
}

void strip_nulls(json& j) {
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    if (it->is_null()) {
      it = j.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace

Result<Transformed> transform_mappings(const json& mappings, const es::Version& target) {
  Transformed t;
  if (mappings.is_null()) {
    t.body = json::object();
    return t;
  }
  if (!mappings.is_object()) {
    return Status(Code::kInvalidArgument,
                  "mappings are not a JSON object: " + mappings.dump().substr(0, 80));
  }
  json m = mappings;
  if (m.contains("_default_")) {
    m.erase("_default_");
    t.notes.push_back("dropped the 6.x _default_ mapping");
  }
  std::vector<std::string> types;
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (!is_root_param(it.key())) types.push_back(it.key());
  }
  if (types.size() > 1) {
    std::string names;
    for (const auto& n : types) names += (names.empty() ? "" : ", ") + n;
    return Status(Code::kInvalidArgument,
                  "mappings have several types (" + names +
                      "); one index can hold one type since 6.0 -- split the index first");
  }
  if (types.size() == 1) {
    const std::string type = types.front();
    if (!m[type].is_object()) {
      return Status(Code::kInvalidArgument, "mapping type '" + type + "' is not an object");
    }
    if (m.size() != 1) {
      return Status(Code::kInvalidArgument,
                    "mappings mix a type ('" + type + "') with typeless root parameters");
    }
    json inner = m[type];
    m = std::move(inner);
    if (type != "_doc")
      t.notes.push_back("removed mapping type '" + type + "' (typeless since 7.0)");
  }
  if (target.major >= 7 && m.contains("_all")) {
    m.erase("_all");
    t.notes.push_back("dropped _all (removed in 7.0)");
  }
  if (target.major >= 8 && m.contains("_field_names") && m["_field_names"].is_object()) {
    if (m["_field_names"].contains("enabled")) {
      m["_field_names"].erase("enabled");
      t.notes.push_back("dropped _field_names.enabled (removed in 8.0)");
    }
    if (m["_field_names"].empty()) m.erase("_field_names");
  }
  if (m.contains("_parent")) {
    t.notes.push_back("warning: 6.x _parent needs a join field on " + target.to_string() +
                      "; not converted");
  }
  if (m.contains("properties")) transform_properties(m["properties"], "", target, t.notes);
  if (m.contains("dynamic_templates") && m["dynamic_templates"].is_array()) {
    for (auto& entry : m["dynamic_templates"]) {
      if (!entry.is_object()) continue;
      for (auto it = entry.begin(); it != entry.end(); ++it) {
        if (it->is_object() && it->contains("mapping")) {
          transform_field((*it)["mapping"], "dynamic_templates." + it.key(), target, t.notes);
        }
      }
    }
  }
  t.body = std::move(m);
  return t;
}

json transform_aliases(const json& aliases) {
  json out = json::object();
  if (!aliases.is_object()) return out;
  for (auto it = aliases.begin(); it != aliases.end(); ++it) {
    json a = it->is_object() ? *it : json::object();
    strip_nulls(a);
    out[it.key()] = std::move(a);
  }
  return out;
}

namespace {

// Transforms {"settings","mappings","aliases"} inside `holder` in place.
Status transform_parts(json& holder, const es::Version& target, std::vector<std::string>& notes) {
  if (holder.contains("settings")) {
    Transformed s = transform_settings(holder["settings"], target);
    holder["settings"] = std::move(s.body);
    notes.insert(notes.end(), s.notes.begin(), s.notes.end());
  }
  if (holder.contains("mappings")) {
    auto m = transform_mappings(holder["mappings"], target);
    if (!m.is_ok()) return m.status();
    holder["mappings"] = std::move(m->body);
    notes.insert(notes.end(), m->notes.begin(), m->notes.end());
  }
  if (holder.contains("aliases")) holder["aliases"] = transform_aliases(holder["aliases"]);
  for (const char* k : {"settings", "mappings", "aliases"}) {
    if (holder.contains(k) && holder[k].is_object() && holder[k].empty()) holder.erase(k);
  }
  return Status::ok();
}

}  // namespace

Result<Transformed> transform_index(const json& index_meta, const es::Version& target) {
  if (!index_meta.is_object()) {
    return Status(Code::kInvalidArgument, "index metadata is not a JSON object");
  }
  Transformed t;
  t.body = json::object();
  for (const char* k : {"settings", "mappings", "aliases"}) {
    if (index_meta.contains(k)) t.body[k] = index_meta[k];
  }
  TANDEM_RETURN_IF_ERROR(transform_parts(t.body, target, t.notes));
  return t;
}

Result<Transformed> transform_legacy_template(const json& tmpl, const es::Version& target) {
  if (!tmpl.is_object()) return Status(Code::kInvalidArgument, "template is not a JSON object");
  Transformed t;
  t.body = tmpl;
  if (t.body.contains("template")) {
    // 5.x spelling: one pattern string under "template".
    json pattern = t.body["template"];
    t.body.erase("template");
    if (!t.body.contains("index_patterns")) {
      t.body["index_patterns"] = pattern.is_array() ? pattern : json::array({pattern});
      t.notes.push_back("converted template -> index_patterns");
    }
  }
  strip_nulls(t.body);
  TANDEM_RETURN_IF_ERROR(transform_parts(t.body, target, t.notes));
  return t;
}

Result<Transformed> transform_index_template(const json& tmpl, const es::Version& target) {
  if (!tmpl.is_object())
    return Status(Code::kInvalidArgument, "index template is not a JSON object");
  Transformed t;
  t.body = tmpl;
  strip_nulls(t.body);
  if (t.body.contains("template") && t.body["template"].is_object()) {
    TANDEM_RETURN_IF_ERROR(transform_parts(t.body["template"], target, t.notes));
  }
  return t;
}

Result<Transformed> transform_component_template(const json& tmpl, const es::Version& target) {
  return transform_index_template(tmpl, target);
}

}  // namespace tandem::meta
