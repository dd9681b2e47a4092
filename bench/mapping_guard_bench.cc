// The loader's and backfill's per-document cost of "mappings before
// documents" (apply::MappingGuard, docs/loader.md): before each bulk, every
// indexed document's field paths are walked against the mapping last
// brought from the primary (apply::unmapped_paths). Measured side by side
// with what the same document costs the rest of the way: its line in the
// versioned bulk (es::BulkBuilder::index in bulks of 2,000, which splices
// the source bytes without parsing them).
//
//   mapping_guard_bench [DOCS] [ROUNDS]
//
// DOCS (default 20000) documents shaped like bench/convergence's product
// catalog (about 1 KB: text, keywords, numbers, dates, an object and an
// array of objects), every field mapped, so the walk finds nothing (the
// steady state). Prints the median over ROUNDS (default 7) of ns per
// document for each, and CPU-seconds per million documents.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "apply/apply.h"
#include "es/es.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace tandem;

const char* kMapping = R"({"properties":{
  "sku":{"type":"keyword"},
  "name":{"type":"text","fields":{"raw":{"type":"keyword","ignore_above":256}}},
  "brand":{"type":"keyword"},"category":{"type":"keyword"},"tags":{"type":"keyword"},
  "price":{"type":"double"},"stock":{"type":"integer"},"rating":{"type":"float"},
  "reviews":{"type":"integer"},"weight_kg":{"type":"float"},
  "created":{"type":"date"},"updated":{"type":"date"},"active":{"type":"boolean"},
  "attributes":{"properties":{"color":{"type":"keyword"},"material":{"type":"keyword"},
                              "size":{"type":"keyword"}}},
  "offers":{"properties":{"seller":{"type":"keyword"},"price":{"type":"double"},
                          "shipping_days":{"type":"integer"}}},
  "description":{"type":"text"}}})";

std::string document(size_t n) {
  nlohmann::json d = {
      {"sku", "SKU-" + std::to_string(n)},
      {"name", "Acme ultra wireless " + std::to_string(n)},
      {"brand", "Globex"},
      {"category", "audio"},
      {"tags", {"smart", "compact", "studio"}},
      {"price", 19.99 + static_cast<double>(n % 1000)},
      {"stock", n % 1000},
      {"rating", 4.5},
      {"reviews", n % 20000},
      {"weight_kg", 1.25},
      {"created", "2021-03-14T10:20:00Z"},
      {"updated", "2026-03-14T10:20:00Z"},
      {"active", n % 10 != 0},
      {"attributes", {{"color", "graphite"}, {"material", "aluminium"}, {"size", "M"}}},
      {"offers",
       {{{"seller", "north-shop"}, {"price", 21.5}, {"shipping_days", 2}},
        {{"seller", "river-retail"}, {"price", 20.75}, {"shipping_days", 5}}}}};
  std::string desc;
  while (desc.size() < 560) desc += "premium durable portable lightweight ergonomic design ";
  d["description"] = desc;
  return d.dump();
}

template <class F>
double median_ns_per_doc(int rounds, size_t docs, F&& f) {
  std::vector<double> per;
  for (int r = 0; r < rounds; ++r) {
    const auto t0 = Clock::now();
    f();
    per.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
                  static_cast<double>(docs));
  }
  std::sort(per.begin(), per.end());
  return per[per.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const size_t docs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 20000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  std::vector<std::string> sources;
  size_t bytes = 0;
  for (size_t i = 0; i < docs; ++i) {
    sources.push_back(document(i));
    bytes += sources.back().size();
  }
  const apply::FieldMap fields(nlohmann::json::parse(kMapping));
  size_t found = 0;
  const double walk = median_ns_per_doc(rounds, docs, [&] {
    for (const std::string& s : sources) {
      auto r = apply::unmapped_paths(s, fields);
      if (!r.is_ok()) std::abort();
      found += r->size();
    }
  });
  // In bulks of 2,000 documents, the loader's and backfill's default.
  const double build = median_ns_per_doc(rounds, docs, [&] {
    const IndexName idx("catalog");
    for (size_t from = 0; from < sources.size(); from += 2000) {
      es::BulkBuilder bb;
      const size_t to = std::min(sources.size(), from + 2000);
      for (size_t i = from; i < to; ++i) {
        bb.index(idx, DocId("p" + std::to_string(i)), sources[i], std::nullopt,
                 es::VersionSpec{static_cast<uint64_t>(i + 1)});
      }
      if (bb.size() != to - from) std::abort();
    }
  });
  std::printf("%zu documents, %zu bytes of _source on average, %d rounds (median)\n", docs,
              bytes / std::max<size_t>(docs, 1), rounds);
  std::printf(
      "unmapped_paths (the guard's walk): %8.0f ns/doc  %6.2f CPU-s per 1M docs  (%zu "
      "unmapped)\n",
      walk, walk / 1000.0, found);
  std::printf("BulkBuilder::index (versioned):    %8.0f ns/doc  %6.2f CPU-s per 1M docs\n", build,
              build / 1000.0);
  return 0;
}
