// Sink over real clusters: es::Client for documents, meta for indices.
#include <map>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include "apply/apply.h"
#include "core/mutex.h"
#include "meta/meta.h"

namespace tandem::apply {
namespace {

class EsSink final : public Sink {
 public:
  EsSink(es::Client& p, es::Client& s, EsSinkOptions o)
      : p_(p),
        s_(s),
        o_(std::move(o)),
        guard_([this](const IndexName& idx) -> Result<nlohmann::json> {
          meta::MigrationOptions mo;
          mo.gc_deletes = o_.gc_deletes;
          auto r = meta::sync_index_mapping(p_, s_, idx, mo);
          if (!r.is_ok() && r.status().code() != Code::kNotFound) {
            return r.status().context("bringing the mapping of index '" + idx.get() +
                                      "' from cluster '" + p_.label() + "' to cluster '" +
                                      s_.label() + "'");
          }
          return r;
        }) {}

  Result<es::BulkResponse> bulk(const es::BulkBuilder& b) override { return s_.bulk(b); }
  Result<std::vector<es::Doc>> mget_primary(const std::vector<es::DocRef>& refs) override {
    return p_.mget(refs);
  }
  Result<std::vector<es::Doc>> mget_secondary(const std::vector<es::DocRef>& refs) override {
    return s_.mget(refs);
  }
  Status ensure_index(const IndexName& idx) override {
    {
      MutexLock g(mu_);
      if (known_.count(idx.get())) return Status::ok();
    }
    TANDEM_ASSIGN_OR_RETURN(bool exists, s_.index_exists(idx));
    if (!exists) {
      if (!o_.create_missing_indices) {
        return Status(Code::kFailedPrecondition,
                      "cluster '" + s_.label() + "' has no index '" + idx.get() +
                          "': run `tandem meta apply` first (or pass --create-missing)");
      }
      meta::MigrationOptions mo;
      mo.gc_deletes = o_.gc_deletes;
      Status s = meta::ensure_index(p_, s_, idx, mo);
      if (!s.is_ok() && s.code() != Code::kConflict) return s;
    }
    MutexLock g(mu_);
    known_.insert(idx.get());
    return Status::ok();
  }
  Status apply_meta(std::string_view meta_json) override {
    meta::MigrationOptions mo;
    mo.gc_deletes = o_.gc_deletes;
    Status s = meta::apply_meta_event(p_, s_, meta_json, mo);
    // Name the cluster that could not take it: in reverse replication the
    // target is blue, and a refusal (e.g. an 8.x mapping 7.x cannot
    // express) becomes a dead letter that must say where it failed.
    if (!s.is_ok()) s = s.context("cluster '" + s_.label() + "'");
    // An index may have been deleted or recreated, or its settings
    // changed: look again next time.
    guard_.forget();
    MutexLock g(mu_);
    known_.clear();
    pipelines_.clear();
    return s;
  }
  Status cover_fields(const IndexName& idx, const std::vector<std::string_view>& sources) override {
    return guard_.cover(idx, sources);
  }
  Status heal_mapping(const IndexName& idx) override { return guard_.heal(idx); }
  Result<bool> primary_rewrites_sources(const IndexName& idx) override {
    {
      MutexLock g(mu_);
      if (auto it = pipelines_.find(idx.get()); it != pipelines_.end()) return it->second;
    }
    auto settings = p_.get_settings(idx, "index.default_pipeline,index.final_pipeline");
    bool rewrites = false;
    if (!settings.is_ok()) {
      // Gone on the primary: the obsolete path decides.
      if (settings.status().code() != Code::kNotFound) return settings.status();
    } else {
      for (const auto& [name, flat] : settings->items()) {
        for (const auto& [k, v] : flat.items()) {
          if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>() != "_none")
            rewrites = true;
        }
      }
    }
    MutexLock g(mu_);
    pipelines_[idx.get()] = rewrites;
    return rewrites;
  }
  bool bulk_with_type() const override { return s_.info().caps.bulk_type_required; }

 private:
  es::Client& p_;
  es::Client& s_;
  EsSinkOptions o_;
  Mutex mu_;
  // Indices seen to exist on the secondary.
  std::set<std::string> known_ TANDEM_GUARDED_BY(mu_);
  // Primary index -> has an ingest pipeline.
  std::map<std::string, bool> pipelines_ TANDEM_GUARDED_BY(mu_);
  MappingGuard guard_;
};

}  // namespace

std::unique_ptr<Sink> make_es_sink(es::Client& primary, es::Client& secondary, EsSinkOptions opts) {
  return std::make_unique<EsSink>(primary, secondary, std::move(opts));
}

}  // namespace tandem::apply
