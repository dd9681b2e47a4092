#include "proxy/server.h"

#include <boost/asio/post.hpp>
#include <chrono>
#include <thread>

#include "core/thread_name.h"
#include "http/http.h"
#include "proxy/server_internal.h"

namespace tandem::proxy {

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;
using detail::Worker;

struct Server::Impl {
  detail::Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;  // on workers[0]->ioc
  std::unique_ptr<net::steady_timer> backoff;
  size_t next = 0;
  uint16_t port = 0;
  bool stopped = false;

  void accept();
  void stop_workers();
};

std::shared_ptr<const UpstreamTarget> detail::Worker::primary() {
  RoleTable* roles = shared->deps.roles;
  if (roles->generation() != gen || !primary_target) {
    auto snap = roles->snapshot();
    primary_target = shared->deps.upstreams.at(snap->primary.name);
    gen = snap->generation;
  }
  return primary_target;
}

namespace {

Status check_deps(const ServerDeps& d) {
  if (!d.roles || !d.capture || !d.classify || !d.metrics) {
    return error(Code::kInvalidArgument, "proxy server needs roles, capture, classify and metrics");
  }
  auto snap = d.roles->snapshot();
  for (const auto* ep : {&snap->primary, &snap->secondary}) {
    if (!d.upstreams.count(ep->name)) {
      return error(Code::kInvalidArgument,
                   "no upstream configured for endpoint '" + ep->name + "'");
    }
  }
  return Status::ok();
}

}  // namespace

void Server::Impl::accept() {
  Worker& w = *workers[next++ % workers.size()];
  acceptor->async_accept(w.ioc, [this, &w](error_code ec, tcp::socket socket) {
    if (shared.draining.load() || ec == net::error::operation_aborted) return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on the error.
      shared.log("warn", "accept failed: " + ec.message());
      backoff->expires_after(std::chrono::milliseconds(50));
      backoff->async_wait([this](error_code) {
        if (!shared.draining.load()) accept();
      });
      return;
    }
    shared.accepted.fetch_add(1, std::memory_order_relaxed);
    net::post(w.ioc, [&w, s = std::move(socket)]() mutable { w.start_session(std::move(s)); });
    accept();
  });
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& opts, ServerDeps deps) {
  TANDEM_RETURN_IF_ERROR(check_deps(deps));
  auto impl = std::make_unique<Impl>();
  impl->shared.opts = opts;
  impl->shared.deps = std::move(deps);
  if (opts.tls.enabled()) {
    TANDEM_ASSIGN_OR_RETURN(impl->shared.listener_tls,
                            http::make_server_tls_context(opts.tls.cert_file, opts.tls.key_file));
  }
  int n = opts.workers > 0 ? opts.workers : static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  for (int i = 0; i < n; ++i) {
    auto w = std::make_unique<Worker>();
    w->shared = &impl->shared;
    w->guard.emplace(w->ioc.get_executor());
    w->pool = std::make_unique<UpstreamPool>(w->ioc.get_executor(), impl->shared.opts);
    impl->workers.push_back(std::move(w));
  }

  const std::string where = opts.listen_host + ":" + std::to_string(opts.listen_port);
  error_code ec;
  auto addr = net::ip::make_address(opts.listen_host, ec);
  if (ec)
    return error(Code::kInvalidArgument, "listen address '" + opts.listen_host + "' is not an IP");
  impl->acceptor = std::make_unique<tcp::acceptor>(impl->workers[0]->ioc);
  auto& a = *impl->acceptor;
  tcp::endpoint ep(addr, opts.listen_port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return error(Code::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  impl->port = a.local_endpoint().port();
  impl->backoff = std::make_unique<net::steady_timer>(impl->workers[0]->ioc);
  impl->accept();
  for (size_t i = 0; i < impl->workers.size(); ++i) {
    Worker* w = impl->workers[i].get();
    w->thread = std::thread([w, i] {
      name_this_thread("tandem-io-" + std::to_string(i));
      w->ioc.run();
    });
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  drain(std::chrono::milliseconds(0));
}

uint16_t Server::port() const {
  return impl_->port;
}

ServerStats Server::stats() const {
  ServerStats s;
  s.accepted = impl_->shared.accepted.load();
  s.open_connections = impl_->shared.open.load();
  s.requests = impl_->shared.requests.load();
  return s;
}

void Server::Impl::stop_workers() {
  for (auto& w : workers) {
    w->guard.reset();
    w->ioc.stop();
  }
  for (auto& w : workers) {
    if (w->thread.joinable()) w->thread.join();
    w->gate->close();
    w->parked.clear();
  }
  // Sockets (acceptor, timer, pooled connections) before their io_contexts.
  acceptor.reset();
  backoff.reset();
  for (auto& w : workers) w->pool.reset();
}

size_t Server::drain(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (im.stopped) return 0;
  im.shared.draining.store(true);
  // The acceptor belongs to worker 0's io_context: close it there.
  net::post(im.workers[0]->ioc, [&im] {
    error_code ec;
    im.acceptor->close(ec);
    im.backoff->cancel();
  });
  for (auto& w : im.workers) {
    net::post(w->ioc, [w = w.get()] {
      // on_drain may close sessions, which erase themselves: iterate a copy.
      std::vector<detail::SessionBase*> all(w->sessions.begin(), w->sessions.end());
      for (auto* s : all) {
        if (w->sessions.count(s)) s->on_drain();
      }
      w->pool->close_idle();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (im.shared.open.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto left = static_cast<size_t>(std::max<int64_t>(im.shared.open.load(), 0));
  if (left > 0) {
    im.shared.log("warn", "drain deadline passed with " + std::to_string(left) +
                              " connection(s) still open; closing them");
  }
  im.stop_workers();
  im.stopped = true;
  return left;
}

}  // namespace tandem::proxy
