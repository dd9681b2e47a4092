// EventSink: see durability.h for the contract and docs/proxy-capture.md for
// the failure behaviour.
//
// A batch goes through phases Main -> Spill -> Done under its own mutex.
// Each log callback and each deadline moves it forward at most once;
// whatever arrives after a phase ended is ignored (a late main-log ack after
// the record was spilled just means the event is in both places, which the
// loader's external versions make harmless).
//
// Deadlines are entries in one ordered table that a ticker thread scans every
// `tick` (a tenth of the shorter deadline, at most 50 ms), not a timer per
// batch: arming and disarming are a map insert and erase under a mutex and
// wake no thread. A per-batch asio timer cost the write path two or three
// wake-ups of an extra thread per request (arm interrupts the reactor, the
// cancel is posted to it) on the critical path; a deadline that fires up to
// one tick late costs nothing that matters against seconds-long deadlines.
#include "proxy/durability.h"

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include "core/mutex.h"
#include "core/thread_name.h"

namespace tandem::proxy {

using Clock = std::chrono::steady_clock;

namespace {

struct Pending {
  std::string key;
  std::string value;
  // In the main log; -1: by key. Spill journal appends ignore it (one
  // partition), so drained events go by key.
  int32_t partition = -1;
};

enum class Phase { kMain, kSpill, kDone };
enum State : uint8_t {
  kPending,
  kLogged,
  kLogFailed,   // may clear: spill it
  kLogRefused,  // never fits: spill its reconcile instead
  kSpilled,
  kSpillFailed,
  kDeadLetter,  // refused with no stand-in: recorded, settled
};

bool settled_state(uint8_t s) {
  return s == kLogged || s == kSpilled || s == kDeadLetter;
}

// The Log contract: kInvalidArgument means "never, whatever is retried".
bool refused_for_good(const Status& st) {
  return st.code() == Code::kInvalidArgument;
}

}  // namespace

struct EventSink::Impl {
  struct Batch;
  using BatchPtr = std::shared_ptr<Batch>;
  using DeadlineKey = std::pair<Clock::time_point, uint64_t>;
  struct Batch {
    // Set before the batch is shared (publish, maybe_retry_stranded) and
    // read by settle(), which runs once, after the phase became kDone.
    // recs keeps its size; finish_main replaces entries under mu.
    Impl* impl = nullptr;
    std::vector<Pending> recs;
    bool live = true;  // counts towards inflight (false: a stranded retry)
    Settled settled;

    Mutex mu;
    std::vector<uint8_t> state TANDEM_GUARDED_BY(mu);
    Phase phase TANDEM_GUARDED_BY(mu) = Phase::kMain;
    size_t outstanding TANDEM_GUARDED_BY(mu) = 0;
    // Armed: its entry in `deadlines`.
    std::optional<DeadlineKey> deadline TANDEM_GUARDED_BY(mu);
  };

  SinkOptions opts;
  log::Log* main = nullptr;

  // The deadline table (see the top of this file). Lock order: a batch's mu,
  // then dl_mu; the ticker calls out with neither held.
  struct Deadline {
    std::weak_ptr<Batch> batch;
    void (Impl::*next)(const BatchPtr&) = nullptr;
  };
  Mutex dl_mu;
  CondVar dl_cv;
  std::map<DeadlineKey, Deadline> deadlines TANDEM_GUARDED_BY(dl_mu);
  uint64_t deadline_seq TANDEM_GUARDED_BY(dl_mu) = 0;
  bool ticker_stop TANDEM_GUARDED_BY(dl_mu) = false;
  std::chrono::milliseconds tick{50};  // set before the ticker starts
  std::thread ticker;
  std::thread drainer;

