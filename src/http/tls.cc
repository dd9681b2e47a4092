#include "http/tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace tandem::http {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

std::string var_prefix(const std::string& env_prefix) {
  return env_prefix.empty() ? "TANDEM_<NAME>" : env_prefix;
}

// A clearer error than OpenSSL's for the common case of a wrong path.
Status check_readable(const std::string& what, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return error(Code::kIo, "cannot read " + what + " '" + path + "': " + std::strerror(errno));
  }
  return Status::ok();
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

int ssl_reason(const error_code& ec) {
  if (ec.category() != net::error::get_ssl_category()) return 0;
  return ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
}

// Every context, client or listener: TLS 1.2 and later only, and a pass
// phrase callback, because without one OpenSSL would prompt on the terminal
// for the pass phrase of an encrypted key and block a daemon forever.
std::shared_ptr<ssl::context> new_context(ssl::context::method method) {
  auto ctx = std::make_shared<ssl::context>(method);
  error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  ctx->set_password_callback(
      [](std::size_t, ssl::context::password_purpose) { return std::string(); }, ec);
  return ctx;
}

}  // namespace

Result<std::shared_ptr<ssl::context>> make_client_tls_context(const TlsOptions& tls,
                                                              const std::string& env_prefix) {
  const std::string vars = var_prefix(env_prefix);
  auto ctx = new_context(ssl::context::tls_client);
  error_code ec;

  if (tls.insecure) {
    ctx->set_verify_mode(ssl::verify_none, ec);
  } else {
    ctx->set_verify_mode(ssl::verify_peer, ec);
    if (!tls.ca_file.empty()) {
      TANDEM_RETURN_IF_ERROR(check_readable("CA file (" + vars + "_CA_FILE)", tls.ca_file));
      ctx->load_verify_file(tls.ca_file, ec);
      if (ec) {
        return error(Code::kTls, "CA file '" + tls.ca_file +
                                     "' holds no usable PEM certificate: " + ec.message());
      }
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) {
        return error(Code::kTls, "cannot load the system trust store: " + ec.message() + "; set " +
                                     vars + "_CA_FILE");
      }
    }
  }

  if (!tls.cert_file.empty()) {
    // A combined PEM (cert + key in one file) is common; use it when no
    // separate key was given.
    const std::string& key = tls.key_file.empty() ? tls.cert_file : tls.key_file;
    TANDEM_RETURN_IF_ERROR(
        check_readable("client certificate (" + vars + "_CERT_FILE)", tls.cert_file));
    TANDEM_RETURN_IF_ERROR(check_readable("client key (" + vars + "_KEY_FILE)", key));
    ctx->use_certificate_chain_file(tls.cert_file, ec);
    if (ec) {
      return error(Code::kTls,
                   "cannot load client certificate '" + tls.cert_file + "': " + ec.message());
    }
    ctx->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
      return error(Code::kTls, "cannot load client key '" + key + "': " + ec.message() +
                                   " (keys protected by a pass phrase are not supported)");
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return error(Code::kTls,
                   "client key '" + key + "' does not match certificate '" + tls.cert_file + "'");
    }
  } else if (!tls.key_file.empty()) {
    return error(Code::kInvalidArgument, vars + "_KEY_FILE is set without " + vars +
                                             "_CERT_FILE; a client key needs its certificate");
  }
  return ctx;
}

Status prepare_client_tls_session(SSL* ssl, const std::string& host, bool insecure) {
  const bool ip = is_ip_literal(host);
  // RFC 6066 forbids IP literals in SNI.
  if (!ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    return error(Code::kTls, "cannot set TLS server name '" + host + "'");
  }
  if (insecure) return Status::ok();
  // OpenSSL checks the name during chain verification, so a mismatch shows
  // up as X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH with the rest.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
              : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) return error(Code::kTls, "cannot set TLS verification name '" + host + "'");
  return Status::ok();
}

Result<std::shared_ptr<ssl::context>> make_server_tls_context(const std::string& cert_file,
                                                              const std::string& key_file) {
  auto ctx = new_context(ssl::context::tls_server);
  error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return error(Code::kTls, "listener certificate '" + cert_file + "': " + ec.message());
  }
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return error(Code::kTls, "listener key '" + key_file + "': " + ec.message());
  return ctx;
}

namespace detail {

Status describe_handshake_error(const error_code& ec, SSL* ssl, const ClientOptions& options,
                                const std::string& what) {
  const std::string url = options.url.to_string();
  const std::string vars = var_prefix(options.env_prefix);
  const int reason = ssl_reason(ec);

  if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long result = SSL_get_verify_result(ssl);
    std::string detail = result == X509_V_OK ? ec.message() : X509_verify_cert_error_string(result);
    std::string advice;
    if (result == X509_V_ERR_HOSTNAME_MISMATCH || result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      advice = "connect using a name or IP the certificate lists in its subjectAltName, or set " +
               vars + "_INSECURE=1 to skip verification (unsafe)";
    } else {
      advice = "set " + vars + "_CA_FILE to the CA certificate that signed the server's " +
               "certificate, or " + vars + "_INSECURE=1 to skip verification (unsafe)";
    }
    return error(Code::kTls, "TLS verification failed for " + url +
                                 ": certificate verify failed (" + detail + "); " + advice + " (" +
                                 what + ")");
  }

  // A plain-HTTP server answers a ClientHello with "HTTP/1.1 400" (which
  // OpenSSL reads as a bad record version) or simply hangs up.
  const bool looks_plain = reason == SSL_R_WRONG_VERSION_NUMBER ||
                           reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
                           reason == SSL_R_UNKNOWN_PROTOCOL || ec == net::error::eof ||
                           ec == ssl::error::stream_truncated || ec == net::error::connection_reset;
  std::string msg = "TLS handshake with " + url + " failed: " + ec.message();
  if (looks_plain) msg += ": is the server plain HTTP? try http://";
  return error(Code::kTls, msg + tls_error_advice(ec, options) + " (" + what + ")");
}

std::string tls_error_advice(const error_code& ec, const ClientOptions& options) {
  const int reason = ssl_reason(ec);
  const std::string vars = var_prefix(options.env_prefix);
  if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
      reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE ||
      reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE || reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
      reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN) {
    return options.tls.cert_file.empty()
               ? "; the server may require a client certificate: set " + vars + "_CERT_FILE and " +
                     vars + "_KEY_FILE"
               : "; the server rejected the client certificate '" + options.tls.cert_file + "'";
  }
  return "";
}

}  // namespace detail
}  // namespace tandem::http
