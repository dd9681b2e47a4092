// apply_meta_event: replays one captured metadata write on the secondary.
//
// Strategy per kind of write (why: events are applied in log order, but the
// request alone is not always enough -- an index create picks up blue's
// templates, a 6.x typed mapping needs blue's canonical form):
//   index create         ensure_index from blue's current metadata
//   index delete         delete the named indices on green (a pattern only
//                        deletes green indices blue no longer has)
//   _open / _close       same request on green
//   _mapping             blue's current mapping of the target -> green
//   _settings            request body, transformed, same target on green
//   _alias(es)           every touched alias synced from blue (alias guard)
//   templates            blue's current template (or delete) -> green
#include <set>
#include <string>
#include <vector>

#include "http/http.h"
#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {

using nlohmann::json;

namespace {

std::string enc(const std::string& s) {
  return http::encode_path_segment(s);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t c = s.find(',', pos);
    if (c == std::string::npos) c = s.size();
    if (c > pos) out.push_back(s.substr(pos, c - pos));
    pos = c + 1;
  }
  return out;
}

Status ignore_not_found(Status s) {
  return s.code() == Code::kNotFound ? Status::ok() : s;
}

Status delete_indices(es::Client& blue, es::Client& green, const std::string& names) {
  for (const std::string& n : split_commas(names)) {
    if (!detail::is_pattern(n)) {
      TANDEM_RETURN_IF_ERROR(ignore_not_found(green.delete_index(IndexName(n))));
      continue;
    }
    // A pattern may match green-only indices; only follow deletions blue made.
    TANDEM_ASSIGN_OR_RETURN(auto stats, green.indices(n));
    for (const auto& st : stats) {
      TANDEM_ASSIGN_OR_RETURN(bool on_blue, detail::index_exists(blue, st.index));
      if (!on_blue) TANDEM_RETURN_IF_ERROR(ignore_not_found(green.delete_index(st.index)));
    }
  }
  return Status::ok();
}

// Alias names touched, with wildcards expanded over both clusters.
Result<std::set<std::string>> expand_aliases(es::Client& blue, es::Client& green,
                                             const std::vector<std::string>& names) {
  std::set<std::string> out;
  for (const std::string& n : names) {
    if (!detail::is_pattern(n)) {
      out.insert(n);
      continue;
    }
    for (es::Client* c : {&blue, &green}) {
      auto r = c->call("GET", "/_alias/" + enc(n));
      if (!r.is_ok()) {
        if (r.status().code() == Code::kNotFound) continue;
        return r.status();
      }
      for (auto& [idx, v] : r->items()) {
        if (!v.contains("aliases")) continue;
        for (auto& [a, props] : v["aliases"].items()) {
          if (detail::pattern_match(n, a)) out.insert(a);
        }
      }
    }
  }
  return out;
}

