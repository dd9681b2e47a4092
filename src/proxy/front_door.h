// The proxy's front door: how a client request is parsed and what is
// refused before capture or the primary see anything (docs/proxy.md, "Front
// door"). The server session (server_session.cc) reads with Asio and calls
// these at each step; parse_front_door() runs the same steps synchronously
// over a byte string for the fuzzer (fuzz/http_request_fuzz.cc) and the
// unit tests.
//
//   configure_request_parser   limits on a fresh Beast request parser
//   header_rejection           after the header: 414, 431, 400 framing
//   read_error_rejection       after a failed read: 413, 414, 431, 400, or
//                              nothing (the client went away: just close)
#pragma once

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/server_options.h"

namespace tandem::proxy {

using FrontDoorRequest = boost::beast::http::request<boost::beast::http::string_body>;
using FrontDoorParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

struct FrontDoorLimits {
  uint64_t max_body_bytes = 100ull << 20;
  uint32_t max_initial_line_bytes = 4u << 10;
  uint32_t max_header_bytes = 16u << 10;

  static FrontDoorLimits from(const ServerOptions& o) {
    return {o.max_body_bytes, o.max_initial_line_bytes, o.max_header_bytes};
  }
};

// An answer the proxy gives itself, then closes the connection.
struct FrontDoorRejection {
  int status = 400;         // 400, 413, 414 or 431
  std::string type;         // ES exception type, e.g. "too_long_http_line_exception"
  std::string reason;       // for the ES-style body; never holds a header value but
                            // Transfer-Encoding's (which may be any bytes: escape it)
  const char* metric = "";  // tandem_proxy_front_door_rejections_total{reason}
};

// Sets the header and body limits on a freshly constructed parser. Beast
// counts the request line and the fields together, so its header limit is
// their sum; the separate 414/431 limits are checked by header_rejection().
void configure_request_parser(FrontDoorParser& parser, const FrontDoorLimits& limits);

// Once the header is complete: request line (method, target and version)
// longer than max_initial_line_bytes (414), header fields too large (431),
// ambiguous framing (400; see framing_problem()). `raw_header_bytes` is
// what the parser consumed for the header, as received: Beast enforces its
// header limit only while the header is incomplete in its buffer, so a
// header that arrives whole can pass it, and the parsed fields (whitespace
// around values trimmed) can look smaller than what was sent. Counting the
// received bytes gives the same verdict however the bytes were split.
std::optional<FrontDoorRejection> header_rejection(const FrontDoorRequest& req,
                                                   const FrontDoorLimits& limits,
                                                   size_t raw_header_bytes);

// After a read failed. `partial`: the parser's message so far (its request
// line, if Beast got that far); `buffered`: the bytes received and not yet
// consumed. Both tell a too-long request line from too-large fields: with a
// big enough first read Beast consumes the request line and some fields
// before it reports the header limit. nullopt: nothing to answer (timeout,
// end of stream, reset, truncated request) -- close.
std::optional<FrontDoorRejection> read_error_rejection(boost::beast::error_code ec, bool in_header,
                                                       const FrontDoorRequest& partial,
                                                       std::string_view buffered,
                                                       const FrontDoorLimits& limits);

// The front door over a byte string, as the session does it over a socket:
// `input` arrives `chunk` bytes at a time (0 = all at once) and then the
// client half-closes. Pipelined bytes after the first request are left.
struct FrontDoorOutcome {
  enum class Kind { kAccepted, kRejected, kClosed };
  Kind kind = Kind::kClosed;
  std::optional<FrontDoorRequest> request;      // kAccepted
  std::optional<FrontDoorRejection> rejection;  // kRejected
  boost::beast::error_code error;               // the read error, if any
  bool expect_continue = false;                 // a 100 Continue would have been sent
  size_t consumed = 0;                          // bytes of `input` the request took
};
FrontDoorOutcome parse_front_door(std::string_view input, const FrontDoorLimits& limits,
                                  size_t chunk = 0);

}  // namespace tandem::proxy
