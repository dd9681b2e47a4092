// Shared helpers of the meta component: paths, patterns, tolerant index
// creation and the alias guard.
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "http/http.h"
#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta::detail {

using nlohmann::json;

bool is_managed_setting(std::string_view k) {
  return k == "index.gc_deletes" || k == "index.number_of_replicas" ||
         k == "index.refresh_interval" || k == "index.auto_expand_replicas" ||
         k == "index.default_pipeline" || k == "index.final_pipeline" ||
         k.starts_with("index.blocks.");
}

Status copy_pipeline(es::Client& blue, es::Client& green, const std::string& id) {
  const std::string path = "/_ingest/pipeline/" + http::encode_path_segment(id);
  auto have = green.send({"GET", path});
  if (!have.is_ok()) return have.status().context("ingest pipeline '" + id + "' on green");
  if (have->status == 200) return Status::ok();
  auto src = blue.send({"GET", path});
  if (!src.is_ok()) return src.status().context("ingest pipeline '" + id + "' on blue");
  if (src->status == 404) {
    return Status(Code::kNotFound, "ingest pipeline '" + id +
                                       "' is referenced by blue's index settings but blue has "
                                       "no such pipeline");
  }
  if (src->status != 200) return blue.error_from(*src, "");
  json j = json::parse(src->body, nullptr, false);
  if (j.is_discarded() || !j.contains(id))
    return Status(Code::kProtocol, "ingest pipeline '" + id + "' on blue: unexpected answer");
  auto put = green.call("PUT", path, j[id]);
  if (!put.is_ok()) return put.status().context("copy ingest pipeline '" + id + "' to green");
  return Status::ok();
}

bool is_pattern(std::string_view name) {
  return name.find_first_of("*,") != std::string_view::npos || name == "_all";
}

bool glob_match(std::string_view p, std::string_view s) {
  // Iterative '*' matcher with backtracking to the last star.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool pattern_match(std::string_view patterns, std::string_view name) {
  bool matched = false;
  size_t pos = 0;
  while (pos <= patterns.size()) {
    size_t comma = patterns.find(',', pos);
    if (comma == std::string_view::npos) comma = patterns.size();
    std::string_view p = patterns.substr(pos, comma - pos);
    if (!p.empty() && p.front() == '-') {
      if (glob_match(p.substr(1), name)) matched = false;
    } else if (p == "_all" || glob_match(p, name)) {
      matched = true;
    }
    pos = comma + 1;
  }
  return matched;
}

namespace {

// "unknown setting [index.x]" / "private index setting [index.x] can not be
// set explicitly" -> "index.x".
std::optional<std::string> rejected_setting(const std::string& msg) {
  for (std::string_view marker : {"unknown setting [", "private index setting ["}) {
    auto at = msg.find(marker);
    if (at == std::string::npos) continue;
    auto start = at + marker.size();
    auto end = msg.find(']', start);
    if (end != std::string::npos) return msg.substr(start, end - start);
  }
  return std::nullopt;
}

}  // namespace

Status create_index_tolerant(es::Client& green, const IndexName& idx, json body,
                             std::vector<std::string>* notes, bool tolerant) {
  constexpr int kMaxDrops = 16;
  for (int attempt = 0;; ++attempt) {
    Status s = green.create_index(idx, body);
    if (s.is_ok()) return s;
    const std::string& m = s.message();
    if (m.find("resource_already_exists_exception") != std::string::npos) return Status::ok();
    auto key = rejected_setting(m);
    bool can_drop = tolerant && key && attempt < kMaxDrops && body.contains("settings") &&
                    body["settings"].is_object() && body["settings"].contains(*key);
    if (!can_drop) return s.context("create index '" + idx.get() + "' on green");
    body["settings"].erase(*key);
    if (notes) notes->push_back("dropped " + *key + " (rejected by " + green.label() + ")");
  }
}

