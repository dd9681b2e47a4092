// Test doubles for the loader: an in-memory secondary that implements
// external versioning like Elasticsearch, with injectable failures, and an
// in-memory log consumer. No network.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apply/apply.h"
#include "log/log.h"

namespace tandem::apply::testing {

struct FakeDoc {
  bool exists = false;  // false: tombstone
  uint64_t version = 0;
  std::string source;
};

class FakeSink : public Sink {
 public:
  // Per item: return a status to inject instead of applying, or 0.
  std::function<int(const std::string& index, const std::string& id)> inject_item;
  // Per request: an error to return instead of answering, or ok.
  std::function<Status()> inject_request;
  std::set<std::string> missing_indices;    // answer index_not_found until ensured
  std::set<std::string> primary_missing;    // ensure_index answers kNotFound
  std::set<std::string> strict_long_field;  // "index": source with "n":"str" is rejected
  std::map<std::string, FakeDoc> primary;   // key index/id: what mget_primary returns
  std::vector<std::string> meta_applied;

  // Mappings, top-level fields only (index -> field -> type). The
  // secondary maps a field it was not given from the primary by its own
  // guess from the first value it sees (long for 5, float for 5.5), as a
  // dynamic mapping does, or refuses it in a strict index.
  std::map<std::string, std::map<std::string, std::string>> primary_fields;
  std::set<std::string> strict_indices;
  // Use a real MappingGuard over these maps for cover_fields/heal_mapping
  // (off: the Sink defaults, nothing done). `guard_cover` false keeps only
  // the heal, as a sink that does not check documents before writing.
  bool guard_mappings = false;
  bool guard_cover = true;
  MappingGuard guard{[this](const IndexName& idx) { return sync_mapping(idx); },
                     std::chrono::milliseconds(60000)};
  int mapping_syncs() const {
    std::lock_guard<std::mutex> g(mu_);
    return mapping_syncs_;
  }
  std::map<std::string, std::map<std::string, std::string>> secondary_fields() const {
    std::lock_guard<std::mutex> g(mu_);
    return secondary_fields_;
  }
  void set_secondary_field(const std::string& idx, const std::string& f, const std::string& t) {
    std::lock_guard<std::mutex> g(mu_);
    secondary_fields_[idx][f] = t;
  }
  Status cover_fields(const IndexName& idx, const std::vector<std::string_view>& srcs) override {
    return guard_mappings && guard_cover ? guard.cover(idx, srcs) : Status::ok();
  }
  Status heal_mapping(const IndexName& idx) override {
    return guard_mappings ? guard.heal(idx) : Status::ok();
  }

  std::map<std::string, FakeDoc> docs() const {
    std::lock_guard<std::mutex> g(mu_);
    return docs_;
  }
  int bulk_calls() const {
    std::lock_guard<std::mutex> g(mu_);
    return bulk_calls_;
  }
  int ensure_calls() const {
    std::lock_guard<std::mutex> g(mu_);
    return ensure_calls_;
  }
  void put(const std::string& key, FakeDoc d) {
    std::lock_guard<std::mutex> g(mu_);
    docs_[key] = std::move(d);
  }

