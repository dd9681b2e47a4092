// The product catalog dataset: deterministic documents and their mapping.
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "workload/workload.h"

namespace tandem::workload {
namespace {

// splitmix64: a tiny, well-distributed generator; documents must be a pure
// function of (seed, n) so reruns and both sides of a comparison agree.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

constexpr const char* kBrands[] = {"Acme", "Globex", "Initech", "Umbrella", "Hooli",
                                   "Stark", "Wayne", "Tyrell", "Cyberdyne", "Soylent"};
constexpr const char* kCategories[] = {"laptops", "phones", "audio", "cameras", "tv",
                                       "gaming", "wearables", "kitchen", "garden", "books"};
constexpr const char* kWords[] = {"ultra", "pro",     "max",    "mini",   "smart", "wireless",
                                  "quiet", "compact", "travel", "studio", "eco",   "classic",
                                  "turbo", "lite",    "prime",  "nova",   "flex",  "zen"};
constexpr const char* kSellers[] = {"north-shop", "south-store", "east-market", "west-deals",
                                    "central-outlet"};

template <size_t N>
const char* pick(Rng& r, const char* const (&arr)[N]) {
  return arr[r.below(N)];
}

}  // namespace

std::string catalog_index_body(int shards) {
  return fmt::format(R"({{"settings":{{"number_of_shards":{},"number_of_replicas":0}},)"
                     R"("mappings":{{"properties":{{)"
                     R"("name":{{"type":"text"}},)"
                     R"("brand":{{"type":"keyword"}},)"
                     R"("category":{{"type":"keyword"}},)"
                     R"("price":{{"type":"double"}},)"
                     R"("stock":{{"type":"long"}},)"
                     R"("rating":{{"type":"float"}},)"
                     R"("created":{{"type":"date"}},)"
                     R"("tags":{{"type":"keyword"}},)"
                     R"("description":{{"type":"text"}},)"
                     R"("offers":{{"type":"nested","properties":{{)"
                     R"("seller":{{"type":"keyword"}},"price":{{"type":"double"}},)"
                     R"("shipping_days":{{"type":"integer"}}}}}}}}}}}})",
                     shards);
}

std::string catalog_id(uint64_t n) { return fmt::format("p{:08d}", n); }

std::string catalog_doc(uint64_t n, uint64_t seed, size_t approx_bytes) {
  Rng r{seed * 1000003 + n};
  std::string name = fmt::format("{} {} {} {}", pick(r, kBrands), pick(r, kWords),
                                 pick(r, kWords), n);
  std::string doc;
  doc.reserve(approx_bytes + 128);
  doc += fmt::format(R"({{"name":"{}","brand":"{}","category":"{}","price":{}.{:02d},)", name,
                     pick(r, kBrands), pick(r, kCategories), 5 + r.below(2000), r.below(100));
  doc += fmt::format(R"("stock":{},"rating":{}.{},"created":"20{:02d}-{:02d}-{:02d}T{:02d}:{:02d}:00Z",)",
                     r.below(500), 1 + r.below(4), r.below(10), 15 + r.below(11),
                     1 + r.below(12), 1 + r.below(28), r.below(24), r.below(60));
  doc += fmt::format(R"("tags":["{}","{}"],"offers":[)", pick(r, kWords), pick(r, kWords));
  const uint64_t offers = 1 + r.below(3);
  for (uint64_t i = 0; i < offers; ++i) {
    doc += fmt::format(R"({}{{"seller":"{}","price":{}.{:02d},"shipping_days":{}}})",
                       i ? "," : "", pick(r, kSellers), 5 + r.below(2000), r.below(100),
                       1 + r.below(10));
  }
  doc += R"(],"description":")";
  while (doc.size() + 3 < approx_bytes) {
    doc += pick(r, kWords);
    doc += ' ';
  }
  doc += "\"}";
  return doc;
}

}  // namespace tandem::workload
