// Bounded pool of idle keep-alive connections (internal to src/http).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/mutex.h"
#include "http/connection.h"

namespace tandem::http::detail {

class ConnectionPool {
 public:
  // Idle connections older than this are dropped rather than reused: load
  // balancers commonly cut idle connections after 60s, and a connection cut
  // without a FIN is not detectable by looks_alive().
  static constexpr std::chrono::seconds kMaxIdleAge{50};

  explicit ConnectionPool(size_t max_idle) : max_idle_(max_idle) {}
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently used idle connection that still looks alive, or null.
  // The caller owns it exclusively until it calls put().
  std::unique_ptr<Connection> take();

  // Returns a connection after a successful exchange. Beyond max_idle the
  // oldest idle connection is closed.
  void put(std::unique_ptr<Connection> conn);

  size_t idle_count() const;

 private:
  const size_t max_idle_;
  mutable Mutex mu_;
  // Guarded by mu_: idle connections, oldest first. A connection is either
  // here or owned by exactly one thread inside Client::send, never both.
  // Connections are closed (destroyed) outside mu_ to keep the lock short.
  std::vector<std::unique_ptr<Connection>> idle_ TANDEM_GUARDED_BY(mu_);
};

}  // namespace tandem::http::detail
