// Mapping, alias, index and template transforms (pure). The 8.x removals
// below were probed against Elasticsearch 8.19.7 (and again on 9.2.4),
// which reject each of them with a mapper_parsing_exception when an index is
// created; the OpenSearch rules were probed against OpenSearch 2.19.6 and
// 3.8.0. Which target refuses what is asked of Target's predicates.
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

// Field types that exist only in Elasticsearch (x-pack or ES-only mappers),
// with what OpenSearch offers instead. An Elasticsearch -> OpenSearch plan
// refuses them: the OpenSearch counterparts differ in parameters and in
// what queries they answer, so converting silently would change behaviour.
struct EsOnlyType {
  std::string_view type;
  std::string_view instead;
};
constexpr EsOnlyType kEsOnlyTypes[] = {
    {"flattened", "flat_object (different query support)"},
    {"dense_vector", "knn_vector from the k-NN plugin (different parameters)"},
    {"sparse_vector", "rank_features, or the neural-search plugin"},
    {"semantic_text", "the neural-search plugin"},
    {"histogram", "no equivalent"},
    {"aggregate_metric_double", "no equivalent"},
    {"counted_keyword", "no equivalent"},
    {"shape", "xy_shape"},
    {"point", "xy_point"},
    {"passthrough", "no equivalent"},
    {"exponential_histogram", "no equivalent"},
};

// Field types an OpenSearch 2.x/3.x cluster knows (core and bundled
// modules/plugins). A type outside this list and outside kEsOnlyTypes is
// unknown to tandem: an Elasticsearch -> OpenSearch plan refuses it rather
// than guess.
constexpr std::string_view kOpenSearchTypes[] = {
    "text",           "keyword",
    "long",           "integer",
    "short",          "byte",
    "double",         "float",
    "half_float",     "scaled_float",
    "unsigned_long",  "date",
    "date_nanos",     "boolean",
    "binary",         "ip",
    "object",         "nested",
    "flat_object",    "geo_point",
    "geo_shape",      "xy_point",
    "xy_shape",       "integer_range",
    "long_range",     "float_range",
    "double_range",   "date_range",
    "ip_range",       "alias",
    "join",           "percolator",
    "completion",     "search_as_you_type",
    "token_count",    "rank_feature",
    "rank_features",  "match_only_text",
    "wildcard",       "constant_keyword",
    "knn_vector",     "murmur3",
    "annotated-text", "icu_collation_keyword",
    "derived",        "star_tree",
    "semantic",
    "version",  // 3.x; 2.x refuses it (checked below)
};

// "" when `type` is fine on an OpenSearch target, else why not.
std::string opensearch_type_refusal(std::string_view type, const Target& target) {
  if (type.empty() || type.find('{') != std::string_view::npos) return "";  // object / template
  for (const EsOnlyType& e : kEsOnlyTypes) {
    if (type == e.type) {
      return "field type '" + std::string(type) + "' exists only in Elasticsearch (" +
             target.to_string() + " offers " + std::string(e.instead) + ")";
    }
  }
  if (type == "version" && target.version.major < 3) {
    return "field type 'version' needs OpenSearch 3.x (" + target.to_string() + " refuses it)";
  }
  for (std::string_view t : kOpenSearchTypes) {
    if (type == t) return "";
  }
  return "field type '" + std::string(type) + "' is unknown to tandem's Elasticsearch -> " +
         "OpenSearch table; refusing rather than guessing whether " + target.to_string() +
         " accepts it";
}

void drop_param(json& field, const char* param, const std::string& path, const std::string& why,
                std::vector<std::string>& notes) {
  if (field.contains(param)) {
    field.erase(param);
    notes.push_back("dropped " + path + "." + param + " (" + why + ")");
  }
}

// Field types Elasticsearch added in 8.x, with the version that added them:
// a 7.x target (Target::downgrade_from_es8) has no mapper for them. The
// 7.x sparse_vector was a different, removed type; 8.11 re-added the name.
struct AddedType {
  std::string_view type;
  std::string_view since;
};
constexpr AddedType kTypesAddedIn8[] = {
    {"sparse_vector", "8.11"}, {"counted_keyword", "8.12"}, {"passthrough", "8.13"},
    {"semantic_text", "8.15"}, {"patterned_text", "9.1"},   {"exponential_histogram", "9.2"},
};

// Elasticsearch 7.x caps dense_vector at 2048 dimensions.
constexpr int64_t kDenseVectorMaxDims7 = 2048;

