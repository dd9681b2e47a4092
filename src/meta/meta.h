// Metadata sync: reads indices (settings, mappings, aliases) and templates
// (legacy, composable, component) from the primary, transforms them for the
// secondary's version, and applies them idempotently. Also applies captured
// metadata writes (meta events) for the loader, and tunes/restores the
// secondary's settings around the load.
//
// Layering: depends on es only. The state store is reached through the small
// KeyValue interface below so the CLI can plug state::Store in (and tests an
// in-memory map) without meta linking the state component.
//
// Transforms are pure functions of the JSON and the target's version; every
// change they make is recorded as a human-readable note so `tandem meta plan`
// can show what was dropped and why. See docs/meta.md for the tables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"

namespace tandem::meta {

// ---- supported pairs -------------------------------------------------------

// Whether tandem supports migrating `from` (the primary, blue) to `to` (the
// secondary, green). Supported: Elasticsearch 6.8 or newer to any
// Elasticsearch of the same or a later version (6.8 -> 8.x in one hop);
// Elasticsearch 6.8-8.x to OpenSearch 2.x/3.x; OpenSearch 1.3+ to the same
// or a later OpenSearch. Refused (kFailedPrecondition, naming both versions
// and what is possible instead): a downgrade, Elasticsearch older than 6.8
// (5.x has several types per index and no _seq_no in hits), OpenSearch to
// Elasticsearch, Elasticsearch 9.x to OpenSearch. docs/compatibility.md
// lists which pairs are tested.
Status check_pair(const es::ClusterInfo& from, const es::ClusterInfo& to);

// ---- pure transforms -------------------------------------------------------

// The cluster a transform writes for. Built from a Version alone it means
// Elasticsearch (most fixtures); the CLI builds it from green's ClusterInfo.
// The rule predicates below are the one place that says which target
// version or flavor refuses what; the transforms ask them.
struct Target {
  es::Flavor flavor = es::Flavor::kElasticsearch;
  es::Version version;
  // The source is Elasticsearch: an OpenSearch target then checks every
  // field type against its table (an OpenSearch source's types, plugin
  // types included, are OpenSearch's own and pass).
  bool from_elasticsearch = true;
  // The source's version, when known: a target older than its source
  // (reverse replication into blue after a cutover: 8.x -> 7.x, 8.x ->
  // 6.8, 9.x -> 8.x, OpenSearch -> Elasticsearch, OpenSearch 3 -> 2) gets
  // the reverse transforms (older_than_source below).
  std::optional<es::Version> source;
  // The mapping type a typed (6.x) target's mapping is wrapped in: "_doc"
  // (what 6.8's own typeless APIs create) unless the caller read the
  // target's own type name (an existing index's, e.g. "product", or a
  // matching template's) and set it here.
  std::string mapping_type = "_doc";
  Target(es::Version v) : version(std::move(v)) {}  // NOLINT(google-explicit-constructor)
  Target(es::Flavor f, es::Version v) : flavor(f), version(std::move(v)) {}
  Target(const es::ClusterInfo& to, const es::ClusterInfo& from)
      : flavor(to.flavor),
        version(to.version),
        from_elasticsearch(from.flavor == es::Flavor::kElasticsearch),
        source(from.version) {}

