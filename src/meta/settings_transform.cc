// Index settings transform: what of the primary's settings may be copied to
// the secondary, version by version. The tables below are the source of
// truth; docs/meta.md mirrors them. Entries marked "probed" were confirmed
// against Elasticsearch 8.19.7 (it rejects them on index creation).
#include <string>
#include <string_view>

#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {
namespace {

// Settings the cluster assigns or keeps private; copying them is refused by
// every version (probed: unknown/private setting on 8.x) or meaningless.
constexpr std::string_view kNeverCopy[] = {
    "index.uuid",                     // assigned per index instance
    "index.creation_date",            // assigned at creation
    "index.provided_name",            // the name (or date-math expression) given at creation
    "index.version.created",          // private
    "index.version.created_string",   // human form of the above (flat_settings human=true)
    "index.version.upgraded",         // removed; private in 7.x
    "index.version.upgraded_string",  //
    "index.version.compatibility",    // 8.x private
    "index.history.uuid",             // per-shard history, never an index setting to copy
    "index.verified_before_close",    // private (closed-index replication)
    "index.search.throttled",         // private; follows index.frozen
    "index.frozen",                   // frozen indices: a blue storage optimization, gone in 8
    "index.data_path",                // custom per-node data path: hardware-specific
    "index.mapping.single_type",      // 6.x; one type is the only choice since 7.0
    "index.mapper.dynamic",           // 6.x; removed in 7.0
};

// Key prefixes never copied.
constexpr std::string_view kNeverCopyPrefixes[] = {
    "index.resize.",                               // shrink/split/clone provenance
    "index.shrink.source.",                        // 6.x spelling of the above
    "index.routing.allocation.initial_recovery.",  // pins shards to the source nodes
    "index.store.snapshot.",                       // searchable-snapshot internals
    "index.downsample.",                           // downsample provenance (8.x)
    "index.blocks.",  // deferred: the secondary must accept the load; finalize copies them
};

struct Removed {
  std::string_view key;
  int since_major;  // the target major that rejects it
  std::string_view why;
};

// Settings a target version no longer accepts for new indices.
constexpr Removed kRemoved[] = {
    // 8.0 (all probed on 8.19.7)
    {"index.soft_deletes.enabled", 8, "soft deletes are always on in 8.x"},
    {"index.translog.retention.age", 8, "translog retention settings removed in 8.0"},
    {"index.translog.retention.size", 8, "translog retention settings removed in 8.0"},
    {"index.max_adjacency_matrix_filters", 8,
     "removed in 8.0 (use indices.query.bool.max_clause_count)"},
    {"index.force_memory_term_dictionary", 8, "removed in 8.0"},
    {"index.indexing.slowlog.level", 8, "removed in 8.0 (use the per-threshold settings)"},
    {"index.search.slowlog.level", 8, "removed in 8.0 (use the per-threshold settings)"},
    {"index.merge.policy.reclaim_deletes_weight", 8, "removed in 8.0"},
    {"index.optimize_auto_generated_id", 8, "unknown to 8.x"},
};

// The reverse of kRemoved: index settings a flavor added in a version,
// written into a target older than its source (reverse replication,
// Target::older_than_source) that lacks them (Target::has). kDrop: the
// setting only tunes what the target does anyway (dropped, noted). kSame:
// dropped when the value is `same` (what the target does without it),
// refused otherwise. kRefuse: refused whatever the value. A setting no
// table names and the target does not know is refused by the target itself
// (index creation into an older side is not tolerant: ensure_index).
enum class IfMissing { kDrop, kSame, kRefuse };
struct Added {
  std::string_view key;  // exact key, or a prefix ending in '.'
  es::Flavor flavor;
  es::Version since;
  IfMissing rule;
  std::string_view same;
  std::string_view why;
};
using enum IfMissing;
constexpr es::Flavor kEs = es::Flavor::kElasticsearch;
constexpr es::Flavor kOs = es::Flavor::kOpenSearch;
const Added kAdded[] = {
    // Elasticsearch 7.x
    {"index.hidden", kEs, {7, 7, 0}, kSame, "false", "hidden indices need Elasticsearch 7.7+"},
    // Elasticsearch 8.x
    {"index.mode",
     kEs,
     {8, 1, 0},
     kSame,
     "standard",
     "time-series and logsdb index modes need Elasticsearch 8.x (they derive _id, routing and "
     "storage from the mapping)"},
    {"index.routing_path",
     kEs,
     {8, 1, 0},
     kRefuse,
     "",
     "time-series indices need Elasticsearch 8.x"},
    {"index.time_series.",
     kEs,
     {8, 1, 0},
     kRefuse,
     "",
     "time-series indices need Elasticsearch 8.x"},
    {"index.look_ahead_time",
     kEs,
     {8, 1, 0},
     kRefuse,
     "",
     "time-series indices need Elasticsearch 8.x"},
    {"index.look_back_time",
     kEs,
     {8, 1, 0},
     kRefuse,
     "",
     "time-series indices need Elasticsearch 8.x"},
    {"index.mapping.source.mode",
     kEs,
     {8, 17, 0},
     kSame,
     "stored",
     "synthetic or disabled _source set as an index setting needs Elasticsearch 8.17+"},
    {"index.mapping.total_fields.ignore_dynamic_beyond_limit",
     kEs,
     {8, 13, 0},
     kSame,
     "false",
     "ignoring dynamic fields past the limit needs Elasticsearch 8.13+ (older versions reject "
     "such documents)"},
    {"index.mapping.synthetic_source_keep",
     kEs,
     {8, 15, 0},
     kDrop,
     "",
     "only applies to synthetic _source"},
    {"index.dense_vector.", kEs, {8, 0, 0}, kDrop, "", "tunes 8.x kNN search"},
    {"index.logsdb.", kEs, {8, 15, 0}, kDrop, "", "tunes the 8.x logsdb mode"},
    {"index.recovery.use_synthetic_source", kEs, {8, 18, 0}, kDrop, "", "tunes 8.x recovery"},
    {"index.semantic_text.", kEs, {8, 15, 0}, kDrop, "", "tunes the 8.x semantic_text field"},
    // OpenSearch (every OpenSearch setting is unknown to Elasticsearch;
    // OpenSearch 2.x/3.x report index.replication.type on every index).
    {"index.replication.type",
     kOs,
     {1, 0, 0},
     kDrop,
     "",
     "OpenSearch's replication mechanism; the documents are the same"},
    {"index.knn",
     kOs,
     {1, 0, 0},
     kDrop,
     "",
     "the k-NN plugin's switch; a knn_vector field is refused on its own"},
    {"index.knn.", kOs, {1, 0, 0}, kDrop, "", "tunes the k-NN plugin"},
    {"index.plugins.",
     kOs,
     {1, 0, 0},
     kDrop,
     "",
     "OpenSearch plugin settings (ISM: configure ILM on Elasticsearch instead)"},
    {"index.opendistro.",
     kOs,
     {1, 0, 0},
     kDrop,
     "",
     "OpenSearch plugin settings (ISM: configure ILM on Elasticsearch instead)"},
    {"index.remote_store.", kOs, {2, 0, 0}, kDrop, "", "OpenSearch remote-backed storage"},
    {"index.search.concurrent_segment_search.",
     kOs,
     {2, 12, 0},
     kDrop,
     "",
     "tunes OpenSearch's concurrent segment search"},
    {"index.derived_source.",
     kOs,
     {3, 1, 0},
     kDrop,
     "",
     "OpenSearch derived _source; the target stores _source, which answers every query the "
     "same"},
    {"index.append_only.enabled",
     kOs,
     {3, 0, 0},
     kSame,
     "false",
     "an append-only index (updates and deletes refused) needs OpenSearch 3.0+"},
    {"index.composite_index",
     kOs,
     {2, 18, 0},
     kRefuse,
     "",
     "star-tree composite indices need OpenSearch 2.18+"},
    {"index.composite_index.",
     kOs,
     {2, 18, 0},
     kRefuse,
     "",
     "star-tree composite indices need OpenSearch 2.18+"},
};

// The table's entry for `k` when the target lacks it (older_than_source
// only), else nullptr.
const Added* missing_on_target(std::string_view k, const Target& target) {
  if (!target.older_than_source()) return nullptr;
  for (const Added& a : kAdded) {
    const bool match = a.key.ends_with('.') ? k.starts_with(a.key) : k == a.key;
    if (match && !target.has(a.flavor, a.since)) return &a;
  }
  return nullptr;
}

bool is_same(const Added& a, const nlohmann::json& v) {
  return a.rule == kSame && v.is_string() && v == std::string(a.same);
}

// Allocation filters name node attributes of the source hardware; copied,
// they can leave every shard unassigned on new hardware. Tier preference is
// the exception: it names a role every 7.10+ cluster understands.
bool is_hardware_filter(std::string_view k) {
  for (std::string_view p :
       {"index.routing.allocation.include.", "index.routing.allocation.exclude.",
        "index.routing.allocation.require."}) {
    if (k.starts_with(p)) return !k.ends_with("._tier_preference");
  }
  return false;
}

void flatten_into(const nlohmann::json& j, const std::string& prefix, nlohmann::json& out) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object() && !it->empty()) {
      flatten_into(*it, key, out);
    } else {
      out[key] = *it;
    }
  }
}

}  // namespace

