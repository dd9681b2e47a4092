// classify() is the proxy's view of es::parse_rest_path, whose table is
// tested row by row in tests/es/rest_path_test.cc. Here: every class and
// op, and what the proxy reads of a classification, come through.
#include <gtest/gtest.h>

#include "proxy/proxy.h"

namespace tandem::proxy {
namespace {

TEST(Classify, EveryClassAndOpComesThrough) {
  struct Case {
    const char* method;
    const char* target;
    RequestClass cls;
    DocOp op;
  };
  const Case cases[] = {
      {"GET", "/products/_search", RequestClass::kRead, DocOp::kNone},
      {"PUT", "/products/_doc/1", RequestClass::kDocWrite, DocOp::kIndex},
      {"PUT", "/products/_create/1", RequestClass::kDocWrite, DocOp::kCreate},
      {"POST", "/products/_update/1", RequestClass::kDocWrite, DocOp::kUpdate},
      {"DELETE", "/products/_doc/1", RequestClass::kDocWrite, DocOp::kDelete},
      {"POST", "/_bulk", RequestClass::kBulk, DocOp::kNone},
      {"PUT", "/products", RequestClass::kMetaWrite, DocOp::kNone},
      {"POST", "/_reindex", RequestClass::kMultiDocWrite, DocOp::kNone},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    Classification got = classify(c.method, c.target);
    EXPECT_EQ(class_name(got.cls), class_name(c.cls));
    EXPECT_EQ(static_cast<int>(got.op), static_cast<int>(c.op));
  }
  EXPECT_EQ(class_name(RequestClass::kRead), "read");
  EXPECT_EQ(class_name(RequestClass::kDocWrite), "doc_write");
  EXPECT_EQ(class_name(RequestClass::kBulk), "bulk");
  EXPECT_EQ(class_name(RequestClass::kMetaWrite), "meta_write");
  EXPECT_EQ(class_name(RequestClass::kMultiDocWrite), "multi_doc_write");
}

TEST(Classify, CarriesIndexIdTypedAndEndpoint) {
  Classification c = classify("POST", "/products/product/x%2Fy/_update?op_type=create");
  ASSERT_TRUE(c.index && c.id);
  EXPECT_EQ(c.index->get(), "products");
  EXPECT_EQ(c.id->get(), "x/y");
  EXPECT_TRUE(c.typed);
  EXPECT_EQ(c.endpoint, "doc.update");
  Classification auto_id = classify("POST", "/products/_doc?op_type=create");
  EXPECT_EQ(static_cast<int>(auto_id.op), static_cast<int>(DocOp::kCreate));
  EXPECT_FALSE(auto_id.id);
  EXPECT_EQ(auto_id.endpoint, "doc.create");
}

TEST(Classify, CarriesTheNamedObject) {
  Classification tpl = classify("PUT", "/_index_template/tpl%201");
  ASSERT_TRUE(tpl.name);
  EXPECT_EQ(*tpl.name, "tpl 1");
  EXPECT_FALSE(tpl.index);
  Classification alias = classify("PUT", "/products/_alias/a1,a2");
  ASSERT_TRUE(alias.name && alias.index);
  EXPECT_EQ(*alias.name, "a1,a2");
  EXPECT_EQ(alias.index->get(), "products");
  EXPECT_FALSE(classify("PUT", "/products/_doc/1").name);
}

}  // namespace
}  // namespace tandem::proxy
