// Integration tests for metadata sync against the real blue (7.17) and
// green (8.x) clusters. Every name is unique per run; everything created is
// removed at the end of each test.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "es/es.h"
#include "meta/meta.h"
#include "support/clusters.h"
#include "support/services.h"

namespace tandem::meta {
namespace {

using nlohmann::json;

using tandem::testing::connect_or_die;

class MetaIt : public ::testing::Test {
 protected:
  void SetUp() override {
    blue_ = connect_or_die("blue", testing::blue_url());
    green_ = connect_or_die("green", testing::green_url());
    ASSERT_TRUE(blue_ && green_);
    p_ = testing::unique_name("tmeta");
  }
  void TearDown() override {
    if (!blue_ || !green_) return;
    for (es::Client* c : {blue_.get(), green_.get()}) {
      // Concrete names: green may enforce action.destructive_requires_name.
      auto names =
          c->call("GET", "/_cat/indices/" + p_ + "-*?format=json&h=index&expand_wildcards=all");
      if (names.is_ok() && names->is_array()) {
        for (const auto& row : *names) (void)c->delete_index(IndexName(row.value("index", "")));
      }
      (void)c->call("DELETE", "/_template/" + p_ + "-*");
      (void)c->call("DELETE", "/_index_template/" + p_ + "-*");
      (void)c->call("DELETE", "/_component_template/" + p_ + "-*");
    }
  }
  json must(es::Client& c, const std::string& method, const std::string& path,
            const std::optional<json>& body = std::nullopt) {
    auto r = c.call(method, path, body);
    EXPECT_TRUE(r.is_ok()) << c.label() << " " << method << " " << path << ": "
                           << r.status().to_string();
    return r.is_ok() ? *r : json();
  }
  json flat_settings(es::Client& c, const std::string& idx) {
    return must(c, "GET", "/" + idx + "/_settings?flat_settings=true")[idx]["settings"];
  }
  std::unique_ptr<es::Client> blue_, green_;
  std::string p_;
};

TEST_F(MetaIt, PlanApplyIsIdempotentAndFinalizeRestores) {
  es::Client& b = *blue_;
  es::Client& g = *green_;
  must(b, "PUT", "/_component_template/" + p_ + "-ct",
       json{{"template", {{"settings", {{"number_of_shards", 1}}}}}});
  must(b, "PUT", "/_index_template/" + p_ + "-it",
       json{{"index_patterns", {p_ + "-c-*"}},
            {"priority", 500},
            {"composed_of", {p_ + "-ct"}},
            {"template", {{"mappings", {{"properties", {{"n", {{"type", "long"}}}}}}}}}});
  must(b, "PUT", "/_template/" + p_ + "-lt",
       json{{"index_patterns", {p_ + "-l-*"}},
            {"order", 3},
            {"settings", {{"number_of_shards", 1}}},
            {"mappings", {{"properties", {{"msg", {{"type", "text"}}}}}}}});
  must(b, "PUT", "/" + p_ + "-c-1", json{{"aliases", {{p_ + "-rw", {{"is_write_index", false}}}}}});
  must(b, "PUT", "/" + p_ + "-l-1", json{{"aliases", {{p_ + "-rw", {{"is_write_index", true}}}}}});
  must(b, "PUT", "/" + p_ + "-plain",
       json{{"settings",
             {{"number_of_shards", 1}, {"number_of_replicas", 0}, {"refresh_interval", "2s"}}},
            {"mappings", {{"properties", {{"k", {{"type", "keyword"}}}}}}},
            {"aliases", {{p_ + "-r", {{"routing", "7"}}}}}});

  PlanOptions po;
  po.index_pattern = p_ + "-*";
  po.template_pattern = p_ + "-*";
  auto plan = make_plan(b, g, po);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  std::string text = render_plan(*plan);
  EXPECT_TRUE(plan->conflicts.empty()) << text;
  EXPECT_EQ(plan->changes(), 3u + 3u + 3u) << text;  // 3 templates, 3 indices, 3 alias members
  EXPECT_NE(text.find("+ put component template " + p_ + "-ct"), std::string::npos) << text;
  EXPECT_NE(text.find("+ create index " + p_ + "-plain"), std::string::npos) << text;
  EXPECT_NE(text.find("+ add alias " + p_ + "-rw -> " + p_ + "-l-1 (write index)"),
            std::string::npos)
      << text;

  MigrationOptions mo;
  ASSERT_TRUE(apply_plan(g, *plan, mo).is_ok());
  json gs = flat_settings(g, p_ + "-plain");
  EXPECT_EQ(gs["index.gc_deletes"], "24h");
  EXPECT_EQ(gs["index.refresh_interval"], "2s");
  EXPECT_EQ(gs["index.number_of_shards"], "1");
  json gm = must(g, "GET", "/" + p_ + "-c-1/_mapping");
  EXPECT_EQ(gm[p_ + "-c-1"]["mappings"]["properties"]["n"]["type"], "long");
  json ga = must(g, "GET", "/_alias/" + p_ + "-rw");
  EXPECT_EQ(ga[p_ + "-l-1"]["aliases"][p_ + "-rw"]["is_write_index"], true);
  EXPECT_EQ(ga[p_ + "-c-1"]["aliases"][p_ + "-rw"]["is_write_index"], false);
  json gr = must(g, "GET", "/_alias/" + p_ + "-r");
  EXPECT_EQ(gr[p_ + "-plain"]["aliases"][p_ + "-r"]["index_routing"], "7");

  auto again = make_plan(b, g, po);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again->changes(), 0u) << render_plan(*again);
  EXPECT_NE(render_plan(*again).find("already identical"), std::string::npos);
  ASSERT_TRUE(apply_plan(g, *again, mo).is_ok());

