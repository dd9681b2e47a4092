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

// The reverse of kRemoved: index settings Elasticsearch 8.x added, written
// into a 7.x target (reverse replication, Target::downgrade_from_es8).
// `same` is the value that means what 7.x does without the setting (then
// the setting is dropped); any other value is refused with `why`. An empty
// `same` drops every value: the setting only tunes 8.x internals.
struct Added {
  std::string_view key;  // exact key, or a prefix ending in '.'
  std::string_view same;
  std::string_view why;
};
constexpr Added kAddedIn8[] = {
    {"index.mode", "standard",
     "time-series and logsdb index modes need Elasticsearch 8.x (they derive _id, routing and "
     "storage from the mapping)"},
    {"index.routing_path", "", ""},  // refused below with index.mode; alone: 8.x only
    {"index.time_series.", "", ""},
    {"index.look_ahead_time", "", ""},
    {"index.look_back_time", "", ""},
    {"index.mapping.source.mode", "stored",
     "synthetic or disabled _source set as an index setting needs Elasticsearch 8.17+"},
    {"index.mapping.total_fields.ignore_dynamic_beyond_limit", "false",
     "ignoring dynamic fields past the limit needs Elasticsearch 8.13+ (7.x rejects such "
     "documents)"},
    {"index.mapping.synthetic_source_keep", "", "only applies to synthetic _source"},
    {"index.dense_vector.", "", "tunes 8.x kNN search"},
    {"index.logsdb.", "", "tunes the 8.x logsdb mode"},
    {"index.recovery.use_synthetic_source", "", "tunes 8.x recovery"},
    {"index.semantic_text.", "", "tunes the 8.x semantic_text field"},
};

// Time-series settings: whatever their value, 7.x cannot express them.
bool is_time_series_setting(std::string_view k) {
  return k == "index.routing_path" || k.starts_with("index.time_series.") ||
         k == "index.look_ahead_time" || k == "index.look_back_time";
}

const Added* added_in_8(std::string_view k) {
  for (const Added& a : kAddedIn8) {
    if (a.key.ends_with('.') ? k.starts_with(a.key) : k == a.key) return &a;
  }
  return nullptr;
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
    if (target.downgrade_from_es8()) {
      if (const Added* a = added_in_8(k)) {
        const bool same = it->is_string() && !a->same.empty() && *it == std::string(a->same);
        if (a->same.empty() && !is_time_series_setting(k)) {
          t.notes.push_back("dropped " + k + "=" + it->dump() + " (" + std::string(a->why) + "; " +
                            target.to_string() + " has no such setting)");
          continue;
        }
        if (same) {
          t.notes.push_back("dropped " + k + "=" + it->dump() + " (" + target.to_string() +
                            " behaves that way without it)");
          continue;
        }
        // Kept: settings_refusal names it, and a caller that sends it
        // anyway meets the target's own refusal.
      }
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
  if (!target.downgrade_from_es8()) return "";
  const nlohmann::json flat = detail::flatten_settings(settings);
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    const std::string& k = it.key();
    const Added* a = added_in_8(k);
    if (a == nullptr) continue;
    if (is_time_series_setting(k)) {
      return "setting '" + k + "' = " + it->dump() +
             ": time-series indices need Elasticsearch 8.x; " + target.to_string() +
             " cannot express them";
    }
    if (a->same.empty()) continue;  // dropped by transform_settings
    if (it->is_string() && *it == std::string(a->same)) continue;
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
