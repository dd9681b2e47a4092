// Header handling for the proxy server: hop-by-hop stripping (RFC 9110
// 7.6.1), framing checks against request smuggling, size accounting.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "proxy/es_error.h"
#include "proxy/write_capture.h"

namespace tandem::proxy {

// Removes Connection, the fields it names, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding, Upgrade; from requests also Expect (the
// proxy answers 100-continue itself and sends the body whole).
void strip_hop_by_hop(boost::beast::http::fields& f, bool request);

// Bytes the fields take on the wire ("name: value\r\n" each).
size_t header_bytes(const boost::beast::http::fields& f);

// Why the request's framing is ambiguous, or nullopt. Rejects what a
// front-end/back-end pair could read differently: Content-Length together
// with Transfer-Encoding, more than one Content-Length (even if equal), more
// than one Transfer-Encoding field, and any transfer coding but "chunked".
std::optional<std::string> framing_problem(
    const boost::beast::http::request<boost::beast::http::string_body>& req);

bool is_100_continue(const boost::beast::http::request<boost::beast::http::string_body>& req);

std::vector<HttpHeader> to_header_list(const boost::beast::http::fields& f);

}  // namespace tandem::proxy
