// Bulk-loads the catalog into a cluster: parallel writers over disjoint id
// ranges, explicit ids, progress on stderr.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/mutex.h"
#include "workload/workload.h"

namespace tandem::workload {

Status seed_catalog(es::Client& es, const IndexName& index, const SeedOptions& opts) {
  Status created = es.create_index(index, nlohmann::json::parse(catalog_index_body()));
  if (!created.is_ok() && created.message().find("resource_already_exists") == std::string::npos) {
    return created.context("seeding " + index.get());
  }
  std::atomic<uint64_t> next{0}, done{0};
  Mutex mu;
  Status first_error;  // guarded by mu (a local: the annotation is for members)
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    auto bulk = es::BulkBuilder::for_cluster(es.info().caps);
    while (true) {
      const uint64_t from = next.fetch_add(opts.bulk_docs);
      if (from >= opts.docs) return;
      const uint64_t to = std::min<uint64_t>(opts.docs, from + opts.bulk_docs);
      bulk.clear();
      for (uint64_t n = from; n < to; ++n) {
        bulk.index(index, DocId{catalog_id(n)}, catalog_doc(n, opts.seed, opts.doc_bytes));
      }
      auto r = es.bulk(bulk);
      Status s = r.is_ok() ? Status::ok() : r.status();
      if (s.is_ok() && r->errors) {
        for (const auto& item : r->items) {
          if (!item.ok()) {
            s = error(Code::kInternal, fmt::format("cluster '{}' index '{}' id '{}': {}: {}",
                                                   es.label(), item.index.get(), item.id.get(),
                                                   item.error_type, item.error_reason));
            break;
          }
        }
      }
      if (!s.is_ok()) {
        MutexLock lock(mu);
        if (first_error.is_ok()) first_error = s;
        next = opts.docs;  // stop the others
        return;
      }
      const uint64_t total = done.fetch_add(to - from) + (to - from);
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if ((total / opts.bulk_docs) % 20 == 0 || total == opts.docs) {
        std::fprintf(stderr, "seed index=%s docs=%llu/%llu rate=%.0f/s\n", index.get().c_str(),
                     static_cast<unsigned long long>(total),
                     static_cast<unsigned long long>(opts.docs), total / std::max(secs, 1e-3));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, opts.parallel); ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (!first_error.is_ok()) return first_error;
  return es.refresh(index);
}

}  // namespace tandem::workload