std::vector<std::string> names_of(const json& j) {
  std::vector<std::string> out;
  if (j.is_string()) {
    for (auto& n : split_commas(j.get<std::string>())) out.push_back(n);
  } else if (j.is_array()) {
    for (const auto& e : j) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

Status apply_alias_actions(es::Client& blue, es::Client& green, const json& body) {
  std::vector<std::string> aliases;
  if (!body.is_object() || !body.contains("actions") || !body["actions"].is_array()) {
    return Status(Code::kInvalidArgument, "_aliases body has no actions array");
  }
  for (const auto& a : body["actions"]) {
    if (!a.is_object() || a.empty()) continue;
    const std::string op = a.begin().key();
    const json& spec = a.begin().value();
    if (op == "remove_index") {
      for (const char* k : {"index", "indices"}) {
        if (!spec.contains(k)) continue;
        for (const auto& n : names_of(spec[k]))
          TANDEM_RETURN_IF_ERROR(delete_indices(blue, green, n));
      }
      continue;
    }
    for (const char* k : {"alias", "aliases"}) {
      if (spec.contains(k)) {
        for (auto& n : names_of(spec[k])) aliases.push_back(n);
      }
    }
  }
  TANDEM_ASSIGN_OR_RETURN(auto names, expand_aliases(blue, green, aliases));
  for (const auto& n : names) TANDEM_RETURN_IF_ERROR(detail::sync_alias(blue, green, n));
  return Status::ok();
}

// One index's entry of blue's GET _mapping answer ({"mappings":{...}})
// onto green: the transformed mapping is put (a no-op where green has it),
// or the index is created from blue's metadata when green lacks it.
// Returns the mapping as green was given it.
Result<json> put_blue_mapping(es::Client& blue, es::Client& green, const IndexName& idx,
                              const json& entry, const MigrationOptions& opts) {
  const std::string& i = idx.get();
  TANDEM_ASSIGN_OR_RETURN(bool on_green, detail::index_exists(green, idx));
  Target to(green.info(), blue.info());
  if (!on_green) {
    auto t = transform_mappings(
        entry.is_object() && entry.contains("mappings") ? entry["mappings"] : json::object(), to);
    if (!t.is_ok()) return t.status().context("index '" + i + "'");
    TANDEM_RETURN_IF_ERROR(ensure_index(blue, green, idx, opts));
    return std::move(t->body);
  }
  std::string path = "/" + enc(i) + "/_mapping";
  if (to.typed()) {
    // 6.x: the mapping goes under the index's own type (e.g. "product"
    // from the forward move), named in the path: 6.8 refuses a typeless
    // PUT _mapping ("mapping type is missing").
    auto type = detail::mapping_type_on(green, idx);
    if (!type.is_ok()) return type.status().context("index '" + i + "'");
    to.mapping_type = *type;
    path += "/" + enc(to.mapping_type);
  }
  auto t = transform_mappings(
      entry.is_object() && entry.contains("mappings") ? entry["mappings"] : json::object(), to);
  if (!t.is_ok()) return t.status().context("index '" + i + "'");
  if (t->body.empty()) return json::object();
  if (to.older_than_source()) {
    // Fields the older side already has keep the format it wrote.
    auto have = green.call("GET", "/" + enc(i) + "/_mapping");
    if (!have.is_ok()) return have.status().context("index '" + i + "'");
    json hm =
        have->is_object() && have->contains(i) ? (*have)[i].value("mappings", json()) : json();
    json* body = &t->body;
    if (to.typed()) {
      hm = hm.is_object() && hm.contains(to.mapping_type) ? hm[to.mapping_type] : json();
      body = &t->body[to.mapping_type];
    }
    if (body->contains("properties") && hm.is_object() && hm.contains("properties")) {
      detail::keep_existing_formats((*body)["properties"], hm["properties"]);
    }
  }
  auto r = green.call("PUT", path, t->body);
  if (!r.is_ok()) return r.status().context("put mapping of index '" + i + "'");
  return std::move(t->body);
}

// Blue's current mapping of `target` onto green, index by index.
Status sync_mappings(es::Client& blue, es::Client& green, const std::string& target,
                     const MigrationOptions& opts) {
  TANDEM_ASSIGN_OR_RETURN(json m, blue.call("GET", "/" + enc(target) + "/_mapping"));
  for (auto& [idx, v] : m.items()) {
    auto r = put_blue_mapping(blue, green, IndexName(idx), v, opts);
    if (!r.is_ok()) return r.status();
  }
  return Status::ok();
}

Status replay_settings(es::Client& blue, es::Client& green, const std::string& target,
                       const std::string& query, const json& body, const MigrationOptions& opts) {
  json settings = body.is_object() && body.contains("settings") ? body["settings"] : body;
  const Target to(green.info(), blue.info());
  Transformed t = transform_settings(settings, to);
  json out = json::object();
  for (auto& [k, v] : t.body.items()) {
    if (!detail::is_managed_setting(k) || k == "index.number_of_replicas" ||
        k == "index.refresh_interval") {
      out[k] = v;
    }
  }
  if (out.empty()) return Status::ok();
  // A setting the target cannot express (an 8.x-only setting replayed into
  // 7.x by the reverse loader) is refused here, naming cluster, index and
  // key, rather than sent for the target's own, vaguer refusal.
  if (std::string why = settings_refusal(out, to); !why.empty()) {
    return Status(Code::kInvalidArgument,
                  "cluster '" + green.label() + "'" +
                      (target.empty() ? std::string() : " index '" + target + "'") + ": " + why);
  }
  std::string path = (target.empty() ? std::string() : "/" + enc(target)) + "/_settings";
  if (!query.empty()) path += "?" + query;
  auto r = green.call("PUT", path, out);
  if (r.is_ok()) return Status::ok();
  if (r.status().code() == Code::kNotFound && !target.empty() && !detail::is_pattern(target)) {
    // Not on green yet: creating it copies blue's current settings.
    return ensure_index(blue, green, IndexName(target), opts);
  }
  return r.status().context("put settings");
}

Status open_close(es::Client& blue, es::Client& green, const std::string& target,
                  const std::string& verb, const MigrationOptions& opts) {
  auto r = green.call("POST", "/" + enc(target) + "/" + verb);
  if (r.is_ok()) return Status::ok();
  if (r.status().code() != Code::kNotFound || detail::is_pattern(target)) return r.status();
  if (verb == "_close") return Status::ok();
  return ensure_index(blue, green, IndexName(target), opts);
}

Status templates(es::Client& blue, es::Client& green, const std::string& method,
                 const std::string& kind, const std::string& name) {
  std::string path = "/" + kind + "/" + enc(name);
  if (method == "DELETE") return ignore_not_found(green.call("DELETE", path).status());
  TANDEM_ASSIGN_OR_RETURN(auto current, detail::fetch_template(blue, kind, name));
  if (!current) return Status::ok();  // deleted on blue since; its delete event follows
  return detail::put_template(blue, green, kind, name, *current, nullptr);
}

}  // namespace

Status apply_meta_event(es::Client& blue, es::Client& green, std::string_view meta_json,
                        const MigrationOptions& opts) {
  json ev = json::parse(meta_json, nullptr, false);
  if (ev.is_discarded() || !ev.is_object() || !ev.contains("method") || !ev.contains("path") ||
      !ev["method"].is_string() || !ev["path"].is_string()) {
    return Status(Code::kInvalidArgument, "meta event is not {\"method\",\"path\",...} JSON");
  }
  const std::string method = ev["method"].get<std::string>();
  const std::string path = ev["path"].get<std::string>();
  int status = ev.contains("status") && ev["status"].is_number() ? ev["status"].get<int>() : 200;
  if (status < 200 || status >= 300) return Status::ok();  // blue did not apply it
  json body = ev.contains("body") ? ev["body"] : json();
  if (body.is_string()) body = json::parse(body.get<std::string>(), nullptr, false);
  if (body.is_discarded()) body = json();
  // What the path means is es::parse_rest_path's answer, the one parser of
  // ES paths (the proxy captured this event because the same parser called
  // it a metadata write).
  const es::RestPath rp = es::parse_rest_path(method, path);
  const std::string query(http::split_target(path).query);
  const std::string what = "meta event " + method + " " + path;
  auto unsupported = [&] {
    return Status(Code::kInvalidArgument, what + ": not a metadata write tandem replays");
  };
  if (rp.kind != es::RestKind::kMetaWrite) return unsupported();
  const std::string& ep = rp.endpoint;
  const std::string index = rp.index ? rp.index->get() : std::string();
  Status s;
  if (ep == "aliases") {
    s = apply_alias_actions(blue, green, body);
  } else if ((ep == "template" || ep == "index_template" || ep == "component_template") &&
             rp.name) {
    s = templates(blue, green, method, "_" + ep, *rp.name);
  } else if (ep == "settings" && !rp.index) {
    s = replay_settings(blue, green, "", query, body, opts);
  } else if (index.empty() || index.starts_with("_")) {
    // Cluster-wide forms (_alias/{n}, _mapping/{t}, _open) and `_all`:
    // never replayed on green by name.
    return unsupported();
  } else if (ep == "index.delete") {
    s = delete_indices(blue, green, index);
  } else if (ep == "index.create") {
    // The answer names the concrete index (date math resolved).
    const json& resp = ev.contains("response") ? ev["response"] : json();
    std::string name = resp.is_object() && resp.contains("index") && resp["index"].is_string()
                           ? resp["index"].get<std::string>()
                           : index;
    s = ensure_index(blue, green, IndexName(name), opts);
    if (s.code() == Code::kNotFound) s = Status::ok();  // deleted since; its event follows
  } else if (ep == "index.open" || ep == "index.close") {
    s = open_close(blue, green, index, ep == "index.open" ? "_open" : "_close", opts);
  } else if (ep == "mapping") {
    s = sync_mappings(blue, green, index, opts);
  } else if (ep == "settings") {
    s = replay_settings(blue, green, index, query, body, opts);
  } else if (ep == "alias" && rp.name) {
    std::vector<std::string> names = split_commas(*rp.name);
    auto expanded = expand_aliases(blue, green, names);
    if (!expanded.is_ok()) return expanded.status().context(what);
    for (const auto& n : *expanded) {
      s = detail::sync_alias(blue, green, n);
      if (!s.is_ok()) break;
    }
  } else {
    return unsupported();
  }
  return s.is_ok() ? s : s.context(what);
}

Result<json> sync_index_mapping(es::Client& blue, es::Client& green, const IndexName& idx,
                                const MigrationOptions& opts) {
  auto m = blue.call("GET", "/" + enc(idx.get()) + "/_mapping");
  if (!m.is_ok()) return m.status().context("reading the mapping of index '" + idx.get() + "'");
  // The answer is keyed by the concrete index (an alias would name others).
  if (!m->is_object() || !m->contains(idx.get())) {
    return Status(Code::kNotFound,
                  "cluster '" + blue.label() + "' has no index '" + idx.get() + "'");
  }
  return put_blue_mapping(blue, green, idx, (*m)[idx.get()], opts);
}

}  // namespace tandem::meta
