#include <gtest/gtest.h>

#include "es/es.h"

namespace tandem::es {
namespace {

constexpr const char* kEs817 = R"({
  "name" : "node-1",
  "cluster_name" : "blue",
  "cluster_uuid" : "q2b0Vx1bQ4y3uXg9yXlR7w",
  "version" : {
    "number" : "8.19.7",
    "build_flavor" : "default",
    "build_type" : "tar",
    "build_hash" : "abc",
    "build_date" : "2025-10-30T12:00:00.000Z",
    "build_snapshot" : false,
    "lucene_version" : "9.12.2",
    "minimum_wire_compatibility_version" : "7.17.0",
    "minimum_index_compatibility_version" : "7.0.0"
  },
  "tagline" : "You Know, for Search"
})";

constexpr const char* kEs717 =
    R"({"name":"n","cluster_name":"elasticsearch","cluster_uuid":"abc","version":{"number":"7.17.29","build_flavor":"default","build_type":"tar","build_snapshot":false,"lucene_version":"8.11.3","minimum_wire_compatibility_version":"6.8.0","minimum_index_compatibility_version":"6.0.0-beta1"},"tagline":"You Know, for Search"})";

constexpr const char* kEs68 =
    R"({"name":"n","cluster_name":"old","cluster_uuid":"u","version":{"number":"6.8.23","build_flavor":"default","build_type":"tar","build_snapshot":false,"lucene_version":"7.7.3"},"tagline":"You Know, for Search"})";

constexpr const char* kEs9Snap =
    R"({"name":"n","cluster_name":"nine","cluster_uuid":"u9","version":{"number":"9.1.0-SNAPSHOT","build_flavor":"default","build_snapshot":true},"tagline":"You Know, for Search"})";

constexpr const char* kOs2 =
    R"({"name":"os","cluster_name":"opensearch","cluster_uuid":"osu","version":{"distribution":"opensearch","number":"2.11.0","build_type":"tar","build_snapshot":false,"lucene_version":"9.7.0","minimum_wire_compatibility_version":"7.10.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"The OpenSearch Project: https://opensearch.org/"})";

constexpr const char* kOs1 =
    R"({"name":"os","cluster_name":"os1","cluster_uuid":"u","version":{"distribution":"opensearch","number":"1.3.14"},"tagline":"The OpenSearch Project: https://opensearch.org/"})";

TEST(ParseRoot, Elasticsearch8) {
  auto r = parse_root(kEs817);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->flavor, Flavor::kElasticsearch);
  EXPECT_EQ(r->version, (Version{8, 19, 7}));
  EXPECT_EQ(r->cluster_name, "blue");
  EXPECT_EQ(r->cluster_uuid, "q2b0Vx1bQ4y3uXg9yXlR7w");
  EXPECT_TRUE(r->caps.pit);
  EXPECT_TRUE(r->caps.compat_headers);
  EXPECT_FALSE(r->caps.typed_apis);
}

TEST(ParseRoot, Elasticsearch7) {
  auto r = parse_root(kEs717);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->version.to_string(), "7.17.29");
  EXPECT_EQ(r->cluster_name, "elasticsearch");
  EXPECT_TRUE(r->caps.pit);
  EXPECT_TRUE(r->caps.pit_scan);
  EXPECT_TRUE(r->caps.pit_slicing);
  EXPECT_FALSE(r->caps.compat_headers);
  EXPECT_TRUE(r->caps.composable_templates);
}

TEST(ParseRoot, Elasticsearch6) {
  auto r = parse_root(kEs68);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->version, (Version{6, 8, 23}));
  EXPECT_TRUE(r->caps.typed_apis);
  EXPECT_TRUE(r->caps.bulk_type_required);
  EXPECT_FALSE(r->caps.pit);
  EXPECT_FALSE(r->caps.composable_templates);
  EXPECT_TRUE(r->caps.seq_no_in_hits);
}

TEST(ParseRoot, Elasticsearch9Snapshot) {
  auto r = parse_root(kEs9Snap);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->version, (Version{9, 1, 0}));
  EXPECT_EQ(r->version.qualifier, "SNAPSHOT");
  EXPECT_TRUE(r->caps.compat_headers);
}

TEST(ParseRoot, OpenSearch) {
  auto r = parse_root(kOs2);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(r->flavor, Flavor::kOpenSearch);
  EXPECT_EQ(r->version, (Version{2, 11, 0}));
  EXPECT_TRUE(r->caps.pit);
  EXPECT_FALSE(r->caps.pit_scan);  // scans use sliced scroll
  EXPECT_TRUE(r->caps.composable_templates);
  EXPECT_FALSE(r->caps.typed_apis);
  EXPECT_FALSE(r->caps.compat_headers);

  auto r1 = parse_root(kOs1);
  ASSERT_TRUE(r1.is_ok());
  EXPECT_EQ(r1->flavor, Flavor::kOpenSearch);
  EXPECT_FALSE(r1->caps.pit);
  EXPECT_TRUE(r1->caps.composable_templates);
}

