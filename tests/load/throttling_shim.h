// A tiny HTTP/1.1 front for green that answers 429 (like a full write
// thread pool) to a fraction of _bulk requests and forwards everything else.
// The choice is deterministic, not random: bulk k (counting from 0 across
// all connections) is rejected when ceil((k+1)*f) > ceil(k*f). So the first
// bulk is always rejected and exactly a fraction f of any run is, even when
// the loader sends only one or two bulks (a random draw let such a run see
// no 429 at all, and the test then proved nothing).
// Why a shim: thread_pool.write.queue_size is a static node setting, so real
// rejections cannot be provoked on the shared test cluster at will. The
// loader sees genuine HTTP 429 answers on the wire either way.
#pragma once

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "http/http.h"

namespace tandem::load::it {

class ThrottlingShim {
 public:
  ThrottlingShim(const std::string& target_url, double reject_fraction)
      : fraction_(reject_fraction),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    http::ClientOptions o;
    o.url = *http::Url::parse(target_url);
    upstream_ = std::move(http::make_client(o)).value();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~ThrottlingShim() {
    stop_ = true;
    boost::system::error_code ec;
    {
      // A blocking accept() is not woken by close() from another thread:
      // connect once so it returns and sees stop_.
      boost::asio::io_context wake_io;
      boost::asio::ip::tcp::socket wake(wake_io);
      wake.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    }
    thread_.join();
    acceptor_.close(ec);
    {
      std::lock_guard<std::mutex> g(mu_);
      for (auto& s : socks_) s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    }
    for (auto& t : conns_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint64_t rejected() const { return rejected_; }
  uint64_t forwarded() const { return forwarded_; }

 private:
  void accept_loop() {
    while (!stop_) {
      boost::system::error_code ec;
      auto s = std::make_shared<boost::asio::ip::tcp::socket>(io_);
      acceptor_.accept(*s, ec);
      if (ec || stop_) return;
      std::lock_guard<std::mutex> g(mu_);
      socks_.push_back(s);
      conns_.emplace_back([this, s] { serve(*s); });
    }
  }

  void serve(boost::asio::ip::tcp::socket& sock) {
    namespace beast = boost::beast;
    beast::flat_buffer buf;
    for (int n = 0; n < 100000 && !stop_; ++n) {
      beast::http::request<beast::http::string_body> req;
      boost::system::error_code ec;
      beast::http::request_parser<beast::http::string_body> parser;
      parser.body_limit(512u << 20);
      beast::http::read(sock, buf, parser, ec);
      if (ec) return;
      req = parser.release();
      beast::http::response<beast::http::string_body> res;
      res.version(11);
      res.keep_alive(true);
      std::string target(req.target());
      bool bulk = target.rfind("/_bulk", 0) == 0;
      if (bulk && reject_next_bulk()) {
        ++rejected_;
        res.result(429);
        res.set(beast::http::field::content_type, "application/json");
        res.body() =
            R"js({"error":{"root_cause":[{"type":"es_rejected_execution_exception","reason":"rejected execution (shim)"}],"type":"es_rejected_execution_exception","reason":"rejected execution (shim)"},"status":429})js";
      } else {
        ++forwarded_;
        http::Request up;
        up.method = std::string(req.method_string());
        up.target = target;
        up.body = req.body();
        auto ct = req.find(beast::http::field::content_type);
        if (ct != req.end()) up.content_type = std::string(ct->value());
        auto r = upstream_->send(up);
        if (!r.is_ok()) {
          res.result(502);
          res.body() = r.status().message();
        } else {
          res.result(static_cast<unsigned>(r->status));
          res.set(beast::http::field::content_type, "application/json");
          res.body() = r->body;
        }
      }
      res.prepare_payload();
      beast::http::write(sock, res, ec);
      if (ec) return;
    }
  }

  bool reject_next_bulk() {
    uint64_t k = bulks_++;
    auto ceil_at = [this](uint64_t n) {
      return static_cast<uint64_t>(std::ceil(static_cast<double>(n) * fraction_));
    };
    return ceil_at(k + 1) > ceil_at(k);
  }

  double fraction_;
  std::atomic<uint64_t> bulks_{0};
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<http::Client> upstream_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rejected_{0}, forwarded_{0};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> socks_;
  std::vector<std::thread> conns_;
};

}  // namespace tandem::load::it
