#include "load/commit.h"

#include <cassert>

namespace tandem::load {

int64_t CommitTracker::next_of(const Part& s) {
  return s.pending.empty() ? s.max_seen + 1 : *s.pending.begin();
}

void CommitTracker::add(Partition p, Offset o) {
  MutexLock g(mu_);
  Part& s = parts_[p];
  if (o.get() <= s.max_seen) {
    // Rewind: allow the position to move back to what is really done.
    s.reported = -1;
    if (s.pending.empty()) s.max_seen = o.get() - 1;
  }
  if (o.get() > s.max_seen) s.max_seen = o.get();
  if (s.pending.insert(o.get()).second) ++pending_;
}

void CommitTracker::done(Partition p, Offset o) {
  MutexLock g(mu_);
  auto it = parts_.find(p);
  assert(it != parts_.end() && "done() for a partition never added");
  if (it == parts_.end()) return;
  if (it->second.pending.erase(o.get()) > 0) --pending_;
}

std::map<Partition, Offset> CommitTracker::take_committable() {
  MutexLock g(mu_);
  std::map<Partition, Offset> out;
  for (auto& [p, s] : parts_) {
    int64_t n = next_of(s);
    if (n > s.reported || s.reported < 0) {
      if (n <= 0 && s.max_seen < 0) continue;
      out.emplace(p, Offset(n));
      s.reported = n;
    }
  }
  return out;
}

std::map<Partition, Offset> CommitTracker::positions() const {
  MutexLock g(mu_);
  std::map<Partition, Offset> out;
  for (const auto& [p, s] : parts_) out.emplace(p, Offset(next_of(s)));
  return out;
}

void CommitTracker::forget_reported() {
  MutexLock g(mu_);
  for (auto& [p, s] : parts_) s.reported = -1;
}

size_t CommitTracker::pending() const {
  MutexLock g(mu_);
  return pending_;
}

}  // namespace tandem::load
