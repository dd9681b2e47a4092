// The proxy's runtime role table and the write gate a role switch uses.
//
// Two named endpoints (e.g. blue and green) hold the roles primary and
// secondary; the epoch counts switches. Requests always go to the current
// primary. A switch (cutover or rollback) must not let any write straddle
// it: a write forwarded to the old primary whose events carry the new epoch
// (or the reverse) would break invariant 1. So every non-read request holds
// a WriteLease from before capture->begin_async() until its events are durable
// (complete() called back), and switch_roles():
//   1. holds new writes (they queue, bounded; beyond the bound they get 503),
//   2. waits -- bounded -- until no lease is outstanding,
//   3. runs the caller's hook (bump the capture epoch) with nothing in flight,
//   4. swaps the roles, bumps the epoch, and releases the held writes, which
//      then go to the new primary.
// If the drain wait times out or the hook fails, nothing changes and the
// held writes are released to the old primary.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/mutex.h"
#include "core/status.h"
#include "core/types.h"

namespace tandem::proxy {

struct Endpoint {
  std::string name;  // "blue", "green"
  std::string url;   // base URL without credentials
};

struct RoleSnapshot {
  Endpoint primary;
  Endpoint secondary;
  Epoch epoch{0};
  uint64_t generation = 0;  // +1 per successful switch
};

class RoleTable;

// Proof that one write is admitted; releasing it (destruction) lets a
// waiting switch proceed. Move-only.
class WriteLease {
 public:
  WriteLease() = default;
  WriteLease(WriteLease&& o) noexcept : table_(std::exchange(o.table_, nullptr)) {}
  WriteLease& operator=(WriteLease&& o) noexcept;
  WriteLease(const WriteLease&) = delete;
  WriteLease& operator=(const WriteLease&) = delete;
  ~WriteLease() { release(); }
  void release();
  bool held() const { return table_ != nullptr; }

 private:
  friend class RoleTable;
  explicit WriteLease(RoleTable* t) : table_(t) {}
  RoleTable* table_ = nullptr;
};

struct SwitchReport {
  RoleSnapshot before;
  RoleSnapshot after;
  std::chrono::microseconds held{0};  // how long new writes were held
  size_t writes_held = 0;             // writes that queued during the switch
};

// The fenced flip across N proxies (docs/cutover.md): the same hold and
// drain as switch_roles(), but split into steps a coordinator drives on
// every proxy, so that no proxy releases writes until the decision (commit
// or abort) is recorded for all of them.
//   prepare_flip(id): hold new writes, wait (bounded) until none is in
//     flight, run `after_drain` (flush the log). Idempotent for the same id.
//   commit_flip(id, target): with the hold still in place, run the hook
//     (capture takes the new epoch), swap the roles, epoch := target, release
//     the held writes to the new primary. Idempotent: committing a flip that
//     already committed returns its report again.
//   abort_flip(id): release the held writes to the unchanged primary.
//     Refused for a flip that committed (a commit is never undone here; a
//     rollback is a new flip).
// Past `hold_bound` a prepared proxy keeps holding but answers 503: queued
// writes get an empty lease (expire_held_past_bound) and new ones are
// refused. It never decides on its own.
enum class FlipStep { kNone, kPrepared, kCommitted, kAborted };
std::string_view flip_step_name(FlipStep s);

struct FlipStatus {
  std::string id;  // the current or last flip
  FlipStep step = FlipStep::kNone;
  Epoch from{0};
  Epoch to{0};
  std::chrono::microseconds held{0};  // so far (prepared) or in total
  size_t writes_held = 0;
  uint64_t rejected_past_bound = 0;
  bool past_bound = false;
};

struct GateStats {
  int64_t writes_in_flight = 0;
  size_t writes_held = 0;
  bool switching = false;
  uint64_t switches = 0;
  uint64_t rejected_while_held = 0;
};

class RoleTable {
 public:
  // max_held_writes bounds the queue of writes that arrive during a switch.
  RoleTable(Endpoint primary, Endpoint secondary, Epoch epoch, size_t max_held_writes = 10'000);
  RoleTable(const RoleTable&) = delete;
  RoleTable& operator=(const RoleTable&) = delete;
  ~RoleTable();

  std::shared_ptr<const RoleSnapshot> snapshot() const;
  // Cheap check for callers that cache a snapshot.
  uint64_t generation() const;

  // Admission of one write. While writes flow: returns a lease at once.
  // During a switch: keeps `resume` and returns nullopt; `resume` later
  // runs exactly once, on the switching thread, with a lease (the caller
  // must post back to its own executor). When the hold queue is full:
  // kUnavailable (answer 503; the client retries).
  Result<std::optional<WriteLease>> admit_write(std::function<void(WriteLease)> resume);

  using SwitchHook = std::function<Status(const RoleSnapshot& next)>;
  // See the file comment. Errors: kFailedPrecondition (a switch is already
  // running), kTimeout (writes still in flight after drain_timeout), or the
  // hook's error; in every error case the roles are unchanged.
  Result<SwitchReport> switch_roles(std::chrono::milliseconds drain_timeout,
                                    const SwitchHook& hook);

  Result<RoleSnapshot> prepare_flip(const std::string& id, std::chrono::milliseconds drain_timeout,
                                    std::chrono::milliseconds hold_bound,
                                    const std::function<Status()>& after_drain);
  Result<SwitchReport> commit_flip(const std::string& id, Epoch target, const SwitchHook& hook);
  Result<FlipStatus> abort_flip(const std::string& id);
  // Hands every queued write an empty lease once the hold is past its bound
  // (the session answers 503). Returns how many were handed out.
  size_t expire_held_past_bound();
  FlipStatus flip_status() const;

  GateStats stats() const;

 private:
  friend class WriteLease;
  void release_one() TANDEM_EXCLUDES(mu_);
  using Waiting = std::vector<std::function<void(WriteLease)>>;
  // Ends a hold: the queued writes, counted in flight. The caller hands
  // them their leases with run_held() once it let go of mu_.
  Waiting end_hold() TANDEM_REQUIRES(mu_);
  void run_held(Waiting waiting) TANDEM_EXCLUDES(mu_);
  // Waits until no write is in flight; false when `timeout` passed first.
  bool wait_drained(std::chrono::milliseconds timeout) TANDEM_REQUIRES(mu_);

  const size_t max_held_;
  mutable Mutex mu_;
  CondVar drained_;
  std::shared_ptr<const RoleSnapshot> snap_ TANDEM_GUARDED_BY(mu_);
  std::atomic<uint64_t> generation_{0};
  int64_t in_flight_ TANDEM_GUARDED_BY(mu_) = 0;
  bool holding_ TANDEM_GUARDED_BY(mu_) = false;
  Waiting held_ TANDEM_GUARDED_BY(mu_);
  uint64_t switches_ TANDEM_GUARDED_BY(mu_) = 0;
  uint64_t rejected_ TANDEM_GUARDED_BY(mu_) = 0;
  // The current or last flip.
  FlipStatus flip_ TANDEM_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point flip_t0_ TANDEM_GUARDED_BY(mu_){};
  std::chrono::steady_clock::time_point hold_deadline_ TANDEM_GUARDED_BY(mu_){};
  SwitchReport last_commit_ TANDEM_GUARDED_BY(mu_);
};

}  // namespace tandem::proxy
