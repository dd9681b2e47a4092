// Request targets (src/http/target.cc): the one splitter, percent-decoder,
// query-parameter reader and percent-encoder.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "http/http.h"

namespace tandem::http {
namespace {

TEST(Target, PercentDecodeKeepsBytes) {
  EXPECT_EQ(percent_decode("%41%62%2f"), "Ab/");
  EXPECT_EQ(percent_decode("%"), "%");
  EXPECT_EQ(percent_decode("%4"), "%4");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("%00"), std::string(1, '\0'));
}

TEST(Target, QueryParams) {
  EXPECT_EQ(query_param("a=1&b=2", "b"), "2");
  EXPECT_EQ(query_param("a=1&pretty", "pretty"), "");
  EXPECT_EQ(query_param("a=1", "b"), std::nullopt);
  EXPECT_EQ(query_param("_source=a%2Cb", "_source"), "a,b");
  EXPECT_EQ(add_query_param("/x/_update/1", "_source", "true"), "/x/_update/1?_source=true");
  EXPECT_EQ(add_query_param("/x/_update/1?refresh=true", "_source", "true"),
            "/x/_update/1?refresh=true&_source=true");
}

TEST(Target, SplitsPathQueryAndDropsFragments) {
  auto t = split_target("/a%2Fb/_doc/1?refresh=true#frag");
  EXPECT_EQ(t.path, "/a%2Fb/_doc/1");
  EXPECT_EQ(t.query, "refresh=true");
  EXPECT_EQ(split_target("/x").query, "");
  EXPECT_EQ(split_path("/a%2Fb//_doc/1/"), (std::vector<std::string>{"a/b", "_doc", "1"}));
  EXPECT_TRUE(split_path("/").empty());
  // What meta's replay of a captured write sees.
  auto m = split_target("/my%2Bidx/_mapping/_doc?include_type_name=true");
  EXPECT_EQ(split_path(m.path), (std::vector<std::string>{"my+idx", "_mapping", "_doc"}));
  EXPECT_EQ(m.query, "include_type_name=true");
  EXPECT_EQ(percent_decode("%zz%41"), "%zzA");  // a malformed escape stays
}

TEST(Target, PercentEncodeKeepsUnreservedAndAskedBytes) {
  EXPECT_EQ(percent_encode("a b/c,d*"), "a%20b%2Fc%2Cd%2A");
  EXPECT_EQ(percent_encode("a b/c,d*", ",*"), "a%20b%2Fc,d*");
  EXPECT_EQ(percent_encode(std::string("\0", 1)), "%00");
  EXPECT_EQ(percent_encode(std::string(1, '\0'), std::string(1, '\0')), "%00");
  // Decoding what was encoded gives the bytes back, whatever they are.
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(percent_decode(percent_encode(all)), all);
  EXPECT_EQ(encode_path_segment(".."), "%2E%2E");
  EXPECT_EQ(encode_path_segment("a..b"), "a..b");
}

}  // namespace
}  // namespace tandem::http
