// Internals of the proxy server shared by server.cc (listener, workers,
// drain) and server_session.cc (one client connection).
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/mutex.h"
#include "proxy/server.h"

namespace tandem::proxy::detail {

struct Shared {
  ServerOptions opts;
  ServerDeps deps;
  std::shared_ptr<boost::asio::ssl::context> listener_tls;  // null: plain
  std::atomic<bool> draining{false};
  std::atomic<int64_t> open{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> requests{0};

  void log(std::string_view level, std::string_view msg) const {
    if (deps.log) deps.log(level, msg);
  }
};

// What drain needs from a session, independent of its stream type.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Called on the session's worker thread when draining starts: an idle
  // keep-alive connection closes now, a busy one after its response.
  virtual void on_drain() = 0;
};

// Lets threads outside the server (capture callbacks) post to a worker
// only while its io_context exists: the server closes the gate before it
// destroys the io_context, and a late callback is then dropped.
class PostGate {
 public:
  explicit PostGate(boost::asio::io_context* ioc) : ioc_(ioc) {}
  template <class F>
  void post(F&& f) {
    MutexLock lock(mu_);
    if (ioc_) boost::asio::post(*ioc_, std::forward<F>(f));
  }
  void close() {
    MutexLock lock(mu_);
    ioc_ = nullptr;
  }

 private:
  Mutex mu_;
  boost::asio::io_context* ioc_ TANDEM_GUARDED_BY(mu_);
};

struct Worker {
  // Declaration order matters for destruction: the pool (sockets) goes
  // before the io_context; the session registry outlives the io_context,
  // whose destructor may destroy sessions still queued in handlers.
  std::unordered_set<SessionBase*> sessions;  // worker thread only
  boost::asio::io_context ioc{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::unique_ptr<UpstreamPool> pool;
  // Sessions waiting for something outside the worker (capture's complete
  // callback, a role switch releasing held writes). Those callbacks hold
  // only weak pointers, so dropping one on any thread is harmless; this map
  // keeps the session alive meanwhile. Cleared after the thread stops and
  // before the io_context goes.
  std::unordered_map<SessionBase*, std::shared_ptr<SessionBase>> parked;
  Shared* shared = nullptr;
  std::shared_ptr<PostGate> gate = std::make_shared<PostGate>(&ioc);
  std::thread thread;

  // Cached role snapshot: refreshed only when the table's generation moves.
  uint64_t gen = ~uint64_t{0};
  std::shared_ptr<const UpstreamTarget> primary_target;
  std::shared_ptr<const UpstreamTarget> primary();

  void start_session(boost::asio::ip::tcp::socket socket);
};

}  // namespace tandem::proxy::detail
