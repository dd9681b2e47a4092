// Sink over real clusters: es::Client for documents, meta for indices.
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include "apply/apply.h"
#include "meta/meta.h"

namespace tandem::load {
namespace {

class EsSink final : public Sink {
 public:
  EsSink(es::Client& p, es::Client& s, EsSinkOptions o) : p_(p), s_(s), o_(std::move(o)) {}

  Result<es::BulkResponse> bulk(const es::BulkBuilder& b) override { return s_.bulk(b); }
  Result<std::vector<es::Doc>> mget_primary(const std::vector<es::DocRef>& refs) override {
    return p_.mget(refs);
  }
  Result<std::vector<es::Doc>> mget_secondary(const std::vector<es::DocRef>& refs) override {
    return s_.mget(refs);
  }
  Status ensure_index(const IndexName& idx) override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (known_.count(idx.get())) return Status::ok();
    }
    http::Request q;
    q.method = "HEAD";
    q.target = "/" + http::encode_path_segment(idx.get());
    TANDEM_ASSIGN_OR_RETURN(auto r, s_.send(std::move(q)));
    if (r.status == 404) {
      if (!o_.create_missing_indices) {
        return Status(Code::kFailedPrecondition,
                      "cluster '" + s_.label() + "' has no index '" + idx.get() +
                          "': run `tandem meta apply` first (or pass --create-missing)");
      }
      meta::MigrationOptions mo;
      mo.gc_deletes = o_.gc_deletes;
      Status s = meta::ensure_index(p_, s_, idx, mo);
      if (!s.is_ok() && s.code() != Code::kConflict) return s;
    } else if (r.status < 200 || r.status >= 300) {
      return s_.error_from(r, idx.get());
    }
    std::lock_guard<std::mutex> g(mu_);
    known_.insert(idx.get());
    return Status::ok();
  }
  Status apply_meta(std::string_view meta_json) override {
    meta::MigrationOptions mo;
    mo.gc_deletes = o_.gc_deletes;
    Status s = meta::apply_meta_event(p_, s_, meta_json, mo);
    // An index may have been deleted or recreated, or its settings
    // changed: look again next time.
    std::lock_guard<std::mutex> g(mu_);
    known_.clear();
    pipelines_.clear();
    return s;
  }
  Result<bool> primary_rewrites_sources(const IndexName& idx) override {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (auto it = pipelines_.find(idx.get()); it != pipelines_.end()) return it->second;
    }
    http::Request q;
    q.target = "/" + http::encode_path_segment(idx.get()) +
               "/_settings/index.default_pipeline,index.final_pipeline?flat_settings=true";
    TANDEM_ASSIGN_OR_RETURN(auto r, p_.send(std::move(q)));
    bool rewrites = false;
    if (r.status == 404) {
      rewrites = false;  // gone on the primary: the obsolete path decides
    } else if (r.status < 200 || r.status >= 300) {
      return p_.error_from(r, idx.get());
    } else {
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j.is_object())
        return Status(Code::kProtocol, "cluster '" + p_.label() + "': settings of index '" +
                                           idx.get() + "' are not JSON");
      for (const auto& [name, body] : j.items()) {
        if (!body.is_object() || !body.contains("settings")) continue;
        for (const auto& [k, v] : body["settings"].items()) {
          if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>() != "_none")
            rewrites = true;
        }
      }
    }
    std::lock_guard<std::mutex> g(mu_);
    pipelines_[idx.get()] = rewrites;
    return rewrites;
  }
  bool bulk_with_type() const override { return s_.info().caps.bulk_type_required; }

 private:
  es::Client& p_;
  es::Client& s_;
  EsSinkOptions o_;
  std::mutex mu_;
  std::set<std::string> known_;            // indices seen to exist on the secondary
  std::map<std::string, bool> pipelines_;  // primary index -> has an ingest pipeline
};

}  // namespace

std::unique_ptr<Sink> make_es_sink(es::Client& primary, es::Client& secondary, EsSinkOptions opts) {
  return std::make_unique<EsSink>(primary, secondary, std::move(opts));
}

}  // namespace tandem::load
