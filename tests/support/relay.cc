#include "support/relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace tandem::testing {

namespace bhttp = boost::beast::http;

struct RecordingRelay::Impl {
  struct Conn {
    int client = -1;
    int upstream = -1;
    std::string up;    // client -> cluster bytes
    std::string down;  // cluster -> client bytes
    std::thread t_up, t_down;
  };
  std::string host;
  uint16_t target_port = 0;
  int listener = -1;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::thread acceptor;
  mutable std::mutex mu;
  std::vector<std::unique_ptr<Conn>> conns;

  static void die(const char* what) {
    std::perror(what);
    std::abort();
  }

  int connect_upstream() const {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(target_port);
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      return -1;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }

  // Copies from -> to, appending to `record`; a failed write to `to` is
  // ignored (the peer died) so the recording continues.
  void pump(int from, int to, std::string* record) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0) break;
      {
        std::lock_guard<std::mutex> lock(mu);
        record->append(buf, static_cast<size_t>(n));
      }
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) break;
        off += w;
      }
    }
  }

  void accept_loop() {
    while (!stopping) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int c = ::accept(listener, nullptr, nullptr);
      if (c < 0) continue;
      int u = connect_upstream();
      if (u < 0) {
        ::close(c);
        continue;
      }
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto conn = std::make_unique<Conn>();
      Conn* k = conn.get();
      k->client = c;
      k->upstream = u;
      // Client EOF does not close the upstream: its answer is still recorded.
      k->t_up = std::thread([this, k] { pump(k->client, k->upstream, &k->up); });
      k->t_down = std::thread([this, k] { pump(k->upstream, k->client, &k->down); });
      std::lock_guard<std::mutex> lock(mu);
      conns.push_back(std::move(conn));
    }
  }
};

RecordingRelay::RecordingRelay(const std::string& host, uint16_t port, uint16_t listen_port)
    : impl_(new Impl) {
  impl_->host = host;
  impl_->target_port = port;
  impl_->listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(impl_->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(listen_port);
  socklen_t len = sizeof a;
  if (::bind(impl_->listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) Impl::die("bind");
  if (::listen(impl_->listener, 128) != 0) Impl::die("listen");
  ::getsockname(impl_->listener, reinterpret_cast<sockaddr*>(&a), &len);
  impl_->port = ntohs(a.sin_port);
  impl_->acceptor = std::thread([this] { impl_->accept_loop(); });
}

RecordingRelay::~RecordingRelay() {
  impl_->stopping = true;
  impl_->acceptor.join();
  std::vector<std::unique_ptr<Impl::Conn>> conns;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    conns = std::move(impl_->conns);
  }
  for (auto& c : conns) {
    ::shutdown(c->client, SHUT_RDWR);
    ::shutdown(c->upstream, SHUT_RDWR);
  }
  for (auto& c : conns) {
    c->t_up.join();
    c->t_down.join();
    ::close(c->client);
    ::close(c->upstream);
  }
  ::close(impl_->listener);
}

uint16_t RecordingRelay::port() const {
  return impl_->port;
}

namespace {

// Parses one message from data[*pos..]; advances *pos and returns true when
// it is complete.
template <class Parser>
bool parse_one(const std::string& data, size_t* pos, Parser& p) {
  p.eager(true);
  while (!p.is_done()) {
    if (*pos >= data.size()) return false;
    boost::system::error_code ec;
    size_t n = p.put(boost::asio::buffer(data.data() + *pos, data.size() - *pos), ec);
    *pos += n;
    if (ec == bhttp::error::need_more) {
      if (n == 0) return false;
      continue;
    }
    if (ec) return false;
  }
  return true;
}

}  // namespace

std::vector<Exchange> RecordingRelay::exchanges() const {
  std::vector<std::pair<std::string, std::string>> streams;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (const auto& c : impl_->conns) streams.emplace_back(c->up, c->down);
  }
  std::vector<Exchange> out;
  for (const auto& [up, down] : streams) {
    size_t up_pos = 0, down_pos = 0;
    bool answers = true;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> rq;
      rq.body_limit(1ull << 31);
      rq.header_limit(1u << 20);
      if (!parse_one(up, &up_pos, rq)) break;
      const auto& req = rq.get();
      Exchange x;
      x.method = std::string(req.method_string());
      x.target = std::string(req.target());
      if (auto it = req.find("X-Opaque-Id"); it != req.end())
        x.opaque_id = std::string(it->value());
      x.request_body = req.body();
      if (answers) {
        bhttp::response_parser<bhttp::string_body> rs;
        rs.body_limit(1ull << 31);
        rs.header_limit(1u << 20);
        if (x.method == "HEAD") rs.skip(true);
        if (parse_one(down, &down_pos, rs)) {
          x.status = static_cast<int>(rs.get().result_int());
          x.response_body = rs.get().body();
        } else {
          answers = false;  // later requests on this connection got no answer either
        }
      }
      out.push_back(std::move(x));
    }
  }
  return out;
}

FlakyEndpoint::FlakyEndpoint(const std::string& host, uint16_t port)
    : host_(host), target_port_(port), relay_(std::make_unique<RecordingRelay>(host, port)) {
  port_ = relay_->port();
}

FlakyEndpoint::~FlakyEndpoint() {
  if (outage_.joinable()) outage_.join();
}

std::string FlakyEndpoint::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

void FlakyEndpoint::outage(std::chrono::milliseconds after, std::chrono::milliseconds down) {
  if (outage_.joinable()) outage_.join();
  outage_ = std::thread([this, after, down] {
    std::this_thread::sleep_for(after);
    relay_.reset();  // connections reset, new ones refused
    std::this_thread::sleep_for(down);
    relay_ = std::make_unique<RecordingRelay>(host_, target_port_, port_);
  });
}

}  // namespace tandem::testing
