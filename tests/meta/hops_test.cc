// The metadata transform of every supported hop (6.8 -> 8.x, 8.x -> 9.x,
// Elasticsearch -> OpenSearch, OpenSearch 2 -> 3), on fixtures shaped like
// what the source version returns, and the supported-pair table. Pure: no
// network.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "meta/meta.h"
#include "meta_test_util.h"

namespace tandem::meta {
namespace {

using es::Flavor;
using nlohmann::json;

const Target kEs819{Flavor::kElasticsearch, {8, 19, 7, ""}};
const Target kEs92{Flavor::kElasticsearch, {9, 2, 4, ""}};
const Target kEs68{Flavor::kElasticsearch, {6, 8, 23, ""}};
const Target kOs219{Flavor::kOpenSearch, {2, 19, 6, ""}};
const Target kOs38{Flavor::kOpenSearch, {3, 8, 0, ""}};

using test_util::fixture;
using test_util::has_note;

Target from_os(Target t) {
  t.from_elasticsearch = false;
  return t;
}

// GET /catalog68 of a real 6.8.23 index whose mapping type is "product".
json six_eight_custom_type() {
  return fixture("custom_type_6_8_index.json")["catalog68"];
}

TEST(Hop68To8, CustomTypeNameIsRemovedWithANote) {
  auto t = transform_index(six_eight_custom_type(), kEs819);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const json& m = t->body["mappings"];
  EXPECT_FALSE(m.contains("product"));
  EXPECT_FALSE(m.contains("_all"));
  EXPECT_EQ(m["properties"]["stock"], json({{"type", "integer"}}));  // boost dropped
  EXPECT_EQ(m["properties"]["name"]["fields"]["raw"], json({{"type", "keyword"}}));
  EXPECT_TRUE(has_note(t->notes, "removed mapping type 'product'"));
  EXPECT_TRUE(has_note(t->notes, "dropped _all"));
  EXPECT_TRUE(has_note(t->notes, "stock.boost"));
  const json& s = t->body["settings"];
  EXPECT_EQ(s["index.number_of_shards"], "2");
  EXPECT_FALSE(s.contains("index.uuid"));
  EXPECT_FALSE(s.contains("index.version.created"));
}

TEST(Hop68To8, SameTransformServesNine) {
  auto eight = transform_index(six_eight_custom_type(), kEs819);
  auto nine = transform_index(six_eight_custom_type(), kEs92);
  ASSERT_TRUE(eight.is_ok() && nine.is_ok());
  EXPECT_EQ(eight->body, nine->body);
}

TEST(Hop8To9, BoostAndPointParametersStayDropped) {
  json m = {{"properties",
             {{"a", {{"type", "text"}, {"boost", 2}}},
              {"n", {{"type", "long"}, {"norms", false}}},
              {"k", {{"type", "keyword"}}}}}};
  auto t = transform_mappings(m, kEs92);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->body["properties"]["a"], json({{"type", "text"}}));
  EXPECT_EQ(t->body["properties"]["n"], json({{"type", "long"}}));
  EXPECT_EQ(t->body["properties"]["k"], json({{"type", "keyword"}}));
}

TEST(HopEsToOs, EsOnlySettingsAndSyntheticSourceDroppedWithNotes) {
  auto t = transform_index(fixture("es_8_index_for_opensearch.json"), kOs38);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const json& s = t->body["settings"];
  EXPECT_FALSE(s.contains("index.routing.allocation.include._tier_preference"));
  EXPECT_FALSE(s.contains("index.lifecycle.name"));
  EXPECT_EQ(s["index.number_of_shards"], "2");
  EXPECT_TRUE(has_note(t->notes, "data tiers are Elasticsearch-only"));
  EXPECT_TRUE(has_note(t->notes, "index.lifecycle.name"));
  const json& m = t->body["mappings"];
  EXPECT_FALSE(m.contains("_source"));
  EXPECT_TRUE(has_note(t->notes, "_source.mode"));
  // OpenSearch refuses text-only parameters on numbers (probed on 2.19 and
  // 3.8) but still takes index-time boost.
  EXPECT_EQ(m["properties"]["stock"], json({{"type", "integer"}}));
  EXPECT_EQ(m["properties"]["sku"]["boost"], 1.5);
  EXPECT_EQ(m["properties"]["ratio"]["type"], "unsigned_long");
  EXPECT_TRUE(t->body["aliases"].contains("catalog-read"));
}

TEST(HopEsToOs, SevenSeventeenToTwoNineteen) {
  json meta = {
      {"settings",
       {{"index",
         {{"number_of_shards", "1"},
          {"routing", {{"allocation", {{"include", {{"_tier_preference", "data_content"}}}}}}}}}}},
      {"mappings", {{"properties", {{"n", {{"type", "long"}, {"index_options", "docs"}}}}}}}};
  auto t = transform_index(meta, kOs219);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->body["settings"], json({{"index.number_of_shards", "1"}}));
  EXPECT_EQ(t->body["mappings"]["properties"]["n"], json({{"type", "long"}}));
}

