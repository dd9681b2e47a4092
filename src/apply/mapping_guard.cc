// Mappings before documents: the field paths a document uses, checked
// against the mapping last brought from the primary (apply.h, MappingGuard).
#include <simdjson.h>

#include <utility>

#include "apply/apply.h"
#include "core/scratch.h"

namespace tandem::apply {

using nlohmann::json;

namespace {

// Elasticsearch refuses documents nested deeper than 20 objects
// (index.mapping.depth.limit); a walk deeper than this is not a document
// the primary accepted with a dynamic mapping, so it stops there.
constexpr int kMaxDepth = 64;

bool is_opaque_type(const std::string& t) {
  // The whole value is one field: its keys are data, not mapped paths.
  return t == "flattened" || t == "flat_object";
}

std::string join(const std::string& prefix, std::string_view key) {
  std::string p;
  p.reserve(prefix.size() + 1 + key.size());
  p += prefix;
  if (!prefix.empty()) p += '.';
  p += key;
  return p;
}

using simdjson::ondemand::json_type;

// Does a value at an unmapped path make a dynamic mapping add a field?
// null, [] and [null, ...] do not; anything else does.
simdjson::error_code maps_something(simdjson::ondemand::value v, bool* out) {
  json_type t;
  if (auto err = v.type().get(t)) return err;
  if (t == json_type::null) {
    *out = false;
    return simdjson::SUCCESS;
  }
  if (t != json_type::array) {
    *out = true;
    return simdjson::SUCCESS;
  }
  simdjson::ondemand::array a;
  if (auto err = v.get_array().get(a)) return err;
  *out = false;
  for (auto el : a) {
    simdjson::ondemand::value e;
    if (auto err = el.get(e)) return err;
    bool m = false;
    if (auto err = maps_something(e, &m)) return err;
    if (m) {
      *out = true;
      return simdjson::SUCCESS;
    }
  }
  return simdjson::SUCCESS;
}

// `path` is the path of the value being walked: walk_object appends each
// key to it for the lookup and cuts it back, so a walk allocates nothing per
// field (docs/benchmarks.md, "Mappings before documents: the walk's cost").
simdjson::error_code walk_object(simdjson::ondemand::object o, std::string& path,
                                 const FieldMap& fields, std::vector<std::string>& out, size_t max,
                                 int depth);

// A value at the known object path `path`: an object is walked, an array
// walks each element at the same path (an array of objects).
simdjson::error_code walk_value(simdjson::ondemand::value v, std::string& path,
                                const FieldMap& fields, std::vector<std::string>& out, size_t max,
                                int depth) {
  if (depth > kMaxDepth) return simdjson::SUCCESS;
  json_type t;
  if (auto err = v.type().get(t)) return err;
  if (t == json_type::object) {
    simdjson::ondemand::object o;
    if (auto err = v.get_object().get(o)) return err;
    return walk_object(o, path, fields, out, max, depth + 1);
  }
  if (t == json_type::array) {
    simdjson::ondemand::array a;
    if (auto err = v.get_array().get(a)) return err;
    for (auto el : a) {
      if (out.size() >= max) return simdjson::SUCCESS;
      simdjson::ondemand::value e;
      if (auto err = el.get(e)) return err;
      if (auto err = walk_value(e, path, fields, out, max, depth + 1)) return err;
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code walk_object(simdjson::ondemand::object o, std::string& path,
                                 const FieldMap& fields, std::vector<std::string>& out, size_t max,
                                 int depth) {
  const size_t base = path.size();
  for (auto f : o) {
    if (out.size() >= max) break;
    std::string_view key;
    if (auto err = f.unescaped_key().get(key)) return err;
    // A dotted key ("a.b": 1) is the path a.b, as Elasticsearch expands it.
    path.resize(base);
    if (base > 0) path += '.';
    path += key;
    simdjson::ondemand::value v;
    if (auto err = f.value().get(v)) return err;
    const FieldMap::Kind* k = fields.find(path);
    if (k == nullptr) {
      bool m = false;
      if (auto err = maps_something(v, &m)) return err;
      if (m) out.push_back(path);
      continue;
    }
    if (*k != FieldMap::Kind::kObject) continue;  // leaf / opaque: nothing below is a path
    if (auto err = walk_value(v, path, fields, out, max, depth)) return err;
  }
  path.resize(base);
  return simdjson::SUCCESS;
}

}  // namespace

FieldMap::FieldMap(const json& mappings) {
  if (!mappings.is_object()) return;
  const json* m = &mappings;
  // A 6.x typed mapping: {"_doc": {"properties": ...}}.
  if (!m->contains("properties") && m->size() == 1 && m->begin().value().is_object() &&
      m->begin().value().contains("properties")) {
    m = &m->begin().value();
  }
  if (m->contains("properties")) add((*m)["properties"], "", 0);
  if (m->contains("runtime") && (*m)["runtime"].is_object()) {
    for (const auto& [name, def] : (*m)["runtime"].items()) paths_[name] = Kind::kLeaf;
  }
}

void FieldMap::add(const json& properties, const std::string& prefix, int depth) {
  if (!properties.is_object() || depth > kMaxDepth) return;
  for (const auto& [name, def] : properties.items()) {
    std::string path = join(prefix, name);
    if (!def.is_object()) {
      paths_[path] = Kind::kLeaf;
      continue;
    }
    const std::string type =
        def.contains("type") && def["type"].is_string() ? def["type"].get<std::string>() : "";
    const bool object = type.empty() || type == "object" || type == "nested";
    if (!object) {
      paths_[path] = is_opaque_type(type) ? Kind::kOpaque : Kind::kLeaf;
      continue;
    }
    if (def.contains("enabled") && def["enabled"].is_boolean() && !def["enabled"].get<bool>()) {
      paths_[path] = Kind::kOpaque;
      continue;
    }
    paths_[path] = Kind::kObject;
    if (def.contains("properties")) add(def["properties"], path, depth + 1);
  }
}

const FieldMap::Kind* FieldMap::find(std::string_view path) const {
  auto it = paths_.find(path);
  return it == paths_.end() ? nullptr : &it->second;
}

Result<std::vector<std::string>> unmapped_paths(std::string_view source, const FieldMap& fields,
                                                size_t max) {
  // One parser, padded copy and path per thread, kept between documents
  // (every indexed document of every bulk passes here) up to the scratch
  // bound (core/scratch.h).
  thread_local simdjson::ondemand::parser parser;
  thread_local std::string padded;
  thread_local std::string path;
  const ScratchBound keep_padded(padded);
  const ScratchBound keep_parser(parser);
  const size_t readable = padded_copy(padded, source, simdjson::SIMDJSON_PADDING);
  path.clear();
  std::vector<std::string> out;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object o;
  auto err = parser.iterate(padded.data(), source.size(), readable).get(doc);
  if (!err) err = doc.get_object().get(o);
  if (!err) err = walk_object(o, path, fields, out, max, 0);
  if (err) {
    return Status(Code::kInvalidArgument, std::string("document source is not a JSON object: ") +
                                              simdjson::error_message(err));
  }
  return out;
}

MappingGuard::MappingGuard(Sync sync, std::chrono::milliseconds min_interval)
    : sync_(std::move(sync)), min_interval_(min_interval) {}

std::shared_ptr<const MappingGuard::Entry> MappingGuard::entry(const std::string& idx) const {
  MutexLock g(mu_);
  auto it = entries_.find(idx);
  return it == entries_.end() ? nullptr : it->second;
}

void MappingGuard::forget() {
  MutexLock g(mu_);
  entries_.clear();
}

Result<std::shared_ptr<const MappingGuard::Entry>> MappingGuard::sync_locked(
    const IndexName& idx, const std::shared_ptr<const Entry>& old,
    const std::vector<std::string>& seen) {
  auto m = sync_(idx);
  if (!m.is_ok()) return m.status();
  ++syncs_;
  auto e = std::make_shared<Entry>();
  e->fields = FieldMap(*m);
  e->synced = std::chrono::steady_clock::now();
  // Paths documents used that the primary does not map either: remembered
  // (bounded) so they do not make every bulk read the primary's mapping.
  constexpr size_t kMaxUnmapped = 10000;
  auto keep = [&](const std::string& p) {
    if (e->unmapped.size() < kMaxUnmapped && e->fields.find(p) == nullptr) e->unmapped.insert(p);
  };
  if (old) {
    for (const auto& p : old->unmapped) keep(p);
  }
  for (const auto& p : seen) keep(p);
  std::shared_ptr<const Entry> out = std::move(e);
  MutexLock g(mu_);
  entries_[idx.get()] = out;
  return out;
}

Status MappingGuard::cover(const IndexName& idx, const std::vector<std::string_view>& sources) {
  auto e = entry(idx.get());
  static const FieldMap kEmpty;
  auto now = std::chrono::steady_clock::now();
  // Which paths call for a sync: one not in the mapping last brought over,
  // unless it was already unmapped on the primary at a recent sync.
  auto needs_sync = [&](const std::shared_ptr<const Entry>& en, std::vector<std::string>* seen) {
    bool need = false;
    for (std::string_view src : sources) {
      auto paths = unmapped_paths(src, en ? en->fields : kEmpty);
      if (!paths.is_ok()) continue;  // not an object: the secondary will say why
      for (auto& p : *paths) {
        if (en && en->unmapped.count(p) && now - en->synced < min_interval_) continue;
        need = true;
        if (seen) seen->push_back(std::move(p));
      }
      if (need && !seen) return true;
    }
    return need;
  };
  if (!needs_sync(e, nullptr)) return Status::ok();
  MutexLock g(sync_mu_);
  // Another bulk may have synced while this one waited.
  auto cur = entry(idx.get());
  std::vector<std::string> seen;
  if (cur != e && !needs_sync(cur, nullptr)) return Status::ok();
  if (auto f = last_failure_.find(idx.get());
      f != last_failure_.end() && now - f->second < min_interval_) {
    return Status::ok();  // failed for good recently: the documents go as they are
  }
  (void)needs_sync(cur, &seen);
  auto r = sync_locked(idx, cur, seen);
  if (r.is_ok() || r.status().code() == Code::kNotFound) return Status::ok();
  if (!is_retryable(r.status())) last_failure_[idx.get()] = std::chrono::steady_clock::now();
  return r.status();
}

Status MappingGuard::heal(const IndexName& idx) {
  MutexLock g(sync_mu_);
  const auto now = std::chrono::steady_clock::now();
  auto [it, first] = last_heal_.emplace(idx.get(), now);
  if (!first) {
    if (now - it->second < min_interval_) return Status::ok();
    it->second = now;
  }
  auto r = sync_locked(idx, entry(idx.get()), {});
  if (!r.is_ok() && r.status().code() == Code::kNotFound) return Status::ok();
  return r.status();
}

}  // namespace tandem::apply