TEST(ParseRoot, Garbage) {
  for (const char* body :
       {"", "<html><body>Welcome to nginx!</body></html>", "null", "[1,2,3]", "\"x\"",
        R"({"status":"ok"})", R"({"version":"1.0"})", R"({"version":{"number":42}})",
        R"({"name":"x","version":{"number":"1.2.3"}})",  // no cluster_name
        "{\"version\":{\"number\":\"8.1.0\"}", "\x01\x02\xff\xfe binary"}) {
    auto r = parse_root(body);
    ASSERT_FALSE(r.is_ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kProtocol) << body;
    EXPECT_NE(r.status().message().find("not Elasticsearch"), std::string::npos)
        << r.status().message();
  }
}

TEST(ParseRoot, GarbageSnippetIsSanitizedAndShort) {
  std::string body = "<html>\n<head>\x01\x7f\xff</head>" + std::string(500, 'x');
  auto r = parse_root(body);
  ASSERT_FALSE(r.is_ok());
  const std::string& m = r.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos);
  EXPECT_EQ(m.find('\x01'), std::string::npos);
  EXPECT_EQ(m.find('\xff'), std::string::npos);
  EXPECT_LT(m.size(), 160u);
  EXPECT_NE(m.find("<html> <head>"), std::string::npos) << m;
}

TEST(ParseRoot, BadVersionNumber) {
  auto r = parse_root(R"({"cluster_name":"c","version":{"number":"eight"}})");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
  EXPECT_NE(r.status().message().find("eight"), std::string::npos);
}

TEST(Version, Parse) {
  EXPECT_EQ(Version::parse("8.19.7"), (Version{8, 19, 7}));
  EXPECT_EQ(Version::parse("7.10"), (Version{7, 10, 0}));
  auto s = Version::parse("9.1.0-SNAPSHOT");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->qualifier, "SNAPSHOT");
  EXPECT_EQ(Version::parse("6.0.0-beta1")->qualifier, "beta1");
  for (const char* bad : {"", "8", "8.", "8..1", "a.b.c", "8.1.2.3", "-1.0", "8.1-", "8.+1"}) {
    EXPECT_FALSE(Version::parse(bad)) << bad;
  }
  EXPECT_LT((Version{7, 17, 29}), (Version{8, 0, 0}));
  EXPECT_LT((Version{7, 9, 0}), (Version{7, 10, 0}));
}

struct CapRow {
  Flavor f;
  Version v;
  bool pit, pit_scan, pit_slicing, typed, bulk_type, compat, composable, seq_no;
};

TEST(Capabilities, Table) {
  const CapRow rows[] = {
      {Flavor::kElasticsearch, {6, 6, 0}, false, false, false, true, true, false, false, false},
      {Flavor::kElasticsearch, {6, 8, 23}, false, false, false, true, true, false, false, true},
      {Flavor::kElasticsearch, {7, 0, 0}, false, false, false, false, false, false, false, true},
      {Flavor::kElasticsearch, {7, 7, 1}, false, false, false, false, false, false, false, true},
      {Flavor::kElasticsearch, {7, 8, 0}, false, false, false, false, false, false, true, true},
      {Flavor::kElasticsearch, {7, 10, 2}, true, false, false, false, false, false, true, true},
      {Flavor::kElasticsearch, {7, 12, 0}, true, true, false, false, false, false, true, true},
      {Flavor::kElasticsearch, {7, 15, 0}, true, true, true, false, false, false, true, true},
      {Flavor::kElasticsearch, {7, 17, 29}, true, true, true, false, false, false, true, true},
      {Flavor::kElasticsearch, {8, 19, 7}, true, true, true, false, false, true, true, true},
      {Flavor::kElasticsearch, {9, 1, 0}, true, true, true, false, false, true, true, true},
      {Flavor::kOpenSearch, {1, 3, 0}, false, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {2, 3, 0}, false, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {2, 4, 0}, true, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {2, 11, 0}, true, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {2, 19, 6}, true, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {3, 2, 0}, true, false, false, false, false, false, true, true},
      {Flavor::kOpenSearch, {3, 3, 0}, true, true, true, false, false, false, true, true},
      {Flavor::kOpenSearch, {3, 8, 0}, true, true, true, false, false, false, true, true},
      {Flavor::kElasticsearch, {9, 2, 4}, true, true, true, false, false, true, true, true},
  };
  for (const auto& r : rows) {
    auto c = Capabilities::derive(r.f, r.v);
    std::string what = std::string(flavor_name(r.f)) + " " + r.v.to_string();
    EXPECT_EQ(c.pit, r.pit) << what;
    EXPECT_EQ(c.pit_scan, r.pit_scan) << what;
    EXPECT_EQ(c.pit_slicing, r.pit_slicing) << what;
    EXPECT_EQ(c.typed_apis, r.typed) << what;
    EXPECT_EQ(c.bulk_type_required, r.bulk_type) << what;
    EXPECT_EQ(c.compat_headers, r.compat) << what;
    EXPECT_EQ(c.composable_templates, r.composable) << what;
    EXPECT_EQ(c.seq_no_in_hits, r.seq_no) << what;
  }
}

