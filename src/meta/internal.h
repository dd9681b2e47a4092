// Helpers shared by the meta component's translation units. Not part of the
// public interface (meta.h is).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"

namespace tandem::meta::detail {

// Nested / dotted / prefix-less settings -> {"index.a.b": "v"} with numbers
// and booleans rendered as strings (how clusters return them).
nlohmann::json flatten_settings(const nlohmann::json& settings);

// Renames analysis component types removed in 8.0 (nGram -> ngram ...).
void rename_analysis_value(const std::string& key, nlohmann::json& v,
                           std::vector<std::string>& notes);

// Settings tandem owns on the secondary during a migration; they are never
// compared in a plan and never copied from metadata events.
bool is_managed_setting(std::string_view flat_key);
// Copies ingest pipeline `id` from blue to green unless green has one by
// that name (finalize restores index.default_pipeline / final_pipeline).
Status copy_pipeline(es::Client& blue, es::Client& green, const std::string& id);

// True when a name contains a wildcard or lists several names.
bool is_pattern(std::string_view name);

// Simple '*' glob match used for index patterns ("logs-*", "a*,b*").
bool glob_match(std::string_view pattern, std::string_view name);
bool pattern_match(std::string_view patterns, std::string_view name);  // comma list, -excludes

// Creates an index on green, dropping settings green reports as unknown
// ("unknown setting [index.x]": a plugin or a removal not in our tables)
// and retrying, at most 16 times. Each drop is appended to `notes`.
// resource_already_exists_exception is success. Not `tolerant` (a target
// older than its source: reverse replication, where nothing may be lost
// unseen): the target's refusal, naming the setting, is returned instead.
Status create_index_tolerant(es::Client& green, const IndexName& idx, nlohmann::json body,
                             std::vector<std::string>* notes, bool tolerant = true);

// The mapping type name of a typed (6.x) mapping ({"product": {...}} ->
// "product"); "" for a typeless or empty one. `_default_` is not a type.
std::string typed_mapping_name(const nlohmann::json& mappings);

// The one mapping type an index `idx` on a typed (6.x) cluster has or will
// have: the existing index's type, else the type of a legacy template
// whose patterns match `idx` (6.x merges it into the new index, and two
// types in one index are refused), else "_doc".
Result<std::string> mapping_type_on(es::Client& c, const IndexName& idx);

// Field by field under `props` (a "properties" object): where `existing`
// (the target's current properties) has the same field with a "format",
// that format is kept. A mapping update cannot change a field's format, and
// an older target wrote it in its own spelling (6.x: a Joda pattern where
// the reverse transform would send "8" + the java.time one).
void keep_existing_formats(nlohmann::json& props, const nlohmann::json& existing);

// Makes green's alias `alias` point at the same indices as blue's, with the
// same properties, in one atomic _aliases request, for the indices that
// exist on both sides. Guard (the Zalando duplicate-index incident): when
// green's alias points at an index blue's does not, nothing is changed and
// kConflict names both sets. Green indices that blue also has but without
// the alias lose it (blue removed it there).
Status sync_alias(es::Client& blue, es::Client& green, const std::string& alias);

// {"index": {"aliases": {...}}} for one alias name, read with GET /_alias/<a>;
// empty object when the alias does not exist.
Result<nlohmann::json> alias_members(es::Client& c, const std::string& alias);

// Is `idx` an existing index on the cluster (open or closed)?
Result<bool> index_exists(es::Client& c, const IndexName& idx);

// Adds the migration settings (index.gc_deletes) to a create-index body.
void add_migration_settings(nlohmann::json& body, const std::string& gc_deletes);

// Current template `name` of `kind` ("_template", "_index_template",
// "_component_template") on a cluster, nullopt when it does not exist.
Result<std::optional<nlohmann::json>> fetch_template(es::Client& c, std::string_view kind,
                                                     const std::string& name);
// Transforms blue's template body for green's version and puts it there.
Status put_template(es::Client& blue, es::Client& green, std::string_view kind,
                    const std::string& name, const nlohmann::json& blue_body,
                    std::vector<std::string>* notes);

}  // namespace tandem::meta::detail