  mutable Mutex mu;
  CondVar cv;  // the drainer's sleep: stopping, or its next probe
  // The destructor waits here for inflight to reach 0. Its own variable, so
  // that settling a batch (every request) does not wake the drainer.
  CondVar idle_cv;
  bool stopping TANDEM_GUARDED_BY(mu) = false;
  std::unique_ptr<log::Log> spill TANDEM_GUARDED_BY(mu);
  std::deque<Pending> stranded TANDEM_GUARDED_BY(mu);
  std::string last_error TANDEM_GUARDED_BY(mu);
  Clock::time_point last_open_attempt TANDEM_GUARDED_BY(mu){};
  Clock::time_point last_retry TANDEM_GUARDED_BY(mu){};
  Clock::time_point drain_backoff_until TANDEM_GUARDED_BY(mu){};
  // The drainer thread's own (and the destructor's, after joining it).
  std::unique_ptr<log::Consumer> drain_consumer;
  Clock::time_point last_depth{};

  std::atomic<uint64_t> published{0}, logged{0}, spilled{0}, drained{0}, reclaimed{0};
  std::atomic<uint64_t> refused{0}, dead_lettered{0};
  std::atomic<uint64_t> stranded_count{0}, inflight{0};
  std::atomic<int64_t> spill_depth{-1};
  std::atomic<bool> spill_open{false};

  void note_error(const std::string& what) {
    MutexLock lk(mu);
    last_error = what;
  }

  // The stand-in for an event the main log refuses for good: a reconcile of
  // the same document (the loader reads the primary), which carries no
  // source and always fits. nullopt when there is none (meta and reconcile
  // events): the event is then a dead letter, recorded before this returns.
  std::optional<Pending> stand_in(const event::ChangeEvent& e, const std::string& why) {
    if (e.op == event::Op::kIndex || e.op == event::Op::kDelete) {
      event::ChangeEvent r;
      r.op = event::Op::kReconcile;
      r.index = e.index;
      r.id = e.id;
      r.routing = e.routing;
      r.seq_no = e.seq_no;  // a hint for the loader, as for any reconcile
      r.primary_term = e.primary_term;
      r.epoch = e.epoch;
      r.timestamp_ms = e.timestamp_ms;
      Pending p{event::partition_key(r), event::encode(r)};
      if (p.key.size() + p.value.size() <= main->max_record_bytes()) {
        refused.fetch_add(1);
        note_error("main log " + main->describe() + " refuses the " +
                   std::string(event::op_name(e.op)) + " event of [" + e.index.get() + "][" +
                   e.id.get() + "] (" + why + "); sending a reconcile instead");
        return p;
      }
    }
    dead_letter(e.index.get(), std::string(event::op_name(e.op)) + " event" +
                                   (e.id.get().empty() ? "" : " of [" + e.id.get() + "]") +
                                   " refused by the change log " + main->describe() + ": " + why);
    return std::nullopt;
  }

  std::optional<Pending> stand_in(const Pending& p, const std::string& why) {
    auto e = event::decode(p.value);
    if (!e.is_ok()) {
      dead_letter("*",
                  "undecodable event refused by the change log " + main->describe() + ": " + why);
      return std::nullopt;
    }
    return stand_in(*e, why);
  }

  void dead_letter(const std::string& index, const std::string& reason) {
    dead_lettered.fetch_add(1);
    note_error(reason);
    if (opts.dead_letter) opts.dead_letter(index, reason);
  }

  // No thread is woken: the ticker finds it.
  void arm(const BatchPtr& b, std::chrono::milliseconds after, void (Impl::*next)(const BatchPtr&))
      TANDEM_REQUIRES(b->mu) {
    MutexLock lk(dl_mu);
    if (b->deadline) deadlines.erase(*b->deadline);
    DeadlineKey key{Clock::now() + after, ++deadline_seq};
    deadlines.emplace(key, Deadline{b, next});
    b->deadline = key;
  }

  void disarm(const BatchPtr& b) TANDEM_REQUIRES(b->mu) {
    if (!b->deadline) return;
    MutexLock lk(dl_mu);
    deadlines.erase(*b->deadline);
    b->deadline.reset();
  }

