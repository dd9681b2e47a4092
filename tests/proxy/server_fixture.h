// Test support for the proxy's server half: a tiny in-process upstream
// with scripted raw responses, a raw-socket client, a fake WriteCapture that
// counts calls, and a harness that runs the proxy on 127.0.0.1:0.
// Header-only because tests/proxy has no helper sources in the build glob.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/metrics.h"
#include "proxy/proxy.h"
#include "proxy/roles.h"
#include "proxy/server.h"
#include "proxy/upstream.h"

namespace tandem::proxy::testing {

using namespace std::chrono_literals;

// ---- raw socket client -------------------------------------------------------

class RawClient {
 public:
  explicit RawClient(uint16_t port, std::chrono::milliseconds recv_timeout = 5000ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{};
    tv.tv_sec = recv_timeout.count() / 1000;
    tv.tv_usec = (recv_timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until the peer closes (or the receive timeout, or `max` bytes).
  // *closed tells whether the peer closed (vs. timed out).
  std::string read_all(bool* closed = nullptr, size_t max = 64u << 20) {
    std::string out;
    char buf[65536];
    bool eof = false;
    while (out.size() < max) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n == 0) {
        eof = true;
        break;
      }
      if (n < 0) {
        eof = errno == ECONNRESET;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    if (closed) *closed = eof;
    return out;
  }
  // Reads exactly one HTTP response (framed by Beast) and returns its raw
  // bytes; empty on timeout/close.
  std::string read_response(bool head = false) {
    namespace bhttp = boost::beast::http;
    std::string raw;
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(1ull << 30);
    if (head) p.skip(true);
    char buf[65536];
    size_t fed = 0;
    while (!p.is_done()) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return {};
      raw.append(buf, static_cast<size_t>(n));
      boost::beast::error_code ec;
      while (fed < raw.size() && !p.is_done()) {
        const size_t used = p.put(boost::asio::buffer(raw.data() + fed, raw.size() - fed), ec);
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (ec) return {};
        fed += used;
        if (used == 0) break;
      }
    }
    pending_ = raw.substr(fed);  // pipelined leftovers (unused by tests)
    return raw.substr(0, fed);
  }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;
};

inline int status_of(const std::string& raw) {
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0) return 0;
  return std::stoi(raw.substr(9, 3));
}
inline std::string body_of(const std::string& raw) {
  auto p = raw.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : raw.substr(p + 4);
}
inline std::string head_of(const std::string& raw) {
  auto p = raw.find("\r\n\r\n");
  return p == std::string::npos ? raw : raw.substr(0, p + 4);
}

// ---- tiny upstream -------------------------------------------------------------

struct SeenRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (boost::beast::iequals(n, boost::beast::string_view(name.data(), name.size()))) return v;
    }
    return {};
  }
};

// Accepts on 127.0.0.1:0; each connection gets a thread that reads requests
// with Beast and answers with the raw bytes the handler returns (so tests
// control every byte). An empty handler result closes the connection.
class TinyUpstream {
 public:
  using Handler = std::function<std::string(const SeenRequest&)>;
  explicit TinyUpstream(Handler h) : handler_(std::move(h)), acceptor_(ioc_) {
    namespace net = boost::asio;
    net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~TinyUpstream() {
    stopping_ = true;
    boost::system::error_code ec;
    // Wake accept() with a throwaway connection, then close everything.
    { RawClient wake(port_); }
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> l(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : conn_threads_) t.join();
  }
  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> seen() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> l(mu_);
    return seen_.size();
  }
  int connections() const { return connections_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      boost::system::error_code ec;
      auto sock = std::make_shared<boost::asio::ip::tcp::socket>(ioc_);
      acceptor_.accept(*sock, ec);
      if (ec || stopping_) break;
      connections_++;
      std::lock_guard<std::mutex> l(mu_);
      fds_.push_back(sock->native_handle());
      conn_threads_.emplace_back([this, sock] { serve(*sock); });
    }
  }
  void serve(boost::asio::ip::tcp::socket& sock) {
    namespace bhttp = boost::beast::http;
    boost::beast::flat_buffer buf;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> p;
      p.body_limit(1ull << 30);
      boost::system::error_code ec;
      bhttp::read(sock, buf, p, ec);
      if (ec) return;
      SeenRequest r;
      const auto& m = p.get();
      r.method = std::string(m.method_string());
      r.target = std::string(m.target());
      for (const auto& f : m)
        r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      r.body = m.body();
      {
        std::lock_guard<std::mutex> l(mu_);
        seen_.push_back(r);
      }
      const std::string out = handler_(r);
      if (out.empty()) return;
      boost::asio::write(sock, boost::asio::buffer(out), ec);
      if (ec) return;
    }
  }

  Handler handler_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  mutable std::mutex mu_;
  std::vector<std::thread> conn_threads_;
  std::vector<int> fds_;
  std::vector<SeenRequest> seen_;
};