namespace detail {

nlohmann::json flatten_settings(const nlohmann::json& settings) {
  nlohmann::json flat = nlohmann::json::object();
  if (!settings.is_object()) return flat;
  nlohmann::json tmp = nlohmann::json::object();
  flatten_into(settings, "", tmp);
  for (auto it = tmp.begin(); it != tmp.end(); ++it) {
    // Templates and settings bodies may omit the "index." prefix.
    std::string k = it.key().starts_with("index.") ? it.key() : "index." + it.key();
    // Settings are strings on the wire; compare and send them that way.
    const nlohmann::json& v = *it;
    if (v.is_number() || v.is_boolean()) {
      flat[k] = v.dump();
    } else {
      flat[k] = v;
    }
  }
  return flat;
}

}  // namespace detail

Transformed transform_settings(const nlohmann::json& settings, const Target& target) {
  Transformed t;
  t.body = nlohmann::json::object();
  nlohmann::json flat = detail::flatten_settings(settings);
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    const std::string& k = it.key();
    bool drop = false;
    for (std::string_view n : kNeverCopy) drop = drop || k == n;
    for (std::string_view p : kNeverCopyPrefixes) drop = drop || k.starts_with(p);
    if (drop) {
      // Cluster-assigned settings are dropped silently: they are never
      // user intent. Blocks are noted because finalize brings them back.
      if (k.starts_with("index.blocks.")) {
        t.notes.push_back("deferred " + k + "=" + it->dump() + " until `tandem meta finalize`");
      }
      continue;
    }
    if (k == "index.default_pipeline" || k == "index.final_pipeline") {
      // Green stores blue's documents as blue stored them (already through
      // the pipeline); running it again on green would change them.
      t.notes.push_back("deferred " + k + "=" + it->dump() +
                        " until `tandem meta finalize` (documents arrive already processed)");
      continue;
    }
    if (is_hardware_filter(k)) {
      t.notes.push_back("dropped " + k + " (allocation filter for the source hardware)");
      continue;
    }
    bool removed = false;
    for (const Removed& r : kRemoved) {
      if (k == r.key && target.es_at_least(r.since_major)) {
        t.notes.push_back("dropped " + k + " (" + std::string(r.why) + ")");
        removed = true;
      }
    }
    if (removed) continue;
    if (const Added* a = missing_on_target(k, target)) {
      if (a->rule == kDrop) {
        t.notes.push_back("dropped " + k + "=" + it->dump() + " (" + std::string(a->why) + "; " +
                          target.to_string() + " has no such setting)");
        continue;
      }
      if (is_same(*a, *it)) {
        t.notes.push_back("dropped " + k + "=" + it->dump() + " (" + target.to_string() +
                          " behaves that way without it)");
        continue;
      }
      // Kept: settings_refusal names it, and a caller that sends it
      // anyway meets the target's own refusal.
    }
    if (k == "index.shard.check_on_startup" && it->is_string() && *it == "fix" &&
        target.es8_removals()) {
      t.notes.push_back("dropped index.shard.check_on_startup=fix (value removed in 8.0)");
      continue;
    }
    if (k == "index.routing.allocation.include._tier_preference" &&
        (target.opensearch() || target.version < es::Version{7, 10, 0})) {
      t.notes.push_back("dropped " + k +
                        (target.opensearch() ? " (data tiers are Elasticsearch-only)"
                                             : " (data tiers need 7.10+)"));
      continue;
    }
    if (target.opensearch() &&
        (k.starts_with("index.lifecycle.") || k.starts_with("index.xpack."))) {
      // OpenSearch has no ILM (its ISM policies are configured separately)
      // and no x-pack; it refuses these settings as unknown.
      t.notes.push_back("dropped " + k + "=" + it->dump() + " (Elasticsearch x-pack; " +
                        target.to_string() + " has none: configure ISM there instead)");
      continue;
    }
    // The snake_case names exist on every supported target, so renaming is
    // safe for OpenSearch too.
    if (k.starts_with("index.analysis.") && (target.es8_removals() || target.opensearch())) {
      detail::rename_analysis_value(k, *it, t.notes);
    }
    t.body[k] = *it;
  }
  return t;
}

