// Unit tests for the pure metadata transforms (no network), driven by JSON
// fixtures shaped like what 5.x/6.x/7.x clusters return.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "meta/internal.h"
#include "meta/meta.h"
#include "meta_test_util.h"

namespace tandem::meta {
namespace {

using nlohmann::json;

const es::Version kV8{8, 19, 7, ""};
const es::Version kV7{7, 17, 29, ""};

using test_util::fixture;
using test_util::has_note;

TEST(TransformIndex, TypedSixXIndexBecomesTypelessForEight) {
  auto t = transform_index(fixture("typed_6x_index.json"), kV8);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const json& m = t->body["mappings"];
  EXPECT_FALSE(m.contains("tweet"));
  EXPECT_FALSE(m.contains("_default_"));
  EXPECT_FALSE(m.contains("_all"));
  EXPECT_FALSE(m.contains("_field_names"));
  ASSERT_TRUE(m.contains("properties"));
  const json& p = m["properties"];
  EXPECT_EQ(p["user"], json({{"type", "keyword"}}));
  EXPECT_EQ(p["message"]["fields"]["raw"], json({{"type", "keyword"}}));
  EXPECT_EQ(p["likes"], json({{"type", "long"}}));
  EXPECT_EQ(p["place"], json({{"type", "geo_shape"}}));
  EXPECT_EQ(p["author"]["properties"]["name"], json({{"type", "text"}}));
  EXPECT_EQ(m["dynamic_templates"][0]["strings"]["mapping"], json({{"type", "keyword"}}));
  EXPECT_TRUE(has_note(t->notes, "removed mapping type 'tweet'"));
  EXPECT_TRUE(has_note(t->notes, "boost"));

  const json& s = t->body["settings"];
  EXPECT_EQ(s["index.number_of_shards"], "3");
  EXPECT_EQ(s["index.number_of_replicas"], "1");
  for (const char* gone :
       {"index.uuid", "index.creation_date", "index.provided_name", "index.version.created",
        "index.version.upgraded", "index.mapping.single_type", "index.mapper.dynamic",
        "index.soft_deletes.enabled"}) {
    EXPECT_FALSE(s.contains(gone)) << gone;
  }
  EXPECT_EQ(s["index.analysis.tokenizer.grams.type"], "ngram");
  EXPECT_EQ(s["index.analysis.tokenizer.grams.min_gram"], "2");
  EXPECT_EQ(s["index.analysis.filter.edges.type"], "edge_ngram");

  // Null alias fields are stripped; real ones kept.
  const json& a = t->body["aliases"];
  EXPECT_EQ(a["tweets"], json({{"is_write_index", true}}));
  EXPECT_TRUE(a["recent"].contains("filter"));
}

TEST(TransformIndex, SevenTargetKeepsSoftDeletesAndBoost) {
  auto t = transform_index(fixture("typed_6x_index.json"), kV7);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->body["settings"]["index.soft_deletes.enabled"], "false");
  EXPECT_EQ(t->body["mappings"]["properties"]["user"]["boost"], 1.5);
  EXPECT_FALSE(t->body["mappings"]["properties"]["user"].contains("include_in_all"));
  EXPECT_EQ(t->body["settings"]["index.analysis.tokenizer.grams.type"], "nGram");
}

TEST(TransformMappings, DocTypeIsUnwrappedSilently) {
  json m = {{"_doc", {{"properties", {{"a", {{"type", "keyword"}}}}}}}};
  auto t = transform_mappings(m, kV8);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->body, json({{"properties", {{"a", {{"type", "keyword"}}}}}}));
  EXPECT_TRUE(t->notes.empty());
}

TEST(TransformMappings, TypelessMappingIsUnchanged) {
  json m = {{"dynamic", "strict"},
            {"_source", {{"enabled", true}}},
            {"properties", {{"doc", {{"type", "text"}}}}}};
  auto t = transform_mappings(m, kV8);
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ(t->body, m);
}

TEST(TransformMappings, EmptyAndNull) {
  EXPECT_EQ(transform_mappings(json::object(), kV8)->body, json::object());
  EXPECT_EQ(transform_mappings(json(), kV8)->body, json::object());
}