inline std::string json_response(std::string_view body, int status = 200,
                                 std::string_view reason = "OK") {
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
         "\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// ---- fake capture ----------------------------------------------------------------

class FakeCapture : public WriteCapture {
 public:
  std::atomic<int> begins{0}, completes{0}, abandons{0};
  std::atomic<int> last_complete_status{-1};
  // Set to answer begin() locally.
  std::optional<LocalReply> reply;
  // Applied to the primary's body before it goes back to the client.
  std::function<std::string(std::string)> transform;
  // Complete from another thread after this delay (0: synchronously).
  std::chrono::milliseconds complete_delay{0};
  std::optional<std::string> rewrite_target;

  void begin_async(const RequestView&, const Classification& cls, BeginCallback done) override {
    begins++;
    BeginResult r;
    if (reply) {
      r.reply = reply;
      return done(std::move(r));
    }
    r.ticket.cls = cls;
    r.ticket.rewritten_target = rewrite_target;
    done(std::move(r));
  }
  void complete(Ticket, UpstreamAnswer answer, CompleteCallback done) override {
    completes++;
    last_complete_status = answer.status;
    std::string body = transform ? transform(std::move(answer.body)) : std::move(answer.body);
    if (complete_delay.count() == 0) return done(std::move(body));
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back(
        [d = complete_delay, done = std::move(done), b = std::move(body)]() mutable {
          std::this_thread::sleep_for(d);
          done(std::move(b));
        });
  }
  void abandon(Ticket) override { abandons++; }
  CaptureStatus status() const override {
    CaptureStatus s;
    s.events_emitted = 7;
    s.spill_depth = 2;
    return s;
  }
  ~FakeCapture() override {
    for (auto& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

// ---- harness ------------------------------------------------------------------------

struct Harness {
  FakeCapture capture;
  ProxyMetrics metrics;
  std::unique_ptr<RoleTable> roles;
  std::unique_ptr<Server> server;
  // TLS settings for https upstreams (both endpoints).
  http::TlsOptions upstream_tls;
  // Read capture / shadow reads (optional; set before start()).
  ReadTap* reads = nullptr;

  // Every line the server logged, as "level: message".
  std::vector<std::string> logs() const {
    std::lock_guard<std::mutex> l(*log_mu_);
    return *logs_;
  }

  // Starts the proxy with `primary_url` as "blue" (and `secondary_url` as
  // "green", default: same as primary).
  Status start(const std::string& primary_url, ServerOptions opts = {},
               std::string secondary_url = "") {
    if (secondary_url.empty()) secondary_url = primary_url;
    roles = std::make_unique<RoleTable>(Endpoint{"blue", primary_url},
                                        Endpoint{"green", secondary_url}, Epoch(0));
    ServerDeps deps;
    deps.roles = roles.get();
    deps.capture = &capture;
    deps.metrics = &metrics;
    deps.classify = [](std::string_view m, std::string_view t) { return classify(m, t); };
    deps.reads = reads;
    deps.log = [mu = log_mu_, lines = logs_](std::string_view level, std::string_view msg) {
      std::lock_guard<std::mutex> l(*mu);
      lines->push_back(std::string(level) + ": " + std::string(msg));
    };
    auto blue = UpstreamTarget::make({"blue", primary_url}, upstream_tls, "");
    if (!blue.is_ok()) return blue.status();
    auto green = UpstreamTarget::make({"green", secondary_url}, upstream_tls, "");
    if (!green.is_ok()) return green.status();
    deps.upstreams["blue"] = blue.value();
    deps.upstreams["green"] = green.value();
    opts.listen_host = "127.0.0.1";
    opts.listen_port = 0;
    if (opts.workers == 0) opts.workers = 2;
    auto s = Server::start(opts, std::move(deps));
    if (!s.is_ok()) return s.status();
    server = std::move(s).value();
    return Status::ok();
  }
  uint16_t port() const { return server->port(); }
  ~Harness() {
    server.reset();  // before the role table and capture it points to
  }

 private:
  std::shared_ptr<std::mutex> log_mu_ = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> logs_ = std::make_shared<std::vector<std::string>>();
};

// A port nothing listens on (bound, then closed).
inline uint16_t dead_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace tandem::proxy::testing
