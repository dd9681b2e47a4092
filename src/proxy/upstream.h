// The proxy's connection pool to the primary (internal to src/proxy).
//
// One UpstreamPool per worker thread, used only from that thread's
// io_context: no locks on the request path. Connections are HTTP/1.1
// keep-alive, plain or TLS (verification per http::TlsOptions, SNI), with a
// connect deadline and one deadline covering write + response.
//
// Retry rule: a request is re-sent on a fresh connection only when the
// caller says it is safe (reads) AND a *reused* connection failed before
// one byte of response arrived -- the classic race with a server closing an
// idle keep-alive connection. Writes are never re-sent: an auto-id index
// applied twice would create a document no event describes.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "http/http.h"
#include "proxy/roles.h"
#include "proxy/server_options.h"

namespace tandem::proxy {

namespace bhttp = boost::beast::http;

// An upstream cluster as the pool needs it. Immutable; shared by workers.
struct UpstreamTarget {
  std::string name;  // "blue"
  http::Url url;
  std::shared_ptr<boost::asio::ssl::context> tls;  // set iff url.scheme == https
  bool insecure = false;

  // Errors: bad URL, unreadable TLS files (named).
  static Result<std::shared_ptr<const UpstreamTarget>> make(const Endpoint& ep,
                                                            const http::TlsOptions& tls,
                                                            const std::string& env_prefix);
  // "blue at http://127.0.0.1:19200" -- never contains credentials.
  std::string describe() const;
};

enum class UpstreamStage { kConnect, kSend, kReceive };

struct UpstreamOutcome {
  boost::beast::error_code ec;  // empty on success
  UpstreamStage stage = UpstreamStage::kConnect;
  // True when a request byte may have reached the primary (so a write may
  // have been applied): the capture must abandon, not complete.
  bool maybe_applied = false;
  // What went wrong, when ec.message() alone does not say it: a failed TLS
  // handshake names the verification error ("TLS verification failed:
  // certificate verify failed (self-signed certificate)"). Empty otherwise.
  std::string detail;
  bhttp::response<bhttp::string_body> response;
  std::chrono::nanoseconds elapsed{0};
};

class UpstreamPool {
 public:
  using Callback = std::function<void(UpstreamOutcome)>;

  UpstreamPool(boost::asio::any_io_executor ex, const ServerOptions& opts);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Sends *req (target already includes the URL's base path) and reads one
  // response. *req must stay valid until `cb` runs; `cb` runs on this
  // pool's executor. `head`: the response has no body whatever its
  // Content-Length says.
  void send(std::shared_ptr<const UpstreamTarget> target, bhttp::request<bhttp::string_body>* req,
            bool head, bool retry_safe, Callback cb);

  size_t idle_count() const { return idle_.size(); }
  void close_idle();

 private:
  struct Conn;
  struct Exchange;
  void start(std::shared_ptr<Exchange> x);
  void connect(std::shared_ptr<Exchange> x);
  void write(std::shared_ptr<Exchange> x);
  void read(std::shared_ptr<Exchange> x);
  void finish(std::shared_ptr<Exchange> x, boost::beast::error_code ec, std::string detail = {});
  std::unique_ptr<Conn> take_idle(const UpstreamTarget* target);
  void put_idle(std::unique_ptr<Conn> c);

  boost::asio::any_io_executor ex_;
  const ServerOptions& opts_;
  boost::asio::ip::tcp::resolver resolver_;
  std::vector<std::unique_ptr<Conn>> idle_;  // most recently used last
};

}  // namespace tandem::proxy
