// The capture proxy's server half: an HTTP/1.1 reverse proxy in front of
// the current primary (see write_capture.h for the seam with the capture half).
//
// Threading: `workers` threads, each running its own io_context with its
// own upstream pool, so a request is parsed, forwarded and answered on one
// thread without locks. One acceptor (on worker 0) hands sockets out round
// robin. Capture callbacks may arrive on any thread; they are posted back
// to the connection's io_context.
//
// Per request:
//   reads:     forward to the primary, answer with its bytes.
//   non-reads: admit through the role table's write gate -> capture.begin()
//              -> local reply, or forward (possibly rewritten) ->
//              capture.complete() -> answer with the body it hands back.
//              If the exchange failed after bytes may have reached the
//              primary: capture.abandon() and 502/504.
// Responses are the primary's bytes: status line, headers in order and
// case, body untouched (gzip passes through). Only hop-by-hop headers
// (RFC 9110 7.6.1) are altered, and Content-Length when the primary sent
// chunked or capture cut injected bytes out of the body.
//
// Front door (nothing reaches capture or the primary): 413 body too large,
// 414 request line too long, 431 headers too large, 400 malformed or
// ambiguous framing (smuggling) -- these close the connection. A client
// slower than the idle/header/body timeouts is disconnected.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "proxy/metrics.h"
#include "proxy/reads.h"
#include "proxy/roles.h"
#include "proxy/server_options.h"
#include "proxy/upstream.h"
#include "proxy/write_capture.h"

namespace tandem::proxy {

using Classifier = std::function<Classification(std::string_view method, std::string_view target)>;
// level: "info" | "warn" | "error". Messages never contain header values.
using LogFn = std::function<void(std::string_view level, std::string_view msg)>;

struct ServerDeps {
  RoleTable* roles = nullptr;       // required; outlives the server
  WriteCapture* capture = nullptr;  // required; outlives the server
  Classifier classify;              // required (proxy::classify in production)
  ProxyMetrics* metrics = nullptr;  // required; outlives the server
  // Upstream per endpoint name; must hold both names of the role table.
  std::map<std::string, std::shared_ptr<const UpstreamTarget>> upstreams;
  LogFn log;  // optional
  // Read capture / shadow reads (reads.h); optional, outlives the server.
  ReadTap* reads = nullptr;
};

struct ServerStats {
  uint64_t accepted = 0;
  int64_t open_connections = 0;
  uint64_t requests = 0;
};

class Server {
 public:
  // Binds and starts the workers. Errors: bind failure (naming the
  // address), unreadable listener TLS files, missing dependencies.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& opts, ServerDeps deps);
  ~Server();  // drain(0) unless drained already

  uint16_t port() const;
  ServerStats stats() const;

  // Graceful stop: stop accepting, close idle keep-alive connections, let
  // in-flight requests finish (their responses carry Connection: close),
  // wait at most `timeout`, then stop the workers. Returns how many
  // connections were still open (and were cut) at the deadline.
  size_t drain(std::chrono::milliseconds timeout);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::proxy
