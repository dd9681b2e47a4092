// Unit tests (no network) for query parity: the query file, read-only
// filtering, shapes, answer normalization and the tolerant diff.
#include <gtest/gtest.h>

#include <string>

#include "verify/verify.h"

namespace tandem::verify {
namespace {

using nlohmann::json;

TEST(Queries, ParsesJsonLinesAndNamesBadLines) {
  auto qs = parse_queries(
      "# comment\n"
      "{\"method\":\"post\",\"path\":\"/i/_search\",\"body\":{\"query\":{\"match_all\":{}}}}\n"
      "\n"
      "{\"path\":\"/i/_doc/1\"}\n");
  ASSERT_TRUE(qs.is_ok()) << qs.status().to_string();
  ASSERT_EQ(qs->size(), 2u);
  EXPECT_EQ((*qs)[0].method, "POST");
  EXPECT_EQ((*qs)[0].body, R"({"query":{"match_all":{}}})");
  EXPECT_EQ((*qs)[1].method, "GET");
  EXPECT_TRUE((*qs)[1].body.empty());
  auto bad = parse_queries("{\"path\":\"/a\"}\n{\"method\":\"GET\"}\n");
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().to_string().find("line 2"), std::string::npos);
  EXPECT_FALSE(parse_queries("not json").is_ok());
}

TEST(Queries, OnlyReadsAreReplayed) {
  EXPECT_TRUE(is_read({"GET", "/i/_doc/1", ""}));
  EXPECT_TRUE(is_read({"POST", "/i/_search?size=1", "{}"}));
  EXPECT_TRUE(is_read({"POST", "/_msearch", ""}));
  EXPECT_TRUE(is_read({"POST", "/i/_count", "{}"}));
  EXPECT_FALSE(is_read({"POST", "/i/_doc", "{}"}));
  EXPECT_FALSE(is_read({"POST", "/i/_update/1", "{}"}));
  EXPECT_FALSE(is_read({"POST", "/i/_delete_by_query", "{}"}));
  EXPECT_FALSE(is_read({"PUT", "/i/_doc/1", "{}"}));
  EXPECT_FALSE(is_read({"DELETE", "/i", ""}));
}

TEST(Shapes, StripValuesKeepStructure) {
  Query a{
      "POST", "/products/_search?size=10&from=20",
      R"({"query":{"bool":{"must":[{"match":{"name":"red shoe"}},{"range":{"price":{"gte":10}}}]}}})"};
  Query b{
      "POST", "/other/_search?from=0&size=5",
      R"({"query":{"bool":{"must":[{"match":{"name":"blue"}},{"range":{"price":{"gte":99}}}]}}})"};
  EXPECT_EQ(query_shape(a), query_shape(b));
  EXPECT_EQ(
      query_shape(a),
      R"(POST _search ?from&size {"query":{"bool":{"must":[{"match":{"name":"?"}},{"range":{"price":{"gte":"?"}}}]}}})");
  Query c{"POST", "/products/_search", R"({"query":{"term":{"brand":"x"}}})"};
  EXPECT_NE(query_shape(a), query_shape(c));
  EXPECT_EQ(endpoint_of("/i/_doc/1"), "_doc");
  EXPECT_EQ(endpoint_of("/i/_search?q=a"), "_search");
  // Repeated array elements of one shape collapse (terms lists of any length).
  Query t1{"POST", "/i/_search", R"({"query":{"terms":{"t":["a","b","c"]}}})"};
  Query t2{"POST", "/i/_search", R"({"query":{"terms":{"t":["a"]}}})"};
  EXPECT_EQ(query_shape(t1), query_shape(t2));
}

TEST(Normalize, IgnoresNoiseFieldsAndVersionDifferences) {
  // 7.x: hits.total as an object, _type in hits; 8.x: no _type.
  std::string b7 = R"({"took":5,"timed_out":false,"_shards":{"total":2,"successful":2,"failed":0},)"
                   R"("hits":{"total":{"value":2,"relation":"eq"},"max_score":1.2,"hits":[)"
                   R"({"_index":"i","_type":"_doc","_id":"b","_score":1.0,"_source":{"n":1}},)"
                   R"({"_index":"i","_type":"_doc","_id":"a","_score":1.0,"_source":{"n":2}}]}})";
  std::string b8 = R"({"took":9,"timed_out":false,"_shards":{"total":1,"successful":1,"failed":0},)"
                   R"("hits":{"total":2,"max_score":1.2000001,"hits":[)"
                   R"({"_index":"i","_id":"a","_score":1.0,"_source":{"n":2.0}},)"
                   R"({"_index":"i","_id":"b","_score":1.0,"_source":{"n":1}}]}})";
  auto a = normalize_answer(200, b7);
  auto b = normalize_answer(200, b8);
  auto d = answer_diff(a, b, 1e-4);
  EXPECT_TRUE(d.empty()) << (d.empty() ? "" : d[0].second) << "\n" << a.dump() << "\n" << b.dump();
}

TEST(Normalize, RealDifferencesAndErrorsShow) {
  auto a = normalize_answer(
      200, R"({"hits":{"total":3,"hits":[{"_id":"a","_score":2.0},{"_id":"b","_score":1.0}]}})");
  auto b = normalize_answer(
      200, R"({"hits":{"total":2,"hits":[{"_id":"b","_score":2.0},{"_id":"a","_score":1.0}]}})");
  auto d = answer_diff(a, b, 1e-4);
  ASSERT_GE(d.size(), 3u);
  EXPECT_EQ(d[0].second, "body.hits.hits[0]._id: \"a\" -> \"b\"");
  EXPECT_EQ(d.back().second, "body.hits.total: 3 -> 2");
  // An error on one side only: status and error type are the diff.
  auto e = normalize_answer(
      400,
      R"({"error":{"type":"illegal_argument_exception","reason":"Fielddata access on the _id field is disallowed"},"status":400})");
  auto de = answer_diff(a, e, 1e-4);
  bool status_line = false;
  for (const auto& [p, l] : de) status_line |= l == "status: 200 -> 400";
  EXPECT_TRUE(status_line);
  EXPECT_EQ(e["body"]["error_type"], "illegal_argument_exception");
  // Scores within tolerance are equal, beyond it they are not.
  auto s1 = normalize_answer(200, R"({"hits":{"hits":[{"_id":"a","_score":1.00001}]}})");
  auto s2 = normalize_answer(200, R"({"hits":{"hits":[{"_id":"a","_score":1.00002}]}})");
  auto s3 = normalize_answer(200, R"({"hits":{"hits":[{"_id":"a","_score":1.5}]}})");
  EXPECT_TRUE(answer_diff(s1, s2, 1e-4).empty());
  EXPECT_FALSE(answer_diff(s1, s3, 1e-4).empty());
}

TEST(CompareReport, RendersMatchRateAndShapes) {
  CompareReport r;
  r.primary = "blue";
  r.secondary = "green";
  r.total = 4;
  r.matched = 3;
  r.mismatched = 1;
  ShapeStats s;
  s.endpoint = "_search";
  s.shape = "POST _search {\"query\":{\"range\":{\"ts\":{\"gte\":\"?\"}}}}";
  s.total = 1;
  s.mismatched = 1;
  s.example = "POST /i/_search {...}";
  s.example_diff = {"body.hits.total: 3 -> 0"};
  ShapeStats ok;
  ok.endpoint = "_search";
  ok.shape = "POST _search {}";
  ok.total = 3;
  ok.matched = 3;
  r.shapes = {s, ok};
  std::string t = render_compare(r);
  EXPECT_NE(t.find("query match: 75.00% (3 of 4 queries, blue -> green)"), std::string::npos) << t;
  EXPECT_NE(t.find("body.hits.total: 3 -> 0"), std::string::npos) << t;
  EXPECT_EQ(compare_to_json(r)["mismatched"], 1);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace tandem::verify
