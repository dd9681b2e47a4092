// Mapping, alias, index and template transforms (pure). The 8.x removals
// below were probed against Elasticsearch 8.19.7 (and again on 9.2.4),
// which reject each of them with a mapper_parsing_exception when an index is
// created; the OpenSearch rules were probed against OpenSearch 2.19.6 and
// 3.8.0. Which target refuses what is asked of Target's predicates.
#include <span>
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
    "derived",  // OpenSearch 2.15+: derived fields (Elasticsearch's runtime)
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

// ---- the reverse transforms: a target older than its source --------------
//
// Each table says which version of which flavor added a field type, a
// parameter or a value; Target::has answers whether the target has it. The
// rules run only for a target older than its source (Target::
// older_than_source: reverse replication into blue after a cutover), so a
// forward move is never changed by them. Versions are those of the
// Elasticsearch and OpenSearch release notes; the ones the matrix runs
// (6.8.23, 7.17.29, 8.19.7, OpenSearch 2.19.6) were probed.

using es::Flavor;
using es::Version;

struct Since {
  std::string_view name;
  Version since;
};

// Elasticsearch field types (default distribution, basic license, and the
// mapper plugins) with the version that added them. A type outside this
// table is passed to an Elasticsearch-fed Elasticsearch target (its own
// plugins decide, as forward) and refused for an OpenSearch-fed one.
// The 7.x sparse_vector was a different type, removed in 8.0; 8.11 re-added
// the name, so 8.11 is when today's sparse_vector exists.
const Since kEsTypes[] = {
    {"text", {6, 0, 0}},
    {"keyword", {6, 0, 0}},
    {"long", {6, 0, 0}},
    {"integer", {6, 0, 0}},
    {"short", {6, 0, 0}},
    {"byte", {6, 0, 0}},
    {"double", {6, 0, 0}},
    {"float", {6, 0, 0}},
    {"half_float", {6, 0, 0}},
    {"scaled_float", {6, 0, 0}},
    {"date", {6, 0, 0}},
    {"boolean", {6, 0, 0}},
    {"binary", {6, 0, 0}},
    {"ip", {6, 0, 0}},
    {"object", {6, 0, 0}},
    {"nested", {6, 0, 0}},
    {"geo_point", {6, 0, 0}},
    {"geo_shape", {6, 0, 0}},
    {"integer_range", {6, 0, 0}},
    {"long_range", {6, 0, 0}},
    {"float_range", {6, 0, 0}},
    {"double_range", {6, 0, 0}},
    {"date_range", {6, 0, 0}},
    {"ip_range", {6, 0, 0}},
    {"join", {6, 0, 0}},
    {"percolator", {6, 0, 0}},
    {"completion", {6, 0, 0}},
    {"token_count", {6, 0, 0}},
    {"murmur3", {6, 0, 0}},
    {"annotated_text", {6, 5, 0}},
    {"icu_collation_keyword", {6, 0, 0}},
    {"alias", {6, 4, 0}},
    {"date_nanos", {7, 0, 0}},
    {"rank_feature", {7, 0, 0}},
    {"rank_features", {7, 0, 0}},
    {"dense_vector", {7, 0, 0}},
    {"search_as_you_type", {7, 2, 0}},
    {"flattened", {7, 3, 0}},
    {"shape", {7, 4, 0}},
    {"histogram", {7, 6, 0}},
    {"constant_keyword", {7, 7, 0}},
    {"wildcard", {7, 9, 0}},
    {"unsigned_long", {7, 10, 0}},
    {"version", {7, 10, 0}},
    {"aggregate_metric_double", {7, 11, 0}},
    {"point", {7, 13, 0}},
    {"match_only_text", {7, 14, 0}},
    {"sparse_vector", {8, 11, 0}},
    {"counted_keyword", {8, 12, 0}},
    {"passthrough", {8, 13, 0}},
    {"semantic_text", {8, 15, 0}},
    {"patterned_text", {9, 1, 0}},
    {"exponential_histogram", {9, 2, 0}},
};

// OpenSearch field types that postdate the fork (core and bundled
// plugins), with the version that added them; OpenSearch 2.19 refuses
// `version` and 3.8 takes it (probed). Other types pass an OpenSearch-fed
// OpenSearch target, as forward.
const Since kOsTypes[] = {
    {"flat_object", {2, 7, 0}}, {"unsigned_long", {2, 8, 0}}, {"match_only_text", {2, 12, 0}},
    {"wildcard", {2, 15, 0}},   {"derived", {2, 15, 0}},      {"star_tree", {2, 18, 0}},
    {"version", {3, 0, 0}},     {"semantic", {3, 1, 0}},
};

