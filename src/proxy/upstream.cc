#include "proxy/upstream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <optional>

namespace tandem::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
using beast::error_code;
using Clock = std::chrono::steady_clock;

Result<std::shared_ptr<const UpstreamTarget>> UpstreamTarget::make(const Endpoint& ep,
                                                                   const http::TlsOptions& tls,
                                                                   const std::string& env_prefix) {
  auto url = http::Url::parse(ep.url);
  if (!url.is_ok()) return url.status().context("upstream '" + ep.name + "'");
  auto t = std::make_shared<UpstreamTarget>();
  t->name = ep.name;
  t->url = std::move(url).value();
  t->insecure = tls.insecure;
  if (t->url.scheme == "https") {
    auto ctx = http::make_client_tls_context(tls, env_prefix);
    if (!ctx.is_ok()) return ctx.status().context("upstream '" + ep.name + "'");
    t->tls = std::move(ctx).value();
  }
  return std::shared_ptr<const UpstreamTarget>(std::move(t));
}

std::string UpstreamTarget::describe() const {
  return name + " at " + url.to_string();
}

namespace {

// Why a client handshake failed, in words an operator can act on. OpenSSL
// reports every chain problem as "certificate verify failed"; the verify
// result says which one (unknown CA, expired, name mismatch, ...).
std::string handshake_failure(const error_code& ec, SSL* ssl) {
  if (ec.category() == net::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    const long result = SSL_get_verify_result(ssl);
    const std::string why =
        result == X509_V_OK ? ec.message() : X509_verify_cert_error_string(result);
    return "TLS verification failed: certificate verify failed (" + why + ")";
  }
  return "TLS handshake failed: " + ec.message();
}

}  // namespace

