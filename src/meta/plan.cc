// Plan and apply: templates first (component, composable, legacy) so that
// indices created afterwards see them, then indices, then aliases.
#include <fmt/format.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "http/http.h"
#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {

using nlohmann::json;

std::string_view action_name(ActionKind k) {
  switch (k) {
    case ActionKind::kPutComponentTemplate:
      return "put component template";
    case ActionKind::kPutIndexTemplate:
      return "put index template";
    case ActionKind::kPutLegacyTemplate:
      return "put legacy template";
    case ActionKind::kCreateIndex:
      return "create index";
    case ActionKind::kAddAlias:
      return "add alias";
    case ActionKind::kRemoveAlias:
      return "remove alias";
  }
  return "?";
}

size_t Plan::changes() const {
  size_t n = 0;
  for (const auto& a : actions) n += a.noop ? 0 : 1;
  return n;
}

namespace detail {

Result<std::optional<json>> fetch_template(es::Client& c, std::string_view kind,
                                           const std::string& name) {
  auto r = c.call("GET", "/" + std::string(kind) + "/" + http::encode_path_segment(name));
  if (!r.is_ok()) {
    if (r.status().code() == Code::kNotFound) return std::optional<json>();
    return r.status();
  }
  if (kind == "_template") {
    if (r->is_object() && r->contains(name)) return std::optional<json>((*r)[name]);
    return std::optional<json>();
  }
  const char* list = kind == "_index_template" ? "index_templates" : "component_templates";
  const char* item = kind == "_index_template" ? "index_template" : "component_template";
  if (r->contains(list) && (*r)[list].is_array()) {
    for (const auto& e : (*r)[list]) {
      if (e.value("name", "") == name && e.contains(item)) return std::optional<json>(e[item]);
    }
  }
  return std::optional<json>();
}

Result<Transformed> transform_template(std::string_view kind, const json& body,
                                       const Target& target) {
  if (kind == "_template") return transform_legacy_template(body, target);
  if (kind == "_index_template") return transform_index_template(body, target);
  return transform_component_template(body, target);
}

Status put_template(es::Client& blue, es::Client& green, std::string_view kind,
                    const std::string& name, const json& blue_body,
                    std::vector<std::string>* notes) {
  Target to(green.info(), blue.info());
  if (to.typed() && kind == "_template") {
    // 6.x: a template green already has keeps its own type name, so the
    // indices it creates keep theirs.
    TANDEM_ASSIGN_OR_RETURN(auto have, fetch_template(green, kind, name));
    if (have) {
      if (std::string n = typed_mapping_name(have->value("mappings", json::object())); !n.empty())
        to.mapping_type = n;
    }
  }
  auto t = transform_template(kind, blue_body, to);
  if (!t.is_ok()) return t.status().context("template '" + name + "'");
  if (notes) notes->insert(notes->end(), t->notes.begin(), t->notes.end());
  if (kind == "_template") return green.put_legacy_template(name, t->body);
  if (kind == "_index_template") return green.put_index_template(name, t->body);
  return green.put_component_template(name, t->body);
}

}  // namespace detail

