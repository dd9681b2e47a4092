// Synthetic workloads for the demo, tests and benchmarks: a product catalog
// dataset and a live traffic generator that speaks plain HTTP (so it can be
// pointed at the proxy exactly like an application would be).
//
// The catalog exercises what real migrations meet: text, keywords, numbers,
// dates, arrays and nested offers. Documents are deterministic functions of
// (seed, number), so two runs produce the same bytes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/types.h"
#include "es/es.h"
#include "http/http.h"

namespace tandem::workload {

// Index body (settings + mappings) for the catalog; typeless (7.x+).
std::string catalog_index_body(int shards = 1);

// One catalog document as single-line JSON, about `approx_bytes` long.
std::string catalog_doc(uint64_t n, uint64_t seed = 42, size_t approx_bytes = 600);
std::string catalog_id(uint64_t n);

struct SeedOptions {
  uint64_t docs = 200000;
  int parallel = 2;
  size_t bulk_docs = 2000;
  size_t doc_bytes = 600;
  uint64_t seed = 42;
};

// Creates the index (if missing) and bulk-loads `docs` documents with ids
// catalog_id(0..docs-1). Prints progress to stderr.
Status seed_catalog(es::Client& es, const IndexName& index, const SeedOptions& opts);

struct TrafficOptions {
  std::chrono::milliseconds duration{30000};
  int clients = 4;           // concurrent connections
  double ops_per_sec = 200;  // total target rate; 0 = as fast as possible
  uint64_t id_space = 200000;  // ids 0..id_space-1 exist after seeding
  uint64_t seed = 7;
};

struct TrafficStats {
  std::atomic<uint64_t> creates{0};       // PUT with a new explicit id
  std::atomic<uint64_t> auto_creates{0};  // POST /_doc (auto id)
  std::atomic<uint64_t> updates{0};       // partial _update
  std::atomic<uint64_t> deletes{0};
  std::atomic<uint64_t> recreates{0};     // index an id that was deleted
  std::atomic<uint64_t> searches{0};
  std::atomic<uint64_t> errors{0};        // transport errors or 5xx
  std::atomic<uint64_t> rejected{0};      // 4xx other than expected 404/409
  uint64_t total() const;
};

// Drives mixed traffic at `target` (the proxy's URL) until the duration
// ends or `stop` becomes true. Writes use refresh=false; every request is a
// plain HTTP call an application would make.
Status run_traffic(const http::ClientOptions& target, const IndexName& index,
                   const TrafficOptions& opts, TrafficStats& stats,
                   const std::atomic<bool>& stop);

}  // namespace tandem::workload