// OpenSearch-only field types and what Elasticsearch offers instead (the
// reverse of kEsOnlyTypes): refused into Elasticsearch, never converted.
constexpr EsOnlyType kOsOnlyTypes[] = {
    {"knn_vector", "dense_vector (different parameters)"},
    {"flat_object", "flattened (different query support)"},
    {"xy_point", "point"},
    {"xy_shape", "shape"},
    {"derived", "runtime fields"},
    {"star_tree", "no equivalent"},
    {"semantic", "semantic_text"},
};

const Since* find_since(std::span<const Since> table, std::string_view name) {
  for (const Since& s : table) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// Field parameters added after the oldest supported version: dropped when
// the value is `same` (what a target without the parameter does; empty:
// every value, the parameter only tunes what the older side does anyway),
// otherwise refused.
struct AddedParam {
  std::string_view param;
  Version since;
  std::string_view same;  // JSON text of the value that means "as without it"; "*": any
  std::string_view what;
};
const AddedParam kEsParams[] = {
    {"meta", {7, 6, 0}, "", "field metadata"},
    {"script", {7, 11, 0}, "", "an indexed runtime script"},
    {"on_script_error", {7, 13, 0}, "", "an indexed runtime script's error policy"},
    {"time_series_dimension", {8, 0, 0}, "", "a time-series dimension"},
    {"time_series_metric", {8, 0, 0}, "", "a time-series metric"},
    {"synthetic_source_keep", {8, 15, 0}, "*", "only applies to synthetic _source"},
    {"subobjects", {8, 3, 0}, "true", "dotted names kept flat"},
};

// dense_vector: what each value of its parameters needs.
const Since kDenseVectorIndexTypes[] = {
    {"hnsw", {8, 0, 0}},       {"int8_hnsw", {8, 12, 0}}, {"flat", {8, 13, 0}},
    {"int8_flat", {8, 13, 0}}, {"int4_hnsw", {8, 15, 0}}, {"int4_flat", {8, 15, 0}},
    {"bbq_hnsw", {8, 16, 0}},  {"bbq_flat", {8, 16, 0}},  {"bbq_disk", {9, 2, 0}},
};
const Since kDenseVectorElementTypes[] = {
    {"float", {7, 0, 0}}, {"byte", {8, 6, 0}}, {"bit", {8, 15, 0}}, {"bfloat16", {9, 3, 0}}};
const Since kDenseVectorSimilarities[] = {{"l2_norm", {8, 0, 0}},
                                          {"dot_product", {8, 0, 0}},
                                          {"cosine", {8, 0, 0}},
                                          {"max_inner_product", {8, 11, 0}}};
// kNN indexing of dense_vector (index, similarity, index_options) is 8.0;
// before it vectors were stored for script_score only, at most 2048 dims.
const Version kKnnIndexing{8, 0, 0};
constexpr int64_t kDenseVectorMaxDims7 = 2048;

bool is_false(const json& v) {
  return v == json(false) || v == json("false");
}

void refuse(std::string& refusal, const std::string& why) {
  if (refusal.empty()) refusal = why;
}

std::string es_name(const Version& v) {
  return "Elasticsearch " + std::to_string(v.major) + "." + std::to_string(v.minor);
}

void reverse_dense_vector(json& field, const std::string& path, const Target& target,
                          std::vector<std::string>& notes, std::string& refusal) {
  const std::string on = target.to_string();
  const std::string where = "field '" + path + "': dense_vector ";
  if (!target.es_has(kKnnIndexing)) {
    // 7.x stores vectors for script_score only: "index": false is what it
    // does; kNN indexing (index, similarity, index_options) it cannot do.
    if (field.contains("index") && is_false(field["index"])) {
      drop_param(field, "index", path, "not indexed for kNN is what " + on + " does", notes);
    }
    if (field.contains("element_type") && field["element_type"] == json("float")) {
      drop_param(field, "element_type", path, "float is " + on + "'s only element type", notes);
    }
    for (const char* p : {"index", "similarity", "index_options", "element_type"}) {
      if (field.contains(p)) {
        refuse(refusal, where + "parameter '" + p + "' = " + field[p].dump() +
                            " (kNN search) needs Elasticsearch 8.x; " + on +
                            " can only store vectors for script_score");
      }
    }
    if (field.contains("dims") && field["dims"].is_number_integer() &&
        field["dims"].get<int64_t>() > kDenseVectorMaxDims7) {
      refuse(refusal, where + "dims = " + field["dims"].dump() + "; " + on + " allows at most " +
                          std::to_string(kDenseVectorMaxDims7));
    }
    return;
  }
  auto check = [&](const char* param, const json& v, std::span<const Since> table) {
    if (!v.is_string()) return;
    const Since* s = find_since(table, v.get<std::string>());
    if (s != nullptr && !target.es_has(s->since)) {
      refuse(refusal, where + param + " = " + v.dump() + " exists since " + es_name(s->since) +
                          "; " + on + " cannot take it");
    }
  };
  if (field.contains("element_type"))
    check("element_type", field["element_type"], kDenseVectorElementTypes);
  if (field.contains("similarity"))
    check("similarity", field["similarity"], kDenseVectorSimilarities);
  if (field.contains("index_options") && field["index_options"].is_object() &&
      field["index_options"].contains("type")) {
    check("index_options.type", field["index_options"]["type"], kDenseVectorIndexTypes);
  }
}

// 6.x reads a date format as a Joda pattern unless it starts with "8"; the
// source (7+ or OpenSearch) meant a java.time pattern, so it is prefixed.
void java_date_format(json& v, const std::string& what, std::vector<std::string>& notes) {
  if (!v.is_string()) return;
  const std::string f = v.get<std::string>();
  if (f.empty() || f.front() == '8') return;
  v = "8" + f;
  notes.push_back("prefixed " + what + " \"" + f +
                  "\" with 8 (6.x reads java.time patterns, the source's, only so)");
}

// The reverse rules for one field (see older_than_source).
void reverse_field(json& field, const std::string& type, const std::string& path,
                   const Target& target, std::vector<std::string>& notes, std::string& refusal) {
  const std::string on = target.to_string();
  const std::string where = "field '" + path + "': ";
  if (target.reverse_into_os()) {
    if (const Since* s = find_since(kOsTypes, type); s != nullptr && !target.os_has(s->since)) {
      refuse(refusal, where + "field type '" + type + "' exists since OpenSearch " +
                          std::to_string(s->since.major) + "." + std::to_string(s->since.minor) +
                          "; " + on + " cannot take it");
    }
    return;
  }
  if (!target.reverse_into_es()) return;
  if (target.from_opensearch_to_es() && !type.empty()) {
    for (const EsOnlyType& o : kOsOnlyTypes) {
      if (type == o.type) {
        refuse(refusal, where + "field type '" + type + "' exists only in OpenSearch (" + on +
                            " offers " + std::string(o.instead) + ")");
      }
    }
    if (find_since(kEsTypes, type) == nullptr) {
      refuse(refusal, where + "field type '" + type +
                          "' is unknown to tandem's OpenSearch -> Elasticsearch table; refusing "
                          "rather than guessing whether " +
                          on + " accepts it");
    }
  }
  if (const Since* s = find_since(kEsTypes, type); s != nullptr && !target.es_has(s->since)) {
    refuse(refusal, where + "field type '" + type + "' exists since " + es_name(s->since) + "; " +
                        on + " cannot take it");
  }
  for (const AddedParam& a : kEsParams) {
    if (!field.contains(a.param) || target.es_has(a.since)) continue;
    const std::string p(a.param);
    const json& v = field[p];
    const bool same = a.same == "*" ||
                      (!a.same.empty() && (v.dump() == a.same || (v.is_string() && v == a.same)));
    if (same) {
      drop_param(field, p.c_str(), path,
                 std::string(a.what) + "; " + on + " behaves that way without it", notes);
    } else {
      refuse(refusal, where + p + "=" + v.dump() + " (" + std::string(a.what) + ") needs " +
                          es_name(a.since) + "+; " + on + " cannot express it");
    }
  }
  if (type == "dense_vector") reverse_dense_vector(field, path, target, notes, refusal);
  if (!target.java_date_formats() && field.contains("format") &&
      (type == "date" || type == "date_nanos" || type == "date_range")) {
    java_date_format(field["format"], path + ".format", notes);
  }
}

// Runtime fields (root "runtime", dynamic: runtime, in dynamic templates).
const Version kRuntimeFields{7, 11, 0};
// Root mapping parameters added after the oldest supported version.
const AddedParam kEsRootParams[] = {
    {"_data_stream_timestamp", {7, 9, 0}, "", "a data stream's timestamp field"},
    {"runtime", kRuntimeFields, "", "runtime fields"},
    {"subobjects", {8, 3, 0}, "true", "dotted names kept flat"},
};
// _source.mode (synthetic, disabled, stored) is 8.x's; see reverse_root.
const Version kSourceMode{8, 1, 0};
// OpenSearch 2.15 derived fields (the root "derived" object).
const Version kOsDerived{2, 15, 0};

// The reverse rules for the mapping's root (see older_than_source).
void reverse_root(json& m, const Target& target, std::vector<std::string>& notes,
                  std::string& refusal) {
  const std::string on = target.to_string();
  if (target.reverse_into_os()) {
    if (m.contains("derived") && !target.os_has(kOsDerived)) {
      refuse(refusal, "mapping parameter 'derived' (derived fields) needs OpenSearch 2.15+; " + on +
                          " cannot express it");
    }
    return;
  }
  if (!target.reverse_into_es()) return;
  if (m.contains("derived")) {
    refuse(refusal, "mapping parameter 'derived' (derived fields) exists only in OpenSearch (" +
                        on + " offers runtime fields; define them there by hand)");
  }
  if (!target.es_has(kSourceMode) && m.contains("_source") && m["_source"].is_object() &&
      m["_source"].contains("mode")) {
    const json mode = m["_source"]["mode"];
    m["_source"].erase("mode");
    if (mode == json("disabled")) {
      // The older side spells the same thing "enabled": false.
      m["_source"]["enabled"] = false;
      notes.push_back("converted _source.mode=disabled to _source.enabled=false for " + on);
    } else {
      notes.push_back("dropped _source.mode=" + mode.dump() + " (" + on +
                      " stores _source, which answers every query the same)");
    }
    if (m["_source"].empty()) m.erase("_source");
  }
  for (const AddedParam& a : kEsRootParams) {
    if (!m.contains(a.param) || target.es_has(a.since)) continue;
    const std::string p(a.param);
    const json& v = m[p];
    if (!a.same.empty() && (v.dump() == a.same || (v.is_string() && v == a.same))) {
      notes.push_back("dropped " + p + "=" + v.dump() + " (what " + on + " always does)");
      m.erase(p);
      continue;
    }
    refuse(refusal, "mapping parameter '" + p + "' = " + v.dump() + " (" + std::string(a.what) +
                        ") needs " + es_name(a.since) + "+; " + on + " cannot express it");
  }
  if (m.contains("dynamic") && m["dynamic"] == json("runtime") && !target.es_has(kRuntimeFields)) {
    refuse(refusal,
           "mapping parameter 'dynamic' = \"runtime\" (new fields become runtime "
           "fields) needs Elasticsearch 7.11+; " +
               on + " cannot express it");
  }
  if (!target.java_date_formats() && m.contains("dynamic_date_formats") &&
      m["dynamic_date_formats"].is_array()) {
    for (auto& f : m["dynamic_date_formats"]) java_date_format(f, "dynamic_date_formats", notes);
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
  if (target.older_than_source()) reverse_field(field, type, path, target, notes, refusal);
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
  if (target.older_than_source()) reverse_root(m, target, t.notes, refusal);
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
        if (target.reverse_into_es() && it->contains("runtime") && !target.es_has(kRuntimeFields)) {
          refuse(refusal, "dynamic template '" + it.key() +
                              "': runtime fields need Elasticsearch 7.11+; " + target.to_string() +
                              " cannot express them");
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
    // A 6.x target (rollback into 6.8) takes the mapping under its one
    // type: the existing index's own name when the caller read it
    // (Target::mapping_type), else "_doc" like 6.8's typeless APIs.
    json typed = json::object();
    typed[target.mapping_type] = std::move(m);
    m = std::move(typed);
  }
  t.body = std::move(m);
  return t;
}

namespace detail {

std::string typed_mapping_name(const json& mappings) {
  if (!mappings.is_object()) return "";
  for (auto it = mappings.begin(); it != mappings.end(); ++it) {
    if (it.key() != "_default_" && !is_root_param(it.key()) && it->is_object()) return it.key();
  }
  return "";
}

}  // namespace detail

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
  if (!target.composable_templates()) {
    // Reverse replication into 6.x/7.0-7.7: converting to a legacy template
    // would change how templates combine (priority and composition vs
    // order), so the template is refused, not rewritten.
    return Status(Code::kInvalidArgument,
                  "composable index and component templates need Elasticsearch 7.8+; " +
                      target.to_string() +
                      " has legacy templates (_template) only: create an equivalent legacy "
                      "template there by hand (nothing was applied)");
  }
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