  void tick_loop() {
    MutexLock lk(dl_mu);
    while (!ticker_stop) {
      const auto until = Clock::now() + tick;
      while (!ticker_stop && dl_cv.wait_until(dl_mu, until)) {
      }
      std::vector<Deadline> due;
      const auto now = Clock::now();
      while (!deadlines.empty() && deadlines.begin()->first.first <= now) {
        due.push_back(std::move(deadlines.begin()->second));
        deadlines.erase(deadlines.begin());
      }
      if (due.empty()) continue;
      lk.unlock();
      for (Deadline& d : due) {
        // The batch may have settled (or re-armed) meanwhile: next()
        // checks its phase, and disarming an entry that is gone is a no-op.
        if (BatchPtr b = d.batch.lock()) (this->*d.next)(b);
      }
      lk.lock();
    }
  }

  void start(const BatchPtr& b) {
    std::vector<log::AppendRecord> out;
    {
      MutexLock lk(b->mu);
      b->outstanding = b->recs.size();
      b->state.assign(b->recs.size(), kPending);
      arm(b, opts.log_deadline, &Impl::finish_main);
      out.reserve(b->recs.size());
      for (size_t i = 0; i < b->recs.size(); ++i) {
        out.push_back({b->recs[i].key, b->recs[i].value,
                       [this, b, i](const Status& st, Partition, Offset) { on_main(b, i, st); },
                       b->recs[i].partition});
      }
    }
    main->append(std::move(out));
  }

  void on_main(const BatchPtr& b, size_t i, const Status& st) {
    bool all_in = false;
    {
      MutexLock lk(b->mu);
      if (b->phase == Phase::kDone) return;  // impl may be gone: touch nothing
      if (st.is_ok() && b->state[i] != kLogged && b->state[i] != kSpilled) {
        b->state[i] = kLogged;
        logged.fetch_add(1);
      } else if (!st.is_ok() && b->state[i] == kPending) {
        b->state[i] = refused_for_good(st) ? kLogRefused : kLogFailed;
      }
      if (b->phase == Phase::kMain) all_in = --b->outstanding == 0;
    }
    if (!st.is_ok()) note_error("main log " + main->describe() + ": " + st.to_string());
    if (all_in) finish_main(b);
  }

  void finish_main(const BatchPtr& b) {
    std::vector<size_t> todo;
    {
      MutexLock lk(b->mu);
      if (b->phase != Phase::kMain) return;
      disarm(b);
      for (size_t i = 0; i < b->state.size(); ++i) {
        if (b->state[i] == kLogged) continue;
        if (b->state[i] == kLogRefused) {
          // Its reconcile goes to the spill journal, and the drainer takes
          // that to the main log like any spilled event.
          auto s = stand_in(b->recs[i], "refused by the log");
          if (!s) {
            b->state[i] = kDeadLetter;
            continue;
          }
          b->recs[i] = std::move(*s);  // by key from here on
        }
        todo.push_back(i);
      }
      b->phase = todo.empty() ? Phase::kDone : Phase::kSpill;
      b->outstanding = todo.size();
    }
    if (todo.empty()) return settle(b, true);
    log::Log* journal = nullptr;
    {
      MutexLock lk(mu);
      journal = spill.get();
    }
    if (!journal) {
      note_error("spill journal " + opts.spill_dir + " is not open");
      return fail_rest(b);
    }
    std::vector<log::AppendRecord> out;
    {
      MutexLock lk(b->mu);
      if (b->phase != Phase::kSpill) return;
      arm(b, opts.spill_deadline, &Impl::finish_spill);
      for (size_t i : todo) {
        out.push_back({b->recs[i].key, b->recs[i].value,
                       [this, b, i](const Status& st, Partition, Offset) { on_spill(b, i, st); }});
      }
    }
    journal->append(std::move(out));
  }