// The fields the version matrix added: which side of a bulk "_type" is
// needed or refused, the compatibility-header major, OpenSearch's PIT API.
TEST(Capabilities, TypesCompatAndPitApi) {
  struct Row {
    Flavor f;
    Version v;
    bool type_required, type_rejected;
    int compatible_with;
    bool os_pit;
  };
  const Row rows[] = {
      {Flavor::kElasticsearch, {6, 8, 23}, true, false, 0, false},
      {Flavor::kElasticsearch, {7, 17, 29}, false, false, 0, false},
      {Flavor::kElasticsearch, {8, 19, 7}, false, true, 7, false},
      {Flavor::kElasticsearch, {9, 2, 4}, false, true, 8, false},
      {Flavor::kOpenSearch, {1, 3, 0}, false, false, 0, true},
      {Flavor::kOpenSearch, {2, 19, 6}, false, true, 0, true},
      {Flavor::kOpenSearch, {3, 8, 0}, false, true, 0, true},
  };
  for (const auto& r : rows) {
    auto c = Capabilities::derive(r.f, r.v);
    std::string what = std::string(flavor_name(r.f)) + " " + r.v.to_string();
    EXPECT_EQ(c.bulk_type_required, r.type_required) << what;
    EXPECT_EQ(c.bulk_type_rejected, r.type_rejected) << what;
    EXPECT_EQ(c.compatible_with, r.compatible_with) << what;
    EXPECT_EQ(c.pit_opensearch_api, r.os_pit) << what;
    EXPECT_EQ(BulkBuilder::for_cluster(c).with_type(), r.type_required) << what;
  }
}

TEST(ErrorSummary, Shapes) {
  EXPECT_EQ(
      error_summary(
          R"({"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [products]","resource.type":"index_or_alias","resource.id":"products","index_uuid":"_na_","index":"products"}],"type":"index_not_found_exception","reason":"no such index [products]","resource.type":"index_or_alias","resource.id":"products","index_uuid":"_na_","index":"products"},"status":404})"),
      "index_not_found_exception: no such index [products]");
  EXPECT_EQ(
      error_summary(
          R"({"error":"Incorrect HTTP method for uri [/x] and method [PATCH]","status":405})"),
      "Incorrect HTTP method for uri [/x] and method [PATCH]");
  std::string expired = error_summary(
      R"({"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [12]"}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,"failed_shards":[]},"status":404})");
  EXPECT_EQ(expired,
            "search_phase_execution_exception: all shards failed (root cause: "
            "search_context_missing_exception: No search context found for id [12])");
  EXPECT_EQ(
      error_summary(
          R"({"error":{"type":"x_exception","reason":null,"caused_by":{"type":"y","reason":"why"}}})"),
      "x_exception: y: why");
  EXPECT_EQ(error_summary(R"({"_index":"i","_id":"1","found":false})"), "not found");
  EXPECT_EQ(error_summary("<html>bad gateway</html>"), "<html>bad gateway</html>");
  EXPECT_EQ(error_summary(""), "<empty body>");
}

TEST(HttpStatus, Codes) {
  EXPECT_EQ(code_for_http_status(409), Code::kConflict);
  EXPECT_EQ(code_for_http_status(404), Code::kNotFound);
  EXPECT_EQ(code_for_http_status(401), Code::kUnauthorized);
  EXPECT_EQ(code_for_http_status(403), Code::kUnauthorized);
  EXPECT_EQ(code_for_http_status(429), Code::kUnavailable);
  EXPECT_EQ(code_for_http_status(500), Code::kUnavailable);
  EXPECT_EQ(code_for_http_status(503), Code::kUnavailable);
  EXPECT_EQ(code_for_http_status(400), Code::kInvalidArgument);
  EXPECT_EQ(code_for_http_status(413), Code::kResourceExhausted);
}

}  // namespace
}  // namespace tandem::es