struct UpstreamPool::Conn {
  std::shared_ptr<const UpstreamTarget> target;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  // Beast reads at most the buffer's free capacity per call: a 512-byte
  // start cost a syscall per 512 bytes of every answer (40 for a
  // 100-document _bulk's). Pooled connections are few, so 64 KB each is
  // cheap.
  beast::flat_buffer buf;
  Clock::time_point idle_since;
  static constexpr size_t kReadBytes = 64u << 10;

  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*tls); }

  // A peer that closed an idle connection left a FIN (or stray bytes) in
  // the socket: one non-blocking peek catches it before a request is lost.
  bool looks_alive() {
    if (buf.size() != 0) return false;  // unsolicited bytes
    char c;
    const ssize_t n = ::recv(lowest().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

struct UpstreamPool::Exchange {
  std::shared_ptr<const UpstreamTarget> target;
  bhttp::request<bhttp::string_body>* req = nullptr;
  bool head = false;
  bool retry_safe = false;
  bool retried = false;
  bool reused = false;
  Callback cb;
  std::unique_ptr<Conn> conn;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser;
  UpstreamStage stage = UpstreamStage::kConnect;
  Clock::time_point t0;
};

UpstreamPool::UpstreamPool(net::any_io_executor ex, const ServerOptions& opts)
    : ex_(ex), opts_(opts), resolver_(ex) {}

UpstreamPool::~UpstreamPool() = default;

void UpstreamPool::close_idle() {
  idle_.clear();
}

void UpstreamPool::send(std::shared_ptr<const UpstreamTarget> target,
                        bhttp::request<bhttp::string_body>* req, bool head, bool retry_safe,
                        Callback cb) {
  auto x = std::make_shared<Exchange>();
  x->target = std::move(target);
  x->req = req;
  x->head = head;
  x->retry_safe = retry_safe;
  x->cb = std::move(cb);
  x->t0 = Clock::now();
  start(std::move(x));
}

std::unique_ptr<UpstreamPool::Conn> UpstreamPool::take_idle(const UpstreamTarget* target) {
  const auto now = Clock::now();
  while (!idle_.empty()) {
    std::unique_ptr<Conn> c = std::move(idle_.back());
    idle_.pop_back();
    // Connections to a previous primary (after a role switch) are simply
    // dropped here, as are stale ones.
    if (c->target.get() != target) continue;
    if (now - c->idle_since > opts_.upstream_max_idle_age) continue;
    if (!c->looks_alive()) continue;
    return c;
  }
  return nullptr;
}

void UpstreamPool::put_idle(std::unique_ptr<Conn> c) {
  c->idle_since = Clock::now();
  if (idle_.size() >= opts_.upstream_max_idle_per_worker) idle_.erase(idle_.begin());
  idle_.push_back(std::move(c));
}

void UpstreamPool::start(std::shared_ptr<Exchange> x) {
  x->conn = x->retried ? nullptr : take_idle(x->target.get());
  if (x->conn) {
    x->reused = true;
    write(std::move(x));
    return;
  }
  x->reused = false;
  connect(std::move(x));
}

void UpstreamPool::connect(std::shared_ptr<Exchange> x) {
  x->stage = UpstreamStage::kConnect;
  auto c = std::make_unique<Conn>();
  c->buf.reserve(Conn::kReadBytes);
  c->target = x->target;
  if (x->target->tls) {
    c->tls.emplace(ex_, *x->target->tls);
  } else {
    c->plain.emplace(ex_);
  }
  x->conn = std::move(c);
  const auto& url = x->target->url;
  resolver_.async_resolve(
      url.host, std::to_string(url.port),
      [this, x](error_code ec, net::ip::tcp::resolver::results_type results) mutable {
        if (ec) return finish(std::move(x), ec);
        auto& lowest = x->conn->lowest();
        lowest.expires_after(opts_.upstream_connect_timeout);
        lowest.async_connect(results, [this, x](error_code ec,
                                                const net::ip::tcp::endpoint&) mutable {
          if (ec) return finish(std::move(x), ec);
          x->conn->lowest().socket().set_option(net::ip::tcp::no_delay(true), ec);
          if (!x->conn->tls) return write(std::move(x));
          Status st = http::prepare_client_tls_session(x->conn->tls->native_handle(),
                                                       x->target->url.host, x->target->insecure);
          if (!st.is_ok()) {
            return finish(std::move(x), net::error::make_error_code(net::error::invalid_argument),
                          st.message());
          }
          x->conn->tls->async_handshake(
              net::ssl::stream_base::client, [this, x](error_code ec) mutable {
                if (ec) {
                  // A timeout is reported as such, not as a TLS failure.
                  std::string why = ec == beast::error::timeout
                                        ? std::string()
                                        : handshake_failure(ec, x->conn->tls->native_handle());
                  return finish(std::move(x), ec, std::move(why));
                }
                write(std::move(x));
              });
        });
      });
}

void UpstreamPool::write(std::shared_ptr<Exchange> x) {
  x->stage = UpstreamStage::kSend;
  x->conn->lowest().expires_after(opts_.upstream_response_timeout);
  auto on_write = [this, x](error_code ec, std::size_t) mutable {
    if (ec) return finish(std::move(x), ec);
    read(std::move(x));
  };
  if (x->conn->tls) {
    bhttp::async_write(*x->conn->tls, *x->req, std::move(on_write));
  } else {
    bhttp::async_write(*x->conn->plain, *x->req, std::move(on_write));
  }
}

void UpstreamPool::read(std::shared_ptr<Exchange> x) {
  x->stage = UpstreamStage::kReceive;
  x->parser.emplace();
  x->parser->body_limit(opts_.max_response_bytes);
  x->parser->header_limit(1u << 20);
  if (x->head) x->parser->skip(true);
  auto on_read = [this, x](error_code ec, std::size_t) mutable { finish(std::move(x), ec); };
  if (x->conn->tls) {
    bhttp::async_read(*x->conn->tls, x->conn->buf, *x->parser, std::move(on_read));
  } else {
    bhttp::async_read(*x->conn->plain, x->conn->buf, *x->parser, std::move(on_read));
  }
}

void UpstreamPool::finish(std::shared_ptr<Exchange> x, error_code ec, std::string detail) {
  if (ec) {
    // A reused connection that died before one response byte: the server
    // most likely closed it while idle. Safe requests get one fresh try.
    const bool nothing_received = x->stage != UpstreamStage::kReceive || !x->parser->got_some();
    if (x->reused && x->retry_safe && !x->retried && nothing_received &&
        ec != beast::error::timeout) {
      x->retried = true;
      x->conn.reset();
      x->parser.reset();
      return start(std::move(x));
    }
    UpstreamOutcome out;
    out.ec = ec;
    out.detail = std::move(detail);
    out.stage = x->stage;
    out.maybe_applied = x->stage != UpstreamStage::kConnect;
    out.elapsed = Clock::now() - x->t0;
    x->conn.reset();
    auto cb = std::move(x->cb);
    return cb(std::move(out));
  }
  UpstreamOutcome out;
  out.stage = x->stage;
  out.maybe_applied = true;
  const bool keep = x->parser->keep_alive();
  out.response = x->parser->release();
  out.elapsed = Clock::now() - x->t0;
  x->conn->lowest().expires_never();
  if (keep) put_idle(std::move(x->conn));
  x->conn.reset();
  auto cb = std::move(x->cb);
  cb(std::move(out));
}

}  // namespace tandem::proxy