  void on_spill(const BatchPtr& b, size_t i, const Status& st) {
    bool all_in = false;
    {
      MutexLock lk(b->mu);
      if (b->phase != Phase::kSpill) return;
      if (b->state[i] != kLogged && b->state[i] != kDeadLetter) {
        b->state[i] = st.is_ok() ? kSpilled : kSpillFailed;
        if (st.is_ok()) spilled.fetch_add(1);
      }
      all_in = --b->outstanding == 0;
    }
    if (!st.is_ok()) note_error("spill journal " + opts.spill_dir + ": " + st.to_string());
    if (all_in) finish_spill(b);
  }

  void finish_spill(const BatchPtr& b) {
    {
      MutexLock lk(b->mu);
      if (b->phase != Phase::kSpill) return;
    }
    fail_rest(b);
  }

  // Ends a batch: whatever is neither logged nor spilled is stranded.
  void fail_rest(const BatchPtr& b) {
    std::vector<Pending> lost;
    {
      MutexLock lk(b->mu);
      if (b->phase == Phase::kDone) return;
      b->phase = Phase::kDone;
      disarm(b);
      for (size_t i = 0; i < b->state.size(); ++i) {
        if (!settled_state(b->state[i])) lost.push_back(b->recs[i]);
      }
    }
    if (!lost.empty()) {
      MutexLock lk(mu);
      stranded_count.fetch_add(lost.size());
      for (Pending& p : lost) stranded.push_back(std::move(p));
    }
    settle(b, lost.empty());
  }

  void settle(const BatchPtr& b, bool durable) {
    if (b->settled) b->settled(durable);
    b->settled = nullptr;
    MutexLock lk(mu);  // the destructor waits on this mutex: notify last
    const uint64_t n = b->live ? b->recs.size() : 0;
    if (inflight.fetch_sub(n) == n) idle_cv.notify_all();
  }

  // ---- drainer thread ------------------------------------------------------

  void drain_loop() {
    while (true) {
      {
        MutexLock lk(mu);
        if (stopping) return;
      }
      maybe_open_spill();
      maybe_retry_stranded();
      bool progressed = drain_once();
      maybe_update_depth();
      if (!progressed) {
        MutexLock lk(mu);
        const auto until = Clock::now() + std::min<std::chrono::milliseconds>(
                                              opts.probe_interval, std::chrono::milliseconds(100));
        while (!stopping && cv.wait_until(mu, until)) {
        }
      }
    }
  }

  void maybe_open_spill() {
    {
      MutexLock lk(mu);
      if (spill || Clock::now() - last_open_attempt < opts.probe_interval) return;
      last_open_attempt = Clock::now();
    }
    auto opened = opts.open_spill();
    MutexLock lk(mu);
    if (opened.is_ok()) {
      spill = std::move(opened).value();
      spill_open = true;
    } else {
      last_error = "spill journal " + opts.spill_dir + ": " + opened.status().to_string();
    }
  }

  void maybe_retry_stranded() {
    std::vector<Pending> retry;
    {
      MutexLock lk(mu);
      if (stranded.empty() || Clock::now() - last_retry < opts.probe_interval) return;
      last_retry = Clock::now();
      retry.assign(std::make_move_iterator(stranded.begin()),
                   std::make_move_iterator(stranded.end()));
      stranded.clear();
    }
    size_t n = retry.size();
    auto done = std::make_shared<std::promise<bool>>();
    auto fut = done->get_future();
    auto b = std::make_shared<Batch>();
    b->impl = this;
    b->recs = std::move(retry);
    b->live = false;
    // Failures are re-stranded by fail_rest before this runs, so the count
    // only drops by what left memory for good.
    b->settled = [this, n, done](bool ok) {
      stranded_count.fetch_sub(n);
      done->set_value(ok);
    };
    start(b);
    fut.wait();
  }

