// Hop-by-hop stripping and framing checks, no sockets.
#include "proxy/server_headers.h"

#include <gtest/gtest.h>

namespace tandem::proxy {
namespace {

namespace bhttp = boost::beast::http;
using Req = bhttp::request<bhttp::string_body>;

TEST(ServerHeadersTest, StripsHopByHopAndConnectionNamedFields) {
  Req r{bhttp::verb::get, "/", 11};
  r.insert("Connection", "keep-alive, X-Secret-Hop");
  r.insert("X-Secret-Hop", "1");
  r.insert("Keep-Alive", "timeout=5");
  r.insert("Transfer-Encoding", "chunked");
  r.insert("Upgrade", "h2c");
  r.insert("TE", "trailers");
  r.insert("Proxy-Connection", "keep-alive");
  r.insert("Expect", "100-continue");
  r.insert("Authorization", "Basic Zm9vOmJhcg==");
  r.insert("X-Opaque-Id", "abc");
  strip_hop_by_hop(r, /*request=*/true);
  std::vector<std::string> left;
  for (const auto& f : r) left.emplace_back(f.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"Authorization", "X-Opaque-Id"}));
}

TEST(ServerHeadersTest, ResponseKeepsExpectLikeFieldsButDropsHopByHop) {
  bhttp::response<bhttp::string_body> r{bhttp::status::ok, 11};
  r.insert("content-type", "application/json");
  r.insert("Transfer-Encoding", "chunked");
  r.insert("X-elastic-product", "Elasticsearch");
  strip_hop_by_hop(r, /*request=*/false);
  EXPECT_EQ(r.count(bhttp::field::transfer_encoding), 0u);
  EXPECT_EQ(r["X-elastic-product"], "Elasticsearch");
}

TEST(ServerHeadersTest, FramingProblems) {
  Req ok{bhttp::verb::post, "/", 11};
  ok.insert("Content-Length", "5");
  EXPECT_FALSE(framing_problem(ok));

  Req both = ok;
  both.insert("Transfer-Encoding", "chunked");
  EXPECT_TRUE(framing_problem(both));

  Req dup = ok;
  dup.insert("Content-Length", "5");
  ASSERT_TRUE(framing_problem(dup));
  EXPECT_NE(framing_problem(dup)->find("2 Content-Length"), std::string::npos);

  Req gzip{bhttp::verb::post, "/", 11};
  gzip.insert("Transfer-Encoding", "gzip, chunked");
  EXPECT_TRUE(framing_problem(gzip));

  Req chunked{bhttp::verb::post, "/", 11};
  chunked.insert("Transfer-Encoding", "Chunked");
  EXPECT_FALSE(framing_problem(chunked));

  Req two_te = chunked;
  two_te.insert("Transfer-Encoding", "chunked");
  EXPECT_TRUE(framing_problem(two_te));
}

TEST(ServerHeadersTest, HeaderBytesAndList) {
  Req r{bhttp::verb::get, "/", 11};
  r.insert("Host", "x");        // 4 + 1 + 4
  r.insert("X-Foo", "barbaz");  // 5 + 6 + 4
  EXPECT_EQ(header_bytes(r), 9u + 15u);
  auto l = to_header_list(r);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[1].name, "X-Foo");
  EXPECT_EQ(l[1].value, "barbaz");
  r.insert("Expect", "100-Continue");
  EXPECT_TRUE(is_100_continue(r));
}

}  // namespace
}  // namespace tandem::proxy
