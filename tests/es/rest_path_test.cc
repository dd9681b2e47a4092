// The REST-path table, row by row: ES 6.8 typed paths, 7.x/8.x/9.x
// typeless paths, metadata, multi-document operations and reads.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "es/es.h"

namespace tandem::es {
namespace {

using RC = RestKind;
using DocOp = RestDocOp;

struct Case {
  const char* method;
  const char* target;
  RC cls;
  DocOp op;
  std::optional<std::string> index;
  std::optional<std::string> id;
  bool typed = false;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.method << " " << c.target;
}

const Case kCases[] = {
    // ---- typeless single documents (7.x - 9.x)
    {"PUT", "/products/_doc/42", RC::kDocWrite, DocOp::kIndex, "products", "42"},
    {"POST", "/products/_doc/42", RC::kDocWrite, DocOp::kIndex, "products", "42"},
    {"PUT", "/products/_doc/42?op_type=create", RC::kDocWrite, DocOp::kCreate, "products", "42"},
    {"PUT", "/products/_doc/42?refresh=true&op_type=index", RC::kDocWrite, DocOp::kIndex,
     "products", "42"},
    {"POST", "/products/_doc", RC::kDocWrite, DocOp::kIndex, "products", std::nullopt},
    {"POST", "/products/_doc?op_type=create", RC::kDocWrite, DocOp::kCreate, "products",
     std::nullopt},
    {"POST", "/products/_doc/", RC::kDocWrite, DocOp::kIndex, "products", std::nullopt},
    {"PUT", "/products/_create/42", RC::kDocWrite, DocOp::kCreate, "products", "42"},
    {"POST", "/products/_create/42", RC::kDocWrite, DocOp::kCreate, "products", "42"},
    {"POST", "/products/_update/42", RC::kDocWrite, DocOp::kUpdate, "products", "42"},
    {"POST", "/products/_update/42?retry_on_conflict=3", RC::kDocWrite, DocOp::kUpdate, "products",
     "42"},
    {"DELETE", "/products/_doc/42", RC::kDocWrite, DocOp::kDelete, "products", "42"},
    {"GET", "/products/_doc/42", RC::kRead, DocOp::kNone, "products", std::nullopt},
    {"HEAD", "/products/_doc/42", RC::kRead, DocOp::kNone, "products", std::nullopt},
    {"GET", "/products/_source/42", RC::kRead, DocOp::kNone, std::nullopt, std::nullopt},
    {"PUT", "/products/_update/42", RC::kRead, DocOp::kNone, std::nullopt, std::nullopt},
    // ids with reserved names: ES indexes a document called "_search" on PUT
    {"PUT", "/products/_doc/_search", RC::kDocWrite, DocOp::kIndex, "products", "_search"},
    {"PUT", "/products/_doc/_count", RC::kDocWrite, DocOp::kIndex, "products", "_count"},
    // percent-encoded ids and indices, kept byte-exact
    {"PUT", "/products/_doc/x%2Fy%20z", RC::kDocWrite, DocOp::kIndex, "products", "x/y z"},
    {"PUT", "/products/_doc/a+b", RC::kDocWrite, DocOp::kIndex, "products", "a+b"},
    {"PUT", "/products/_doc/%E2%82%AC", RC::kDocWrite, DocOp::kIndex, "products", "\xE2\x82\xAC"},
    {"PUT", "/products/_doc/%FF%00%C3", RC::kDocWrite, DocOp::kIndex, "products",
     std::string("\xFF\x00\xC3", 3)},
    {"PUT", "/products/_doc/100%", RC::kDocWrite, DocOp::kIndex, "products", "100%"},
    {"PUT", "/products/_doc/%zz", RC::kDocWrite, DocOp::kIndex, "products", "%zz"},
    {"PUT", "/my%2Dindex/_doc/1", RC::kDocWrite, DocOp::kIndex, "my-index", "1"},
    {"DELETE", "/products/_doc/%3F%23", RC::kDocWrite, DocOp::kDelete, "products", "?#"},
    // ---- typed single documents (6.x; 7.x with deprecation)
    {"PUT", "/products/product/42", RC::kDocWrite, DocOp::kIndex, "products", "42", true},
    {"POST", "/products/product/42", RC::kDocWrite, DocOp::kIndex, "products", "42", true},
    {"PUT", "/products/product/42?op_type=create", RC::kDocWrite, DocOp::kCreate, "products", "42",
     true},
    {"POST", "/products/product", RC::kDocWrite, DocOp::kIndex, "products", std::nullopt, true},
    {"PUT", "/products/product/42/_create", RC::kDocWrite, DocOp::kCreate, "products", "42", true},
    {"POST", "/products/product/42/_create", RC::kDocWrite, DocOp::kCreate, "products", "42", true},
    {"POST", "/products/product/42/_update", RC::kDocWrite, DocOp::kUpdate, "products", "42", true},
    {"POST", "/products/_doc/42/_update", RC::kDocWrite, DocOp::kUpdate, "products", "42", true},
    {"DELETE", "/products/product/42", RC::kDocWrite, DocOp::kDelete, "products", "42", true},
    {"GET", "/products/product/42", RC::kRead, DocOp::kNone, std::nullopt, std::nullopt, true},
    {"POST", "/products/product/_search", RC::kRead, DocOp::kNone, "products", std::nullopt, true},
    {"GET", "/products/product/_count", RC::kRead, DocOp::kNone, "products", std::nullopt, true},
    {"POST", "/products/product/_mget", RC::kRead, DocOp::kNone, "products", std::nullopt, true},
    {"PUT", "/products/product/_search", RC::kDocWrite, DocOp::kIndex, "products", "_search", true},
    {"GET", "/products/product/42/_explain", RC::kRead, DocOp::kNone},
    {"POST", "/products/product/42/_termvectors", RC::kRead, DocOp::kNone},
    {"GET", "/products/product/42/_source", RC::kRead, DocOp::kNone},
    // ---- bulk
    {"POST", "/_bulk", RC::kBulk, DocOp::kNone},
    {"PUT", "/_bulk", RC::kBulk, DocOp::kNone},
    {"POST", "/_bulk?refresh=wait_for", RC::kBulk, DocOp::kNone},
    {"POST", "/products/_bulk", RC::kBulk, DocOp::kNone, "products"},
    {"POST", "/products/product/_bulk", RC::kBulk, DocOp::kNone, "products", std::nullopt, true},
    {"POST", "/products/_doc/_bulk", RC::kBulk, DocOp::kNone, "products", std::nullopt, true},
    {"GET", "/_bulk", RC::kRead, DocOp::kNone},
    // ---- multi-document
    {"POST", "/products/_update_by_query", RC::kMultiDocWrite, DocOp::kNone, "products"},
    {"POST", "/products/_update_by_query?conflicts=proceed", RC::kMultiDocWrite, DocOp::kNone,
     "products"},
    {"POST", "/products/_delete_by_query", RC::kMultiDocWrite, DocOp::kNone, "products"},
    {"POST", "/products/product/_delete_by_query", RC::kMultiDocWrite, DocOp::kNone, "products",
     std::nullopt, true},
    {"POST", "/a,b/_delete_by_query", RC::kMultiDocWrite, DocOp::kNone, "a,b"},
    {"POST", "/_reindex", RC::kMultiDocWrite, DocOp::kNone},
    {"PUT", "/_reindex?wait_for_completion=false", RC::kMultiDocWrite, DocOp::kNone},
    {"POST", "/_reindex/abc:1/_rethrottle?requests_per_second=1", RC::kRead, DocOp::kNone},
    {"POST", "/_update_by_query/abc:1/_rethrottle", RC::kRead, DocOp::kNone},
    // ---- metadata
    {"PUT", "/products", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products?include_type_name=true", RC::kMetaWrite, DocOp::kNone, "products"},
    {"DELETE", "/products", RC::kMetaWrite, DocOp::kNone, "products"},
    {"DELETE", "/logs-*", RC::kMetaWrite, DocOp::kNone, "logs-*"},
    {"DELETE", "/_all", RC::kMetaWrite, DocOp::kNone, "_all"},
    {"GET", "/products", RC::kRead, DocOp::kNone},
    {"HEAD", "/products", RC::kRead, DocOp::kNone},
    {"POST", "/products/_open", RC::kMetaWrite, DocOp::kNone, "products"},
    {"POST", "/products/_close", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products/_mapping", RC::kMetaWrite, DocOp::kNone, "products"},
    {"POST", "/products/_mapping", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products/_mapping/product", RC::kMetaWrite, DocOp::kNone, "products", std::nullopt,
     true},
    {"PUT", "/products/product/_mapping", RC::kMetaWrite, DocOp::kNone, "products", std::nullopt,
     true},
    {"PUT", "/products/_mappings/product", RC::kMetaWrite, DocOp::kNone, "products", std::nullopt,
     true},
    {"GET", "/products/_mapping", RC::kRead, DocOp::kNone},
    {"PUT", "/products/_settings", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/_settings", RC::kMetaWrite, DocOp::kNone},
    {"GET", "/products/_settings", RC::kRead, DocOp::kNone},
    {"PUT", "/products/_alias/current", RC::kMetaWrite, DocOp::kNone, "products"},
    {"POST", "/products/_alias/current", RC::kMetaWrite, DocOp::kNone, "products"},
    {"DELETE", "/products/_alias/current", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products/_aliases/current", RC::kMetaWrite, DocOp::kNone, "products"},
    {"DELETE", "/products/_aliases/current", RC::kMetaWrite, DocOp::kNone, "products"},
    {"POST", "/_aliases", RC::kMetaWrite, DocOp::kNone},
    {"GET", "/_aliases", RC::kRead, DocOp::kNone},
    {"GET", "/_alias/current", RC::kRead, DocOp::kNone},
    {"PUT", "/_template/t1", RC::kMetaWrite, DocOp::kNone},
    {"POST", "/_template/t1", RC::kMetaWrite, DocOp::kNone},
    {"DELETE", "/_template/t1", RC::kMetaWrite, DocOp::kNone},
    {"GET", "/_template/t1", RC::kRead, DocOp::kNone},
    {"PUT", "/_index_template/t1", RC::kMetaWrite, DocOp::kNone},
    {"DELETE", "/_index_template/t1", RC::kMetaWrite, DocOp::kNone},
    {"POST", "/_index_template/_simulate", RC::kRead, DocOp::kNone},
    {"POST", "/_index_template/_simulate_index/foo", RC::kRead, DocOp::kNone},
    {"PUT", "/_component_template/c1", RC::kMetaWrite, DocOp::kNone},
    {"DELETE", "/_component_template/c1", RC::kMetaWrite, DocOp::kNone},
    {"POST", "/products/_rollover", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products/_shrink/small", RC::kMetaWrite, DocOp::kNone, "products"},
    {"PUT", "/products/_block/write", RC::kMetaWrite, DocOp::kNone, "products"},
    // ---- reads that look like writes
    {"POST", "/products/_refresh", RC::kRead, DocOp::kNone},
    {"POST", "/_refresh", RC::kRead, DocOp::kNone},
    {"POST", "/products/_flush", RC::kRead, DocOp::kNone},
    {"POST", "/products/_forcemerge?max_num_segments=1", RC::kRead, DocOp::kNone},
    {"POST", "/products/_cache/clear", RC::kRead, DocOp::kNone},
    {"POST", "/products/_search", RC::kRead, DocOp::kNone},
    {"GET", "/products/_search?q=x", RC::kRead, DocOp::kNone},
    // 7.x searches here, 8.x (without compat headers) indexes a document
    // "_search": version-dependent, so it is classified as the write; on 7.x
    // the answer has no _seq_no and produces nothing.
    {"POST", "/products/_doc/_search", RC::kDocWrite, DocOp::kIndex, "products", "_search"},
    {"POST", "/products/_count", RC::kRead, DocOp::kNone},
    {"POST", "/_mget", RC::kRead, DocOp::kNone},
    {"POST", "/products/_mget", RC::kRead, DocOp::kNone},
    {"POST", "/_msearch", RC::kRead, DocOp::kNone},
    {"POST", "/products/_pit?keep_alive=1m", RC::kRead, DocOp::kNone},
    {"DELETE", "/_pit", RC::kRead, DocOp::kNone},
    {"POST", "/_search/scroll", RC::kRead, DocOp::kNone},
    {"DELETE", "/_search/scroll", RC::kRead, DocOp::kNone},
    {"DELETE", "/_search/scroll/abc", RC::kRead, DocOp::kNone},
    {"POST", "/_analyze", RC::kRead, DocOp::kNone},
    {"POST", "/products/_analyze", RC::kRead, DocOp::kNone},
    {"POST", "/products/_field_caps", RC::kRead, DocOp::kNone},
    {"POST", "/products/_validate/query", RC::kRead, DocOp::kNone},
    {"POST", "/products/_explain/1", RC::kRead, DocOp::kNone},
    {"POST", "/products/_termvectors/1", RC::kRead, DocOp::kNone},
    {"GET", "/_cat/indices?v", RC::kRead, DocOp::kNone},
    {"GET", "/_cluster/health", RC::kRead, DocOp::kNone},
    {"PUT", "/_cluster/settings", RC::kRead, DocOp::kNone},
    {"GET", "/_nodes/stats", RC::kRead, DocOp::kNone},
    {"GET", "/", RC::kRead, DocOp::kNone},
    {"HEAD", "/", RC::kRead, DocOp::kNone},
    {"PUT", "/_ingest/pipeline/p1", RC::kRead, DocOp::kNone},
    {"PUT", "/_snapshot/repo", RC::kRead, DocOp::kNone},
    {"POST", "/_tasks/_cancel", RC::kRead, DocOp::kNone},
    {"OPTIONS", "/products/_doc/1", RC::kRead, DocOp::kNone},
    {"POST", "/products/_doc/1/_explain", RC::kRead, DocOp::kNone},
};

TEST(RestPath, Table) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(::testing::Message() << c);
    RestPath got = parse_rest_path(c.method, c.target);
    EXPECT_EQ(rest_kind_name(got.kind), rest_kind_name(c.cls));
    EXPECT_EQ(static_cast<int>(got.op), static_cast<int>(c.op));
    if (c.cls != RC::kRead) {
      ASSERT_EQ(got.index.has_value(), c.index.has_value());
      if (c.index) {
        EXPECT_EQ(got.index->get(), *c.index);
      }
    }
    if (c.cls == RC::kDocWrite) {
      ASSERT_EQ(got.id.has_value(), c.id.has_value());
      if (c.id) {
        EXPECT_EQ(got.id->get(), *c.id);
      }
      EXPECT_EQ(got.typed, c.typed);
    }
    if (c.cls == RC::kBulk) {
      EXPECT_EQ(got.typed, c.typed);
    }
    EXPECT_FALSE(got.endpoint.empty());
  }
}

TEST(RestPath, EndpointNamesAreBounded) {
  EXPECT_EQ(parse_rest_path("POST", "/_bulk").endpoint, "bulk");
  EXPECT_EQ(parse_rest_path("POST", "/x/_update/1").endpoint, "doc.update");
  EXPECT_EQ(parse_rest_path("PUT", "/x/_doc/1?op_type=create").endpoint, "doc.create");
  EXPECT_EQ(parse_rest_path("GET", "/x/_search").endpoint, "read.search");
  EXPECT_EQ(parse_rest_path("GET", "/_whatever123").endpoint, "read.other");
  EXPECT_EQ(parse_rest_path("GET", "/x").endpoint, "read.index");
}

// What meta's replay of captured metadata writes reads: the endpoint, the
// index expression, the named object and the mapping type.
TEST(RestPath, MetadataWritesNameTheirObject) {
  struct Meta {
    const char* method;
    const char* target;
    const char* endpoint;
    std::optional<std::string> index;
    std::optional<std::string> name;
    std::optional<std::string> type;
  };
  const Meta cases[] = {
      {"PUT", "/products", "index.create", "products", std::nullopt, std::nullopt},
      {"PUT", "/%3Clogs-%7Bnow%2Fd%7D%3E", "index.create", "<logs-{now/d}>", std::nullopt,
       std::nullopt},
      {"DELETE", "/a,b*", "index.delete", "a,b*", std::nullopt, std::nullopt},
      {"POST", "/products/_open", "index.open", "products", std::nullopt, std::nullopt},
      {"POST", "/products/_close?wait_for_active_shards=1", "index.close", "products", std::nullopt,
       std::nullopt},
      {"POST", "/_close", "index.close", std::nullopt, std::nullopt, std::nullopt},
      {"PUT", "/products/_mapping", "mapping", "products", std::nullopt, std::nullopt},
      {"PUT", "/products/_mappings", "mapping", "products", std::nullopt, std::nullopt},
      {"PUT", "/products/_mapping/product?include_type_name=true", "mapping", "products",
       std::nullopt, "product"},
      {"POST", "/products/product/_mapping", "mapping", "products", std::nullopt, "product"},
      {"PUT", "/_mapping/product", "mapping", std::nullopt, std::nullopt, "product"},
      {"PUT", "/_settings", "settings", std::nullopt, std::nullopt, std::nullopt},
      {"PUT", "/logs-*/_settings?preserve_existing=true", "settings", "logs-*", std::nullopt,
       std::nullopt},
      {"POST", "/_aliases", "aliases", std::nullopt, std::nullopt, std::nullopt},
      {"PUT", "/products/_alias/a1,a2", "alias", "products", "a1,a2", std::nullopt},
      {"DELETE", "/products/_aliases/cur%2Arent", "alias", "products", "cur*rent", std::nullopt},
      {"PUT", "/_alias/current", "alias", std::nullopt, "current", std::nullopt},
      {"PUT", "/products/_alias", "alias", "products", std::nullopt, std::nullopt},
      {"PUT", "/_template/t%201", "template", std::nullopt, "t 1", std::nullopt},
      {"DELETE", "/_index_template/t1", "index_template", std::nullopt, "t1", std::nullopt},
      {"PUT", "/_component_template/c1", "component_template", std::nullopt, "c1", std::nullopt},
      {"PUT", "/_data_stream/logs-x", "data_stream", std::nullopt, "logs-x", std::nullopt},
      {"PUT", "/products/_block/write", "index.block", "products", "write", std::nullopt},
      {"POST", "/products/_rollover/products-2", "index.rollover", "products", "products-2",
       std::nullopt},
      {"POST", "/products/_split/big", "index.resize", "products", "big", std::nullopt},
      {"POST", "/products/_clone/copy", "index.resize", "products", "copy", std::nullopt},
      {"POST", "/products/_freeze", "index.freeze", "products", std::nullopt, std::nullopt},
      {"DELETE", "/_all", "index.delete", "_all", std::nullopt, std::nullopt},
  };
  for (const Meta& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    RestPath got = parse_rest_path(c.method, c.target);
    EXPECT_EQ(rest_kind_name(got.kind), rest_kind_name(RestKind::kMetaWrite));
    EXPECT_EQ(got.endpoint, c.endpoint);
    EXPECT_EQ(got.index ? std::optional<std::string>(got.index->get()) : std::nullopt, c.index);
    EXPECT_EQ(got.name, c.name);
    EXPECT_EQ(got.type, c.type);
    EXPECT_FALSE(got.typed && !c.type) << "typed without a type segment";
  }
}

// Forms whose meaning moved between versions, read the way the newest
// version that accepts them does (and the table errs towards "write").
TEST(RestPath, VersionDifferences) {
  // 6.x: `_doc` was an ordinary type name, so /i/_doc/1 is also the typed
  // form there; 7.x+ typeless. Either way a write of document "1".
  RestPath d = parse_rest_path("PUT", "/i/_doc/1");
  EXPECT_FALSE(d.typed);
  EXPECT_FALSE(d.type);
  // 6.8 typed update and create; OpenSearch 1.x/2.x still route them.
  RestPath u = parse_rest_path("POST", "/i/t/1/_update");
  EXPECT_TRUE(u.typed);
  EXPECT_EQ(u.type, "t");
  EXPECT_EQ(u.endpoint, "doc.update");
  // 8.x/9.x and OpenSearch 2+: a POST to /i/_doc/_count indexes "_count".
  RestPath c = parse_rest_path("POST", "/i/_doc/_count");
  EXPECT_EQ(c.endpoint, "doc.index");
  EXPECT_EQ(c.id->get(), "_count");
  // 9.x / OpenSearch: _query is a typed read on 6.x only, an index write of
  // "_query" with PUT.
  EXPECT_EQ(rest_kind_name(parse_rest_path("GET", "/i/t/_query").kind), "read");
  EXPECT_EQ(parse_rest_path("PUT", "/i/t/_query").id->get(), "_query");
}

TEST(RestPath, BadInputIsARead) {
  const char* targets[] = {"",
                           "*",
                           "products",
                           "//",
                           "/?",
                           "/%",
                           "/products/_doc/1/2/3/4/5/6",
                           "/_doc/1",
                           "/_products/_doc/1",
                           "http://host/products/_doc/1",
                           "/products/_doc/1#frag/x"};
  for (const char* t : targets) {
    SCOPED_TRACE(t);
    RestPath got = parse_rest_path("PUT", t);
    EXPECT_FALSE(got.endpoint.empty());
    if (got.kind == RestKind::kDocWrite) {
      ASSERT_TRUE(got.index);
      EXPECT_FALSE(got.index->get().empty());
      EXPECT_TRUE(got.index->get()[0] != '_' || got.index->get() == "_all");
    }
  }
  EXPECT_EQ(rest_kind_name(parse_rest_path("PUT", "").kind), "read");
  EXPECT_EQ(rest_kind_name(parse_rest_path("BREW", "/products/_doc/1").kind), "read");
  EXPECT_EQ(rest_kind_name(parse_rest_path("put", "/products/_doc/1").kind), "read");
  EXPECT_EQ(rest_kind_name(parse_rest_path("PUT", "/_products/_doc/1").kind), "read");
  // A fragment never reaches the last segment.
  EXPECT_EQ(parse_rest_path("PUT", "/products/_doc/1#frag/x").id->get(), "1");
}

}  // namespace
}  // namespace tandem::es