TEST(HopEsToOs, EsOnlyFieldTypeIsRefusedNamingFieldAndAlternative) {
  auto t = transform_index(fixture("es_8_flattened_index.json"), kOs38);
  ASSERT_FALSE(t.is_ok());
  const std::string msg = t.status().to_string();
  EXPECT_NE(msg.find("labels.all"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flattened"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flat_object"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing was applied"), std::string::npos) << msg;
}

TEST(HopEsToOs, UnknownFieldTypeIsRefusedNotGuessed) {
  json m = {{"properties", {{"x", {{"type", "some_plugin_type"}}}}}};
  auto t = transform_mappings(m, kOs219);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().to_string().find("unknown"), std::string::npos);
  // The same mapping to Elasticsearch is passed through: the target's own
  // plugins decide there.
  EXPECT_TRUE(transform_mappings(m, kEs819).is_ok());
}

TEST(HopEsToOs, VersionTypeNeedsOpenSearchThree) {
  json m = {{"properties", {{"v", {{"type", "version"}}}}}};
  EXPECT_FALSE(transform_mappings(m, kOs219).is_ok());
  EXPECT_TRUE(transform_mappings(m, kOs38).is_ok());
}

TEST(HopEsToOs, RuntimeFieldsAreRefused) {
  json m = {{"runtime", {{"r", {{"type", "keyword"}}}}}, {"properties", json::object()}};
  auto t = transform_mappings(m, kOs38);
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().to_string().find("'runtime'"), std::string::npos);
  json dt = {{"dynamic_templates",
              json::array({{{"strings",
                             {{"match_mapping_type", "string"}, {"runtime", json::object()}}}}})}};
  EXPECT_FALSE(transform_mappings(dt, kOs38).is_ok());
}

TEST(HopOs2To3, OpenSearchTypesPassIncludingPluginTypes) {
  auto t = transform_index(fixture("os_2_index.json"), from_os(kOs38));
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->body["mappings"]["properties"]["embedding"]["type"], "knn_vector");
  EXPECT_EQ(t->body["settings"]["index.knn"], "true");
  EXPECT_FALSE(t->body["settings"].contains("index.uuid"));
  json m = {{"properties", {{"x", {{"type", "some_plugin_type"}}}}}};
  EXPECT_TRUE(transform_mappings(m, from_os(kOs38)).is_ok());
}

TEST(TypedTarget, SixEightGetsOneDocType) {
  json m = {{"properties", {{"a", {{"type", "keyword"}}}}}};
  auto t = transform_mappings(m, kEs68);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->body, json({{"_doc", m}}));
  // A typed 6.8 mapping round-trips through the same transform.
  auto again = transform_mappings(t->body, kEs68);
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->body, t->body);
}

es::ClusterInfo info(Flavor f, es::Version v) {
  es::ClusterInfo i;
  i.flavor = f;
  i.version = v;
  i.caps = es::Capabilities::derive(f, v);
  return i;
}

TEST(CheckPair, SupportedMoves) {
  const es::ClusterInfo es68 = info(Flavor::kElasticsearch, {6, 8, 23});
  const es::ClusterInfo es717 = info(Flavor::kElasticsearch, {7, 17, 29});
  const es::ClusterInfo es819 = info(Flavor::kElasticsearch, {8, 19, 7});
  const es::ClusterInfo es92 = info(Flavor::kElasticsearch, {9, 2, 4});
  const es::ClusterInfo os219 = info(Flavor::kOpenSearch, {2, 19, 6});
  const es::ClusterInfo os38 = info(Flavor::kOpenSearch, {3, 8, 0});
  for (const auto& [a, b] :
       std::vector<std::pair<es::ClusterInfo, es::ClusterInfo>>{{es68, es819},
                                                                {es717, es819},
                                                                {es819, es92},
                                                                {es717, os219},
                                                                {es819, os38},
                                                                {os219, os38},
                                                                {es68, es717},
                                                                {es717, es92},
                                                                {es819, es819},
                                                                {os38, os38}}) {
    Status s = check_pair(a, b);
    EXPECT_TRUE(s.is_ok()) << a.version.to_string() << " -> " << b.version.to_string() << ": "
                           << s.to_string();
  }
}

TEST(CheckPair, RefusalsNameVersionsAndWhatIsPossible) {
  struct Row {
    es::ClusterInfo from, to;
    const char* why;
  };
  const Row rows[] = {
      {info(Flavor::kElasticsearch, {8, 19, 7}), info(Flavor::kElasticsearch, {7, 17, 29}),
       "downgrade"},
      {info(Flavor::kElasticsearch, {5, 6, 16}), info(Flavor::kElasticsearch, {8, 19, 7}),
       "before 6.8"},
      {info(Flavor::kElasticsearch, {6, 5, 4}), info(Flavor::kElasticsearch, {7, 17, 29}),
       "before 6.8"},
      {info(Flavor::kOpenSearch, {2, 19, 6}), info(Flavor::kElasticsearch, {8, 19, 7}),
       "OpenSearch -> Elasticsearch"},
      {info(Flavor::kOpenSearch, {3, 8, 0}), info(Flavor::kOpenSearch, {2, 19, 6}), "downgrade"},
      {info(Flavor::kElasticsearch, {9, 2, 4}), info(Flavor::kOpenSearch, {3, 8, 0}),
       "9.x -> OpenSearch"},
  };
  for (const Row& r : rows) {
    Status s = check_pair(r.from, r.to);
    ASSERT_FALSE(s.is_ok()) << r.why;
    const std::string msg = s.to_string();
    EXPECT_EQ(s.code(), Code::kFailedPrecondition) << msg;
    EXPECT_NE(msg.find(r.why), std::string::npos) << msg;
    EXPECT_NE(msg.find(r.from.version.to_string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(r.to.version.to_string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("tandem supports"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace tandem::meta