TEST(TransformMappings, SeveralTypesIsAnError) {
  json m = {{"a", {{"properties", json::object()}}}, {"b", {{"properties", json::object()}}}};
  auto t = transform_mappings(m, kV8);
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_NE(t.status().message().find("a, b"), std::string::npos);
}

TEST(TransformSettings, StripsUncopyableAndRemovedSettings) {
  Transformed t = transform_settings(fixture("settings_7x.json"), kV8);
  const json& s = t.body;
  EXPECT_EQ(s["index.routing.allocation.include._tier_preference"], "data_content");
  EXPECT_EQ(s["index.number_of_replicas"], "2");
  EXPECT_EQ(s["index.refresh_interval"], "5s");
  EXPECT_EQ(s["index.gc_deletes"], "2m");
  EXPECT_EQ(s["index.translog.durability"], "async");
  EXPECT_EQ(s["index.indexing.slowlog.threshold.index.warn"], "10s");
  EXPECT_EQ(s["index.query.default_field"], json({"title", "body"}));
  EXPECT_EQ(s["index.codec"], "best_compression");
  for (const char* gone :
       {"index.routing.allocation.include.box", "index.routing.allocation.require.rack",
        "index.routing.allocation.initial_recovery._id", "index.blocks.write",
        "index.resize.source.name", "index.resize.source.uuid", "index.translog.retention.size",
        "index.translog.retention.age", "index.indexing.slowlog.level",
        "index.search.slowlog.level", "index.max_adjacency_matrix_filters",
        "index.shard.check_on_startup", "index.verified_before_close"}) {
    EXPECT_FALSE(s.contains(gone)) << gone;
  }
  EXPECT_TRUE(has_note(t.notes, "deferred index.blocks.write"));
  EXPECT_TRUE(has_note(t.notes, "index.routing.allocation.include.box"));
  EXPECT_TRUE(has_note(t.notes, "translog retention"));
}

TEST(TransformSettings, SevenTargetKeepsSevenSettings) {
  Transformed t = transform_settings(fixture("settings_7x.json"), kV7);
  EXPECT_EQ(t.body["index.translog.retention.size"], "1gb");
  EXPECT_EQ(t.body["index.max_adjacency_matrix_filters"], "50");
  EXPECT_EQ(t.body["index.shard.check_on_startup"], "fix");
  EXPECT_FALSE(t.body.contains("index.blocks.write"));
}

TEST(TransformSettings, FlatAndPrefixlessInputs) {
  json in = {
      {"number_of_shards", 2}, {"index.refresh_interval", "1s"}, {"index", {{"codec", "default"}}}};
  Transformed t = transform_settings(in, kV8);
  EXPECT_EQ(t.body, json({{"index.number_of_shards", "2"},
                          {"index.refresh_interval", "1s"},
                          {"index.codec", "default"}}));
}

TEST(TransformTemplates, LegacyTemplateKeyBecomesIndexPatterns) {
  auto t = transform_legacy_template(fixture("legacy_template_5x.json"), kV8);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_FALSE(t->body.contains("template"));
  EXPECT_EQ(t->body["index_patterns"], json::array({"logs-*"}));
  EXPECT_EQ(t->body["order"], 1);
  EXPECT_EQ(t->body["settings"], json({{"index.number_of_shards", "2"}}));
  EXPECT_EQ(t->body["mappings"]["properties"]["ts"]["type"], "date");
  EXPECT_FALSE(t->body["mappings"].contains("doc"));
  EXPECT_EQ(t->body["aliases"], json({{"all-logs", json::object()}}));
  EXPECT_TRUE(has_note(t->notes, "index_patterns"));
}

TEST(TransformTemplates, ComposableTemplateInnerPartsTransformed) {
  auto t = transform_index_template(fixture("composable_template_7x.json"), kV8);
  ASSERT_TRUE(t.is_ok());
  const json& in = t->body["template"];
  EXPECT_EQ(in["settings"], json({{"index.number_of_shards", "1"}}));
  EXPECT_FALSE(in["mappings"].contains("_field_names"));
  EXPECT_EQ(in["mappings"]["properties"]["v"], json({{"type", "double"}}));
  EXPECT_EQ(in["aliases"], json({{"metrics", json::object()}}));
  EXPECT_EQ(t->body["composed_of"], json::array({"base-settings"}));
  EXPECT_EQ(t->body["priority"], 200);
  EXPECT_EQ(t->body["_meta"]["owner"], "team-a");
}