Result<std::string> mapping_type_on(es::Client& c, const IndexName& idx) {
  const std::string path = "/" + http::encode_path_segment(idx.get()) + "/_mapping";
  auto own = c.call("GET", path);
  if (own.is_ok() && own->is_object() && own->contains(idx.get())) {
    const json& entry = (*own)[idx.get()];
    if (std::string t = typed_mapping_name(entry.value("mappings", json::object())); !t.empty()) {
      return t;
    }
  } else if (!own.is_ok() && own.status().code() != Code::kNotFound) {
    return own.status().context("mapping type of '" + idx.get() + "'");
  }
  TANDEM_ASSIGN_OR_RETURN(json templates, c.get_legacy_templates());
  for (auto it = templates.begin(); it != templates.end(); ++it) {
    const json& t = *it;
    if (!t.is_object() || !t.contains("index_patterns")) continue;
    bool matches = false;
    for (const auto& p : t["index_patterns"]) {
      if (p.is_string() && glob_match(p.get<std::string>(), idx.get())) matches = true;
    }
    if (!matches) continue;
    if (std::string n = typed_mapping_name(t.value("mappings", json::object())); !n.empty()) {
      return n;
    }
  }
  return std::string("_doc");
}

void keep_existing_formats(json& props, const json& existing) {
  if (!props.is_object() || !existing.is_object()) return;
  for (auto it = props.begin(); it != props.end(); ++it) {
    if (!it->is_object() || !existing.contains(it.key()) || !existing[it.key()].is_object()) {
      continue;
    }
    const json& have = existing[it.key()];
    if (have.contains("format") && it->contains("format")) (*it)["format"] = have["format"];
    if (it->contains("properties") && have.contains("properties")) {
      keep_existing_formats((*it)["properties"], have["properties"]);
    }
  }
}

Result<bool> index_exists(es::Client& c, const IndexName& idx) {
  auto r = c.call("GET", "/" + http::encode_path_segment(idx.get()) +
                             "/_settings/index.uuid?expand_wildcards=all");
  if (!r.is_ok()) {
    if (r.status().code() == Code::kNotFound) return false;
    return r.status();
  }
  // A name that is an alias resolves to other keys: not an index.
  return r->is_object() && r->contains(idx.get());
}

Result<json> alias_members(es::Client& c, const std::string& alias) {
  auto r = c.call("GET", "/_alias/" + http::encode_path_segment(alias) + "?expand_wildcards=all");
  if (!r.is_ok()) {
    if (r.status().code() == Code::kNotFound) return json::object();
    return r.status();
  }
  json out = json::object();
  if (!r->is_object()) return out;
  for (auto it = r->begin(); it != r->end(); ++it) {
    const json& al = (*it)["aliases"];
    if (al.is_object() && al.contains(alias)) out[it.key()] = al[alias];
  }
  return out;
}

Status sync_alias(es::Client& blue, es::Client& green, const std::string& alias) {
  TANDEM_ASSIGN_OR_RETURN(json b, alias_members(blue, alias));
  TANDEM_ASSIGN_OR_RETURN(json g, alias_members(green, alias));
  json actions = json::array();
  std::set<std::string> conflicts;
  for (auto it = g.begin(); it != g.end(); ++it) {
    if (b.contains(it.key())) continue;
    TANDEM_ASSIGN_OR_RETURN(bool on_blue, index_exists(blue, IndexName(it.key())));
    if (on_blue) {
      // Blue removed the alias from this index: follow.
      actions.push_back({{"remove", {{"index", it.key()}, {"alias", alias}}}});
    } else {
      conflicts.insert(it.key());
    }
  }
  if (!conflicts.empty()) {
    std::string names;
    for (const auto& n : conflicts) names += (names.empty() ? "" : ", ") + n;
    std::string blue_names;
    for (auto it = b.begin(); it != b.end(); ++it)
      blue_names += (blue_names.empty() ? "" : ", ") + it.key();
    return Status(Code::kConflict, "alias guard: alias '" + alias + "' on green also points at [" +
                                       names + "] which blue's does not (blue: [" + blue_names +
                                       "]); resolve by hand before cutover");
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    json props = transform_aliases(json{{alias, *it}})[alias];
    if (g.contains(it.key()) && transform_aliases(json{{alias, g[it.key()]}})[alias] == props) {
      continue;
    }
    TANDEM_ASSIGN_OR_RETURN(bool on_green, index_exists(green, IndexName(it.key())));
    if (!on_green) continue;  // added when ensure_index creates the index
    json add = props;
    add["index"] = it.key();
    add["alias"] = alias;
    actions.push_back({{"add", add}});
  }
  if (actions.empty()) return Status::ok();
  return green.update_aliases(actions).context("alias '" + alias + "'");
}

}  // namespace tandem::meta::detail
