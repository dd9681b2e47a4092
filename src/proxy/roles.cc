#include "proxy/roles.h"

#include <atomic>
#include <cassert>
#include <utility>

namespace tandem::proxy {

WriteLease& WriteLease::operator=(WriteLease&& o) noexcept {
  if (this != &o) {
    release();
    table_ = std::exchange(o.table_, nullptr);
  }
  return *this;
}

void WriteLease::release() {
  if (table_ != nullptr) std::exchange(table_, nullptr)->release_one();
}

RoleTable::RoleTable(Endpoint primary, Endpoint secondary, Epoch epoch, size_t max_held_writes)
    : max_held_(max_held_writes) {
  auto s = std::make_shared<RoleSnapshot>();
  s->primary = std::move(primary);
  s->secondary = std::move(secondary);
  s->epoch = epoch;
  snap_ = std::move(s);
}

RoleTable::~RoleTable() {
  // A lease outliving its table would write through a dangling pointer.
  assert(in_flight_ == 0 && "RoleTable destroyed with writes in flight");
}

std::shared_ptr<const RoleSnapshot> RoleTable::snapshot() const {
  MutexLock lock(mu_);
  return snap_;
}

uint64_t RoleTable::generation() const {
  return generation_.load(std::memory_order_acquire);
}

Result<std::optional<WriteLease>> RoleTable::admit_write(std::function<void(WriteLease)> resume) {
  MutexLock lock(mu_);
  if (!holding_) {
    ++in_flight_;
    return std::optional<WriteLease>(WriteLease(this));
  }
  if (flip_.step == FlipStep::kPrepared && std::chrono::steady_clock::now() >= hold_deadline_) {
    ++flip_.rejected_past_bound;
    flip_.past_bound = true;
    return error(Code::kUnavailable, "flip " + flip_.id +
                                         " is holding writes past its bound, waiting for the "
                                         "commit/abort decision; retry");
  }
  if (held_.size() >= max_held_) {
    ++rejected_;
    return error(Code::kUnavailable, "a role switch is holding writes and its queue of " +
                                         std::to_string(max_held_) + " writes is full");
  }
  held_.push_back(std::move(resume));
  return std::optional<WriteLease>();
}

void RoleTable::release_one() {
  MutexLock lock(mu_);
  assert(in_flight_ > 0);
  if (--in_flight_ == 0 && holding_) drained_.notify_all();
}

RoleTable::Waiting RoleTable::end_hold() {
  holding_ = false;
  Waiting waiting = std::move(held_);
  held_.clear();
  in_flight_ += static_cast<int64_t>(waiting.size());
  return waiting;
}

void RoleTable::run_held(Waiting waiting) {
  for (auto& resume : waiting) resume(WriteLease(this));
}

bool RoleTable::wait_drained(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (in_flight_ != 0) {
    if (!drained_.wait_until(mu_, deadline) && in_flight_ != 0) return false;
  }
  return true;
}

Result<SwitchReport> RoleTable::switch_roles(std::chrono::milliseconds drain_timeout,
                                             const SwitchHook& hook) {
  const auto t0 = std::chrono::steady_clock::now();
  MutexLock lock(mu_);
  if (holding_) return error(Code::kFailedPrecondition, "a role switch is already running");
  holding_ = true;
  SwitchReport report;
  report.before = *snap_;
  if (!wait_drained(drain_timeout)) {
    const int64_t stuck = in_flight_;
    Waiting w = end_hold();
    lock.unlock();
    run_held(std::move(w));
    return error(Code::kTimeout, std::to_string(stuck) + " write(s) still in flight after " +
                                     std::to_string(drain_timeout.count()) +
                                     " ms; roles unchanged (epoch " +
                                     std::to_string(report.before.epoch.get()) + ")");
  }
  RoleSnapshot next = report.before;
  std::swap(next.primary, next.secondary);
  next.epoch = Epoch(report.before.epoch.get() + 1);
  next.generation = report.before.generation + 1;

  // The hook runs without the lock (it may take time, e.g. flush a log) but
  // with holding_ set, so no write can be admitted meanwhile.
  lock.unlock();
  Status hs = hook ? hook(next) : Status::ok();
  lock.lock();
  assert(in_flight_ == 0);
  if (!hs.is_ok()) {
    Waiting w = end_hold();
    lock.unlock();
    run_held(std::move(w));
    return hs.context("role switch aborted, roles unchanged");
  }
  snap_ = std::make_shared<const RoleSnapshot>(next);
  generation_.store(next.generation, std::memory_order_release);
  ++switches_;
  report.after = next;
  report.writes_held = held_.size();
  report.held =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  Waiting w = end_hold();
  lock.unlock();
  run_held(std::move(w));
  return report;
}

std::string_view flip_step_name(FlipStep s) {
  switch (s) {
    case FlipStep::kNone:
      return "none";
    case FlipStep::kPrepared:
      return "prepared";
    case FlipStep::kCommitted:
      return "committed";
    case FlipStep::kAborted:
      return "aborted";
  }
  return "?";
}

namespace {
std::chrono::microseconds since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0);
}
}  // namespace

