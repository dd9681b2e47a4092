// Durability of captured events: the path from "the primary acknowledged a
// write" to "its events survive anything".
//
// publish() hands a batch of events to the main log. Each batch settles
// exactly once:
//   - durable(true): every event was acknowledged by the main log, or, for
//     those the log did not acknowledge within log_deadline (or refused),
//     by the spill journal (a file log with fsync and CRCs).
//   - durable(false): some events could be put in neither. They are kept in
//     memory ("stranded") and retried by the prober; while any event is
//     stranded the sink is fail-closed (accepting() is false) and the proxy
//     answers new writes 503 before they reach the primary.
// A background drainer moves spilled events into the main log once it
// answers again (consumer group "spill-drain" on the spill journal; commit
// only after the main log acknowledged). After each commit -- and at start,
// up to the committed position a previous run left -- the journal's
// segments that hold only drained events are deleted
// (log::Log::reclaim_before), so a long outage does not keep its spill on
// disk forever. Drained events can land after
// later live events of the same document; that is harmless because the
// loader writes with external versions derived from the primary's seq_no,
// so the order of application does not matter (Invariant 1).
//
// An event the main log refuses for good (larger than max_record_bytes(),
// or refused with kInvalidArgument, live or while draining) is never
// retried as it is: it is replaced by a reconcile event for the same
// (index, id, routing), which is small and converges the secondary from the
// primary. An event that has no such stand-in (a meta or reconcile event
// the log still refuses) becomes a dead letter: `dead_letter(index,
// reason)` records it durably (the proxy marks the index as needing
// verification, which the cutover gates read) and it counts in
// SinkStats::dead_lettered. Temporary failures keep the path above.
//
// The sink knows nothing about sync vs async: capture decides whether the
// client waits for settle (sync) or not (async). inflight() is the async
// window.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "event/event.h"
#include "log/log.h"

namespace tandem::proxy {

struct SinkOptions {
  std::chrono::milliseconds log_deadline{2000};
  std::chrono::milliseconds spill_deadline{5000};
  // How often the drainer retries stranded events and reopens a spill
  // journal that could not be opened; also its back-off after a failure.
  std::chrono::milliseconds probe_interval{1000};
  std::string spill_dir;
  // Segment size of the default spill journal: the unit in which drained
  // spill is deleted.
  uint64_t spill_segment_bytes = 64ull << 20;
  // Opens the spill journal. Default: open_file_log(spill_dir, 1 partition,
  // so the drain order is the spill order). Tests inject fakes.
  std::function<Result<std::unique_ptr<log::Log>>()> open_spill;
  size_t drain_batch = 500;
  // Where events that no log can take are recorded (see above). Must be
  // durable when it returns; may be called on any sink thread.
  std::function<void(const std::string& index, const std::string& reason)> dead_letter;
};

struct SinkStats {
  uint64_t published = 0;      // events handed to publish()
  uint64_t logged = 0;         // acknowledged by the main log on the live path
  uint64_t spilled = 0;        // acknowledged by the spill journal
  uint64_t drained = 0;        // moved from the spill journal into the main log
  uint64_t reclaimed = 0;      // drained events whose journal space was freed
  uint64_t stranded = 0;       // in memory, in neither (fail-closed while > 0)
  uint64_t refused = 0;        // refused for good by the log, sent as reconciles
  uint64_t dead_lettered = 0;  // refused, with no stand-in: dead letters
  uint64_t inflight = 0;       // published, not yet settled (the async window)
  int64_t spill_depth = -1;    // spilled, not yet drained; -1 unknown
  bool spill_open = false;
  bool fail_closed = false;
  std::string last_error;  // most recent log / spill failure, for /status
};

class EventSink {
 public:
  using Settled = std::function<void(bool durable)>;

  static Result<std::unique_ptr<EventSink>> start(SinkOptions opts, log::Log* main);
  // Waits for in-flight batches to settle (bounded by the deadlines), then
  // stops the drainer.
  ~EventSink();

  // `settled` runs exactly once, on any thread, never inside publish() for a
  // non-empty batch... unless the log calls back synchronously; callers
  // must not hold locks that the callback takes.
  void publish(std::vector<event::ChangeEvent> events, Settled settled);

  // Synchronous variant for start-up recovery: true when durable.
  bool publish_and_wait(std::vector<event::ChangeEvent> events);

  bool accepting() const;
  uint64_t inflight() const;  // cheap: the async window
  std::string fail_reason() const;
  SinkStats stats() const;

  struct Impl;

 private:
  explicit EventSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem::proxy