// The reverse of the 8.x field rules (8.x -> 7.x): drops what 7.x means
// anyway, refuses what it cannot express. Notes say what was dropped.
void downgrade_field(json& field, const std::string& type, const std::string& path,
                     const Target& target, std::vector<std::string>& notes, std::string& refusal) {
  const std::string on = target.to_string();
  for (const AddedType& a : kTypesAddedIn8) {
    if (type == a.type && refusal.empty()) {
      refusal = "field '" + path + "': field type '" + type + "' exists since Elasticsearch " +
                std::string(a.since) + "; " + on + " cannot take it";
    }
  }
  drop_param(field, "synthetic_source_keep", path,
             "only applies to synthetic _source; " + on + " stores _source", notes);
  if (field.contains("subobjects")) {
    if (field["subobjects"] == json(true) || field["subobjects"] == json("true")) {
      drop_param(field, "subobjects", path, "true is what " + on + " always does", notes);
    } else if (refusal.empty()) {
      refusal = "field '" + path + "': subobjects=" + field["subobjects"].dump() +
                " (dotted names kept flat) needs Elasticsearch 8.3+; " + on + " cannot express it";
    }
  }
  if (type == "dense_vector") {
    // 7.x stores vectors for script_score only: "index": false is what it
    // does, kNN indexing (index, similarity, index_options) it cannot do.
    if (field.contains("index") &&
        (field["index"] == json(false) || field["index"] == json("false"))) {
      drop_param(field, "index", path, "not indexed for kNN is what " + on + " does", notes);
    }
    if (field.contains("element_type") && field["element_type"] == json("float")) {
      drop_param(field, "element_type", path, "float is " + on + "'s only element type", notes);
    }
    for (const char* p : {"index", "similarity", "index_options", "element_type"}) {
      if (field.contains(p) && refusal.empty()) {
        refusal = "field '" + path + "': dense_vector parameter '" + p + "' = " + field[p].dump() +
                  " (kNN search) needs Elasticsearch 8.x; " + on +
                  " can only store vectors for script_score";
      }
    }
    if (field.contains("dims") && field["dims"].is_number_integer() &&
        field["dims"].get<int64_t>() > kDenseVectorMaxDims7 && refusal.empty()) {
      refusal = "field '" + path + "': dense_vector dims = " + field["dims"].dump() + "; " + on +
                " allows at most " + std::to_string(kDenseVectorMaxDims7);
    }
  }
}

void transform_properties(json& props, const std::string& path, const Target& target,
                          std::vector<std::string>& notes, std::string& refusal);