  // The capability table (es::Capabilities::derive) of the target.
  es::Capabilities caps() const { return es::Capabilities::derive(flavor, version); }
  bool opensearch() const { return flavor == es::Flavor::kOpenSearch; }
  bool cross_flavor_to_opensearch() const { return opensearch() && from_elasticsearch; }
  bool es_at_least(int major) const { return !opensearch() && version.major >= major; }
  // The target has what `f` added in `since` (a field type, a parameter, a
  // setting): the version tables of the transforms ask this, so which
  // version takes what is data in one table per kind, never an ad-hoc
  // version check.
  bool has(es::Flavor f, const es::Version& since) const { return flavor == f && version >= since; }
  bool es_has(const es::Version& since) const { return has(es::Flavor::kElasticsearch, since); }
  bool os_has(const es::Version& since) const { return has(es::Flavor::kOpenSearch, since); }
  // Mapping types: ES 6.x creates indices with one named type; ES 7+ and
  // every OpenSearch are typeless and have no _all.
  bool typed() const { return caps().typed_apis; }
  bool typeless() const { return !typed(); }
  // Composable index and component templates (ES 7.8+, every OpenSearch).
  bool composable_templates() const { return caps().composable_templates; }
  // Date formats are java.time patterns (ES 7+, OpenSearch); 6.x reads
  // Joda patterns unless the format starts with "8".
  bool java_date_formats() const { return !typed(); }
  // Numeric/date/boolean/ip fields refuse text-only parameters (norms,
  // index_options, similarity): ES 8+ and OpenSearch (probed on 2.19, 3.8).
  bool rejects_point_text_params() const { return opensearch() || es_at_least(8); }
  // What Elasticsearch 8.0 removed (index-time boost, keyword fielddata,
  // prefix-tree geo_shape, _field_names.enabled, the 8.0 settings list).
  // OpenSearch still accepts index-time boost (probed on 2.19 and 3.8).
  bool es8_removals() const { return es_at_least(8); }
  // The target is older than what it is fed: reverse replication after a
  // cutover (an Elasticsearch older than its Elasticsearch source, an
  // OpenSearch older than its OpenSearch source, or Elasticsearch fed by
  // OpenSearch). Field types, parameters and settings the source has and
  // the target lacks (the version tables) are dropped where the target
  // means the same without them, converted where it has its own spelling,
  // and refused (naming the index, the field or setting, and why) where it
  // cannot express them: a rollback never silently loses metadata.
  bool older_than_source() const {
    if (!source.has_value()) return false;
    if (opensearch()) return !from_elasticsearch && version < *source;
    return !from_elasticsearch || version < *source;
  }
  bool reverse_into_es() const { return !opensearch() && older_than_source(); }
  bool from_opensearch_to_es() const { return reverse_into_es() && !from_elasticsearch; }
  bool reverse_into_os() const { return opensearch() && older_than_source(); }
  std::string to_string() const {
    return std::string(es::flavor_name(flavor)) + " " + version.to_string();
  }
};

// A transformed document plus what was changed to get it.
struct Transformed {
  nlohmann::json body;
  std::vector<std::string> notes;  // e.g. "dropped index.uuid (assigned by the cluster)"
};

// Settings as GET /<idx> returns them ({"index":{...}} nested, or flat
// "index.x.y" keys) -> settings acceptable to a create-index/template on the
// target. Output is flat: {"index.number_of_shards":"1", ...} (accepted by
// every create/template/settings API and easy to compare).
Transformed transform_settings(const nlohmann::json& settings, const Target& target);

// The first setting the target cannot express at all, and why, naming the
// key ("" when there is none): only a target older than its source
// (Target::older_than_source, e.g. index.mode=time_series into 7.x,
// index.append_only.enabled=true into Elasticsearch). transform_settings leaves such
// keys in its output, so a caller that sends them anyway meets the target's
// own refusal; index creation and templates (transform_index, the template
// transforms) refuse with this message first.
std::string settings_refusal(const nlohmann::json& settings, const Target& target);

// Mappings: removes a 6.x mapping type ({"_doc":{...}} or {"tweet":{...}})
// and mapping parameters the target no longer accepts. Errors
// (invalid_argument): several mapping types in one index (5.x), not an object.
Result<Transformed> transform_mappings(const nlohmann::json& mappings, const Target& target);

// Aliases {"name":{...}}: drops null-valued fields (some versions render
// absent routing/filter as null) and keeps is_write_index / is_hidden.
nlohmann::json transform_aliases(const nlohmann::json& aliases);

// (a) One index's metadata (the object GET /<idx> returns for it:
// {"settings","mappings","aliases"}) -> the body of PUT /<idx> on the target.
Result<Transformed> transform_index(const nlohmann::json& index_meta, const Target& target);

// Templates, as the getters of es::Client return one entry's value.
// Legacy: converts "template" to "index_patterns", transforms settings and
// mappings. Composable/component: transforms template.settings/mappings.
Result<Transformed> transform_legacy_template(const nlohmann::json& tmpl, const Target& target);
Result<Transformed> transform_index_template(const nlohmann::json& tmpl, const Target& target);
Result<Transformed> transform_component_template(const nlohmann::json& tmpl, const Target& target);

// ---- migration settings ----------------------------------------------------

struct MigrationOptions {
  // index.gc_deletes set on every index tandem creates on the secondary, so
  // versioned delete tombstones outlive the migration's reordering window
  // (Invariant 1). Empty: leave the cluster default.
  std::string gc_deletes = "24h";
};

// (b) Creates `idx` on green from blue's metadata (transformed), with the
// migration settings. Idempotent: an existing index (or a concurrent
// creation, resource_already_exists_exception) is success. Blue's aliases
// are created with the index unless an alias guard conflict exists on green
// (then the index is created without that alias and the conflict is
// returned as kConflict after creation -- the index exists either way).
// kNotFound when blue has no such index (e.g. deleted since the event).
Status ensure_index(es::Client& blue, es::Client& green, const IndexName& idx,
                    const MigrationOptions& opts = {});

// (c) Applies one captured metadata write to green. `meta_json` is the meta
// payload of a change event:
//   {"method":"PUT","path":"/idx/_mapping?x=y","body":{...}|"<json text>"|null,
//    "status":200,"response":{...}}
// `path` is the raw request-target (percent-encoded, may carry a query).
// Supported: index create/delete/open/close, _mapping, _settings, _alias(es),
// _template, _index_template, _component_template. Where the request body
// alone is not enough (index create picks up blue's templates; a typed 6.x
// mapping), green is brought to blue's current state for that object by
// reading blue. Idempotent: replays are no-ops (already exists / missing on
// delete are success). A payload whose status is not 2xx is ignored (ok).
// An unsupported request is kInvalidArgument naming method and path.
Status apply_meta_event(es::Client& blue, es::Client& green, std::string_view meta_json,
                        const MigrationOptions& opts = {});

// (d) Brings green's mapping of the concrete index `idx` up to blue's
// current one, transformed for green (putting a mapping green already has is
// a no-op), creating the index from blue's metadata when green lacks it.
// Returns the mapping as green was given it (typeless for a typeless green:
// {"properties":...}; {} for an empty mapping), so the loader knows which
// fields green now maps as blue does. kNotFound when blue has no such index.
// The loader calls it before writing a document with a field it has not
// seen in blue's mapping, and after green refused a document for its
// mapping (docs/loader.md, "Mappings before documents").
Result<nlohmann::json> sync_index_mapping(es::Client& blue, es::Client& green, const IndexName& idx,
                                          const MigrationOptions& opts = {});

// ---- plan / apply ----------------------------------------------------------

enum class ActionKind {
  kPutComponentTemplate,
  kPutIndexTemplate,
  kPutLegacyTemplate,
  kCreateIndex,
  kAddAlias,     // add (or update the properties of) an alias on one index
  kRemoveAlias,  // blue no longer has the alias on that index
};
std::string_view action_name(ActionKind k);

struct Action {
  ActionKind kind;
  std::string name;                // template / index / alias name
  std::string index;               // kAddAlias: the index the alias points at
  nlohmann::json body;             // what will be sent to green
  bool noop = false;               // green already has an equivalent object
  std::string detail;              // why it is a no-op or how it differs
  std::vector<std::string> notes;  // transform notes
};

struct Plan {
  std::vector<Action> actions;         // ordered: component, composable, legacy, indices, aliases
  std::vector<std::string> conflicts;  // alias guard violations (never applied)
  size_t changes() const;              // non-noop actions
};

struct PlanOptions {
  std::string index_pattern = "*";  // indices (and aliases on them) to include
  bool templates = true;
  // Templates (all three kinds) whose names match; names starting with '.'
  // and templates marked _meta.managed=true are the cluster's own and are
  // never copied.
  std::string template_pattern = "*";
};

Result<Plan> make_plan(es::Client& blue, es::Client& green, const PlanOptions& opts);

// Applies the non-noop actions in order (alias actions of one alias in one
// atomic _aliases request, so a write index moves without a gap). Idempotent
// (an index created meanwhile counts as done). Stops at the first failure.
// With conflicts in the plan, everything else is applied and the result is
// kConflict listing them.
Status apply_plan(es::Client& green, const Plan& plan, const MigrationOptions& opts);

// Renders a plan as text lines ("create index X", "put template Y (already
// identical)"...).
std::string render_plan(const Plan& plan);

// ---- load tuning / finalize ------------------------------------------------

// Where original settings are recorded between `apply --load-tuning` and
// `finalize`. The CLI adapts state::Store to it.
class KeyValue {
 public:
  virtual ~KeyValue() = default;
  virtual Status put(std::string_view key, std::string_view value) = 0;
  virtual Result<std::optional<std::string>> get(std::string_view key) = 0;
};

// Records each index's current number_of_replicas, refresh_interval and
// gc_deletes under "meta.tuning.<index>" (first recording wins: a second
// call never overwrites the originals with tuned values), then sets replicas
// 0 and refresh_interval -1.
Status tune_for_load(es::Client& green, const std::vector<IndexName>& indices, KeyValue& kv);

// Restores the recorded values (or the defaults -- replicas from blue's
// index, refresh 1s, gc_deletes 60s -- where nothing was recorded) on the
// green indices matching `pattern`.
Status finalize(es::Client& blue, es::Client& green, std::string_view pattern, KeyValue& kv);

// Simple in-memory KeyValue (tests, dry runs).
class MemoryKeyValue final : public KeyValue {
 public:
  Status put(std::string_view key, std::string_view value) override;
  Result<std::optional<std::string>> get(std::string_view key) override;

 private:
  std::map<std::string, std::string, std::less<>> m_;
};

}  // namespace tandem::meta