std::string settings_refusal(const nlohmann::json& settings, const Target& target) {
  if (!target.older_than_source()) return "";
  const nlohmann::json flat = detail::flatten_settings(settings);
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    const std::string& k = it.key();
    const Added* a = missing_on_target(k, target);
    if (a == nullptr || a->rule == kDrop || is_same(*a, *it)) continue;
    return "setting '" + k + "' = " + it->dump() + ": " + std::string(a->why) + "; " +
           target.to_string() + " cannot express it";
  }
  return "";
}

namespace detail {

// 8.0 removed the camelCase names of the n-gram tokenizers/filters and the
// old delimited-payload filter name (they were deprecated aliases in 7.x);
// the snake_case names mean exactly the same, so rename rather than drop.
void rename_analysis_value(const std::string& key, nlohmann::json& v,
                           std::vector<std::string>& notes) {
  if (!key.ends_with(".type") || !v.is_string()) return;
  static constexpr std::pair<std::string_view, std::string_view> kRenames[] = {
      {"nGram", "ngram"},
      {"edgeNGram", "edge_ngram"},
      {"delimited_payload_filter", "delimited_payload"},
  };
  for (const auto& [from, to] : kRenames) {
    if (v.get<std::string>() == from) {
      notes.push_back("renamed " + key + " " + std::string(from) + " -> " + std::string(to) +
                      " (old name removed in 8.0)");
      v = std::string(to);
      return;
    }
  }
}

}  // namespace detail
}  // namespace tandem::meta
