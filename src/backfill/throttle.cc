#include <algorithm>
#include <thread>

#include "backfill/backfill.h"
#include "core/mutex.h"

namespace tandem::backfill {

// Tokens refill at rate_/s up to one second's worth; a request larger than
// the bucket goes into debt and the caller sleeps the debt off, so the long
// run average stays at the rate whatever the page size.
bool Throttle::acquire(size_t n, const std::atomic<bool>* stop) {
  if (rate_ <= 0) return true;
  std::chrono::duration<double> wait{0};
  {
    MutexLock g(mu_);
    auto now = std::chrono::steady_clock::now();
    if (!started_) {
      started_ = true;
      last_ = now;
      tokens_ = 0;
    }
    tokens_ = std::min(rate_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
    tokens_ -= static_cast<double>(n);
    if (tokens_ < 0) wait = std::chrono::duration<double>(-tokens_ / rate_);
  }
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
  while (std::chrono::steady_clock::now() < until) {
    if (stop && stop->load()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), until - std::chrono::steady_clock::now()));
  }
  return !(stop && stop->load());
}

}  // namespace tandem::backfill
