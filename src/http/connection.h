// One HTTP/1.1 connection to the client's host (internal to src/http).
//
// Design: synchronous from the caller's point of view. Each connection owns
// a private io_context and runs it on the calling thread for the duration of
// one operation, so Beast's per-stream deadlines (tcp_stream::expires_after)
// bound every connect, handshake, write and read without a background
// thread. A connection is used by one thread at a time: the pool hands it
// out exclusively.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/http.h"

namespace boost::asio::ssl {
class context;
}

namespace tandem::http::detail {

// How far an exchange got before it failed; decides what is safe to retry.
enum class Phase {
  kConnect,        // resolve / TCP connect / TLS handshake: nothing sent
  kWrite,          // writing the request: the server has no complete request
  kAwaitResponse,  // request sent, not one byte of response received
  kReadResponse,   // part of a response received (or it was not HTTP)
};

// "GET http://host:9200/base/target": how errors name a request.
std::string describe_request(const ClientOptions& options, const Request& req);

class Connection {
 public:
  virtual ~Connection() = default;

  // Resolves, connects and (for https) handshakes within connect_timeout.
  // `tls` is required for https and ignored for http.
  static Result<std::unique_ptr<Connection>> open(const ClientOptions& options,
                                                  boost::asio::ssl::context* tls,
                                                  const Request& req);

  // Writes `req` and reads one response, all within `timeout`. On failure
  // *phase tells how far it got. The connection is unusable after a failure.
  virtual Result<Response> exchange(const ClientOptions& options, const Request& req,
                                    std::chrono::milliseconds timeout, Phase* phase) = 0;

  // True after a successful exchange whose response allows keep-alive.
  virtual bool reusable() const = 0;

  // Cheap non-blocking check before reuse: false when the peer has closed
  // the connection (or sent bytes nobody asked for). Catches most idle
  // connections a server dropped, before a byte of a new request is sent.
  virtual bool looks_alive() = 0;

  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  void mark_idle() { idle_since_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point idle_since_ = std::chrono::steady_clock::now();
};

}  // namespace tandem::http::detail