  Result<es::BulkResponse> bulk(const es::BulkBuilder& b) override {
    if (inject_request) {
      Status s = inject_request();
      if (!s.is_ok()) return s;
    }
    std::lock_guard<std::mutex> g(mu_);
    ++bulk_calls_;
    es::BulkResponse resp;
    const std::string& body = b.body();
    size_t pos = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      auto action = nlohmann::json::parse(body.substr(pos, nl - pos));
      pos = nl + 1;
      std::string op = action.begin().key();
      auto meta = action.begin().value();
      std::string source;
      if (op == "index") {
        size_t nl2 = body.find('\n', pos);
        source = body.substr(pos, nl2 - pos);
        pos = nl2 + 1;
      }
      es::BulkItem it;
      it.op = op;
      it.index = IndexName(meta["_index"].get<std::string>());
      it.id = DocId(meta["_id"].get<std::string>());
      uint64_t v = meta["version"].get<uint64_t>();
      std::string key = it.index.get() + "/" + it.id.get();
      int inj = inject_item ? inject_item(it.index.get(), it.id.get()) : 0;
      if (inj != 0) {
        it.status = inj;
        it.error_type = inj == 429 ? "es_rejected_execution_exception" : "injected";
        it.error_reason = "injected";
      } else if (missing_indices.count(it.index.get())) {
        it.status = 404;
        it.error_type = "index_not_found_exception";
        it.error_reason = "no such index [" + it.index.get() + "]";
      } else if (strict_long_field.count(it.index.get()) &&
                 source.find("\"n\":\"") != std::string::npos) {
        it.status = 400;
        it.error_type = "mapper_parsing_exception";
        it.error_reason = "failed to parse field [n] of type [long]";
      } else if (std::string why = map_fields(it.index.get(), source); !why.empty()) {
        it.status = 400;
        it.error_type = "strict_dynamic_mapping_exception";
        it.error_reason = why;
      } else {
        FakeDoc& d = docs_[key];
        bool had = d.version > 0;
        if (had && v <= d.version) {
          it.status = 409;
          it.error_type = "version_conflict_engine_exception";
        } else {
          bool existed = d.exists;
          d.version = v;
          d.exists = op == "index";
          d.source = source;
          it.status = op == "index" ? (existed ? 200 : 201) : (existed ? 200 : 404);
          it.result = op == "index" ? "created" : (existed ? "deleted" : "not_found");
        }
      }
      if (!it.ok()) resp.errors = true;
      resp.items.push_back(std::move(it));
    }
    return resp;
  }

  Result<std::vector<es::Doc>> mget_primary(const std::vector<es::DocRef>& refs) override {
    std::lock_guard<std::mutex> g(mu_);
    return read(primary, refs, /*primary=*/true);
  }
  Result<std::vector<es::Doc>> mget_secondary(const std::vector<es::DocRef>& refs) override {
    std::lock_guard<std::mutex> g(mu_);
    return read(docs_, refs, /*primary=*/false);
  }
  Status ensure_index(const IndexName& idx) override {
    std::lock_guard<std::mutex> g(mu_);
    ++ensure_calls_;
    if (primary_missing.count(idx.get())) return Status(Code::kNotFound, "no index on primary");
    missing_indices.erase(idx.get());
    return Status::ok();
  }
  Status apply_meta(std::string_view meta_json) override {
    std::lock_guard<std::mutex> g(mu_);
    meta_applied.emplace_back(meta_json);
    return Status::ok();
  }

 private:
  // The primary reports a document's seq_no (version - 1), the secondary
  // its external version, as the real clusters do.
  static std::vector<es::Doc> read(const std::map<std::string, FakeDoc>& from,
                                   const std::vector<es::DocRef>& refs, bool primary) {
    std::vector<es::Doc> out;
    for (const auto& ref : refs) {
      es::Doc d;
      d.index = ref.index;
      d.id = ref.id;
      auto it = from.find(ref.index.get() + "/" + ref.id.get());
      d.found = it != from.end() && it->second.exists;
      if (d.found) {
        if (primary) {
          d.seq_no = SeqNo(static_cast<int64_t>(it->second.version) - 1);
        } else {
          d.version = static_cast<int64_t>(it->second.version);
        }
        d.source = it->second.source;
      }
      out.push_back(std::move(d));
    }
    return out;
  }

  // The primary's mapping of `idx` onto the secondary (what
  // meta::sync_index_mapping does), returned as {"properties":...}.
  Result<nlohmann::json> sync_mapping(const IndexName& idx) {
    std::lock_guard<std::mutex> g(mu_);
    auto p = primary_fields.find(idx.get());
    if (p == primary_fields.end()) return Status(Code::kNotFound, "no index on primary");
    ++mapping_syncs_;
    nlohmann::json props = nlohmann::json::object();
    for (const auto& [f, t] : p->second) {
      secondary_fields_[idx.get()].emplace(f, t);  // a mapped field never changes type
      props[f] = {{"type", t}};
    }
    return nlohmann::json{{"properties", props}};
  }