TEST(TransformAliases, NullFieldsStripped) {
  json a = {{"x", {{"filter", nullptr}, {"routing", "1"}, {"is_hidden", false}}}, {"y", nullptr}};
  EXPECT_EQ(transform_aliases(a),
            json({{"x", {{"routing", "1"}, {"is_hidden", false}}}, {"y", json::object()}}));
}

TEST(MetaInternal, Patterns) {
  EXPECT_TRUE(detail::pattern_match("logs-*", "logs-2024"));
  EXPECT_FALSE(detail::pattern_match("logs-*,-logs-old*", "logs-old-1"));
  EXPECT_TRUE(detail::pattern_match("a,b*", "bee"));
  EXPECT_TRUE(detail::pattern_match("*", "x"));
  EXPECT_FALSE(detail::glob_match("a*c", "abd"));
  EXPECT_TRUE(detail::glob_match("a*c*", "abcd"));
  EXPECT_TRUE(detail::is_pattern("a,b"));
  EXPECT_FALSE(detail::is_pattern("abc"));
}

TEST(MemoryKeyValue, PutGet) {
  MemoryKeyValue kv;
  EXPECT_FALSE(kv.get("k")->has_value());
  ASSERT_TRUE(kv.put("k", "v").is_ok());
  EXPECT_EQ(kv.get("k")->value(), "v");
}

// ---- the reverse transforms: an 8.x source into a 7.x target ---------------

Target downgrade_target() {
  Target t(kV7);
  t.source = kV8;
  return t;
}

TEST(TransformDowngrade, ExpressibleEightXIndexIsConvertedForSeven) {
  auto t = transform_index(fixture("es_8_index_for_7x.json"), downgrade_target());
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  const json& s = t->body["settings"];
  EXPECT_EQ(s["index.number_of_shards"], "1");
  EXPECT_EQ(s["index.mapping.total_fields.limit"], "2000");
  EXPECT_EQ(s["index.routing.allocation.include._tier_preference"], "data_content");
  for (const char* k :
       {"index.mode", "index.mapping.source.mode", "index.mapping.synthetic_source_keep",
        "index.mapping.total_fields.ignore_dynamic_beyond_limit",
        "index.dense_vector.hnsw_filter_heuristic", "index.uuid", "index.version.created"}) {
    EXPECT_FALSE(s.contains(k)) << k;
  }
  const json& m = t->body["mappings"];
  EXPECT_FALSE(m.contains("subobjects"));
  EXPECT_EQ(m["_source"], json({{"enabled", false}}));  // converted, not dropped
  const json& p = m["properties"];
  EXPECT_EQ(p["name"]["fields"]["raw"], json({{"type", "keyword"}}));
  EXPECT_EQ(p["embedding"], json({{"type", "dense_vector"}, {"dims", 3}}));
  EXPECT_FALSE(p["attrs"].contains("subobjects"));
  EXPECT_EQ(p["price"], json({{"type", "double"}}));
  EXPECT_TRUE(has_note(t->notes, "converted _source.mode=disabled"));
  EXPECT_TRUE(has_note(t->notes, "dropped index.mode=\"standard\""));
  EXPECT_TRUE(has_note(t->notes, "name.raw.synthetic_source_keep"));
  EXPECT_TRUE(has_note(t->notes, "embedding.index"));
  EXPECT_TRUE(
      settings_refusal(fixture("es_8_index_for_7x.json")["settings"], downgrade_target()).empty());
}

TEST(TransformDowngrade, SyntheticSourceIsDroppedWithANote) {
  json m = {{"_source", {{"mode", "synthetic"}}}, {"properties", {{"a", {{"type", "keyword"}}}}}};
  auto t = transform_mappings(m, downgrade_target());
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_FALSE(t->body.contains("_source"));
  EXPECT_TRUE(has_note(t->notes, "dropped _source.mode=\"synthetic\""));
}

