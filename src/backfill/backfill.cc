// The backfill job: index listing, the slice worker pool, checkpoints.
#include "backfill/backfill.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backfill/progress.h"
#include "core/mutex.h"
#include "event/event.h"

namespace tandem::backfill {
namespace {

using Clock = std::chrono::steady_clock;

// Checkpoint of one slice (state store, JSON):
//   {"v":1,"mode":"pit"|"scroll","search_after":[..]|null,"docs":N,"done":bool}
// PIT mode resumes after `search_after`; scroll mode restarts the slice from
// its beginning (a scroll cannot be repositioned; versions make the re-copy
// harmless) and `docs` is informational.
struct Checkpoint {
  std::string mode;
  std::optional<nlohmann::json> search_after;
  uint64_t docs = 0;
  bool done = false;
  std::string dump() const {
    nlohmann::json j{{"v", 1}, {"mode", mode}, {"docs", docs}, {"done", done}};
    j["search_after"] = search_after ? *search_after : nlohmann::json(nullptr);
    return j.dump();
  }
  static std::optional<Checkpoint> parse(const std::string& s) {
    auto j = nlohmann::json::parse(s, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    Checkpoint c;
    c.mode = j.value("mode", "");
    c.docs = j.value("docs", uint64_t{0});
    c.done = j.value("done", false);
    if (j.contains("search_after") && j["search_after"].is_array())
      c.search_after = j["search_after"];
    return c;
  }
};

bool is_expired(const Status& s) {
  return s.code() == Code::kFailedPrecondition && s.message().find("expired") != std::string::npos;
}

struct Task {
  size_t index_no;
  int slice;
};

class Job {
 public:
  Job(es::Client& p, apply::Sink& s, state::Store& st, Options o)
      : p_(p), s_(s), st_(st), o_(std::move(o)), throttle_(o_.throttle_docs_per_s) {}

  Result<Report> run(log::Log* log) {
    if (o_.slices < 1) return Status(Code::kInvalidArgument, "--slices must be >= 1");
    if (!o_.progress) {
      o_.progress = [](std::string_view l) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(l.size()), l.data());
      };
    }
    o_.apply.dlq_source = "backfill";
    TANDEM_RETURN_IF_ERROR(check_job_shape());
    Report rep;
    if (log) {
      TANDEM_ASSIGN_OR_RETURN(rep.log_end, record_log_end(*log));
    }
    TANDEM_RETURN_IF_ERROR(list_indices());
    for (auto& ix : idx_) rep.indices.push_back(ix->rep);
    if (idx_.empty()) {
      o_.progress("backfill: no index on cluster '" + p_.label() + "' matches '" +
                  o_.index_pattern + "'");
      return rep;
    }
    {
      MutexLock g(mu_);  // no worker runs yet; taken for the lock annotations
      for (size_t i = 0; i < idx_.size(); ++i) {
        if (!idx_[i]->rep.error.empty()) continue;
        for (int s = 0; s < o_.slices; ++s) tasks_.push_back(Task{i, s});
      }
    }
    int workers = o_.workers > 0 ? o_.workers : o_.slices;
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) pool.emplace_back([this] { worker(); });
    ProgressPrinter printer(o_.tty, o_.progress);
    std::vector<IndexProgress*> prog;
    for (auto& ix : idx_) prog.push_back(ix->prog.get());
    auto last = Clock::now();
    while (true) {
      {
        MutexLock g(mu_);
        if (running_ == 0 && tasks_.empty()) break;
        cv_.wait_for(mu_, std::chrono::milliseconds(100));
      }
      if (o_.progress_interval.count() > 0 && Clock::now() - last >= o_.progress_interval) {
        printer.render(prog, false);
        last = Clock::now();
      }
    }
    for (auto& t : pool) t.join();
    printer.render(prog, true);
    rep.indices.clear();
    for (auto& ix : idx_) {
      MutexLock g(mu_);
      ix->rep.docs = ix->prog->docs;
      ix->rep.slices_done = ix->prog->slices_done;
      rep.indices.push_back(ix->rep);
    }
    rep.stopped = stopped();
    return rep;
  }

 private:
  struct IndexJob {
    IndexReport rep;
    std::unique_ptr<IndexProgress> prog;
    std::atomic<bool> failed{false};
  };

