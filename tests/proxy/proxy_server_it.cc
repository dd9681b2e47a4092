// The proxy's server half on 127.0.0.1 in front of a tiny in-process
// upstream: byte identity, chunked bodies, front-door rejections (with raw
// sockets, asserting nothing reached the upstream or capture), timeouts,
// 502/504, drain, and the write path through capture.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy/server_fixture.h"

namespace tandem::proxy::testing {
namespace {

const std::string kGzipBody(
    "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56\x00\x00\x5b\x00\xff\x00", 18);

std::string gzip_response() {
  return "HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"
         "content-type: application/json; charset=UTF-8\r\ncontent-encoding: gzip\r\n"
         "content-length: " +
         std::to_string(kGzipBody.size()) + "\r\n\r\n" + kGzipBody;
}

TEST(ProxyServerIT, ReadResponseIsByteIdentical) {
  TinyUpstream up([](const SeenRequest&) { return gzip_response(); });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(
      c.send("GET /idx/_search?q=x HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n"
             "Authorization: Basic dXNlcjpwYXNz\r\n\r\n"));
  EXPECT_EQ(c.read_response(), gzip_response());
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/idx/_search?q=x");
  EXPECT_EQ(seen[0].header("Authorization"), "Basic dXNlcjpwYXNz");  // passes unchanged
  EXPECT_EQ(seen[0].header("Accept-Encoding"), "gzip");
  EXPECT_EQ(h.capture.begins.load(), 0);  // reads never touch capture
  // Keep-alive: a second request on the same connection.
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(c.read_response(), gzip_response());
  EXPECT_EQ(up.connections(), 1);  // upstream connection reused too
}

TEST(ProxyServerIT, ErrorStatusAndReasonPassThrough) {
  const std::string resp = json_response(R"({"error":"x","status":404})", 404, "Not Found");
  TinyUpstream up([&](const SeenRequest&) { return resp; });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("GET /missing/_doc/1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(c.read_response(), resp);
}

TEST(ProxyServerIT, HeadKeepsContentLength) {
  const std::string resp =
      "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 123\r\n\r\n";
  TinyUpstream up([&](const SeenRequest&) { return resp; });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("HEAD /idx HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(c.read_response(/*head=*/true), resp);
  ASSERT_TRUE(c.send("HEAD /idx HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(c.read_response(/*head=*/true), resp);
}

TEST(ProxyServerIT, ChunkedUpstreamResponseGetsContentLength) {
  TinyUpstream up([](const SeenRequest&) {
    return std::string(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        "transfer-encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n1}\n\r\n0\r\n\r\n");
  });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(
      c.read_response(),
      "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 8\r\n\r\n{\"a\":1}\n");
}

TEST(ProxyServerIT, ChunkedRequestBodyIsForwardedWhole) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(
      c.send("POST /idx/_search HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n4\r\n{\"qu\r\nB\r\nery\":{}}   \r\n0\r\n\r\n"));
  EXPECT_EQ(status_of(c.read_response()), 200);
  auto seen = up.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "{\"query\":{}}   ");
  EXPECT_EQ(seen[0].header("Content-Length"), "15");
  EXPECT_EQ(seen[0].header("Transfer-Encoding"), "");
}

TEST(ProxyServerIT, ExpectContinueIsAnsweredByTheProxy) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(
      c.send("POST /idx/_search HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
             "Expect: 100-continue\r\n\r\n"));
  char buf[64] = {};
  const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.send("{}"));
  EXPECT_EQ(status_of(c.read_response()), 200);
  ASSERT_EQ(up.count(), 1u);
  EXPECT_EQ(up.seen()[0].header("Expect"), "");
}

// ---- front door ------------------------------------------------------------

struct Rejection {
  const char* name;
  std::string request;
  int status;
};

class FrontDoorIT : public ::testing::TestWithParam<Rejection> {};

TEST_P(FrontDoorIT, RejectsClosesAndForwardsNothing) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ServerOptions o;
  o.max_body_bytes = 1000;
  o.max_header_bytes = 2048;
  o.max_initial_line_bytes = 1024;
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send(GetParam().request));
  bool closed = false;
  const std::string raw = c.read_all(&closed);
  EXPECT_EQ(status_of(raw), GetParam().status) << raw;
  EXPECT_TRUE(closed) << "connection must be closed after a front-door rejection";
  auto j = nlohmann::json::parse(body_of(raw), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << raw;
  EXPECT_EQ(j["status"], GetParam().status);
  EXPECT_TRUE(j["error"]["type"].is_string());
  EXPECT_TRUE(j["error"]["root_cause"].is_array());
  EXPECT_EQ(up.count(), 0u) << "nothing may reach the upstream";
  EXPECT_EQ(h.capture.begins.load(), 0) << "nothing may reach capture";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FrontDoorIT,
    ::testing::Values(
        Rejection{"BodyTooLarge",
                  "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n", 413},
        Rejection{"ChunkedBodyTooLarge",
                  "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n" +
                      std::string(1000, 'x') + "\r\n10\r\n" + std::string(16, 'y') +
                      "\r\n0\r\n\r\n",
                  413},
        Rejection{"ContentLengthAndChunked",
                  "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n0\r\n\r\n",
                  400},
        Rejection{
            "DuplicateEqualContentLength",
            "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
            400},
        Rejection{
            "DifferentContentLengths",
            "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
            400},
        Rejection{"InvalidChunkSize",
                  "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                  "chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
                  400},
        Rejection{"TransferEncodingNotChunked",
                  "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        Rejection{"ChunkedNotLast",
                  "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                  400},
        Rejection{"NegativeContentLength",
                  "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        Rejection{"GarbageRequestLine", "HELLO\r\n\r\n", 400},
        Rejection{"HeaderTooLarge",
                  "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'h') + "\r\n\r\n",
                  431},
        Rejection{"ManyHeadersTooLarge",
                  [] {
                    std::string r = "GET / HTTP/1.1\r\nHost: a\r\n";
                    for (int i = 0; i < 150; ++i)
                      r += "X-H" + std::to_string(i) + ": 0123456789\r\n";
                    return r + "\r\n";
                  }(),
                  431},
        Rejection{"FieldsTooLargeWithoutEnd",
                  "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4000, 'h'), 431},
        Rejection{"UriTooLong", "GET /" + std::string(1100, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                  414},
        Rejection{"UriTooLongAndHugeHeaders",
                  "GET /" + std::string(4000, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ProxyServerIT, SlowClientIsDisconnected) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ServerOptions o;
  o.client_header_timeout = std::chrono::milliseconds(200);
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port(), 3000ms);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHo"));  // ... and never finishes
  const auto t0 = std::chrono::steady_clock::now();
  bool closed = false;
  const std::string raw = c.read_all(&closed);
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed);
  EXPECT_TRUE(raw.empty()) << raw;
  EXPECT_LT(waited, 2000ms);
  EXPECT_EQ(up.count(), 0u);
}

TEST(ProxyServerIT, SlowBodyIsDisconnected) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ServerOptions o;
  o.client_body_timeout = std::chrono::milliseconds(200);
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port(), 3000ms);
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{\"a\""));
  bool closed = false;
  c.read_all(&closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(up.count(), 0u);
  EXPECT_EQ(h.capture.begins.load(), 0);
}

TEST(ProxyServerIT, IdleKeepAliveConnectionIsClosedAfterIdleTimeout) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  ServerOptions o;
  o.client_idle_timeout = std::chrono::milliseconds(200);
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port(), 3000ms);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(status_of(c.read_response()), 200);
  bool closed = false;
  c.read_all(&closed);
  EXPECT_TRUE(closed);
}

// ---- upstream failures -------------------------------------------------------

TEST(ProxyServerIT, UnreachableUpstreamIs502NamingIt) {
  Harness h;
  const std::string url = "http://127.0.0.1:" + std::to_string(dead_port());
  ASSERT_TRUE(h.start(url).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(
      c.send("GET /_cluster/health HTTP/1.1\r\nHost: a\r\nAuthorization: Basic c2VjcmV0\r\n\r\n"));
  const std::string raw = c.read_response();
  EXPECT_EQ(status_of(raw), 502) << raw;
  EXPECT_NE(raw.find("blue at " + url), std::string::npos) << raw;
  EXPECT_EQ(raw.find("c2VjcmV0"), std::string::npos);
  // A write to an unreachable primary: nothing was applied, so capture
  // settles the ticket via complete(status 0), not abandon.
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(status_of(c.read_response()), 502);
  EXPECT_EQ(h.capture.begins.load(), 1);
  EXPECT_EQ(h.capture.completes.load(), 1);
  EXPECT_EQ(h.capture.last_complete_status.load(), 0);
  EXPECT_EQ(h.capture.abandons.load(), 0);
}

TEST(ProxyServerIT, UpstreamTimeoutAfterSendAbandonsAnd504) {
  TinyUpstream up([](const SeenRequest&) {
    std::this_thread::sleep_for(600ms);
    return json_response("{}");
  });
  Harness h;
  ServerOptions o;
  o.upstream_response_timeout = std::chrono::milliseconds(150);
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  const std::string raw = c.read_response();
  EXPECT_EQ(status_of(raw), 504) << raw;
  EXPECT_EQ(h.capture.begins.load(), 1);
  EXPECT_EQ(h.capture.abandons.load(), 1);
  EXPECT_EQ(h.capture.completes.load(), 0);
}

TEST(ProxyServerIT, UpstreamResetMidResponseAbandons) {
  TinyUpstream up([](const SeenRequest&) {
    return std::string("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial\"");
  });
  // The tiny upstream keeps the connection; make it close by answering a
  // truncated body and then the test client's read sees the proxy's 502.
  Harness h;
  ServerOptions o;
  o.upstream_response_timeout = std::chrono::milliseconds(300);
  ASSERT_TRUE(h.start(up.url(), o).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("DELETE /i/_doc/1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  const int st = status_of(c.read_response());
  EXPECT_TRUE(st == 502 || st == 504) << st;
  EXPECT_EQ(h.capture.abandons.load(), 1);
}

// ---- the write path ---------------------------------------------------------

TEST(ProxyServerIT, WriteGoesThroughCaptureAndBodyLengthIsFixed) {
  const std::string upstream_body =
      R"({"_index":"i","_id":"1","result":"updated","get":{"_source":{}}})";
  TinyUpstream up([&](const SeenRequest&) { return json_response(upstream_body, 200); });
  Harness h;
  // Capture cuts the injected "get" part, from another thread, later.
  h.capture.transform = [](std::string b) { return b.substr(0, b.find(",\"get\"")) + "}"; };
  h.capture.complete_delay = 30ms;
  h.capture.rewrite_target = "/i/_update/1?_source=true";
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(
      c.send("POST /i/_update/1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
             "Content-Length: 15\r\n\r\n{\"doc\":{\"a\":1}}"));
  const std::string raw = c.read_response();
  EXPECT_EQ(status_of(raw), 200) << raw;
  EXPECT_EQ(body_of(raw), R"({"_index":"i","_id":"1","result":"updated"})");
  EXPECT_NE(raw.find("Content-Length: 43\r\n"), std::string::npos) << raw;
  EXPECT_EQ(h.capture.begins.load(), 1);
  EXPECT_EQ(h.capture.completes.load(), 1);
  ASSERT_EQ(up.count(), 1u);
  EXPECT_EQ(up.seen()[0].target, "/i/_update/1?_source=true");
  EXPECT_EQ(up.seen()[0].body, "{\"doc\":{\"a\":1}}");
  EXPECT_EQ(h.roles->stats().writes_in_flight, 0);
}

// The write's added latency is split by stage: a log that takes 30 ms to
// acknowledge shows under stage "log", and the slow-write counter names it.
TEST(ProxyServerIT, WriteStagesNameWhereTheAddedLatencyWent) {
  TinyUpstream up([](const SeenRequest&) { return json_response(R"({"result":"created"})", 201); });
  Harness h;
  h.capture.complete_delay = 30ms;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(status_of(c.read_response()), 201);
  ASSERT_TRUE(c.send("GET /i/_doc/1 HTTP/1.1\r\nHost: a\r\n\r\n"));  // reads are not timed
  EXPECT_EQ(status_of(c.read_response()), 201);
  const std::string text = h.metrics.serialize();
  auto value = [&](const std::string& series) {
    const size_t at = text.find(series + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + series.size() + 1));
  };
  EXPECT_EQ(value(R"(tandem_proxy_slow_writes_total{stage="log"})"), 1.0) << text;
  EXPECT_EQ(value(R"(tandem_proxy_slow_writes_total{stage="intents"})"), 0.0);
  for (const char* stage :
       {"admit", "prepare", "intents", "forward", "events", "log", "respond", "hop", "other"}) {
    EXPECT_EQ(value(std::string("tandem_proxy_write_stage_seconds_count{stage=\"") + stage + "\"}"),
              1.0)
        << stage;
  }
  EXPECT_GE(value(R"(tandem_proxy_write_stage_seconds_sum{stage="log"})"), 0.029);
  EXPECT_LT(value(R"(tandem_proxy_write_stage_seconds_sum{stage="hop"})"), 0.029);
}

TEST(ProxyServerIT, CaptureLocalReplyIsSentAndNothingForwarded) {
  TinyUpstream up([](const SeenRequest&) { return json_response("{}"); });
  Harness h;
  h.capture.reply = LocalReply{503, R"({"error":{"type":"fail_closed"},"status":503})"};
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  const std::string raw = c.read_response();
  EXPECT_EQ(status_of(raw), 503);
  EXPECT_EQ(body_of(raw), R"({"error":{"type":"fail_closed"},"status":503})");
  EXPECT_EQ(up.count(), 0u);
  EXPECT_EQ(h.roles->stats().writes_in_flight, 0);
}

TEST(ProxyServerIT, RoleSwitchSendsWritesToNewPrimary) {
  TinyUpstream blue([](const SeenRequest&) { return json_response(R"({"from":"blue"})"); });
  TinyUpstream green([](const SeenRequest&) { return json_response(R"({"from":"green"})"); });
  Harness h;
  ASSERT_TRUE(h.start(blue.url(), {}, green.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"blue"})");
  auto r = h.roles->switch_roles(2s, nullptr);
  ASSERT_TRUE(r.is_ok());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"green"})");
  ASSERT_TRUE(c.send("GET /i/_doc/1 HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"green"})");
}

TEST(ProxyServerIT, SwitchWaitsForWriteInCaptureThenProceeds) {
  TinyUpstream blue([](const SeenRequest&) { return json_response(R"({"from":"blue"})"); });
  TinyUpstream green([](const SeenRequest&) { return json_response(R"({"from":"green"})"); });
  Harness h;
  h.capture.complete_delay = 300ms;  // the write is "in the log" for 300 ms
  ASSERT_TRUE(h.start(blue.url(), {}, green.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"));
  // Let the write get in flight, then switch: the switch must wait for it.
  for (int i = 0; i < 200 && h.roles->stats().writes_in_flight == 0; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(h.roles->stats().writes_in_flight, 1);
  auto r = h.roles->switch_roles(5s, nullptr);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_GE(r->held, 100ms);
  EXPECT_EQ(body_of(c.read_response()), R"({"from":"blue"})");
}

// ---- drain ----------------------------------------------------------------------

TEST(ProxyServerIT, DrainFinishesInFlightRequestAndStopsAccepting) {
  TinyUpstream up([](const SeenRequest&) {
    std::this_thread::sleep_for(300ms);
    return json_response(R"({"slow":true})");
  });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  const uint16_t port = h.port();
  RawClient busy(port);
  RawClient idle(port);
  ASSERT_TRUE(idle.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  // (idle's request also takes 300 ms; read it before draining)
  EXPECT_EQ(status_of(idle.read_response()), 200);
  ASSERT_TRUE(busy.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::this_thread::sleep_for(50ms);
  size_t cut = 99;
  std::thread drainer([&] { cut = h.server->drain(5s); });
  const std::string raw = busy.read_response();
  drainer.join();
  EXPECT_EQ(status_of(raw), 200);
  EXPECT_EQ(body_of(raw), R"({"slow":true})");
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
  EXPECT_EQ(cut, 0u);
  bool closed = false;
  idle.read_all(&closed);
  EXPECT_TRUE(closed) << "idle keep-alive connections close on drain";
  RawClient late(port);
  EXPECT_FALSE(late.connected() && late.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n") &&
               !late.read_response().empty());
}

TEST(ProxyServerIT, DrainDeadlineCutsStuckRequests) {
  TinyUpstream up([](const SeenRequest&) {
    std::this_thread::sleep_for(1500ms);
    return json_response("{}");
  });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  RawClient c(h.port());
  ASSERT_TRUE(c.send("GET /stuck HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(h.server->drain(200ms), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
}

TEST(ProxyServerIT, ManyConcurrentConnections) {
  TinyUpstream up(
      [](const SeenRequest& r) { return json_response("{\"t\":\"" + r.target + "\"}"); });
  Harness h;
  ASSERT_TRUE(h.start(up.url()).is_ok());
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      RawClient c(h.port());
      for (int i = 0; i < 25; ++i) {
        const std::string target = "/q" + std::to_string(t) + "_" + std::to_string(i);
        if (!c.send("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n")) return;
        if (body_of(c.read_response()) == "{\"t\":\"" + target + "\"}") ok++;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(h.server->stats().requests, 200u);
}

}  // namespace
}  // namespace tandem::proxy::testing