// What 7.x cannot express is refused, naming the field or setting and
// the target; nothing is half-applied.
TEST(TransformDowngrade, InexpressibleMappingsAreRefusedNamingTheKey) {
  struct Case {
    json mappings;
    std::string want;
  };
  const Case cases[] = {
      {{{"properties", {{"hits", {{"type", "counted_keyword"}}}}}},
       "field 'hits': field type 'counted_keyword' exists since Elasticsearch 8.12"},
      {{{"properties", {{"body", {{"type", "semantic_text"}}}}}}, "field 'body': field type"},
      {{{"properties", {{"terms", {{"type", "sparse_vector"}}}}}}, "'sparse_vector'"},
      {{{"properties",
         {{"v",
           {{"type", "dense_vector"}, {"dims", 3}, {"index", true}, {"similarity", "cosine"}}}}}},
       "field 'v': dense_vector parameter 'index' = true (kNN search)"},
      {{{"properties", {{"v", {{"type", "dense_vector"}, {"dims", 3}, {"element_type", "byte"}}}}}},
       "dense_vector parameter 'element_type' = \"byte\""},
      {{{"properties", {{"v", {{"type", "dense_vector"}, {"dims", 4096}}}}}},
       "dense_vector dims = 4096"},
      {{{"properties", {{"o", {{"type", "object"}, {"subobjects", false}}}}}},
       "field 'o': subobjects=false"},
      {{{"subobjects", false}}, "mapping parameter 'subobjects' = false"},
      {{{"properties",
         {{"outer",
           {{"properties",
             {{"inner",
               {{"type", "keyword"}, {"fields", {{"c", {{"type", "counted_keyword"}}}}}}}}}}}}}},
       "field 'outer.inner.c'"},
  };
  for (const auto& c : cases) {
    auto t = transform_mappings(c.mappings, downgrade_target());
    ASSERT_FALSE(t.is_ok()) << c.mappings.dump();
    EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
    EXPECT_NE(t.status().message().find(c.want), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find("Elasticsearch 7.17.29"), std::string::npos)
        << t.status().message();
  }
}

TEST(TransformDowngrade, InexpressibleSettingsAreRefusedNamingTheKey) {
  json idx = {{"settings", {{"index", {{"mode", "time_series"}, {"routing_path", "host"}}}}}};
  auto t = transform_index(idx, downgrade_target());
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("'index.mode' = \"time_series\""), std::string::npos)
      << t.status().message();
  EXPECT_NE(settings_refusal(json{{"index.time_series.end_time", "2026-12-05T00:00:00Z"}},
                             downgrade_target())
                .find("'index.time_series.end_time'"),
            std::string::npos);
  EXPECT_NE(settings_refusal(
                json{{"index",
                      {{"mapping", {{"total_fields", {{"ignore_dynamic_beyond_limit", true}}}}}}}},
                downgrade_target())
                .find("ignore_dynamic_beyond_limit"),
            std::string::npos);
  // A template carries the same refusal.
  json tmpl = {{"index_patterns", {"metrics-*"}},
               {"template", {{"settings", {{"index.mode", "time_series"}}}}}};
  EXPECT_FALSE(transform_index_template(tmpl, downgrade_target()).is_ok());
}

// The reverse rules apply only to a target older than its source: forward
// moves, and a 7.x -> 7.x or 8.x -> 8.x pair, are unchanged.
TEST(TransformDowngrade, OnlyForATargetOlderThanItsSource) {
  json m = {{"properties",
             {{"v", {{"type", "dense_vector"}, {"dims", 3}, {"index", true}}},
              {"k", {{"type", "keyword"}, {"synthetic_source_keep", "arrays"}}}}}};
  for (Target t : {Target(kV7), Target(kV8)}) {
    auto r = transform_mappings(m, t);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->body, m);
  }
  Target same(kV8);
  same.source = kV8;
  EXPECT_TRUE(transform_mappings(m, same).is_ok());
  Target seven(kV7);
  seven.source = kV7;
  EXPECT_TRUE(transform_mappings(m, seven).is_ok());
  EXPECT_FALSE(seven.older_than_source());
  EXPECT_TRUE(settings_refusal(json{{"index.mode", "time_series"}}, seven).empty());
  // From ClusterInfo, as the loader builds it: green 8.x -> blue 7.x.
  es::ClusterInfo blue, green;
  blue.version = kV7;
  green.version = kV8;
  EXPECT_TRUE(Target(blue, green).older_than_source());
  EXPECT_FALSE(Target(green, blue).older_than_source());
}

}  // namespace
}  // namespace tandem::meta
