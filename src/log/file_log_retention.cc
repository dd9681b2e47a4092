// The file log's retention: deletes whole sealed segments by size and age,
// or on demand below an offset. docs/file-log-format.md, "Retention".

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "log/file_log_core.h"

namespace tandem::log::detail {

// Deletes whole sealed segments beyond retention_bytes / retention_age.
// Never the active one. Readers holding a deleted segment keep reading it
// through their shared_ptr (the fd outlives the unlink).
void Core::apply_retention(PartitionState& ps) {
  if (opts.retention_bytes == 0 && opts.retention_age.count() == 0) return;
  std::vector<SegmentPtr> doomed;
  {
    MutexLock lk(ps.seg_mu);
    uint64_t total = 0;
    for (auto& s : ps.segments) total += s->durable_bytes.load(std::memory_order_acquire);
    const auto cutoff = std::chrono::system_clock::now() - opts.retention_age;
    while (ps.segments.size() > 1) {
      Segment& oldest = *ps.segments.front();
      const uint64_t sz = oldest.durable_bytes.load(std::memory_order_acquire);
      bool drop = opts.retention_bytes > 0 && total - sz >= opts.retention_bytes;
      if (!drop && opts.retention_age.count() > 0) {
        struct stat st;
        if (::fstat(oldest.fd, &st) == 0) {
          auto mtime = std::chrono::system_clock::time_point(
              std::chrono::seconds(st.st_mtim.tv_sec) +
              std::chrono::duration_cast<std::chrono::system_clock::duration>(
                  std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
          drop = mtime < cutoff;
        }
      }
      if (!drop) break;
      total -= sz;
      doomed.push_back(ps.segments.front());
      ps.segments.erase(ps.segments.begin());
    }
    ps.begin.store(ps.segments.front()->base, std::memory_order_release);
  }
  // Oldest first, so a crash midway leaves a contiguous suffix.
  for (auto& s : doomed) ::unlink(s->path.c_str());
}

// Deletes the sealed segments holding only records below `before`: a
// segment ends where the next one begins, so it goes when that base is
// <= before. Never the active one. Like apply_retention, readers holding
// a deleted segment keep reading it through their shared_ptr. Returns how
// many records were freed.
int64_t Core::reclaim_before(PartitionState& ps, int64_t before) {
  std::vector<SegmentPtr> doomed;
  int64_t freed = 0;
  {
    MutexLock lk(ps.seg_mu);
    const int64_t old_begin = ps.segments.front()->base;
    while (ps.segments.size() > 1 && ps.segments[1]->base <= before) {
      doomed.push_back(ps.segments.front());
      ps.segments.erase(ps.segments.begin());
    }
    if (doomed.empty()) return 0;
    ps.begin.store(ps.segments.front()->base, std::memory_order_release);
    freed = ps.segments.front()->base - old_begin;
  }
  // Oldest first, so a crash midway leaves a contiguous suffix.
  for (auto& s : doomed) ::unlink(s->path.c_str());
  return freed;
}

}  // namespace tandem::log::detail
