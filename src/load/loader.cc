// The loader's engine: one polling thread (the log consumer is used from
// this thread only), N bulk workers behind a bounded queue, and the commit
// tracker between them.
#include <unistd.h>

#include <cassert>
#include <cstdio>
#include <deque>
#include <future>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/mutex.h"
#include "load/load.h"

namespace tandem::load {
namespace {

using Clock = std::chrono::steady_clock;

struct Batch {
  std::vector<apply::Item> items;
  std::vector<std::pair<Partition, Offset>> positions;  // one per item
  size_t record_bytes = 0;
};

class LoaderImpl final : public Loader {
 public:
  LoaderImpl(log::Consumer& c, apply::Sink& sink, state::Store& store, LoaderOptions o)
      : consumer_(c), sink_(sink), store_(store), o_(std::move(o)) {
    assert(o_.workers >= 1);
    if (o_.workers < 1) o_.workers = 1;
    if (!o_.progress) {
      o_.progress = [](std::string_view line) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data());
      };
    }
  }

  ~LoaderImpl() override { shutdown_workers(); }

  void stop() override { stop_ = true; }

  LoaderStatus status() const override {
    LoaderStatus s;
    s.polled = polled_;
    s.applied = c_.applied;
    s.indexed = c_.indexed;
    s.deleted = c_.deleted;
    s.settled = settled_;
    s.conflicts = c_.conflicts;
    s.dead_lettered = c_.dead_lettered;
    s.retries = c_.retries;
    s.obsolete = c_.obsolete;
    s.skipped = skipped_;
    s.reconciled = c_.reconciled;
    s.meta_applied = c_.meta_applied;
    s.bulks = c_.bulks;
    {
      MutexLock g(mu_);
      s.inflight_events = inflight_events_;
      s.inflight_bytes = inflight_bytes_;
    }
    s.paused_ms = paused_ms_;
    s.lag = lag_;
    s.rate = rate_;
    s.last_retry = c_.recent_retry(
        std::max<std::chrono::milliseconds>(o_.progress_interval, std::chrono::milliseconds(1000)));
    return s;
  }

  Status run() override {
    const auto t0 = Clock::now();
    for (int i = 0; i < o_.workers; ++i) workers_.emplace_back([this] { worker(); });
    Status st = loop();
    // Let in-flight bulks finish (bounded), then commit what is contiguous.
    flush_batch();
    wait_drained(o_.stop_grace);
    abort_ = true;
    shutdown_workers();
    Status cs = commit();
    Status result = st.is_ok() ? cs : st;
    {
      MutexLock g(mu_);
      if (!fatal_.is_ok()) result = fatal_;
    }
    // One summary line, whatever ended the run; the lag is read after the
    // final commit so it is what a restarted loader would start from.
    refresh_lag();
    LoaderExit why = !result.is_ok() ? LoaderExit::kError
                     : reached_zero_ ? LoaderExit::kLagZero
                                     : LoaderExit::kStopped;
    o_.progress(
        format_summary(status(), why, std::chrono::duration<double>(Clock::now() - t0).count()));
    return result;
  }

 private:
  bool stopping() const { return stop_ || failed_; }

