// TLS plumbing for the HTTP client (internal to src/http).
//
// One OpenSSL context per Client, built once from TlsOptions and read-only
// afterwards, so connections on many threads can share it. Verification of
// the peer's chain and of its name/IP is on unless `insecure` was asked for.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/http.h"

namespace tandem::http::detail {

// Builds the client context. Errors name the file that could not be used.
// `env_prefix` (may be empty) names the variables in advice.
Result<std::unique_ptr<boost::asio::ssl::context>> make_tls_context(const TlsOptions& tls,
                                                                    const std::string& env_prefix);

// Per-connection setup before the handshake: SNI for host names, and the
// name or IP the certificate must match (unless insecure).
Status prepare_tls_session(SSL* ssl, const std::string& host, bool insecure);

// Turns a failed client handshake into a kTls Status that says what to do.
// `what` is the request ("GET /_cluster").
Status describe_handshake_error(const boost::system::error_code& ec, SSL* ssl,
                                const ClientOptions& options, const std::string& what);

// Advice for a TLS error seen after the handshake (TLS 1.3 reports a missing
// or rejected client certificate on the first read): "; set ..." or "".
std::string tls_error_advice(const boost::system::error_code& ec, const ClientOptions& options);

}  // namespace tandem::http::detail
