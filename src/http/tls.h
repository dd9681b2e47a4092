// TLS plumbing for the HTTP client (internal to src/http): turning a failed
// handshake into advice. The contexts and the per-connection setup are
// public, in http.h, because the proxy's connections use them too.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/http.h"

namespace tandem::http::detail {

// Turns a failed client handshake into a kTls Status that says what to do.
// `what` is the request ("GET /_cluster").
Status describe_handshake_error(const boost::system::error_code& ec, SSL* ssl,
                                const ClientOptions& options, const std::string& what);

// Advice for a TLS error seen after the handshake (TLS 1.3 reports a missing
// or rejected client certificate on the first read): "; set ..." or "".
std::string tls_error_advice(const boost::system::error_code& ec, const ClientOptions& options);

}  // namespace tandem::http::detail