  // One drained batch on its way to the main log. Only the drainer thread
  // touches it.
  struct DrainWait {
    Mutex mu;
    size_t left TANDEM_GUARDED_BY(mu) = 0;
    bool failed TANDEM_GUARDED_BY(mu) = false;          // some record may go in later
    std::vector<size_t> refused TANDEM_GUARDED_BY(mu);  // records the log refuses for good
  };
  struct PendingDrain {
    std::shared_ptr<DrainWait> wait;
    log::Log* journal = nullptr;  // the spill journal they were read from
    std::map<Partition, Offset> first, next;
    std::vector<Pending> recs;  // as appended, for stand-ins of refused ones
    size_t count = 0;
    Clock::time_point since;
    bool reported = false;
  };
  std::optional<PendingDrain> drain_pending;

  // Moves one batch from the spill journal to the main log without blocking
  // the drainer: a batch is appended, then later calls settle it. The batch
  // is committed once every callback ran ok. While callbacks are pending the
  // batch is never appended again: each callback runs exactly once (the Log
  // contract; Kafka bounds it by message.timeout.ms), and re-appending after
  // a deadline would queue another copy behind the ones still pending in the
  // producer, every copy delivered once the log returns (the end-to-end
  // Kafka outage test saw up to 9 copies after a 5 s outage). Only what the
  // log refused is read again, after the back-off.
  bool drain_once() {
    if (drain_pending) return settle_drain();
    log::Log* journal = nullptr;
    {
      MutexLock lk(mu);
      journal = spill.get();
      if (!journal || Clock::now() < drain_backoff_until) return false;
    }
    if (!drain_consumer) {
      auto c = journal->consumer("spill-drain");
      if (!c.is_ok()) {
        note_error("spill journal " + opts.spill_dir + ": " + c.status().to_string());
        backoff();
        return false;
      }
      drain_consumer = std::move(c).value();
      // What a previous run drained (and committed) but did not delete.
      auto committed = drain_consumer->committed();
      if (committed.is_ok()) reclaim(journal, *committed);
    }
    auto polled = drain_consumer->poll(opts.drain_batch, std::chrono::milliseconds(50));
    if (!polled.is_ok()) {
      note_error("spill journal " + opts.spill_dir + ": " + polled.status().to_string());
      backoff();
      return false;
    }
    std::vector<log::Record>& recs = *polled;
    if (recs.empty()) return false;

    std::map<Partition, Offset> first, next;
    std::vector<Pending> batch;
    batch.reserve(recs.size());
    for (log::Record& r : recs) {
      if (!first.count(r.partition)) first[r.partition] = r.offset;
      next[r.partition] = Offset(r.offset.get() + 1);
      batch.push_back({std::move(r.key), std::move(r.value)});
    }
    const size_t count = batch.size();
    append_drain(journal, std::move(batch), std::move(first), std::move(next), count);
    return true;
  }

  // Appends drained records to the main log; committing [first, next) of
  // the journal, `count` records, waits for all of them (settle_drain).
  void append_drain(log::Log* journal, std::vector<Pending> batch,
                    std::map<Partition, Offset> first, std::map<Partition, Offset> next,
                    size_t count) {
    PendingDrain d;
    d.wait = std::make_shared<DrainWait>();
    {
      MutexLock lk(d.wait->mu);  // not shared yet; the analysis wants it all the same
      d.wait->left = batch.size();
    }
    d.count = count;
    d.since = Clock::now();
    d.journal = journal;
    d.first = std::move(first);
    d.next = std::move(next);
    std::vector<log::AppendRecord> out;
    out.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      out.push_back(
          {batch[i].key, batch[i].value, [w = d.wait, i](const Status& st, Partition, Offset) {
             MutexLock lk(w->mu);
             if (!st.is_ok()) {
               if (refused_for_good(st)) {
                 w->refused.push_back(i);
               } else {
                 w->failed = true;
               }
             }
             --w->left;
           }});
    }
    d.recs = std::move(batch);
    drain_pending = std::move(d);
    main->append(std::move(out));
  }

