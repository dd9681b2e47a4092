// The reverse metadata transforms rollback needs: after a cutover the
// newer side is primary and its metadata writes are replayed into the older
// side by the reverse loader. One suite per supported pair's reverse
// (8.x -> 6.8, 8.x -> 7.x is in transform_test.cc, 9.x -> 8.x, OpenSearch
// -> Elasticsearch, OpenSearch 3 -> 2), on fixtures shaped like what the
// newer side returns. What the older side cannot express is refused with a
// message naming the field or setting, the target and why. Pure: no network.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meta/internal.h"
#include "meta/meta.h"
#include "meta_test_util.h"

namespace tandem::meta {
namespace {

using es::Flavor;
using nlohmann::json;

es::ClusterInfo info(Flavor f, es::Version v) {
  es::ClusterInfo i;
  i.flavor = f;
  i.version = v;
  i.caps = es::Capabilities::derive(f, v);
  return i;
}

const es::ClusterInfo kEs68 = info(Flavor::kElasticsearch, {6, 8, 23});
const es::ClusterInfo kEs717 = info(Flavor::kElasticsearch, {7, 17, 29});
const es::ClusterInfo kEs819 = info(Flavor::kElasticsearch, {8, 19, 7});
const es::ClusterInfo kEs92 = info(Flavor::kElasticsearch, {9, 2, 4});
const es::ClusterInfo kOs219 = info(Flavor::kOpenSearch, {2, 19, 6});
const es::ClusterInfo kOs38 = info(Flavor::kOpenSearch, {3, 8, 0});

// Target(to, from), as the reverse loader builds it: the older side fed by
// the newer one.
Target reverse(const es::ClusterInfo& older, const es::ClusterInfo& newer) {
  return Target(older, newer);
}

using test_util::fixture;
using test_util::has_note;

// The refusal of `mappings` into `t`, "" when accepted.
std::string mapping_refusal(const json& mappings, const Target& t) {
  auto r = transform_mappings(mappings, t);
  if (r.is_ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

json field(const json& def) {
  return json{{"properties", {{"f", def}}}};
}

TEST(ReversePredicates, OnlyTheReverseOfEverySupportedPair) {
  // The reverse of each matrix pair is older than its source.
  EXPECT_TRUE(reverse(kEs68, kEs819).reverse_into_es());
  EXPECT_TRUE(reverse(kEs717, kEs819).reverse_into_es());
  EXPECT_TRUE(reverse(kEs819, kEs92).reverse_into_es());
  EXPECT_TRUE(reverse(kEs717, kOs219).from_opensearch_to_es());
  EXPECT_TRUE(reverse(kEs819, kOs38).from_opensearch_to_es());
  EXPECT_TRUE(reverse(kOs219, kOs38).reverse_into_os());
  // The forward moves are not.
  for (const auto& [to, from] :
       std::vector<std::pair<es::ClusterInfo, es::ClusterInfo>>{{kEs819, kEs68},
                                                                {kEs819, kEs717},
                                                                {kEs92, kEs819},
                                                                {kOs219, kEs717},
                                                                {kOs38, kEs819},
                                                                {kOs38, kOs219},
                                                                {kEs819, kEs819}}) {
    EXPECT_FALSE(Target(to, from).older_than_source()) << Target(to, from).to_string();
  }
  EXPECT_TRUE(reverse(kEs68, kEs819).typed());
  EXPECT_FALSE(reverse(kEs68, kEs819).composable_templates());
  EXPECT_TRUE(reverse(kEs717, kEs819).composable_templates());
}

// ---- 8.x -> 6.8 -------------------------------------------------------------

TEST(Reverse8To68, MappingGoesUnderTheIndexOwnTypeWithJavaDateFormats) {
  Target t = reverse(kEs68, kEs819);
  t.mapping_type = "product";  // read from blue's index by the caller
  auto r = transform_index(fixture("es_8_index_for_6_8.json"), t);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const json& m = r->body["mappings"];
  ASSERT_TRUE(m.contains("product")) << m.dump();
  EXPECT_EQ(m.size(), 1u);
  const json& p = m["product"]["properties"];
  EXPECT_EQ(p["rollback_note"], json({{"type", "keyword"}}));
  EXPECT_EQ(p["created"], json({{"type", "date"}}));
  // 6.8 reads a Joda pattern unless the format starts with "8".
  EXPECT_EQ(p["when"]["format"], "8yyyy-MM-dd||epoch_millis");
  EXPECT_EQ(p["valid"]["format"], "8uuuu-MM-dd");  // already java.time: unchanged
  EXPECT_EQ(m["product"]["dynamic_date_formats"], json::array({"8yyyy/MM/dd"}));
  EXPECT_TRUE(has_note(r->notes, "when.format"));
  const json& s = r->body["settings"];
  EXPECT_EQ(s["index.number_of_shards"], "2");
  EXPECT_FALSE(s.contains("index.hidden"));  // false: what 6.8 does
  EXPECT_FALSE(s.contains("index.routing.allocation.include._tier_preference"));
  EXPECT_TRUE(has_note(r->notes, "dropped index.hidden"));
  EXPECT_TRUE(r->body["aliases"].contains("catalog-read"));
  // Without a known type, "_doc" (what 6.8's own typeless APIs create).
  auto doc =
      transform_mappings(fixture("es_8_index_for_6_8.json")["mappings"], reverse(kEs68, kEs819));
  ASSERT_TRUE(doc.is_ok());
  EXPECT_TRUE(doc->body.contains("_doc"));
}

TEST(Reverse8To68, WhatSixEightCannotExpressIsRefusedNamingIt) {
  const Target t = reverse(kEs68, kEs819);
  struct Case {
    json mappings;
    std::string want;
  };
  const Case cases[] = {
      {field({{"type", "flattened"}}),
       "field 'f': field type 'flattened' exists since "
       "Elasticsearch 7.3; Elasticsearch 6.8.23 cannot take it"},
      {field({{"type", "match_only_text"}}), "'match_only_text' exists since Elasticsearch 7.14"},
      {field({{"type", "date_nanos"}}), "'date_nanos' exists since Elasticsearch 7.0"},
      {field({{"type", "wildcard"}}), "'wildcard' exists since Elasticsearch 7.9"},
      {field({{"type", "rank_feature"}}), "'rank_feature'"},
      {field({{"type", "search_as_you_type"}}), "'search_as_you_type'"},
      {field({{"type", "dense_vector"}, {"dims", 3}}), "'dense_vector' exists since"},
      {field({{"type", "keyword"}, {"meta", {{"unit", "ms"}}}}),
       "field 'f': meta={\"unit\":\"ms\"} (field metadata) needs Elasticsearch 7.6+"},
      {field({{"type", "keyword"}, {"script", {{"source", "emit('x')"}}}}), "field 'f': script="},
      {{{"runtime", {{"r", {{"type", "keyword"}}}}}},
       "mapping parameter 'runtime' = {\"r\":{\"type\":\"keyword\"}} (runtime fields) needs "
       "Elasticsearch 7.11+"},
      {{{"dynamic", "runtime"}}, "mapping parameter 'dynamic' = \"runtime\""},
      {{{"dynamic_templates",
         json::array({{{"s", {{"match_mapping_type", "string"}, {"runtime", json::object()}}}}})}},
       "dynamic template 's': runtime fields need Elasticsearch 7.11+"},
  };
  for (const auto& c : cases) {
    const std::string msg = mapping_refusal(c.mappings, t);
    EXPECT_NE(msg.find(c.want), std::string::npos) << c.mappings.dump() << " -> " << msg;
    EXPECT_NE(msg.find("nothing was applied"), std::string::npos) << msg;
  }
  // Settings: hidden=true refused; the same index created on 6.8 fails
  // whole (nothing half-applied).
  json idx = {{"settings", {{"index.hidden", "true"}}}, {"mappings", field({{"type", "text"}})}};
  auto r = transform_index(idx, t);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("'index.hidden' = \"true\""), std::string::npos)
      << r.status().message();
}

TEST(Reverse8To68, ComposableTemplatesAreRefusedLegacyOnesAreTyped) {
  const Target t = reverse(kEs68, kEs819);
  json composable = {{"index_patterns", {"logs-*"}},
                     {"template", {{"mappings", field({{"type", "keyword"}})}}}};
  auto c = transform_index_template(composable, t);
  ASSERT_FALSE(c.is_ok());
  EXPECT_NE(c.status().message().find("need Elasticsearch 7.8+"), std::string::npos)
      << c.status().message();
  EXPECT_FALSE(transform_component_template(composable["template"], t).is_ok());
  json legacy = {
      {"index_patterns", {"logs-*"}}, {"order", 1}, {"mappings", field({{"type", "keyword"}})}};
  auto l = transform_legacy_template(legacy, t);
  ASSERT_TRUE(l.is_ok()) << l.status().to_string();
  EXPECT_EQ(l->body["mappings"], json({{"_doc", field({{"type", "keyword"}})}}));
}

TEST(Reverse8To68, TypedMappingNameAndExistingFormatsKept) {
  EXPECT_EQ(detail::typed_mapping_name(json{{"product", {{"properties", json::object()}}}}),
            "product");
  EXPECT_EQ(detail::typed_mapping_name(json{{"properties", json::object()}}), "");
  EXPECT_EQ(detail::typed_mapping_name(json{{"_default_", json::object()}}), "");
  EXPECT_EQ(detail::typed_mapping_name(json::object()), "");
  // A field 6.8 already has keeps the format it wrote (a mapping update
  // cannot change it); a new field gets the transformed one.
  json props = {{"when", {{"type", "date"}, {"format", "8yyyy-MM-dd"}}},
                {"new", {{"type", "date"}, {"format", "8yyyy"}}},
                {"o", {{"properties", {{"d", {{"type", "date"}, {"format", "8dd"}}}}}}}};
  json existing = {{"when", {{"type", "date"}, {"format", "yyyy-MM-dd"}}},
                   {"o", {{"properties", {{"d", {{"type", "date"}, {"format", "dd"}}}}}}}};
  detail::keep_existing_formats(props, existing);
  EXPECT_EQ(props["when"]["format"], "yyyy-MM-dd");
  EXPECT_EQ(props["new"]["format"], "8yyyy");
  EXPECT_EQ(props["o"]["properties"]["d"]["format"], "dd");
}

// ---- 9.x -> 8.x -------------------------------------------------------------

TEST(Reverse9To8, EightNineteenTakesWhatItHas) {
  json idx = fixture("es_9_index_for_8x.json");
  // Without the 9.x-only parts the 9.2 index goes to 8.19 unchanged: every
  // other part of it (logsdb, subobjects=false, sparse_vector, bbq_hnsw...)
  // exists on 8.19.
  auto r = transform_index(idx, reverse(kEs819, kEs92));
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body["settings"]["index.mode"], "logsdb");
  EXPECT_EQ(r->body["mappings"]["subobjects"], false);
  EXPECT_EQ(r->body["mappings"]["properties"]["emb"]["index_options"]["type"], "bbq_hnsw");
  EXPECT_EQ(r->body["mappings"]["properties"]["host.name"]["time_series_dimension"], true);
  // The same index into 7.17 is refused, naming the first thing 7.17 lacks.
  auto seven = transform_index(idx, reverse(kEs717, kEs92));
  EXPECT_FALSE(seven.is_ok());
}

TEST(Reverse9To8, NineOnlyTypesAndVectorOptionsAreRefused) {
  const Target t = reverse(kEs819, kEs92);
  struct Case {
    json def;
    std::string want;
  };
  const Case cases[] = {
      {{{"type", "patterned_text"}},
       "field 'f': field type 'patterned_text' exists since Elasticsearch 9.1; Elasticsearch "
       "8.19.7 cannot take it"},
      {{{"type", "exponential_histogram"}},
       "'exponential_histogram' exists since Elasticsearch 9.2"},
      {{{"type", "dense_vector"}, {"dims", 64}, {"index_options", {{"type", "bbq_disk"}}}},
       "field 'f': dense_vector index_options.type = \"bbq_disk\" exists since Elasticsearch 9.2"},
      {{{"type", "dense_vector"}, {"dims", 64}, {"element_type", "bfloat16"}},
       "dense_vector element_type = \"bfloat16\" exists since Elasticsearch 9.3"},
  };
  for (const auto& c : cases) {
    const std::string msg = mapping_refusal(field(c.def), t);
    EXPECT_NE(msg.find(c.want), std::string::npos) << c.def.dump() << " -> " << msg;
  }
  for (const json& ok :
       {json{{"type", "dense_vector"}, {"dims", 64}, {"index_options", {{"type", "int8_hnsw"}}}},
        json{{"type", "dense_vector"}, {"dims", 64}, {"element_type", "bit"}},
        json{{"type", "semantic_text"}}, json{{"type", "counted_keyword"}}}) {
    EXPECT_EQ(mapping_refusal(field(ok), t), "") << ok.dump();
  }
  // 7.17 (8.19 -> 7.17 is not a pair, but 9.x -> 7.x rules come from the
  // same table): kNN indexing is refused there.
  EXPECT_NE(mapping_refusal(field({{"type", "dense_vector"},
                                   {"dims", 64},
                                   {"index_options", {{"type", "int8_hnsw"}}}}),
                            reverse(kEs717, kEs92))
                .find("needs Elasticsearch 8.x"),
            std::string::npos);
}

// ---- OpenSearch -> Elasticsearch ---------------------------------------------

TEST(ReverseOsToEs, SharedTypesPassOpenSearchSettingsAreDroppedWithNotes) {
  for (const auto& [older, newer] : std::vector<std::pair<es::ClusterInfo, es::ClusterInfo>>{
           {kEs717, kOs219}, {kEs819, kOs38}}) {
    auto r = transform_index(fixture("os_3_index_for_es.json"), reverse(older, newer));
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    const json& s = r->body["settings"];
    EXPECT_FALSE(s.contains("index.replication.type"));
    EXPECT_FALSE(s.contains("index.plugins.index_state_management.rollover_alias"));
    EXPECT_EQ(s["index.number_of_shards"], "1");
    EXPECT_TRUE(has_note(r->notes, "dropped index.replication.type"));
    EXPECT_TRUE(has_note(r->notes, "ILM"));
    const json& p = r->body["mappings"]["properties"];
    EXPECT_EQ(p["message"]["type"], "match_only_text");
    EXPECT_EQ(p["path"]["type"], "wildcard");
    EXPECT_EQ(p["big"]["type"], "unsigned_long");
    EXPECT_EQ(p["created"]["format"], "strict_date_optional_time||epoch_millis");
    EXPECT_TRUE(
        settings_refusal(fixture("os_3_index_for_es.json")["settings"], reverse(older, newer))
            .empty());
  }
}

TEST(ReverseOsToEs, OpenSearchOnlyAndUnknownTypesAreRefusedNamingTheAlternative) {
  const Target t = reverse(kEs717, kOs219);
  auto r = transform_index(fixture("os_2_index.json"), t);
  ASSERT_FALSE(r.is_ok());
  // The first field refused (in name order) is named, with the alternative.
  EXPECT_NE(r.status().message().find("field 'embedding': field type 'knn_vector' exists only "
                                      "in OpenSearch (Elasticsearch 7.17.29 offers dense_vector"),
            std::string::npos)
      << r.status().message();
  EXPECT_NE(mapping_refusal(field({{"type", "flat_object"}}), t).find("offers flattened"),
            std::string::npos);
  EXPECT_NE(mapping_refusal(field({{"type", "xy_shape"}}), t).find("offers shape"),
            std::string::npos);
  EXPECT_NE(mapping_refusal(field({{"type", "some_plugin_type"}}), t)
                .find("unknown to tandem's OpenSearch -> Elasticsearch table"),
            std::string::npos);
  EXPECT_NE(mapping_refusal(json{{"derived", {{"d", {{"type", "keyword"}}}}}}, t)
                .find("mapping parameter 'derived'"),
            std::string::npos);
  // A type Elasticsearch has, but not this old: OpenSearch 3.8 `version`
  // goes to 8.19 (7.10+), never to 6.8.
  EXPECT_EQ(mapping_refusal(field({{"type", "version"}}), reverse(kEs819, kOs38)), "");
  // OpenSearch 3.x append-only indices: refused; "false" is what ES does.
  EXPECT_NE(settings_refusal(json{{"index.append_only.enabled", "true"}}, reverse(kEs819, kOs38))
                .find("append-only"),
            std::string::npos);
  EXPECT_EQ(settings_refusal(json{{"index.append_only.enabled", "false"}}, reverse(kEs819, kOs38)),
            "");
}

// ---- OpenSearch 3 -> 2 -------------------------------------------------------

TEST(ReverseOs3To2, ThreeOnlyTypesAreRefusedEverythingElsePasses) {
  const Target t = reverse(kOs219, kOs38);
  EXPECT_NE(mapping_refusal(field({{"type", "version"}}), t)
                .find("field 'f': field type 'version' exists since OpenSearch 3.0; OpenSearch "
                      "2.19.6 cannot take it"),
            std::string::npos);
  EXPECT_NE(mapping_refusal(field({{"type", "semantic"}}), t).find("'semantic'"),
            std::string::npos);
  auto r = transform_index(fixture("os_2_index.json"), t);  // knn_vector, flat_object: 2.x has
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->body["settings"]["index.knn"], "true");
  EXPECT_EQ(r->body["mappings"]["properties"]["embedding"]["type"], "knn_vector");
  // Settings 3.x added: derived _source dropped with a note (2.19 stores
  // _source), append-only refused.
  Transformed s = transform_settings(json{{"index.derived_source.enabled", "true"}}, t);
  EXPECT_TRUE(s.body.empty()) << s.body.dump();
  EXPECT_TRUE(has_note(s.notes, "index.derived_source.enabled"));
  EXPECT_NE(settings_refusal(json{{"index.append_only.enabled", "true"}}, t)
                .find("'index.append_only.enabled' = \"true\""),
            std::string::npos);
}

}  // namespace
}  // namespace tandem::meta
