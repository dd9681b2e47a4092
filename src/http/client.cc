// The pooled Client: request validation, the retry policy and the
// exception boundary. Sockets and Beast live in connection.cc.
#include <algorithm>
#include <boost/asio/ssl/context.hpp>
#include <cctype>
#include <exception>
#include <memory>
#include <string>
#include <thread>

#include "http/connection.h"
#include "http/http.h"
#include "http/pool.h"
#include "http/tls.h"

namespace tandem::http {
namespace {

using detail::Connection;
using detail::Phase;

constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{1000};

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Rejects requests that would be malformed on the wire, before connecting.
Status validate(const Request& req) {
  static constexpr std::string_view kMethods[] = {"GET",  "PUT",     "POST", "DELETE",
                                                  "HEAD", "OPTIONS", "PATCH"};
  if (std::find(std::begin(kMethods), std::end(kMethods), req.method) == std::end(kMethods)) {
    return error(Code::kInvalidArgument, "unsupported HTTP method '" + req.method + "'");
  }
  for (char c : req.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return error(Code::kInvalidArgument,
                   "request target '" + req.target +
                       "' contains spaces or control characters; encode path segments with "
                       "encode_path_segment()");
    }
  }
  for (const Header& h : req.headers) {
    if (h.name.empty() || has_line_break(h.name) || has_line_break(h.value)) {
      return error(Code::kInvalidArgument,
                   "invalid header '" + h.name + "' for " + req.method + " " + req.target);
    }
  }
  if (has_line_break(req.content_type)) {
    return error(Code::kInvalidArgument, "invalid content type for " + req.method);
  }
  return Status::ok();
}

// May a failure in `phase` be retried with backoff (counted against
// max_retries)? Only when the server cannot have acted on the request, or
// when acting twice is harmless. Request timeouts and TLS / protocol errors
// are not retried: the next attempt would most likely fail the same way, and
// a timeout has already spent the caller's budget.
bool retryable(const Status& st, Phase phase, bool idempotent) {
  if (phase == Phase::kConnect) {
    return st.code() == Code::kUnavailable || st.code() == Code::kTimeout;
  }
  if (st.code() != Code::kUnavailable) return false;
  return phase == Phase::kWrite || idempotent;
}

class PooledClient final : public Client {
 public:
  PooledClient(ClientOptions options, std::shared_ptr<boost::asio::ssl::context> tls)
      : options_(std::move(options)), tls_(std::move(tls)), pool_(options_.max_idle_connections) {}

  const ClientOptions& options() const override { return options_; }

  Result<Response> send(const Request& req) override {
    // The component boundary: nothing thrown below (bad_alloc, a
    // system_error from Asio) escapes to callers.
    try {
      return send_with_retries(req);
    } catch (const std::exception& e) {
      return error(Code::kInternal,
                   detail::describe_request(options_, req) + ": unexpected error: " + e.what());
    } catch (...) {
      return error(Code::kInternal,
                   detail::describe_request(options_, req) + ": unexpected non-standard error");
    }
  }

 private:
  Result<Response> send_with_retries(const Request& req) {
    TANDEM_RETURN_IF_ERROR(validate(req));
    const auto timeout = req.timeout.value_or(options_.request_timeout);
    int retries_left = std::max(0, options_.max_retries);
    auto backoff = kFirstBackoff;
    bool stale_retry_used = false;
    bool force_fresh = false;
    int attempts = 0;

    for (;;) {
      ++attempts;
      std::unique_ptr<Connection> conn;
      if (!force_fresh) conn = pool_.take();
      force_fresh = false;
      const bool reused = conn != nullptr;

      Phase phase = Phase::kConnect;
      Result<Response> result = [&]() -> Result<Response> {
        if (!conn) {
          TANDEM_ASSIGN_OR_RETURN(conn, Connection::open(options_, tls_.get(), req));
        }
        return conn->exchange(options_, req, timeout, &phase);
      }();
      if (result.is_ok()) {
        if (conn->reusable()) pool_.put(std::move(conn));
        return result;
      }
      conn.reset();  // a connection that failed once is never reused
      const Status& st = result.status();

      // A pooled connection that died before answering was most likely
      // closed by the server while idle, racing our request. One immediate
      // retry on a fresh connection, not counted against max_retries. A
      // failed write is always safe (the server never got the whole
      // request); silence after a full write only for idempotent requests,
      // since the server may have acted before hanging up.
      const bool stale =
          reused && st.code() == Code::kUnavailable &&
          (phase == Phase::kWrite || (phase == Phase::kAwaitResponse && req.idempotent));
      if (stale && !stale_retry_used) {
        stale_retry_used = true;
        force_fresh = true;
        continue;
      }
      if (retries_left > 0 && retryable(st, phase, req.idempotent)) {
        --retries_left;
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      return annotate(st, phase, req, attempts);
    }
  }

  static Status annotate(const Status& st, Phase phase, const Request& req, int attempts) {
    std::string extra;
    if (attempts > 1) extra += "; tried " + std::to_string(attempts) + " times";
    if (!req.idempotent && st.code() == Code::kUnavailable &&
        (phase == Phase::kAwaitResponse || phase == Phase::kReadResponse)) {
      extra += "; not retried: the request is not idempotent and may have been applied";
    }
    if (extra.empty()) return st;
    Status out(st.code(), st.message() + extra);
    out.with_http_status(st.http_status());
    return out;
  }

  const ClientOptions options_;
  // Read-only after construction; OpenSSL allows creating sessions from a
  // shared SSL_CTX on many threads.
  const std::shared_ptr<boost::asio::ssl::context> tls_;
  detail::ConnectionPool pool_;  // thread-safe; see pool.h
};

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return std::nullopt;
}

Result<std::unique_ptr<Client>> make_client(ClientOptions options) {
  try {
    if (options.url.host.empty()) {
      return error(Code::kInvalidArgument,
                   "no URL given: use http://host:port or https://host:port");
    }
    if (options.url.scheme != "http" && options.url.scheme != "https") {
      return error(Code::kInvalidArgument,
                   "unsupported scheme '" + options.url.scheme + "': use http:// or https://");
    }
    std::shared_ptr<boost::asio::ssl::context> tls;
    if (options.url.scheme == "https") {
      TANDEM_ASSIGN_OR_RETURN(tls, make_client_tls_context(options.tls, options.env_prefix));
    }
    return std::unique_ptr<Client>(new PooledClient(std::move(options), std::move(tls)));
  } catch (const std::exception& e) {
    return error(Code::kInternal, std::string("cannot create HTTP client: ") + e.what());
  }
}

}  // namespace tandem::http