namespace {

bool is_managed_template(const std::string& name, const json& body) {
  if (!name.empty() && name.front() == '.') return true;
  const json* meta = body.contains("_meta") ? &body["_meta"] : nullptr;
  return meta && meta->is_object() && meta->value("managed", false) == true;
}

Status plan_templates(es::Client& blue, es::Client& green, const PlanOptions& opts,
                      std::string_view kind, ActionKind action, Plan& plan) {
  Result<json> b = kind == "_template"         ? blue.get_legacy_templates()
                   : kind == "_index_template" ? blue.get_index_templates()
                                               : blue.get_component_templates();
  if (!b.is_ok()) return b.status();
  Result<json> g = kind == "_template"         ? green.get_legacy_templates()
                   : kind == "_index_template" ? green.get_index_templates()
                                               : green.get_component_templates();
  if (!g.is_ok()) return g.status();
  const Target v(green.info(), blue.info());
  for (auto& [name, body] : b->items()) {
    if (is_managed_template(name, body) || !detail::pattern_match(opts.template_pattern, name)) {
      continue;
    }
    auto t = detail::transform_template(kind, body, v);
    if (!t.is_ok()) return t.status().context("template '" + name + "'");
    Action a{action, name, "", t->body, false, "", t->notes};
    if (g->contains(name)) {
      auto gt = detail::transform_template(kind, (*g)[name], v);
      a.noop = gt.is_ok() && gt->body == t->body;
      a.detail = a.noop ? "already identical" : "differs on green; will be overwritten";
    }
    plan.actions.push_back(std::move(a));
  }
  return Status::ok();
}

// How an existing green index differs from blue's (transformed) metadata,
// ignoring the settings tandem manages. Empty when equivalent.
std::string index_differences(const json& want, const json& green_meta, const Target& v) {
  std::vector<std::string> diffs;
  auto gm =
      transform_mappings(green_meta.contains("mappings") ? green_meta["mappings"] : json(), v);
  json wm = want.contains("mappings") ? want["mappings"] : json::object();
  if (!gm.is_ok() || gm->body != wm) diffs.push_back("mappings");
  json gs =
      detail::flatten_settings(green_meta.contains("settings") ? green_meta["settings"] : json());
  if (want.contains("settings")) {
    for (auto& [k, val] : want["settings"].items()) {
      if (detail::is_managed_setting(k)) continue;
      if (!gs.contains(k) || gs[k] != val) {
        diffs.push_back(fmt::format("setting {} (blue {}, green {})", k, val.dump(),
                                    gs.contains(k) ? gs[k].dump() : "unset"));
      }
    }
  }
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d;
  return out;
}

Status plan_aliases(es::Client& blue, es::Client& green, const std::set<std::string>& aliases,
                    const std::set<std::string>& planned_indices, Plan& plan) {
  for (const std::string& alias : aliases) {
    TANDEM_ASSIGN_OR_RETURN(json b, detail::alias_members(blue, alias));
    TANDEM_ASSIGN_OR_RETURN(json g, detail::alias_members(green, alias));
    // An alias with a conflict gets no actions at all: the guard never
    // makes green's alias "more right" while it resolves differently.
    std::vector<Action> mine;
    size_t conflicts_before = plan.conflicts.size();
    for (auto& [idx, props] : g.items()) {
      if (b.contains(idx)) continue;
      TANDEM_ASSIGN_OR_RETURN(bool on_blue, detail::index_exists(blue, IndexName(idx)));
      if (!on_blue) {
        plan.conflicts.push_back(fmt::format(
            "alias '{}' on green points at '{}', which blue's alias does not (and blue has no "
            "such index)",
            alias, idx));
      } else {
        mine.push_back({ActionKind::kRemoveAlias,
                        alias,
                        idx,
                        json::object(),
                        false,
                        "blue no longer has it on this index",
                        {}});
      }
    }
    for (auto& [idx, props] : b.items()) {
      json want = transform_aliases(json{{alias, props}})[alias];
      bool will_exist = planned_indices.count(idx) > 0;
      if (!will_exist) {
        TANDEM_ASSIGN_OR_RETURN(will_exist, detail::index_exists(green, IndexName(idx)));
      }
      if (!will_exist) {
        plan.conflicts.push_back(fmt::format(
            "alias '{}' on blue also points at '{}', which is outside the plan and missing on "
            "green",
            alias, idx));
        continue;
      }
      Action a{ActionKind::kAddAlias, alias, idx, want, false, "", {}};
      if (g.contains(idx) && transform_aliases(json{{alias, g[idx]}})[alias] == want) {
        a.noop = true;
        a.detail = "already identical";
      }
      mine.push_back(std::move(a));
    }
    if (plan.conflicts.size() == conflicts_before) {
      for (auto& a : mine) plan.actions.push_back(std::move(a));
    }
  }
  return Status::ok();
}

}  // namespace

Result<Plan> make_plan(es::Client& blue, es::Client& green, const PlanOptions& opts) {
  TANDEM_RETURN_IF_ERROR(check_pair(blue.info(), green.info()));
  Plan plan;
  if (opts.templates) {
    TANDEM_RETURN_IF_ERROR(plan_templates(blue, green, opts, "_component_template",
                                          ActionKind::kPutComponentTemplate, plan));
    TANDEM_RETURN_IF_ERROR(
        plan_templates(blue, green, opts, "_index_template", ActionKind::kPutIndexTemplate, plan));
    TANDEM_RETURN_IF_ERROR(
        plan_templates(blue, green, opts, "_template", ActionKind::kPutLegacyTemplate, plan));
  }
  TANDEM_ASSIGN_OR_RETURN(auto indices, blue.indices(opts.index_pattern));
  const Target v(green.info(), blue.info());
  std::set<std::string> aliases, planned;
  for (const auto& st : indices) {
    TANDEM_ASSIGN_OR_RETURN(json meta, blue.get_index(st.index));
    auto t = transform_index(meta, v);
    if (!t.is_ok()) return t.status().context("index '" + st.index.get() + "'");
    json body = t->body;
    if (body.contains("aliases")) {
      for (auto& [a, _] : body["aliases"].items()) aliases.insert(a);
      body.erase("aliases");
    }
    Action a{ActionKind::kCreateIndex, st.index.get(), "", body, false, "", t->notes};
    if (st.status == "close") a.notes.push_back("closed on blue; created open on green");
    TANDEM_ASSIGN_OR_RETURN(bool exists, detail::index_exists(green, st.index));
    if (exists) {
      TANDEM_ASSIGN_OR_RETURN(json gmeta, green.get_index(st.index));
      std::string d = index_differences(body, gmeta, v);
      a.noop = true;
      a.detail = d.empty() ? "already identical" : "exists on green; differs: " + d;
    } else {
      planned.insert(st.index.get());
    }
    plan.actions.push_back(std::move(a));
  }
  TANDEM_RETURN_IF_ERROR(plan_aliases(blue, green, aliases, planned, plan));
  return plan;
}

