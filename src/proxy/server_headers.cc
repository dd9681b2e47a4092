#include "proxy/server_headers.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace tandem::proxy {

namespace bhttp = boost::beast::http;
using boost::beast::iequals;

void strip_hop_by_hop(bhttp::fields& f, bool request) {
  // Fields named in Connection are hop-by-hop too. Collect first: erasing
  // while iterating the Connection values would invalidate them.
  std::vector<std::string> named;
  for (auto it = f.find(bhttp::field::connection);
       it != f.end() && it->name() == bhttp::field::connection; ++it) {
    for (auto token : bhttp::token_list(it->value())) named.emplace_back(token);
  }
  for (const auto& n : named) f.erase(n);
  for (auto name : {bhttp::field::connection, bhttp::field::keep_alive,
                    bhttp::field::proxy_connection, bhttp::field::te, bhttp::field::trailer,
                    bhttp::field::transfer_encoding, bhttp::field::upgrade}) {
    f.erase(name);
  }
  if (request) f.erase(bhttp::field::expect);
}

size_t header_bytes(const bhttp::fields& f) {
  size_t n = 0;
  for (const auto& h : f) n += h.name_string().size() + h.value().size() + 4;
  return n;
}

std::optional<std::string> framing_problem(const bhttp::request<bhttp::string_body>& req) {
  const size_t cl = req.count(bhttp::field::content_length);
  const size_t te = req.count(bhttp::field::transfer_encoding);
  if (cl > 1) return "request has " + std::to_string(cl) + " Content-Length headers";
  if (te > 1) return "request has " + std::to_string(te) + " Transfer-Encoding headers";
  if (cl == 1 && te == 1)
    return std::string("request has both Content-Length and Transfer-Encoding");
  if (te == 1 && !iequals(req[bhttp::field::transfer_encoding], "chunked")) {
    return "unsupported Transfer-Encoding '" + std::string(req[bhttp::field::transfer_encoding]) +
           "' (only chunked is accepted)";
  }
  return std::nullopt;
}

bool is_100_continue(const bhttp::request<bhttp::string_body>& req) {
  auto it = req.find(bhttp::field::expect);
  return it != req.end() && iequals(it->value(), "100-continue");
}

std::vector<HttpHeader> to_header_list(const bhttp::fields& f) {
  std::vector<HttpHeader> out;
  for (const auto& h : f) out.push_back({std::string(h.name_string()), std::string(h.value())});
  return out;
}

}  // namespace tandem::proxy