// One field definition (also a dynamic template's "mapping"). The first
// field the target cannot take is described in `refusal`.
void transform_field(json& field, const std::string& path, const Target& target,
                     std::vector<std::string>& notes, std::string& refusal) {
  if (!field.is_object()) return;
  std::string type =
      field.contains("type") && field["type"].is_string() ? field["type"].get<std::string>() : "";
  if (target.cross_flavor_to_opensearch() && refusal.empty()) {
    std::string why = opensearch_type_refusal(type, target);
    if (!why.empty()) refusal = "field '" + path + "': " + why;
  }
  if (target.typeless())
    drop_param(field, "include_in_all", path, "_all was removed in 7.0", notes);
  if (target.rejects_point_text_params() && is_point_type(type)) {
    const std::string why = "not a parameter of " + type + " on " + target.to_string();
    drop_param(field, "index_options", path, why, notes);
    drop_param(field, "norms", path, why, notes);
    drop_param(field, "similarity", path, why, notes);
  }
  if (target.es8_removals()) {
    drop_param(field, "boost", path, "index-time boosts removed in 8.0; boost at query time",
               notes);
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
  if (target.downgrade_from_es8()) downgrade_field(field, type, path, target, notes, refusal);
  if (field.contains("properties")) {
    transform_properties(field["properties"], path, target, notes, refusal);
  }
  if (field.contains("fields") && field["fields"].is_object()) {
    for (auto it = field["fields"].begin(); it != field["fields"].end(); ++it) {
      transform_field(*it, path + "." + it.key(), target, notes, refusal);
    }
  }
}

void transform_properties(json& props, const std::string& path, const Target& target,
                          std::vector<std::string>& notes, std::string& refusal) {
  if (!props.is_object()) return;
  for (auto it = props.begin(); it != props.end(); ++it) {
    transform_field(*it, path.empty() ? it.key() : path + "." + it.key(), target, notes, refusal);
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

Result<Transformed> transform_mappings(const json& mappings, const Target& target) {
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
  if (target.typeless() && m.contains("_all")) {
    m.erase("_all");
    t.notes.push_back("dropped _all (removed in 7.0)");
  }
  if (target.cross_flavor_to_opensearch()) {
    // Elasticsearch-only root parameters: refused where dropping would
    // change what the index answers, dropped with a note where it does not.
    for (const char* k : {"runtime", "subobjects", "_data_stream_timestamp"}) {
      if (m.contains(k)) {
        return Status(Code::kInvalidArgument,
                      std::string("mapping parameter '") + k + "' exists only in Elasticsearch; " +
                          target.to_string() +
                          " refuses it (remove it on blue, or migrate to Elasticsearch)");
      }
    }
    if (m.contains("_source") && m["_source"].is_object() && m["_source"].contains("mode")) {
      m["_source"].erase("mode");
      if (m["_source"].empty()) m.erase("_source");
      t.notes.push_back("dropped _source.mode (synthetic source is Elasticsearch-only; " +
                        target.to_string() + " stores _source)");
    }
  }
  if (target.es8_removals() && m.contains("_field_names") && m["_field_names"].is_object()) {
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
  std::string refusal;
  if (target.downgrade_from_es8()) {
    // Root parameters 8.x added (the reverse of the rules above).
    if (m.contains("_source") && m["_source"].is_object() && m["_source"].contains("mode")) {
      const json mode = m["_source"]["mode"];
      m["_source"].erase("mode");
      if (mode == json("disabled")) {
        // 7.x spells the same thing "enabled": false.
        m["_source"]["enabled"] = false;
        t.notes.push_back("converted _source.mode=disabled to _source.enabled=false for " +
                          target.to_string());
      } else {
        t.notes.push_back("dropped _source.mode=" + mode.dump() + " (" + target.to_string() +
                          " stores _source, which answers every query the same)");
      }
      if (m["_source"].empty()) m.erase("_source");
    }
    if (m.contains("subobjects")) {
      if (m["subobjects"] == json(true) || m["subobjects"] == json("true")) {
        m.erase("subobjects");
        t.notes.push_back("dropped subobjects=true (what " + target.to_string() + " always does)");
      } else {
        refusal = "mapping parameter 'subobjects' = " + m["subobjects"].dump() +
                  " (dotted names kept flat) needs Elasticsearch 8.3+; " + target.to_string() +
                  " cannot express it";
      }
    }
  }
  if (m.contains("properties")) {
    transform_properties(m["properties"], "", target, t.notes, refusal);
  }
  if (m.contains("dynamic_templates") && m["dynamic_templates"].is_array()) {
    for (auto& entry : m["dynamic_templates"]) {
      if (!entry.is_object()) continue;
      for (auto it = entry.begin(); it != entry.end(); ++it) {
        if (!it->is_object()) continue;
        if (it->contains("mapping")) {
          transform_field((*it)["mapping"], "dynamic_templates." + it.key(), target, t.notes,
                          refusal);
        }
        if (target.cross_flavor_to_opensearch() && it->contains("runtime") && refusal.empty()) {
          refusal =
              "dynamic template '" + it.key() + "': runtime fields exist only in Elasticsearch";
        }
      }
    }
  }
  if (!refusal.empty()) {
    return Status(Code::kInvalidArgument, refusal + " (nothing was applied)");
  }
  if (target.typed() && !m.empty()) {
    // A 6.x target (rollback into 6.8) creates the index with one type,
    // named "_doc" like every index 6.8's typeless APIs create.
    json typed = json::object();
    typed["_doc"] = std::move(m);
    m = std::move(typed);
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
Status transform_parts(json& holder, const Target& target, std::vector<std::string>& notes) {
  if (holder.contains("settings")) {
    if (std::string why = settings_refusal(holder["settings"], target); !why.empty()) {
      return Status(Code::kInvalidArgument, why + " (nothing was applied)");
    }
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

Result<Transformed> transform_index(const json& index_meta, const Target& target) {
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

Result<Transformed> transform_legacy_template(const json& tmpl, const Target& target) {
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

Result<Transformed> transform_index_template(const json& tmpl, const Target& target) {
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

Result<Transformed> transform_component_template(const json& tmpl, const Target& target) {
  return transform_index_template(tmpl, target);
}

}  // namespace tandem::meta
