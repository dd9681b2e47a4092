// Load tuning and finalize: the secondary runs with replicas 0 and refresh
// off while it is loaded (far fewer merges and no replica writes), and gets
// its real settings back afterwards.
//
// Record format under "meta.tuning.<index>" (JSON, written once; a second
// tune never overwrites the originals with already-tuned values):
//   {"number_of_replicas":"1"|null,"refresh_interval":"1s"|null}
// null means "was not set on the index" (the cluster default applies).
#include <fmt/format.h>

#include <string>
#include <vector>

#include "http/http.h"
#include "meta/internal.h"
#include "meta/meta.h"

namespace tandem::meta {

using nlohmann::json;

Status MemoryKeyValue::put(std::string_view key, std::string_view value) {
  m_[std::string(key)] = std::string(value);
  return Status::ok();
}

Result<std::optional<std::string>> MemoryKeyValue::get(std::string_view key) {
  auto it = m_.find(key);
  if (it == m_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

namespace {

std::string tuning_key(const IndexName& idx) {
  return "meta.tuning." + idx.get();
}

Result<json> flat_settings(es::Client& c, const IndexName& idx) {
  TANDEM_ASSIGN_OR_RETURN(json r, c.call("GET", "/" + http::encode_path_segment(idx.get()) +
                                                    "/_settings?flat_settings=true"));
  if (!r.is_object() || !r.contains(idx.get())) {
    return Status(Code::kProtocol, "cluster '" + c.label() + "' index '" + idx.get() +
                                       "': _settings answer does not name the index");
  }
  return detail::flatten_settings(r[idx.get()]["settings"]);
}

json value_or_null(const json& flat, const char* key) {
  return flat.contains(key) ? flat[key] : json();
}

}  // namespace

Status tune_for_load(es::Client& green, const std::vector<IndexName>& indices, KeyValue& kv) {
  for (const IndexName& idx : indices) {
    const std::string where = "load tuning of index '" + idx.get() + "'";
    TANDEM_ASSIGN_OR_RETURN(auto recorded, kv.get(tuning_key(idx)));
    if (!recorded) {
      auto flat = flat_settings(green, idx);
      if (!flat.is_ok()) return flat.status().context(where);
      json rec = {{"number_of_replicas", value_or_null(*flat, "index.number_of_replicas")},
                  {"refresh_interval", value_or_null(*flat, "index.refresh_interval")}};
      TANDEM_RETURN_IF_ERROR(kv.put(tuning_key(idx), rec.dump()).context(where));
    }
    json tuned = {{"index.number_of_replicas", "0"}, {"index.refresh_interval", "-1"}};
    TANDEM_RETURN_IF_ERROR(green.put_settings(idx, tuned).context(where));
  }
  return Status::ok();
}

Status finalize(es::Client& blue, es::Client& green, std::string_view pattern, KeyValue& kv) {
  TANDEM_ASSIGN_OR_RETURN(auto indices, green.indices(pattern.empty() ? "*" : pattern));
  for (const auto& st : indices) {
    const std::string where = "finalize index '" + st.index.get() + "'";
    TANDEM_ASSIGN_OR_RETURN(bool on_blue, detail::index_exists(blue, st.index));
    if (!on_blue) continue;  // not an index tandem migrated
    auto b = flat_settings(blue, st.index);
    if (!b.is_ok()) return b.status().context(where);
    TANDEM_ASSIGN_OR_RETURN(auto recorded, kv.get(tuning_key(st.index)));
    json rec = recorded ? json::parse(*recorded, nullptr, false) : json();
    if (recorded && (rec.is_discarded() || !rec.is_object())) {
      return Status(Code::kCorruption, where + ": recorded tuning is not JSON: " + *recorded);
    }
    json restore = json::object();
    // Replicas/refresh: what green had before tuning; without a record,
    // blue's values (null resets to the default).
    restore["index.number_of_replicas"] = rec.is_object() && !rec["number_of_replicas"].is_null()
                                              ? rec["number_of_replicas"]
                                              : value_or_null(*b, "index.number_of_replicas");
    restore["index.refresh_interval"] =
        rec.is_object() ? rec["refresh_interval"] : value_or_null(*b, "index.refresh_interval");
    // gc_deletes back to blue's (usually the 60s default).
    restore["index.gc_deletes"] = value_or_null(*b, "index.gc_deletes");
    TANDEM_RETURN_IF_ERROR(green.put_settings(st.index, restore).context(where));
    // Ingest pipelines held back during the migration (settings_transform):
    // copy the pipelines green lacks, then set them as blue has them.
    json pipelines = json::object();
    for (const char* k : {"index.default_pipeline", "index.final_pipeline"}) {
      json v = value_or_null(*b, k);
      if (v.is_string() && v != "_none" && !v.get<std::string>().empty()) {
        TANDEM_RETURN_IF_ERROR(
            detail::copy_pipeline(blue, green, v.get<std::string>()).context(where));
      }
      pipelines[k] = v;
    }
    TANDEM_RETURN_IF_ERROR(green.put_settings(st.index, pipelines).context(where));
    // Blocks last: a read_only block would refuse the settings call above.
    json blocks = json::object();
    for (auto& [k, v] : b->items()) {
      if (k.starts_with("index.blocks.")) blocks[k] = v;
    }
    if (!blocks.empty())
      TANDEM_RETURN_IF_ERROR(green.put_settings(st.index, blocks).context(where));
  }
  return Status::ok();
}

}  // namespace tandem::meta
