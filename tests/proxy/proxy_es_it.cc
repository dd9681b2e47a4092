// The proxy in front of the real blue (ES 7.17) and green (ES 8.x): the same
// raw request sent directly and through the proxy gets the same bytes back
// (search responses differ only in "took"). Writes go through the real
// classify() and a counting fake capture.
#include <gtest/gtest.h>

#include <regex>

#include "proxy/server_fixture.h"
#include "support/services.h"

namespace tandem::proxy::testing {
namespace {

struct Cluster {
  const char* name;
  std::string (*url)();
};

uint16_t port_of(const std::string& url) {
  auto u = http::Url::parse(url);
  return u.is_ok() ? u->port : 0;
}

// One raw exchange on a fresh connection.
std::string roundtrip(uint16_t port, const std::string& req, bool head = false) {
  RawClient c(port, 10000ms);
  if (!c.connected() || !c.send(req)) return {};
  return c.read_response(head);
}

std::string without_took(std::string s) {
  return std::regex_replace(s, std::regex("\"took\":[0-9]+"), "\"took\":0");
}

bool is_chunked(const std::string& raw) {
  return std::regex_search(head_of(raw),
                           std::regex("\r\ntransfer-encoding: *chunked", std::regex::icase));
}

// The response with its framing taken out: status line, every header but
// Content-Length / Transfer-Encoding (hop-by-hop framing the proxy may
// change: it answers a chunked primary with Content-Length), decoded body.
std::string canonical(const std::string& raw, bool head = false) {
  namespace bhttp = boost::beast::http;
  bhttp::response_parser<bhttp::string_body> p;
  p.eager(true);
  if (head) p.skip(true);
  boost::beast::error_code ec;
  p.put(boost::asio::buffer(raw), ec);
  if (ec && !(head && p.is_header_done())) return "unparseable: " + ec.message() + "\n" + raw;
  const auto& m = p.get();
  std::string out = std::to_string(m.result_int()) + " " + std::string(m.reason()) + "\n";
  for (const auto& f : m) {
    if (f.name() == bhttp::field::content_length || f.name() == bhttp::field::transfer_encoding)
      continue;
    out += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
  }
  return out + "\n" + m.body();
}

class ProxyEsIT : public ::testing::TestWithParam<Cluster> {
 protected:
  void SetUp() override {
    url_ = GetParam().url();
    direct_ = port_of(url_);
    ASSERT_NE(direct_, 0) << "bad service URL " << url_;
    ASSERT_FALSE(roundtrip(direct_, "GET /_cluster/health HTTP/1.1\r\nHost: x\r\n\r\n").empty())
        << GetParam().name << " is not reachable at " << url_
        << " (start it with scripts/services up)";
    ASSERT_TRUE(h_.start(url_).is_ok());
    index_ = unique_name_index();
  }
  void TearDown() override {
    if (direct_) roundtrip(direct_, "DELETE /" + index_ + " HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  static std::string unique_name_index() { return tandem::testing::unique_name("proxy-it"); }

  std::string url_;
  uint16_t direct_ = 0;
  std::string index_;
  Harness h_;
};

std::string put(const std::string& target, const std::string& body) {
  return "PUT " + target +
         " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST_P(ProxyEsIT, ResponsesAreByteIdenticalToDirect) {
  const uint16_t proxy = h_.port();
  // Create the index and a document through the proxy (captured writes).
  const std::string created = roundtrip(
      proxy, put("/" + index_, R"({"settings":{"number_of_shards":1,"number_of_replicas":0}})"));
  ASSERT_EQ(status_of(created), 200) << created;
  const std::string indexed =
      roundtrip(proxy, put("/" + index_ + "/_doc/1?refresh=true", R"({"title":"hello","n":1})"));
  ASSERT_EQ(status_of(indexed), 201) << indexed;
  EXPECT_NE(body_of(indexed).find("\"_seq_no\":0"), std::string::npos) << indexed;
  EXPECT_EQ(h_.capture.begins.load(), 2);
  EXPECT_EQ(h_.capture.completes.load(), 2);

  const std::vector<std::string> reads = {
      "GET /" + index_ + "/_doc/1 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /" + index_ + "/_doc/1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
      "GET /" + index_ + "/_doc/missing HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /no-such-index-" + index_ + "/_doc/1 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /" + index_ + "/_mapping HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /" + index_ + "/_count HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const auto& r : reads) {
    const std::string d = roundtrip(direct_, r);
    const std::string p = roundtrip(proxy, r);
    ASSERT_FALSE(d.empty()) << r;
    // Byte for byte when the primary framed with Content-Length; the same
    // status line, headers and body bytes when it sent chunked.
    if (is_chunked(d)) {
      EXPECT_EQ(canonical(p), canonical(d)) << r;
      EXPECT_FALSE(is_chunked(p));
    } else {
      EXPECT_EQ(p, d) << r;
    }
  }
  // HEAD keeps ES's Content-Length with no body.
  const std::string head = "HEAD /" + index_ + "/_doc/1 HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string hd = roundtrip(direct_, head, true);
  const std::string hp = roundtrip(proxy, head, true);
  if (is_chunked(hd)) {
    EXPECT_EQ(canonical(hp, true), canonical(hd, true));
  } else {
    EXPECT_EQ(hp, hd);
  }

  // Search: identical up to "took".
  const std::string body = R"({"query":{"match":{"title":"hello"}}})";
  const std::string search = "POST /" + index_ +
                             "/_search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body;
  const std::string d = roundtrip(direct_, search);
  const std::string p = roundtrip(proxy, search);
  ASSERT_EQ(status_of(d), 200) << d;
  // De-chunk first: dropping "took" changes the length a chunk header states.
  EXPECT_EQ(without_took(canonical(p)), without_took(canonical(d)));
  EXPECT_EQ(h_.capture.begins.load(), 2) << "reads must not reach capture";
}

TEST_P(ProxyEsIT, ChunkedIndexRequestThroughProxy) {
  const uint16_t proxy = h_.port();
  const std::string doc = R"({"title":"chunked"})";
  char len[16];
  std::snprintf(len, sizeof len, "%zx", doc.size());
  const std::string req = "PUT /" + index_ +
                          "/_doc/c1?refresh=true HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          "application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          std::string(len) + "\r\n" + doc + "\r\n0\r\n\r\n";
  const std::string resp = roundtrip(proxy, req);
  ASSERT_EQ(status_of(resp), 201) << resp;
  const std::string get = "GET /" + index_ + "/_source/c1 HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(canonical(roundtrip(direct_, get))
                .substr(canonical(roundtrip(direct_, get)).find("\n\n") + 2),
            doc);
}

TEST_P(ProxyEsIT, OversizedBodyNeverReachesTheCluster) {
  Harness small;
  ServerOptions o;
  o.max_body_bytes = 64;
  ASSERT_TRUE(small.start(url_, o).is_ok());
  const std::string doc = R"({"pad":")" + std::string(100, 'p') + "\"}";
  const std::string resp = roundtrip(small.port(), put("/" + index_ + "/_doc/big", doc));
  EXPECT_EQ(status_of(resp), 413) << resp;
  EXPECT_EQ(small.capture.begins.load(), 0);
  const std::string check =
      roundtrip(direct_, "GET /" + index_ + "/_doc/big HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(check), 404) << check;
}

INSTANTIATE_TEST_SUITE_P(Clusters, ProxyEsIT,
                         ::testing::Values(Cluster{"blue", &tandem::testing::blue_url},
                                           Cluster{"green", &tandem::testing::green_url}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tandem::proxy::testing
