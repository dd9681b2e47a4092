#include "proxy/front_door.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>

#include "proxy/server_headers.h"

namespace tandem::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using beast::error_code;

namespace {

FrontDoorRejection line_too_long(const FrontDoorLimits& l) {
  return {414, "too_long_http_line_exception",
          "An HTTP line is larger than " + std::to_string(l.max_initial_line_bytes) + " bytes.",
          "uri_too_long"};
}

FrontDoorRejection header_too_large(const FrontDoorLimits& l) {
  return {431, "too_long_http_header_exception",
          "HTTP header is larger than " + std::to_string(l.max_header_bytes) + " bytes.",
          "header_too_large"};
}

// "METHOD SP target SP HTTP/x.y" without the CRLF, as Beast accepted it:
// the same count as the distance to the first CRLF in the raw bytes.
size_t request_line_bytes(const FrontDoorRequest& req) {
  return req.method_string().size() + req.target().size() + 10;
}

}  // namespace

void configure_request_parser(FrontDoorParser& parser, const FrontDoorLimits& limits) {
  parser.header_limit(limits.max_initial_line_bytes + limits.max_header_bytes + 4);
  parser.body_limit(limits.max_body_bytes);
}

std::optional<FrontDoorRejection> header_rejection(const FrontDoorRequest& req,
                                                   const FrontDoorLimits& limits,
                                                   size_t raw_header_bytes) {
  if (request_line_bytes(req) > limits.max_initial_line_bytes) return line_too_long(limits);
  if (header_bytes(req) > limits.max_header_bytes ||
      raw_header_bytes > limits.max_initial_line_bytes + limits.max_header_bytes + 4) {
    return header_too_large(limits);
  }
  if (auto why = framing_problem(req)) {
    return FrontDoorRejection{400, "illegal_argument_exception", std::move(*why), "framing"};
  }
  return std::nullopt;
}

std::optional<FrontDoorRejection> read_error_rejection(error_code ec, bool in_header,
                                                       const FrontDoorRequest& partial,
                                                       std::string_view buffered,
                                                       const FrontDoorLimits& limits) {
  if (ec == bhttp::error::body_limit) {
    return FrontDoorRejection{413, "content_too_long_exception",
                              "request body is larger than the limit of " +
                                  std::to_string(limits.max_body_bytes) + " bytes",
                              "body_too_large"};
  }
  if (ec == bhttp::error::header_limit) {
    // Which part is too long: the request line or the fields. Once Beast
    // parsed the request line (a target is never empty), the rest of the
    // buffer holds fields only.
    if (!partial.target().empty()) {
      if (request_line_bytes(partial) > limits.max_initial_line_bytes) return line_too_long(limits);
      return header_too_large(limits);
    }
    const auto eol = buffered.find("\r\n");
    if (eol == std::string_view::npos || eol > limits.max_initial_line_bytes) {
      return line_too_long(limits);
    }
    return header_too_large(limits);
  }
  // The client went away, was too slow, or stopped mid-request: nothing to
  // answer.
  if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted ||
      ec == bhttp::error::partial_message || (in_header && buffered.empty())) {
    return std::nullopt;
  }
  return FrontDoorRejection{400, "illegal_argument_exception",
                            "malformed HTTP request: " + ec.message(), "malformed"};
}

FrontDoorOutcome parse_front_door(std::string_view input, const FrontDoorLimits& limits,
                                  size_t chunk) {
  if (chunk == 0) chunk = input.size();
  FrontDoorOutcome out;
  FrontDoorParser parser;
  configure_request_parser(parser, limits);
  size_t pos = 0;    // consumed by the parser
  size_t avail = 0;  // received so far

  // Beast's read loop (http::read_some): parse what is buffered; on
  // need_more receive more; at the end of the input the client half-closed.
  // Returns when `done()` holds or with the read error.
  size_t spins = 0;
  auto read_until = [&](auto done) -> error_code {
    error_code ec;
    while (!done()) {
      if (avail > pos) {
        const size_t used = parser.put(net::buffer(input.data() + pos, avail - pos), ec);
        pos += used;
        if (ec && ec != bhttp::error::need_more) return ec;
        if (!ec) {
          // Success without consuming a byte, over and over: the session's
          // read loop would spin forever on such a parser.
          spins = used == 0 ? spins + 1 : 0;
          if (spins > 16) {
            return boost::system::errc::make_error_code(boost::system::errc::operation_canceled);
          }
          continue;
        }
        ec = {};
      }
      if (avail < input.size()) {
        avail = std::min(input.size(), avail + chunk);
        continue;
      }
      if (!parser.got_some()) return bhttp::error::end_of_stream;
      parser.put_eof(ec);
      if (ec) return ec;
    }
    return {};
  };
  auto buffered = [&] { return input.substr(pos, avail - pos); };
  auto fail = [&](error_code ec, bool in_header) {
    out.error = ec;
    out.consumed = pos;
    out.rejection = read_error_rejection(ec, in_header, parser.get(), buffered(), limits);
    out.kind = out.rejection ? FrontDoorOutcome::Kind::kRejected : FrontDoorOutcome::Kind::kClosed;
    return out;
  };

  // As http::async_read_header and http::async_read set it.
  parser.eager(false);
  if (auto ec = read_until([&] { return parser.is_header_done(); })) return fail(ec, true);
  out.rejection = header_rejection(parser.get(), limits, pos);
  if (out.rejection) {
    out.kind = FrontDoorOutcome::Kind::kRejected;
    out.consumed = pos;
    return out;
  }
  out.expect_continue = is_100_continue(parser.get()) && !parser.is_done();
  parser.eager(true);
  if (auto ec = read_until([&] { return parser.is_done(); })) return fail(ec, false);
  out.kind = FrontDoorOutcome::Kind::kAccepted;
  out.consumed = pos;
  out.request = parser.release();
  return out;
}

}  // namespace tandem::proxy
