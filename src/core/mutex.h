// A mutex, its scoped lock and a condition variable that clang's thread
// safety analysis understands (-Wthread-safety; leveldb's port::Mutex does
// the same). A field written under a lock is declared
//
//     Mutex mu_;
//     uint64_t count_ TANDEM_GUARDED_BY(mu_);
//
// and every access without `mu_` held is then a compile error in the clang
// build (`make build-tsan`, run by `make test`). With gcc the annotations
// are empty and these are plain std::mutex / std::condition_variable.
//
// Why wrappers: libstdc++'s std::mutex carries no capability attributes, so
// the analysis cannot see std::lock_guard take it. Condition waits take the
// Mutex itself (held) rather than a predicate lambda, because a lambda is a
// separate function to the analysis and would not know the lock is held:
// write `while (!ready_) cv_.wait(mu_);`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define TANDEM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define TANDEM_THREAD_ANNOTATION(x)
#endif

#define TANDEM_CAPABILITY(x) TANDEM_THREAD_ANNOTATION(capability(x))
#define TANDEM_SCOPED_CAPABILITY TANDEM_THREAD_ANNOTATION(scoped_lockable)
#define TANDEM_GUARDED_BY(x) TANDEM_THREAD_ANNOTATION(guarded_by(x))
#define TANDEM_PT_GUARDED_BY(x) TANDEM_THREAD_ANNOTATION(pt_guarded_by(x))
#define TANDEM_REQUIRES(...) TANDEM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define TANDEM_ACQUIRE(...) TANDEM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define TANDEM_RELEASE(...) TANDEM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TANDEM_TRY_ACQUIRE(...) TANDEM_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define TANDEM_EXCLUDES(...) TANDEM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define TANDEM_NO_THREAD_SAFETY_ANALYSIS TANDEM_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace tandem {

class TANDEM_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() TANDEM_ACQUIRE() { mu_.lock(); }
  void unlock() TANDEM_RELEASE() TANDEM_NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }
  bool try_lock() TANDEM_TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `m` for its scope. unlock() lets go of it before the scope ends
// (e.g. to run a hook or callbacks without the lock) and lock() takes it
// again; the analysis follows both.
class TANDEM_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) TANDEM_ACQUIRE(m) : m_(m) { m_.lock(); }
  // The bodies are the capability's own implementation: the analysis
  // checks the callers against the attributes, not these lines.
  ~MutexLock() TANDEM_RELEASE() TANDEM_NO_THREAD_SAFETY_ANALYSIS {
    if (held_) m_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() TANDEM_RELEASE() TANDEM_NO_THREAD_SAFETY_ANALYSIS {
    m_.unlock();
    held_ = false;
  }
  void lock() TANDEM_ACQUIRE() TANDEM_NO_THREAD_SAFETY_ANALYSIS {
    m_.lock();
    held_ = true;
  }

 private:
  Mutex& m_;
  bool held_ = true;
};

// A condition variable over Mutex. Every wait requires the mutex held and
// returns with it held; spurious wake-ups happen, so wait in a loop on the
// condition.
class CondVar {
 public:
  void wait(Mutex& m) TANDEM_REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.mu_, std::adopt_lock);
    cv_.wait(lk);
    lk.release();
  }
  // false on timeout.
  template <class Rep, class Period>
  bool wait_for(Mutex& m, std::chrono::duration<Rep, Period> d) TANDEM_REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.mu_, std::adopt_lock);
    const bool woken = cv_.wait_for(lk, d) == std::cv_status::no_timeout;
    lk.release();
    return woken;
  }
  // false on timeout.
  template <class Clock, class Duration>
  bool wait_until(Mutex& m, std::chrono::time_point<Clock, Duration> t) TANDEM_REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.mu_, std::adopt_lock);
    const bool woken = cv_.wait_until(lk, t) == std::cv_status::no_timeout;
    lk.release();
    return woken;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace tandem