  // Commits the pending batch once it settled; false while it has not.
  bool settle_drain() {
    PendingDrain& d = *drain_pending;
    bool ok = false;
    std::vector<size_t> refused_idx;
    {
      MutexLock lk(d.wait->mu);
      if (d.wait->left > 0) {
        if (!d.reported && Clock::now() - d.since > opts.log_deadline) {
          d.reported = true;
          note_error("main log " + main->describe() + " has not taken " + std::to_string(d.count) +
                     " drained events within " + std::to_string(opts.log_deadline.count()) +
                     " ms; waiting for it");
        }
        return false;
      }
      ok = !d.wait->failed;
      refused_idx = std::move(d.wait->refused);
    }
    PendingDrain done = std::move(d);
    drain_pending.reset();
    if (ok && !refused_idx.empty()) {
      // Retrying these could never succeed and would hold up everything
      // spilled after them: send their reconciles in their place (dead
      // letters when there is none), then commit the whole batch.
      std::vector<Pending> again;
      for (size_t i : refused_idx) {
        if (auto s = stand_in(done.recs[i], "refused while draining the spill journal")) {
          again.push_back(std::move(*s));
        }
      }
      if (!again.empty()) {
        append_drain(done.journal, std::move(again), std::move(done.first), std::move(done.next),
                     done.count);
        return true;
      }
    }
    if (ok) {
      Status st = drain_consumer->commit(done.next);
      if (st.is_ok()) {
        drained.fetch_add(done.count);
        // Only now, with the main log holding the events and the drain
        // position durable, may the journal let go of them.
        reclaim(done.journal, done.next);
        return true;
      }
      note_error("spill journal " + opts.spill_dir + ": commit: " + st.to_string());
    } else {
      note_error("main log " + main->describe() + " refused drained events; retrying in " +
                 std::to_string(opts.probe_interval.count()) + " ms");
    }
    // Not committed: read them again after the back-off.
    for (const auto& [p, o] : done.first) (void)drain_consumer->seek(p, o);
    backoff();
    return false;
  }

  // Deletes the journal segments below the committed drain position.
  // A failure only costs disk space: it is noted and retried after the next
  // commit.
  void reclaim(log::Log* journal, const std::map<Partition, Offset>& committed) {
    for (const auto& [p, o] : committed) {
      auto freed = journal->reclaim_before(p, o);
      if (!freed.is_ok()) {
        note_error("spill journal " + opts.spill_dir + ": reclaim: " + freed.status().to_string());
      } else if (*freed > 0) {
        reclaimed.fetch_add(static_cast<uint64_t>(*freed));
      }
    }
  }

  void backoff() {
    MutexLock lk(mu);
    drain_backoff_until = Clock::now() + opts.probe_interval;
  }

  void maybe_update_depth() {
    if (!drain_consumer || Clock::now() - last_depth < std::chrono::milliseconds(500)) return;
    last_depth = Clock::now();
    auto lag = drain_consumer->lag();
    if (!lag.is_ok()) return;
    int64_t total = 0;
    for (const log::PartitionLag& p : *lag) total += p.lag();
    spill_depth = total;
  }
};

EventSink::EventSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<EventSink>> EventSink::start(SinkOptions opts, log::Log* main) {
  if (!main) return error(Code::kInvalidArgument, "event sink: no main log");
  if (!opts.open_spill) {
    if (opts.spill_dir.empty()) {
      return error(Code::kInvalidArgument, "event sink: spill_dir is required");
    }
    std::string dir = opts.spill_dir;
    const uint64_t segment_bytes = opts.spill_segment_bytes;
    opts.open_spill = [dir, segment_bytes]() {
      log::FileLogOptions fo;
      fo.dir = dir;
      fo.partitions = 1;
      fo.segment_bytes = segment_bytes;
      return log::open_file_log(fo);
    };
  }
  auto impl = std::make_unique<Impl>();
  impl->opts = std::move(opts);
  impl->main = main;
  // First open attempt now, so a healthy start is not fail-open for a
  // probe interval; a failure is retried by the drainer.
  impl->maybe_open_spill();
  Impl* raw = impl.get();
  impl->tick = std::clamp(std::min(impl->opts.log_deadline, impl->opts.spill_deadline) / 10,
                          std::chrono::milliseconds(1), std::chrono::milliseconds(50));
  impl->ticker = std::thread([raw] {
    name_this_thread("tandem-deadline");
    raw->tick_loop();
  });
  impl->drainer = std::thread([raw] {
    name_this_thread("tandem-spilldrn");
    raw->drain_loop();
  });
  return std::unique_ptr<EventSink>(new EventSink(std::move(impl)));
}

