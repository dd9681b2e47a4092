// An in-process TCP server on 127.0.0.1 (port chosen by the kernel) for the
// HTTP client's integration tests. Each accepted connection runs a test-
// supplied handler on its own thread with blocking Asio calls; the
// destructor shuts every socket down and joins all threads, so a handler
// blocked in a read always ends with the test.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tandem::http::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

class LoopbackServer {
 public:
  // handler(socket, index): index counts accepted connections from 0.
  using Handler = std::function<void(tcp::socket&, int)>;

  explicit LoopbackServer(Handler handler)
      : handler_(std::move(handler)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~LoopbackServer() {
    stopping_ = true;
    {
      // Wake the blocking accept() with a throwaway connection.
      boost::system::error_code ec;
      tcp::socket poke(ioc_);
      poke.connect({net::ip::make_address("127.0.0.1"), port_}, ec);
    }
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& s : sockets_) ::shutdown(s->native_handle(), SHUT_RDWR);
    }
    for (auto& t : conn_threads_) t.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_);
  }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*socket, ec);
      if (stopping_ || ec) return;
      int index = accepted_++;
      std::lock_guard<std::mutex> lock(mu_);
      sockets_.push_back(socket);
      conn_threads_.emplace_back([this, socket, index] {
        try {
          handler_(*socket, index);
        } catch (const std::exception&) {
          // A handler fails when the client hangs up; that is not a test
          // failure by itself.
        }
        boost::system::error_code ignored;
        socket->shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
  }

  Handler handler_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mu_;  // guards sockets_ and conn_threads_
  std::vector<std::shared_ptr<tcp::socket>> sockets_;
  std::vector<std::thread> conn_threads_;
};

using ServerRequest = bhttp::request<bhttp::string_body>;
using ServerResponse = bhttp::response<bhttp::string_body>;

// Serves HTTP/1.1 requests on `stream` until the client closes, the
// responder asks to close, or `max_requests` were answered.
template <typename Stream>
void serve_http(Stream& stream, const std::function<ServerResponse(const ServerRequest&)>& respond,
                int max_requests = 1000) {
  beast::flat_buffer buffer;
  for (int i = 0; i < max_requests; ++i) {
    ServerRequest req;
    boost::system::error_code ec;
    bhttp::read(stream, buffer, req, ec);
    if (ec) return;
    ServerResponse res = respond(req);
    res.version(11);
    if (req.method() == bhttp::verb::head) {
      // Announce the body's length but send no body, as RFC 9110 asks.
      res.content_length(res.body().size());
      res.body().clear();
    } else {
      res.prepare_payload();
    }
    bool close = !res.keep_alive() || !req.keep_alive();
    bhttp::write(stream, res, ec);
    if (ec || close) return;
  }
}

inline ServerResponse text_response(const ServerRequest& req, int status, std::string body) {
  ServerResponse res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace tandem::http::testing