  bool stopped() const { return o_.stop && o_.stop->load(); }
  std::string key(std::string_view what) const {
    return "backfill." + o_.job + "." + std::string(what);
  }

  // Checkpoints only mean something for the same slice count.
  Status check_job_shape() {
    TANDEM_ASSIGN_OR_RETURN(auto prev, st_.get(key("slices")));
    if (prev && *prev != std::to_string(o_.slices)) {
      return Status(Code::kInvalidArgument,
                    "backfill job '" + o_.job + "' was started with --slices " + *prev +
                        "; resume it with the same value, or use a new --job name to start over");
    }
    if (!prev) {
      TANDEM_RETURN_IF_ERROR(st_.put(key("slices"), std::to_string(o_.slices)));
    }
    return Status::ok();
  }

  // The start mark: where the log ended when the backfill began. Recorded
  // once; a resumed job keeps the original (it is what DR replay needs).
  Result<std::vector<Offset>> record_log_end(log::Log& log) {
    TANDEM_ASSIGN_OR_RETURN(auto prev, st_.get(key("log_end")));
    if (prev) {
      auto j = nlohmann::json::parse(*prev, nullptr, false);
      std::vector<Offset> out;
      if (!j.is_discarded() && j.contains("offsets")) {
        for (auto& o : j["offsets"]) out.emplace_back(o.get<int64_t>());
      }
      return out;
    }
    auto end = log.end_offsets();
    if (!end.is_ok()) return end.status().context("recording the log end before the backfill");
    nlohmann::json offs = nlohmann::json::array();
    for (auto& o : *end) offs.push_back(o.get());
    nlohmann::json j{{"log", log.describe()},
                     {"offsets", offs},
                     {"recorded_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count()}};
    TANDEM_RETURN_IF_ERROR(st_.put(key("log_end"), j.dump()));
    return std::move(end).value();
  }

  Status list_indices() {
    TANDEM_ASSIGN_OR_RETURN(auto list, p_.indices(o_.index_pattern));
    bool want_dot = !o_.index_pattern.empty() && o_.index_pattern[0] == '.';
    std::sort(list.begin(), list.end(),
              [](const es::IndexStats& a, const es::IndexStats& b) { return a.index < b.index; });
    for (auto& st : list) {
      if (!want_dot && !st.index.get().empty() && st.index.get()[0] == '.') continue;
      auto ix = std::make_unique<IndexJob>();
      ix->rep.index = st.index;
      ix->prog = std::make_unique<IndexProgress>();
      ix->prog->index = st.index.get();
      ix->prog->slices = o_.slices;
      if (st.status == "close") {
        ix->rep.error = "index '" + st.index.get() + "' is closed on cluster '" + p_.label() +
                        "': open it or leave it out of --index";
      } else {
        auto n = p_.count(st.index);
        ix->prog->total = n.is_ok() ? *n : st.docs_count;
        ix->rep.total = ix->prog->total;
      }
      idx_.push_back(std::move(ix));
    }
    return Status::ok();
  }

  // A scan that meets an index being closed fails with whatever its shards
  // answer at that instant: index_closed_exception once the close is done,
  // no_shard_available_action_exception while it runs. Blue is asked
  // whether the index is closed now (after a no_shard_available answer a few
  // times, 200 ms apart, as the close may still be finishing), so the error
  // says so either way. "" when it is not, or blue cannot tell.
  std::string closed_mid_copy(const IndexName& idx, const std::string& why) {
    if (why.find("index_closed_exception") != std::string::npos) return "";  // says so already
    const int attempts =
        why.find("no_shard_available_action_exception") != std::string::npos ? 5 : 1;
    for (int attempt = 0; attempt < attempts && !stopped(); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto now = p_.indices(idx.get());
      if (!now.is_ok()) return "";
      for (const auto& st : *now) {
        if (st.index == idx && st.status == "close") {
          return "index '" + idx.get() + "' was closed on cluster '" + p_.label() +
                 "' during the copy: ";
        }
      }
    }
    return "";
  }

  void worker() {
    for (;;) {
      Task t;
      {
        MutexLock g(mu_);
        if (tasks_.empty() || stopped()) {
          tasks_.clear();
          cv_.notify_all();
          return;
        }
        t = tasks_.front();
        tasks_.pop_front();
        ++running_;
      }
      IndexJob& ix = *idx_[t.index_no];
      if (!ix.failed) {
        Status s = run_slice(ix, t.slice);
        if (!s.is_ok() && !stopped()) {
          const std::string why = closed_mid_copy(ix.rep.index, s.message()) + s.message();
          MutexLock g(mu_);
          if (!ix.failed.exchange(true)) {
            ix.rep.error = why;
            o_.progress("backfill index=" + ix.rep.index.get() + " slice=" +
                        std::to_string(t.slice) + " failed: " + why + " (other indices continue)");
          }
        }
      }
      MutexLock g(mu_);
      --running_;
      cv_.notify_all();
    }
  }

  Status run_slice(IndexJob& ix, int slice) {
    const IndexName& idx = ix.rep.index;
    std::string where = "index '" + idx.get() + "' slice " + std::to_string(slice);
    IndexProgress& prog = *ix.prog;
    if (!prog.started.exchange(true)) prog.t0 = Clock::now();
    TANDEM_ASSIGN_OR_RETURN(auto saved, st_.load_checkpoint(o_.job, idx, slice));
    Checkpoint cp;
    if (saved) {
      auto parsed = Checkpoint::parse(*saved);
      if (!parsed) {
        return Status(Code::kCorruption, "unreadable checkpoint for " + where + " of job '" +
                                             o_.job + "': " + es::sanitize_snippet(*saved));
      }
      cp = *parsed;
      if (cp.done) {
        prog.docs += cp.docs;
        finish_slice(ix);
        return Status::ok();
      }
    }
    bool pit = !o_.force_scroll && p_.info().caps.pit_scan &&
               (o_.slices == 1 || p_.info().caps.pit_slicing);
    cp.mode = pit ? "pit" : "scroll";
    if (saved) {
      MutexLock g(mu_);
      ix.rep.resumed = true;
    }
    if (cp.search_after && pit) {
      // _shard_doc sort values come from the PIT they were read in. A new
      // PIT normally orders documents the same way, but a segment merge in
      // between can move a document behind the resume point, so the index
      // must be verified before cutover (verify + repair settles it).
      TANDEM_RETURN_IF_ERROR(st_.mark_needs_verify(
          idx, "backfill slice " + std::to_string(slice) + " resumed on a new PIT"));
      prog.docs += cp.docs;
    } else {
      cp.search_after.reset();  // scroll: restart the slice
      cp.docs = 0;
    }
    apply::Counters counters;
    apply::Applier applier(s_, &st_, counters, o_.apply, o_.stop);
    Throttle& throttle = throttle_;
    int reopens = 0;
    apply::Backoff backoff(o_.apply.backoff);
    while (true) {
      es::ScanOptions so;
      so.slice_id = slice;
      so.slices = o_.slices;
      so.batch_size = o_.batch_size;
      so.keep_alive = o_.keep_alive;
      so.force_scroll = !pit;
      so.search_after = cp.search_after;
      auto scanner = p_.scan(idx, so);
      if (!scanner.is_ok()) {
        const Status& s = scanner.status();
        if (s.code() == Code::kNotFound) return gone(idx, s);
        if (apply::is_retryable(s) && ++reopens <= o_.max_reopens) {
          if (!sleep(backoff)) return Status::ok();
          continue;
        }
        return s.context(where);
      }
      uint64_t before = cp.docs;
      Status st = copy_pages(**scanner, ix, cp, applier, throttle, slice, pit);
      if (cp.docs > before) reopens = 0;  // the limit is on consecutive failures
      (void)(*scanner)->close();
      if (st.is_ok()) break;
      if (stopped()) return Status::ok();
      if (st.code() == Code::kNotFound) return gone(idx, st);
      bool again = is_expired(st) || apply::is_retryable(st);
      if (!again || ++reopens > o_.max_reopens) return st.context(where);
      // Reopen from the last checkpoint (PIT) or from the slice start (scroll).
      o_.progress("backfill " + where + ": " + st.message() + "; reopening from the checkpoint");
      if (!pit) {
        prog.docs -= std::min<uint64_t>(prog.docs, cp.docs);
        cp.docs = 0;
        cp.search_after.reset();
      }
      if (!sleep(backoff)) return Status::ok();
    }
    if (stopped()) return Status::ok();
    cp.done = true;
    TANDEM_RETURN_IF_ERROR(st_.save_checkpoint(o_.job, idx, slice, cp.dump()));
    {
      MutexLock g(mu_);
      ix.rep.conflicts += counters.conflicts;
      ix.rep.dead_lettered += counters.dead_lettered;
    }
    finish_slice(ix);
    return Status::ok();
  }

  Status copy_pages(es::Scanner& sc, IndexJob& ix, Checkpoint& cp, apply::Applier& applier,
                    Throttle& throttle, int slice, bool pit) {
    IndexProgress& prog = *ix.prog;
    for (;;) {
      if (stopped()) return Status::ok();
      TANDEM_ASSIGN_OR_RETURN(auto page, sc.next());
      if (page.empty()) return Status::ok();
      if (!throttle.acquire(page.size(), o_.stop)) return Status::ok();
      std::vector<apply::Item> items;
      items.reserve(page.size());
      for (auto& d : page) {
        apply::Item it;
        it.ev.op = event::Op::kIndex;
        it.ev.index = d.index.get().empty() ? ix.rep.index : d.index;
        it.ev.id = std::move(d.id);
        it.ev.routing = std::move(d.routing);
        it.ev.seq_no = d.seq_no;
        it.ev.primary_term = d.primary_term;
        it.ev.epoch = o_.epoch;
        it.ev.source = std::move(d.source);
        items.push_back(std::move(it));
      }
      // Bulks by bytes within the page; the checkpoint moves after the page.
      std::vector<const apply::Item*> chunk;
      size_t bytes = 0;
      for (size_t i = 0; i < items.size(); ++i) {
        chunk.push_back(&items[i]);
        bytes += items[i].ev.source.size() + items[i].ev.id.get().size() + 96;
        if (bytes >= o_.bulk_bytes || i + 1 == items.size()) {
          Status s = applier.apply_data(chunk);
          if (!s.is_ok()) {
            if (stopped()) return Status::ok();
            return s.context("writing to cluster (secondary)");
          }
          chunk.clear();
          bytes = 0;
        }
      }
      cp.docs += items.size();
      prog.docs += items.size();
      prog.docs_this_run += items.size();
      if (pit) cp.search_after = sc.checkpoint();
      TANDEM_RETURN_IF_ERROR(st_.save_checkpoint(o_.job, ix.rep.index, slice, cp.dump()));
    }
  }

  Status gone(const IndexName& idx, const Status& s) {
    return Status(Code::kNotFound, "index '" + idx.get() + "' disappeared from cluster '" +
                                       p_.label() +
                                       "' during the backfill (deleted?): " + s.message());
  }

  bool sleep(apply::Backoff& b) {
    auto until = Clock::now() + b.next();
    while (Clock::now() < until) {
      if (stopped()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return !stopped();
  }

  void finish_slice(IndexJob& ix) {
    if (++ix.prog->slices_done == o_.slices) ix.prog->finished = true;
  }

  es::Client& p_;
  apply::Sink& s_;
  state::Store& st_;
  Options o_;
  Throttle throttle_;
  std::deque<std::unique_ptr<IndexJob>> idx_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Task> tasks_ TANDEM_GUARDED_BY(mu_);
  int running_ TANDEM_GUARDED_BY(mu_) = 0;
};

}  // namespace

bool Report::ok() const {
  if (stopped) return false;
  for (auto& i : indices) {
    if (!i.error.empty()) return false;
  }
  return true;
}

std::string Report::summary() const {
  std::string out;
  size_t failed = 0;
  for (auto& i : indices) {
    if (!i.error.empty()) ++failed;
    out += fmt::format("  {} docs={}/{} 409s={} dlq={} slices={}{}{}\n", i.index.get(), i.docs,
                       i.total, i.conflicts, i.dead_lettered, i.slices_done,
                       i.resumed ? " (resumed)" : "", i.error.empty() ? "" : " FAILED: " + i.error);
  }
  std::string head = stopped  ? "backfill stopped before completion"
                     : failed ? fmt::format("backfill finished with {} failed of {} indices",
                                            failed, indices.size())
                              : fmt::format("backfill complete: {} indices", indices.size());
  return head + "\n" + out;
}

Result<Report> run(es::Client& primary, apply::Sink& secondary, state::Store& store, log::Log* log,
                   Options opts) {
  Job job(primary, secondary, store, std::move(opts));
  return job.run(log);
}

}  // namespace tandem::backfill