  // Maps the top-level fields of an index op's source on the secondary;
  // "" or why a strict index refuses it.
  std::string map_fields(const std::string& idx, const std::string& source) {
    if (source.empty() || source[0] != '{') return "";
    auto j = nlohmann::json::parse(source, nullptr, false);
    if (!j.is_object()) return "";
    auto& mapped = secondary_fields_[idx];
    for (const auto& [f, v] : j.items()) {
      if (mapped.count(f) || v.is_null()) continue;
      if (strict_indices.count(idx)) {
        return "mapping set to strict, dynamic introduction of [" + f +
               "] within [_doc] is not allowed";
      }
    }
    for (const auto& [f, v] : j.items()) {
      if (mapped.count(f) || v.is_null()) continue;
      mapped[f] = v.is_number_integer() ? "long"
                  : v.is_number_float() ? "float"
                  : v.is_string()       ? "text"
                  : v.is_boolean()      ? "boolean"
                  : v.is_object()       ? "object"
                                        : "keyword";
    }
    return "";
  }

  mutable std::mutex mu_;
  std::map<std::string, FakeDoc> docs_;
  std::map<std::string, std::map<std::string, std::string>> secondary_fields_;
  int mapping_syncs_ = 0;
  int bulk_calls_ = 0;
  int ensure_calls_ = 0;
};

// An in-memory log: partitions of records; one consumer, one group.
class FakeConsumer : public log::Consumer {
 public:
  explicit FakeConsumer(int32_t partitions) : parts_(static_cast<size_t>(partitions)) {}
  void append(int32_t p, std::string value) {
    std::lock_guard<std::mutex> g(mu_);
    parts_[static_cast<size_t>(p)].push_back(std::move(value));
  }
  Result<std::vector<log::Record>> poll(size_t max_records, std::chrono::milliseconds) override {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<log::Record> out;
    // Round-robin across partitions, like a real consumer interleaves them.
    bool any = true;
    while (out.size() < max_records && any) {
      any = false;
      for (size_t p = 0; p < parts_.size() && out.size() < max_records; ++p) {
        int64_t& pos = read_[static_cast<int32_t>(p)];
        if (pos < static_cast<int64_t>(parts_[p].size())) {
          out.push_back(log::Record{Partition(static_cast<int32_t>(p)), Offset(pos), "k",
                                    parts_[p][static_cast<size_t>(pos)]});
          ++pos;
          any = true;
        }
      }
    }
    return out;
  }
  Status commit(const std::map<Partition, Offset>& next) override {
    std::lock_guard<std::mutex> g(mu_);
    for (auto& [p, o] : next) {
      commits_.push_back({p.get(), o.get()});
      committed_[p.get()] = o.get();
    }
    return Status::ok();
  }
  Result<std::map<Partition, Offset>> committed() override {
    std::lock_guard<std::mutex> g(mu_);
    std::map<Partition, Offset> m;
    for (auto& [p, o] : committed_) m.emplace(Partition(p), Offset(o));
    return m;
  }
  Status seek(Partition p, Offset o) override {
    std::lock_guard<std::mutex> g(mu_);
    read_[p.get()] = o.get();
    return Status::ok();
  }
  Result<std::vector<log::PartitionLag>> lag() override {
    std::lock_guard<std::mutex> g(mu_);
    std::vector<log::PartitionLag> out;
    for (size_t p = 0; p < parts_.size(); ++p) {
      auto it = committed_.find(static_cast<int32_t>(p));
      out.push_back(log::PartitionLag{Partition(static_cast<int32_t>(p)),
                                      Offset(it == committed_.end() ? -1 : it->second),
                                      Offset(static_cast<int64_t>(parts_[p].size()))});
    }
    return out;
  }
  std::map<int32_t, int64_t> committed_map() const {
    std::lock_guard<std::mutex> g(mu_);
    return committed_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<std::string>> parts_;
  std::map<int32_t, int64_t> read_;
  std::map<int32_t, int64_t> committed_;
  std::vector<std::pair<int32_t, int64_t>> commits_;
};

}  // namespace tandem::apply::testing
