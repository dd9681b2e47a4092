// Commit-past-contiguous-successes bookkeeping.
//
// Records are applied out of order (N bulk workers), but a consumer group
// position must never pass a record that is not yet applied: after a crash
// the group resumes from the committed position and everything below it is
// assumed done. So per partition we keep the set of offsets taken but not
// finished; the committable "next offset" is the lowest unfinished offset,
// or one past the highest offset seen when nothing is pending.
//
// Offsets need not be dense (Kafka transactions/compaction leave gaps): only
// offsets actually handed out are tracked.
//
// A rewind (an offset at or below one already seen, e.g. after a consumer
// group rebalance hands a partition back from its committed position)
// resets that partition's high-water mark so the position may move back:
// re-applying is harmless (external versions), skipping is not.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>

#include "core/mutex.h"
#include "core/types.h"

namespace tandem::load {

class CommitTracker {
 public:
  void add(Partition p, Offset o);
  void done(Partition p, Offset o);
  // Next offsets that moved since the last call (what to commit now).
  std::map<Partition, Offset> take_committable();
  // Next offsets for every partition seen (for a final commit / tests).
  std::map<Partition, Offset> positions() const;
  size_t pending() const;
  // After a failed commit: the next take_committable() reports every
  // partition again.
  void forget_reported();

 private:
  struct Part {
    std::set<int64_t> pending;
    int64_t max_seen = -1;
    int64_t reported = -1;  // last next-offset handed to take_committable
  };
  static int64_t next_of(const Part& s);
  mutable Mutex mu_;
  std::map<Partition, Part> parts_ TANDEM_GUARDED_BY(mu_);
  size_t pending_ TANDEM_GUARDED_BY(mu_) = 0;
};

}  // namespace tandem::load
