#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "workload/workload.h"

namespace tandem::workload {
namespace {

TEST(Catalog, DocumentsAreDeterministicValidJsonOfRoughlyTheAskedSize) {
  for (uint64_t n : {0ull, 1ull, 99999ull}) {
    const std::string a = catalog_doc(n, 42, 800);
    EXPECT_EQ(a, catalog_doc(n, 42, 800));
    EXPECT_NE(a, catalog_doc(n, 43, 800));
    auto j = nlohmann::json::parse(a);
    EXPECT_TRUE(j.contains("offers"));
    EXPECT_GE(j["offers"].size(), 1u);
    EXPECT_GE(a.size(), 780u);
    EXPECT_LE(a.size(), 900u);
    EXPECT_EQ(a.find('\n'), std::string::npos) << "bulk sources must be one line";
  }
}

TEST(Catalog, IndexBodyIsValidJsonWithNestedOffers) {
  auto j = nlohmann::json::parse(catalog_index_body(2));
  EXPECT_EQ(j["settings"]["number_of_shards"], 2);
  EXPECT_EQ(j["mappings"]["properties"]["offers"]["type"], "nested");
}

TEST(Catalog, IdsSortLikeNumbers) {
  EXPECT_EQ(catalog_id(7), "p00000007");
  EXPECT_LT(catalog_id(9), catalog_id(10));
}

}  // namespace
}  // namespace tandem::workload
