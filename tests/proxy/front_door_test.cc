// The front door without sockets: parse_front_door() runs the session's
// parser configuration and checks over bytes (the same cases as
// proxy_server_it.cc's FrontDoorIT, which runs them through a real socket),
// fed whole and a few bytes at a time.
#include "proxy/front_door.h"

#include <gtest/gtest.h>

#include <string>

#include "capture_testdata.h"

namespace tandem::proxy {
namespace {

using Kind = FrontDoorOutcome::Kind;

FrontDoorLimits small() {
  FrontDoorLimits l;
  l.max_body_bytes = 1000;
  l.max_header_bytes = 2048;
  l.max_initial_line_bytes = 1024;
  return l;
}

struct Case {
  const char* name;
  std::string request;
  int status;  // 0: accepted
  const char* metric = "";
};

class FrontDoorTest : public ::testing::TestWithParam<Case> {};

TEST_P(FrontDoorTest, SameVerdictWholeAndInPieces) {
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    FrontDoorOutcome out = parse_front_door(GetParam().request, small(), chunk);
    if (GetParam().status == 0) {
      ASSERT_EQ(out.kind, Kind::kAccepted) << out.error.message();
      continue;
    }
    ASSERT_EQ(out.kind, Kind::kRejected) << out.error.message();
    EXPECT_EQ(out.rejection->status, GetParam().status) << out.rejection->reason;
    EXPECT_STREQ(out.rejection->metric, GetParam().metric);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, FrontDoorTest,
    ::testing::Values(
        Case{"Get", "GET /idx/_search HTTP/1.1\r\nHost: a\r\n\r\n", 0},
        Case{"BodyAtLimit",
             "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" +
                 std::string(1000, 'x'),
             0},
        Case{"Chunked",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
             "4\r\n{\"qu\r\nB\r\nery\":{}}   \r\n0\r\n\r\n",
             0},
        Case{"BodyTooLarge", "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n",
             413, "body_too_large"},
        Case{"ChunkedBodyTooLarge",
             "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n" +
                 std::string(1000, 'x') + "\r\n10\r\n" + std::string(16, 'y') + "\r\n0\r\n\r\n",
             413, "body_too_large"},
        Case{"ContentLengthAndChunked",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: "
             "chunked\r\n\r\n0\r\n\r\n",
             400, "malformed"},  // Beast refuses this one itself
        Case{"DuplicateEqualContentLength",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
             400, "framing"},
        Case{"DifferentContentLengths",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}",
             400, "malformed"},
        Case{"InvalidChunkSize",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
             "chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
             400, "malformed"},
        Case{"TransferEncodingNotChunked",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "framing"},
        Case{"TwoTransferEncodings",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
             "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             400, "malformed"},
        Case{"ChunkedNotLast",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
             "framing"},
        Case{"NegativeContentLength",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "malformed"},
        Case{"GarbageRequestLine", "HELLO\r\n\r\n", 400, "malformed"},
        Case{"HeaderTooLarge",
             "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(3000, 'h') + "\r\n\r\n", 431,
             "header_too_large"},
        Case{"ManyHeadersTooLarge",
             [] {
               std::string r = "GET / HTTP/1.1\r\nHost: a\r\n";
               for (int i = 0; i < 150; ++i) r += "X-H" + std::to_string(i) + ": 0123456789\r\n";
               return r + "\r\n";
             }(),
             431, "header_too_large"},
        // Found by the fuzzer: read whole, Beast consumes the request line
        // and "Host" before it reports the header limit; that is still a
        // 431, not a 414 about the line the buffer now starts with.
        Case{"FieldsTooLargeWithoutEnd",
             "POST /i/_doc HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4000, 'x'), 431,
             "header_too_large"},
        Case{"UriTooLong", "GET /" + std::string(1100, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
             "uri_too_long"},
        Case{"UriTooLongAndHugeHeaders",
             "GET /" + std::string(4000, 'u') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
             "uri_too_long"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(FrontDoor, AcceptedRequestKeepsTheBytesAndLeavesPipelinedOnes) {
  const std::string first =
      "POST /i/_doc HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n{\"qu\r\nB\r\nery\":{}}   \r\n0\r\n\r\n";
  const std::string input = first + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  FrontDoorOutcome out = parse_front_door(input, small());
  ASSERT_EQ(out.kind, Kind::kAccepted);
  EXPECT_EQ(out.request->body(), "{\"query\":{}}   ");
  EXPECT_EQ(out.request->target(), "/i/_doc");
  EXPECT_EQ(out.consumed, first.size());
  FrontDoorOutcome next = parse_front_door(std::string_view(input).substr(out.consumed), small());
  ASSERT_EQ(next.kind, Kind::kAccepted);
  EXPECT_EQ(next.request->target(), "/");
}

TEST(FrontDoor, ClientThatStopsIsClosedWithoutAnswer) {
  for (const std::string& in :
       {std::string(), std::string("GET / HTTP/1.1\r\nHo"),
        std::string("PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{\"a\"")}) {
    SCOPED_TRACE(in);
    FrontDoorOutcome out = parse_front_door(in, small());
    EXPECT_EQ(out.kind, Kind::kClosed);
    EXPECT_FALSE(out.rejection);
  }
}

TEST(FrontDoor, ExpectContinueIsNotedOnlyWhenABodyFollows) {
  EXPECT_TRUE(parse_front_door("POST /i/_search HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
                               "Expect: 100-continue\r\n\r\n{}",
                               small())
                  .expect_continue);
  EXPECT_FALSE(
      parse_front_door("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", small())
          .expect_continue);
  // An oversized body is refused on the header, before any 100 Continue.
  auto big = parse_front_door(
      "PUT /i/_doc/1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
      small());
  ASSERT_EQ(big.kind, Kind::kRejected);
  EXPECT_EQ(big.rejection->status, 413);
}

TEST(FrontDoor, ReasonsNameTheLimits) {
  auto r = read_error_rejection(boost::beast::http::error::body_limit, false, {}, "", small());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->reason, "request body is larger than the limit of 1000 bytes");
  auto te = parse_front_door("POST / HTTP/1.1\r\nTransfer-Encoding: br\r\n\r\n", small());
  ASSERT_EQ(te.kind, Kind::kRejected);
  EXPECT_EQ(te.rejection->reason, "unsupported Transfer-Encoding 'br' (only chunked is accepted)");
}

}  // namespace
}  // namespace tandem::proxy

namespace tandem::proxy {
namespace {

// Found by the http_request fuzz target: a header section longer than the
// limit, with obs-text bytes and a long run of tabs, fed whole vs 3 bytes at
// a time.
TEST(FrontDoorFuzzRegression, OversizedHeaderSameVerdictWholeAndInPieces) {
  const std::string in = proxy::testing::testdata("fuzz_front_door_oversized_header.http");
  FrontDoorLimits l;
  l.max_initial_line_bytes = 64;
  l.max_header_bytes = 256;
  l.max_body_bytes = 512;
  FrontDoorOutcome whole = parse_front_door(in, l);
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
    FrontDoorOutcome pieces = parse_front_door(in, l, chunk);
    EXPECT_EQ(static_cast<int>(whole.kind), static_cast<int>(pieces.kind))
        << "chunk " << chunk << ": whole " << whole.error.message() << " "
        << (whole.rejection ? whole.rejection->status : 0) << ", pieces " << pieces.error.message()
        << " " << (pieces.rejection ? pieces.rejection->status : 0);
    EXPECT_EQ(whole.request.has_value(), pieces.request.has_value()) << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace tandem::proxy
