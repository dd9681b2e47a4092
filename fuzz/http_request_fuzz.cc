// libFuzzer target: the proxy's front door (src/proxy/front_door.h), i.e.
// the Beast request parser with the session's limits and the checks the
// session runs on the header and on read errors. Input: one control byte,
// then the bytes a client sends (and then half-closes).
//   control & 0x0f: how the bytes arrive (0 = all at once, else that many
//                   at a time, like reads off a socket);
//   control & 0x10: small limits (line 64, header 256, body 512) so the
//                   413/414/431 paths are reachable, else the defaults.
// Invariants on every input:
//  - an accepted request is within every limit, has unambiguous framing
//    (framing_problem() finds nothing, at most one Content-Length, which
//    equals the body size) and took no more bytes than were sent;
//  - a refusal is 400/413/414/431 and its ES-style body is valid JSON with
//    that status, whatever bytes the reason quotes;
//  - whether a request is accepted, and what it is, does not depend on how
//    the bytes were split into reads.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proxy/es_error.h"
#include "proxy/front_door.h"
#include "proxy/server_headers.h"

using namespace tandem::proxy;
namespace bhttp = boost::beast::http;

namespace {

void check(const FrontDoorOutcome& out, std::string_view in, const FrontDoorLimits& l) {
  if (out.consumed > in.size()) abort();
  switch (out.kind) {
    case FrontDoorOutcome::Kind::kAccepted: {
      if (!out.request || out.rejection) abort();
      const FrontDoorRequest& req = *out.request;
      if (req.method_string().size() + req.target().size() + 10 > l.max_initial_line_bytes) abort();
      if (header_bytes(req) > l.max_header_bytes) abort();
      if (req.body().size() > l.max_body_bytes) abort();
      if (framing_problem(req)) abort();
      if (req.count(bhttp::field::content_length) == 1) {
        // Beast takes a list of equal lengths ("2, 02"), as RFC 9110 8.6
        // allows; every element must be the body's size. (The forwarded
        // request carries a Content-Length the proxy wrote itself.)
        const auto cl = req[bhttp::field::content_length];
        size_t i = 0;
        while (i <= cl.size()) {
          uint64_t n = 0;
          size_t digits = 0;
          while (i < cl.size() && (cl[i] == ' ' || cl[i] == '\t')) ++i;
          for (; i < cl.size() && cl[i] >= '0' && cl[i] <= '9'; ++i, ++digits) {
            n = n * 10 + static_cast<uint64_t>(cl[i] - '0');
            if (n > l.max_body_bytes) abort();
          }
          while (i < cl.size() && (cl[i] == ' ' || cl[i] == '\t')) ++i;
          if (digits == 0 || n != req.body().size()) abort();
          if (i < cl.size() && cl[i] != ',') abort();  // a length that is no number
          ++i;
        }
      }
      break;
    }
    case FrontDoorOutcome::Kind::kRejected: {
      if (!out.rejection || out.request) abort();
      const FrontDoorRejection& r = *out.rejection;
      if (r.status != 400 && r.status != 413 && r.status != 414 && r.status != 431) abort();
      static simdjson::dom::parser parser;
      const std::string body = es_error_body(r.status, r.type, r.reason);
      simdjson::dom::element doc;
      if (parser.parse(body).get(doc)) abort();
      int64_t status = 0;
      if (doc["status"].get(status) || status != r.status) abort();
      std::string_view type;
      if (doc["error"]["type"].get(type) || type != r.type) abort();
      break;
    }
    case FrontDoorOutcome::Kind::kClosed:
      if (out.request || out.rejection) abort();
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  FrontDoorLimits limits;
  if (control & 0x10) {
    limits.max_initial_line_bytes = 64;
    limits.max_header_bytes = 256;
    limits.max_body_bytes = 512;
  }
  const FrontDoorOutcome whole = parse_front_door(in, limits);
  check(whole, in, limits);
  const size_t chunk = control & 0x0f;
  if (chunk != 0) {
    const FrontDoorOutcome pieces = parse_front_door(in, limits, chunk);
    check(pieces, in, limits);
    // What is forwarded must not depend on the packets. (A malformed
    // header may be refused with a 400 or just closed at the end of the
    // input, depending on where Beast's scan for the blank line resumed:
    // both forward nothing.)
    if (whole.request.has_value() != pieces.request.has_value()) abort();
    if (whole.request && (pieces.consumed != whole.consumed ||
                          pieces.request->method_string() != whole.request->method_string() ||
                          pieces.request->target() != whole.request->target() ||
                          pieces.request->body() != whole.request->body())) {
      abort();
    }
    if (whole.rejection && pieces.rejection && whole.rejection->status != 400 &&
        whole.rejection->status != pieces.rejection->status) {
      abort();
    }
  }
  return 0;
}