Result<RoleSnapshot> RoleTable::prepare_flip(const std::string& id,
                                             std::chrono::milliseconds drain_timeout,
                                             std::chrono::milliseconds hold_bound,
                                             const std::function<Status()>& after_drain) {
  if (id.empty()) return error(Code::kInvalidArgument, "a flip needs an id");
  MutexLock lock(mu_);
  if (flip_.id == id) {
    // A coordinator retrying after a lost answer, or resuming after a crash.
    if (flip_.step == FlipStep::kPrepared) return *snap_;
    return error(Code::kFailedPrecondition,
                 "flip " + id + " already " + std::string(flip_step_name(flip_.step)));
  }
  if (holding_) {
    return error(Code::kFailedPrecondition,
                 flip_.step == FlipStep::kPrepared
                     ? "flip " + flip_.id + " is prepared; commit or abort it first"
                     : std::string("a role switch is already running"));
  }
  holding_ = true;
  flip_ = FlipStatus{};
  flip_.id = id;
  flip_.step = FlipStep::kPrepared;
  flip_.from = snap_->epoch;
  flip_.to = Epoch(snap_->epoch.get() + 1);
  flip_t0_ = std::chrono::steady_clock::now();
  hold_deadline_ = flip_t0_ + hold_bound;
  if (!wait_drained(drain_timeout)) {
    const int64_t stuck = in_flight_;
    flip_.step = FlipStep::kAborted;
    flip_.held = since(flip_t0_);
    Waiting w = end_hold();
    lock.unlock();
    run_held(std::move(w));
    return error(Code::kTimeout, std::to_string(stuck) + " write(s) still in flight after " +
                                     std::to_string(drain_timeout.count()) + " ms; flip " + id +
                                     " not prepared, writes released to the unchanged primary");
  }
  // Flush without the lock; holding_ keeps new writes out meanwhile.
  lock.unlock();
  Status fs = after_drain ? after_drain() : Status::ok();
  lock.lock();
  if (!fs.is_ok()) {
    flip_.step = FlipStep::kAborted;
    flip_.held = since(flip_t0_);
    Waiting w = end_hold();
    lock.unlock();
    run_held(std::move(w));
    return fs.context("flip " + id + " not prepared, writes released to the unchanged primary");
  }
  return *snap_;
}

Result<SwitchReport> RoleTable::commit_flip(const std::string& id, Epoch target,
                                            const SwitchHook& hook) {
  MutexLock lock(mu_);
  if (flip_.id == id && flip_.step == FlipStep::kCommitted) return last_commit_;
  if (flip_.id != id || flip_.step != FlipStep::kPrepared) {
    return error(Code::kFailedPrecondition,
                 "flip " + id + " is not prepared here (current flip: " +
                     (flip_.id.empty() ? std::string("none") : flip_.id) + ", " +
                     std::string(flip_step_name(flip_.step)) + ")");
  }
  if (target.get() != snap_->epoch.get() + 1) {
    return error(Code::kFailedPrecondition,
                 "flip " + id + " commits epoch " + std::to_string(target.get()) +
                     " but this proxy is at epoch " + std::to_string(snap_->epoch.get()));
  }
  assert(holding_ && in_flight_ == 0);
  SwitchReport report;
  report.before = *snap_;
  RoleSnapshot next = report.before;
  std::swap(next.primary, next.secondary);
  next.epoch = target;
  next.generation = report.before.generation + 1;
  lock.unlock();
  Status hs = hook ? hook(next) : Status::ok();
  lock.lock();
  if (!hs.is_ok()) {
    // Still prepared: the decision is recorded elsewhere; the coordinator
    // (or this proxy's resolver) retries. Never release to the old primary.
    return hs.context("flip " + id + " commit on this proxy failed; still holding");
  }
  snap_ = std::make_shared<const RoleSnapshot>(next);
  generation_.store(next.generation, std::memory_order_release);
  ++switches_;
  report.after = next;
  report.writes_held = held_.size();
  report.held = since(flip_t0_);
  flip_.step = FlipStep::kCommitted;
  flip_.held = report.held;
  flip_.writes_held = report.writes_held;
  last_commit_ = report;
  Waiting w = end_hold();
  lock.unlock();
  run_held(std::move(w));
  return report;
}

Result<FlipStatus> RoleTable::abort_flip(const std::string& id) {
  MutexLock lock(mu_);
  if (flip_.id != id) {
    // Never prepared here (e.g. the prepare request was lost): nothing to do.
    FlipStatus s;
    s.id = id;
    s.step = FlipStep::kAborted;
    return s;
  }
  if (flip_.step == FlipStep::kCommitted) {
    return error(
        Code::kFailedPrecondition,
        "flip " + id + " committed on this proxy; it cannot be aborted (roll back instead)");
  }
  if (flip_.step == FlipStep::kPrepared) {
    flip_.step = FlipStep::kAborted;
    flip_.held = since(flip_t0_);
    flip_.writes_held = held_.size();
    FlipStatus out = flip_;
    Waiting w = end_hold();
    lock.unlock();
    run_held(std::move(w));
    return out;
  }
  return flip_;
}

size_t RoleTable::expire_held_past_bound() {
  MutexLock lock(mu_);
  if (flip_.step != FlipStep::kPrepared || std::chrono::steady_clock::now() < hold_deadline_) {
    return 0;
  }
  flip_.past_bound = true;
  auto waiting = std::move(held_);
  held_.clear();
  flip_.rejected_past_bound += waiting.size();
  lock.unlock();
  // An empty lease: the session answers 503 without forwarding.
  for (auto& resume : waiting) resume(WriteLease());
  return waiting.size();
}

FlipStatus RoleTable::flip_status() const {
  MutexLock lock(mu_);
  FlipStatus s = flip_;
  if (s.step == FlipStep::kPrepared) {
    s.held = since(flip_t0_);
    s.writes_held = held_.size();
  }
  return s;
}

GateStats RoleTable::stats() const {
  MutexLock lock(mu_);
  GateStats s;
  s.writes_in_flight = in_flight_;
  s.writes_held = held_.size();
  s.switching = holding_;
  s.switches = switches_;
  s.rejected_while_held = rejected_;
  return s;
}

}  // namespace tandem::proxy