EventSink::~EventSink() {
  Impl& s = *impl_;
  {
    // Bounded: every batch settles by log_deadline + spill_deadline.
    MutexLock lk(s.mu);
    while (s.inflight.load() != 0) s.idle_cv.wait(s.mu);
    s.stopping = true;
    s.cv.notify_all();
  }
  s.drainer.join();
  {
    MutexLock lk(s.dl_mu);
    s.ticker_stop = true;
  }
  s.dl_cv.notify_all();
  s.ticker.join();
  s.drain_consumer.reset();
  if (s.spill) (void)s.spill->flush(s.opts.spill_deadline);
}

void EventSink::publish(std::vector<event::ChangeEvent> events, Settled settled) {
  if (events.empty()) {
    if (settled) settled(true);
    return;
  }
  auto b = std::make_shared<Impl::Batch>();
  b->impl = impl_.get();
  b->settled = std::move(settled);
  b->recs.reserve(events.size());
  const uint64_t limit = impl_->main->max_record_bytes();
  // One partition for the request's data events: one log round trip.
  const std::vector<int32_t> parts = event::request_partitions(events, impl_->main->partitions());
  for (size_t i = 0; i < events.size(); ++i) {
    const event::ChangeEvent& e = events[i];
    Pending p{event::partition_key(e), event::encode(e), parts[i]};
    if (p.key.size() + p.value.size() > limit) {
      // Known before asking: the log would refuse it (a 20 MiB document
      // against Kafka's 16 MiB). Not even a spill detour.
      auto s =
          impl_->stand_in(e, "event of " + std::to_string(p.value.size()) +
                                 " bytes exceeds its record limit of " + std::to_string(limit));
      if (!s) continue;  // a dead letter, already recorded
      p = std::move(*s);
      p.partition = parts[i];  // the same document: it goes with its request
    }
    b->recs.push_back(std::move(p));
  }
  impl_->published.fetch_add(events.size());
  if (b->recs.empty()) {
    if (b->settled) b->settled(true);
    return;
  }
  impl_->inflight.fetch_add(b->recs.size());
  impl_->start(b);
}

bool EventSink::publish_and_wait(std::vector<event::ChangeEvent> events) {
  auto p = std::make_shared<std::promise<bool>>();
  auto f = p->get_future();
  publish(std::move(events), [p](bool ok) { p->set_value(ok); });
  return f.get();
}

uint64_t EventSink::inflight() const {
  return impl_->inflight.load();
}

bool EventSink::accepting() const {
  return impl_->stranded_count.load() == 0;
}

std::string EventSink::fail_reason() const {
  MutexLock lk(impl_->mu);
  return impl_->last_error;
}

SinkStats EventSink::stats() const {
  const Impl& s = *impl_;
  SinkStats out;
  out.published = s.published.load();
  out.logged = s.logged.load();
  out.spilled = s.spilled.load();
  out.drained = s.drained.load();
  out.reclaimed = s.reclaimed.load();
  out.stranded = s.stranded_count.load();
  out.refused = s.refused.load();
  out.dead_lettered = s.dead_lettered.load();
  out.inflight = s.inflight.load();
  out.spill_depth = s.spill_depth.load();
  out.spill_open = s.spill_open.load();
  out.fail_closed = out.stranded > 0;
  MutexLock lk(s.mu);
  out.last_error = s.last_error;
  return out;
}

}  // namespace tandem::proxy