  Status loop() {
    auto last_commit = Clock::now();
    auto last_lag = Clock::now() - o_.lag_check_interval;
    last_progress_ = Clock::now();
    while (!stopping()) {
      // Back-pressure: stop reading while too much is in flight.
      if (!wait_for_room()) break;
      size_t room;
      {
        MutexLock g(mu_);
        room = o_.max_inflight_events - inflight_events_;
      }
      auto polled = consumer_.poll(std::min(room, o_.bulk_docs), o_.poll_timeout);
      if (!polled.is_ok()) {
        // A log outage is not fatal: keep what is in flight, try again.
        o_.progress("load: polling the log failed (will retry): " + polled.status().message());
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      for (auto& rec : *polled) {
        TANDEM_RETURN_IF_ERROR(take(std::move(rec)));
        if (stopping()) break;
      }
      // Send what we have rather than wait for a full bulk: latency matters
      // more than batch size once the backlog is drained.
      flush_batch();
      auto now = Clock::now();
      // Also commit as soon as the log goes quiet: a cutover's fence is
      // read from the committed positions, so an idle loader must not sit
      // on applied events for a whole commit interval (docs/cutover.md).
      if (polled->empty()) {
        // Quiet log: let the last bulks settle (bounded), then commit them.
        wait_drained(std::chrono::milliseconds(100));
        (void)commit();
        last_commit = now;
      } else if (now - last_commit >= o_.commit_interval) {
        (void)commit();
        last_commit = now;
      }
      bool check_lag =
          o_.until_lag_zero && polled->empty() && now - last_lag >= o_.lag_check_interval;
      if (check_lag ||
          (o_.progress_interval.count() > 0 && now - last_progress_ >= o_.progress_interval)) {
        if (o_.until_lag_zero && polled->empty()) {
          wait_drained(std::chrono::milliseconds(0));
          (void)commit();
        }
        refresh_lag();
        last_lag = now;
        if (o_.until_lag_zero && lag_ == 0 && idle()) {
          reached_zero_ = true;
          return Status::ok();
        }
      }
      report();
    }
    return Status::ok();
  }

  // One polled record: decode, then batch it or (meta) apply it alone.
  Status take(log::Record rec) {
    ++polled_;
    tracker_.add(rec.partition, rec.offset);
    {
      MutexLock g(mu_);
      ++inflight_events_;
      inflight_bytes_ += rec.value.size();
    }
    auto ev = event::decode(rec.value);
    if (!ev.is_ok()) {
      // Never drop: an undecodable record is kept as a dead letter with its
      // bytes and position, then counts as settled.
      state::DeadLetter d;
      d.source = o_.apply.dlq_source;
      d.event = rec.value;
      d.error_type = "event_decode";
      d.error_reason = "partition " + std::to_string(rec.partition.get()) + " offset " +
                       std::to_string(rec.offset.get()) + ": " + ev.status().message();
      auto r = store_.add_dead_letter(d);
      if (!r.is_ok()) return r.status().context("dead-lettering an undecodable record");
      ++c_.dead_lettered;
      settle(rec.partition, rec.offset, rec.value.size());
      return Status::ok();
    }
    if (o_.accept && !o_.accept(*ev)) {
      // Produced by the cluster this loader writes to (reverse replication,
      // docs/cutover.md): applying it back would overwrite newer writes.
      ++skipped_;
      settle(rec.partition, rec.offset, rec.value.size());
      return Status::ok();
    }
    size_t bytes = rec.value.size();
    if (ev->op == event::Op::kMeta) {
      // Barrier: data polled before the meta event lands first, data after
      // it waits (a mapping must exist before the documents that use it).
      flush_batch();
      if (!wait_drained_except_one()) return Status::ok();  // stopping
      apply::Applier a(sink_, &store_, c_, o_.apply, &stop_);
      apply::Item it{std::move(*ev), std::move(rec.value), std::nullopt};
      auto r = a.apply_meta(it);
      if (!r.is_ok()) {
        if (stopping()) return Status::ok();  // not settled: redelivered later
        return r.status().context("meta event at partition " + std::to_string(rec.partition.get()) +
                                  " offset " + std::to_string(rec.offset.get()));
      }
      settle(rec.partition, rec.offset, bytes);
      return Status::ok();
    }
    cur_.items.push_back(apply::Item{std::move(*ev), std::move(rec.value), std::nullopt});
    cur_.positions.emplace_back(rec.partition, rec.offset);
    cur_.record_bytes += bytes;
    if (cur_.record_bytes >= o_.bulk_bytes || cur_.items.size() >= o_.bulk_docs) flush_batch();
    return Status::ok();
  }

  void flush_batch() {
    if (cur_.items.empty()) return;
    MutexLock g(mu_);
    // Bounded queue: wait for a worker to pick something up.
    while (queue_.size() >= static_cast<size_t>(o_.workers) * 2) {
      if (abort_ || (stopping() && failed_)) {
        cur_ = Batch{};  // never settled, never committed: redelivered later
        return;
      }
      cv_.wait_for(mu_, std::chrono::milliseconds(100));
    }
    queue_.push_back(std::move(cur_));
    cur_ = Batch{};
    cv_.notify_all();
  }

  void worker() {
    apply::Applier a(sink_, &store_, c_, o_.apply, &abort_);
    for (;;) {
      Batch b;
      {
        MutexLock g(mu_);
        while (queue_.empty() && !quit_) cv_.wait(mu_);
        if (queue_.empty()) return;
        b = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
        cv_.notify_all();
      }
      Status s = apply_batch(a, b);
      if (s.is_ok()) {
        for (size_t i = 0; i < b.items.size(); ++i) {
          settle(b.positions[i].first, b.positions[i].second, b.items[i].encoded.size());
        }
      } else if (!abort_) {
        MutexLock g(mu_);
        if (fatal_.is_ok()) fatal_ = s;
        failed_ = true;
      }
      MutexLock g(mu_);
      --busy_;
      cv_.notify_all();
    }
  }

  Status apply_batch(apply::Applier& a, const Batch& b) {
    // External versions make the order of application within a batch
    // irrelevant, so reconciles go together (two _mget and one bulk).
    std::vector<const apply::Item*> data, reconciles;
    data.reserve(b.items.size());
    for (const auto& it : b.items) {
      if (it.ev.op == event::Op::kReconcile || a.needs_reconcile(it)) {
        reconciles.push_back(&it);
      } else {
        data.push_back(&it);
      }
    }
    if (reconciles.empty() || data.empty()) {
      TANDEM_RETURN_IF_ERROR(a.apply_reconciles(reconciles));
      return a.apply_data(data);
    }
    // Both kinds: the reconciles (read the secondary, then the primary,
    // then write) and the plain writes go at the same time, as two workers
    // would; external versions make their order irrelevant. The batch
    // settles when the slower of the two is done, so the tail a cutover's
    // catch-up waits for is one request chain shorter (docs/cutover.md).
    auto rec = std::async(std::launch::async, [this, &reconciles] {
      apply::Applier ra(sink_, &store_, c_, o_.apply, &abort_);
      return ra.apply_reconciles(reconciles);
    });
    Status ds = a.apply_data(data);
    Status rs = rec.get();
    return rs.is_ok() ? ds : rs;
  }

  void settle(Partition p, Offset o, size_t bytes) {
    tracker_.done(p, o);
    ++settled_;
    MutexLock g(mu_);
    --inflight_events_;
    inflight_bytes_ -= std::min(bytes, inflight_bytes_);
    cv_.notify_all();
  }

  bool wait_for_room() {
    MutexLock g(mu_);
    if (!full()) return true;
    auto t0 = Clock::now();
    while (full() && !stopping()) cv_.wait_for(mu_, std::chrono::milliseconds(100));
    paused_ms_ += static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
    return !stopping();
  }

  bool full() const TANDEM_REQUIRES(mu_) {
    return inflight_events_ >= o_.max_inflight_events || inflight_bytes_ >= o_.max_inflight_bytes;
  }

  // Waits until every polled record except the one being handled is
  // settled. false when stopping.
  bool wait_drained_except_one() {
    MutexLock g(mu_);
    while (inflight_events_ > 1) {
      if (stopping()) return false;
      cv_.wait_for(mu_, std::chrono::milliseconds(100));
    }
    return true;
  }

  void wait_drained(std::chrono::milliseconds limit) {
    MutexLock g(mu_);
    auto until = Clock::now() + limit;
    while ((!queue_.empty() || busy_ > 0) && (limit.count() == 0 || Clock::now() < until)) {
      if (failed_) return;
      cv_.wait_for(mu_, std::chrono::milliseconds(50));
      if (limit.count() == 0 && stopping()) return;
    }
  }

  bool idle() {
    MutexLock g(mu_);
    return inflight_events_ == 0 && queue_.empty() && busy_ == 0 && cur_.items.empty();
  }

  void shutdown_workers() {
    {
      MutexLock g(mu_);
      quit_ = true;
      cv_.notify_all();
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  Status commit() {
    auto next = tracker_.take_committable();
    if (next.empty()) return Status::ok();
    Status s = consumer_.commit(next);
    if (!s.is_ok()) {
      tracker_.forget_reported();
      o_.progress("load: commit failed (will retry): " + s.message());
    } else if (o_.on_commit) {
      o_.on_commit(next);
    }
    return s;
  }

  void refresh_lag() {
    auto l = consumer_.lag();
    if (!l.is_ok()) return;
    int64_t total = 0;
    for (const auto& p : *l) total += std::max<int64_t>(p.lag(), 0);
    lag_ = total;
  }

  void report() {
    if (o_.progress_interval.count() <= 0) return;
    auto now = Clock::now();
    if (now - last_progress_ < o_.progress_interval) return;
    auto dt = std::chrono::duration<double>(now - last_progress_).count();
    uint64_t settled = settled_;
    if (dt > 0) rate_ = static_cast<double>(settled - settled_at_last_) / dt;
    settled_at_last_ = settled;
    last_progress_ = now;
    o_.progress(format_status(status()));
  }

  log::Consumer& consumer_;
  apply::Sink& sink_;
  state::Store& store_;
  LoaderOptions o_;
  apply::Counters c_;
  CommitTracker tracker_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Batch> queue_ TANDEM_GUARDED_BY(mu_);
  std::vector<std::thread> workers_;
  int busy_ TANDEM_GUARDED_BY(mu_) = 0;
  bool quit_ TANDEM_GUARDED_BY(mu_) = false;
  size_t inflight_events_ TANDEM_GUARDED_BY(mu_) = 0;
  size_t inflight_bytes_ TANDEM_GUARDED_BY(mu_) = 0;
  Status fatal_ TANDEM_GUARDED_BY(mu_);
  Batch cur_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> abort_{false};  // workers give up retrying
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> polled_{0};
  std::atomic<uint64_t> skipped_{0};
  std::atomic<uint64_t> settled_{0};
  std::atomic<uint64_t> paused_ms_{0};
  std::atomic<int64_t> lag_{-1};
  std::atomic<double> rate_{0};
  uint64_t settled_at_last_ = 0;
  Clock::time_point last_progress_;
  bool reached_zero_ = false;
};

}  // namespace

std::string format_status(const LoaderStatus& s) {
  return fmt::format(
             "load applied={} 409s={} dlq={} retries={} reconciled={} meta={} obsolete={} "
             "rate={:.0f}/s lag={} inflight={} paused_ms={}",
             s.applied, s.conflicts, s.dead_lettered, s.retries, s.reconciled, s.meta_applied,
             s.obsolete, s.rate, s.lag < 0 ? std::string("?") : std::to_string(s.lag),
             s.inflight_events, s.paused_ms) +
         (s.last_retry.empty() ? std::string() : " retrying=\"" + s.last_retry + "\"");
}

std::string format_summary(const LoaderStatus& s, LoaderExit exit, double elapsed_s) {
  const char* why = exit == LoaderExit::kLagZero   ? "lag-zero"
                    : exit == LoaderExit::kStopped ? "stopped"
                                                   : "error";
  const double rate = elapsed_s > 0 ? static_cast<double>(s.settled) / elapsed_s : 0;
  return fmt::format(
      "load done exit={} applied={} index={} delete={} reconciled={} meta={} 409s={} dlq={} "
      "retries={} obsolete={} elapsed={:.1f}s rate={:.0f}/s lag={}",
      why, s.applied, s.indexed, s.deleted, s.reconciled, s.meta_applied, s.conflicts,
      s.dead_lettered, s.retries, s.obsolete, elapsed_s, rate,
      s.lag < 0 ? std::string("?") : std::to_string(s.lag));
}

std::unique_ptr<Loader> make_loader(log::Consumer& consumer, apply::Sink& sink, state::Store& store,
                                    LoaderOptions opts) {
  return std::make_unique<LoaderImpl>(consumer, sink, store, std::move(opts));
}

}  // namespace tandem::load