Status apply_plan(es::Client& green, const Plan& plan, const MigrationOptions& opts) {
  const auto& acts = plan.actions;
  for (size_t i = 0; i < acts.size(); ++i) {
    const Action& a = acts[i];
    if (a.noop) continue;
    switch (a.kind) {
      case ActionKind::kPutComponentTemplate:
        TANDEM_RETURN_IF_ERROR(green.put_component_template(a.name, a.body));
        break;
      case ActionKind::kPutIndexTemplate:
        TANDEM_RETURN_IF_ERROR(green.put_index_template(a.name, a.body));
        break;
      case ActionKind::kPutLegacyTemplate:
        TANDEM_RETURN_IF_ERROR(green.put_legacy_template(a.name, a.body));
        break;
      case ActionKind::kCreateIndex: {
        json body = a.body;
        detail::add_migration_settings(body, opts.gc_deletes);
        TANDEM_RETURN_IF_ERROR(
            detail::create_index_tolerant(green, IndexName(a.name), std::move(body), nullptr));
        break;
      }
      case ActionKind::kAddAlias:
      case ActionKind::kRemoveAlias: {
        // Every action of this alias, in one atomic request.
        auto same_alias = [&](const Action& b) {
          return (b.kind == ActionKind::kAddAlias || b.kind == ActionKind::kRemoveAlias) &&
                 b.name == a.name;
        };
        size_t start = i;
        while (start > 0 && same_alias(acts[start - 1])) --start;
        json actions = json::array();
        for (size_t j = start; j < acts.size(); ++j) {
          const Action& b = acts[j];
          if (!same_alias(b)) break;
          i = j;
          if (b.kind == ActionKind::kRemoveAlias) {
            actions.push_back({{"remove", {{"index", b.index}, {"alias", b.name}}}});
          } else {
            // Re-send unchanged members too: a write index moving from one
            // member to another must be stated for both in one request.
            json add = b.body;
            add["index"] = b.index;
            add["alias"] = b.name;
            actions.push_back({{"add", add}});
          }
        }
        TANDEM_RETURN_IF_ERROR(green.update_aliases(actions).context("alias '" + a.name + "'"));
        break;
      }
    }
  }
  if (!plan.conflicts.empty()) {
    std::string msg = fmt::format("{} alias conflict(s), not applied:", plan.conflicts.size());
    for (const auto& c : plan.conflicts) msg += "\n  " + c;
    return Status(Code::kConflict, msg);
  }
  return Status::ok();
}

std::string render_plan(const Plan& plan) {
  std::string out;
  size_t same = 0;
  for (const auto& a : plan.actions) {
    std::string target = a.kind == ActionKind::kAddAlias || a.kind == ActionKind::kRemoveAlias
                             ? a.name + " -> " + a.index
                             : a.name;
    if (a.kind == ActionKind::kAddAlias && a.body.value("is_write_index", false)) {
      target += " (write index)";
    }
    out += fmt::format("{} {} {}{}\n", a.noop ? "=" : "+", action_name(a.kind), target,
                       a.detail.empty() ? "" : ": " + a.detail);
    for (const auto& n : a.notes) out += "    note: " + n + "\n";
    same += a.noop ? 1 : 0;
  }
  for (const auto& c : plan.conflicts) out += "! conflict: " + c + "\n";
  out += fmt::format("{} change(s), {} already identical, {} conflict(s)\n", plan.changes(), same,
                     plan.conflicts.size());
  return out;
}

}  // namespace tandem::meta
