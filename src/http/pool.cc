#include "http/pool.h"

#include <utility>

namespace tandem::http::detail {

std::unique_ptr<Connection> ConnectionPool::take() {
  for (;;) {
    std::unique_ptr<Connection> conn;
    {
      MutexLock lock(mu_);
      if (idle_.empty()) return nullptr;
      // LIFO: the most recently used connection is the least likely to have
      // been closed by the server.
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    // The liveness check is a syscall; do it without the lock. A dead
    // connection is destroyed here, outside the lock, and the next is tried.
    if (std::chrono::steady_clock::now() - conn->idle_since() < kMaxIdleAge &&
        conn->looks_alive()) {
      return conn;
    }
  }
}

void ConnectionPool::put(std::unique_ptr<Connection> conn) {
  if (max_idle_ == 0) return;
  conn->mark_idle();
  std::unique_ptr<Connection> evicted;
  {
    MutexLock lock(mu_);
    if (idle_.size() >= max_idle_) {
      evicted = std::move(idle_.front());
      idle_.erase(idle_.begin());
    }
    idle_.push_back(std::move(conn));
  }
}

size_t ConnectionPool::idle_count() const {
  MutexLock lock(mu_);
  return idle_.size();
}

}  // namespace tandem::http::detail
