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
  std::lock_guard<std::mutex> lock(mu_);
  return snap_;
}

uint64_t RoleTable::generation() const {
  return generation_.load(std::memory_order_acquire);
}

Result<std::optional<WriteLease>> RoleTable::admit_write(std::function<void(WriteLease)> resume) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!holding_) {
    ++in_flight_;
    return std::optional<WriteLease>(WriteLease(this));
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
  std::lock_guard<std::mutex> lock(mu_);
  assert(in_flight_ > 0);
  if (--in_flight_ == 0 && holding_) drained_.notify_all();
}

void RoleTable::release_hold(std::unique_lock<std::mutex>& lock) {
  holding_ = false;
  auto waiting = std::move(held_);
  held_.clear();
  in_flight_ += static_cast<int64_t>(waiting.size());
  lock.unlock();
  for (auto& resume : waiting) resume(WriteLease(this));
}

Result<SwitchReport> RoleTable::switch_roles(std::chrono::milliseconds drain_timeout,
                                             const SwitchHook& hook) {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (holding_) return error(Code::kFailedPrecondition, "a role switch is already running");
  holding_ = true;
  SwitchReport report;
  report.before = *snap_;
  if (!drained_.wait_for(lock, drain_timeout, [this] { return in_flight_ == 0; })) {
    const int64_t stuck = in_flight_;
    release_hold(lock);
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
    release_hold(lock);
    return hs.context("role switch aborted, roles unchanged");
  }
  snap_ = std::make_shared<const RoleSnapshot>(next);
  generation_.store(next.generation, std::memory_order_release);
  ++switches_;
  report.after = next;
  report.writes_held = held_.size();
  report.held =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  release_hold(lock);
  return report;
}

GateStats RoleTable::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  GateStats s;
  s.writes_in_flight = in_flight_;
  s.writes_held = held_.size();
  s.switching = holding_;
  s.switches = switches_;
  s.rejected_while_held = rejected_;
  return s;
}

}  // namespace tandem::proxy