  MemoryKeyValue kv;
  std::vector<IndexName> idx = {IndexName(p_ + "-plain"), IndexName(p_ + "-l-1")};
  ASSERT_TRUE(tune_for_load(g, idx, kv).is_ok());
  ASSERT_TRUE(tune_for_load(g, idx, kv).is_ok());  // must not record tuned values
  gs = flat_settings(g, p_ + "-plain");
  EXPECT_EQ(gs["index.number_of_replicas"], "0");
  EXPECT_EQ(gs["index.refresh_interval"], "-1");
  EXPECT_EQ(flat_settings(g, p_ + "-l-1")["index.number_of_replicas"], "0");

  ASSERT_TRUE(finalize(b, g, p_ + "-*", kv).is_ok());
  gs = flat_settings(g, p_ + "-plain");
  EXPECT_EQ(gs["index.number_of_replicas"], "0");  // blue's value for -plain
  EXPECT_EQ(gs["index.refresh_interval"], "2s");
  EXPECT_FALSE(gs.contains("index.gc_deletes"));
  json gl = flat_settings(g, p_ + "-l-1");
  EXPECT_EQ(gl["index.number_of_replicas"], "1");
  EXPECT_FALSE(gl.contains("index.refresh_interval"));
}

TEST_F(MetaIt, AliasGuardReportsConflictAndLeavesGreenAlone) {
  es::Client& b = *blue_;
  es::Client& g = *green_;
  must(b, "PUT", "/" + p_ + "-x", json{{"aliases", {{p_ + "-a", json::object()}}}});
  must(g, "PUT", "/" + p_ + "-other", json{{"aliases", {{p_ + "-a", json::object()}}}});
  PlanOptions po;
  po.index_pattern = p_ + "-x";
  po.templates = false;
  auto plan = make_plan(b, g, po);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_EQ(plan->conflicts.size(), 1u) << render_plan(*plan);
  EXPECT_NE(plan->conflicts[0].find(p_ + "-other"), std::string::npos);
  Status s = apply_plan(g, *plan, MigrationOptions{});
  EXPECT_EQ(s.code(), Code::kConflict) << s.to_string();
  json ga = must(g, "GET", "/_alias/" + p_ + "-a");
  EXPECT_TRUE(ga.contains(p_ + "-other"));
  EXPECT_FALSE(ga.contains(p_ + "-x"));  // index created, alias not joined
  // ensure_index reports the same guard.
  must(b, "PUT", "/" + p_ + "-y", json{{"aliases", {{p_ + "-a", json::object()}}}});
  Status e = ensure_index(b, g, IndexName(p_ + "-y"));
  EXPECT_EQ(e.code(), Code::kConflict) << e.to_string();
}

TEST_F(MetaIt, EnsureIndexCreatesOnceFromBlue) {
  es::Client& b = *blue_;
  es::Client& g = *green_;
  must(b, "PUT", "/" + p_ + "-e",
       json{{"settings", {{"number_of_shards", 2}, {"index.blocks.write", true}}},
            {"mappings", {{"properties", {{"t", {{"type", "text"}}}}}}},
            {"aliases", {{p_ + "-ea", {{"is_write_index", true}}}}}});
  ASSERT_TRUE(ensure_index(b, g, IndexName(p_ + "-e")).is_ok());
  json gs = flat_settings(g, p_ + "-e");
  EXPECT_EQ(gs["index.number_of_shards"], "2");
  EXPECT_EQ(gs["index.gc_deletes"], "24h");
  EXPECT_FALSE(gs.contains("index.blocks.write"));  // deferred to finalize
  EXPECT_EQ(
      must(g, "GET", "/" + p_ + "-e/_mapping")[p_ + "-e"]["mappings"]["properties"]["t"]["type"],
      "text");
  EXPECT_TRUE(must(g, "GET", "/_alias/" + p_ + "-ea").contains(p_ + "-e"));
  ASSERT_TRUE(ensure_index(b, g, IndexName(p_ + "-e")).is_ok());  // idempotent
  EXPECT_EQ(ensure_index(b, g, IndexName(p_ + "-nope")).code(), Code::kNotFound);
  MemoryKeyValue kv;
  ASSERT_TRUE(finalize(b, g, p_ + "-e", kv).is_ok());
  EXPECT_EQ(flat_settings(g, p_ + "-e")["index.blocks.write"], "true");
}

// An ingest pipeline is held back while green is loaded (documents arrive
// already processed), then finalize copies the pipeline and sets it.
TEST_F(MetaIt, IngestPipelineIsDeferredToFinalizeAndCopied) {
  es::Client& b = *blue_;
  es::Client& g = *green_;
  const std::string pl = p_ + "-pl";
  must(b, "PUT", "/_ingest/pipeline/" + pl,
       json{{"description", "tandem test"}, {"processors", json::array()}});
  must(b, "PUT", "/" + p_ + "-p",
       json{{"settings", {{"number_of_shards", 1}, {"index.default_pipeline", pl}}}});
  ASSERT_TRUE(ensure_index(b, g, IndexName(p_ + "-p")).is_ok());
  EXPECT_FALSE(flat_settings(g, p_ + "-p").contains("index.default_pipeline"));
  MemoryKeyValue kv;
  Status st = finalize(b, g, p_ + "-p", kv);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(flat_settings(g, p_ + "-p")["index.default_pipeline"], pl);
  EXPECT_TRUE(must(g, "GET", "/_ingest/pipeline/" + pl).contains(pl));
  (void)g.delete_index(IndexName(p_ + "-p"));
  (void)b.delete_index(IndexName(p_ + "-p"));
  (void)g.call("DELETE", "/_ingest/pipeline/" + pl);
  (void)b.call("DELETE", "/_ingest/pipeline/" + pl);
}

// Does `req` on blue, then replays it on green as a captured meta event.
class MetaEventIt : public MetaIt {
 protected:
  void replay(const std::string& method, const std::string& path,
              const std::optional<json>& body = std::nullopt, bool body_as_string = false) {
    json resp = must(*blue_, method, path, body);
    json ev = {{"method", method}, {"path", path}, {"status", 200}, {"response", resp}};
    ev["body"] = body ? (body_as_string ? json(body->dump()) : *body) : json();
    Status s = apply_meta_event(*blue_, *green_, ev.dump());
    EXPECT_TRUE(s.is_ok()) << method << " " << path << ": " << s.to_string();
  }
};

TEST_F(MetaEventIt, ReplaysEveryKindOfMetadataWrite) {
  es::Client& g = *green_;
  const std::string i = p_ + "-ev";
  replay("PUT", "/" + i, json{{"mappings", {{"properties", {{"a", {{"type", "keyword"}}}}}}}});
  EXPECT_EQ(flat_settings(g, i)["index.gc_deletes"], "24h");
  replay("PUT", "/" + i + "/_mapping", json{{"properties", {{"b", {{"type", "long"}}}}}}, true);
  EXPECT_EQ(must(g, "GET", "/" + i + "/_mapping")[i]["mappings"]["properties"]["b"]["type"],
            "long");
  replay("PUT", "/" + i + "/_settings", json{{"index", {{"max_result_window", 20000}}}});
  EXPECT_EQ(flat_settings(g, i)["index.max_result_window"], "20000");
  replay("POST", "/_aliases",
         json{{"actions", {{{"add", {{"index", i}, {"alias", p_ + "-al"}}}}}}});
  EXPECT_TRUE(must(g, "GET", "/_alias/" + p_ + "-al").contains(i));
  replay("DELETE", "/" + i + "/_alias/" + p_ + "-al");
  EXPECT_FALSE(g.call("GET", "/_alias/" + p_ + "-al").is_ok());
  replay("PUT", "/" + i + "/_alias/" + p_ + "-al2", json{{"routing", "3"}});
  EXPECT_EQ(must(g, "GET", "/_alias/" + p_ + "-al2")[i]["aliases"][p_ + "-al2"]["index_routing"],
            "3");
  replay("PUT", "/_template/" + p_ + "-evt",
         json{{"index_patterns", {p_ + "-evt-*"}}, {"settings", {{"number_of_shards", 1}}}});
  EXPECT_TRUE(g.call("GET", "/_template/" + p_ + "-evt").is_ok());
  replay("DELETE", "/_template/" + p_ + "-evt");
  EXPECT_FALSE(g.call("GET", "/_template/" + p_ + "-evt").is_ok());
  replay("PUT", "/_component_template/" + p_ + "-evc",
         json{{"template", {{"mappings", {{"properties", {{"z", {{"type", "date"}}}}}}}}}});
  replay(
      "PUT", "/_index_template/" + p_ + "-evi",
      json{{"index_patterns", {p_ + "-evi-*"}}, {"priority", 501}, {"composed_of", {p_ + "-evc"}}});
  EXPECT_TRUE(g.call("GET", "/_index_template/" + p_ + "-evi").is_ok());
  // Index created through a composable template on blue: green gets the
  // template's mapping because ensure_index reads blue's resulting index.
  replay("PUT", "/" + p_ + "-evi-1");
  EXPECT_EQ(
      must(g, "GET",
           "/" + p_ + "-evi-1/_mapping")[p_ + "-evi-1"]["mappings"]["properties"]["z"]["type"],
      "date");
  replay("POST", "/" + i + "/_close");
  EXPECT_EQ(must(g, "GET", "/_cat/indices/" + i + "?format=json")[0]["status"], "close");
  replay("POST", "/" + i + "/_open");
  EXPECT_EQ(must(g, "GET", "/_cat/indices/" + i + "?format=json")[0]["status"], "open");
  replay("DELETE", "/" + i);
  EXPECT_EQ(g.call("GET", "/" + i).status().code(), Code::kNotFound);
  replay("DELETE", "/_index_template/" + p_ + "-evi");
  replay("DELETE", "/_component_template/" + p_ + "-evc");
  EXPECT_FALSE(g.call("GET", "/_component_template/" + p_ + "-evc").is_ok());

  // Replays are no-ops; failed writes and unsupported requests.
  json ev = {{"method", "DELETE"}, {"path", "/" + i}, {"status", 200}, {"body", nullptr}};
  EXPECT_TRUE(apply_meta_event(*blue_, g, ev.dump()).is_ok());
  ev = {{"method", "PUT"}, {"path", "/" + p_ + "-failed"}, {"status", 400}};
  EXPECT_TRUE(apply_meta_event(*blue_, g, ev.dump()).is_ok());
  EXPECT_EQ(g.call("GET", "/" + p_ + "-failed").status().code(), Code::kNotFound);
  ev = {{"method", "POST"}, {"path", "/_cluster/reroute"}, {"status", 200}};
  EXPECT_EQ(apply_meta_event(*blue_, g, ev.dump()).code(), Code::kInvalidArgument);
  EXPECT_EQ(apply_meta_event(*blue_, g, "not json").code(), Code::kInvalidArgument);
}

// The reverse loader's path after a cutover: green (8.x) is the primary,
// blue (7.x) the older side, and green's metadata writes are replayed into
// blue through the reverse transforms. What blue cannot express is refused,
// naming the field, and blue is left as it was.
TEST_F(MetaIt, ReverseReplayIntoTheOlderSide) {
  es::Client& b = *blue_;
  es::Client& g = *green_;
  const std::string i = p_ + "-rev";
  must(g, "PUT", "/" + i,
       json{{"settings", {{"number_of_shards", 1}, {"index.mode", "standard"}}},
            {"mappings",
             {{"properties",
               {{"a", {{"type", "keyword"}}},
                {"o", {{"type", "object"}, {"subobjects", true}}},
                {"d", {{"type", "date"}, {"format", "yyyy-MM-dd||epoch_millis"}}}}}}}});
  json ev = {{"method", "PUT"}, {"path", "/" + i}, {"status", 200}, {"response", {{"index", i}}}};
  Status s = apply_meta_event(g, b, ev.dump());
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  json m = must(b, "GET", "/" + i + "/_mapping")[i]["mappings"];
  EXPECT_EQ(m["properties"]["a"]["type"], "keyword");
  EXPECT_EQ(m["properties"]["d"]["format"], "yyyy-MM-dd||epoch_millis");
  EXPECT_FALSE(flat_settings(b, i).contains("index.mode"));

  must(g, "PUT", "/" + i + "/_mapping", json{{"properties", {{"n", {{"type", "long"}}}}}});
  ev = {{"method", "PUT"}, {"path", "/" + i + "/_mapping"}, {"status", 200}};
  s = apply_meta_event(g, b, ev.dump());
  ASSERT_TRUE(s.is_ok()) << s.to_string();
  EXPECT_EQ(must(b, "GET", "/" + i + "/_mapping")[i]["mappings"]["properties"]["n"]["type"],
            "long");

  must(g, "PUT", "/" + i + "/_mapping",
       json{{"properties",
             {{"v",
               {{"type", "dense_vector"},
                {"dims", 3},
                {"index", true},
                {"similarity", "cosine"}}}}}});
  s = apply_meta_event(g, b, ev.dump());
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("field 'v': dense_vector parameter"), std::string::npos)
      << s.to_string();
  EXPECT_NE(s.message().find(b.info().version.to_string()), std::string::npos) << s.to_string();
  EXPECT_FALSE(must(b, "GET", "/" + i + "/_mapping")[i]["mappings"]["properties"].contains("v"));
}

}  // namespace
}  // namespace tandem::meta
